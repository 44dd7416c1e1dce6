"""Hostile request bodies: wrong digests and checksums, lying payload hashes, truncated
and badly signed aws-chunked streams, bodies that stop short.

Whatever the failure, nothing new becomes visible, an existing object under the same
key stays byte-identical, no half-received body is left in the spool, and a stored
object never contains aws-chunked framing.
"""

from __future__ import annotations

import base64
import hashlib
import os

import pytest

from tests.support.hostile import (STREAMING_SIGNED, STREAMING_UNSIGNED_TRAILER,
                                   ConnectionDropped, assert_error, aws_chunked_signed,
                                   aws_chunked_trailer, crc32_b64, client_error, md5_b64, send,
                                   sign_v4, unique)
from tests.support.server import ADMIN

CHUNK = 64 * 1024


def _absent(guard, key: str) -> None:
    assert client_error(lambda: guard.s3.head_object(Bucket=guard.bucket, Key=key))[0] == 404


def _data(size: int) -> bytes:
    return os.urandom(size)


def _chunks(data: bytes, size: int = CHUNK) -> list[bytes]:
    return [data[i:i + size] for i in range(0, len(data), size)]


# --- Content-MD5 and x-amz-checksum-* headers -----------------------------------------

@pytest.mark.parametrize("key", ["new", "sentinel.bin"])
def test_wrong_content_md5_is_bad_digest(guard, key):
    key = unique() if key == "new" else key
    data = _data(10_000)
    wrong = md5_b64(data + b"x")
    assert client_error(lambda: guard.s3.put_object(Bucket=guard.bucket, Key=key, Body=data,
                                              ContentMD5=wrong)) == (400, "BadDigest")
    guard.check()


@pytest.mark.parametrize("value", ["not base64!", base64.b64encode(b"short").decode(),
                                   base64.b64encode(b"x" * 17).decode(), ""])
def test_invalid_content_md5_is_invalid_digest(gateway, guard, value):
    target = f"/{guard.bucket}/{unique()}"
    body = b"some bytes"
    headers = sign_v4(gateway.endpoint, "PUT", target, body=body, headers={"Content-MD5": value})
    assert_error(send(gateway, "PUT", target, headers=headers, body=body), 400, "InvalidDigest")
    guard.check()


@pytest.mark.parametrize("algorithm", ["CRC32", "CRC32C", "SHA1", "SHA256"])
def test_wrong_checksum_header_is_bad_digest(guard, algorithm):
    data = _data(20_000)
    # Well-formed (the algorithm's digest length) but not the data's checksum.
    size = {"CRC32": 4, "CRC32C": 4, "SHA1": 20, "SHA256": 32}[algorithm]
    wrong = base64.b64encode(os.urandom(size)).decode()
    for key in (unique(), "sentinel.bin"):
        assert client_error(lambda: guard.s3.put_object(
            Bucket=guard.bucket, Key=key, Body=data, **{f"Checksum{algorithm}": wrong})) == (400, "BadDigest")
    guard.check()


def test_wrong_checksum_on_upload_part_records_no_part(guard):
    s3, bucket, key = guard.s3, guard.bucket, unique()
    upload = s3.create_multipart_upload(Bucket=bucket, Key=key, ChecksumAlgorithm="CRC32")["UploadId"]
    data = _data(10_000)
    wrong = crc32_b64(data + b"!")
    assert client_error(lambda: s3.upload_part(Bucket=bucket, Key=key, UploadId=upload, PartNumber=1,
                                         Body=data, ChecksumCRC32=wrong)) == (400, "BadDigest")
    assert s3.list_parts(Bucket=bucket, Key=key, UploadId=upload).get("Parts", []) == []
    guard.check(uploads=1)
    s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload)


@pytest.mark.parametrize("key", ["new", "sentinel.bin"])
def test_wrong_content_sha256(gateway, guard, key):
    key = unique() if key == "new" else key
    target = f"/{guard.bucket}/{key}"
    signed_body, sent_body = b"A" * 5000, b"B" * 5000
    headers = sign_v4(gateway.endpoint, "PUT", target, body=signed_body)
    assert_error(send(gateway, "PUT", target, headers=headers, body=sent_body),
                 400, "XAmzContentSHA256Mismatch")
    guard.check()


def test_content_sha256_not_a_hash(gateway, guard):
    target = f"/{guard.bucket}/{unique()}"
    headers = sign_v4(gateway.endpoint, "PUT", target, body=b"x", payload_hash="NOT-A-HASH")
    reply = send(gateway, "PUT", target, headers=headers, body=b"x")
    assert reply.status == 400 and reply.code in ("InvalidArgument", "XAmzContentSHA256Mismatch"), reply
    guard.check()


