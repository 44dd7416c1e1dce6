"""Hostile authentication: bad, unknown, missing, expired, tampered and skewed signatures.

Each gets the S3 error AWS gives (403 SignatureDoesNotMatch / InvalidAccessKeyId /
AccessDenied / RequestTimeTooSkewed), nothing is stored, and ``Expect: 100-continue``
is refused before the client sends its body.
"""

from __future__ import annotations

import socket
from datetime import datetime, timedelta, timezone


import pytest
from botocore import UNSIGNED
from botocore.auth import HmacV1Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tests.conftest import client
from tests.support.hostile import (assert_error, connect, client_error, presign_v2, presign_v4,
                                   read_reply, request_head, send, sign_v4, skewed, unique)
from tests.support.server import ADMIN, READER, SCOPED


def _flip(text: str) -> str:
    """Change the last character of a hex signature."""
    return text[:-1] + ("0" if text[-1] != "0" else "1")


def test_wrong_secret_signature_does_not_match(gateway, guard):
    bad = client(gateway.endpoint, {**ADMIN, "secret": "not-the-secret"})
    bucket, key, refused = guard.bucket, "sentinel.bin", (403, "SignatureDoesNotMatch")
    assert client_error(lambda: bad.put_object(Bucket=bucket, Key=unique(), Body=b"x")) == refused
    assert client_error(lambda: bad.put_object(Bucket=bucket, Key=key, Body=b"x")) == refused
    assert client_error(lambda: bad.get_object(Bucket=bucket, Key=key)) == refused
    assert client_error(lambda: bad.delete_object(Bucket=bucket, Key=key)) == refused
    assert client_error(lambda: bad.list_buckets()) == refused
    guard.check()


def test_unknown_access_key(gateway, guard):
    stranger = client(gateway.endpoint, {"access_key": "AKIANOBODY", "secret": "whatever"})
    bucket, refused = guard.bucket, (403, "InvalidAccessKeyId")
    assert client_error(lambda: stranger.put_object(Bucket=bucket, Key=unique(), Body=b"x")) == refused
    assert client_error(lambda: stranger.get_object(Bucket=bucket, Key="sentinel.bin")) == refused
    guard.check()


def test_anonymous_requests_denied(gateway, guard):
    anonymous = client(gateway.endpoint, signature_version=UNSIGNED)
    bucket, refused = guard.bucket, (403, "AccessDenied")
    assert client_error(lambda: anonymous.put_object(Bucket=bucket, Key=unique(), Body=b"x")) == refused
    assert client_error(lambda: anonymous.get_object(Bucket=bucket, Key="sentinel.bin")) == refused
    assert client_error(lambda: anonymous.list_objects_v2(Bucket=bucket)) == refused
    assert client_error(lambda: anonymous.delete_object(Bucket=bucket, Key="sentinel.bin")) == refused
    # A raw request with no Authorization at all (and no x-amz-* headers).
    reply = send(gateway, "PUT", f"/{guard.bucket}/{unique()}", body=b"anonymous",
                 headers={"Host": "x"})
    assert_error(reply, 403, "AccessDenied")
    guard.check()


