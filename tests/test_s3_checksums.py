"""S3 checksums as clients meet them: the five algorithms in headers and aws-chunked
trailers on PutObject and UploadPart (a wrong value is BadDigest, a malformed one
InvalidRequest), multipart checksum types (COMPOSITE and FULL_OBJECT) named at
CreateMultipartUpload and checked at Complete, and ``Content-Encoding: aws-chunked`` on a
body that is not framed. Every expected checksum is computed here from the bytes sent
(``checksum_b64``: zlib, hashlib, and plain-Python CRC32C / CRC64NVME)."""

from __future__ import annotations

import base64
import gzip
import hashlib
import os

import pytest

from tests.support.functional import b64, checksum_b64, payload, quoted_md5, signed_request
from tests.support.hostile import (STREAMING_UNSIGNED_TRAILER, aws_chunked_trailer,
                                   client_error, send, sign_v4, unique)

MiB = 1024 * 1024
ALGORITHMS = ["CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256"]
SIZES = {"CRC32": 4, "CRC32C": 4, "CRC64NVME": 8, "SHA1": 20, "SHA256": 32}


def wrong_value(algorithm: str) -> str:
    """Well-formed (the digest's length) but not the checksum of any test's data."""
    return b64(os.urandom(SIZES[algorithm]))


MALFORMED = ["not base64!", b64(b"\x01\x02\x03")]   # bad base64; valid base64, wrong length


# -- PutObject / UploadPart: header values ---------------------------------------------------


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_header_checksum_right_wrong_and_malformed(s3, bucket, algorithm):
    data = payload(50_000, seed=3)
    key = unique()
    put = s3.put_object(Bucket=bucket, Key=key, Body=data,
                        **{f"Checksum{algorithm}": checksum_b64(algorithm, data)})
    assert put[f"Checksum{algorithm}"] == checksum_b64(algorithm, data)
    head = s3.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    assert head[f"Checksum{algorithm}"] == checksum_b64(algorithm, data)
    assert head["ChecksumType"] == "FULL_OBJECT"
    assert client_error(lambda: s3.put_object(Bucket=bucket, Key=key, Body=b"other",
                                         **{f"Checksum{algorithm}": wrong_value(algorithm)})) \
        == (400, "BadDigest")
    for value in MALFORMED:
        assert client_error(lambda: s3.put_object(Bucket=bucket, Key=key, Body=b"other",
                                             **{f"Checksum{algorithm}": value})) \
            == (400, "InvalidRequest")
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == data


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_upload_part_header_checksum_errors(s3, bucket, algorithm):
    key = unique()
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    data = payload(10_000, seed=4)
    assert client_error(lambda: s3.upload_part(
        Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=1, Body=data,
        **{f"Checksum{algorithm}": wrong_value(algorithm)})) == (400, "BadDigest")
    assert client_error(lambda: s3.upload_part(
        Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=1, Body=data,
        **{f"Checksum{algorithm}": MALFORMED[1]})) == (400, "InvalidRequest")
    assert s3.list_parts(Bucket=bucket, Key=key, UploadId=upload_id).get("Parts", []) == []
    s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)


# -- aws-chunked trailers -----------------------------------------------------------------------


def _trailer_put(gateway, target: str, data: bytes, algorithm: str, value: str):
    name = f"x-amz-checksum-{algorithm.lower()}"
    headers = sign_v4(gateway.endpoint, "PUT", target, payload_hash=STREAMING_UNSIGNED_TRAILER,
                      headers={"Content-Encoding": "aws-chunked", "x-amz-trailer": name,
                               "x-amz-decoded-content-length": str(len(data)),
                               "x-amz-sdk-checksum-algorithm": algorithm})
    return send(gateway, "PUT", target, headers=headers,
                body=aws_chunked_trailer(data, f"{name}:{value}"))


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_trailer_checksums(gateway, s3, bucket, algorithm):
    data = payload(150_000, seed=5)
    key = unique()
    good = _trailer_put(gateway, f"/{bucket}/{key}", data, algorithm,
                        checksum_b64(algorithm, data))
    assert good.status == 200, good
    assert good.headers[f"x-amz-checksum-{algorithm.lower()}"] == checksum_b64(algorithm, data)
    wrong = _trailer_put(gateway, f"/{bucket}/{key}", b"x" * 1000, algorithm,
                         wrong_value(algorithm))
    assert (wrong.status, wrong.code) == (400, "BadDigest"), wrong
    for value in MALFORMED:
        bad = _trailer_put(gateway, f"/{bucket}/{key}", b"x" * 1000, algorithm, value)
        assert (bad.status, bad.code) == (400, "InvalidRequest"), bad
    # On a part too.
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    part = _trailer_put(gateway, f"/{bucket}/{key}?partNumber=1&uploadId={upload_id}",
                        b"y" * 1000, algorithm, wrong_value(algorithm))
    assert (part.status, part.code) == (400, "BadDigest"), part
    s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == data
    assert len(s3.list_object_versions(Bucket=bucket, Prefix=key)["Versions"]) == 1


