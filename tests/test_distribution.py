"""Distribution: approved versions copied to an S3 target (a second SeaweedFS as the CDN
origin), a folder and a webhook; status on the object; takedown on rejection.

Approvals are real review decisions: a reviewer identity POSTs
``/api/v1/reviews/{bucket}/{key}/decisions`` (or tags the object ``review=approved``
over S3), and the review stage records the decision and hands the version to
distribution before it answers. The test servers load only the policy files each test
writes: no review rule holds an approval unless a test adds one (the first test adds a
two-approvals quorum and approves with two reviewers).
"""

from __future__ import annotations

import hashlib
import json
import os
import urllib.request
import uuid

import pytest
from botocore.exceptions import ClientError

from tests.conftest import client
from tests.support.admin import admin_call
from tests.support.polling import wait_for
from tests.support.server import ADMIN, IDENTITIES
from tests.support.seaweedfs import SeaweedFS
from tests.support.webhook import WebhookReceiver
from tests.test_review import record_events

HOOK_SECRET = "hook-signing-secret"
TEMPLATE = "{brand}/{sku}/{channel}/{basename}"
META = {"prompt": "a red sneaker on white", "brand": "acme", "sku": "SKU-42",
        "channel": "web", "source-type": "trainedAlgorithmicMedia",
        "copyright": "(c) Acme Corp"}
REVIEWER = {"name": "reviewer", "access_key": "AKIADISTREVIEWER",
            "secret": "dist-reviewer-secret", "role": "reviewer"}
SECOND_REVIEWER = {"name": "rosa", "access_key": "AKIADISTROSA", "secret": "dist-rosa-secret",
                   "role": "reviewer"}
TEAM = [*IDENTITIES, REVIEWER, SECOND_REVIEWER]
TWO_APPROVALS = ("\n[[rule]]\nid = \"two-approvals\"\nstage = \"review\"\nquorum = true\n"
                 "validate = 'size(review.approvals) >= 2'\n"
                 "message = \"two approvals are needed\"\naction = \"deny\"\n")


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


def distribution_server(make_server, policies, sections: dict):
    """A provgate with the test's policy directory only, and the reviewers of TEAM."""
    return make_server(policies={"dirs": [str(policies)]}, identities=TEAM, sections=sections)


def decide(server, bucket: str, key: str, version_id: str, decision: str = "approve",
           reviewer: dict = REVIEWER) -> dict:
    """A reviewer's decision through the admin API: the answer comes once the review
    stage has recorded it and distribution has queued what the new state asks for."""
    code, answer, _ = admin_call(server, "POST", f"/api/v1/reviews/{bucket}/{key}/decisions",
                                 {"decision": decision, "version_id": version_id},
                                 identity=reviewer)
    assert code == 200, answer
    return answer


def catalog_entry(server, bucket: str, key: str, version_id: str) -> dict:
    """The version's entry (record, history, review) as the admin API shows it."""
    code, answer, _ = admin_call(server, "GET", f"/api/v1/assets/{bucket}/{key}"
                                 f"?versionId={version_id}")
    assert code == 200, answer
    return answer


def entry_once(server, bucket: str, key: str, version_id: str, ready, what: str) -> dict:
    """Poll the version's entry until ``ready(entry)`` holds; the entry."""
    return wait_for(lambda: (lambda e: e if ready(e) else None)(
        catalog_entry(server, bucket, key, version_id)), what=what)


def jobs_of(server, bucket: str, key: str) -> list[dict]:
    code, answer, _ = admin_call(server, "GET",
                                 f"/api/v1/distribution/status?bucket={bucket}&key={key}")
    assert code == 200, answer
    return answer["jobs"]


def replication_status(s3, bucket: str, key: str, version_id: str) -> str | None:
    head = s3.head_object(Bucket=bucket, Key=key, VersionId=version_id)
    return head["ResponseMetadata"]["HTTPHeaders"].get("x-amz-replication-status")


