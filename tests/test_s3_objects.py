"""Object operations as boto3 users see them: Put, Get, Head, Delete, DeleteObjects.

Every expected value (ETag, checksum, byte range) is computed here from the bytes sent.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime, parsedate_to_datetime

import pytest
from botocore.exceptions import ClientError

from tests.conftest import client
from tests.support.functional import (AWKWARD_KEYS, b64, crc32_b64, error_code, http_request,
                                      http_status, payload, quoted_md5, signed_request)



def assert_records_served(s3, bucket, keys):
    """Each key's XMP record is served at ``<key>.xmp`` (never listed: not an object)."""
    for key in keys:
        got = s3.get_object(Bucket=bucket, Key=key + ".xmp")
        assert got["ContentType"] == "application/rdf+xml", key
        assert b"<pg:VersionID>" in got["Body"].read(), key


def utf8_sorted(items):
    return sorted(items, key=lambda k: k.encode())


# -- PutObject / GetObject / HeadObject --------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 1000, 3 * 1024 * 1024 + 7])
def test_put_get_roundtrip_and_etag(s3, bucket, size):
    data = payload(size, seed=size)
    put = s3.put_object(Bucket=bucket, Key=f"obj-{size}", Body=data)
    assert put["ETag"] == quoted_md5(data)

    got = s3.get_object(Bucket=bucket, Key=f"obj-{size}")
    assert got["Body"].read() == data
    assert got["ETag"] == quoted_md5(data)
    assert got["ContentLength"] == size
    assert got["ContentType"] == "binary/octet-stream"

    head = s3.head_object(Bucket=bucket, Key=f"obj-{size}")
    assert head["ContentLength"] == size
    assert head["ETag"] == quoted_md5(data)
    assert head["AcceptRanges"] == "bytes"
    assert abs(head["LastModified"] - datetime.now(timezone.utc)) < timedelta(minutes=5)


def test_overwrite_replaces_bytes_and_attributes(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"first", Metadata={"old": "1"},
                  ContentType="text/plain")
    s3.put_object(Bucket=bucket, Key="k", Body=b"second")
    got = s3.get_object(Bucket=bucket, Key="k")
    assert got["Body"].read() == b"second"
    assert got["Metadata"] == {}
    assert got["ContentType"] == "binary/octet-stream"


def test_get_and_head_missing(s3, bucket):
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="nope")
    assert error_code(exc.value) == "NoSuchKey" and http_status(exc.value) == 404
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=bucket, Key="nope")
    assert http_status(exc.value) == 404
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket="no-such-bucket-here", Key="k")
    assert error_code(exc.value) == "NoSuchBucket"
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket="no-such-bucket-here", Key="k", Body=b"x")
    assert error_code(exc.value) == "NoSuchBucket"


def test_user_metadata_and_content_headers_roundtrip(s3, bucket):
    expires = datetime(2031, 5, 6, 7, 8, 9, tzinfo=timezone.utc)
    s3.put_object(
        Bucket=bucket, Key="meta", Body=b"<p>hi</p>",
        Metadata={"color": "blue", "empty": "", "Mixed-Case": "Value With Spaces", "n": "1,2"},
        ContentType="text/html; charset=utf-8", CacheControl="max-age=3600, public",
        ContentDisposition='attachment; filename="report final.html"', ContentEncoding="identity",
        ContentLanguage="en-GB", Expires=expires)
    for response in (s3.head_object(Bucket=bucket, Key="meta"),
                     s3.get_object(Bucket=bucket, Key="meta")):
        assert response["Metadata"] == {"color": "blue", "empty": "",
                                        "mixed-case": "Value With Spaces", "n": "1,2"}
        assert response["ContentType"] == "text/html; charset=utf-8"
        assert response["CacheControl"] == "max-age=3600, public"
        assert response["ContentDisposition"] == 'attachment; filename="report final.html"'
        assert response["ContentEncoding"] == "identity"
        assert response["ContentLanguage"] == "en-GB"
        raw = response["ResponseMetadata"]["HTTPHeaders"]
        assert parsedate_to_datetime(raw["expires"]) == expires
        assert "x-amz-meta-empty" in raw