# --- aws-chunked with trailers (what boto3 sends over HTTPS) --------------------------

def _trailer_put(gateway, target: str, data: bytes, trailer_value: str, *,
                 encoding: str = "aws-chunked", content_length: int | None = None, end="keep"):
    headers = sign_v4(gateway.endpoint, "PUT", target, payload_hash=STREAMING_UNSIGNED_TRAILER,
                      headers={"Content-Encoding": encoding, "x-amz-trailer": "x-amz-checksum-crc32",
                               "x-amz-decoded-content-length": str(len(data)),
                               "x-amz-sdk-checksum-algorithm": "CRC32"})
    body = aws_chunked_trailer(data, f"x-amz-checksum-crc32:{trailer_value}")
    return send(gateway, "PUT", target, headers=headers, body=body[:content_length]
                if content_length else body, content_length=len(body) if content_length else None,
                end=end)


def test_trailer_checksum_control_stores_decoded_bytes(gateway, guard):
    key = unique()
    data = _data(300_000)
    reply = _trailer_put(gateway, f"/{guard.bucket}/{key}", data, crc32_b64(data))
    assert reply.status == 200, reply
    guard.objects[key] = data
    head = guard.s3.head_object(Bucket=guard.bucket, Key=key, ChecksumMode="ENABLED")
    assert head["ContentLength"] == len(data)
    assert "ContentEncoding" not in head, head.get("ContentEncoding")
    assert head["ChecksumCRC32"] == crc32_b64(data)
    guard.check()


@pytest.mark.parametrize("key", ["new", "sentinel.bin"])
def test_wrong_trailer_checksum_is_bad_digest(gateway, guard, key):
    key = unique() if key == "new" else key
    data = _data(200_000)
    reply = _trailer_put(gateway, f"/{guard.bucket}/{key}", data, crc32_b64(data[:-1]))
    assert_error(reply, 400, "BadDigest")
    guard.check()


def test_trailer_checksum_missing_is_refused(gateway, guard):
    target = f"/{guard.bucket}/{unique()}"
    data = _data(1000)
    headers = sign_v4(gateway.endpoint, "PUT", target, payload_hash=STREAMING_UNSIGNED_TRAILER,
                      headers={"Content-Encoding": "aws-chunked", "x-amz-trailer": "x-amz-checksum-crc32",
                               "x-amz-decoded-content-length": str(len(data))})
    body = f"{len(data):x}\r\n".encode() + data + b"\r\n0\r\n\r\n"
    reply = send(gateway, "PUT", target, headers=headers, body=body)
    assert reply.status == 400 and reply.code is not None, reply
    guard.check()


# --- signed aws-chunked (STREAMING-AWS4-HMAC-SHA256-PAYLOAD) --------------------------

def _streaming_put(gateway, target: str, chunks: list[bytes], *, corrupt: int | None = None,
                   encoding: str = "aws-chunked", decoded_length: int | None = None,
                   cut: int | None = None, end: str = "keep", method: str = "PUT"):
    size = sum(len(c) for c in chunks)
    headers = sign_v4(gateway.endpoint, method, target, payload_hash=STREAMING_SIGNED,
                      headers={"Content-Encoding": encoding,
                               "x-amz-decoded-content-length": str(size if decoded_length is None
                                                                   else decoded_length)})
    body = aws_chunked_signed(headers, chunks, ADMIN["secret"], corrupt=corrupt)
    if cut is not None:
        return send(gateway, method, target, headers=headers, body=body[:cut],
                    content_length=len(body), end=end)
    return send(gateway, method, target, headers=headers, body=body, end=end)


@pytest.mark.parametrize("encoding,stored", [("aws-chunked", None), ("aws-chunked,gzip", "gzip"),
                                             ("gzip, aws-chunked", "gzip")])
def test_signed_streaming_control_never_stores_framing(gateway, guard, encoding, stored):
    key = unique()
    data = _data(5 * CHUNK + 123)
    reply = _streaming_put(gateway, f"/{guard.bucket}/{key}", _chunks(data), encoding=encoding)
    assert reply.status == 200, reply
    assert reply.headers["etag"] == f'"{hashlib.md5(data).hexdigest()}"'
    guard.objects[key] = data
    head = guard.s3.head_object(Bucket=guard.bucket, Key=key)
    assert head["ContentLength"] == len(data)
    assert head.get("ContentEncoding") == stored
    body = guard.s3.get_object(Bucket=guard.bucket, Key=key)["Body"].read()
    assert b"chunk-signature" not in body and body == data
    guard.check()


