"""Versions through the S3 API (boto3, raw requests, the aws CLI), on both backends.

Buckets here are versioned (the shared servers' default; the other versioning states are
in test_s3_versioning_states.py). Each object version's XMP record lives in the bucket's record
store, not among its objects: listings and version listings hold exactly what the tests
wrote, nothing more.
"""

from __future__ import annotations

import random
from urllib.parse import quote
from xml.etree import ElementTree

import pytest
from botocore.exceptions import ClientError

from tests.support.functional import S3_NS, error_code, http_status, payload, signed_request
from tests.test_awscli import AWS, AwsCli

MiB = 1024 * 1024


def version_entries(listing: dict) -> list[tuple[str, str, bool, bool]]:
    """(key, version id, is latest, is delete marker) of a boto3 listing, which splits
    Versions from DeleteMarkers (so only their set is comparable; see
    ``raw_version_entries`` for the order)."""
    return ([(v["Key"], v["VersionId"], v["IsLatest"], False) for v in listing.get("Versions", [])]
            + [(d["Key"], d["VersionId"], d["IsLatest"], True)
               for d in listing.get("DeleteMarkers", [])])


def raw_version_entries(s3_endpoint: str, bucket: str, query: str = "") -> tuple[list, ElementTree.Element]:
    """The entries of a ListObjectVersions document in document order (boto3 cannot
    show how Version and DeleteMarker elements interleave)."""
    reply = signed_request(s3_endpoint, "GET", f"/{bucket}?versions{query}")
    assert reply.status == 200, reply.body
    root = reply.xml()
    entries = [(e.findtext(f"{S3_NS}Key"), e.findtext(f"{S3_NS}VersionId"),
                e.findtext(f"{S3_NS}IsLatest") == "true", e.tag == f"{S3_NS}DeleteMarker")
               for e in root if e.tag in (f"{S3_NS}Version", f"{S3_NS}DeleteMarker")]
    return entries, root


def expected_entries(history: dict[str, list[tuple[str, bool]]]) -> list[tuple]:
    """S3's order from each key's (version id, is delete marker) in write order: keys
    in UTF-8 byte order, each key's versions newest first, the newest one latest."""
    entries = []
    for key in sorted(history, key=lambda k: k.encode()):
        for n, (vid, marker) in enumerate(reversed(history[key])):
            entries.append((key, vid, n == 0, marker))
    return entries


def headers_of(exc_or_response) -> dict:
    meta = exc_or_response.response if isinstance(exc_or_response, ClientError) else exc_or_response
    return meta["ResponseMetadata"]["HTTPHeaders"]


# -- reading old versions -------------------------------------------------------------------
def test_overwrite_keeps_old_bytes_and_metadata(s3, bucket):
    first = s3.put_object(Bucket=bucket, Key="cat.png", Body=b"first", ContentType="image/png",
                          Metadata={"prompt": "a cat"}, Tagging="review=pending")
    second = s3.put_object(Bucket=bucket, Key="cat.png", Body=b"second", ContentType="text/plain",
                           Metadata={"prompt": "a dog"})
    assert first["VersionId"] and second["VersionId"] and first["VersionId"] != second["VersionId"]
    old = s3.get_object(Bucket=bucket, Key="cat.png", VersionId=first["VersionId"])
    assert old["Body"].read() == b"first" and old["VersionId"] == first["VersionId"]
    assert (old["ContentType"], old["Metadata"], old["ETag"]) == ("image/png", {"prompt": "a cat"},
                                                                  first["ETag"])
    assert old["TagCount"] == 1
    head = s3.head_object(Bucket=bucket, Key="cat.png", VersionId=first["VersionId"])
    assert (head["ContentLength"], head["VersionId"]) == (5, first["VersionId"])
    current = s3.get_object(Bucket=bucket, Key="cat.png")
    assert (current["Body"].read(), current["VersionId"]) == (b"second", second["VersionId"])
    ranged = s3.get_object(Bucket=bucket, Key="cat.png", VersionId=first["VersionId"], Range="bytes=1-3")
    assert ranged["Body"].read() == b"irs"
    listed = version_entries(s3.list_object_versions(Bucket=bucket))
    assert sorted(listed) == sorted([("cat.png", second["VersionId"], True, False),
                                     ("cat.png", first["VersionId"], False, False)])