def test_gzip_content_encoding_is_stored_not_applied(s3, bucket):
    import gzip
    data = gzip.compress(b"hello " * 1000)
    s3.put_object(Bucket=bucket, Key="z.gz", Body=data, ContentEncoding="gzip",
                  ContentType="text/plain")
    got = s3.get_object(Bucket=bucket, Key="z.gz")
    assert got["ContentEncoding"] == "gzip"
    assert got["Body"].read() == data


def test_unknown_amz_headers_are_tolerated(gateway, bucket):
    s3 = client(gateway.endpoint, fresh=True)

    def add_headers(request, **_):
        for name, value in {"x-amz-te": "append-md5", "x-amz-future-feature": "whatever",
                            "x-amz-checksum-mode": "ENABLED"}.items():
            if name not in request.headers:
                request.headers[name] = value

    s3.meta.events.register("before-sign.s3.*", add_headers)
    s3.put_object(Bucket=bucket, Key="k", Body=b"tolerant")
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"tolerant"
    s3.head_object(Bucket=bucket, Key="k")
    s3.list_objects_v2(Bucket=bucket)


# -- checksums ------------------------------------------------------------------------------


def test_default_crc32_is_stored_and_returned(s3, bucket):
    data = payload(200_000, seed=3)
    put = s3.put_object(Bucket=bucket, Key="c", Body=data)
    assert put["ChecksumCRC32"] == crc32_b64(data)
    for response in (s3.get_object(Bucket=bucket, Key="c", ChecksumMode="ENABLED"),
                     s3.head_object(Bucket=bucket, Key="c", ChecksumMode="ENABLED")):
        assert response["ChecksumCRC32"] == crc32_b64(data)
    got = s3.get_object(Bucket=bucket, Key="c", ChecksumMode="ENABLED")
    assert got["Body"].read() == data
    # Without the mode header, no checksum is volunteered.
    assert "ChecksumCRC32" not in s3.head_object(Bucket=bucket, Key="c")


@pytest.mark.parametrize("algorithm,digest", [
    ("SHA256", lambda d: b64(hashlib.sha256(d).digest())),
    ("SHA1", lambda d: b64(hashlib.sha1(d).digest())),
])
def test_explicit_checksum_algorithms(s3, bucket, algorithm, digest):
    data = payload(70_000, seed=4)
    s3.put_object(Bucket=bucket, Key="c", Body=data, ChecksumAlgorithm=algorithm)
    head = s3.head_object(Bucket=bucket, Key="c", ChecksumMode="ENABLED")
    assert head[f"Checksum{algorithm}"] == digest(data)


def test_content_md5_accepted(s3, bucket):
    data = b"md5 checked body"
    s3.put_object(Bucket=bucket, Key="m", Body=data,
                  ContentMD5=base64.b64encode(hashlib.md5(data).digest()).decode())
    assert s3.get_object(Bucket=bucket, Key="m")["Body"].read() == data


# -- conditional writes ---------------------------------------------------------------------


def test_put_if_none_match_star(s3, bucket):
    s3.put_object(Bucket=bucket, Key="once", Body=b"one", IfNoneMatch="*")
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=bucket, Key="once", Body=b"two", IfNoneMatch="*")
    assert error_code(exc.value) == "PreconditionFailed" and http_status(exc.value) == 412
    assert s3.get_object(Bucket=bucket, Key="once")["Body"].read() == b"one"


def test_put_if_match(s3, bucket):
    etag = s3.put_object(Bucket=bucket, Key="k", Body=b"v1")["ETag"]
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=bucket, Key="k", Body=b"bad", IfMatch=quoted_md5(b"other"))
    assert error_code(exc.value) == "PreconditionFailed" and http_status(exc.value) == 412
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"v1"
    put = s3.put_object(Bucket=bucket, Key="k", Body=b"v2", IfMatch=etag)
    assert put["ETag"] == quoted_md5(b"v2")
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"v2"
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=bucket, Key="absent", Body=b"x", IfMatch=etag)
    assert error_code(exc.value) == "NoSuchKey"


# -- ranges ----------------------------------------------------------------------------------