def test_corrupted_signed_requests(gateway, guard):
    """botocore signs; the test then corrupts exactly one thing before sending."""
    bucket = guard.bucket
    key = unique()
    target = f"/{bucket}/{key}"
    body = b"payload bytes"

    def signed(**extra):
        return sign_v4(gateway.endpoint, "PUT", target, body=body,
                       headers={"x-amz-meta-color": "blue", **extra})

    # Control: uncorrupted, it is stored.
    control = unique("control")
    headers = sign_v4(gateway.endpoint, "PUT", f"/{bucket}/{control}", body=body)
    assert send(gateway, "PUT", f"/{bucket}/{control}", headers=headers, body=body).status == 200
    guard.objects[control] = body

    headers = signed()
    headers["Authorization"] = _flip(headers["Authorization"])
    assert_error(send(gateway, "PUT", target, headers=headers, body=body), 403, "SignatureDoesNotMatch")

    headers = signed()
    headers["x-amz-meta-color"] = "red"                       # a signed header changed
    assert_error(send(gateway, "PUT", target, headers=headers, body=body), 403, "SignatureDoesNotMatch")

    headers = signed()                                        # another key than signed
    assert_error(send(gateway, "PUT", f"/{bucket}/sentinel.bin", headers=headers, body=body),
                 403, "SignatureDoesNotMatch")

    headers = signed()                                        # another method than signed
    assert_error(send(gateway, "DELETE", f"/{bucket}/sentinel.bin", headers=headers),
                 403, "SignatureDoesNotMatch")

    headers = signed()                                        # a query parameter added
    assert_error(send(gateway, "PUT", target + "?tagging", headers=headers, body=body),
                 403, "SignatureDoesNotMatch")

    headers = signed()
    headers["Authorization"] = headers["Authorization"].replace(
        "/us-east-1/", "/eu-west-1/")                          # wrong region in the scope
    assert_error(send(gateway, "PUT", target, headers=headers, body=body),
                 400, "AuthorizationHeaderMalformed")

    headers = signed()
    headers["Authorization"] = headers["Authorization"].split(", Signature=")[0]
    assert_error(send(gateway, "PUT", target, headers=headers, body=body),
                 400, "AuthorizationHeaderMalformed")
    guard.check()


def test_sigv2_header_bad_signature(gateway, guard):
    key = unique()
    request = AWSRequest(method="PUT", url=f"{gateway.endpoint}/{guard.bucket}/{key}",
                         headers={"Content-Type": "text/plain",
                                  "Host": gateway.endpoint.split("//")[1]}, data=b"v2 body")
    HmacV1Auth(Credentials(ADMIN["access_key"], ADMIN["secret"])).add_auth(request)
    headers = dict(request.headers.items())
    good = send(gateway, "PUT", f"/{guard.bucket}/{key}", headers=headers, body=b"v2 body")
    assert good.status == 200, good
    guard.objects[key] = b"v2 body"
    headers["Content-Type"] = "text/html"
    assert_error(send(gateway, "PUT", f"/{guard.bucket}/{unique()}", headers=headers,
                      body=b"v2 body"), 403, "SignatureDoesNotMatch")
    headers["Authorization"] = headers["Authorization"][:-3] + "AAA"
    assert_error(send(gateway, "PUT", f"/{guard.bucket}/{key}", headers=headers,
                      body=b"other"), 403, "SignatureDoesNotMatch")
    guard.check()


@pytest.mark.parametrize("minutes", [-20, 20, -60 * 24])
def test_clock_skew(gateway, guard, minutes):
    target = f"/{guard.bucket}/{unique()}"
    headers = sign_v4(gateway.endpoint, "PUT", target, body=b"late", when=skewed(minutes))
    assert_error(send(gateway, "PUT", target, headers=headers, body=b"late"),
                 403, "RequestTimeTooSkewed")
    headers = sign_v4(gateway.endpoint, "GET", f"/{guard.bucket}/sentinel.bin", when=skewed(minutes))
    assert_error(send(gateway, "GET", f"/{guard.bucket}/sentinel.bin", headers=headers),
                 403, "RequestTimeTooSkewed")
    guard.check()


def test_small_clock_skew_accepted(gateway, guard):
    key = unique()
    headers = sign_v4(gateway.endpoint, "PUT", f"/{guard.bucket}/{key}", body=b"ok", when=skewed(-5))
    assert send(gateway, "PUT", f"/{guard.bucket}/{key}", headers=headers, body=b"ok").status == 200
    guard.objects[key] = b"ok"
    guard.check()


def _other_second(timestamp: str) -> str:
    """The same X-Amz-Date one second off (``...HHMMSSZ``)."""
    seconds = int(timestamp[-3:-1])
    return f"{timestamp[:-3]}{(seconds + 1) % 60:02d}Z"


def _get(gateway, target: str):
    return send(gateway, "GET", target, headers={"Host": gateway.endpoint.split("//")[1]})


