"""S3's three versioning states (unversioned, Enabled, Suspended) with ``null`` versions,
on both backends, through boto3 and the aws CLI; the catalog (``provgate asset history``)
and the served records (``<key>.xmp?versionId=``) follow every state.

``[storage] versioning`` chooses what a new bucket starts as: "enabled" (the shared
servers), "off" (S3's default: unversioned) or "locked" (never suspended).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import uuid

import pytest
from botocore.exceptions import ClientError

from gateway.config import ConfigError, load
from tests.conftest import client, remove_bucket, storage_section
from tests.support.server import ROOT
from tests.support.functional import S3_NS, error_code, http_status, signed_request
from tests.test_awscli import AWS, AwsCli
from tests.test_intake_provenance import cli
from tests.test_s3_versions import headers_of, raw_version_entries


def new_name() -> str:
    return f"vs-{uuid.uuid4().hex[:16]}"


@pytest.fixture
def server_with(make_server, backend_kind, tmp_path, request):
    """A provgate server whose ``[storage] versioning`` is the given value."""
    def make(versioning: str):
        section = storage_section(backend_kind, tmp_path / f"data-{versioning}", request)
        return make_server(storage={**section, "versioning": versioning})
    return make


def listing(server, bucket: str, query: str = "") -> list[tuple]:
    """(key, version id, is latest, is delete marker) in document order."""
    return raw_version_entries(server.endpoint, bucket, query)[0]


def versioning_status(s3, bucket: str) -> str | None:
    return s3.get_bucket_versioning(Bucket=bucket).get("Status")


def catalogued(server, bucket: str, key: str) -> list[str]:
    """The version ids ``provgate asset history`` lists, newest first (as S3 lists)."""
    history = cli(server, "asset", "history", f"{bucket}/{key}")
    return [v["version_id"] for v in reversed(history["versions"])]


def assert_history_agrees(server, s3, bucket: str, key: str) -> list[str]:
    """The catalog lists exactly the object versions ListObjectVersions lists, in the
    same order, and each one's record is served at ``<key>.xmp?versionId=``, naming it;
    returns the record bodies, newest first."""
    objects = [vid for k, vid, _, marker in listing(server, bucket) if k == key and not marker]
    assert catalogued(server, bucket, key) == objects
    bodies = []
    for vid in objects:
        record = s3.get_object(Bucket=bucket, Key=f"{key}.xmp", VersionId=vid)
        # (a never-versioned bucket names no version, as S3)
        assert record.get("VersionId") == vid or (vid == "null" and "VersionId" not in record)
        body = record["Body"].read().decode()
        assert f"versionId={vid}" in body or f">{vid}<" in body or f'"{vid}"' in body, body
        bodies.append(body)
    return bodies


def instance_ids(record: str) -> list[str]:
    """The instance ids of a record's xmpMM:History events, oldest first."""
    return re.findall(r"stEvt:instanceID[=>\"]+(xmp\.iid:[^<\"]+)", record)


def read(s3, bucket: str, key: str, version_id: str | None = None) -> bytes:
    extra = {"VersionId": version_id} if version_id else {}
    return s3.get_object(Bucket=bucket, Key=key, **extra)["Body"].read()


# -- GetBucketVersioning / PutBucketVersioning ----------------------------------------------
def test_new_bucket_is_enabled_and_can_be_suspended_and_enabled_again(s3, bucket):
    assert versioning_status(s3, bucket) == "Enabled"
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
    assert versioning_status(s3, bucket) == "Suspended"
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    assert versioning_status(s3, bucket) == "Enabled"
    # MfaDelete Disabled alone (what setup tools send with it) changes nothing.
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"MFADelete": "Disabled"})
    assert versioning_status(s3, bucket) == "Enabled"