def test_unknown_and_malformed_version_ids(s3, bucket):
    real = s3.put_object(Bucket=bucket, Key="k", Body=b"x")["VersionId"]
    unknown = real[:-1] + ("0" if real[-1] != "0" else "1")
    for call in (lambda: s3.get_object(Bucket=bucket, Key="k", VersionId=unknown),
                 lambda: s3.get_object_tagging(Bucket=bucket, Key="k", VersionId=unknown),
                 lambda: s3.copy_object(Bucket=bucket, Key="c", CopySource={
                     "Bucket": bucket, "Key": "k", "VersionId": unknown})):
        with pytest.raises(ClientError) as exc:
            call()
        assert (error_code(exc.value), http_status(exc.value)) == ("NoSuchVersion", 404)
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=bucket, Key="k", VersionId=unknown)
    assert http_status(exc.value) == 404
    for bad in ("../etc", "not a version", "x" * 1100):
        for call in (lambda: s3.get_object(Bucket=bucket, Key="k", VersionId=bad),
                     lambda: s3.delete_object(Bucket=bucket, Key="k", VersionId=bad)):
            with pytest.raises(ClientError) as exc:
                call()
            assert (error_code(exc.value), http_status(exc.value)) == ("InvalidArgument", 400)
    reply = signed_request(s3.meta.endpoint_url, "GET", f"/{bucket}/k?versionId=")
    assert (reply.status, reply.error_code) == (400, "InvalidArgument")
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"x"


# -- delete markers -------------------------------------------------------------------------
def test_delete_marker_hides_the_key_until_it_is_removed(s3, bucket):
    kept = s3.put_object(Bucket=bucket, Key="art.png", Body=b"art")["VersionId"]
    s3.put_object(Bucket=bucket, Key="other", Body=b"o")
    deleted = s3.delete_object(Bucket=bucket, Key="art.png")
    assert deleted["DeleteMarker"] is True and deleted["VersionId"] not in (None, kept)
    marker = deleted["VersionId"]
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert "art.png" not in keys and "other" in keys
    for call in (lambda: s3.get_object(Bucket=bucket, Key="art.png"),
                 lambda: s3.head_object(Bucket=bucket, Key="art.png")):
        with pytest.raises(ClientError) as exc:
            call()
        assert http_status(exc.value) == 404
        assert headers_of(exc.value)["x-amz-delete-marker"] == "true"
        assert headers_of(exc.value)["x-amz-version-id"] == marker
    for call in (lambda: s3.get_object(Bucket=bucket, Key="art.png", VersionId=marker),
                 lambda: s3.head_object(Bucket=bucket, Key="art.png", VersionId=marker)):
        with pytest.raises(ClientError) as exc:
            call()
        assert http_status(exc.value) == 405
        assert headers_of(exc.value)["x-amz-delete-marker"] == "true"
    with pytest.raises(ClientError) as exc:
        s3.copy_object(Bucket=bucket, Key="c", CopySource={"Bucket": bucket, "Key": "art.png",
                                                           "VersionId": marker})
    assert error_code(exc.value) == "InvalidRequest"
    listed = [e for e in version_entries(s3.list_object_versions(Bucket=bucket, Prefix="art.png"))
              if e[0] == "art.png"]
    assert sorted(listed) == sorted([("art.png", marker, True, True), ("art.png", kept, False, False)])
    assert s3.get_object(Bucket=bucket, Key="art.png", VersionId=kept)["Body"].read() == b"art"
    # Deleting the marker itself (by version) restores the object.
    undone = s3.delete_object(Bucket=bucket, Key="art.png", VersionId=marker)
    assert (undone["VersionId"], undone["DeleteMarker"]) == (marker, True)
    restored = s3.get_object(Bucket=bucket, Key="art.png")
    assert (restored["Body"].read(), restored["VersionId"]) == (b"art", kept)


