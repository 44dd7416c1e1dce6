"""Hostile headers: oversized lines and sections, too many headers, smuggling framing,
too much user metadata, absurd lengths, non-HTTP bytes; unknown x-amz-* headers are
tolerated.

Two layers answer oversized headers. aiohttp's HTTP parser bounds every line (request
line, each header field: ``[server] max_header_bytes``) and the header count (128): over
those it answers a plain-text 400 and closes the connection, before any provgate code
runs (aiohttp offers no public hook to render that answer as S3 XML). Under them, the S3
layer bounds the whole header section and answers S3 XML ``RequestHeaderSectionTooLarge``.
"""

from __future__ import annotations

import socket

import pytest

from tests.support.hostile import (ConnectionDropped, assert_error, connect, client_error,
                                   exchange, read_reply, request_head, send, sign_v4, unique)


def _signed_put(gateway, target: str, extra: dict, body: bytes = b"data"):
    headers = sign_v4(gateway.endpoint, "PUT", target, body=body, headers=extra)
    return send(gateway, "PUT", target, headers=headers, body=body)


def _parser_refusal(reply) -> None:
    """aiohttp's parser-level answer: 400, connection closed (plain text, not S3 XML)."""
    assert reply.status == 400, reply
    assert reply.will_close
    assert reply.code in (None, "RequestHeaderSectionTooLarge"), reply


# --- parser-level limits ----------------------------------------------------------------

@pytest.mark.parametrize("key", ["new", "sentinel.bin"])
def test_single_20kb_header(gateway, guard, key):
    key = unique() if key == "new" else key
    reply = _signed_put(gateway, f"/{guard.bucket}/{key}", {"X-Junk": "a" * 20_000})
    _parser_refusal(reply)
    reply = _signed_put(gateway, f"/{guard.bucket}/{key}", {"x-amz-meta-big": "a" * 20_000})
    _parser_refusal(reply)
    guard.check()


def test_200_headers(gateway, guard):
    extra = {f"X-Junk-{i:03d}": "v" for i in range(200)}
    _parser_refusal(_signed_put(gateway, f"/{guard.bucket}/{unique()}", extra))
    extra = {f"x-amz-meta-m{i:03d}": "v" for i in range(200)}
    _parser_refusal(_signed_put(gateway, f"/{guard.bucket}/sentinel.bin", extra))
    guard.check()


def test_long_request_line(gateway, guard):
    target = f"/{guard.bucket}/" + "k" * 20_000
    reply = send(gateway, "GET", target, headers={"Host": "x"})
    assert reply.status in (400, 414) and reply.will_close, reply
    guard.check()


@pytest.mark.parametrize("header", [b"X-Junk: a\x00b", b"X-Junk a", b"X Junk: a", b": empty",
                                    b"X-Junk: a\rb"])
def test_malformed_header_line(gateway, guard, header):
    target = f"/{guard.bucket}/sentinel.bin"
    reply = exchange(gateway, "PUT", f"PUT {target} HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
                     .encode() + header + b"\r\n\r\nevil")
    assert reply.status == 400 and reply.will_close, reply
    guard.check()


@pytest.mark.parametrize("framing, named", [
    ("Content-Length: 4\r\nContent-Length: 5", b"Content-Length"),
    ("Content-Length: 4\r\nTransfer-Encoding: chunked", b"Transfer-Encoding"),
    ("Transfer-Encoding: chunked\r\nTransfer-Encoding: identity", b"Transfer-Encoding"),
    ("Content-Length: -4", b"Content-Length"),
    ("Content-Length: 4x", b"Content-Length"),
    ("Transfer-Encoding: gzip", b"Transfer-Encoding"),
])
def test_ambiguous_framing_refused(gateway, guard, framing, named):
    """Request-smuggling shapes: the client gets one 400 Bad Request naming the framing
    header, the connection ends there (the request hidden behind the body is never
    answered), nothing is stored. The refusal comes from the HTTP parser, before S3 is
    reached, so it is a plain-text reason rather than an S3 error document."""
    target = f"/{guard.bucket}/sentinel.bin"
    headers = sign_v4(gateway.endpoint, "PUT", target, payload_hash="UNSIGNED-PAYLOAD")
    head = request_head("PUT", target, headers)[:-2] + framing.encode() + b"\r\n\r\n"
    sock = connect(gateway)
    received = b""
    try:
        sock.sendall(head + b"4\r\nevil\r\n0\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n")
        while chunk := sock.recv(65536):        # until the server closes the connection
            received += chunk
    finally:
        sock.close()
    status_line, _, rest = received.partition(b"\r\n")
    assert status_line.split(b" ", 1)[1] == b"400 Bad Request", received[:500]
    assert received.count(b"HTTP/1.") == 1, "the smuggled request was answered"
    reason = rest.partition(b"\r\n\r\n")[2]
    assert named in reason, received[:500]
    guard.check()


def test_not_http_at_all(gateway, guard):
    for garbage in [b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 200,
                    b"GARBAGE\r\n\r\n", b"\r\n" * 1000, b"GET\r\n\r\n"]:
        sock = connect(gateway, timeout=10)
        try:
            sock.sendall(garbage)
            sock.shutdown(socket.SHUT_WR)
            try:
                reply = read_reply(sock, "GET")
                assert reply.status == 400, reply
            except ConnectionDropped:
                pass
        finally:
            sock.close()
    guard.check()


# --- S3-level limits ----------------------------------------------------------------------

def test_large_header_section_is_s3_error(gateway, guard):
    """Each header is small, but together they exceed the header section limit."""
    extra = {f"X-Junk-{i:03d}": "v" * 1000 for i in range(60)}
    for key in (unique(), "sentinel.bin"):
        reply = _signed_put(gateway, f"/{guard.bucket}/{key}", extra)
        assert_error(reply, 400, "RequestHeaderSectionTooLarge")
    guard.check()