@pytest.mark.parametrize("header,start,end", [
    ("bytes=0-9", 0, 9),
    ("bytes=10-10", 10, 10),
    ("bytes=-7", 93, 99),
    ("bytes=90-", 90, 99),
    ("bytes=95-500", 95, 99),
    ("bytes=-500", 0, 99),
])
def test_get_range(s3, bucket, header, start, end):
    data = payload(100, seed=7)
    s3.put_object(Bucket=bucket, Key="r", Body=data)
    got = s3.get_object(Bucket=bucket, Key="r", Range=header)
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert got["ContentRange"] == f"bytes {start}-{end}/100"
    assert got["ContentLength"] == end - start + 1
    assert got["Body"].read() == data[start:end + 1]
    assert got["ETag"] == quoted_md5(data)
    head = s3.head_object(Bucket=bucket, Key="r", Range=header)
    assert head["ContentLength"] == end - start + 1


def test_range_past_end_is_416(s3, bucket):
    s3.put_object(Bucket=bucket, Key="r", Body=payload(100))
    for header in ("bytes=100-", "bytes=500-600"):
        with pytest.raises(ClientError) as exc:
            s3.get_object(Bucket=bucket, Key="r", Range=header)
        assert error_code(exc.value) == "InvalidRange" and http_status(exc.value) == 416
    assert s3.get_object(Bucket=bucket, Key="r")["ContentLength"] == 100


def test_ranged_get_has_no_whole_object_checksum(s3, bucket):
    data = payload(1000, seed=8)
    s3.put_object(Bucket=bucket, Key="r", Body=data)
    got = s3.get_object(Bucket=bucket, Key="r", Range="bytes=0-99", ChecksumMode="ENABLED")
    assert got["Body"].read() == data[:100]


# -- conditional reads ------------------------------------------------------------------------


def _http_date(dt: datetime) -> str:
    return format_datetime(dt.astimezone(timezone.utc), usegmt=True)


def test_get_if_match_and_if_none_match(s3, bucket):
    etag = s3.put_object(Bucket=bucket, Key="c", Body=b"cond")["ETag"]
    assert s3.get_object(Bucket=bucket, Key="c", IfMatch=etag)["Body"].read() == b"cond"
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="c", IfMatch='"0123456789abcdef0123456789abcdef"')
    assert error_code(exc.value) == "PreconditionFailed" and http_status(exc.value) == 412
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="c", IfNoneMatch=etag)
    assert http_status(exc.value) == 304
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=bucket, Key="c", IfNoneMatch=etag)
    assert http_status(exc.value) == 304
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=bucket, Key="c", IfMatch='"ffffffffffffffffffffffffffffffff"')
    assert http_status(exc.value) == 412
    other = s3.get_object(Bucket=bucket, Key="c", IfNoneMatch='"ffffffffffffffffffffffffffffffff"')
    assert other["Body"].read() == b"cond"


def test_get_if_modified_and_unmodified_since(s3, bucket):
    s3.put_object(Bucket=bucket, Key="d", Body=b"dated")
    last_modified = s3.head_object(Bucket=bucket, Key="d")["LastModified"]
    earlier = last_modified - timedelta(hours=1)
    later = last_modified + timedelta(hours=1)

    assert s3.get_object(Bucket=bucket, Key="d", IfModifiedSince=earlier)["Body"].read() == b"dated"
    for since in (last_modified, later):
        with pytest.raises(ClientError) as exc:
            s3.get_object(Bucket=bucket, Key="d", IfModifiedSince=since)
        assert http_status(exc.value) == 304

    for since in (last_modified, later):
        assert s3.get_object(Bucket=bucket, Key="d", IfUnmodifiedSince=since)["Body"].read() == b"dated"
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="d", IfUnmodifiedSince=earlier)
    assert error_code(exc.value) == "PreconditionFailed" and http_status(exc.value) == 412


def test_condition_precedence(s3, bucket):
    """S3: If-Match true wins over If-Unmodified-Since false; If-None-Match over If-Modified-Since."""
    etag = s3.put_object(Bucket=bucket, Key="p", Body=b"prec")["ETag"]
    last_modified = s3.head_object(Bucket=bucket, Key="p")["LastModified"]
    earlier = last_modified - timedelta(hours=1)
    got = s3.get_object(Bucket=bucket, Key="p", IfMatch=etag, IfUnmodifiedSince=earlier)
    assert got["Body"].read() == b"prec"
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="p", IfNoneMatch=etag, IfModifiedSince=earlier)
    assert http_status(exc.value) == 304


