"""Distribution: approved versions copied to an S3 target (a second SeaweedFS as the CDN
origin), a folder and a webhook; status on the object; takedown on rejection.

Approvals: until the review branch's decisions land, a test approves a version the way
the review code will — ``Catalog.set_review`` on the server's catalog, then
``Distributor.on_review_change`` in the server (through ``POST
/api/v1/distribution/resync`` with the version id). ``approve`` below is that one place.
"""

from __future__ import annotations

import hashlib
import json
import time
import urllib.request
import uuid

import pytest

from gateway.catalog import Catalog
from tests.conftest import client
from tests.support.polling import wait_for
from tests.support.seaweedfs import SeaweedFS
from tests.support.webhook import WebhookReceiver

HOOK_SECRET = "hook-signing-secret"
TEMPLATE = "{brand}/{sku}/{channel}/{basename}"
META = {"prompt": "a red sneaker on white", "brand": "acme", "sku": "SKU-42",
        "channel": "web", "source-type": "trainedAlgorithmicMedia",
        "copyright": "(c) Acme Corp"}


@pytest.fixture(scope="module")
def target_weed(tmp_path_factory):
    """A second SeaweedFS: the CDN origin that copies go to."""
    weed = SeaweedFS(tmp_path_factory.mktemp("cdn-origin"))
    weed.start()
    yield weed
    weed.stop()


@pytest.fixture
def receiver():
    hook = WebhookReceiver(HOOK_SECRET).start()
    yield hook
    hook.stop()