@pytest.mark.parametrize("where", ["first", "middle", "final-data", "terminator"])
@pytest.mark.parametrize("key", ["new", "sentinel.bin"])
def test_bad_chunk_signature_stores_nothing(gateway, guard, where, key):
    key = unique() if key == "new" else key
    chunks = _chunks(_data(4 * CHUNK + 77))
    corrupt = {"first": 0, "middle": 2, "final-data": len(chunks) - 1,
               "terminator": len(chunks)}[where]
    reply = _streaming_put(gateway, f"/{guard.bucket}/{key}", chunks, corrupt=corrupt)
    assert_error(reply, 403, "SignatureDoesNotMatch")
    guard.check()


def test_bad_chunk_signature_on_upload_part_records_no_part(gateway, guard):
    s3, bucket, key = guard.s3, guard.bucket, unique()
    upload = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    target = f"/{bucket}/{key}?partNumber=1&uploadId={upload}"
    chunks = _chunks(_data(3 * CHUNK))
    assert_error(_streaming_put(gateway, target, chunks, corrupt=1), 403, "SignatureDoesNotMatch")
    assert s3.list_parts(Bucket=bucket, Key=key, UploadId=upload).get("Parts", []) == []
    reply = _streaming_put(gateway, target, chunks)
    assert reply.status == 200, reply
    assert len(s3.list_parts(Bucket=bucket, Key=key, UploadId=upload)["Parts"]) == 1
    guard.check(uploads=1)
    s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload)


def test_missing_chunk_signature_is_refused(gateway, guard):
    target = f"/{guard.bucket}/{unique()}"
    data = _data(1000)
    headers = sign_v4(gateway.endpoint, "PUT", target, payload_hash=STREAMING_SIGNED,
                      headers={"Content-Encoding": "aws-chunked",
                               "x-amz-decoded-content-length": str(len(data))})
    body = f"{len(data):x}\r\n".encode() + data + b"\r\n0\r\n\r\n"
    assert_error(send(gateway, "PUT", target, headers=headers, body=body), 403, "SignatureDoesNotMatch")
    guard.check()


def test_decoded_length_larger_than_sent(gateway, guard):
    chunks = _chunks(_data(2 * CHUNK))
    reply = _streaming_put(gateway, f"/{guard.bucket}/{unique()}", chunks,
                           decoded_length=2 * CHUNK + 10)
    assert_error(reply, 400, "IncompleteBody")
    guard.check()


def test_decoded_length_smaller_than_sent(gateway, guard):
    chunks = _chunks(_data(2 * CHUNK))
    reply = _streaming_put(gateway, f"/{guard.bucket}/{unique()}", chunks,
                           decoded_length=2 * CHUNK - 10)
    assert reply.status == 400 and reply.code is not None, reply
    guard.check()


@pytest.mark.parametrize("garbage", [b"zz;chunk-signature=00\r\n", b"1" * 5000 + b"\r\n",
                                     b"ffffffffffffffff;chunk-signature=" + b"0" * 64 + b"\r\n"])
def test_garbage_framing_refused(gateway, guard, garbage):
    target = f"/{guard.bucket}/{unique()}"
    headers = sign_v4(gateway.endpoint, "PUT", target, payload_hash=STREAMING_SIGNED,
                      headers={"Content-Encoding": "aws-chunked",
                               "x-amz-decoded-content-length": "100"})
    reply = send(gateway, "PUT", target, headers=headers, body=garbage + b"x" * 100)
    assert 400 <= reply.status < 500 and reply.code is not None, reply
    guard.check()


# --- bodies that stop short ------------------------------------------------------------

def _incomplete_or_dropped(reply) -> None:
    """Once the client stops sending, S3 answers IncompleteBody if it still can."""
    if reply is not None:
        assert_error(reply, 400, "IncompleteBody")


