"""Smaller hostile inputs: header injection through response-*, keys with a newline,
Range values with non-ASCII digits."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from tests.support.hostile import assert_error, quote_key, send, sign_v4, unique


@pytest.mark.parametrize("value", ["text/html\r\nX-Injected: 1", "text/html\nX-Injected: 1",
                                   "text/html\rX", "a\x00b"])
def test_control_characters_in_response_overrides_are_refused(gateway, guard, value):
    target = (f"/{guard.bucket}/sentinel.bin?response-content-type="
              + quote_key(value).replace("/", "%2F"))
    reply = send(gateway, "GET", target, headers=sign_v4(gateway, "GET", target))
    assert_error(reply, 400, "InvalidArgument")
    assert "x-injected" not in reply.headers
    assert ET.fromstring(reply.body).findtext("ArgumentName") == "response-content-type"
    guard.check()


def test_plain_response_override_still_applies(gateway, guard):
    target = f"/{guard.bucket}/sentinel.bin?response-content-type=text%2Fplain%3B%20charset%3Dutf-8"
    reply = send(gateway, "GET", target, headers=sign_v4(gateway, "GET", target))
    assert reply.status == 200 and reply.headers["content-type"] == "text/plain; charset=utf-8"


@pytest.mark.parametrize("method", ["PUT", "GET", "HEAD", "DELETE"])
def test_key_with_a_newline_gets_an_s3_answer(gateway, s3, guard, method):
    key = unique("line") + "\nbreak"
    target = f"/{guard.bucket}/{quote_key(key)}"
    body = b"newline key" if method == "PUT" else b""
    reply = send(gateway, method, target, body=body,
                 headers=sign_v4(gateway, method, target, body=body))
    assert reply.headers.get("x-amz-request-id"), reply      # provgate answered, not the router
    if method == "PUT":
        assert reply.status == 200, reply
        assert s3.get_object(Bucket=guard.bucket, Key=key)["Body"].read() == body
        s3.delete_object(Bucket=guard.bucket, Key=key)
    elif method == "GET":
        assert_error(reply, 404, "NoSuchKey")
    elif method == "HEAD":
        assert reply.status == 404
    guard.check()


@pytest.mark.parametrize("value", ["bytes=\u0661-\u0662", "bytes=\uff11-\uff12",
                                   "bytes=0-\u0663", "bytes=\U0001d7d8-\U0001d7d9"])
def test_range_accepts_only_ascii_digits(gateway, guard, value):
    target = f"/{guard.bucket}/sentinel.bin"
    for method in ("GET", "HEAD"):
        headers = {**sign_v4(gateway, method, target), "Range": value}
        reply = send(gateway, method, target, headers=headers)
        # A Range it cannot read is ignored, as S3 does: the whole object, never a part.
        assert reply.status == 200, reply
        assert reply.headers["content-length"] == str(len(guard.objects["sentinel.bin"]))
    guard.check()