def test_delete_by_version_is_for_good(s3, bucket):
    versions = [s3.put_object(Bucket=bucket, Key="k", Body=b"%d" % n)["VersionId"] for n in range(3)]
    gone = s3.delete_object(Bucket=bucket, Key="k", VersionId=versions[2])
    assert gone["VersionId"] == versions[2] and "DeleteMarker" not in gone
    current = s3.head_object(Bucket=bucket, Key="k")
    assert current["VersionId"] == versions[1]  # the previous version is current again
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="k", VersionId=versions[2])
    assert error_code(exc.value) == "NoSuchVersion"
    assert s3.delete_object(Bucket=bucket, Key="k", VersionId=versions[2])["VersionId"] == versions[2]
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"1"


def test_delete_objects_with_versions(s3, bucket):
    a1 = s3.put_object(Bucket=bucket, Key="a", Body=b"1")["VersionId"]
    a2 = s3.put_object(Bucket=bucket, Key="a", Body=b"2")["VersionId"]
    s3.put_object(Bucket=bucket, Key="b", Body=b"b")
    marker = s3.delete_object(Bucket=bucket, Key="c")["VersionId"]  # a marker for a key never written
    result = s3.delete_objects(Bucket=bucket, Delete={"Objects": [
        {"Key": "a", "VersionId": a1}, {"Key": "b"}, {"Key": "c", "VersionId": marker},
        {"Key": "a", "VersionId": "../bad"}]})
    deleted = {d["Key"]: d for d in result["Deleted"]}
    assert deleted["a"]["VersionId"] == a1 and "DeleteMarker" not in deleted["a"]
    assert deleted["b"]["DeleteMarker"] is True and deleted["b"]["DeleteMarkerVersionId"]
    assert (deleted["c"]["VersionId"], deleted["c"]["DeleteMarker"],
            deleted["c"]["DeleteMarkerVersionId"]) == (marker, True, marker)
    assert [(e["Key"], e["Code"]) for e in result["Errors"]] == [("a", "InvalidArgument")]
    listed = version_entries(s3.list_object_versions(Bucket=bucket))
    assert sorted(listed) == sorted([("a", a2, True, False),
                                     ("b", deleted["b"]["DeleteMarkerVersionId"], True, True),
                                     ("b", listed_version(listed, "b"), False, False)])
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])] == ["a"]


def test_delete_objects_takes_one_keys_entries_in_order(s3, bucket):
    """Keys of one request are deleted side by side, but the entries of one key in the
    order given: each of three plain deletes adds a marker, the last one current, and
    the version named after them is gone."""
    version = s3.put_object(Bucket=bucket, Key="k", Body=b"k")["VersionId"]
    others = [{"Key": f"other-{n}"} for n in range(40)]
    result = s3.delete_objects(Bucket=bucket, Delete={"Objects": [
        {"Key": "k"}, *others[:20], {"Key": "k"}, *others[20:], {"Key": "k"},
        {"Key": "k", "VersionId": version}]})
    assert [d["Key"] for d in result["Deleted"]] == \
        ["k", *[o["Key"] for o in others[:20]], "k", *[o["Key"] for o in others[20:]], "k", "k"]
    markers = [d["DeleteMarkerVersionId"] for d in result["Deleted"] if d["Key"] == "k"
               and "VersionId" not in d]
    listed = [e for e in version_entries(s3.list_object_versions(Bucket=bucket, Prefix="k"))
              if e[0] == "k"]
    assert sorted(listed) == sorted([("k", markers[2], True, True), ("k", markers[1], False, True),
                                     ("k", markers[0], False, True)])


def listed_version(entries, key):
    return next(e[1] for e in entries if e[0] == key and not e[3])


# -- copies and tags of versions ----------------------------------------------------------------
def test_copy_from_an_old_version(s3, bucket):
    old = s3.put_object(Bucket=bucket, Key="src", Body=b"old bytes", Metadata={"m": "old"})["VersionId"]
    s3.put_object(Bucket=bucket, Key="src", Body=b"new bytes")
    copied = s3.copy_object(Bucket=bucket, Key="dst",
                            CopySource={"Bucket": bucket, "Key": "src", "VersionId": old})
    assert copied["CopySourceVersionId"] == old and copied["VersionId"] not in (None, old)
    got = s3.get_object(Bucket=bucket, Key="dst")
    assert (got["Body"].read(), got["Metadata"], got["VersionId"]) == (b"old bytes", {"m": "old"},
                                                                      copied["VersionId"])
    latest = s3.copy_object(Bucket=bucket, Key="dst2", CopySource={"Bucket": bucket, "Key": "src"})
    assert latest["CopySourceVersionId"] == s3.head_object(Bucket=bucket, Key="src")["VersionId"]


