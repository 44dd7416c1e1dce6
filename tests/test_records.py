"""The record store: each object version's XMP record beside it, out of the client's
namespace, served at ``<key>.xmp`` (both backends, real clients: boto3, the aws CLI,
rclone, s3cmd)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from gateway.provenance import CONFIG_FILE
from tests.conftest import client, storage_section
from tests.support.functional import error_code, http_status
from tests.support.server import ADMIN, DAM
from tests.test_awscli import AwsCli

ROOT = Path(__file__).resolve().parent.parent
HISTORY_EVENT = re.compile(rb"<stEvt:action>")


def cli(server, *args: str) -> dict:
    out = subprocess.run([sys.executable, "-m", "gateway.cli", *args, "--json",
                          "--config", str(server.config_path)],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def record_of(s3, bucket: str, key: str, version_id: str | None = None) -> bytes:
    extra = {"VersionId": version_id} if version_id else {}
    answer = s3.get_object(Bucket=bucket, Key=key + ".xmp", **extra)
    assert answer["ContentType"] == "application/rdf+xml"
    return answer["Body"].read()


def refused(call) -> tuple[int, str, str]:
    with pytest.raises(ClientError) as exc:
        call()
    return http_status(exc.value), error_code(exc.value), exc.value.response["Error"]["Message"]


# -- what clients see -------------------------------------------------------------------


def test_counts_equal_what_the_client_wrote(s3, bucket):
    keys = ["a.png", "b/c.png", "d e.txt"]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == sorted(keys)
    assert [o["Key"] for o in s3.list_objects(Bucket=bucket)["Contents"]] == sorted(keys)
    versions = s3.list_object_versions(Bucket=bucket)
    assert sorted(v["Key"] for v in versions["Versions"]) == sorted(keys)
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    deleted = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys]})
    assert sorted(d["Key"] for d in deleted["Deleted"]) == sorted(keys)
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)
    # Empty for S3 (only delete markers left), so the bucket can go, records and all.
    s3.delete_bucket(Bucket=bucket)
    s3.create_bucket(Bucket=bucket)
    assert refused(lambda: s3.get_object(Bucket=bucket, Key="a.png.xmp"))[1] == "NoSuchKey"


def test_record_served_for_current_and_older_versions(s3, bucket):
    first = s3.put_object(Bucket=bucket, Key="hero.png", Body=b"one",
                          Metadata={"prompt": "first take"})["VersionId"]
    second = s3.put_object(Bucket=bucket, Key="hero.png", Body=b"two",
                           Metadata={"prompt": "second take"})["VersionId"]
    current = record_of(s3, bucket, "hero.png")
    assert b"second take" in current and f"<pg:VersionID>{second}<".encode() in current
    older = record_of(s3, bucket, "hero.png", first)
    assert b"first take" in older and f"<pg:VersionID>{first}<".encode() in older
    assert hashlib.sha256(b"one").hexdigest().encode() in older
    head = s3.head_object(Bucket=bucket, Key="hero.png.xmp", VersionId=first)
    assert head["ContentLength"] == len(older) and head["VersionId"] == first
    ranged = s3.get_object(Bucket=bucket, Key="hero.png.xmp", Range="bytes=0-4")
    assert ranged["Body"].read() == current[:5]
    # A deleted version keeps its record, for history; the key's current record is gone.
    s3.delete_object(Bucket=bucket, Key="hero.png", VersionId=first)
    assert record_of(s3, bucket, "hero.png", first) == older
    s3.delete_object(Bucket=bucket, Key="hero.png")
    assert refused(lambda: s3.get_object(Bucket=bucket, Key="hero.png.xmp"))[:2] == (404, "NoSuchKey")
    assert record_of(s3, bucket, "hero.png", second) == current


def test_a_record_cannot_be_deleted_while_its_object_lives(s3, bucket):
    version = s3.put_object(Bucket=bucket, Key="keep.png", Body=b"x")["VersionId"]
    before = record_of(s3, bucket, "keep.png")
    status, code, message = refused(lambda: s3.delete_object(Bucket=bucket, Key="keep.png.xmp"))
    assert (status, code) == (403, "AccessDenied") and "record" in message
    assert refused(lambda: s3.delete_object(Bucket=bucket, Key="keep.png.xmp",
                                            VersionId=version))[:2] == (403, "AccessDenied")
    result = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "keep.png.xmp"}]})
    assert [(e["Key"], e["Code"]) for e in result["Errors"]] == [("keep.png.xmp", "AccessDenied")]
    assert record_of(s3, bucket, "keep.png") == before
    assert [v["Key"] for v in s3.list_object_versions(Bucket=bucket)["Versions"]] == ["keep.png"]
    assert "DeleteMarkers" not in s3.list_object_versions(Bucket=bucket)


def test_a_forged_record_as_a_new_key_is_a_plain_object(s3, bucket, gateway):
    forged = b"<x:xmpmeta xmlns:x='adobe:ns:meta/'>forged</x:xmpmeta>"
    s3.put_object(Bucket=bucket, Key="new.png.xmp", Body=forged, ContentType="application/rdf+xml")
    s3.put_object(Bucket=bucket, Key="new.png", Body=b"png", Metadata={"prompt": "honest"})
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert listed == ["new.png", "new.png.xmp"]
    # The client's own object keeps its bytes (real objects win over served records) ...
    assert s3.get_object(Bucket=bucket, Key="new.png.xmp")["Body"].read() == forged
    # ... and the asset's provenance comes from its own record, not from that object.
    shown = cli(gateway, "asset", "show", f"{bucket}/new.png")
    assert shown["record"]["prompt"] == "honest"
    # Writing it again is still a plain object write, never a record edit.
    s3.put_object(Bucket=bucket, Key="new.png.xmp", Body=forged + b" ")
    assert cli(gateway, "asset", "show", f"{bucket}/new.png") == shown
    assert len(s3.list_object_versions(Bucket=bucket, Prefix="new.png.xmp")["Versions"]) == 2


def test_a_users_own_xmp_is_never_overwritten_by_a_record(s3, bucket):
    s3.put_object(Bucket=bucket, Key="preset.xmp", Body=b"my lightroom preset")
    s3.put_object(Bucket=bucket, Key="preset", Body=b"an object named preset")
    assert s3.get_object(Bucket=bucket, Key="preset.xmp")["Body"].read() == b"my lightroom preset"
    # The record of "preset" is kept all the same: addressed by its version it is served.
    version = s3.head_object(Bucket=bucket, Key="preset")["VersionId"]
    assert b"<pg:Key>preset</pg:Key>" in record_of(s3, bucket, "preset", version)


def test_a_deleted_xmp_object_shows_its_delete_marker_or_gives_way_to_the_record(s3, bucket):
    """A user's own ``<name>.xmp`` deleted: where no object ``<name>`` has a record to
    serve, reading it is the 404 of any deleted key (a delete marker is current); where
    one has, the record is served again."""
    s3.put_object(Bucket=bucket, Key="notes.xmp", Body=b"my notes")
    marker = s3.delete_object(Bucket=bucket, Key="notes.xmp")["VersionId"]
    for call in (lambda: s3.get_object(Bucket=bucket, Key="notes.xmp"),
                 lambda: s3.head_object(Bucket=bucket, Key="notes.xmp")):
        with pytest.raises(ClientError) as exc:
            call()
        headers = exc.value.response["ResponseMetadata"]["HTTPHeaders"]
        assert http_status(exc.value) == 404
        assert (headers.get("x-amz-delete-marker"), headers.get("x-amz-version-id")) == \
            ("true", marker)
    s3.put_object(Bucket=bucket, Key="preset.xmp", Body=b"my lightroom preset")
    s3.put_object(Bucket=bucket, Key="preset", Body=b"an object named preset")
    s3.delete_object(Bucket=bucket, Key="preset.xmp")
    assert b"<pg:Key>preset</pg:Key>" in \
        s3.get_object(Bucket=bucket, Key="preset.xmp")["Body"].read()


def test_forgery_sequence_leaves_the_record_unchanged(s3, bucket, gateway):
    """Delete the object, PUT a crafted <key>.xmp, delete the marker, reindex."""
    version = s3.put_object(Bucket=bucket, Key="asset.png", Body=b"genuine bytes",
                            Metadata={"prompt": "genuine", "source-type": "trainedAlgorithmicMedia"}
                            )["VersionId"]
    genuine = record_of(s3, bucket, "asset.png")
    shown = cli(gateway, "asset", "show", f"{bucket}/asset.png")
    marker = s3.delete_object(Bucket=bucket, Key="asset.png")["VersionId"]
    crafted = genuine.replace(b"genuine", b"forged!").replace(b"trainedAlgorithmicMedia",
                                                               b"digitalCapture")
    s3.put_object(Bucket=bucket, Key="asset.png.xmp", Body=crafted,
                  ContentType="application/rdf+xml")
    s3.delete_object(Bucket=bucket, Key="asset.png", VersionId=marker)
    assert s3.get_object(Bucket=bucket, Key="asset.png")["Body"].read() == b"genuine bytes"
    # A second crafted write while the object is live again is a plain object too (a
    # real object of that name exists), never the record.
    s3.put_object(Bucket=bucket, Key="asset.png.xmp", Body=crafted)
    report = cli(gateway, "reindex")
    assert not report["mismatched_records"]
    assert cli(gateway, "asset", "show", f"{bucket}/asset.png") == shown
    assert record_of(s3, bucket, "asset.png", version) == genuine


def test_dam_identity_lists_records_read_only(gateway, s3, bucket):
    for key in ("a.png", "b/c.png"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    s3.put_object(Bucket=bucket, Key="own.xmp", Body=b"a user's file")
    dam = client(gateway.endpoint, DAM)
    listed = [o["Key"] for o in dam.list_objects_v2(Bucket=bucket)["Contents"]]
    # Every object has its record, a client's own .xmp file included.
    assert listed == ["a.png", "a.png.xmp", "b/c.png", "b/c.png.xmp", "own.xmp", "own.xmp.xmp"]
    rolled = dam.list_objects_v2(Bucket=bucket, Delimiter="/")
    assert [o["Key"] for o in rolled["Contents"]] == ["a.png", "a.png.xmp", "own.xmp", "own.xmp.xmp"]
    assert [p["Prefix"] for p in rolled["CommonPrefixes"]] == ["b/"]
    entry = next(o for o in dam.list_objects_v2(Bucket=bucket)["Contents"] if o["Key"] == "a.png.xmp")
    assert entry["Size"] == len(record_of(dam, bucket, "a.png"))
    assert refused(lambda: dam.delete_object(Bucket=bucket, Key="a.png.xmp"))[:2] == (403, "AccessDenied")
    # Plain clients still list only what they wrote.
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == \
        ["a.png", "b/c.png", "own.xmp"]


def test_a_1024_byte_key_has_an_addressable_record(s3, bucket):
    key = "k/" + "é" * 511
    assert len(key.encode()) == 1024
    version = s3.put_object(Bucket=bucket, Key=key, Body=b"long")["VersionId"]
    record = record_of(s3, bucket, key)
    assert f"<pg:VersionID>{version}<".encode() in record
    assert s3.head_object(Bucket=bucket, Key=key + ".xmp")["ContentLength"] == len(record)
    assert refused(lambda: s3.delete_object(Bucket=bucket, Key=key + ".xmp"))[:2] == \
        (403, "AccessDenied")
    # The longer name serves the record only: no object may be stored under it.
    s3.delete_object(Bucket=bucket, Key=key)
    assert refused(lambda: s3.put_object(Bucket=bucket, Key=key + ".xmp", Body=b"x"))[1] == \
        "KeyTooLongError"
    assert refused(lambda: s3.put_object(Bucket=bucket, Key=key + "x", Body=b"x"))[1] == \
        "KeyTooLongError"


def test_concurrent_overwrites_keep_every_version_and_a_complete_history(gateway, bucket):
    s3 = client(gateway.endpoint, max_pool_connections=20)
    writers = 20
    bodies = [f"version {n}".encode() * (n + 1) for n in range(writers)]
    with ThreadPoolExecutor(writers) as pool:
        written = list(pool.map(lambda body: s3.put_object(Bucket=bucket, Key="race.png",
                                                           Body=body)["VersionId"], bodies))
    versions = s3.list_object_versions(Bucket=bucket)["Versions"]
    assert sorted(v["VersionId"] for v in versions) == sorted(written)
    current = s3.get_object(Bucket=bucket, Key="race.png")
    data = current["Body"].read()
    record = record_of(s3, bucket, "race.png")
    assert f"<pg:VersionID>{current['VersionId']}<".encode() in record
    assert hashlib.sha256(data).hexdigest().encode() in record
    assert len(HISTORY_EVENT.findall(record)) == writers
    for version in written:    # each version's record names it and continues the history
        assert f"<pg:VersionID>{version}<".encode() in record_of(s3, bucket, "race.png", version)


def test_a_dam_edit_is_judged_by_the_intake_policy(make_server, backend_kind, tmp_path):
    policies = tmp_path / "server0" / "policies"
    policies.mkdir(parents=True)
    (policies / "titles.toml").write_text('''
[[rule]]
id = "no-draft-titles"
stage = "intake"
match = 'has(asset.title)'
validate = '!asset.title.startsWith("DRAFT")'
message = "titles may not say DRAFT"
action = "deny"
''')
    server = make_server()
    s3 = client(server.endpoint)
    s3.create_bucket(Bucket="edits")
    s3.put_object(Bucket="edits", Key="pic.png", Body=b"x")
    original = record_of(s3, "edits", "pic.png")
    edit = _titled(original, "DRAFT one", tmp_path)
    status, code, message = refused(lambda: s3.put_object(Bucket="edits", Key="pic.png.xmp", Body=edit))
    assert (status, code) == (403, "AccessDenied") and "no-draft-titles" in message
    assert record_of(s3, "edits", "pic.png") == original
    accepted = _titled(original, "Final one", tmp_path)
    s3.put_object(Bucket="edits", Key="pic.png.xmp", Body=accepted)
    assert b"Final one" in record_of(s3, "edits", "pic.png")
    assert cli(server, "asset", "show", "edits/pic.png")["record"]["title"] == "Final one"


def _titled(record: bytes, title: str, tmp_path: Path) -> bytes:
    """The record as a DAM saves it after setting a title (ExifTool writes the XMP)."""
    path = tmp_path / f"{uuid.uuid4().hex}.xmp"
    path.write_bytes(record)
    subprocess.run(["exiftool", "-config", str(CONFIG_FILE), "-overwrite_original",
                    f"-XMP-dc:Title={title}", str(path)], check=True, capture_output=True)
    return path.read_bytes()


# -- sync tools -------------------------------------------------------------------------


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def share(tmp_path) -> Path:
    local = tmp_path / "share"
    for rel, data in {"a.png": b"\x89PNG a", "dir/b.jpg": b"jpeg b", "dir/deep/c.txt": b"c",
                      "z z.txt": b"zz"}.items():
        (local / rel).parent.mkdir(parents=True, exist_ok=True)
        (local / rel).write_bytes(data)
        # S3's Last-Modified has whole seconds: a file written in the same second as its
        # upload looks newer than the object, and `aws s3 sync` sends it again (as it
        # would against S3). Files made a minute ago are what a real share holds.
        made = time.time() - 60
        os.utime(local / rel, (made, made))
    return local


def _records(s3, bucket: str, keys) -> dict[str, bytes]:
    return {key: record_of(s3, bucket, key) for key in keys}


def _clean_env(**extra: str) -> dict[str, str]:
    # The tools read AWS_* (a CA bundle, a profile) from the environment: not the test's.
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")
           and k.lower() not in ("http_proxy", "https_proxy", "all_proxy")}
    env.update(NO_PROXY="127.0.0.1,localhost", **extra)
    return env


def _rclone(gateway, *args: str) -> subprocess.CompletedProcess:
    env = _clean_env(RCLONE_CONFIG_PG_TYPE="s3", RCLONE_CONFIG_PG_PROVIDER="Other",
                     RCLONE_CONFIG_PG_ENDPOINT=gateway.endpoint,
                     RCLONE_CONFIG_PG_ACCESS_KEY_ID=ADMIN["access_key"],
                     RCLONE_CONFIG_PG_SECRET_ACCESS_KEY=ADMIN["secret"],
                     RCLONE_CONFIG_PG_REGION="us-east-1", RCLONE_CONFIG="/dev/null")
    result = subprocess.run(["rclone", "--s3-no-check-bucket", "-v", *args], env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return result


def _s3cmd(gateway, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    host = gateway.endpoint.removeprefix("http://")
    config = tmp_path / "s3cmd.cfg"
    config.write_text(f"[default]\naccess_key = {ADMIN['access_key']}\n"
                      f"secret_key = {ADMIN['secret']}\nhost_base = {host}\n"
                      f"host_bucket = {host}\nuse_https = False\nsignature_v2 = False\n"
                      "bucket_location = us-east-1\n")
    result = subprocess.run(["s3cmd", "-c", str(config), *args], env=_clean_env(),
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


SYNCS = ["aws", "rclone", "s3cmd"]


def _sync_up(tool: str, gateway, tmp_path: Path, local: Path, bucket: str) -> str:
    """Mirror ``local`` to the bucket, deleting what the folder lacks; the tool's report."""
    if tool == "aws":
        return AwsCli(gateway.endpoint).run("s3", "sync", "--delete", str(local),
                                            f"s3://{bucket}/").stdout
    if tool == "rclone":
        return _rclone(gateway, "sync", str(local), f"pg:{bucket}").stderr
    return _s3cmd(gateway, tmp_path, "sync", "--delete-removed", f"{local}/", f"s3://{bucket}/").stdout