def test_metadata_too_large(guard):
    s3, bucket = guard.s3, guard.bucket
    too_big = [{"big": "v" * 2046}, {f"k{i:02d}": "v" * 100 for i in range(20)},
               {"n" * 1500: "v" * 549}]
    for metadata in too_big:
        for key in (unique(), "sentinel.bin"):
            assert client_error(lambda: s3.put_object(Bucket=bucket, Key=key, Body=b"x",
                                                Metadata=metadata)) == (400, "MetadataTooLarge")
        assert client_error(lambda: s3.create_multipart_upload(Bucket=bucket, Key=unique(),
                                                         Metadata=metadata)) == (400, "MetadataTooLarge")
        assert client_error(lambda: s3.copy_object(
            Bucket=bucket, Key=unique(), CopySource={"Bucket": bucket, "Key": "sentinel.bin"},
            MetadataDirective="REPLACE", Metadata=metadata)) == (400, "MetadataTooLarge")
    # Exactly 2 KB (names without the prefix, plus values) is allowed.
    key = unique()
    s3.put_object(Bucket=bucket, Key=key, Body=b"fits", Metadata={"big": "v" * 2045})
    guard.objects[key] = b"fits"
    assert s3.head_object(Bucket=bucket, Key=key)["Metadata"] == {"big": "v" * 2045}
    guard.check()


def test_declared_length_over_5gib(gateway, guard):
    """A PUT declaring more than S3's 5 GiB maximum is refused before its body."""
    target = f"/{guard.bucket}/{unique()}"
    headers = sign_v4(gateway.endpoint, "PUT", target, payload_hash="UNSIGNED-PAYLOAD")
    reply = exchange(gateway, "PUT", request_head(
        "PUT", target, {**headers, "Content-Length": str(6 * 2**30), "Expect": "100-continue"}),
        timeout=10)
    assert_error(reply, 400, "EntityTooLarge")
    guard.check()


def test_absurd_content_length(gateway, guard):
    target = f"/{guard.bucket}/{unique()}"
    headers = sign_v4(gateway.endpoint, "PUT", target, payload_hash="UNSIGNED-PAYLOAD")
    sock = connect(gateway, timeout=10)
    try:
        sock.sendall(request_head("PUT", target, {**headers, "Content-Length": "9" * 40}))
        try:
            sock.sendall(b"tiny")
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # already refused and closed
        try:
            reply = read_reply(sock, "PUT")
            assert reply.status == 400, reply
        except ConnectionDropped:
            pass
    finally:
        sock.close()
    guard.check()


UNKNOWN_HEADERS = {
    "x-amz-te": "append-md5",
    "x-amz-checksum-mode": "ENABLED",
    "x-amz-expected-bucket-owner": "123456789012",
    "x-amz-request-payer": "requester",
    "x-amz-storage-class": "STANDARD",
    "x-amz-acl": "private",
    "x-amz-future-feature": "whatever",
    "x-amz-user-agent": "aws-sdk-java/2.0",
    "x-amz-bucket-object-lock-enabled": "false",
    "amz-sdk-invocation-id": "b3d1b1b0-1111-2222-3333-444455556666",
    "amz-sdk-request": "attempt=1; max=3",
}


def test_unknown_amz_headers_tolerated(gateway, guard):
    bucket = guard.bucket
    key = unique()
    body = b"tolerant"
    for method, target, payload in [("PUT", f"/{bucket}/{key}", body),
                                    ("GET", f"/{bucket}/{key}", b""),
                                    ("HEAD", f"/{bucket}/{key}", b""),
                                    ("GET", f"/{bucket}?list-type=2", b""),
                                    ("GET", "/", b""),
                                    ("HEAD", f"/{bucket}", b"")]:
        headers = sign_v4(gateway.endpoint, method, target, body=payload, headers=UNKNOWN_HEADERS)
        reply = send(gateway, method, target, headers=headers, body=payload)
        assert reply.status == 200, (method, target, reply)
    guard.objects[key] = body
    guard.s3.put_object(Bucket=bucket, Key=unique("sdk"), Body=b"x", ChecksumAlgorithm="CRC32")
    guard.objects.update({k: b"x" for k in guard.listing() if k.startswith("sdk-")})
    guard.check()


def test_refused_copy_leaves_nothing(guard):
    s3, bucket = guard.s3, guard.bucket
    source = {"Bucket": bucket, "Key": "sentinel.bin"}
    too_many_tags = "&".join(f"t{i}=v" for i in range(11))
    for key in (unique(), "dir/nested sentinel é.txt"):
        assert client_error(lambda: s3.copy_object(Bucket=bucket, Key=key, CopySource=source,
                                             TaggingDirective="REPLACE",
                                             Tagging=too_many_tags)) == (400, "InvalidTag")
        assert client_error(lambda: s3.copy_object(Bucket=bucket, Key=key, CopySource=source,
                                             MetadataDirective="REPLACE",
                                             Metadata={"m": "v" * 3000})) == (400, "MetadataTooLarge")
    guard.check()


def test_put_without_content_length(gateway, guard):
    """No Content-Length and no Transfer-Encoding: 411 MissingContentLength, as S3 says,
    rather than an empty object silently replacing the stored one."""
    for key in (unique(), "sentinel.bin"):
        target = f"/{guard.bucket}/{key}"
        headers = sign_v4(gateway.endpoint, "PUT", target, payload_hash="UNSIGNED-PAYLOAD")
        reply = exchange(gateway, "PUT", request_head("PUT", target, headers), timeout=10)
        assert_error(reply, 411, "MissingContentLength")
    guard.check()
