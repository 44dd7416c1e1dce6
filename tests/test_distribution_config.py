"""Distribution settings, key templates, the queue's rules: strict and hostile cases."""

from __future__ import annotations

import time

import pytest

from gateway import config as config_module
from gateway.catalog import Catalog
from gateway.distribution.keys import licence_expired, render_key
from gateway.distribution.queue import Job, JobQueue, backoff
from gateway.distribution.settings import Target, TargetSettings, distribution_of
from gateway.distribution.targets import DeliveryError, FolderDestination, webhook_signature

BASE = """
[storage]
kind = "fs"
path = "{root}/data"
[catalog]
path = "{root}/catalog"
[policies]
dirs = ["{root}"]
[[identities]]
name = "hooker"
access_key = "AKIAHOOK"
secret = "hook-secret"
role = "reader"
"""

S3 = """
[targets.cdn]
kind = "s3"
endpoint = "http://127.0.0.1:8333"
bucket = "cdn-origin"
access_key = "AK"
secret = "SK"
"""


def load(tmp_path, text: str):
    path = tmp_path / "provgate.toml"
    top, _, rest = text.rpartition("TOP\n")     # keys that must come before any table
    path.write_text(top + BASE.format(root=tmp_path) + rest)
    config = config_module.load(path)
    config.distribution = distribution_of(config)     # as every command loads it
    return config


def test_targets_load(tmp_path, monkeypatch):
    monkeypatch.setenv("HOOK_HMAC", "from-the-environment")
    config = load(tmp_path, S3 + """
key_template = "{brand}/{sku}/{channel}/{basename}"
storage_class = "STANDARD_IA"
[targets.www]
kind = "fs"
path = "www"
embed_xmp = true
[targets.shop]
kind = "webhook"
url = "https://shop.example/hooks/provgate"
secret_env = "HOOK_HMAC"
identity = "hooker"
url_lifetime = 900
[distribution]
max_attempts = 3
""")
    targets = config.distribution.targets
    assert targets["cdn"].template_fields == ("brand", "sku", "channel", "basename")
    assert targets["www"].path == (tmp_path / "www").resolve()
    assert targets["shop"].settings.secret == "from-the-environment"
    assert targets["shop"].identity.name == "hooker"
    assert config.distribution.settings.max_attempts == 3
    assert "from-the-environment" not in repr(config.distribution)


@pytest.mark.parametrize("text, message", [
    ("[targets.cdn]\nkind = \"ftp\"\n", "'targets.cdn.kind' must be one of"),
    (S3 + "colour = \"red\"\n", "unknown key 'targets.cdn.colour'"),
    (S3 + "path = \"/srv\"\n", "'targets.cdn.path' does not apply to kind \"s3\""),
    (S3.replace('secret = "SK"\n', ''), "needs bucket, access_key and secret"),
    (S3.replace('secret = "SK"', 'secret_env = "PROVGATE_NO_SUCH_VAR"'), "which is not set"),
    (S3.replace('"cdn-origin"', '"UPPER_case"'), "not a valid bucket name"),
    (S3.replace("http://127.0.0.1:8333", "127.0.0.1:8333"), "must be http(s)://host:port"),
    (S3 + "key_template = \"{brand}/{colour}\"\n", "names {colour}, which is neither"),
    (S3 + "key_template = \"static.png\"\n", "must contain a placeholder"),
    (S3 + "key_template = \"{brand/x\"\n", "unbalanced brace"),
    (S3 + "timeout = 0\n", "'targets.cdn.timeout' must be greater than 0"),
    (S3 + "c2pa_sign = true\n", "needs a [c2pa] section"),
    ("[targets.www]\nkind = \"fs\"\n", "'targets.www.path' is required"),
    ("[targets.Bad]\nkind = \"fs\"\npath = \"x\"\n", "target name 'Bad'"),
    ("[targets.h]\nkind = \"webhook\"\nurl = \"https://x.example/h\"\nsecret = \"s\"\n"
     "identity = \"nobody\"\n", "must name one of [[identities]]"),
    ("[targets.h]\nkind = \"webhook\"\nurl = \"https://x.example/h\"\nidentity = \"hooker\"\n",
     "needs secret or secret_env"),
    ("[targets.h]\nkind = \"webhook\"\nurl = \"ftp://x\"\nsecret = \"s\"\nidentity = \"hooker\"\n",
     "must be an http(s) URL"),
    ("[targets.h]\nkind = \"webhook\"\nurl = \"https://x.example/h\"\nsecret = \"s\"\n"
     "identity = \"hooker\"\nurl_lifetime = 604801\n", "between 1 and 604800"),
    ("[targets.h]\nkind = \"webhook\"\nurl = \"https://x.example/h\"\nsecret = \"s\"\n"
     "identity = \"hooker\"\nembed_xmp = true\n", "embed_xmp' does not apply to a webhook"),
    ("[distribution]\nbackoff_initial = 10.0\nbackoff_max = 1.0\n", "must not be below"),
    ("[distribution]\nworkers = 0\n", "'distribution.workers' must be between"),
    ("[distribution]\nmax_attempts = \"many\"\n", "'distribution.max_attempts' must be int"),
    ("[c2pa]\ncert = \"missing.pem\"\nkey = \"k.pem\"\n", "'c2pa.cert' cannot be read"),
    ("[c2pa]\nkey = \"k.pem\"\n", "'c2pa.cert' is required"),
    ("[c2pa]\ncert = \"x\"\nkey = \"y\"\nalg = \"md5\"\n", "'c2pa.alg' must be one of"),
    ("targets = 3\nTOP\n", "[targets] must hold tables"),
])
def test_bad_target_config_is_refused_by_name(tmp_path, text, message):
    with pytest.raises(config_module.ConfigError) as caught:
        load(tmp_path, text)
    assert message in str(caught.value)