# -- multipart checksum types -------------------------------------------------------------------


def _parts():
    return [payload(5 * MiB, seed=21), payload(4321, seed=22)]


def _upload(s3, bucket, key, algorithm, datas, **create):
    created = s3.create_multipart_upload(Bucket=bucket, Key=key, ChecksumAlgorithm=algorithm,
                                         **create)
    parts = []
    for number, data in enumerate(datas, 1):
        sent = s3.upload_part(Bucket=bucket, Key=key, UploadId=created["UploadId"],
                              PartNumber=number, Body=data, ChecksumAlgorithm=algorithm)
        assert sent[f"Checksum{algorithm}"] == checksum_b64(algorithm, data)
        parts.append({"PartNumber": number, "ETag": sent["ETag"],
                      f"Checksum{algorithm}": sent[f"Checksum{algorithm}"]})
    return created, parts


@pytest.mark.parametrize("algorithm", ["CRC32", "CRC32C", "SHA1", "SHA256"])
def test_composite_checksum(s3, bucket, algorithm):
    datas, key = _parts(), unique()
    created, parts = _upload(s3, bucket, key, algorithm, datas)
    assert (created["ChecksumAlgorithm"], created["ChecksumType"]) == (algorithm, "COMPOSITE")
    listed = s3.list_parts(Bucket=bucket, Key=key, UploadId=created["UploadId"])
    assert (listed["ChecksumAlgorithm"], listed["ChecksumType"]) == (algorithm, "COMPOSITE")
    upload = s3.list_multipart_uploads(Bucket=bucket, Prefix=key)["Uploads"][0]
    assert (upload["ChecksumAlgorithm"], upload["ChecksumType"]) == (algorithm, "COMPOSITE")
    digests = b"".join(base64.b64decode(checksum_b64(algorithm, d)) for d in datas)
    expected = f"{checksum_b64(algorithm, digests)}-{len(datas)}"
    done = s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=created["UploadId"],
                                        MultipartUpload={"Parts": parts})
    assert (done[f"Checksum{algorithm}"], done["ChecksumType"]) == (expected, "COMPOSITE")
    head = s3.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    assert (head[f"Checksum{algorithm}"], head["ChecksumType"]) == (expected, "COMPOSITE")
    got = s3.get_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    assert got[f"Checksum{algorithm}"] == expected and got["Body"].read() == b"".join(datas)


@pytest.mark.parametrize("algorithm", ["CRC32", "CRC32C", "CRC64NVME"])
def test_full_object_checksum(s3, bucket, algorithm):
    datas, key = _parts(), unique()
    kind = {} if algorithm == "CRC64NVME" else {"ChecksumType": "FULL_OBJECT"}
    created, parts = _upload(s3, bucket, key, algorithm, datas, **kind)
    assert (created["ChecksumAlgorithm"], created["ChecksumType"]) == (algorithm, "FULL_OBJECT")
    whole = b"".join(datas)
    expected = checksum_b64(algorithm, whole)
    assert client_error(lambda: s3.complete_multipart_upload(
        Bucket=bucket, Key=key, UploadId=created["UploadId"], MultipartUpload={"Parts": parts},
        ChecksumType="FULL_OBJECT", **{f"Checksum{algorithm}": wrong_value(algorithm)})) \
        == (400, "BadDigest")
    done = s3.complete_multipart_upload(
        Bucket=bucket, Key=key, UploadId=created["UploadId"], MultipartUpload={"Parts": parts},
        ChecksumType="FULL_OBJECT", MpuObjectSize=len(whole),
        **{f"Checksum{algorithm}": expected})
    assert (done[f"Checksum{algorithm}"], done["ChecksumType"]) == (expected, "FULL_OBJECT")
    head = s3.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    assert (head[f"Checksum{algorithm}"], head["ChecksumType"]) == (expected, "FULL_OBJECT")
    # Without checksum mode, no checksum is sent.
    assert f"Checksum{algorithm}" not in s3.head_object(Bucket=bucket, Key=key)


@pytest.mark.parametrize("algorithm,kind", [("SHA1", "FULL_OBJECT"), ("SHA256", "FULL_OBJECT"),
                                            ("CRC64NVME", "COMPOSITE")])
