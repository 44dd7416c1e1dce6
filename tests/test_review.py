"""Human review through every door, on both backends.

A provgate server with review rules (two approvals; one from group legal when people
are shown; a model release before people can be approved) and an intake rule that
quarantines ``hold/`` keys. Identities: the writer, two reviewers (``lee`` is in group
legal), a reader and the admin of tests.support.server.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import uuid

import pytest
from PIL import Image

from tests.conftest import client, storage_section
from tests.support.admin import admin_call
from tests.support.hostile import client_error
from tests.support.policies import write
from tests.support.polling import wait_for
from tests.support.records import exiftool_json, record_events
from tests.support.server import ADMIN, READER, ROOT, WRITER, ProvgateServer

BOB = {"name": "bob", "access_key": "AKIAREVIEWBOB", "secret": "bob-secret", "role": "reviewer"}
LEE = {"name": "lee", "access_key": "AKIAREVIEWLEE", "secret": "lee-secret", "role": "reviewer",
       "groups": ["legal"]}
QUARANTINE = "provgate-quarantine"
RELEASE = "http://ns.useplus.org/ldf/vocab/MR-UMR"

REVIEW_RULES = """
[[rule]]
id = "review-model-release"
stage = "review"
match = 'has(asset.people) && size(asset.people) > 0'
validate = 'has(asset.model_release) && !asset.model_release.endsWith("/MR-NON")'
message = "approval needs a model release for the people shown"

[[rule]]
id = "review-legal-for-people"
stage = "review"
quorum = true
match = 'has(asset.people) && size(asset.people) > 0'
validate = 'review.approvals.exists(a, "legal" in a.groups)'
message = "people are shown: an approval from group legal is needed"

[[rule]]
id = "review-two-approvals"
stage = "review"
quorum = true
validate = 'size(review.approvals) >= 2'
message = "two approvals are needed"

