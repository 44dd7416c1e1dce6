"""Presigned URLs from boto3, fetched with a plain HTTP client: SigV4 and boto3's default
SigV2 query form, for GET and PUT; expired and tampered URLs are refused."""

from __future__ import annotations

import datetime
import importlib
from urllib.parse import parse_qs, urlsplit

import botocore.auth
import pytest

from tests.conftest import client
from tests.support.functional import http_request, payload, quoted_md5

FORMS = ["s3v4", "default"]
KEYS = ["plain.txt", "dir/with space+plus&amp é 日本 😀.bin"]


def presigner(gateway, form: str):
    if form == "s3v4":
        return client(gateway.endpoint, signature_version="s3v4")
    return client(gateway.endpoint)


def check_form(url: str, form: str) -> None:
    query = parse_qs(urlsplit(url).query)
    if form == "s3v4":
        assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    else:  # boto3's default presigned form is SigV2 query auth
        assert {"AWSAccessKeyId", "Signature", "Expires"} <= query.keys()


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("key", KEYS)
def test_presigned_get(gateway, s3, bucket, form, key):
    data = payload(50_000, seed=len(key))
    s3.put_object(Bucket=bucket, Key=key, Body=data, ContentType="image/png")
    url = presigner(gateway, form).generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=300)
    check_form(url, form)
    reply = http_request(url)
    assert reply.status == 200, reply.body
    assert reply.body == data
    assert reply.headers["ETag"] == quoted_md5(data)
    assert reply.headers["Content-Type"] == "image/png"


@pytest.mark.parametrize("form", FORMS)
def test_presigned_get_with_response_overrides_and_range(gateway, s3, bucket, form):
    data = payload(1000, seed=1)
    s3.put_object(Bucket=bucket, Key="o", Body=data)
    url = presigner(gateway, form).generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "o",
                              "ResponseContentDisposition": 'attachment; filename="x y.png"',
                              "ResponseContentType": "image/png"}, ExpiresIn=300)
    reply = http_request(url, headers={"Range": "bytes=10-19"})
    assert reply.status == 206
    assert reply.body == data[10:20]
    assert reply.headers["Content-Disposition"] == 'attachment; filename="x y.png"'
    assert reply.headers["Content-Type"] == "image/png"


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("key", KEYS)
def test_presigned_put(gateway, s3, bucket, form, key):
    data = payload(70_000, seed=9)
    url = presigner(gateway, form).generate_presigned_url(
        "put_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=300)
    check_form(url, form)
    reply = http_request(url, "PUT", data)
    assert reply.status == 200, reply.body
    assert reply.headers["ETag"] == quoted_md5(data)
    got = s3.get_object(Bucket=bucket, Key=key)
    assert got["Body"].read() == data
    assert got["ETag"] == quoted_md5(data)
    # The URL's own expiry (SigV2 `Expires=`) is not an Expires header of the object.
    assert "expires" not in got["ResponseMetadata"]["HTTPHeaders"]
    assert got["Metadata"] == {}


@pytest.mark.parametrize("form", FORMS)
def test_presigned_put_with_signed_content_type(gateway, s3, bucket, form):
    url = presigner(gateway, form).generate_presigned_url(
        "put_object", Params={"Bucket": bucket, "Key": "typed", "ContentType": "text/csv"},
        ExpiresIn=300)
    reply = http_request(url, "PUT", b"a,b\n1,2\n", headers={"Content-Type": "text/csv"})
    assert reply.status == 200, reply.body
    assert s3.head_object(Bucket=bucket, Key="typed")["ContentType"] == "text/csv"


@pytest.mark.parametrize("form", FORMS)
def test_presigned_head_and_delete(gateway, s3, bucket, form):
    s3.put_object(Bucket=bucket, Key="h", Body=b"12345")
    signer = presigner(gateway, form)
    head = http_request(signer.generate_presigned_url(
        "head_object", Params={"Bucket": bucket, "Key": "h"}, ExpiresIn=300), "HEAD")
    assert head.status == 200 and head.headers["Content-Length"] == "5"
    delete = http_request(signer.generate_presigned_url(
        "delete_object", Params={"Bucket": bucket, "Key": "h"}, ExpiresIn=300), "DELETE")
    assert delete.status == 204
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def signed_at(gateway, monkeypatch, operation: str, params: dict, *,
              offset: datetime.timedelta, expires_in: int) -> str:
    """A SigV4 URL whose X-Amz-Date is ``offset`` away from now (botocore signs with awscrt
    when it is installed, so both clocks are moved)."""
    signing_time = datetime.datetime.now(datetime.timezone.utc) + offset

    def clock(remove_tzinfo=True):
        return signing_time.replace(tzinfo=None) if remove_tzinfo else signing_time

    monkeypatch.setattr(botocore.auth, "get_current_datetime", clock)
    if botocore.auth.HAS_CRT:
        monkeypatch.setattr(importlib.import_module("botocore.crt.auth"), "get_current_datetime", clock)
    url = presigner(gateway, "s3v4").generate_presigned_url(operation, Params=params,
                                                             ExpiresIn=expires_in)
    monkeypatch.undo()
    assert f"X-Amz-Date={signing_time:%Y%m%dT%H%M}" in url
    return url


def signed_an_hour_ago(gateway, monkeypatch, operation: str, params: dict) -> str:
    """A SigV4 URL signed an hour ago for 60 seconds."""
    return signed_at(gateway, monkeypatch, operation, params,
                     offset=-datetime.timedelta(hours=1), expires_in=60)


def test_presigned_v4_expired(gateway, s3, bucket, monkeypatch):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    url = signed_an_hour_ago(gateway, monkeypatch, "get_object", {"Bucket": bucket, "Key": "k"})
    reply = http_request(url)
    assert reply.status == 403
    assert reply.error_code == "AccessDenied"
    assert b"x" != reply.body


def test_presigned_v2_expired(gateway, s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    url = presigner(gateway, "default").generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "k"}, ExpiresIn=-60)
    check_form(url, "default")
    reply = http_request(url)
    assert reply.status == 403
    assert reply.error_code == "AccessDenied"