@pytest.mark.parametrize("end", ["shutdown", "close"])
@pytest.mark.parametrize("key", ["new", "sentinel.bin"])
def test_truncated_signed_chunked_body(gateway, guard, end, key):
    key = unique() if key == "new" else key
    chunks = _chunks(_data(6 * CHUNK))
    full = len(aws_chunked_signed({"X-Amz-Date": "20260101T000000Z",
                                   "Authorization": "Signature=" + "0" * 64}, chunks, "s"))
    try:
        reply = _streaming_put(gateway, f"/{guard.bucket}/{key}", chunks, cut=full // 2, end=end)
    except ConnectionDropped:
        reply = None
    _incomplete_or_dropped(reply)
    guard.check()


@pytest.mark.parametrize("cut", ["mid-chunk", "chunk-boundary", "before-terminator"])
def test_chunked_framing_ends_early_is_incomplete_body(gateway, guard, cut):
    """The HTTP body is complete (Content-Length honest) but the aws-chunked stream in it
    stops early: S3 answers IncompleteBody."""
    chunks = _chunks(_data(4 * CHUNK))
    headers = sign_v4(gateway.endpoint, "PUT", f"/{guard.bucket}/sentinel.bin",
                      payload_hash=STREAMING_SIGNED,
                      headers={"Content-Encoding": "aws-chunked",
                               "x-amz-decoded-content-length": str(4 * CHUNK)})
    body = aws_chunked_signed(headers, chunks, ADMIN["secret"])
    chunk_frame = len(body) // 5
    position = {"mid-chunk": chunk_frame + 1000, "chunk-boundary": 2 * chunk_frame,
                "before-terminator": body.rindex(b"0;chunk-signature=")}[cut]
    reply = send(gateway, "PUT", f"/{guard.bucket}/sentinel.bin", headers=headers,
                 body=body[:position])
    assert_error(reply, 400, "IncompleteBody")
    guard.check()


@pytest.mark.parametrize("cut", ["mid-chunk", "before-terminator", "before-trailer"])
def test_truncated_trailer_chunked_body(gateway, guard, cut):
    data = _data(3 * CHUNK)
    body = aws_chunked_trailer(data, "x-amz-checksum-crc32:" + crc32_b64(data))
    position = {"mid-chunk": CHUNK + 100,
                "before-terminator": body.index(b"\r\n0\r\n") + 2,
                "before-trailer": body.index(b"\r\n0\r\n") + 5}[cut]
    try:
        reply = _trailer_put(gateway, f"/{guard.bucket}/{unique()}", data, crc32_b64(data),
                             content_length=position, end="shutdown")
    except ConnectionDropped:
        reply = None
    _incomplete_or_dropped(reply)
    guard.check()


@pytest.mark.parametrize("end", ["shutdown", "close"])
@pytest.mark.parametrize("key", ["new", "sentinel.bin"])
def test_body_shorter_than_content_length(gateway, guard, end, key):
    key = unique() if key == "new" else key
    target = f"/{guard.bucket}/{key}"
    body = _data(500_000)
    headers = sign_v4(gateway.endpoint, "PUT", target, payload_hash="UNSIGNED-PAYLOAD")
    try:
        reply = send(gateway, "PUT", target, headers=headers, body=body[:200_000],
                     content_length=len(body), end=end)
    except ConnectionDropped:
        reply = None
    _incomplete_or_dropped(reply)
    guard.check()


def test_short_upload_part_records_no_part(gateway, guard):
    s3, bucket, key = guard.s3, guard.bucket, unique()
    upload = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    target = f"/{bucket}/{key}?partNumber=1&uploadId={upload}"
    headers = sign_v4(gateway.endpoint, "PUT", target, payload_hash="UNSIGNED-PAYLOAD")
    try:
        reply = send(gateway, "PUT", target, headers=headers, body=b"p" * 100_000,
                     content_length=300_000, end="shutdown")
    except ConnectionDropped:
        reply = None
    _incomplete_or_dropped(reply)
    assert s3.list_parts(Bucket=bucket, Key=key, UploadId=upload).get("Parts", []) == []
    guard.check(uploads=1)
    s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload)


def test_server_keeps_serving_after_dropped_bodies(gateway, guard):
    """Many clients vanishing mid-body leave nothing behind and break nothing."""
    target = f"/{guard.bucket}/sentinel.bin"
    headers = sign_v4(gateway.endpoint, "PUT", target, payload_hash="UNSIGNED-PAYLOAD")
    for _ in range(20):
        send(gateway, "PUT", target, headers=headers, body=b"q" * 50_000,
             content_length=1_000_000, end="close")
    guard.check()


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "br", "zstd", "gzip, deflate"])
def test_compressed_bodies_stored_verbatim(gateway, guard, encoding):
    """Content-Encoding describes the object; the body is never inflated on the way in
    (a 10 KB gzip bomb stays 10 KB, and its ETag is the MD5 of what was sent)."""
    import gzip
    bomb = gzip.compress(b"\0" * (20 * 2**20), compresslevel=9)
    key = unique()
    guard.s3.put_object(Bucket=guard.bucket, Key=key, Body=bomb, ContentEncoding=encoding)
    guard.objects[key] = bomb
    head = guard.s3.head_object(Bucket=guard.bucket, Key=key)
    assert head["ContentLength"] == len(bomb)
    assert head["ContentEncoding"] == encoding
    assert head["ETag"] == f'"{hashlib.md5(bomb).hexdigest()}"'
    target = f"/{guard.bucket}/{unique()}"
    headers = sign_v4(gateway.endpoint, "PUT", target, body=b"not compressed at all",
                      headers={"Content-Encoding": encoding})
    reply = send(gateway, "PUT", target, headers=headers, body=b"not compressed at all")
    assert reply.status == 200, reply
    guard.objects[target.rsplit("/", 1)[1]] = b"not compressed at all"
    guard.check()