def _transfers(tool: str, report: str) -> list[str]:
    pattern = {"aws": r"^(upload|delete):", "rclone": r"INFO  : .*: (Copied|Deleted|Updated)",
               "s3cmd": r"^(upload|delete):"}[tool]
    return [line for line in report.replace("\r", "\n").splitlines() if re.search(pattern, line)]


@pytest.mark.parametrize("tool", SYNCS)
def test_sync_with_delete_leaves_every_record(tool, gateway, s3, bucket, share, tmp_path):
    first = _sync_up(tool, gateway, tmp_path, share, bucket)
    keys = sorted(_tree(share))
    assert len(_transfers(tool, first)) == len(keys), first
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == keys
    records = _records(s3, bucket, keys)
    # Nothing changed locally: nothing moves, no record is deleted.
    second = _sync_up(tool, gateway, tmp_path, share, bucket)
    assert _transfers(tool, second) == [], second
    assert _records(s3, bucket, keys) == records
    # One file removed locally: exactly that object goes; its record stays as history.
    (share / "z z.txt").unlink()
    third = _sync_up(tool, gateway, tmp_path, share, bucket)
    assert len(_transfers(tool, third)) == 1 and "z z.txt" in third, third
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == \
        [k for k in keys if k != "z z.txt"]
    assert _records(s3, bucket, [k for k in keys if k != "z z.txt"]) == \
        {k: v for k, v in records.items() if k != "z z.txt"}
    assert _transfers(tool, _sync_up(tool, gateway, tmp_path, share, bucket)) == []
    # Down and up again: the folder gets no record files, so nothing doubles.
    down = tmp_path / "down"
    if tool == "rclone":
        _rclone(gateway, "sync", f"pg:{bucket}", str(down))
    elif tool == "aws":
        AwsCli(gateway.endpoint).run("s3", "sync", f"s3://{bucket}/", str(down))
    else:
        _s3cmd(gateway, tmp_path, "sync", f"s3://{bucket}/", f"{down}/")
    assert _tree(down) == _tree(share)


