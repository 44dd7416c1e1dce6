"""The quarantine bucket stays hidden from non-reviewers on every read path.

A writer with every bucket in scope must not read a quarantined write by copying it out
(CopyObject, with COPY or REPLACE metadata; UploadPartCopy then Complete), nor learn
which quarantined keys exist from copy-source conditions: each answers 404 NoSuchBucket
exactly as for a key that was never there, and nothing is written at the destination.
"""

from __future__ import annotations

import uuid

import pytest

from tests.conftest import client, storage_section
from tests.support.hostile import client_error
from tests.support.policies import write
from tests.support.server import IDENTITIES, WRITER, ProvgateServer

REVIEWER = {"name": "rita", "access_key": "AKIATESTREVIEWER", "secret": "test-reviewer-secret",
            "role": "reviewer"}
QUARANTINE = "provgate-quarantine"
HIDDEN = (404, "NoSuchBucket")

HOLD_EVERYTHING = '''
[[rule]]
id = "hold-inbox"
stage = "intake"
match = 'object.bucket == "inbox"'
validate = 'false'
message = "every inbox write waits for review"
action = "quarantine"
'''


@pytest.fixture(scope="module")
def server(backend_kind, tmp_path_factory, request):
    workdir = tmp_path_factory.mktemp(f"quarantine-{backend_kind}")
    instance = ProvgateServer(workdir, storage_section(backend_kind, workdir, request),
                              identities=[*IDENTITIES, REVIEWER])
    write(instance.policy_dir, "hold.toml", HOLD_EVERYTHING)
    instance.start()
    admin = client(instance.endpoint)
    admin.create_bucket(Bucket="inbox")
    admin.create_bucket(Bucket="open")
    yield instance
    instance.stop()


@pytest.fixture(scope="module")
def held(server):
    """A quarantined write: its location in the quarantine bucket, and its bytes."""
    name = f"held-{uuid.uuid4().hex[:8]}.txt"
    data = b"quarantined secret bytes"
    reply = client(server.endpoint, WRITER).put_object(Bucket="inbox", Key=name, Body=data)
    assert "x-provgate-quarantine" in reply["ResponseMetadata"]["HTTPHeaders"]
    location = f"inbox/{name}"
    assert client(server.endpoint, REVIEWER).get_object(
        Bucket=QUARANTINE, Key=location)["Body"].read() == data
    return location, data


@pytest.fixture
def writer(server):
    return client(server.endpoint, WRITER)


def _absent(server, key: str) -> None:
    admin = client(server.endpoint)
    assert client_error(lambda: admin.head_object(Bucket="open", Key=key))[0] == 404
    versions = admin.list_object_versions(Bucket="open", Prefix=key)
    assert not versions.get("Versions") and not versions.get("DeleteMarkers")


@pytest.mark.parametrize("directive", ["COPY", "REPLACE"])
def test_copy_object_out_of_quarantine_is_hidden(server, held, writer, directive):
    location, _ = held
    destination = f"out-{uuid.uuid4().hex[:8]}"
    extra = {"Metadata": {"creator": "me"}} if directive == "REPLACE" else {}
    assert client_error(lambda: writer.copy_object(
        Bucket="open", Key=destination, CopySource={"Bucket": QUARANTINE, "Key": location},
        MetadataDirective=directive, **extra)) == HIDDEN
    # Its record is no way out either.
    assert client_error(lambda: writer.copy_object(
        Bucket="open", Key=destination,
        CopySource={"Bucket": QUARANTINE, "Key": location + ".xmp"})) == HIDDEN
    _absent(server, destination)


def test_upload_part_copy_out_of_quarantine_is_hidden(server, held, writer):
    location, _ = held
    destination = f"out-{uuid.uuid4().hex[:8]}"
    upload = writer.create_multipart_upload(Bucket="open", Key=destination)["UploadId"]
    assert client_error(lambda: writer.upload_part_copy(
        Bucket="open", Key=destination, UploadId=upload, PartNumber=1,
        CopySource={"Bucket": QUARANTINE, "Key": location})) == HIDDEN
    assert client_error(lambda: writer.upload_part_copy(
        Bucket="open", Key=destination, UploadId=upload, PartNumber=1,
        CopySourceRange="bytes=0-3", CopySource={"Bucket": QUARANTINE, "Key": location})) == HIDDEN
    parts = writer.list_parts(Bucket="open", Key=destination, UploadId=upload).get("Parts", [])
    assert parts == []
    status, _ = client_error(lambda: writer.complete_multipart_upload(
        Bucket="open", Key=destination, UploadId=upload,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": '"0" * 32'}]}))
    assert status == 400
    writer.abort_multipart_upload(Bucket="open", Key=destination, UploadId=upload)
    _absent(server, destination)


@pytest.mark.parametrize("condition", [
    {"CopySourceIfMatch": '"00000000000000000000000000000000"'},
    {"CopySourceIfNoneMatch": "*"},
    {"CopySourceIfModifiedSince": "2000-01-01T00:00:00Z"},
    {"CopySourceIfUnmodifiedSince": "2000-01-01T00:00:00Z"},
])
def test_copy_source_conditions_are_no_existence_oracle(server, held, writer, condition):
    location, _ = held
    answers = []
    for probe in (location, f"inbox/never-{uuid.uuid4().hex[:8]}"):
        destination = f"out-{uuid.uuid4().hex[:8]}"
        answers.append(client_error(lambda: writer.copy_object(
            Bucket="open", Key=destination, CopySource={"Bucket": QUARANTINE, "Key": probe},
            **condition)))
        _absent(server, destination)
    assert answers == [HIDDEN, HIDDEN]


def test_direct_reads_stay_hidden_and_reviewer_keeps_access(server, held, writer):
    location, data = held
    reader_calls = [
        lambda: writer.get_object(Bucket=QUARANTINE, Key=location),
        lambda: writer.head_object(Bucket=QUARANTINE, Key=location),
        lambda: writer.list_objects_v2(Bucket=QUARANTINE),
        lambda: writer.list_object_versions(Bucket=QUARANTINE),
        lambda: writer.get_object_tagging(Bucket=QUARANTINE, Key=location),
    ]
    for call in reader_calls:
        status, code = client_error(call)
        assert status == 404 and code in ("NoSuchBucket", "404"), (status, code)
    assert QUARANTINE not in [b["Name"] for b in writer.list_buckets()["Buckets"]]
    # A reviewer may read it, and copy it for inspection.
    reviewer = client(server.endpoint, REVIEWER)
    inspected = f"inspect-{uuid.uuid4().hex[:8]}"
    reviewer.copy_object(Bucket="open", Key=inspected,
                         CopySource={"Bucket": QUARANTINE, "Key": location})
    assert reviewer.get_object(Bucket="open", Key=inspected)["Body"].read() == data