def test_c2pa_key_must_be_a_key(tmp_path):
    (tmp_path / "chain.pem").write_text("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    (tmp_path / "k.pem").write_text("not a key")
    with pytest.raises(config_module.ConfigError, match="not a PEM private key"):
        load(tmp_path, "[c2pa]\ncert = \"chain.pem\"\nkey = \"k.pem\"\n")


def test_key_template_fills_from_record_and_key():
    record = {"brand": "acme", "sku": "SKU-1", "channel": "web", "keywords": ["a", "b"]}
    assert render_key("{brand}/{sku}/{channel}/{basename}", record, "b", "x/y/hero.png", "v1") \
        == "acme/SKU-1/web/hero.png"
    assert render_key("{stem}-{version_id}.{ext}", record, "b", "x/hero.png", "v1") == "hero-v1.png"
    assert render_key("{bucket}/{key}", record, "b", "x/hero.png", "v1") == "b/x/hero.png"


def test_key_template_with_empty_field_fails_for_good():
    with pytest.raises(DeliveryError) as caught:
        render_key("{brand}/{sku}/{basename}", {"brand": "acme", "sku": "  "}, "b", "k.png", "v")
    assert caught.value.permanent and "{sku} is empty" in str(caught.value)
    with pytest.raises(DeliveryError, match="longer than 1024"):
        render_key("{prompt}", {"prompt": "p" * 2000}, "b", "k", "v")


@pytest.mark.parametrize("key", ["../escape.png", "a/../../etc/passwd", "/abs/path.png",
                                 "a//b.png", "./a.png", "a\\..\\b", "nul\x00.png", ""])
def test_folder_target_refuses_keys_that_leave_it(tmp_path, key):
    target = Target("www", TargetSettings(kind="fs", path=str(tmp_path)), path=tmp_path)
    with pytest.raises(DeliveryError) as caught:
        FolderDestination(target).resolve(key)
    assert caught.value.permanent


def test_webhook_signature_covers_timestamp_and_body():
    sig = webhook_signature("k", "1700000000", b'{"a":1}')
    assert sig.startswith("sha256=") and len(sig) == 7 + 64
    assert sig != webhook_signature("k", "1700000001", b'{"a":1}')
    assert sig != webhook_signature("k", "1700000000", b'{"a":2}')


def test_licence_dates():
    import datetime as dt
    now = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.timezone.utc)
    assert not licence_expired({}, now)
    assert not licence_expired({"license_expires": "2026-06-01"}, now)    # the whole day
    assert licence_expired({"license_expires": "2026-05-31"}, now)
    assert licence_expired({"license_expires": "2026-06-01T11:59:59Z"}, now)
    assert not licence_expired({"license_expires": "2026-06-01T12:00:01Z"}, now)
    assert not licence_expired({"license_expires": "garbage"}, now)