# -- records bound to their objects: reindex ----------------------------------------------


def test_reindex_refuses_a_record_that_does_not_match(make_server, backend_kind):
    """A record stored for a version but naming other bytes is reported, never indexed."""
    server = make_server()
    s3 = client(server.endpoint)
    s3.create_bucket(Bucket="bound")
    good = s3.put_object(Bucket="bound", Key="good.png", Body=b"good")["VersionId"]
    bad = s3.put_object(Bucket="bound", Key="bad.png", Body=b"bad")["VersionId"]
    genuine = record_of(s3, "bound", "bad.png")
    server.stop()
    # Tamper with the stored record behind the gateway's back: another object's digest.
    tampered = genuine.replace(hashlib.sha256(b"bad").hexdigest().encode(),
                               hashlib.sha256(b"good").hexdigest().encode())
    asyncio.run(_put_record(server, "bound", "bad.png", bad, tampered))
    report = cli(server, "reindex")
    assert [m.split(":")[0] for m in report["mismatched_records"]] == \
        [f"bound/bad.png?versionId={bad}"]
    server.start()
    status = subprocess.run([sys.executable, "-m", "gateway.cli", "asset", "show", "bound/bad.png",
                             "--json", "--config", str(server.config_path)],
                            cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert status.returncode != 0
    assert cli(server, "asset", "show", "bound/good.png")["version_id"] == good


async def _put_record(server, bucket: str, key: str, version_id: str, body: bytes) -> None:
    from gateway.config import load as load_config
    from gateway.storage import open_backend
    backend = open_backend(load_config(server.config_path))
    await backend.start(recover=False)
    try:
        await backend.put_record(bucket, key, version_id, body)
    finally:
        await backend.close()


def test_reindex_beside_a_live_server_keeps_in_flight_spool_files(make_server, backend_kind):
    server = make_server()
    s3 = client(server.endpoint)
    s3.create_bucket(Bucket="live")
    s3.put_object(Bucket="live", Key="a", Body=b"a")
    from gateway.config import load as load_config
    config = load_config(server.config_path)
    spool = (config.resolve(config.storage.path) / ".provgate" / "spool" if backend_kind == "fs"
             else Path(config.storage.spool_dir))
    in_flight = spool / f"in-flight-{uuid.uuid4().hex}"
    in_flight.write_bytes(b"a body still arriving")
    report = cli(server, "reindex")
    assert report["assets"] == 1 and not report["missing_records"]
    assert in_flight.read_bytes() == b"a body still arriving"
    in_flight.unlink()
    assert s3.get_object(Bucket="live", Key="a.xmp")["ContentType"] == "application/rdf+xml"


# -- migration of the old layout ----------------------------------------------------------


async def _write_old_layout(storage: dict, bucket: str) -> dict[str, list[str]]:
    """What provgate before the record store left in a bucket: objects, and each version's
    record as a version of the plain object ``<key>.xmp`` (application/rdf+xml), a
    deleted asset whose record got a delete marker, and a user's own ``preset.xmp``."""
    from gateway.provenance import HistoryEvent, ProvenanceRecord, render_sidecar
    from gateway.provenance.xmp import document_id_for, instance_id_for
    from gateway.storage.base import ObjectAttributes
    backend = _backend(storage)
    await backend.start()
    written: dict[str, list[str]] = {}
    try:
        await backend.create_bucket(bucket)
        await _forget_layout(backend, bucket)

        async def put(key: str, body: bytes, content_type: str) -> str:
            path = backend.spool_dir / uuid.uuid4().hex
            path.write_bytes(body)
            staged = await backend.stage_file(path, len(body), hashlib.md5(body).hexdigest(), {})
            try:
                info = await backend.commit(bucket, key, staged,
                                            ObjectAttributes(content_type=content_type))
            finally:
                await staged.discard()
            return info.version_id

        history: dict[str, list] = {}
        for key, body, prompt in (("hero.png", b"first", "first"), ("hero.png", b"second", "second"),
                                  ("gone.png", b"gone", "gone")):
            version = await put(key, body, "image/png")
            written.setdefault(key, []).append(version)
            events = history.setdefault(key, [])
            events.append(HistoryEvent("saved" if events else "created", "2026-01-01T00:00:00Z",
                                       instance_id=instance_id_for(bucket, key, version)))
            record = ProvenanceRecord(bucket=bucket, key=key, version_id=version, size=len(body),
                                      sha256=hashlib.sha256(body).hexdigest(), prompt=prompt,
                                      identity="tester", door="s3")
            xmp = render_sidecar(record, document_id_for(bucket, key),
                                 instance_id_for(bucket, key, version), list(events))
            await put(key + ".xmp", xmp, "application/rdf+xml")
        await backend.delete_object(bucket, "gone.png")
        await backend.delete_object(bucket, "gone.png.xmp")
        await put("preset.xmp", b"<x:xmpmeta xmlns:x='adobe:ns:meta/'/>", "application/rdf+xml")
        await put("lonely.png.xmp", b"a DAM's file, no such object", "application/rdf+xml")
    finally:
        await backend.close()
    return written


def _backend(storage: dict):
    from gateway.config import StorageConfig
    from gateway.storage.fs import FsBackend
    from gateway.storage.s3 import S3Backend
    if storage["kind"] == "fs":
        return FsBackend(Path(storage["path"]))
    fields = {k: v for k, v in storage.items() if k != "kind"}
    return S3Backend(StorageConfig(kind="s3", **fields), spool_dir=Path(storage["spool_dir"]))


async def _forget_layout(backend, bucket: str) -> None:
    """Make a new bucket look like one created before buckets noted their layout."""
    from gateway.storage.fs import FsBackend
    if isinstance(backend, FsBackend):
        from gateway import kv

        def forget() -> None:
            with backend.index.write() as txn:
                doc = kv.get(txn, backend.index.buckets, bucket.encode())
                doc.pop("layout")
                kv.put(txn, backend.index.buckets, bucket.encode(), doc)
        await kv.offload(forget)
        return
    from gateway.storage.s3 import keys, listing
    await listing.purge(backend.client, backend.names.upstream(bucket), keys.LAYOUT_NAME)


def test_old_layout_is_migrated_on_start(make_local_server, backend_kind, tmp_path, request):
    storage = storage_section(backend_kind, tmp_path / "old", request)
    written = asyncio.run(_write_old_layout(storage, "legacy"))
    server = make_local_server(storage)
    s3 = client(server.endpoint)
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket="legacy")["Contents"]]
    assert listed == ["hero.png", "lonely.png.xmp", "preset.xmp"]
    versions = s3.list_object_versions(Bucket="legacy")
    assert sorted(v["Key"] for v in versions["Versions"]) == \
        ["gone.png", "hero.png", "hero.png", "lonely.png.xmp", "preset.xmp"]
    assert [m["Key"] for m in versions.get("DeleteMarkers", [])] == ["gone.png"]
    first, second = written["hero.png"]
    current, older = record_of(s3, "legacy", "hero.png"), record_of(s3, "legacy", "hero.png", first)
    assert f"<pg:VersionID>{second}<".encode() in current and b"second" in current
    assert f"<pg:VersionID>{first}<".encode() in older and b"second" not in older
    gone = written["gone.png"][0]
    assert f"<pg:VersionID>{gone}<".encode() in record_of(s3, "legacy", "gone.png", gone)
    assert s3.get_object(Bucket="legacy", Key="preset.xmp")["Body"].read() == \
        b"<x:xmpmeta xmlns:x='adobe:ns:meta/'/>"
    # The catalog is rebuilt from the migrated records, every one bound to its version.
    server.stop()
    report = cli(server, "reindex")
    assert report["versions"] == 3 and not report["mismatched_records"]
    # The fixture stored the user's files without intake: they have no record, and say so.
    assert sorted(m.split("?")[0] for m in report["missing_records"]) == \
        ["legacy/lonely.png.xmp", "legacy/preset.xmp"]
    server.start()
    history = cli(server, "asset", "history", "legacy/hero.png")
    assert [v["version_id"] for v in history["versions"]] == [first, second]
    assert cli(server, "asset", "show", "legacy/hero.png")["record"]["prompt"] == "second"
    # A second start finds nothing left to move.
    server.stop()
    out = subprocess.run([sys.executable, "-m", "gateway.cli", "migrate-records", "--json",
                          "--config", str(server.config_path)], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {"buckets": [], "records": 0, "kept": []}


# -- hostile input at the new boundaries ---------------------------------------------------


@pytest.mark.parametrize("value", ['"hidden"', '"LISTED"', "true"])
def test_an_unknown_xmp_mode_is_refused_in_the_config(tmp_path, value):
    from gateway import config as config_module
    path = tmp_path / "provgate.toml"
    path.write_text(f'[[identities]]\nname = "x"\naccess_key = "AK"\nsecret = "s"\nxmp = {value}\n')
    with pytest.raises(config_module.ConfigError) as info:
        config_module.load(path)
    assert "'identities[0].xmp' must be one of served, listed" in str(info.value)


def test_hostile_record_requests_get_clear_errors(s3, bucket):
    s3.put_object(Bucket=bucket, Key="h.png", Body=b"x")
    before = record_of(s3, bucket, "h.png")
    # A version id no backend could issue, on a record name: 400, never a path.
    assert refused(lambda: s3.get_object(Bucket=bucket, Key="h.png.xmp",
                                         VersionId="../../etc"))[:2] == (400, "InvalidArgument")
    # A version that does not exist has no record.
    assert refused(lambda: s3.get_object(Bucket=bucket, Key="h.png.xmp",
                                         VersionId="0" * 32))[0] == 404
    # An edit larger than any record is refused before it is parsed; nothing changes.
    assert refused(lambda: s3.put_object(Bucket=bucket, Key="h.png.xmp",
                                         Body=b" " * (16 * 1024 * 1024 + 1)))[:2] == \
        (400, "EntityTooLarge")
    assert refused(lambda: s3.put_object(Bucket=bucket, Key="h.png.xmp",
                                         Body=b"<!DOCTYPE x [<!ENTITY a 'b'>]><x/>"))[:2] == \
        (400, "MalformedXML")
    assert record_of(s3, bucket, "h.png") == before
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["h.png"]
