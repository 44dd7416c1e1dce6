"""Headers a signature does not cover are refused, as S3 refuses them.

Whoever holds a presigned URL, or replays a captured signed request, can add headers.
An added ``x-amz-copy-source`` must not turn a presigned PUT into a copy of a bucket
the URL never named; added ``x-amz-meta-*`` / ``x-provgate-door`` must not change what
is recorded. S3 answers ``403 AccessDenied`` "There were headers present in the request
which were not signed" with a ``<HeadersNotSigned>`` element; ``host`` must be signed.
"""

from __future__ import annotations

import hashlib
import hmac
import xml.etree.ElementTree as ET
from datetime import datetime, timezone

import pytest
from botocore.auth import HmacV1Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tests.support.hostile import (REGION, assert_error, client_error, host_of, presign_v2,
                                   presign_v4, send, sign_v4, signing_key, unique)
from tests.support.server import ADMIN

NOT_SIGNED = "There were headers present in the request which were not signed"


def _not_signed(reply) -> str:
    """The ``<HeadersNotSigned>`` of a 403 AccessDenied for unsigned headers."""
    assert_error(reply, 403, "AccessDenied")
    root = ET.fromstring(reply.body)
    assert root.findtext("Message") == NOT_SIGNED
    return root.findtext("HeadersNotSigned")


@pytest.fixture
def secret_object(s3):
    """An object in a bucket the attacker's presigned URL never names."""
    name = f"t-secret-{unique()}"
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key="secret.txt", Body=b"the secret payload")
    return name, "secret.txt"


def _absent(s3, bucket: str, key: str) -> None:
    assert client_error(lambda: s3.head_object(Bucket=bucket, Key=key))[0] == 404


def test_presigned_put_with_unsigned_copy_source_is_refused(gateway, s3, secret_object, guard):
    source_bucket, source_key = secret_object
    key = unique("target")
    target = presign_v4(gateway, "PUT", f"/{guard.bucket}/{key}")
    reply = send(gateway, "PUT", target, headers={
        "Host": host_of(gateway.endpoint),
        "x-amz-copy-source": f"/{source_bucket}/{source_key}"})
    assert _not_signed(reply) == "x-amz-copy-source"
    _absent(s3, guard.bucket, key)
    # The same URL without the added header still works: the refusal is the header's.
    ok = send(gateway, "PUT", target, headers={"Host": host_of(gateway.endpoint)}, body=b"mine")
    assert ok.status == 200, ok
    assert s3.get_object(Bucket=guard.bucket, Key=key)["Body"].read() == b"mine"
    guard.objects[key] = b"mine"
    guard.check()


def test_presigned_put_with_unsigned_metadata_and_door_is_refused(gateway, s3, guard):
    key = unique()
    target = presign_v4(gateway, "PUT", f"/{guard.bucket}/{key}")
    host = {"Host": host_of(gateway.endpoint)}
    reply = send(gateway, "PUT", target, body=b"x",
                 headers={**host, "x-amz-meta-prompt": "forged", "X-Provgate-Door": "sidecar"})
    assert _not_signed(reply) == "x-amz-meta-prompt, x-provgate-door"
    _absent(s3, guard.bucket, key)
    # A browser-style upload with an unsigned Content-Type stays allowed (S3 alike).
    ok = send(gateway, "PUT", target, body=b"x", headers={**host, "Content-Type": "text/plain"})
    assert ok.status == 200, ok
    guard.objects[key] = b"x"
    guard.check()


@pytest.mark.parametrize("added", [
    {"x-amz-meta-prompt": "forged"},
    {"x-amz-copy-source": "/elsewhere/secret"},
    {"x-provgate-door": "sidecar"},
    {"x-amz-tagging": "review=approved"},
])
def test_header_signed_request_with_added_header_is_refused(gateway, s3, guard, added):
    key = unique()
    path = f"/{guard.bucket}/{key}"
    headers = sign_v4(gateway, "PUT", path, body=b"body")
    reply = send(gateway, "PUT", path, headers={**headers, **added}, body=b"body")
    assert _not_signed(reply) == next(iter(added)).lower()
    _absent(s3, guard.bucket, key)
    guard.check()


def test_signed_metadata_and_door_still_apply(gateway, s3, guard):
    key = unique()
    path = f"/{guard.bucket}/{key}"
    signed = {"x-amz-meta-prompt": "a lighthouse", "x-provgate-door": "sidecar"}
    reply = send(gateway, "PUT", path, body=b"body",
                 headers=sign_v4(gateway, "PUT", path, body=b"body", headers=signed))
    assert reply.status == 200, reply
    assert s3.head_object(Bucket=guard.bucket, Key=key)["Metadata"]["prompt"] == "a lighthouse"
    guard.objects[key] = b"body"
    guard.check()


def _sign_without_host(gateway, method: str, path: str) -> dict[str, str]:
    """A correct SigV4 header signature whose SignedHeaders leaves out ``host``."""
    now = datetime.now(timezone.utc)
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    payload = hashlib.sha256(b"").hexdigest()
    names = "x-amz-content-sha256;x-amz-date"
    canonical = "\n".join([method, path, "", f"x-amz-content-sha256:{payload}",
                           f"x-amz-date:{stamp}", "", names, payload])
    scope = f"{stamp[:8]}/{REGION}/s3/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", stamp, scope,
                         hashlib.sha256(canonical.encode()).hexdigest()])
    signature = hmac.new(signing_key(ADMIN["secret"], stamp[:8]), to_sign.encode(),
                         hashlib.sha256).hexdigest()
    return {"Host": host_of(gateway.endpoint), "x-amz-date": stamp,
            "x-amz-content-sha256": payload,
            "Authorization": f"AWS4-HMAC-SHA256 Credential={ADMIN['access_key']}/{scope}, "
                             f"SignedHeaders={names}, Signature={signature}"}


def test_host_must_be_signed(gateway, guard):
    path = f"/{guard.bucket}/sentinel.bin"
    reply = send(gateway, "GET", path, headers=_sign_without_host(gateway, "GET", path))
    assert _not_signed(reply) == "host"
    guard.check()


def test_sigv2_presigned_put_with_added_copy_source_is_refused(gateway, s3, secret_object, guard):
    source_bucket, source_key = secret_object
    key = unique()
    target = presign_v2(gateway, "PUT", f"/{guard.bucket}/{key}")
    reply = send(gateway, "PUT", target, headers={
        "Host": host_of(gateway.endpoint), "x-amz-copy-source": f"/{source_bucket}/{source_key}"})
    # SigV2 signs every x-amz-* header present, so the added one breaks the signature.
    assert reply.status == 403 and reply.code in ("SignatureDoesNotMatch", "AccessDenied"), reply
    _absent(s3, guard.bucket, key)
    guard.check()


def test_sigv2_cannot_carry_provgate_headers(gateway, s3, guard):
    """SigV2 has no way to sign an ``x-provgate-*`` header, so none is accepted."""
    key = unique()
    path = f"/{guard.bucket}/{key}"
    request = AWSRequest(method="PUT", url=gateway.endpoint + path, data=b"body",
                         headers={"x-provgate-door": "sidecar"})
    HmacV1Auth(Credentials(ADMIN["access_key"], ADMIN["secret"])).add_auth(request)
    headers = {"Host": host_of(gateway.endpoint), **dict(request.headers.items())}
    assert _not_signed(send(gateway, "PUT", path, headers=headers, body=b"body")) == "x-provgate-door"
    _absent(s3, guard.bucket, key)
    guard.check()