def test_presigned_v4_expired(gateway, guard):
    target = f"/{guard.bucket}/sentinel.bin"
    fresh = presign_v4(gateway.endpoint, "GET", target, expires=60)
    assert _get(gateway, fresh).body == guard.objects["sentinel.bin"]
    old = presign_v4(gateway.endpoint, "GET", target, expires=60,
                     when=datetime.now(timezone.utc) - timedelta(hours=2))
    assert_error(_get(gateway, old), 403, "AccessDenied")
    put_target = f"/{guard.bucket}/{unique()}"
    old_put = presign_v4(gateway.endpoint, "PUT", put_target, expires=60,
                         when=datetime.now(timezone.utc) - timedelta(minutes=5))
    reply = send(gateway, "PUT", old_put, body=b"too late",
                 headers={"Host": gateway.endpoint.split("//")[1]})
    assert_error(reply, 403, "AccessDenied")
    guard.check()


def test_presigned_v2_expired(gateway, guard):
    target = f"/{guard.bucket}/sentinel.bin"
    assert _get(gateway, presign_v2(gateway.endpoint, "GET", target)).status == 200
    assert_error(_get(gateway, presign_v2(gateway.endpoint, "GET", target, expires=-60)),
                 403, "AccessDenied")
    guard.check()


def test_presigned_v4_tampered(gateway, guard):
    bucket = guard.bucket
    target = f"/{bucket}/sentinel.bin"
    url = presign_v4(gateway.endpoint, "GET", target, expires=300)
    path, query = url.split("?", 1)
    params = dict(p.split("=", 1) for p in query.split("&"))
    tampered = {
        "other key": f"/{bucket}/dir/nested%20sentinel%20%C3%A9.txt?{query}",
        "longer expiry": url.replace(f"X-Amz-Expires={params['X-Amz-Expires']}", "X-Amz-Expires=604800"),
        "signature": url.replace(params["X-Amz-Signature"], _flip(params["X-Amz-Signature"])),
        "extra parameter": url + "&response-content-type=text%2Fhtml",
        "other date": url.replace(params["X-Amz-Date"], _other_second(params["X-Amz-Date"])),
    }
    for name, bad in tampered.items():
        assert_error(_get(gateway, bad), 403, "SignatureDoesNotMatch")
    # A presigned GET reused as a PUT or DELETE.
    reply = send(gateway, "PUT", url, body=b"overwrite", headers={"Host": gateway.endpoint.split("//")[1]})
    assert_error(reply, 403, "SignatureDoesNotMatch")
    reply = send(gateway, "DELETE", url, headers={"Host": gateway.endpoint.split("//")[1]})
    assert_error(reply, 403, "SignatureDoesNotMatch")
    guard.check()


def test_presigned_put_tampered_stores_nothing(gateway, guard):
    key = unique()
    url = presign_v4(gateway.endpoint, "PUT", f"/{guard.bucket}/{key}", expires=300)
    other = url.replace(f"/{key}?", f"/{key}-evil?")
    host = {"Host": gateway.endpoint.split("//")[1]}
    assert_error(send(gateway, "PUT", other, body=b"evil", headers=host), 403, "SignatureDoesNotMatch")
    assert send(gateway, "PUT", url, body=b"good", headers=host).status == 200
    guard.objects[key] = b"good"
    guard.check()


def test_presigned_v2_tampered(gateway, guard):
    target = f"/{guard.bucket}/sentinel.bin"
    url = presign_v2(gateway.endpoint, "GET", target)
    other = url.replace("/sentinel.bin?", "/dir/nested%20sentinel%20%C3%A9.txt?")
    assert_error(_get(gateway, other), 403, "SignatureDoesNotMatch")
    expires = [p for p in url.split("?")[1].split("&") if p.startswith("Expires=")][0]
    later = url.replace(expires, f"Expires={int(expires[8:]) + 1000}")
    assert_error(_get(gateway, later), 403, "SignatureDoesNotMatch")
    guard.check()