def test_not_modified_carries_etag(gateway, bucket, s3):
    etag = s3.put_object(Bucket=bucket, Key="n", Body=b"x")["ETag"]
    reply = signed_request(gateway.endpoint, "GET", f"/{bucket}/n", headers={"If-None-Match": etag})
    assert reply.status == 304
    assert reply.body == b""
    assert reply.headers["ETag"] == etag


# -- response-* overrides ----------------------------------------------------------------------


def test_response_header_overrides(s3, bucket):
    s3.put_object(Bucket=bucket, Key="o", Body=b"override me", ContentType="text/plain",
                  CacheControl="no-cache")
    expires = datetime(2030, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    got = s3.get_object(
        Bucket=bucket, Key="o", ResponseContentType="application/x-custom",
        ResponseContentDisposition='attachment; filename="x y.bin"',
        ResponseCacheControl="max-age=60", ResponseContentEncoding="identity",
        ResponseContentLanguage="fr", ResponseExpires=expires)
    assert got["Body"].read() == b"override me"
    assert got["ContentType"] == "application/x-custom"
    assert got["ContentDisposition"] == 'attachment; filename="x y.bin"'
    assert got["CacheControl"] == "max-age=60"
    assert got["ContentEncoding"] == "identity"
    assert got["ContentLanguage"] == "fr"
    assert parsedate_to_datetime(got["ResponseMetadata"]["HTTPHeaders"]["expires"]) == expires
    # The stored object is unchanged.
    head = s3.head_object(Bucket=bucket, Key="o")
    assert head["ContentType"] == "text/plain" and head["CacheControl"] == "no-cache"


# -- keys ---------------------------------------------------------------------------------------


def test_awkward_keys_roundtrip(s3, bucket):
    bodies = {key: f"body of {key}".encode() for key in AWKWARD_KEYS}
    for key, body in bodies.items():
        s3.put_object(Bucket=bucket, Key=key, Body=body)
    listed = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
              for o in page.get("Contents", [])]
    assert listed == utf8_sorted(bodies)
    assert_records_served(s3, bucket, bodies)
    listed_v1 = [o["Key"] for o in s3.list_objects(Bucket=bucket)["Contents"]]
    assert listed_v1 == listed
    for key, body in bodies.items():
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == body, key
        assert s3.head_object(Bucket=bucket, Key=key)["ContentLength"] == len(body)
    for key in bodies:
        s3.delete_object(Bucket=bucket, Key=key)
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_key_at_1024_bytes_is_allowed(s3, bucket):
    key = "k/" + "é" * 511
    assert len(key.encode()) == 1024
    s3.put_object(Bucket=bucket, Key=key, Body=b"long")
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == b"long"


def test_version_id_reads_the_object(s3, bucket):
    version = s3.put_object(Bucket=bucket, Key="v", Body=b"versioned?")["VersionId"]
    assert s3.get_object(Bucket=bucket, Key="v", VersionId=version)["Body"].read() == b"versioned?"


# -- ACLs and other features ------------------------------------------------------------------


def test_canned_acl_accepted_but_anonymous_still_refused(gateway, s3, bucket):
    s3.put_object(Bucket=bucket, Key="public", Body=b"not really public", ACL="public-read")
    s3.put_object(Bucket=bucket, Key="private", Body=b"private", ACL="private")
    assert s3.get_object(Bucket=bucket, Key="public")["Body"].read() == b"not really public"
    for key in ("public", "private"):
        reply = http_request(f"{gateway.endpoint}/{bucket}/{key}")
        assert reply.status == 403
        assert reply.error_code == "AccessDenied"
        assert b"not really public" not in reply.body
    reply = http_request(f"{gateway.endpoint}/{bucket}")
    assert reply.status == 403 and reply.error_code == "AccessDenied"


@pytest.mark.parametrize("call", [
    lambda s3, b: s3.get_bucket_lifecycle_configuration(Bucket=b),
    lambda s3, b: s3.get_bucket_policy(Bucket=b),
    lambda s3, b: s3.put_bucket_acl(Bucket=b, ACL="public-read"),
    lambda s3, b: s3.put_object_acl(Bucket=b, Key="k", ACL="public-read"),
], ids=["lifecycle", "policy", "put-bucket-acl", "put-object-acl"])
def test_unknown_subresources_are_not_implemented(s3, bucket, call):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    with pytest.raises(ClientError) as exc:
        call(s3, bucket)
    assert error_code(exc.value) == "NotImplemented"
    assert http_status(exc.value) == 501
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"x"


