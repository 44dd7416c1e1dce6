"""Admin listener authentication: /api/v1 answers identities only, as the S3 door does.

Each hostile case is a real HTTP request to a running ``provgate serve``: no
credentials, a wrong secret, an unknown key, a tampered SigV4 request, a role too low,
a bucket outside the caller's scope. ``/metrics``, ``/healthz`` and ``/readyz`` stay open.
"""

from __future__ import annotations

import base64
import hashlib
import json
import urllib.request

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tests.support.admin import admin_call, admin_json
from tests.support.server import ADMIN, READER, SCOPED, WRITER

BASIC_REALM = 'Basic realm="provgate"'


def signed(server, method: str, path: str, identity: dict, body: bytes = b"",
           secret: str | None = None) -> urllib.request.Request:
    """A request signed with SigV4 by botocore, as an AWS SDK signs it."""
    url = f"{server.admin}{path}"
    aws = AWSRequest(method=method, url=url, data=body,
                     headers={"x-amz-content-sha256": hashlib.sha256(body).hexdigest()})
    SigV4Auth(Credentials(identity["access_key"], secret or identity["secret"]), "s3",
              "us-east-1").add_auth(aws)
    prepared = aws.prepare()
    return urllib.request.Request(url, data=body or None, method=method,
                                  headers=dict(prepared.headers))


def send(request: urllib.request.Request):
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def assert_json_error(body, code: str) -> None:
    assert set(body) == {"error"} and body["error"]["code"] == code, body
    assert body["error"]["message"]


@pytest.mark.parametrize("path", ["/api/v1/policies", "/api/v1/audit", "/api/v1/quarantine",
                                  "/api/v1/assets/some-bucket/a.png", "/api/v1/no-such-thing"])
def test_no_credentials_answers_401_with_a_basic_challenge(gateway, path):
    status, body, headers = admin_call(gateway, "GET", path, identity=None)
    assert status == 401
    assert headers["WWW-Authenticate"] == BASIC_REALM
    assert_json_error(body, "Unauthorized")


@pytest.mark.parametrize("credentials", [
    f"{ADMIN['access_key']}:wrong-secret",
    f"{ADMIN['access_key']}:",
    f"AKIANOSUCHKEY:{ADMIN['secret']}",
    ADMIN["access_key"],                       # no colon at all
    f"{ADMIN['access_key']}:{ADMIN['secret']}x",
])
def test_wrong_basic_credentials_answer_401(gateway, credentials):
    header = "Basic " + base64.b64encode(credentials.encode()).decode()
    status, body, headers = admin_call(gateway, "GET", "/api/v1/policies", identity=None,
                                       headers={"Authorization": header})
    assert status == 401 and headers["WWW-Authenticate"] == BASIC_REALM
    assert_json_error(body, "Unauthorized")


@pytest.mark.parametrize("header", ["Basic !!!not-base64", "Bearer abc", "Basic",
                                    "AWS AKIATESTADMIN:c2lnbmF0dXJl"])
def test_malformed_or_foreign_schemes_answer_401(gateway, header):
    status, body, _ = admin_call(gateway, "GET", "/api/v1/policies", identity=None,
                                 headers={"Authorization": header})
    assert status == 401
    assert_json_error(body, "Unauthorized")


def test_basic_credentials_of_an_identity_are_accepted(gateway):
    status, body = admin_json(gateway, "/api/v1/policies", identity=READER)
    assert status == 200 and "revision" in body


def test_a_sigv4_signed_request_is_accepted(gateway):
    status, body = send(signed(gateway, "GET", "/api/v1/policies", ADMIN))
    assert status == 200 and "revision" in body


def test_sigv4_with_a_wrong_secret_answers_401(gateway):
    status, body = send(signed(gateway, "GET", "/api/v1/policies", ADMIN, secret="nope"))
    assert status == 401
    assert_json_error(body, "Unauthorized")
    assert "SignatureDoesNotMatch" in body["error"]["message"]


def test_a_sigv4_body_that_differs_from_its_signed_hash_answers_401(gateway, s3):
    bucket = f"t-auth-{hashlib.sha256(b'x').hexdigest()[:8]}"
    request = signed(gateway, "POST", f"/api/v1/reviews/{bucket}/a.png/comments", ADMIN,
                     body=b'{"text": "signed"}')
    request.data = b'{"text": "forged"}'
    status, body = send(request)
    assert status == 401
    assert "XAmzContentSHA256Mismatch" in body["error"]["message"]


def test_a_signature_for_another_path_does_not_open_this_one(gateway):
    request = signed(gateway, "GET", "/api/v1/policies", ADMIN)
    request.full_url = f"{gateway.admin}/api/v1/audit"
    status, body = send(request)
    assert status == 401


@pytest.mark.parametrize("path", ["/api/v1/audit", "/api/v1/quarantine"])
def test_a_role_too_low_answers_403(gateway, path):
    for identity in (READER, WRITER):
        status, body = admin_json(gateway, path, identity=identity)
        assert status == 403, (identity["name"], body)
        assert_json_error(body, "AccessDenied")


def test_a_bucket_outside_the_scope_answers_403_before_anything_is_read(gateway, s3, bucket):
    s3.put_object(Bucket=bucket, Key="secret.txt", Body=b"prompt: internal")
    status, body = admin_json(gateway, f"/api/v1/assets/{bucket}/secret.txt", identity=SCOPED)
    assert status == 403
    assert_json_error(body, "AccessDenied")
    assert "internal" not in json.dumps(body)
    status, body = admin_json(gateway, f"/api/v1/assets/{bucket}/secret.txt", identity=READER)
    assert status == 200 and body["key"] == "secret.txt"


def test_quarantined_records_are_for_reviewers_only(gateway):
    status, body = admin_json(gateway, "/api/v1/assets/provgate-quarantine/b/k.png",
                              identity=WRITER)
    assert status == 403


def test_unknown_api_paths_answer_json_404_to_an_identity(gateway):
    status, body = admin_json(gateway, "/api/v1/no-such-thing")
    assert status == 404
    assert_json_error(body, "NotFound")


@pytest.mark.parametrize("path", ["/metrics", "/healthz", "/readyz"])
def test_operational_endpoints_stay_open(gateway, path):
    with urllib.request.urlopen(f"{gateway.admin}{path}", timeout=10) as reply:
        assert reply.status == 200