def admin_call(server, method: str, path: str, body: dict | None = None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(server.admin + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def approve(server, bucket: str, key: str, version_id: str, status: str = "approved") -> dict:
    """Record a review decision and tell the distributor (see the module docstring)."""
    catalog = Catalog(server.workdir / "catalog")
    try:
        catalog.set_review(bucket, key, version_id, {"status": status, "by": "reviewer",
                                                     "at": "2026-12-06T12:00:00Z"})
    finally:
        catalog.close()
    code, answer = admin_call(server, "POST", "/api/v1/distribution/resync",
                              {"bucket": bucket, "key": key, "version_id": version_id})
    assert code == 200, answer
    return answer


def catalog_entry(server, bucket: str, key: str, version_id: str) -> dict:
    catalog = Catalog(server.workdir / "catalog")
    try:
        return catalog.version(bucket, key, version_id)
    finally:
        catalog.close()


def jobs_of(server, bucket: str, key: str) -> list[dict]:
    code, answer = admin_call(server, "GET", f"/api/v1/distribution/status?bucket={bucket}&key={key}")
    assert code == 200, answer
    return answer["jobs"]


def replication_status(s3, bucket: str, key: str, version_id: str) -> str | None:
    head = s3.head_object(Bucket=bucket, Key=key, VersionId=version_id)
    return head["ResponseMetadata"]["HTTPHeaders"].get("x-amz-replication-status")


def route_policy(directory, targets: list[str], extra: str = "") -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "routes.toml").write_text(
        "[[route]]\nid = \"storefront\"\n"
        "when = 'review.status == \"approved\" && has(asset.sku)'\n"
        f"targets = {json.dumps(targets)}\n" + extra)


def target_client(weed):
    return client(weed.endpoint, {"access_key": weed.access_key, "secret": weed.secret})


def s3_target(weed, bucket: str, **extra) -> dict:
    return {"kind": "s3", "endpoint": weed.endpoint, "region": weed.region,
            "access_key": weed.access_key, "secret": weed.secret, "bucket": bucket,
            "key_template": TEMPLATE, "cache_control": "public, max-age=300", **extra}


FAST_QUEUE = {"workers": 4, "backoff_initial": 0.2, "backoff_max": 1.0, "poll_interval": 0.2,
              "max_attempts": 1000, "expiry_interval": 1.0}


def test_approval_copies_to_every_target(make_server, target_weed, receiver, tmp_path):
    cdn_bucket = f"cdn-{uuid.uuid4().hex[:10]}"       # does not exist yet: created on demand
    folder = tmp_path / "www"
    policies = tmp_path / "policies"
    route_policy(policies, ["cdn", "folder", "hook"])
    server = make_server(policies={"dirs": [str(policies)]}, sections={
        "distribution": FAST_QUEUE,
        "targets": {"cdn": s3_target(target_weed, cdn_bucket, timeout=20.0),
                    "folder": {"kind": "fs", "path": str(folder), "key_template": TEMPLATE},
                    "hook": {"kind": "webhook", "url": receiver.url, "secret": HOOK_SECRET,
                             "identity": "reader", "url_lifetime": 600,
                             "key_template": TEMPLATE}}})
    s3 = client(server.endpoint)
    bucket = f"t-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    body = hashlib.sha256(b"seed").digest() * 4096            # 128 KiB
    put = s3.put_object(Bucket=bucket, Key="shoots/hero.png", Body=body, ContentType="image/png",
                        Metadata=META)
    version = put["VersionId"]
    unrouted = s3.put_object(Bucket=bucket, Key="shoots/other.png", Body=b"x",
                             ContentType="image/png", Metadata={"prompt": "no sku"})
    assert replication_status(s3, bucket, "shoots/hero.png", version) is None

    target_weed.pause()          # the CDN origin hangs: its copy stays pending meanwhile
    try:
        approve(server, bucket, "shoots/hero.png", version)
        assert replication_status(s3, bucket, "shoots/hero.png", version) == "PENDING"
        got = s3.get_object(Bucket=bucket, Key="shoots/hero.png", VersionId=version)
        assert got["ResponseMetadata"]["HTTPHeaders"]["x-amz-replication-status"] == "PENDING"
    finally:
        target_weed.resume()
    approve(server, bucket, "shoots/other.png", unrouted["VersionId"])

    wait_for(lambda: replication_status(s3, bucket, "shoots/hero.png", version) == "COMPLETED",
               what="replication status COMPLETED")
    dest = "acme/SKU-42/web/hero.png"
    cdn = target_client(target_weed)
    copy = cdn.get_object(Bucket=cdn_bucket, Key=dest)
    assert copy["Body"].read() == body
    assert copy["CacheControl"] == "public, max-age=300"
    assert copy["ContentType"] == "image/png"
    assert (folder / dest).read_bytes() == body
    assert not [p for p in folder.rglob("*") if p.name.endswith(".part")]

    [event] = receiver.of("published")
    assert event["key"] == "shoots/hero.png" and event["version_id"] == version
    assert event["target_key"] == dest and event["record"]["prompt"] == META["prompt"]
    with urllib.request.urlopen(event["url"], timeout=30) as response:   # the presigned GET
        assert response.read() == body
    assert receiver.rejected == []

    entry = wait_for(lambda: (lambda e: e if e["review"]["status"] == "published" else None)(
        catalog_entry(server, bucket, "shoots/hero.png", version)), what="review state published")
    published = [e for e in entry["history"] if e["action"] == "published"]
    assert sorted(e["parameters"].split(":")[0] for e in published) == ["cdn", "folder", "hook"]
    assert any(f"s3://{cdn_bucket}/{dest}" in e["parameters"] for e in published)
    sidecar = s3.get_object(Bucket=bucket, Key="shoots/hero.png.xmp")["Body"].read().decode()
    assert "published" in sidecar and f"s3://{cdn_bucket}/{dest}" in sidecar

    # the version without a sku matched no route: no jobs, no status header
    assert jobs_of(server, bucket, "shoots/other.png") == []
    assert replication_status(s3, bucket, "shoots/other.png", unrouted["VersionId"]) is None

    # approving again (a repeated decision, a resync) delivers nothing twice
    approve(server, bucket, "shoots/hero.png", version)
    code, _ = admin_call(server, "POST", "/api/v1/distribution/resync", {"bucket": bucket})
    assert code == 200
    time.sleep(0)  # nothing to wait for: jobs that are done are not queued again
    assert all(j["state"] == "done" and j["delivered_count"] == 1
               for j in jobs_of(server, bucket, "shoots/hero.png"))
    assert len(receiver.of("published")) == 1

    # rejection after publishing: every copy goes, the webhook hears of it
    approve(server, bucket, "shoots/hero.png", version, status="rejected")
    wait_for(lambda: not (folder / dest).exists(), what="folder copy removed")
    wait_for(lambda: receiver.of("taken_down"), what="webhook takedown event")
    wait_for(lambda: "Contents" not in cdn.list_objects_v2(Bucket=cdn_bucket),
               what="CDN copy removed")
    entry = wait_for(lambda: (lambda e: e if len([h for h in e["history"]
                                                    if h["action"] == "taken_down"]) == 3 else None)(
        catalog_entry(server, bucket, "shoots/hero.png", version)), what="taken_down events")
    assert entry["review"]["status"] == "rejected"
    assert replication_status(s3, bucket, "shoots/hero.png", version) is None


def _exiftool_json(path) -> dict:
    import subprocess
    out = subprocess.run(["exiftool", "-j", "-G1", str(path)], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out)[0]


def test_delivered_copies_carry_provenance(make_server, tmp_path):
    """embed_xmp writes the record into the copy (or a .xmp beside a format that cannot
    hold it); c2pa_sign signs it with the stored version as ingredient."""
    import c2pa
    from tests.support.media import a1111_jpg, make_test_ca
    fixtures = tmp_path / "media"
    fixtures.mkdir()
    jpg = a1111_jpg(fixtures)
    ca = make_test_ca()
    (tmp_path / "chain.pem").write_bytes(ca.chain_pem)
    (tmp_path / "signer.key").write_bytes(ca.key_pem)
    policies = tmp_path / "policies"
    route_policy(policies, ["embedded", "signed"])
    embedded, signed = tmp_path / "embedded", tmp_path / "signed"
    server = make_server(policies={"dirs": [str(policies)]}, sections={
        "distribution": FAST_QUEUE,
        "c2pa": {"cert": str(tmp_path / "chain.pem"), "key": str(tmp_path / "signer.key"),
                 "alg": "es256"},
        "targets": {"embedded": {"kind": "fs", "path": str(embedded), "embed_xmp": True},
                    "signed": {"kind": "fs", "path": str(signed), "embed_xmp": True,
                               "c2pa_sign": True}}})
    s3 = client(server.endpoint)
    bucket = f"t-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    meta = {**META, "license": "CC-BY-4.0", "usage-terms": "web shop only"}
    original = jpg.path.read_bytes()
    v_jpg = s3.put_object(Bucket=bucket, Key="a/forge.jpg", Body=original,
                          ContentType="image/jpeg", Metadata=meta)["VersionId"]
    approve(server, bucket, "a/forge.jpg", v_jpg)
    wait_for(lambda: replication_status(s3, bucket, "a/forge.jpg", v_jpg) == "COMPLETED",
               what="both copies delivered")

    tags = _exiftool_json(embedded / "a/forge.jpg")
    assert tags["XMP-iptcExt:DigitalSourceType"].endswith("/trainedAlgorithmicMedia")
    assert tags["XMP-iptcExt:AIPromptInformation"].startswith(META["prompt"])
    assert tags["XMP-dc:Rights"] == META["copyright"]
    assert tags["XMP-xmpRights:UsageTerms"] == "web shop only"
    assert (embedded / "a/forge.jpg").read_bytes() != original
    # the pixels and the generator's own metadata are still there
    assert _exiftool_json(embedded / "a/forge.jpg")["ExifIFD:UserComment"].startswith(
        "portrait of an astronaut")

    root_pem = ca.chain_pem[ca.chain_pem.index(b"-----END CERTIFICATE-----") + 26:]
    context = c2pa.Context.from_dict({"trust": {"trust_anchors": root_pem.decode()},
                                      "verify": {"verify_trust": True}})
    with c2pa.Reader(str(signed / "a/forge.jpg"), context=context) as reader:
        assert reader.get_validation_state() == "Trusted"
        store = json.loads(reader.json())
    manifest = store["manifests"][store["active_manifest"]]
    [ingredient] = manifest["ingredients"]
    assert ingredient["relationship"] == "parentOf" and ingredient["title"] == "forge.jpg"
    actions = next(a for a in manifest["assertions"] if a["label"].startswith("c2pa.actions"))
    by_name = {a["action"]: a for a in actions["data"]["actions"]}
    assert set(by_name) == {"c2pa.opened", "c2pa.published"}
    assert "approved by reviewer" in by_name["c2pa.published"]["parameters"]["review"]
    assert by_name["c2pa.published"]["digitalSourceType"].endswith("/trainedAlgorithmicMedia")
    # signed after embedding: the XMP is inside the signed bytes
    assert _exiftool_json(signed / "a/forge.jpg")["XMP-iptcExt:AIPromptInformation"].startswith(
        META["prompt"])

    # a text brief cannot carry XMP: the record goes beside the copy; nor can it be signed
    brief = "Brief: hero shot, red sneaker, white background.\n".encode() * 20
    v_txt = s3.put_object(Bucket=bucket, Key="a/brief.txt", Body=brief,
                          ContentType="text/plain", Metadata=META)["VersionId"]
    approve(server, bucket, "a/brief.txt", v_txt)
    wait_for(lambda: (embedded / "a/brief.txt.xmp").exists(), what="the .xmp beside the copy")
    assert (embedded / "a/brief.txt").read_bytes() == brief
    beside = _exiftool_json(embedded / "a/brief.txt.xmp")
    assert beside["XMP-iptcExt:AIPromptInformation"].startswith(META["prompt"])
    signed_job = wait_for(lambda: next((j for j in jobs_of(server, bucket, "a/brief.txt")
                                          if j["target"] == "signed" and j["state"] == "dead"),
                                         None), what="the unsignable copy dead-lettered")
    assert "C2PA" in signed_job["last_error"] and signed_job["attempts"] == 1
    assert replication_status(s3, bucket, "a/brief.txt", v_txt) == "FAILED"
    assert not (signed / "a/brief.txt").exists()


def test_target_outage_and_gateway_crash_lose_nothing(make_server, tmp_path):
    """50 approved assets queued while the CDN origin is frozen, then killed; provgate
    killed -9 in the middle; after both come back every job completes exactly once."""
    import signal
    weed = SeaweedFS(tmp_path / "origin")
    weed.start()
    try:
        cdn_bucket = f"cdn-{uuid.uuid4().hex[:10]}"
        policies = tmp_path / "policies"
        route_policy(policies, ["cdn"])
        server = make_server(policies={"dirs": [str(policies)]}, sections={
            "distribution": {**FAST_QUEUE, "backoff_max": 2.0},
            "targets": {"cdn": s3_target(weed, cdn_bucket, timeout=2.0)}})
        s3 = client(server.endpoint)
        bucket = f"t-{uuid.uuid4().hex[:12]}"
        s3.create_bucket(Bucket=bucket)
        bodies, versions = {}, {}
        for n in range(50):
            key = f"batch/img{n:02d}.png"
            bodies[key] = hashlib.sha256(f"asset {n}".encode()).digest() * 64
            versions[key] = s3.put_object(Bucket=bucket, Key=key, Body=bodies[key],
                                          ContentType="image/png",
                                          Metadata={**META, "sku": f"SKU-{n}"})["VersionId"]

        weed.pause()                                       # SIGSTOP: requests hang
        catalog = Catalog(server.workdir / "catalog")
        try:
            for key, version in versions.items():
                catalog.set_review(bucket, key, version, {"status": "approved", "by": "reviewer"})
        finally:
            catalog.close()
        code, answer = admin_call(server, "POST", "/api/v1/distribution/resync", {"bucket": bucket})
        assert code == 200 and len(answer["jobs"]) == 50
        first = "batch/img00.png"
        # a frozen target times out: the attempt failed, the object says so
        wait_for(lambda: replication_status(s3, bucket, first, versions[first]) == "FAILED",
                   what="FAILED while the target does not answer")

        server.kill()                                      # kill -9 of provgate
        weed.process.send_signal(signal.SIGKILL)           # and of the frozen target
        weed.process.wait(10)
        server.start()                                     # same catalog: the queue resumes
        s3 = client(server.endpoint)
        status = {key: replication_status(s3, bucket, key, v) for key, v in versions.items()}
        assert set(status.values()) <= {"PENDING", "FAILED"}, status
        weed.start()                                       # the origin is back

        wait_for(lambda: all(replication_status(s3, bucket, key, v) == "COMPLETED"
                               for key, v in versions.items()),
                   timeout=180, what="every job completed after recovery")
        cdn = target_client(weed)
        stored = {o["Key"]: o for page in cdn.get_paginator("list_object_versions").paginate(
            Bucket=cdn_bucket) for o in page.get("Versions", [])}
        assert len(stored) == 50
        for n, (key, version) in enumerate(versions.items()):
            dest = f"acme/SKU-{n}/web/{key.rsplit('/', 1)[1]}"
            assert cdn.get_object(Bucket=cdn_bucket, Key=dest)["Body"].read() == bodies[key]
            [job] = jobs_of(server, bucket, key)
            assert job["state"] == "done" and job["delivered_count"] == 1, job
            entry = wait_for(lambda: (lambda e: e if e["review"]["status"] == "published"
                                        else None)(catalog_entry(server, bucket, key, version)),
                               what=f"{key} published")
            assert [e["action"] for e in entry["history"]].count("published") == 1
        code, answer = admin_call(server, "GET", "/api/v1/distribution/status?target=cdn")
        assert answer["targets"]["cdn"]["depth"] == 0
        assert answer["targets"]["cdn"]["states"] == {"done": 50}
    finally:
        weed.stop()


def test_licence_expiry_takes_copies_down(make_server, tmp_path, receiver):
    import datetime as dt
    folder = tmp_path / "www"
    policies = tmp_path / "policies"
    route_policy(policies, ["folder", "hook"])
    server = make_server(policies={"dirs": [str(policies)]}, sections={
        "distribution": FAST_QUEUE,
        "targets": {"folder": {"kind": "fs", "path": str(folder), "key_template": TEMPLATE},
                    "hook": {"kind": "webhook", "url": receiver.url, "secret": HOOK_SECRET,
                             "identity": "reader"}}})
    s3 = client(server.endpoint)
    bucket = f"t-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    ends = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=30)
    version = s3.put_object(Bucket=bucket, Key="hero.png", Body=b"licensed pixels",
                            ContentType="image/png",
                            Metadata={**META, "license-expires": ends.strftime("%Y-%m-%dT%H:%M:%SZ")}
                            )["VersionId"]
    approve(server, bucket, "hero.png", version)
    dest = folder / "acme/SKU-42/web/hero.png"
    wait_for(dest.exists, what="the copy delivered before the licence ends")
    assert catalog_entry(server, bucket, "hero.png", version)["review"]["status"] in (
        "approved", "published")

    wait_for(lambda: not dest.exists(), timeout=90, what="the copy removed at expiry")
    [event] = wait_for(lambda: receiver.of("taken_down"), what="webhook takedown")
    assert event["reason"] == "licence expired" and event["version_id"] == version
    entry = wait_for(lambda: (lambda e: e if sum(h["action"] == "taken_down"
                                                   for h in e["history"]) == 2 else None)(
        catalog_entry(server, bucket, "hero.png", version)), what="taken_down events")
    assert entry["review"]["status"] == "expired"

    # an expired version approved again goes nowhere
    approve(server, bucket, "hero.png", version)
    assert catalog_entry(server, bucket, "hero.png", version)["review"]["status"] == "expired"
    assert not dest.exists()


def test_distribute_rule_blocks_with_its_reason(make_server, tmp_path):
    folder = tmp_path / "www"
    policies = tmp_path / "policies"
    route_policy(policies, ["folder"], extra=(
        "\n[[rule]]\nid = \"needs-rights\"\nstage = \"distribute\"\n"
        "validate = 'has(asset.copyright)'\n"
        "message = \"published assets must name their rights holder\"\naction = \"deny\"\n"))
    server = make_server(policies={"dirs": [str(policies)]}, sections={
        "distribution": FAST_QUEUE,
        "targets": {"folder": {"kind": "fs", "path": str(folder)}}})
    s3 = client(server.endpoint)
    bucket = f"t-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    meta = {k: v for k, v in META.items() if k != "copyright"}
    blocked = s3.put_object(Bucket=bucket, Key="no-rights.png", Body=b"a", Metadata=meta,
                            ContentType="image/png")["VersionId"]
    allowed = s3.put_object(Bucket=bucket, Key="rights.png", Body=b"b", Metadata=META,
                            ContentType="image/png")["VersionId"]
    [job] = approve(server, bucket, "no-rights.png", blocked)["jobs"]
    assert job["state"] == "blocked"
    assert job["reason"] == "needs-rights: published assets must name their rights holder"
    assert replication_status(s3, bucket, "no-rights.png", blocked) == "FAILED"
    approve(server, bucket, "rights.png", allowed)
    wait_for(lambda: (folder / "rights.png").exists(), what="the allowed copy")
    assert not (folder / "no-rights.png").exists()

    # the CLI shows the reason; --json gives the same as data
    import subprocess
    import sys
    from tests.support.server import ROOT
    out = subprocess.run([sys.executable, "-m", "gateway.cli", "distribute", "status",
                          "--config", str(server.config_path), "--json"], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["targets"]["folder"]["states"] == {"blocked": 1, "done": 1}
    [listed] = data["jobs"]
    assert listed["key"] == "no-rights.png" and listed["reason"].startswith("needs-rights:")


def test_webhook_retries_5xx_and_gives_up_on_4xx(make_server, tmp_path, receiver):
    policies = tmp_path / "policies"
    route_policy(policies, ["hook"])
    server = make_server(policies={"dirs": [str(policies)]}, sections={
        "distribution": FAST_QUEUE,
        "targets": {"hook": {"kind": "webhook", "url": receiver.url, "secret": HOOK_SECRET,
                             "identity": "reader"}}})
    s3 = client(server.endpoint)
    bucket = f"t-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    first = s3.put_object(Bucket=bucket, Key="one.png", Body=b"1", Metadata=META)["VersionId"]
    receiver.answer = 503
    approve(server, bucket, "one.png", first)
    job = wait_for(lambda: next((j for j in jobs_of(server, bucket, "one.png")
                                   if j["attempts"] >= 2), None), what="retries on 503")
    assert job["state"] == "retrying" and "503" in job["last_error"]
    assert replication_status(s3, bucket, "one.png", first) == "FAILED"
    receiver.answer = 200
    wait_for(lambda: replication_status(s3, bucket, "one.png", first) == "COMPLETED",
               what="delivered once the receiver is back")
    assert len(receiver.of("published")) == 1

    second = s3.put_object(Bucket=bucket, Key="two.png", Body=b"2", Metadata=META)["VersionId"]
    receiver.answer = 422
    approve(server, bucket, "two.png", second)
    [job] = wait_for(lambda: [j for j in jobs_of(server, bucket, "two.png")
                                if j["state"] == "dead"], what="dead-lettered on 422")
    assert job["attempts"] == 1 and "422" in job["last_error"]
    # retry from the admin API once the connector is fixed
    receiver.answer = 200
    code, answer = admin_call(server, "POST", "/api/v1/distribution/retry", {"target": "hook"})
    assert code == 200 and len(answer["jobs"]) == 1
    wait_for(lambda: replication_status(s3, bucket, "two.png", second) == "COMPLETED",
               what="delivered after retry")
    assert receiver.rejected == []


@pytest.mark.parametrize("body, message", [
    (b"not json", "not JSON"),
    (b"[1, 2]", "JSON object"),
    (b'{"bucket": 5}', "non-empty string"),
    (b'{"bucket": "b", "surprise": "x"}', "unknown field"),
    (b'{"key": "k"}', "key needs bucket"),
    (b'{"target": "nowhere"}', "no target named"),
])
def test_admin_api_refuses_bad_requests(gateway, body, message):
    request = urllib.request.Request(gateway.admin + "/api/v1/distribution/retry", data=body,
                                     method="POST")
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=30)
    assert caught.value.code == 400
    error = json.loads(caught.value.read())["error"]
    assert error["code"] == "InvalidArgument" and message in error["message"]


def test_takedown_of_unknown_version_is_404(gateway):
    code, answer = admin_call(gateway, "POST", "/api/v1/distribution/takedown",
                              {"bucket": "nothing-here", "key": "k", "version_id": "v1"})
    assert code == 404 and answer["error"]["code"] == "NoSuchVersion"


def test_manual_takedown_from_the_cli(make_server, tmp_path):
    import subprocess
    import sys
    from tests.support.metrics import metric, scrape
    from tests.support.server import ROOT
    folder = tmp_path / "www"
    policies = tmp_path / "policies"
    route_policy(policies, ["folder"])
    server = make_server(policies={"dirs": [str(policies)]}, sections={
        "distribution": FAST_QUEUE,
        "targets": {"folder": {"kind": "fs", "path": str(folder), "key_template": TEMPLATE}}})
    s3 = client(server.endpoint)
    bucket = f"t-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    version = s3.put_object(Bucket=bucket, Key="hero.png", Body=b"pixels", Metadata=META,
                            ContentType="image/png")["VersionId"]
    approve(server, bucket, "hero.png", version)
    dest = folder / "acme/SKU-42/web/hero.png"
    wait_for(dest.exists, what="the copy")
    samples = wait_for(lambda: (lambda s: s if metric(
        s, "provgate_distribution_deliveries_total", target="folder", op="deliver") == 1
        else None)(scrape(server.admin)), what="the delivery counted")
    assert metric(samples, "provgate_distribution_queue_depth", target="folder") == 0

    def cli(*args):
        out = subprocess.run([sys.executable, "-m", "gateway.cli", "distribute", *args,
                              "--config", str(server.config_path)], cwd=ROOT,
                             capture_output=True, text=True, timeout=60)
        return out.returncode, out.stdout, out.stderr

    code, _, err = cli("takedown", f"{bucket}/nothing.png", "--version-id", "v9")
    assert code == 1 and "has no version" in err
    code, _, err = cli("takedown", f"{bucket}/hero.png", "--target", "nowhere")
    assert code == 2 and "no target named 'nowhere'" in err
    code, out, err = cli("takedown", f"{bucket}/hero.png", "--reason", "brand recall", "--json")
    assert code == 0, err
    [job] = json.loads(out)["jobs"]
    assert job["op"] == "takedown" and job["reason"] == "brand recall"
    # the server runs the job the CLI queued
    wait_for(lambda: not dest.exists(), what="the copy removed")
    entry = wait_for(lambda: (lambda e: e if any(h["action"] == "taken_down"
                                                   for h in e["history"]) else None)(
        catalog_entry(server, bucket, "hero.png", version)), what="the taken_down event")
    event = next(h for h in entry["history"] if h["action"] == "taken_down")
    assert "brand recall" in event["parameters"] and str(dest) in event["parameters"]
    assert entry["review"]["status"] == "taken_down"
    assert replication_status(s3, bucket, "hero.png", version) is None