@pytest.mark.parametrize("body, code, status", [
    (b"<VersioningConfiguration/>", "IllegalVersioningConfigurationException", 400),
    (b'<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
     b"</VersioningConfiguration>", "IllegalVersioningConfigurationException", 400),
    (b"<VersioningConfiguration><Status>Paused</Status></VersioningConfiguration>",
     "MalformedXML", 400),
    (b"<VersioningConfiguration><Status></Status></VersioningConfiguration>",
     "MalformedXML", 400),
    (b"<VersioningConfiguration><Status>Enabled</Status><MfaDelete>Maybe</MfaDelete>"
     b"</VersioningConfiguration>", "MalformedXML", 400),
    (b"<VersioningConfiguration><Status>Enabled", "MalformedXML", 400),
    (b"not xml at all", "MalformedXML", 400),
    (b"<LifecycleConfiguration><Status>Enabled</Status></LifecycleConfiguration>",
     "MalformedXML", 400),
    (b"<VersioningConfiguration><Status>Enabled</Status><MfaDelete>Enabled</MfaDelete>"
     b"</VersioningConfiguration>", "NotImplemented", 501),
])
def test_put_bucket_versioning_refusals(gateway, s3, bucket, body, code, status):
    reply = signed_request(gateway.endpoint, "PUT", f"/{bucket}?versioning", body=body)
    assert reply.status == status, reply.body
    assert reply.xml().findtext("Code") == code
    assert versioning_status(s3, bucket) == "Enabled"     # nothing changed


def test_boto3_empty_configuration_and_unknown_status(s3, bucket):
    with pytest.raises(ClientError) as exc:
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={})
    assert (error_code(exc.value), http_status(exc.value)) == (
        "IllegalVersioningConfigurationException", 400)
    with pytest.raises(ClientError) as exc:
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Off"})
    assert (error_code(exc.value), http_status(exc.value)) == ("MalformedXML", 400)
    assert versioning_status(s3, bucket) == "Enabled"


def test_versioning_of_a_missing_bucket(s3):
    missing = new_name()
    for call in (lambda: s3.get_bucket_versioning(Bucket=missing),
                 lambda: s3.put_bucket_versioning(
                     Bucket=missing, VersioningConfiguration={"Status": "Suspended"})):
        with pytest.raises(ClientError) as exc:
            call()
        assert (error_code(exc.value), http_status(exc.value)) == ("NoSuchBucket", 404)


def test_locked_gateway_refuses_to_suspend(server_with):
    server = server_with("locked")
    s3 = client(server.endpoint)
    name = new_name()
    s3.create_bucket(Bucket=name)
    assert versioning_status(s3, name) == "Enabled"
    with pytest.raises(ClientError) as exc:
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Suspended"})
    assert (error_code(exc.value), http_status(exc.value)) == ("InvalidBucketState", 409)
    assert "locked" in exc.value.response["Error"]["Message"]
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    assert versioning_status(s3, name) == "Enabled"
    # Writes still keep every version.
    first = s3.put_object(Bucket=name, Key="k", Body=b"1")["VersionId"]
    second = s3.put_object(Bucket=name, Key="k", Body=b"2")["VersionId"]
    assert [e[1] for e in listing(server, name)] == [second, first]
    remove_bucket(s3, name)


@pytest.mark.parametrize("value", ["on", "Enabled", "", "suspended"])
def test_config_refuses_unknown_versioning(tmp_path, value):
    path = tmp_path / "provgate.toml"
    path.write_text(f'[storage]\nkind = "fs"\npath = "{tmp_path}"\nversioning = "{value}"\n')
    with pytest.raises(ConfigError, match="storage.versioning"):
        load(path)