def test_wrong_role_and_bucket_scope(gateway, guard):
    reader = client(gateway.endpoint, READER)
    bucket, key, refused = guard.bucket, "sentinel.bin", (403, "AccessDenied")
    assert reader.get_object(Bucket=bucket, Key=key)["Body"].read()
    assert client_error(lambda: reader.put_object(Bucket=bucket, Key=key, Body=b"x")) == refused
    assert client_error(lambda: reader.delete_object(Bucket=bucket, Key=key)) == refused
    scoped = client(gateway.endpoint, SCOPED)
    assert client_error(lambda: scoped.put_object(Bucket=bucket, Key=unique(), Body=b"x")) == refused
    assert client_error(lambda: scoped.get_object(Bucket=bucket, Key=key)) == refused
    guard.check()


# --- Expect: 100-continue -------------------------------------------------------------

def _read_head(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        piece = sock.recv(65536)
        if not piece:
            break
        data += piece
    return data


def _expect_request(gateway, target: str, headers: dict, length: int):
    sock = connect(gateway, timeout=10)
    sock.sendall(request_head("PUT", target, {**headers, "Content-Length": str(length),
                                               "Expect": "100-continue"}))
    return sock


BIG = 8 * 2**20


@pytest.mark.parametrize("fault", ["bad-signature", "unknown-key", "anonymous", "skewed",
                                   "reader-role"])
def test_expect_continue_refused_before_body(gateway, guard, fault):
    key = unique()
    target = f"/{guard.bucket}/{key}"
    identity = {"unknown-key": {"access_key": "AKIANOBODY", "secret": "x"},
                "reader-role": READER}.get(fault, ADMIN)
    headers = sign_v4(gateway.endpoint, "PUT", target, identity=identity,
                      payload_hash="UNSIGNED-PAYLOAD",
                      when=skewed(30) if fault == "skewed" else None)
    if fault == "bad-signature":
        headers["Authorization"] = _flip(headers["Authorization"])
    if fault == "anonymous":
        headers = {"Host": headers["Host"]}
    expected = {"bad-signature": "SignatureDoesNotMatch", "unknown-key": "InvalidAccessKeyId",
                "anonymous": "AccessDenied", "skewed": "RequestTimeTooSkewed",
                "reader-role": "AccessDenied"}[fault]
    sock = _expect_request(gateway, target, headers, BIG)
    try:
        # Not one body byte is sent: the answer must come anyway, and it is the error.
        reply = read_reply(sock, "PUT")
    finally:
        sock.close()
    assert_error(reply, 403, expected)
    assert reply.will_close
    guard.check()


def test_expect_continue_accepted_then_body(gateway, guard):
    """Control: a good signature gets ``100 Continue`` and only then the body is sent."""
    key = unique()
    target = f"/{guard.bucket}/{key}"
    body = b"z" * 100_000
    headers = sign_v4(gateway.endpoint, "PUT", target, body=body)
    sock = _expect_request(gateway, target, headers, len(body))
    try:
        head = _read_head(sock)
        assert head.startswith(b"HTTP/1.1 100"), head
        assert head.endswith(b"\r\n\r\n") and head.count(b"\r\n\r\n") == 1, head
        sock.sendall(body)
        reply = read_reply(sock, "PUT")
    finally:
        sock.close()
    assert reply.status == 200, reply
    guard.objects[key] = body
    guard.check()


def test_expect_continue_bad_body_header_refused_before_body(gateway, guard):
    """Headers that describe the body (Content-MD5) are checked before 100 Continue."""
    target = f"/{guard.bucket}/{unique()}"
    headers = sign_v4(gateway.endpoint, "PUT", target, payload_hash="UNSIGNED-PAYLOAD",
                      headers={"Content-MD5": "not-base64!!"})
    sock = _expect_request(gateway, target, headers, BIG)
    try:
        reply = read_reply(sock, "PUT")
    finally:
        sock.close()
    assert_error(reply, 400, "InvalidDigest")
    guard.check()