def test_queue_is_idempotent_backs_off_and_dead_letters(tmp_path):
    catalog = Catalog(tmp_path / "catalog")
    try:
        queue = JobQueue(catalog.env, max_attempts=3, backoff_initial=10.0, backoff_max=25.0)
        job, queued = queue.enqueue(Job("b", "k", "v1", "cdn", "deliver"))
        assert queued
        again, queued = queue.enqueue(Job("b", "k", "v1", "cdn", "deliver"))
        assert not queued and again.created == job.created
        assert [j.target for j in queue.due(time.time(), 10)] == ["cdn"]
        assert queue.replication_status("b", "k", "v1") == "PENDING"

        queue.fail(job, "503")
        assert job.state == "retrying" and queue.due(time.time(), 10) == []
        assert 9.0 < job.next_at - time.time() <= 10.0
        assert queue.replication_status("b", "k", "v1") == "FAILED"
        queue.fail(job, "503")
        assert 19.0 < job.next_at - time.time() <= 20.0
        queue.fail(job, "503")
        assert job.state == "dead" and job.attempts == 3
        assert queue.enqueue(Job("b", "k", "v1", "cdn", "deliver"))[1] is False
        [retried] = queue.retry(target="cdn")
        assert retried.state == "queued" and retried.attempts == 0
        queue.complete(retried, location="s3://x/y", dest_key="y")
        assert queue.replication_status("b", "k", "v1") == "COMPLETED"
        assert queue.enqueue(Job("b", "k", "v1", "cdn", "deliver"))[1] is False
        assert queue.stats()["cdn"]["depth"] == 0
    finally:
        catalog.close()
    assert backoff(1, 1.0, 300.0) == 1.0 and backoff(4, 1.0, 300.0) == 8.0
    assert backoff(30, 1.0, 300.0) == 300.0


def test_set_review_needs_a_known_version(tmp_path):
    catalog = Catalog(tmp_path / "catalog")
    try:
        with pytest.raises(KeyError):
            catalog.set_review("b", "k", "nope", {"status": "approved"})
        with pytest.raises(ValueError):
            catalog.set_review("b", "k", "nope", {"by": "x"})
    finally:
        catalog.close()


@pytest.mark.parametrize("builder", ["a_png", "comfyui_webp", "a_jpg", "pdf", "mp4", "tiff"])
def test_embedding_writes_the_ai_marking_into_each_format(tmp_path, builder):
    """Every format embed_xmp claims: the record's XMP written in, read back by exiftool."""
    import asyncio
    import json
    import subprocess

    from PIL import Image

    from gateway.distribution.embed import embed_xmp, embeddable
    from gateway.provenance import ProvenanceRecord, render_sidecar
    from tests.support import media
    if builder == "tiff":
        path = tmp_path / "scan.tiff"
        Image.new("RGB", (16, 16), (1, 2, 3)).save(path, "TIFF")
        content_type = "image/tiff"
    else:
        fixture = getattr(media, builder)(tmp_path)
        path, content_type = fixture.path, fixture.content_type
    assert embeddable(content_type, path.name)
    record = ProvenanceRecord(
        bucket="b", key=path.name, version_id="v1", prompt="a lighthouse at dusk",
        source_type="http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia",
        copyright="(c) Acme", license_url="https://acme.example/licence")
    xmp = render_sidecar(record, "xmp.did:1", "xmp.iid:1", [])
    asyncio.run(embed_xmp(path, xmp, tmp_path))
    tags = json.loads(subprocess.run(["exiftool", "-j", "-G1", str(path)], check=True,
                                     capture_output=True, text=True).stdout)[0]
    assert tags["XMP-iptcExt:DigitalSourceType"].endswith("trainedAlgorithmicMedia")
    assert tags["XMP-iptcExt:AIPromptInformation"] == "a lighthouse at dusk"
    assert tags["XMP-dc:Rights"] == "(c) Acme"
    assert tags["XMP-xmpRights:WebStatement"] == "https://acme.example/licence"
    assert not any(name.startswith("XMP-pg:") for name in tags)


def test_embedding_a_file_exiftool_cannot_write_fails_clearly(tmp_path):
    import asyncio

    from gateway.distribution.embed import EmbedError, embed_xmp
    from gateway.provenance import ProvenanceRecord, render_sidecar
    path = tmp_path / "broken.jpg"
    path.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(EmbedError) as caught:
        asyncio.run(embed_xmp(path, render_sidecar(ProvenanceRecord(
            bucket="b", key="broken.jpg", version_id="v1", copyright="(c) Acme"),
            "xmp.did:1", "xmp.iid:1", []), tmp_path))
    assert "Corrupted JPEG" in str(caught.value)
    assert path.read_bytes() == b"\xff\xd8\xff\xe0 not really a jpeg"