# -- an unversioned bucket ------------------------------------------------------------------
def test_unversioned_bucket_replaces_and_deletes_like_s3(server_with):
    server = server_with("off")
    s3 = client(server.endpoint)
    name = new_name()
    s3.create_bucket(Bucket=name)
    try:
        raw = signed_request(server.endpoint, "GET", f"/{name}?versioning")
        assert raw.status == 200
        assert raw.xml().tag == f"{S3_NS}VersioningConfiguration" and len(raw.xml()) == 0
        assert versioning_status(s3, name) is None
        put = s3.put_object(Bucket=name, Key="k", Body=b"one")
        assert "VersionId" not in put
        s3.put_object(Bucket=name, Key="k", Body=b"two")
        assert listing(server, name) == [("k", "null", True, False)]
        assert read(s3, name, "k") == b"two" and read(s3, name, "k", "null") == b"two"
        head = s3.head_object(Bucket=name, Key="k", VersionId="null")
        assert head["ContentLength"] == 3
        # S3 names no version on reads from a bucket never versioned.
        assert "VersionId" not in head
        assert "VersionId" not in s3.get_object(Bucket=name, Key="k")
        assert_history_agrees(server, s3, name, "k")

        gone = s3.delete_object(Bucket=name, Key="k")
        assert "DeleteMarker" not in gone and "VersionId" not in gone
        assert listing(server, name) == []
        with pytest.raises(ClientError) as exc:
            s3.head_object(Bucket=name, Key="k")
        assert http_status(exc.value) == 404
        assert "x-amz-delete-marker" not in headers_of(exc.value)
        with pytest.raises(ClientError) as exc:
            s3.get_object(Bucket=name, Key="k", VersionId="null")
        assert (error_code(exc.value), http_status(exc.value)) == ("NoSuchVersion", 404)

        # DeleteObjects too removes without markers, and the bucket can go at once.
        for key in ("a", "b"):
            s3.put_object(Bucket=name, Key=key, Body=key.encode())
        result = s3.delete_objects(Bucket=name, Delete={"Objects": [{"Key": "a"}, {"Key": "b"}]})
        assert sorted(d["Key"] for d in result["Deleted"]) == ["a", "b"]
        assert not any(d.get("DeleteMarker") for d in result["Deleted"])
        assert listing(server, name) == []
        s3.delete_bucket(Bucket=name)
    finally:
        remove_bucket(s3, name)


# -- the whole life of a key through every state ---------------------------------------------
def test_states_scenario_with_catalog_and_records(server_with):
    server = server_with("off")
    s3 = client(server.endpoint)
    name = new_name()
    s3.create_bucket(Bucket=name)
    try:
        _scenario(server, s3, name)
    finally:
        remove_bucket(s3, name)