def actions_of(events: list[dict], action: str) -> list[str]:
    """The ``stEvt:parameters`` of the record's history events (as ``record_events``
    reads them with ExifTool) whose ``stEvt:action`` is ``action``."""
    return [e.get("Parameters", "") for e in events if e.get("Action") == action]


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
    route_policy(policies, ["cdn", "folder", "hook"], extra=TWO_APPROVALS)
    server = distribution_server(make_server, policies, {
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

    # one approval of two: the version stays pending and goes nowhere
    first = decide(server, bucket, "shoots/hero.png", version)
    assert first["status"] == "pending"
    assert [w["rule"] for w in first["waiting_for"]] == ["two-approvals"]
    assert jobs_of(server, bucket, "shoots/hero.png") == []
    assert replication_status(s3, bucket, "shoots/hero.png", version) is None

    target_weed.pause()          # the CDN origin hangs: its copy stays pending meanwhile
    try:
        second = decide(server, bucket, "shoots/hero.png", version, reviewer=SECOND_REVIEWER)
        assert second["status"] == "approved" and second["waiting_for"] == []
        assert replication_status(s3, bucket, "shoots/hero.png", version) == "PENDING"
        got = s3.get_object(Bucket=bucket, Key="shoots/hero.png", VersionId=version)
        assert got["ResponseMetadata"]["HTTPHeaders"]["x-amz-replication-status"] == "PENDING"
    finally:
        target_weed.resume()
    for reviewer in (REVIEWER, SECOND_REVIEWER):
        other = decide(server, bucket, "shoots/other.png", unrouted["VersionId"],
                       reviewer=reviewer)
    assert other["status"] == "approved"

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
    assert event["review"]["status"] in ("approved", "published")
    with urllib.request.urlopen(event["url"], timeout=30) as response:   # the presigned GET
        assert response.read() == body
    assert receiver.rejected == []

    entry = entry_once(server, bucket, "shoots/hero.png", version,
                       lambda e: e["review"]["status"] == "published", "review state published")
    published = [e for e in entry["history"] if e["action"] == "published"]
    assert sorted(e["parameters"].split(":")[0] for e in published) == ["cdn", "folder", "hook"]
    assert any(f"s3://{cdn_bucket}/{dest}" in e["parameters"] for e in published)
    # the record read back over S3 (<key>.xmp) tells the story: two reviews, three copies
    events = record_events(server, tmp_path, bucket, "shoots/hero.png")
    reviewed = actions_of(events, "reviewed")
    assert len(reviewed) == 2
    assert reviewed[0].startswith("approved by reviewer") and "status pending" in reviewed[0]
    assert reviewed[1].startswith("approved by rosa") and "status approved" in reviewed[1]
    shipped = actions_of(events, "published")
    assert sorted(p.split(":")[0] for p in shipped) == ["cdn", "folder", "hook"]
    assert any(f"s3://{cdn_bucket}/{dest}" in p for p in shipped)

    # the version without a sku matched no route: no jobs, no status header
    assert jobs_of(server, bucket, "shoots/other.png") == []
    assert replication_status(s3, bucket, "shoots/other.png", unrouted["VersionId"]) is None

    # approving again (a repeated decision, a resync) delivers nothing twice: jobs that
    # are done are not queued again, so there is nothing to wait for
    again = decide(server, bucket, "shoots/hero.png", version)
    assert again["status"] == "published"
    code, _, _ = admin_call(server, "POST", "/api/v1/distribution/resync", {"bucket": bucket})
    assert code == 200
    assert all(j["state"] == "done" and j["delivered_count"] == 1
               for j in jobs_of(server, bucket, "shoots/hero.png"))
    assert len(receiver.of("published")) == 1

    # rejection after publishing: every copy goes, the webhook hears of it
    rejected = decide(server, bucket, "shoots/hero.png", version, "reject",
                      reviewer=SECOND_REVIEWER)
    assert rejected["status"] == "rejected"
    wait_for(lambda: not (folder / dest).exists(), what="folder copy removed")
    wait_for(lambda: receiver.of("taken_down"), what="webhook takedown event")
    wait_for(lambda: "Contents" not in cdn.list_objects_v2(Bucket=cdn_bucket),
             what="CDN copy removed")
    entry = entry_once(server, bucket, "shoots/hero.png", version,
                       lambda e: sum(h["action"] == "taken_down" for h in e["history"]) == 3,
                       "taken_down events")
    assert entry["review"]["status"] == "rejected"
    assert replication_status(s3, bucket, "shoots/hero.png", version) is None
    events = record_events(server, tmp_path, bucket, "shoots/hero.png")
    assert actions_of(events, "reviewed")[-1].startswith("rejected by rosa")
    assert sorted(p.split(":")[0] for p in actions_of(events, "taken_down")) == [
        "cdn", "folder", "hook"]


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
    server = distribution_server(make_server, policies, {
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
    assert decide(server, bucket, "a/forge.jpg", v_jpg)["status"] == "approved"
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
    assert by_name["c2pa.published"]["digitalSourceType"].endswith("/trainedAlgorithmicMedia")
    # signed after embedding: the XMP is inside the signed bytes
    assert _exiftool_json(signed / "a/forge.jpg")["XMP-iptcExt:AIPromptInformation"].startswith(
        META["prompt"])

    # a text brief cannot carry XMP: the record goes beside the copy; nor can it be signed
    brief = "Brief: hero shot, red sneaker, white background.\n".encode() * 20
    v_txt = s3.put_object(Bucket=bucket, Key="a/brief.txt", Body=brief,
                          ContentType="text/plain", Metadata=META)["VersionId"]
    decide(server, bucket, "a/brief.txt", v_txt)
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

    # the published action names the review decision: what, by whom
    assert "approved by reviewer" in by_name["c2pa.published"]["parameters"]["review"]


def test_target_outage_and_gateway_crash_lose_nothing(make_server, tmp_path):
    """50 assets approved while the CDN origin is frozen, then killed; provgate killed -9
    in the middle; after both come back every job completes exactly once."""
    import signal
    from concurrent.futures import ThreadPoolExecutor
    weed = SeaweedFS(tmp_path / "origin")
    weed.start()
    try:
        cdn_bucket = f"cdn-{uuid.uuid4().hex[:10]}"
        policies = tmp_path / "policies"
        route_policy(policies, ["cdn"])
        server = distribution_server(make_server, policies, {
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
        # reviewers approve the batch (a few at once, as a team would)
        with ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(lambda kv: decide(server, bucket, *kv), versions.items()))
        assert {a["status"] for a in answers} == {"approved"}
        code, answer, _ = admin_call(server, "GET", "/api/v1/distribution/status?target=cdn")
        assert code == 200 and sum(answer["targets"]["cdn"]["states"].values()) == 50
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
            entry = entry_once(server, bucket, key, version,
                               lambda e: e["review"]["status"] == "published",
                               f"{key} published")
            actions = [e["action"] for e in entry["history"]]
            assert actions.count("reviewed") == 1 and actions.count("published") == 1
        events = record_events(server, tmp_path, bucket, first)
        assert len(actions_of(events, "reviewed")) == 1
        [shipped] = actions_of(events, "published")
        assert shipped.startswith("cdn:") and f"s3://{cdn_bucket}/acme/SKU-0/web/img00.png" in shipped
        code, answer, _ = admin_call(server, "GET", "/api/v1/distribution/status?target=cdn")
        assert answer["targets"]["cdn"]["depth"] == 0
        assert answer["targets"]["cdn"]["states"] == {"done": 50}
    finally:
        weed.stop()


def test_licence_expiry_takes_copies_down(make_server, tmp_path, receiver):
    import datetime as dt
    folder = tmp_path / "www"
    policies = tmp_path / "policies"
    route_policy(policies, ["folder", "hook"])
    server = distribution_server(make_server, policies, {
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
    assert decide(server, bucket, "hero.png", version)["status"] == "approved"
    dest = folder / "acme/SKU-42/web/hero.png"
    wait_for(dest.exists, what="the copy delivered before the licence ends")
    assert catalog_entry(server, bucket, "hero.png", version)["review"]["status"] in (
        "approved", "published")

    wait_for(lambda: not dest.exists(), timeout=90, what="the copy removed at expiry")
    [event] = wait_for(lambda: receiver.of("taken_down"), what="webhook takedown")
    assert event["reason"] == "licence expired" and event["version_id"] == version
    entry = entry_once(server, bucket, "hero.png", version,
                       lambda e: sum(h["action"] == "taken_down" for h in e["history"]) == 2,
                       "taken_down events")
    assert entry["review"]["status"] == "expired"

    # an expired version approved again goes nowhere
    assert decide(server, bucket, "hero.png", version,
                  reviewer=SECOND_REVIEWER)["status"] == "expired"
    assert catalog_entry(server, bucket, "hero.png", version)["review"]["status"] == "expired"
    assert not [j for j in jobs_of(server, bucket, "hero.png")
                if j["op"] == "deliver" and j["state"] not in ("done", "cancelled")]
    assert not dest.exists()


def test_distribute_rule_blocks_with_its_reason(make_server, tmp_path):
    folder = tmp_path / "www"
    policies = tmp_path / "policies"
    route_policy(policies, ["folder"], extra=(
        "\n[[rule]]\nid = \"needs-rights\"\nstage = \"distribute\"\n"
        "validate = 'has(asset.copyright)'\n"
        "message = \"published assets must name their rights holder\"\naction = \"deny\"\n"))
    server = distribution_server(make_server, policies, {
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
    # the review approves; the distribute rule then holds the delivery
    assert decide(server, bucket, "no-rights.png", blocked)["status"] == "approved"
    [job] = jobs_of(server, bucket, "no-rights.png")
    assert job["state"] == "blocked"
    assert job["reason"] == "needs-rights: published assets must name their rights holder"
    assert replication_status(s3, bucket, "no-rights.png", blocked) == "FAILED"
    decide(server, bucket, "rights.png", allowed)
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
    server = distribution_server(make_server, policies, {
        "distribution": FAST_QUEUE,
        "targets": {"hook": {"kind": "webhook", "url": receiver.url, "secret": HOOK_SECRET,
                             "identity": "reader"}}})
    s3 = client(server.endpoint)
    bucket = f"t-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    first = s3.put_object(Bucket=bucket, Key="one.png", Body=b"1", Metadata=META)["VersionId"]
    receiver.answer = 503
    decide(server, bucket, "one.png", first)
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
    decide(server, bucket, "two.png", second)
    [job] = wait_for(lambda: [j for j in jobs_of(server, bucket, "two.png")
                              if j["state"] == "dead"], what="dead-lettered on 422")
    assert job["attempts"] == 1 and "422" in job["last_error"]
    # retry from the admin API once the connector is fixed
    receiver.answer = 200
    code, answer, _ = admin_call(server, "POST", "/api/v1/distribution/retry", {"target": "hook"})
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
    code, answer, _ = admin_call(gateway, "POST", "/api/v1/distribution/retry", raw=body)
    assert code == 400
    assert answer["error"]["code"] == "InvalidArgument" and message in answer["error"]["message"]


def test_distribution_api_needs_a_publisher(gateway):
    from tests.support.server import READER
    code, answer, headers = admin_call(gateway, "POST", "/api/v1/distribution/retry", {},
                                       identity=None)
    assert code == 401 and answer["error"]["code"] == "Unauthorized"
    code, answer, _ = admin_call(gateway, "POST", "/api/v1/distribution/retry", {},
                                 identity=READER)
    assert code == 403 and answer["error"]["code"] == "AccessDenied"
    assert "publisher" in answer["error"]["message"]


def test_takedown_of_unknown_version_is_404(gateway):
    code, answer, _ = admin_call(gateway, "POST", "/api/v1/distribution/takedown",
                                 {"bucket": "nothing-here", "key": "k", "version_id": "v1"})
    assert code == 404 and answer["error"]["code"] == "NoSuchVersion"


def test_manual_takedown_from_the_cli(make_server, tmp_path):
    """Approved through the S3 door (tag review=approved), taken down from the CLI."""
    import subprocess
    import sys
    from tests.support.metrics import metric, scrape
    from tests.support.server import ROOT, WRITER
    folder = tmp_path / "www"
    policies = tmp_path / "policies"
    route_policy(policies, ["folder"])
    server = distribution_server(make_server, policies, {
        "distribution": FAST_QUEUE,
        "targets": {"folder": {"kind": "fs", "path": str(folder), "key_template": TEMPLATE}}})
    s3 = client(server.endpoint)
    bucket = f"t-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    version = s3.put_object(Bucket=bucket, Key="hero.png", Body=b"pixels", Metadata=META,
                            ContentType="image/png")["VersionId"]
    approved = {"TagSet": [{"Key": "review", "Value": "approved"}]}
    # a writer cannot approve by tagging: refused, nothing goes out
    with pytest.raises(ClientError) as refused:
        client(server.endpoint, WRITER).put_object_tagging(
            Bucket=bucket, Key="hero.png", VersionId=version, Tagging=approved)
    assert refused.value.response["Error"]["Code"] == "AccessDenied"
    assert jobs_of(server, bucket, "hero.png") == []
    client(server.endpoint, REVIEWER).put_object_tagging(
        Bucket=bucket, Key="hero.png", VersionId=version, Tagging=approved)
    dest = folder / "acme/SKU-42/web/hero.png"
    wait_for(dest.exists, what="the copy")
    # The depth gauge is refreshed by the dispatcher once the finished job wakes it,
    # just after the delivery is counted.
    wait_for(lambda: (lambda s: metric(
        s, "provgate_distribution_deliveries_total", target="folder", op="deliver") == 1
        and metric(s, "provgate_distribution_queue_depth", target="folder") == 0)(
            scrape(server.admin)), what="the delivery counted and the queue empty")
    events = record_events(server, tmp_path, bucket, "hero.png")
    assert actions_of(events, "reviewed")[0].startswith("approved by reviewer")
    wait_for(lambda: actions_of(record_events(server, tmp_path, bucket, "hero.png"),
                                "published"), what="the published event in the record")

    def cli(*args):
        # Acting on the queue goes through the gateway's admin API, as a publisher.
        env = {**os.environ, "PROVGATE_ACCESS_KEY": ADMIN["access_key"],
               "PROVGATE_SECRET_KEY": ADMIN["secret"], "PROVGATE_ADMIN_ENDPOINT": server.admin}
        out = subprocess.run([sys.executable, "-m", "gateway.cli", "distribute", *args,
                              "--config", str(server.config_path)], cwd=ROOT, env=env,
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
    entry = entry_once(server, bucket, "hero.png", version,
                       lambda e: any(h["action"] == "taken_down" for h in e["history"]),
                       "the taken_down event")
    event = next(h for h in entry["history"] if h["action"] == "taken_down")
    assert "brand recall" in event["parameters"] and str(dest) in event["parameters"]
    assert entry["review"]["status"] == "taken_down"
    assert replication_status(s3, bucket, "hero.png", version) is None