def test_upload_part_copy_from_an_old_version(s3, bucket):
    first = payload(5 * MiB, seed=3)
    old = s3.put_object(Bucket=bucket, Key="src", Body=first)["VersionId"]
    s3.put_object(Bucket=bucket, Key="src", Body=b"replaced")
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    part = s3.upload_part_copy(Bucket=bucket, Key="mp", UploadId=upload_id, PartNumber=1,
                               CopySource={"Bucket": bucket, "Key": "src", "VersionId": old})
    assert part["CopySourceVersionId"] == old
    tail = s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload_id, PartNumber=2, Body=b"tail")
    done = s3.complete_multipart_upload(
        Bucket=bucket, Key="mp", UploadId=upload_id, MultipartUpload={"Parts": [
            {"PartNumber": 1, "ETag": part["CopyPartResult"]["ETag"]},
            {"PartNumber": 2, "ETag": tail["ETag"]}]})
    assert done["VersionId"]
    got = s3.get_object(Bucket=bucket, Key="mp")
    assert got["VersionId"] == done["VersionId"] and got["Body"].read() == first + b"tail"


def test_tagging_a_specific_version(s3, bucket):
    old = s3.put_object(Bucket=bucket, Key="k", Body=b"1", Tagging="review=pending")["VersionId"]
    new = s3.put_object(Bucket=bucket, Key="k", Body=b"2", Tagging="review=pending")["VersionId"]
    put = s3.put_object_tagging(Bucket=bucket, Key="k", VersionId=old,
                                Tagging={"TagSet": [{"Key": "review", "Value": "approved"}]})
    assert put["VersionId"] == old
    tags = s3.get_object_tagging(Bucket=bucket, Key="k", VersionId=old)
    assert (tags["VersionId"], tags["TagSet"]) == (old, [{"Key": "review", "Value": "approved"}])
    current = s3.get_object_tagging(Bucket=bucket, Key="k")
    assert (current["VersionId"], current["TagSet"]) == (new, [{"Key": "review", "Value": "pending"}])
    assert s3.delete_object_tagging(Bucket=bucket, Key="k", VersionId=old)["VersionId"] == old
    assert s3.get_object_tagging(Bucket=bucket, Key="k", VersionId=old)["TagSet"] == []
    assert s3.get_object_tagging(Bucket=bucket, Key="k")["TagSet"] == [
        {"Key": "review", "Value": "pending"}]


# -- listing versions -----------------------------------------------------------------------------
KEYS = ["a", "a b", "a.png", "a/b", "a/b/c", "a0", "b", "é", "日本/x", "🎉", "z" * 300]


@pytest.fixture
def history(s3, bucket) -> dict[str, list[tuple[str, bool]]]:
    """Each key written 1-3 times, some deleted in between (seeded); the history of
    each key in write order, as (version id, is delete marker)."""
    rng = random.Random(7)
    found: dict[str, list[tuple[str, bool]]] = {}
    for round_ in range(3):
        for key in KEYS:
            if round_ and rng.random() < 0.35:
                continue
            if round_ and rng.random() < 0.3:
                found.setdefault(key, []).append((s3.delete_object(Bucket=bucket, Key=key)["VersionId"], True))
            else:
                found.setdefault(key, []).append(
                    (s3.put_object(Bucket=bucket, Key=key, Body=f"{key} {round_}".encode())["VersionId"], False))
    return found


def test_list_object_versions_order_and_interleaving(s3, bucket, history):
    expected = expected_entries(history)
    assert any(e[3] for e in expected) and any(not e[2] for e in expected)
    entries, root = raw_version_entries(s3.meta.endpoint_url, bucket)
    assert entries == expected
    assert root.findtext(f"{S3_NS}IsTruncated") == "false"
    live = [k for k in sorted(history, key=lambda k: k.encode()) if not history[k][-1][1]]
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert [(k,) for k in listed] == [(k,) for k in live]