def _scenario(server, s3, name: str) -> None:
    # Unversioned: the null version is replaced.
    s3.put_object(Bucket=name, Key="k", Body=b"n1")
    s3.put_object(Bucket=name, Key="k", Body=b"n2")
    assert listing(server, name) == [("k", "null", True, False)]
    assert_history_agrees(server, s3, name, "k")

    # Enabled: new versions above the null one, which stays.
    if AWS is not None:
        AwsCli(server.endpoint).run("s3api", "put-bucket-versioning", "--bucket", name,
                                    "--versioning-configuration", "Status=Enabled")
    else:
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    assert versioning_status(s3, name) == "Enabled"
    v1 = s3.put_object(Bucket=name, Key="k", Body=b"v1")["VersionId"]
    v2 = s3.put_object(Bucket=name, Key="k", Body=b"v2")["VersionId"]
    assert "null" not in (v1, v2)
    assert listing(server, name) == [("k", v2, True, False), ("k", v1, False, False),
                                     ("k", "null", False, False)]
    assert read(s3, name, "k", "null") == b"n2"
    assert_history_agrees(server, s3, name, "k")

    # Suspended: a write replaces the null version and is the newest, above v2.
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Suspended"})
    assert versioning_status(s3, name) == "Suspended"
    put = s3.put_object(Bucket=name, Key="k", Body=b"s1")
    assert "VersionId" not in put          # as S3: a null version's write names none
    assert listing(server, name) == [("k", "null", True, False), ("k", v2, False, False),
                                     ("k", v1, False, False)]
    assert read(s3, name, "k") == b"s1" and read(s3, name, "k", "null") == b"s1"
    assert s3.head_object(Bucket=name, Key="k")["VersionId"] == "null"   # now it does
    s3.put_object(Bucket=name, Key="k", Body=b"s2", Metadata={"take": "2"})
    assert listing(server, name) == [("k", "null", True, False), ("k", v2, False, False),
                                     ("k", v1, False, False)]
    head = s3.head_object(Bucket=name, Key="k", VersionId="null")
    assert head["Metadata"] == {"take": "2"} and head["VersionId"] == "null"
    bodies = assert_history_agrees(server, s3, name, "k")
    # The current record's history holds every write (n1, n2, v1, v2, s1, s2), replaced
    # null versions included, each with an instance id of its own.
    assert len(set(instance_ids(bodies[0]))) == 6

    # A delete in a suspended bucket: a null delete marker replaces the null version.
    gone = s3.delete_object(Bucket=name, Key="k")
    assert (gone["DeleteMarker"], gone["VersionId"]) == (True, "null")
    assert listing(server, name) == [("k", "null", True, True), ("k", v2, False, False),
                                     ("k", v1, False, False)]
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=name, Key="k")
    assert (error_code(exc.value), http_status(exc.value)) == ("NoSuchKey", 404)
    assert headers_of(exc.value).get("x-amz-delete-marker") == "true"
    assert headers_of(exc.value).get("x-amz-version-id") == "null"
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=name, Key="k", VersionId="null")
    assert http_status(exc.value) == 405
    assert read(s3, name, "k", v2) == b"v2"
    assert_history_agrees(server, s3, name, "k")

    # Enabled again: versions stack above the null delete marker; removing the marker
    # by its id (null) leaves the versions.
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    v3 = s3.put_object(Bucket=name, Key="k", Body=b"v3")["VersionId"]
    assert listing(server, name) == [("k", v3, True, False), ("k", "null", False, True),
                                     ("k", v2, False, False), ("k", v1, False, False)]
    if AWS is not None:
        cli_listing = AwsCli(server.endpoint).json("s3api", "list-object-versions",
                                                   "--bucket", name)
        assert [v["VersionId"] for v in cli_listing["Versions"]] == [v3, v2, v1]
        assert [(d["VersionId"], d["IsLatest"]) for d in cli_listing["DeleteMarkers"]] == [
            ("null", False)]
    removed = s3.delete_object(Bucket=name, Key="k", VersionId="null")
    assert (removed["DeleteMarker"], removed["VersionId"]) == (True, "null")
    assert listing(server, name) == [("k", v3, True, False), ("k", v2, False, False),
                                     ("k", v1, False, False)]
    bodies = assert_history_agrees(server, s3, name, "k")
    # v2's record still carries its history: n1 and n2 (null versions replaced long
    # ago), v1 and v2.
    assert len(set(instance_ids(bodies[1]))) == 4
    # A plain delete now adds a real (not null) delete marker.
    marker = s3.delete_object(Bucket=name, Key="k")
    assert marker["DeleteMarker"] and marker["VersionId"] not in (None, "null")


# -- ListObjectVersions paging with null versions --------------------------------------------
def test_version_listing_pages_through_null_versions(gateway, s3, bucket):
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
    for key in ("a", "b/1", "b/2", "c"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"null")
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    ids = {key: s3.put_object(Bucket=bucket, Key=key, Body=b"x")["VersionId"]
           for key in ("a", "c")}
    s3.delete_object(Bucket=bucket, Key="b/2")
    full = listing(gateway, bucket)
    assert [(k, v) for k, v, _, _ in full][:3] == [("a", ids["a"]), ("a", "null"),
                                                  ("b/1", "null")]
    assert [(k, v, latest) for k, v, latest, _ in full if k == "c"] == [
        ("c", ids["c"], True), ("c", "null", False)]
    for size in (1, 2, 3):
        seen, query = [], f"&max-keys={size}"
        for _ in range(20):
            entries, root = raw_version_entries(gateway.endpoint, bucket, query)
            seen += entries
            if root.findtext(f"{S3_NS}IsTruncated") != "true":
                break
            key_marker = root.findtext(f"{S3_NS}NextKeyMarker")
            version_marker = root.findtext(f"{S3_NS}NextVersionIdMarker")
            query = f"&max-keys={size}&key-marker={key_marker}&version-id-marker={version_marker}"
        assert seen == full, size
    # Resuming after a null version, by hand: the key's older versions follow.
    after, _ = raw_version_entries(gateway.endpoint, bucket,
                                   "&key-marker=a&version-id-marker=null")
    assert after == full[2:]
    # Prefix and delimiter roll the null versions' keys up like any other.
    page = s3.list_object_versions(Bucket=bucket, Delimiter="/")
    assert [p["Prefix"] for p in page["CommonPrefixes"]] == ["b/"]
    assert sorted((v["Key"], v["VersionId"]) for v in page["Versions"]) == sorted(
        [("a", ids["a"]), ("a", "null"), ("c", ids["c"]), ("c", "null")])
    page = s3.list_object_versions(Bucket=bucket, Prefix="b/")
    assert [(v["Key"], v["VersionId"]) for v in page["Versions"]] == [
        ("b/1", "null"), ("b/2", "null")]
    assert [(d["Key"], d["IsLatest"]) for d in page["DeleteMarkers"]] == [("b/2", True)]