def test_not_implemented_is_s3_xml(gateway, bucket):
    reply = signed_request(gateway.endpoint, "GET", f"/{bucket}?lifecycle")
    assert reply.status == 501
    assert reply.headers["Content-Type"].startswith("application/xml")
    assert reply.error_code == "NotImplemented"
    assert reply.xml().findtext("Message")
    assert reply.xml().findtext("RequestId")


# -- delete --------------------------------------------------------------------------------------


def test_delete_object(s3, bucket):
    s3.put_object(Bucket=bucket, Key="gone", Body=b"x")
    response = s3.delete_object(Bucket=bucket, Key="gone")
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="gone")
    assert error_code(exc.value) == "NoSuchKey"
    # Deleting a missing key is not an error in S3.
    assert s3.delete_object(Bucket=bucket, Key="gone")["ResponseMetadata"]["HTTPStatusCode"] == 204


def test_delete_objects(s3, bucket):
    keys = ["d/1", "d/2", "d 3 é", "d+4&5", "keep"]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    doomed = keys[:4] + ["never-existed"]
    result = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in doomed]})
    assert sorted(d["Key"] for d in result["Deleted"]) == sorted(doomed)
    assert result.get("Errors", []) == []
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["keep"]
    assert_records_served(s3, bucket, ["keep"])
    for key in keys[:4]:   # a deleted object's record is history: not served as current
        with pytest.raises(ClientError) as exc:
            s3.get_object(Bucket=bucket, Key=key + ".xmp")
        assert error_code(exc.value) == "NoSuchKey"


def test_delete_objects_quiet(s3, bucket):
    for key in ("q1", "q2", "q3"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    result = s3.delete_objects(Bucket=bucket, Delete={
        "Objects": [{"Key": "q1"}, {"Key": "q2"}, {"Key": "missing"}], "Quiet": True})
    assert result.get("Deleted", []) == []
    assert result.get("Errors", []) == []
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["q3"]
    assert_records_served(s3, bucket, ["q3"])


def test_delete_objects_missing_bucket(s3):
    with pytest.raises(ClientError) as exc:
        s3.delete_objects(Bucket="no-such-bucket-here", Delete={"Objects": [{"Key": "a"}]})
    assert error_code(exc.value) == "NoSuchBucket"


# -- durability across a restart -------------------------------------------------------------------


def test_objects_survive_restart(make_server):
    server = make_server()
    s3 = client(server.endpoint)
    s3.create_bucket(Bucket="restart")
    keys = {"plain": b"plain", "L/" + "x" * 500: b"long key", "L/" + "x" * 500 + "/2": b"long 2",
            "é 日本 😀": b"unicode"}
    for key, body in keys.items():
        s3.put_object(Bucket="restart", Key=key, Body=body, Metadata={"m": "1"}, Tagging="t=1")
    upload_id = s3.create_multipart_upload(Bucket="restart", Key="open upload")["UploadId"]
    s3.upload_part(Bucket="restart", Key="open upload", UploadId=upload_id, PartNumber=1, Body=b"part")

    server.stop()
    server.start()
    s3 = client(server.endpoint)
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket="restart")["Contents"]]
    assert listed == utf8_sorted(keys)
    assert_records_served(s3, "restart", keys)
    for key, body in keys.items():
        got = s3.get_object(Bucket="restart", Key=key)
        assert got["Body"].read() == body
        assert got["Metadata"] == {"m": "1"} and got["TagCount"] == 1
    parts = s3.list_parts(Bucket="restart", Key="open upload", UploadId=upload_id)["Parts"]
    assert [(p["PartNumber"], p["ETag"]) for p in parts] == [(1, quoted_md5(b"part"))]
    done = s3.complete_multipart_upload(Bucket="restart", Key="open upload", UploadId=upload_id,
                                        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": parts[0]["ETag"]}]})
    # S3's multipart ETag: the MD5 of the parts' binary MD5s, then "-" and the part count.
    expected_etag = '"' + hashlib.md5(hashlib.md5(b"part").digest()).hexdigest() + '-1"'
    assert done["ETag"] == expected_etag
    completed = s3.get_object(Bucket="restart", Key="open upload")
    assert (completed["ETag"], completed["Body"].read()) == (expected_etag, b"part")