def test_checksum_type_the_algorithm_does_not_have(s3, bucket, algorithm, kind):
    assert client_error(lambda: s3.create_multipart_upload(
        Bucket=bucket, Key="k", ChecksumAlgorithm=algorithm, ChecksumType=kind)) \
        == (400, "InvalidRequest")
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_complete_checks_part_checksums_type_and_size(s3, bucket):
    datas, key = _parts(), unique()
    created, parts = _upload(s3, bucket, key, "CRC32", datas)
    upload_id = created["UploadId"]
    tampered = [dict(parts[0], ChecksumCRC32=checksum_b64("CRC32", b"not the part")), parts[1]]
    assert client_error(lambda: s3.complete_multipart_upload(
        Bucket=bucket, Key=key, UploadId=upload_id,
        MultipartUpload={"Parts": tampered})) == (400, "InvalidPart")
    assert client_error(lambda: s3.complete_multipart_upload(
        Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts},
        ChecksumType="FULL_OBJECT")) == (400, "InvalidRequest")
    assert client_error(lambda: s3.complete_multipart_upload(
        Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts},
        MpuObjectSize=1)) == (400, "InvalidRequest")
    # None of that stored anything; the upload completes as it should.
    assert "Versions" not in s3.list_object_versions(Bucket=bucket, Prefix=key)
    done = s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id,
                                        MultipartUpload={"Parts": parts})
    assert done["ChecksumType"] == "COMPOSITE"


@pytest.mark.parametrize("kind", ["COMPOSITE", "FULL_OBJECT"])
def test_part_checksum_of_another_algorithm_is_refused(s3, bucket, kind):
    """boto3 sends its default CRC32 with a part unless told the upload's algorithm."""
    key = unique()
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key=key, ChecksumAlgorithm="CRC32C",
                                           ChecksumType=kind)["UploadId"]
    assert client_error(lambda: s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id,
                                               PartNumber=1, Body=b"part")) \
        == (400, "InvalidRequest")
    assert s3.list_parts(Bucket=bucket, Key=key, UploadId=upload_id).get("Parts", []) == []


def test_part_without_checksum(gateway, s3, bucket):
    """A part sent with no checksum: refused for a COMPOSITE upload (its checksum is made
    of the client's), computed by the gateway for a FULL_OBJECT one."""
    data = payload(3000, seed=23)
    for kind, expected in (("COMPOSITE", (400, "InvalidRequest")), ("FULL_OBJECT", 200)):
        key = unique()
        upload_id = s3.create_multipart_upload(Bucket=bucket, Key=key, ChecksumAlgorithm="CRC32C",
                                               ChecksumType=kind)["UploadId"]
        reply = signed_request(gateway.endpoint, "PUT",
                               f"/{bucket}/{key}?partNumber=1&uploadId={upload_id}", body=data)
        assert (reply.status if reply.status == 200 else (reply.status, reply.error_code)) \
            == expected
        if kind == "FULL_OBJECT":
            listed = s3.list_parts(Bucket=bucket, Key=key, UploadId=upload_id)["Parts"]
            assert listed[0]["ChecksumCRC32C"] == checksum_b64("CRC32C", data)
            done = s3.complete_multipart_upload(
                Bucket=bucket, Key=key, UploadId=upload_id,
                MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": listed[0]["ETag"]}]})
            assert done["ChecksumCRC32C"] == checksum_b64("CRC32C", data)


def test_composite_complete_must_name_every_part_checksum(s3, bucket):
    datas, key = _parts(), unique()
    created, parts = _upload(s3, bucket, key, "SHA256", datas)
    bare = [{"PartNumber": p["PartNumber"], "ETag": p["ETag"]} for p in parts]
    assert client_error(lambda: s3.complete_multipart_upload(
        Bucket=bucket, Key=key, UploadId=created["UploadId"],
        MultipartUpload={"Parts": [parts[0], bare[1]]})) == (400, "InvalidRequest")
    s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=created["UploadId"],
                                 MultipartUpload={"Parts": parts})


# -- Content-Encoding: aws-chunked on a body that is not framed ----------------------------------


@pytest.mark.parametrize("encoding,stored", [("gzip, aws-chunked", "gzip"),
                                             ("aws-chunked", None)])
def test_aws_chunked_encoding_on_a_plain_body(gateway, s3, bucket, encoding, stored):
    data = gzip.compress(payload(20_000, seed=9))
    key = unique()
    target = f"/{bucket}/{key}"
    headers = sign_v4(gateway.endpoint, "PUT", target, body=data,
                      headers={"Content-Encoding": encoding})
    reply = send(gateway, "PUT", target, headers=headers, body=data)
    assert reply.status == 200, reply
    assert reply.headers["etag"] == quoted_md5(data)
    got = s3.get_object(Bucket=bucket, Key=key)
    assert got.get("ContentEncoding") == stored
    assert got["Body"].read() == data
    assert hashlib.md5(data).hexdigest() in got["ETag"]
