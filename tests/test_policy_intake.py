"""Policies enforced through the S3 door, on both backends (docs/policies.md, "At intake").

One server per backend runs the shipped ``policies/`` plus a test file with the actions
the shipped set does not use (quarantine, audit, fail-closed run-time errors, a timeout,
the door). Every denial is checked for what the writer sees (403 AccessDenied naming the
rule, ``x-provgate-policy``) and for what must not exist afterwards (object, sidecar,
catalog entry, spool file).
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from tests.conftest import client, storage_section
from tests.support.admin import admin_json
from tests.support.hostile import client_error, leftover_files, spool_dir
from tests.support.media import a1111_png, a_png
from tests.support.policies import write
from tests.support.server import IDENTITIES, READER, ROOT, WRITER, ProvgateServer
from tests.test_operations import metric, scrape

REVIEWER = {"name": "rita", "access_key": "AKIATESTREVIEWER", "secret": "test-reviewer-secret",
            "role": "reviewer"}
QUARANTINE = "provgate-quarantine"
EVAL_TIMEOUT = 0.5

# Rules for the actions and failure modes the shipped set does not exercise; each keyed
# to its own bucket so they never interfere with one another or with the shipped rules.
TEST_POLICIES = '''
[[rule]]
id = "inbox-needs-creator"
stage = "intake"
match = 'object.bucket == "inbox" && !object.key.endsWith(".xmp")'
validate = 'has(asset.creator)'
message = "files without a creator wait for review"
action = "quarantine"

[[rule]]
id = "inbox-size-watch"
stage = "intake"
match = 'object.bucket == "inbox"'
validate = 'object.size < 1000'
message = "large file in the inbox"
action = "audit"

[[rule]]
id = "strict-ticket"
stage = "intake"
match = 'object.bucket == "strict"'
validate = 'asset.custom.ticket.startsWith("T-")'
message = "strict writes need a ticket"
action = "deny"

[[rule]]
id = "lenient-ticket"
stage = "intake"
match = 'object.bucket == "lenient"'
validate = 'asset.custom.ticket.startsWith("T-")'
message = "lenient writes should have a ticket"
action = "deny"
on_error = "ignore"

[[rule]]
id = "slow-people"
stage = "intake"
match = 'object.bucket == "slow" && has(asset.people)'
validate = """asset.people.map(a, asset.people.map(b, asset.people.map(c,
  asset.people.map(d, a + b + c + d)))).size() > 0"""
message = "people could not be checked"
action = "deny"

[[rule]]
id = "folder-door-only"
stage = "intake"
match = 'object.bucket == "dropbox"'
validate = 'object.door == "sidecar"'
message = "the dropbox bucket is written by the folder sidecar only"
action = "deny"
'''

BUCKETS = ("renders", "campaign", "inbox", "strict", "lenient", "slow", "dropbox")


@pytest.fixture(scope="module")
def guarded(backend_kind, tmp_path_factory, request):
    """A server enforcing the shipped policies and TEST_POLICIES, with its buckets."""
    workdir = tmp_path_factory.mktemp(f"guarded-{backend_kind}")
    server = ProvgateServer(workdir, storage_section(backend_kind, workdir, request),
                            identities=[*IDENTITIES, REVIEWER],
                            policies={"dirs": [str(ROOT / "policies"), str(workdir / "policies")],
                                      "eval_timeout": EVAL_TIMEOUT})
    write(server.policy_dir, "test.toml", TEST_POLICIES)
    server.start()
    admin = client(server.endpoint)
    for name in BUCKETS:
        admin.create_bucket(Bucket=name)
    yield server
    server.stop()


@pytest.fixture
def s3(guarded):
    return client(guarded.endpoint)


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    d = tmp_path_factory.mktemp("policy-media")
    return {"a1111": a1111_png(d), "plain": a_png(d)}


def key() -> str:
    return f"k-{uuid.uuid4().hex[:10]}.png"


def denied(call) -> ClientError:
    with pytest.raises(ClientError) as info:
        call()
    return info.value


def headers_of(response) -> dict:
    return response["ResponseMetadata"]["HTTPHeaders"]


def assert_nothing_stored(server, s3, bucket: str, name: str) -> None:
    listing = s3.list_object_versions(Bucket=bucket, Prefix=name)
    assert not listing.get("Versions") and not listing.get("DeleteMarkers"), listing
    for probe in (name, name + ".xmp")[:1 if len(name.encode()) > 1020 else 2]:
        assert client_error(lambda: s3.head_object(Bucket=bucket, Key=probe))[0] == 404
    assert admin_json(server, f"/api/v1/assets/{bucket}/{name}")[0] == 404
    assert leftover_files(spool_dir(server)) == []


def with_header(s3, name: str, value: str):
    """The client sends ``name: value`` on every request (signed like any header)."""
    def add(request, **_):
        request.headers[name] = value
    s3.meta.events.register("before-sign.s3.*", add)
    return s3


def audit_entries(server, **match) -> list[dict]:
    status, body = admin_json(server, "/api/v1/audit?limit=1000")
    assert status == 200, body
    return [e for e in body["entries"] if all(e.get(k) == v for k, v in match.items())]


# --- deny -------------------------------------------------------------------------------

def test_denied_put_names_the_rule_and_stores_nothing(guarded, s3):
    name = key()
    error = denied(lambda: s3.put_object(Bucket="renders", Key=name, Body=b"plain text",
                                         ContentType="text/plain"))
    assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert error.response["Error"]["Code"] == "AccessDenied"
    assert error.response["Error"]["Message"] == (
        "Denied by policy rule 'bucket-content-types': bucket renders does not accept "
        'content type "text/plain"')
    assert headers_of(error.response)["x-provgate-policy"] == "bucket-content-types"
    assert_nothing_stored(guarded, s3, "renders", name)


def test_executable_declared_as_png_is_denied_by_its_detected_type(guarded, s3):
    """The declared Content-Type is only the writer's word: an ELF binary sent as
    image/png is refused for what ExifTool detects it to be."""
    name = key()
    elf = Path("/bin/true").read_bytes()
    assert elf[:4] == b"\x7fELF"
    error = denied(lambda: s3.put_object(Bucket="renders", Key=name, Body=elf,
                                         ContentType="image/png"))
    assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert headers_of(error.response)["x-provgate-policy"] == "bucket-detected-types"
    assert error.response["Error"]["Message"] == (
        "Denied by policy rule 'bucket-detected-types': bucket renders does not accept this "
        'content: it was declared "image/png" but is "application/octet-stream"')
    assert_nothing_stored(guarded, s3, "renders", name)


def test_ai_image_without_model_is_denied_with_the_shipped_message(guarded, s3, media):
    name = key()
    error = denied(lambda: s3.put_object(
        Bucket="renders", Key=name, Body=media["plain"].path.read_bytes(),
        ContentType="image/png", Metadata={"source-type": "trainedAlgorithmicMedia",
                                           "prompt": "a red sneaker"}))
    assert headers_of(error.response)["x-provgate-policy"] == "ai-image-model"
    assert "must name the model that made them" in error.response["Error"]["Message"]
    assert_nothing_stored(guarded, s3, "renders", name)


def test_banned_prompt_term_from_the_file_itself_is_denied(guarded, s3, tmp_path):
    from tests.support.media import _png
    path = _png(tmp_path / "banned.png", {"parameters": "pikachu on a skateboard\nSteps: 20, "
                                                        "Sampler: Euler, Seed: 1, Model: sdxl"})
    name = key()
    error = denied(lambda: s3.put_object(Bucket="renders", Key=name, Body=path.read_bytes(),
                                         ContentType="image/png"))
    assert headers_of(error.response)["x-provgate-policy"] == "banned-prompt-terms"
    assert "banned term(s): pikachu" in error.response["Error"]["Message"]
    assert_nothing_stored(guarded, s3, "renders", name)


def test_compliant_ai_image_is_stored_with_the_shipped_defaults(guarded, s3, media):
    name = key()
    reply = s3.put_object(Bucket="renders", Key=name, Body=media["a1111"].path.read_bytes(),
                          ContentType="image/png")
    assert "x-provgate-policy" not in headers_of(reply)
    status, asset = admin_json(guarded, f"/api/v1/assets/renders/{name}")
    assert status == 200
    record = asset["record"]
    assert record["copyright"] == "© Example Brand. All rights reserved."
    assert record["data_mining"].endswith("DMI-PROHIBITED-AIMLTRAINING")
    assert record["field_sources"]["copyright"] == "default"
    xmp = s3.get_object(Bucket="renders", Key=name + ".xmp")["Body"].read().decode()
    assert "Example Brand" in xmp


def test_headers_take_precedence_over_defaults(guarded, s3, media):
    name = key()
    s3.put_object(Bucket="renders", Key=name, Body=media["a1111"].path.read_bytes(),
                  ContentType="image/png", Metadata={"copyright": "(c) Agency"})
    record = admin_json(guarded, f"/api/v1/assets/renders/{name}")[1]["record"]
    assert record["copyright"] == "(c) Agency"
    assert record["owner"] == "Example Brand"


def test_copy_is_evaluated_like_a_put(guarded, s3):
    name = key()
    s3.put_object(Bucket="inbox", Key="note.txt", Body=b"words", ContentType="text/plain",
                  Metadata={"creator": "alice"})
    error = denied(lambda: s3.copy_object(Bucket="renders", Key=name,
                                          CopySource={"Bucket": "inbox", "Key": "note.txt"}))
    assert headers_of(error.response)["x-provgate-policy"] == "bucket-content-types"
    assert_nothing_stored(guarded, s3, "renders", name)


def test_form_upload_is_evaluated_like_a_put(guarded, s3, media):
    """POST Object (a browser form) goes through the same intake: a denial names the
    rule and stores nothing; a compliant file is stored with its record."""
    import requests
    from defusedxml import ElementTree as SafeET
    name = key()
    presigned = client(guarded.endpoint, signature_version="s3v4").generate_presigned_post(
        "renders", name, Fields={"Content-Type": "text/plain"},
        Conditions=[{"Content-Type": "text/plain"}], ExpiresIn=600)
    reply = requests.post(presigned["url"], data=presigned["fields"],
                          files={"file": ("n.txt", b"plain text")}, timeout=60)
    assert reply.status_code == 403
    assert SafeET.fromstring(reply.content).findtext("Code") == "AccessDenied"
    assert reply.headers["x-provgate-policy"] == "bucket-content-types"
    assert_nothing_stored(guarded, s3, "renders", name)
    data = media["a1111"].path.read_bytes()
    presigned = client(guarded.endpoint, signature_version="s3v4").generate_presigned_post(
        "renders", name, Fields={"Content-Type": "image/png"},
        Conditions=[{"Content-Type": "image/png"}], ExpiresIn=600)
    reply = requests.post(presigned["url"], data=presigned["fields"],
                          files={"file": ("a.png", data)}, timeout=60)
    assert reply.status_code == 204, reply.content
    assert s3.get_object(Bucket="renders", Key=name)["Body"].read() == data
    assert s3.head_object(Bucket="renders", Key=name + ".xmp")["ContentLength"] > 0


def test_multipart_complete_is_evaluated_and_a_denial_drops_the_upload(guarded, s3):
    name = key()
    upload = s3.create_multipart_upload(Bucket="renders", Key=name, ContentType="text/csv")
    part = s3.upload_part(Bucket="renders", Key=name, UploadId=upload["UploadId"],
                          PartNumber=1, Body=b"a,b\n" * 100)
    error = denied(lambda: s3.complete_multipart_upload(
        Bucket="renders", Key=name, UploadId=upload["UploadId"],
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]}))
    assert error.response["Error"]["Code"] == "AccessDenied"
    assert headers_of(error.response)["x-provgate-policy"] == "bucket-content-types"
    assert_nothing_stored(guarded, s3, "renders", name)
    assert not s3.list_multipart_uploads(Bucket="renders", Prefix=name).get("Uploads")


def test_multipart_complete_that_passes_is_stored(guarded, s3, media):
    name = key()
    data = media["a1111"].path.read_bytes()
    upload = s3.create_multipart_upload(Bucket="renders", Key=name, ContentType="image/png")
    part = s3.upload_part(Bucket="renders", Key=name, UploadId=upload["UploadId"],
                          PartNumber=1, Body=data)
    s3.complete_multipart_upload(Bucket="renders", Key=name, UploadId=upload["UploadId"],
                                 MultipartUpload={"Parts": [{"PartNumber": 1,
                                                             "ETag": part["ETag"]}]})
    assert s3.get_object(Bucket="renders", Key=name)["Body"].read() == data


# --- warn, audit, quarantine --------------------------------------------------------------

def test_warn_stores_and_says_why(guarded, s3, media):
    name = key()
    reply = s3.put_object(Bucket="renders", Key=name, Body=media["a1111"].path.read_bytes(),
                          ContentType="image/png", Metadata={"people": "Jane Doe"})
    warning = headers_of(reply)["x-provgate-warning"]
    assert warning.startswith("model-release-early-warning: people are shown")
    assert s3.head_object(Bucket="renders", Key=name)["VersionId"] == reply["VersionId"]
    entry, = audit_entries(guarded, key=name, rule="model-release-early-warning")
    assert (entry["action"], entry["version_id"]) == ("warn", reply["VersionId"])


def test_audit_action_stores_silently_and_records(guarded, s3):
    name = key()
    reply = s3.put_object(Bucket="inbox", Key=name, Body=b"x" * 5000,
                          Metadata={"creator": "alice"})
    assert not {"x-provgate-warning", "x-provgate-quarantine"} & set(headers_of(reply))
    assert s3.get_object(Bucket="inbox", Key=name)["Body"].read() == b"x" * 5000
    entry, = audit_entries(guarded, key=name, rule="inbox-size-watch")
    assert entry["action"] == "audit" and entry["result"] == "fail"
    assert entry["message"] == "large file in the inbox"
    assert entry["identity"] == "tester" and entry["version_id"] == reply["VersionId"]
    assert entry["revision"] == admin_json(guarded, "/api/v1/policies")[1]["revision"]


def test_quarantined_write_is_invisible_to_writers_and_readers(guarded, s3):
    name = key()
    writer = client(guarded.endpoint, WRITER)
    reply = writer.put_object(Bucket="inbox", Key=name, Body=b"no creator")
    assert headers_of(reply)["x-provgate-quarantine"] == (
        "inbox-needs-creator: files without a creator wait for review")
    assert "VersionId" not in reply
    for who in (writer, client(guarded.endpoint, READER), s3):
        assert client_error(lambda: who.head_object(Bucket="inbox", Key=name)) == (404, "404")
        assert name not in [o["Key"] for o in
                            who.list_objects_v2(Bucket="inbox").get("Contents", [])]
    for who in (writer, client(guarded.endpoint, READER)):
        assert QUARANTINE not in [b["Name"] for b in who.list_buckets()["Buckets"]]
        assert client_error(lambda: who.list_objects_v2(Bucket=QUARANTINE)) == \
            (404, "NoSuchBucket")
        assert client_error(lambda: who.get_object(Bucket=QUARANTINE, Key=f"inbox/{name}")) \
            == (404, "NoSuchBucket")


def test_reviewer_sees_quarantine_and_may_discard_but_not_write(guarded):
    name = key()
    client(guarded.endpoint, WRITER).put_object(Bucket="inbox", Key=name, Body=b"held")
    reviewer = client(guarded.endpoint, REVIEWER)
    # Not listed (tools syncing every bucket would sweep it up), reached by name.
    assert QUARANTINE not in [b["Name"] for b in reviewer.list_buckets()["Buckets"]]
    assert reviewer.head_bucket(Bucket=QUARANTINE)["ResponseMetadata"]["HTTPStatusCode"] == 200
    held = f"inbox/{name}"
    assert reviewer.get_object(Bucket=QUARANTINE, Key=held)["Body"].read() == b"held"
    record = admin_json(guarded, f"/api/v1/assets/{QUARANTINE}/{held}")[1]["record"]
    assert (record["bucket"], record["key"]) == (QUARANTINE, held)
    assert reviewer.head_object(Bucket=QUARANTINE, Key=held + ".xmp")["ContentLength"] > 0
    assert client_error(lambda: reviewer.put_object(Bucket=QUARANTINE, Key="x", Body=b"")) \
        == (403, "AccessDenied")
    assert client_error(lambda: client(guarded.endpoint).create_bucket(Bucket=QUARANTINE)) \
        == (409, "BucketAlreadyExists")
    reviewer.delete_object(Bucket=QUARANTINE, Key=held)
    assert client_error(lambda: reviewer.head_object(Bucket=QUARANTINE, Key=held))[0] == 404


def test_quarantine_listing_in_the_admin_api(guarded):
    name = key()
    client(guarded.endpoint, WRITER).put_object(Bucket="inbox", Key=name, Body=b"held")
    status, body = admin_json(guarded, "/api/v1/quarantine")
    assert status == 200
    item, = [i for i in body["items"] if i["key"] == name]
    assert item["bucket"] == "inbox" and item["rule"] == "inbox-needs-creator"
    assert item["location"] == {"bucket": QUARANTINE, "key": f"inbox/{name}",
                                "version_id": item["location"]["version_id"]}
    assert item["identity"] == "writer"


def test_a_write_too_long_to_quarantine_is_refused_not_stored_in_the_open(guarded, s3):
    # "inbox/" + key must itself fit in S3's 1024 bytes; this key fits alone but not there
    name = "q/" + "é" * 509 + ".bin"                 # 1024 bytes
    error = denied(lambda: client(guarded.endpoint, WRITER).put_object(
        Bucket="inbox", Key=name, Body=b"no creator"))
    assert headers_of(error.response)["x-provgate-policy"] == "inbox-needs-creator"
    assert "not quarantined" in error.response["Error"]["Message"]
    assert_nothing_stored(guarded, s3, "inbox", name)
    held = s3.list_objects_v2(Bucket=QUARANTINE, Prefix="inbox/q/").get("Contents", [])
    assert held == []


# --- fail-closed ------------------------------------------------------------------------

def test_runtime_error_in_a_deny_rule_denies_with_a_clear_message(guarded, s3):
    name = key()
    error = denied(lambda: s3.put_object(Bucket="strict", Key=name, Body=b"x"))
    assert headers_of(error.response)["x-provgate-policy"] == "strict-ticket"
    message = error.response["Error"]["Message"]
    assert message.startswith("Denied by policy rule 'strict-ticket': strict writes need a "
                              "ticket [policy evaluation error, fail-closed: validate:")
    assert_nothing_stored(guarded, s3, "strict", name)
    s3.put_object(Bucket="strict", Key=name, Body=b"x", Metadata={"ticket": "T-1"})


def test_a_record_edit_is_judged_and_audited_like_a_write(guarded, s3):
    name = key()
    version = s3.put_object(Bucket="strict", Key=name, Body=b"x",
                            Metadata={"ticket": "T-1"})["VersionId"]
    record = s3.get_object(Bucket="strict", Key=name + ".xmp")["Body"].read()
    s3.put_object(Bucket="strict", Key=name + ".xmp", Body=record,
                  ContentType="application/rdf+xml")
    entries = audit_entries(guarded, key=name, rule="strict-ticket")
    assert [(e["result"], e["version_id"]) for e in entries] == [("pass", version)] * 2


def test_runtime_error_in_a_rule_that_opts_out_is_ignored(guarded, s3):
    name = key()
    s3.put_object(Bucket="lenient", Key=name, Body=b"x")
    entry, = audit_entries(guarded, key=name, rule="lenient-ticket")
    assert (entry["result"], entry["action"]) == ("error", "allow")
    error = denied(lambda: s3.put_object(Bucket="lenient", Key=key(), Body=b"x",
                                         Metadata={"ticket": "none"}))
    assert headers_of(error.response)["x-provgate-policy"] == "lenient-ticket"


def test_pathological_expression_is_cut_off_and_denies(guarded, s3):
    name = key()
    people = ",".join(f"p{i}" for i in range(300))          # 300^4 iterations: hours
    error = denied(lambda: s3.put_object(Bucket="slow", Key=name, Body=b"x",
                                         Metadata={"people": people}))
    assert headers_of(error.response)["x-provgate-policy"] == "slow-people"
    assert f"exceeded the time limit of {EVAL_TIMEOUT:g} s" in error.response["Error"]["Message"]
    assert_nothing_stored(guarded, s3, "slow", name)
    s3.put_object(Bucket="slow", Key=name, Body=b"x", Metadata={"people": "Ann,Bo"})


# --- the door ---------------------------------------------------------------------------

def test_the_sidecar_door_is_seen_by_policies(guarded, s3):
    error = denied(lambda: s3.put_object(Bucket="dropbox", Key=key(), Body=b"x"))
    assert headers_of(error.response)["x-provgate-policy"] == "folder-door-only"
    sidecar = with_header(client(guarded.endpoint, fresh=True), "x-provgate-door", "sidecar")
    name = key()
    sidecar.put_object(Bucket="dropbox", Key=name, Body=b"x")
    record = admin_json(guarded, f"/api/v1/assets/dropbox/{name}")[1]["record"]
    assert record["door"] == "sidecar"


@pytest.mark.parametrize("value", ["share", "", "s3 ", "SIDECAR-ish", "sidecar,s3"])
def test_an_unknown_door_is_refused(guarded, value):
    s3 = with_header(client(guarded.endpoint, fresh=True), "x-provgate-door", value)
    name = key()
    if value.strip().lower() in ("s3", "sidecar"):
        s3.put_object(Bucket="inbox", Key=name, Body=b"x", Metadata={"creator": "a"})
        return
    status, code = client_error(lambda: s3.put_object(Bucket="inbox", Key=name, Body=b"x"))
    assert (status, code) == (400, "InvalidArgument")
    assert_nothing_stored(guarded, client(guarded.endpoint), "inbox", name)


# --- metrics ----------------------------------------------------------------------------

def test_decisions_and_policy_latency_are_counted(guarded, s3):
    before = scrape(guarded.admin)
    denied(lambda: s3.put_object(Bucket="renders", Key=key(), Body=b"x", ContentType="text/plain"))
    client(guarded.endpoint, WRITER).put_object(Bucket="inbox", Key=key(), Body=b"held")
    after = scrape(guarded.admin)

    def delta(name, **labels):
        return metric(after, name, **labels) - metric(before, name, **labels)

    assert delta("provgate_policy_decisions_total", rule="bucket-content-types",
                 action="deny") == 1
    assert delta("provgate_policy_decisions_total", rule="inbox-needs-creator",
                 action="quarantine") == 1
    assert delta("provgate_intake_stage_duration_seconds_count", stage="policy") == 2
    assert delta("provgate_intake_writes_total", door="s3", outcome="denied") == 1
    assert delta("provgate_intake_writes_total", door="s3", outcome="quarantined") == 1