def test_tags_and_copy_address_the_null_version(gateway, s3, bucket):
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
    s3.put_object(Bucket=bucket, Key="k", Body=b"null bytes")
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket=bucket, Key="k", Body=b"newer")
    s3.put_object_tagging(Bucket=bucket, Key="k", VersionId="null",
                          Tagging={"TagSet": [{"Key": "t", "Value": "1"}]})
    tags = s3.get_object_tagging(Bucket=bucket, Key="k", VersionId="null")
    assert (tags["VersionId"], tags["TagSet"]) == ("null", [{"Key": "t", "Value": "1"}])
    assert s3.get_object_tagging(Bucket=bucket, Key="k")["TagSet"] == []
    s3.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "k",
                                                          "VersionId": "null"})
    assert read(s3, bucket, "copy") == b"null bytes"


def test_reindex_finds_the_records_of_null_versions(server_with):
    server = server_with("off")
    s3 = client(server.endpoint)
    name = new_name()
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key="k", Body=b"n1")
    s3.put_object(Bucket=name, Key="k", Body=b"n2")
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    v1 = s3.put_object(Bucket=name, Key="k", Body=b"v1")["VersionId"]
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Suspended"})
    s3.put_object(Bucket=name, Key="only-null", Body=b"s1")
    before = [cli(server, "asset", "history", f"{name}/{key}") for key in ("k", "only-null")]
    assert [v["version_id"] for v in before[0]["versions"]] == ["null", v1]
    server.stop()
    shutil.rmtree(server.workdir / "catalog")
    out = subprocess.run([sys.executable, "-m", "gateway.cli", "reindex", "--json",
                          "--config", str(server.config_path)], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    assert summary["versions"] == 3, summary
    assert not summary["missing_records"] and not summary["mismatched_records"]
    after = [cli(server, "asset", "history", f"{name}/{key}") for key in ("k", "only-null")]
    for old, new in zip(before, after):
        assert [(v["version_id"], v["instance_id"], v["record"]["sha256"])
                for v in new["versions"]] == [
            (v["version_id"], v["instance_id"], v["record"]["sha256"]) for v in old["versions"]]


def test_multipart_upload_in_a_suspended_bucket_is_the_null_version(gateway, s3, bucket):
    first = s3.put_object(Bucket=bucket, Key="big", Body=b"versioned")["VersionId"]
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
    for body in (b"first multipart", b"second multipart"):
        upload = s3.create_multipart_upload(Bucket=bucket, Key="big")["UploadId"]
        part = s3.upload_part(Bucket=bucket, Key="big", UploadId=upload, PartNumber=1, Body=body)
        done = s3.complete_multipart_upload(
            Bucket=bucket, Key="big", UploadId=upload,
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})
        assert "VersionId" not in done
    assert listing(gateway, bucket) == [("big", "null", True, False), ("big", first, False, False)]
    assert read(s3, bucket, "big") == b"second multipart"
    # The current record is the null version's, and says so.
    record = s3.get_object(Bucket=bucket, Key="big.xmp")
    assert record["VersionId"] == "null"
    assert catalogued(gateway, bucket, "big") == ["null", first]
