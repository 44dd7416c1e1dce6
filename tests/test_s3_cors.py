"""Bucket CORS: Put/Get/DeleteBucketCors with boto3, the rules' validation, OPTIONS
preflights answered from the rules (unauthenticated, as browsers send them) and the CORS
headers on actual cross-origin requests."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from tests.conftest import client
from tests.support.functional import error_code, http_request, http_status, signed_request
from tests.support.server import WRITER

RULES = [
    {"AllowedMethods": ["PUT", "DELETE"], "AllowedOrigins": ["http://www.example1.com"],
     "AllowedHeaders": ["*"], "ExposeHeaders": ["ETag", "x-amz-version-id"],
     "MaxAgeSeconds": 600},
    {"AllowedMethods": ["GET", "HEAD"], "AllowedOrigins": ["*"]},
    {"AllowedMethods": ["POST"], "AllowedOrigins": ["https://*.studio.test"],
     "AllowedHeaders": ["x-amz-meta-*", "content-type"], "ID": "uploads"},
]
NOT_ALLOWED = ("CORSResponse: This CORS request is not allowed. This is usually because the "
               "evalution of Origin, request method / Access-Control-Request-Method or "
               "Access-Control-Request-Headers are not whitelisted by the resource's CORS spec.")


@pytest.fixture
def cors_bucket(s3, bucket):
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": RULES})
    return bucket


def preflight(gateway, path: str, origin: str | None, method: str | None,
              headers: str | None = None):
    sent = {}
    if origin is not None:
        sent["Origin"] = origin
    if method is not None:
        sent["Access-Control-Request-Method"] = method
    if headers is not None:
        sent["Access-Control-Request-Headers"] = headers
    return http_request(f"{gateway.endpoint}{path}", "OPTIONS", headers=sent)


def test_put_get_delete_bucket_cors(s3, bucket):
    with pytest.raises(ClientError) as exc:
        s3.get_bucket_cors(Bucket=bucket)
    assert (error_code(exc.value), http_status(exc.value)) == ("NoSuchCORSConfiguration", 404)
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": RULES})
    assert s3.get_bucket_cors(Bucket=bucket)["CORSRules"] == RULES
    replaced = [{"AllowedMethods": ["GET"], "AllowedOrigins": ["https://one.test"]}]
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": replaced})
    assert s3.get_bucket_cors(Bucket=bucket)["CORSRules"] == replaced
    deleted = s3.delete_bucket_cors(Bucket=bucket)
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as exc:
        s3.get_bucket_cors(Bucket=bucket)
    assert (error_code(exc.value), http_status(exc.value)) == ("NoSuchCORSConfiguration", 404)


def test_cors_of_a_missing_bucket(s3):
    with pytest.raises(ClientError) as exc:
        s3.get_bucket_cors(Bucket="no-such-bucket-for-cors")
    assert (error_code(exc.value), http_status(exc.value)) == ("NoSuchBucket", 404)


def _cors_document(rules: str) -> bytes:
    return f"<CORSConfiguration>{rules}</CORSConfiguration>".encode()


@pytest.mark.parametrize("body, code", [
    (_cors_document("<CORSRule><AllowedMethod>PATCH</AllowedMethod>"
                    "<AllowedOrigin>*</AllowedOrigin></CORSRule>"), "InvalidRequest"),
    (_cors_document("<CORSRule><AllowedMethod>GET</AllowedMethod>"
                    "<AllowedOrigin>http://*.*.test</AllowedOrigin></CORSRule>"), "InvalidRequest"),
    (_cors_document("<CORSRule><AllowedMethod>GET</AllowedMethod></CORSRule>"), "MalformedXML"),
    (_cors_document("<CORSRule><AllowedOrigin>*</AllowedOrigin></CORSRule>"), "MalformedXML"),
    (_cors_document(""), "MalformedXML"),
    (_cors_document("<CORSRule><AllowedMethod>GET</AllowedMethod><AllowedOrigin>*"
                    "</AllowedOrigin><MaxAgeSeconds>soon</MaxAgeSeconds></CORSRule>"),
     "MalformedXML"),
    (b"<CORSConfiguration><CORSRule>", "MalformedXML"),
    (b"<Tagging/>", "MalformedXML"),
])
def test_invalid_cors_configurations(gateway, s3, cors_bucket, body, code):
    reply = signed_request(gateway.endpoint, "PUT", f"/{cors_bucket}?cors", body=body)
    assert (reply.status, reply.error_code) == (400, code)
    assert s3.get_bucket_cors(Bucket=cors_bucket)["CORSRules"] == RULES


def test_only_admins_configure_cors(gateway, s3, cors_bucket):
    writer = client(gateway.endpoint, WRITER)
    assert writer.get_bucket_cors(Bucket=cors_bucket)["CORSRules"] == RULES
    for attempt in (lambda: writer.put_bucket_cors(Bucket=cors_bucket, CORSConfiguration={
                        "CORSRules": [{"AllowedMethods": ["GET"], "AllowedOrigins": ["*"]}]}),
                    lambda: writer.delete_bucket_cors(Bucket=cors_bucket)):
        with pytest.raises(ClientError) as exc:
            attempt()
        assert (error_code(exc.value), http_status(exc.value)) == ("AccessDenied", 403)
    assert s3.get_bucket_cors(Bucket=cors_bucket)["CORSRules"] == RULES


@pytest.mark.parametrize("path", ["/{bucket}", "/{bucket}/some/key.png"])
def test_preflight_answers_from_the_matching_rule(gateway, cors_bucket, path):
    target = path.format(bucket=cors_bucket)
    reply = preflight(gateway, target, "http://www.example1.com", "PUT",
                      "Content-Type, x-amz-meta-prompt")
    assert reply.status == 200
    assert reply.headers["Access-Control-Allow-Origin"] == "http://www.example1.com"
    assert reply.headers["Access-Control-Allow-Methods"] == "PUT, DELETE"
    assert reply.headers["Access-Control-Allow-Headers"] == "Content-Type, x-amz-meta-prompt"
    assert reply.headers["Access-Control-Max-Age"] == "600"
    assert reply.headers["Access-Control-Expose-Headers"] == "ETag, x-amz-version-id"
    assert reply.headers["Access-Control-Allow-Credentials"] == "true"
    assert "Origin" in reply.headers["Vary"]
    # A rule for any origin answers "*"; no request headers, none allowed back.
    reply = preflight(gateway, target, "http://anywhere.test", "GET")
    assert reply.status == 200
    assert reply.headers["Access-Control-Allow-Origin"] == "*"
    assert reply.headers["Access-Control-Allow-Methods"] == "GET, HEAD"
    assert "Access-Control-Allow-Headers" not in reply.headers
    assert "Access-Control-Allow-Credentials" not in reply.headers
    # Wildcards in origins and headers.
    reply = preflight(gateway, target, "https://cat.studio.test", "POST",
                      "X-Amz-Meta-Seed, Content-Type")
    assert reply.status == 200
    assert reply.headers["Access-Control-Allow-Origin"] == "https://cat.studio.test"
    assert reply.headers["Access-Control-Allow-Headers"] == "X-Amz-Meta-Seed, Content-Type"


@pytest.mark.parametrize("origin, method, headers", [
    ("http://www.example1.com", "POST", None),             # method of no rule for the origin
    ("http://not.allowed", "PUT", None),                   # origin of no PUT rule
    ("https://cat.studio.test", "POST", "x-amz-acl"),      # a header no rule allows
    ("http://anywhere.test", "GET", "x-amz-meta-a"),       # the "*" rule allows no headers
    ("https://studio.test", "POST", None),                 # "*." needs a subdomain
])
def test_preflight_no_rule_allows(gateway, cors_bucket, origin, method, headers):
    reply = preflight(gateway, f"/{cors_bucket}/k", origin, method, headers)
    assert (reply.status, reply.error_code) == (403, "AccessForbidden")
    assert reply.xml().findtext("Message") == NOT_ALLOWED
    assert "Access-Control-Allow-Origin" not in reply.headers


def test_preflight_malformed_or_without_rules(gateway, bucket, cors_bucket):
    reply = preflight(gateway, f"/{cors_bucket}/k", None, "GET")
    assert (reply.status, reply.error_code) == (400, "BadRequest")
    reply = preflight(gateway, f"/{cors_bucket}/k", "http://www.example1.com", None)
    assert (reply.status, reply.error_code) == (400, "BadRequest")
    other = f"{bucket[:40]}-nocors"
    client(gateway.endpoint).create_bucket(Bucket=other)
    try:
        for target in (f"/{other}/k", "/no-such-bucket-anywhere/k"):
            reply = preflight(gateway, target, "http://www.example1.com", "GET")
            assert (reply.status, reply.error_code) == (403, "AccessForbidden")
            assert reply.xml().findtext("Message") == (
                "CORSResponse: CORS is not enabled for this bucket.")
    finally:
        client(gateway.endpoint).delete_bucket(Bucket=other)


def test_actual_requests_carry_cors_headers_when_allowed(gateway, s3, cors_bucket):
    s3.put_object(Bucket=cors_bucket, Key="k", Body=b"body")
    reply = signed_request(gateway.endpoint, "GET", f"/{cors_bucket}/k",
                           headers={"Origin": "http://anywhere.test"})
    assert (reply.status, reply.body) == (200, b"body")
    assert reply.headers["Access-Control-Allow-Origin"] == "*"
    assert reply.headers["Access-Control-Allow-Methods"] == "GET, HEAD"
    reply = signed_request(gateway.endpoint, "PUT", f"/{cors_bucket}/put",
                           headers={"Origin": "http://www.example1.com"}, body=b"x")
    assert reply.status == 200
    assert reply.headers["Access-Control-Allow-Origin"] == "http://www.example1.com"
    assert reply.headers["Access-Control-Expose-Headers"] == "ETag, x-amz-version-id"
    # An error answer carries them too, or the page's script cannot read it.
    reply = signed_request(gateway.endpoint, "GET", f"/{cors_bucket}/missing",
                           headers={"Origin": "http://anywhere.test"})
    assert (reply.status, reply.error_code) == (404, "NoSuchKey")
    assert reply.headers["Access-Control-Allow-Origin"] == "*"
    # Not allowed, or no Origin: no CORS headers, the answer itself unchanged.
    reply = signed_request(gateway.endpoint, "DELETE", f"/{cors_bucket}/k",
                           headers={"Origin": "http://not.allowed"})
    assert reply.status == 204 and "Access-Control-Allow-Origin" not in reply.headers
    reply = signed_request(gateway.endpoint, "GET", f"/{cors_bucket}/put")
    assert reply.status == 200 and "Access-Control-Allow-Origin" not in reply.headers