@pytest.mark.parametrize("max_keys", [1, 2, 7])
def test_list_object_versions_pages(s3, bucket, history, max_keys):
    expected = expected_entries(history)
    entries, pages, query = [], 0, ""
    while True:
        batch, root = raw_version_entries(s3.meta.endpoint_url, bucket, f"&max-keys={max_keys}{query}")
        pages += 1
        assert len(batch) + len(root.findall(f"{S3_NS}CommonPrefixes")) <= max_keys
        entries += batch
        if root.findtext(f"{S3_NS}IsTruncated") != "true":
            break
        query = "&key-marker=" + quote(root.findtext(f"{S3_NS}NextKeyMarker"), safe="")
        if root.findtext(f"{S3_NS}NextVersionIdMarker"):
            query += "&version-id-marker=" + quote(root.findtext(f"{S3_NS}NextVersionIdMarker"), safe="")
    assert entries == expected
    assert pages == -(-len(entries) // max_keys)
    paginated = [e for p in s3.get_paginator("list_object_versions").paginate(
        Bucket=bucket, PaginationConfig={"PageSize": max_keys}) for e in version_entries(p)]
    assert sorted(paginated) == sorted(expected)


def test_list_object_versions_prefix_delimiter_and_encoding(s3, bucket, history):
    expected = expected_entries(history)
    page = s3.list_object_versions(Bucket=bucket, Delimiter="/")
    assert [p["Prefix"] for p in page["CommonPrefixes"]] == ["a/", "日本/"]
    assert sorted(version_entries(page)) == sorted(e for e in expected if "/" not in e[0])
    page = s3.list_object_versions(Bucket=bucket, Prefix="a/", Delimiter="/")
    assert [p["Prefix"] for p in page["CommonPrefixes"]] == ["a/b/"]
    assert sorted(version_entries(page)) == sorted(e for e in expected if e[0] == "a/b")
    entries, root = raw_version_entries(s3.meta.endpoint_url, bucket,
                                        "&encoding-type=url&prefix=" + quote("日本/", safe=""))
    assert root.findtext(f"{S3_NS}EncodingType") == "url"
    assert [e[0] for e in entries] == \
        [quote(e[0], safe="/") for e in expected if e[0].startswith("日本/")]
    # Resuming after one version of a key.
    at = next(n for n, e in enumerate(expected) if not e[2])
    page = s3.list_object_versions(Bucket=bucket, KeyMarker=expected[at][0],
                                   VersionIdMarker=expected[at][1])
    assert sorted(version_entries(page)) == sorted(expected[at + 1:])


def test_version_id_marker_needs_a_key_marker(s3, bucket):
    reply = signed_request(s3.meta.endpoint_url, "GET", f"/{bucket}?versions&version-id-marker=null")
    assert (reply.status, reply.error_code) == (400, "InvalidArgument")


# -- bucket versioning configuration and deletion ----------------------------------------------
def test_bucket_with_only_old_versions_can_be_deleted(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"1")
    s3.put_object(Bucket=bucket, Key="k", Body=b"2")
    with pytest.raises(ClientError) as exc:
        s3.delete_bucket(Bucket=bucket)
    assert error_code(exc.value) == "BucketNotEmpty"
    for obj in s3.list_objects_v2(Bucket=bucket)["Contents"]:
        s3.delete_object(Bucket=bucket, Key=obj["Key"])
    s3.delete_bucket(Bucket=bucket)
    assert bucket not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


@pytest.mark.skipif(AWS is None, reason="the aws CLI is not installed")
def test_aws_cli_rm_recursive_then_rb(gateway, s3, bucket, tmp_path):
    for n in range(3):
        s3.put_object(Bucket=bucket, Key=f"renders/{n}.png", Body=b"v1")
        s3.put_object(Bucket=bucket, Key=f"renders/{n}.png", Body=b"v2")
    aws = AwsCli(gateway.endpoint)
    aws.run("s3", "rm", f"s3://{bucket}", "--recursive")
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount") == 0
    assert s3.list_object_versions(Bucket=bucket).get("Versions")  # history is still there
    aws.run("s3", "rb", f"s3://{bucket}")
    assert bucket not in [b["Name"] for b in s3.list_buckets()["Buckets"]]