def _tamper_signature(url: str, name: str) -> str:
    base, _, query = url.partition("?")
    parts = []
    for part in query.split("&"):
        k, _, v = part.partition("=")
        if k == name:
            v = ("0" if v[0] != "0" else "1") + v[1:]  # a real change in hex and base64
        parts.append(f"{k}={v}")
    return base + "?" + "&".join(parts)


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("tamper", ["signature", "key", "expires", "method"])
def test_presigned_tampered(gateway, s3, bucket, form, tamper):
    s3.put_object(Bucket=bucket, Key="k", Body=b"original")
    s3.put_object(Bucket=bucket, Key="other", Body=b"other")
    url = presigner(gateway, form).generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "k"}, ExpiresIn=300)
    method, body = "GET", None
    if tamper == "signature":
        url = _tamper_signature(url, "X-Amz-Signature" if form == "s3v4" else "Signature")
    elif tamper == "key":
        url = url.replace(f"/{bucket}/k?", f"/{bucket}/other?")
    elif tamper == "expires":
        if form == "s3v4":
            url = url.replace("X-Amz-Expires=300", "X-Amz-Expires=301")
        else:
            query = parse_qs(urlsplit(url).query)
            expires = query["Expires"][0]
            url = url.replace(f"Expires={expires}", f"Expires={int(expires) + 1}")
    else:
        method, body = "PUT", b"overwritten"
    reply = http_request(url, method, body)
    assert reply.status == 403
    assert reply.error_code == "SignatureDoesNotMatch"
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"original"


# -- how long a presigned URL may live ------------------------------------------------------------


def _error_message(reply) -> str:
    return reply.xml().findtext("Message") or ""


@pytest.mark.parametrize("expires_in", [0, -7, 604801, 10 * 604800])
def test_presigned_v4_expiry_out_of_range(gateway, s3, bucket, expires_in):
    s3.put_object(Bucket=bucket, Key="k", Body=b"secret")
    signer = presigner(gateway, "s3v4")
    if expires_in > 0:
        url = signer.generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": "k"}, ExpiresIn=expires_in)
    else:  # botocore will not sign these; the range is checked before the signature
        url = signer.generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": "k"}, ExpiresIn=300)
        url = url.replace("X-Amz-Expires=300&", f"X-Amz-Expires={expires_in}&")
    assert f"X-Amz-Expires={expires_in}&" in url
    reply = http_request(url)
    assert (reply.status, reply.error_code) == (403, "AuthorizationQueryParametersError")
    assert b"secret" not in reply.body


def test_presigned_v4_expiry_bounds_are_allowed(gateway, s3, bucket, monkeypatch):
    s3.put_object(Bucket=bucket, Key="k", Body=b"body")
    # A one-second URL signed now lives until the end of the next whole second, which a
    # loaded machine can miss; signed a minute ahead (inside the allowed clock skew) its
    # second is still to come when the request arrives.
    for expires_in in (1, 604800):
        url = signed_at(gateway, monkeypatch, "get_object", {"Bucket": bucket, "Key": "k"},
                        offset=datetime.timedelta(minutes=1), expires_in=expires_in)
        assert f"X-Amz-Expires={expires_in}&" in url
        reply = http_request(url)
        assert (reply.status, reply.body) == (200, b"body")


def test_presigned_v4_malformed_expiry(gateway, s3, bucket):
    url = presigner(gateway, "s3v4").generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "k"}, ExpiresIn=300)
    reply = http_request(url.replace("X-Amz-Expires=300", "X-Amz-Expires=5m"))
    assert (reply.status, reply.error_code) == (400, "AuthorizationQueryParametersError")


def test_presigned_v4_expired_says_so(gateway, s3, bucket, monkeypatch):
    url = signed_an_hour_ago(gateway, monkeypatch, "put_object",
                             {"Bucket": bucket, "Key": "late"})
    reply = http_request(url, "PUT", b"too late")
    assert (reply.status, reply.error_code) == (403, "AccessDenied")
    assert _error_message(reply) == "Request has expired"
    assert reply.xml().findtext("X-Amz-Expires") == "60"
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_presigned_v2_expiry_is_capped_at_a_week(gateway, s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"secret")
    signer = presigner(gateway, "default")
    too_far = signer.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "k"}, ExpiresIn=604800 + 3600)
    check_form(too_far, "default")
    reply = http_request(too_far)
    assert (reply.status, reply.error_code) == (403, "AuthorizationQueryParametersError")
    assert b"secret" not in reply.body
    within = signer.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "k"}, ExpiresIn=604800 - 3600)
    assert http_request(within).body == b"secret"