[[rule]]
id = "hold-for-review"
stage = "intake"
match = 'object.key.startsWith("hold/")'
validate = 'false'
message = "held for a reviewer"
action = "quarantine"
"""


@pytest.fixture(scope="module")
def server(backend_kind, tmp_path_factory, request):
    workdir = tmp_path_factory.mktemp(f"review-{backend_kind}")
    instance = ProvgateServer(workdir, storage_section(backend_kind, workdir, request),
                              identities=[ADMIN, WRITER, READER, BOB, LEE])
    write(instance.policy_dir, "review.toml", REVIEW_RULES)
    instance.start()
    yield instance
    instance.stop()


@pytest.fixture(scope="module")
def bucket(server) -> str:
    name = f"rv-{uuid.uuid4().hex[:12]}"
    client(server.endpoint).create_bucket(Bucket=name)
    return name


def png() -> bytes:
    """A small real PNG (ExifTool reads it at intake)."""
    buffer = io.BytesIO()
    Image.new("RGB", (32, 24), (10, 120, 60)).save(buffer, format="PNG")
    return buffer.getvalue()


PNG = png()


def key(prefix: str = "") -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}.png"


def api(server, method, path, body=None, identity=BOB):
    status, doc, _ = admin_call(server, method, path, body, identity=identity)
    return status, doc


def decide(server, bucket, name, decision, identity, **extra):
    return api(server, "POST", f"/api/v1/reviews/{bucket}/{name}/decisions",
               {"decision": decision, **extra}, identity)


def put(server, bucket, name, identity=WRITER, **metadata) -> str:
    reply = client(server.endpoint, identity).put_object(
        Bucket=bucket, Key=name, Body=PNG, ContentType="image/png",
        Metadata={"prompt": "a red sneaker", **metadata})
    return reply.get("VersionId")


def review_header(server, bucket, name, version_id=None) -> str:
    extra = {"VersionId": version_id} if version_id else {}
    head = client(server.endpoint).head_object(Bucket=bucket, Key=name, **extra)
    return head["ResponseMetadata"]["HTTPHeaders"].get("x-provgate-review")


def review_cli(server, identity, *args, env_credentials=True):
    env = {**os.environ}
    if env_credentials:
        env.update(PROVGATE_ACCESS_KEY=identity["access_key"],
                   PROVGATE_SECRET_KEY=identity["secret"])
    return subprocess.run([sys.executable, "-m", "gateway.cli", "review", *args,
                           "--endpoint", server.admin], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)


# --- the full round ----------------------------------------------------------------------

def test_a_full_review_round(server, bucket, tmp_path):
    name = key()
    v1 = put(server, bucket, name)
    assert review_header(server, bucket, name) == "pending"
    status, queue = api(server, "GET", f"/api/v1/reviews/queue?bucket={bucket}")
    assert status == 200 and name in [i["key"] for i in queue["items"]]

    status, state = api(server, "POST", f"/api/v1/reviews/{bucket}/{name}/comments",
                        {"text": "logo clipped", "region": {"x": 0.1, "y": 0.2, "w": 0.3,
                                                            "h": 0.4}})
    assert status == 201, state
    assert state["comment"]["id"] == "c1" and state["comment"]["x"] == 0.1
    status, state = decide(server, bucket, name, "request-changes", BOB, note="fix the logo")
    assert status == 200 and state["status"] == "changes_requested"
    assert review_header(server, bucket, name) == "changes_requested"

    v2 = put(server, bucket, name)              # the writer's new version
    assert v2 != v1
    assert review_header(server, bucket, name) == "pending"
    assert review_header(server, bucket, name, v1) == "changes_requested"

    status, state = decide(server, bucket, name, "approve", BOB)
    assert status == 200 and state["status"] == "pending"
    assert [w["rule"] for w in state["waiting_for"]] == ["review-two-approvals"]
    status, state = decide(server, bucket, name, "approve", LEE, note="looks right")
    assert status == 200 and state["status"] == "approved", state
    assert state["version_id"] == v2
    assert review_header(server, bucket, name) == "approved"
    assert review_header(server, bucket, name, v1) == "changes_requested"
    status, queue = api(server, "GET", f"/api/v1/reviews/queue?bucket={bucket}")
    assert name not in [i["key"] for i in queue["items"]]

    status, shown = api(server, "GET", f"/api/v1/reviews/{bucket}/{name}")
    assert [(v["version_id"], v["status"]) for v in shown["versions"]] == [
        (v1, "changes_requested"), (v2, "approved")]

    events = record_events(server, tmp_path, bucket, name)
    actions = [e.get("Action") for e in events]
    assert actions == ["created", "commented", "reviewed", "saved", "reviewed", "reviewed"]
    assert "changes_requested by bob" in events[2]["Parameters"]
    assert "comment c1 by bob" in events[1]["Parameters"]
    assert "approved by lee (reviewer [legal]); status approved" in events[5]["Parameters"]
    assert events[5]["InstanceID"] == events[3]["InstanceID"] != events[0]["InstanceID"]
    tags = exiftool_json(server, tmp_path, bucket, name)
    assert tags["XMP-pg:ReviewStatus"] == "approved"
    assert [d["Decision"] for d in tags["XMP-pg:ReviewDecisions"]] == ["approved", "approved"]
    assert [d["By"] for d in tags["XMP-pg:ReviewDecisions"]] == ["bob", "lee"]

    history = subprocess.run([sys.executable, "-m", "gateway.cli", "asset", "history",
                              f"{bucket}/{name}", "--json", "--config",
                              str(server.config_path)], cwd=ROOT, capture_output=True,
                             text=True, timeout=60)
    assert history.returncode == 0, history.stderr
    versions = json.loads(history.stdout)["versions"]
    assert [v["review"]["status"] for v in versions] == ["changes_requested", "approved"]
    assert [d["decision"] for d in versions[0]["review"]["decisions"]] == ["changes_requested"]
    assert [d["by"] for d in versions[1]["review"]["decisions"]] == ["bob", "lee"]
    text = subprocess.run([sys.executable, "-m", "gateway.cli", "asset", "history",
                           f"{bucket}/{name}", "--config", str(server.config_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=60).stdout
    assert "review: changes_requested" in text and "review: approved" in text


def test_a_full_round_through_the_cli(server, bucket):
    name = key()
    put(server, bucket, name)
    done = subprocess.run([sys.executable, "-m", "gateway.cli", "review", "queue", "--bucket",
                           bucket, "--json", "--config", str(server.config_path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert name in [i["key"] for i in json.loads(done.stdout)["items"]]
    done = review_cli(server, BOB, "comment", f"{bucket}/{name}", "the sky flickers",
                      "--timecode", "1.5,2.25", "--json")
    assert done.returncode == 0, done.stderr
    comment = json.loads(done.stdout)["comment"]
    assert (comment["start"], comment["end"]) == (1.5, 2.25)
    done = review_cli(server, LEE, "comment", f"{bucket}/{name}", "agreed", "--reply-to", "c1")
    assert done.returncode == 0, done.stderr
    done = review_cli(server, BOB, "comment", f"{bucket}/{name}", "-", "--resolve", "c1",
                      "--json")
    assert json.loads(done.stdout)["comments"][0]["resolved_by"] == "bob"
    done = review_cli(server, BOB, "rate", f"{bucket}/{name}", "4", "--json")
    assert json.loads(done.stdout)["rating"] == 4
    assert review_cli(server, BOB, "approve", f"{bucket}/{name}").returncode == 0
    done = review_cli(server, LEE, "approve", f"{bucket}/{name}", "--note", "ok")
    assert done.returncode == 0 and ": approved" in done.stdout, done.stdout + done.stderr
    shown = json.loads(review_cli(server, READER, "show", f"{bucket}/{name}", "--json").stdout)
    assert shown["status"] == "approved" and shown["rating"] == 4
    assert [c.get("reply_to") for c in shown["comments"]] == [None, "c1"]


def test_the_rating_is_xmp_rating_in_the_record(server, bucket, tmp_path):
    name = key()
    put(server, bucket, name)
    status, state = api(server, "PUT", f"/api/v1/reviews/{bucket}/{name}/rating", {"rating": 5})
    assert status == 200 and state["rating"] == 5
    assert exiftool_json(server, tmp_path, bucket, name)["XMP-xmp:Rating"] == 5


def test_a_tag_from_a_reviewer_is_a_decision(server, bucket):
    name = key()
    put(server, bucket, name)
    reviewer = client(server.endpoint, BOB)
    reviewer.put_object_tagging(Bucket=bucket, Key=name, Tagging={"TagSet": [
        {"Key": "review", "Value": "rejected"}, {"Key": "team", "Value": "a"}]})
    assert review_header(server, bucket, name) == "rejected"
    status, shown = api(server, "GET", f"/api/v1/reviews/{bucket}/{name}")
    assert [(d["decision"], d["by"]) for d in shown["decisions"]] == [("rejected", "bob")]
    tags = reviewer.get_object_tagging(Bucket=bucket, Key=name)["TagSet"]
    assert {t["Key"]: t["Value"] for t in tags} == {"review": "rejected", "team": "a"}


# --- a writer cannot approve, by any door --------------------------------------------------

def test_a_writer_cannot_approve_through_the_api(server, bucket):
    name = key()
    put(server, bucket, name)
    status, body = decide(server, bucket, name, "approve", WRITER)
    assert status == 403 and body["error"]["code"] == "AccessDenied"
    assert api(server, "GET", f"/api/v1/reviews/{bucket}/{name}")[1]["decisions"] == []


def test_a_writer_cannot_approve_through_the_cli(server, bucket):
    name = key()
    put(server, bucket, name)
    done = review_cli(server, WRITER, "approve", f"{bucket}/{name}")
    assert done.returncode == 1 and "AccessDenied" in done.stderr
    assert review_header(server, bucket, name) == "pending"


def test_a_writer_cannot_approve_through_tagging(server, bucket):
    name = key()
    put(server, bucket, name)
    writer = client(server.endpoint, WRITER)
    writer.put_object_tagging(Bucket=bucket, Key=name,
                              Tagging={"TagSet": [{"Key": "team", "Value": "a"}]})
    for value in ("approved", "rejected", "changes_requested"):
        status, code = client_error(lambda: writer.put_object_tagging(
            Bucket=bucket, Key=name, Tagging={"TagSet": [{"Key": "review", "Value": value}]}))
        assert (status, code) == (403, "AccessDenied")
    assert writer.get_object_tagging(Bucket=bucket, Key=name)["TagSet"] == [
        {"Key": "team", "Value": "a"}]
    assert review_header(server, bucket, name) == "pending"


def test_a_writer_cannot_approve_by_editing_the_record(server, bucket):
    name = key()
    put(server, bucket, name)
    writer = client(server.endpoint, WRITER)
    record = writer.get_object(Bucket=bucket, Key=name + ".xmp")["Body"].read()
    assert b"<pg:SchemaVersion>" in record
    forged = record.replace(b"<pg:SchemaVersion>", b"<pg:ReviewStatus>approved</pg:ReviewStatus>"
                                                   b"<pg:ReviewedBy>writer</pg:ReviewedBy>"
                                                   b"<pg:SchemaVersion>", 1)
    writer.put_object(Bucket=bucket, Key=name + ".xmp", Body=forged)
    assert review_header(server, bucket, name) == "pending"
    assert api(server, "GET", f"/api/v1/reviews/{bucket}/{name}")[1]["status"] == "pending"


def test_an_unknown_review_tag_value_is_refused(server, bucket):
    name = key()
    put(server, bucket, name)
    status, code = client_error(lambda: client(server.endpoint, BOB).put_object_tagging(
        Bucket=bucket, Key=name, Tagging={"TagSet": [{"Key": "review", "Value": "ok"}]}))
    assert (status, code) == (400, "InvalidTag")


def test_a_reader_sees_the_queue_but_cannot_decide_or_comment(server, bucket):
    name = key()
    put(server, bucket, name)
    assert api(server, "GET", f"/api/v1/reviews/queue?bucket={bucket}", identity=READER)[0] == 200
    assert decide(server, bucket, name, "reject", READER)[0] == 403
    status, _ = api(server, "POST", f"/api/v1/reviews/{bucket}/{name}/comments",
                    {"text": "hi"}, READER)
    assert status == 403


# --- review rules --------------------------------------------------------------------------

def test_people_without_a_model_release_block_approval_until_a_version_has_one(server, bucket):
    name = key()
    put(server, bucket, name, people="Jane Doe")
    status, body = decide(server, bucket, name, "approve", LEE)
    assert status == 403, body
    assert body["error"]["rule"] == "review-model-release"
    assert "model release" in body["error"]["message"]
    assert api(server, "GET", f"/api/v1/reviews/{bucket}/{name}")[1]["decisions"] == []

    put(server, bucket, name, people="Jane Doe", **{"model-release": RELEASE})
    status, state = decide(server, bucket, name, "approve", BOB)
    assert state["status"] == "pending"
    assert {w["rule"] for w in state["waiting_for"]} == {"review-legal-for-people",
                                                         "review-two-approvals"}
    status, state = decide(server, bucket, name, "approve", LEE)
    assert status == 200 and state["status"] == "approved"


def test_a_rejection_by_anyone_rejects_and_a_reviewer_may_change_their_mind(server, bucket):
    name = key()
    put(server, bucket, name)
    decide(server, bucket, name, "approve", BOB)
    status, state = decide(server, bucket, name, "reject", LEE, note="off brand")
    assert state["status"] == "rejected"
    status, state = decide(server, bucket, name, "approve", LEE)
    assert state["status"] == "approved"
    assert [d["decision"] for d in state["decisions"]] == ["approved", "rejected", "approved"]


def test_policy_explain_sees_the_approvals_that_stand(server, bucket):
    name = key()
    put(server, bucket, name)
    decide(server, bucket, name, "approve", BOB)
    done = subprocess.run([sys.executable, "-m", "gateway.cli", "policy", "explain",
                           f"{bucket}/{name}", "--json", "--config", str(server.config_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    outcomes = {o["rule_id"]: o for o in json.loads(done.stdout)["stages"]["review"]["outcomes"]}
    assert outcomes["review-two-approvals"]["result"] == "fail"      # one of two, no error
    decide(server, bucket, name, "approve", LEE)
    done = subprocess.run([sys.executable, "-m", "gateway.cli", "policy", "explain",
                           f"{bucket}/{name}", "--json", "--config", str(server.config_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    outcomes = {o["rule_id"]: o for o in json.loads(done.stdout)["stages"]["review"]["outcomes"]}
    assert outcomes["review-two-approvals"]["result"] == "pass"


def test_two_reviewers_approving_at_once_both_count(server, bucket):
    from concurrent.futures import ThreadPoolExecutor
    names = [key() for _ in range(5)]
    for name in names:
        put(server, bucket, name)
    with ThreadPoolExecutor(10) as pool:
        answers = list(pool.map(lambda job: decide(server, bucket, job[0], "approve", job[1]),
                                [(n, who) for n in names for who in (BOB, LEE)]))
    assert all(status == 200 for status, _ in answers), answers
    for name in names:
        shown = api(server, "GET", f"/api/v1/reviews/{bucket}/{name}")[1]
        assert sorted(d["by"] for d in shown["decisions"]) == ["bob", "lee"]
        assert shown["status"] == "approved"


# --- quarantine ----------------------------------------------------------------------------

def quarantined_keys(server) -> list[tuple[str, str]]:
    items = api(server, "GET", "/api/v1/quarantine")[1]["items"]
    return [(i["bucket"], i["key"]) for i in items]


def test_release_moves_a_quarantined_write_into_its_bucket_with_its_record(server, bucket,
                                                                           tmp_path):
    name = key("hold/")
    reply = client(server.endpoint, WRITER).put_object(
        Bucket=bucket, Key=name, Body=PNG, Metadata={"prompt": "held sneaker"})
    assert "x-provgate-quarantine" in reply["ResponseMetadata"]["HTTPHeaders"]
    assert (bucket, name) in quarantined_keys(server)

    status, body = api(server, "POST", f"/api/v1/quarantine/{bucket}/{name}/release",
                       {"note": "fine"}, WRITER)
    assert status == 403
    status, state = api(server, "POST", f"/api/v1/quarantine/{bucket}/{name}/release",
                        {"note": "fine"}, BOB)
    assert status == 200, state
    assert state["status"] == "pending"          # one approval of the two the rules want
    assert [d["by"] for d in state["decisions"]] == ["bob"]
    got = client(server.endpoint, READER).get_object(Bucket=bucket, Key=name)
    assert got["Body"].read() == PNG
    assert got["VersionId"] == state["version_id"]
    assert (bucket, name) not in quarantined_keys(server)

    events = record_events(server, tmp_path, bucket, name)
    assert [e["Action"] for e in events] == ["created", "reviewed"]
    assert "released from quarantine" in events[1]["Parameters"]
    tags = exiftool_json(server, tmp_path, bucket, name)
    assert tags["XMP-iptcExt:AIPromptInformation"] == "held sneaker"
    source = state["released_from"]
    assert (source["bucket"], source["key"]) == (QUARANTINE, f"{bucket}/{name}")
    held = api(server, "GET", f"/api/v1/assets/{QUARANTINE}/{bucket}/{name}"
                              f"?versionId={source['version_id']}")[1]
    assert held["asset"]["deleted"] is True
    assert "released to" in held["history"][-1]["parameters"]

    status, state = decide(server, bucket, name, "approve", LEE)
    assert state["status"] == "approved"


def test_discard_deletes_a_quarantined_write_and_its_record_says_so(server, bucket):
    name = key("hold/")
    client(server.endpoint, WRITER).put_object(Bucket=bucket, Key=name, Body=PNG)
    status, gone = api(server, "POST", f"/api/v1/quarantine/{bucket}/{name}/discard",
                       {"note": "not ours"}, LEE)
    assert status == 200, gone
    assert (bucket, name) not in quarantined_keys(server)
    assert client_error(lambda: client(server.endpoint).head_object(
        Bucket=QUARANTINE, Key=f"{bucket}/{name}"))[0] == 404
    assert client_error(lambda: client(server.endpoint).head_object(
        Bucket=bucket, Key=name))[0] == 404
    held = api(server, "GET", f"/api/v1/assets/{QUARANTINE}/{bucket}/{name}?versionId="
                              f"{gone['discarded']['version_id']}")[1]
    assert held["record"]["review"]["status"] == "rejected"
    assert "discarded from quarantine" in held["history"][-1]["parameters"]
    status, body = api(server, "POST", f"/api/v1/quarantine/{bucket}/{name}/discard", {}, LEE)
    assert status == 404 and body["error"]["code"] == "NoSuchKey"


# --- hostile input -------------------------------------------------------------------------

@pytest.mark.parametrize("body", [
    {"text": "x", "region": {"x": 1.2, "y": 0, "w": 0.1, "h": 0.1}},
    {"text": "x", "region": {"x": 0.5, "y": 0.5, "w": 0.6, "h": 0.1}},
    {"text": "x", "region": {"x": 0, "y": 0, "w": 0, "h": 0.1}},
    {"text": "x", "region": {"x": -0.1, "y": 0, "w": 0.1, "h": 0.1}},
    {"text": "x", "region": {"x": "0", "y": 0, "w": 0.1, "h": 0.1}},
    {"text": "x", "region": {"x": True, "y": 0, "w": 0.1, "h": 0.1}},
    {"text": "x", "region": {"x": 0, "y": 0, "w": 0.1}},
    {"text": "x", "region": [0, 0, 0.1, 0.1]},
    {"text": "x", "timecode": {"start": 5, "end": 2}},
    {"text": "x", "timecode": {"start": -1, "end": 2}},
    {"text": "x", "timecode": {"start": 1e300, "end": 1e301}},
    {"text": "x" * 4001},
    {"text": "   "},
    {"text": "bell \x07"},
    {"text": 42},
    {},
    {"text": "x", "reply_to": "../c1"},
    {"text": "x", "unexpected": 1},
])
def test_hostile_comments_are_refused_and_nothing_is_stored(server, bucket, body):
    name = key()
    put(server, bucket, name)
    status, answer = api(server, "POST", f"/api/v1/reviews/{bucket}/{name}/comments", body)
    assert status == 400 and answer["error"]["code"] == "InvalidArgument", answer
    assert api(server, "GET", f"/api/v1/reviews/{bucket}/{name}")[1]["comments"] == []


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b"\xff\xfe", b'"text"', b"null"])
def test_bodies_that_are_not_a_json_object_are_refused(server, bucket, raw):
    name = key()
    put(server, bucket, name)
    status, answer, _ = admin_call(server, "POST", f"/api/v1/reviews/{bucket}/{name}/decisions",
                                   raw=raw, identity=BOB)
    assert status == 400 and answer["error"]["code"] == "InvalidArgument"


def test_a_body_over_the_limit_is_refused(server, bucket):
    name = key()
    put(server, bucket, name)
    raw = json.dumps({"decision": "approve", "note": "x" * (2 << 20)}).encode()
    status, answer, _ = admin_call(server, "POST", f"/api/v1/reviews/{bucket}/{name}/decisions",
                                   raw=raw, identity=BOB)
    assert status == 400 and answer["error"]["code"] == "EntityTooLarge"
    assert api(server, "GET", f"/api/v1/reviews/{bucket}/{name}")[1]["decisions"] == []


@pytest.mark.parametrize("body, code", [
    ({"decision": "approve", "note": "n" * 4001}, "InvalidArgument"),
    ({"decision": "maybe"}, "InvalidArgument"),
    ({"decision": None}, "InvalidArgument"),
    ({"decision": "approve", "version_id": "no-such-version"}, "NoSuchVersion"),
])
def test_hostile_decisions_are_refused(server, bucket, body, code):
    name = key()
    put(server, bucket, name)
    extra = {k: v for k, v in body.items() if k != "decision"}
    status, answer = decide(server, bucket, name, body["decision"], BOB, **extra)
    assert answer["error"]["code"] == code and status in (400, 404), answer
    assert api(server, "GET", f"/api/v1/reviews/{bucket}/{name}")[1]["decisions"] == []


@pytest.mark.parametrize("rating", [6, -1, 2.5, "5", True, None])
def test_ratings_outside_0_to_5_are_refused(server, bucket, rating):
    name = key()
    put(server, bucket, name)
    status, answer = api(server, "PUT", f"/api/v1/reviews/{bucket}/{name}/rating",
                         {"rating": rating})
    assert status == 400 and answer["error"]["code"] == "InvalidArgument"


def test_a_reply_to_a_comment_that_does_not_exist_is_404(server, bucket):
    name = key()
    put(server, bucket, name)
    status, answer = api(server, "POST", f"/api/v1/reviews/{bucket}/{name}/comments",
                         {"text": "x", "reply_to": "c9"})
    assert status == 404 and answer["error"]["code"] == "NoSuchReviewItem"


def test_decisions_on_an_unknown_asset_are_404(server, bucket):
    status, answer = decide(server, bucket, "nothing-here.png", "approve", BOB)
    assert status == 404 and answer["error"]["code"] == "NoSuchKey"


# --- metrics and audit ----------------------------------------------------------------------

def test_decisions_are_counted_and_the_queue_is_measured(server, bucket):
    from tests.support.metrics import metric, scrape
    before = metric(scrape(server.admin), "provgate_review_decisions_total",
                    decision="rejected") or 0
    name = key()
    put(server, bucket, name)
    # The queue gauges are recomputed at most every few seconds.
    def counted():
        samples = scrape(server.admin)
        return samples if metric(samples, "provgate_review_pending_versions") >= 1 else None

    metrics = wait_for(counted, 30, "the pending gauge to count the new version")
    assert metric(metrics, "provgate_review_pending_oldest_age_seconds") >= 0
    decide(server, bucket, name, "reject", BOB)
    after = metric(scrape(server.admin), "provgate_review_decisions_total", decision="rejected")
    assert after == before + 1


def test_every_decision_and_comment_is_in_the_audit_log(server, bucket):
    name = key()
    put(server, bucket, name)
    api(server, "POST", f"/api/v1/reviews/{bucket}/{name}/comments", {"text": "hm"})
    decide(server, bucket, name, "reject", LEE, note="no")
    status, log = api(server, "GET", f"/api/v1/audit?kind=review&key={name}&limit=1000",
                      identity=ADMIN)
    assert [(e["action"], e["identity"]) for e in log["entries"]] == [
        ("commented", "bob"), ("decided", "lee")]
    assert log["entries"][1]["decision"] == "rejected" and log["entries"][1]["note"] == "no"


# --- configuration ---------------------------------------------------------------------------

@pytest.mark.parametrize("groups, problem", [
    ('"legal"', "groups' must be a list"),
    ('["legal", 3]', "groups' must be a list"),
    ('["legal", ""]', "groups' must be a list"),
])
def test_identity_groups_must_be_a_list_of_names(tmp_path, groups, problem):
    from gateway import config as config_module
    path = tmp_path / "provgate.toml"
    path.write_text('[[identities]]\nname = "lee"\naccess_key = "AK"\nsecret = "s"\n'
                    f'role = "reviewer"\ngroups = {groups}\n')
    with pytest.raises(config_module.ConfigError, match=problem):
        config_module.load(path)


def test_identity_groups_are_loaded(tmp_path):
    from gateway import config as config_module
    path = tmp_path / "provgate.toml"
    path.write_text('[[identities]]\nname = "lee"\naccess_key = "AK"\nsecret = "s"\n'
                    'role = "reviewer"\ngroups = ["legal", "brand"]\n')
    assert config_module.load(path).identities[0].groups == ("legal", "brand")

