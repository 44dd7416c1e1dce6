"""POST Object: browser-form uploads signed with boto3's ``generate_presigned_post`` (SigV4
and SigV2 forms), sent as real ``multipart/form-data`` with requests; the file goes
through the same intake as a PutObject (record, catalog, provenance from the file and the
form's ``x-amz-meta-*``). Hostile forms are refused with S3's code and status, and
nothing of them is stored."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import urllib.request
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from defusedxml import ElementTree as SafeET

from tests.conftest import client
from tests.support import media as media_fixtures
from tests.support.admin import basic_auth
from tests.support.functional import S3_NS, payload
from tests.support.server import ADMIN, READER

FORMS = ["s3v4", "v2"]


def signer(gateway, form: str, identity: dict = ADMIN):
    if form == "s3v4":
        return client(gateway.endpoint, identity, signature_version="s3v4")
    return client(gateway.endpoint, identity, signature_version="s3")


def post(gateway, bucket: str, fields, file=("upload.bin", b"data"), *, after=()):
    """POST a form: ``fields`` in order, then the file (None: no file), then ``after``."""
    parts = [(name, (None, value)) for name, value in
             (fields.items() if isinstance(fields, dict) else fields)]
    if file is not None:
        parts.append(("file", file))
    parts += [(name, (None, value)) for name, value in after]
    return requests.post(f"{gateway.endpoint}/{bucket}", files=parts, allow_redirects=False,
                         timeout=60)


def error_of(reply) -> tuple[int, str]:
    return reply.status_code, SafeET.fromstring(reply.content).findtext("Code")


def keys_in(s3, bucket) -> list[str]:
    return [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]


def admin_record(gateway, bucket: str, key: str) -> dict:
    url = f"{gateway.admin}/api/v1/assets/{bucket}/{urllib.request.quote(key)}"
    request = urllib.request.Request(url, headers={"Authorization": basic_auth(ADMIN)})
    return json.load(urllib.request.urlopen(request, timeout=10))["record"]


@pytest.mark.parametrize("form", FORMS)
def test_form_upload_goes_through_intake(gateway, s3, bucket, form, tmp_path):
    fixture = media_fixtures.a1111_png(tmp_path)
    data = fixture.path.read_bytes()
    presigned = signer(gateway, form).generate_presigned_post(
        bucket, "renders/${filename}",
        Fields={"Content-Type": "image/png", "x-amz-meta-prompt-author": "Ada",
                "success_action_status": "201"},
        Conditions=[{"Content-Type": "image/png"}, {"x-amz-meta-prompt-author": "Ada"},
                    {"success_action_status": "201"}, ["starts-with", "$key", "renders/"],
                    ["content-length-range", 1, 10 * 1024 * 1024]],
        ExpiresIn=600)
    if form == "s3v4":
        assert presigned["fields"]["x-amz-algorithm"] == "AWS4-HMAC-SHA256"
    else:
        assert {"AWSAccessKeyId", "signature"} <= presigned["fields"].keys()
    reply = requests.post(presigned["url"], data=presigned["fields"],
                          files={"file": ("a1111.png", data, "image/png")}, timeout=60)
    assert reply.status_code == 201, reply.content
    answer = SafeET.fromstring(reply.content)
    assert answer.tag == f"{S3_NS}PostResponse"
    etag = f'"{hashlib.md5(data).hexdigest()}"'
    assert (answer.findtext(f"{S3_NS}Bucket"), answer.findtext(f"{S3_NS}Key"),
            answer.findtext(f"{S3_NS}ETag")) == (bucket, "renders/a1111.png", etag)
    assert reply.headers["ETag"] == etag and reply.headers["x-amz-version-id"]

    got = s3.get_object(Bucket=bucket, Key="renders/a1111.png")
    assert got["Body"].read() == data
    assert got["ContentType"] == "image/png"
    assert got["Metadata"] == {"prompt-author": "Ada"}
    record = admin_record(gateway, bucket, "renders/a1111.png")
    assert record["sha256"] == hashlib.sha256(data).hexdigest()
    assert (record["identity"], record["door"]) == (ADMIN["name"], "s3")
    assert record["version_id"] == reply.headers["x-amz-version-id"]
    assert record["prompt"] == fixture.expected["prompt"]       # read from the file itself
    assert record["prompt_author"] == "Ada"                      # from the form's metadata
    xmp = s3.get_object(Bucket=bucket, Key="renders/a1111.png.xmp")["Body"].read()
    assert hashlib.sha256(data).hexdigest().encode() in xmp


@pytest.mark.parametrize("form", FORMS)
def test_success_answers(gateway, s3, bucket, form):
    presign = signer(gateway, form).generate_presigned_post
    plain = presign(bucket, "plain.txt", ExpiresIn=600)
    reply = requests.post(plain["url"], data=plain["fields"],
                          files={"file": ("x.txt", b"plain")}, timeout=60)
    assert (reply.status_code, reply.content) == (204, b"")
    assert reply.headers["Location"].endswith(f"/{bucket}/plain.txt")

    ok = presign(bucket, "ok.txt", Fields={"success_action_status": "200"},
                 Conditions=[{"success_action_status": "200"}], ExpiresIn=600)
    reply = requests.post(ok["url"], data=ok["fields"], files={"file": b"ok"}, timeout=60)
    assert (reply.status_code, reply.content) == (200, b"")

    back = "https://studio.test/done?from=form"
    redirect = presign(bucket, "redirected.txt", Fields={"success_action_redirect": back},
                       Conditions=[{"success_action_redirect": back}], ExpiresIn=600)
    reply = requests.post(redirect["url"], data=redirect["fields"],
                          files={"file": b"moved"}, allow_redirects=False, timeout=60)
    assert reply.status_code == 303
    location = urlsplit(reply.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == "https://studio.test/done"
    assert parse_qs(location.query) == {
        "from": ["form"], "bucket": [bucket], "key": ["redirected.txt"],
        "etag": [f'"{hashlib.md5(b"moved").hexdigest()}"']}
    assert sorted(keys_in(s3, bucket)) == ["ok.txt", "plain.txt", "redirected.txt"]


def test_large_upload_streams_within_its_range(gateway, s3, bucket):
    data = payload(12 * 1024 * 1024 + 7, seed=3)
    presigned = signer(gateway, "s3v4").generate_presigned_post(
        bucket, "big.bin", Conditions=[["content-length-range", len(data), len(data)]],
        ExpiresIn=600)
    reply = requests.post(presigned["url"], data=presigned["fields"],
                          files={"file": ("big.bin", data)}, timeout=120)
    assert reply.status_code == 204, reply.content
    head = s3.head_object(Bucket=bucket, Key="big.bin")
    assert head["ContentLength"] == len(data)
    assert head["ETag"] == f'"{hashlib.md5(data).hexdigest()}"'


def _v2_form(bucket: str, policy: dict | bytes, **extra) -> dict:
    """A SigV2-signed form for an arbitrary policy document (what a hand-rolled web page
    sends)."""
    raw = policy if isinstance(policy, bytes) else json.dumps(policy).encode()
    encoded = base64.b64encode(raw).decode()
    signature = base64.b64encode(hmac.new(ADMIN["secret"].encode(), encoded.encode(),
                                          hashlib.sha1).digest()).decode()
    return {"key": "hostile.txt", "AWSAccessKeyId": ADMIN["access_key"], "policy": encoded,
            "signature": signature, **extra}


def _policy(bucket: str, *conditions, expiration="2099-01-01T00:00:00.000Z") -> dict:
    return {"expiration": expiration,
            "conditions": [{"bucket": bucket}, ["starts-with", "$key", ""], *conditions]}


HOSTILE = {
    "expired policy": (lambda b: _v2_form(b, _policy(b, expiration="2020-01-01T00:00:00Z")),
                       None, (403, "AccessDenied")),
    "condition violated": (lambda b: _v2_form(b, _policy(b, ["starts-with", "$key", "only/"])),
                           None, (403, "AccessDenied")),
    "field the policy does not name": (
        lambda b: _v2_form(b, _policy(b), **{"x-amz-meta-prompt": "sneaked in"}),
        None, (403, "AccessDenied")),
    "bucket the policy does not name": (
        lambda b: _v2_form(b, {"expiration": "2099-01-01T00:00:00Z",
                               "conditions": [{"bucket": "some-other-bucket"},
                                              ["starts-with", "$key", ""]]}),
        None, (403, "AccessDenied")),
    "wrong signature": (lambda b: {**_v2_form(b, _policy(b)), "signature": "AAAA" + "=" * 24},
                        None, (403, "SignatureDoesNotMatch")),
    "unknown access key": (lambda b: {**_v2_form(b, _policy(b)), "AWSAccessKeyId": "AKIANOBODY"},
                           None, (403, "InvalidAccessKeyId")),
    "no signature at all": (lambda b: {"key": "hostile.txt",
                                       "policy": _v2_form(b, _policy(b))["policy"]},
                            None, (403, "AccessDenied")),
    "signature field missing": (
        lambda b: {k: v for k, v in _v2_form(b, _policy(b)).items() if k != "signature"},
        None, (400, "InvalidArgument")),
    "oversized": (lambda b: _v2_form(b, _policy(b, ["content-length-range", 0, 1024])),
                  ("big.bin", b"x" * (3 * 1024 * 1024)), (400, "EntityTooLarge")),
    "undersized": (lambda b: _v2_form(b, _policy(b, ["content-length-range", 100, 1024])),
                   ("small.bin", b"tiny"), (400, "EntityTooSmall")),
    "policy not base64 json": (lambda b: _v2_form(b, b"{not json"), None,
                               (400, "InvalidPolicyDocument")),
    "policy without expiration": (lambda b: _v2_form(b, {"conditions": [{"bucket": b}]}), None,
                                  (400, "InvalidPolicyDocument")),
    "empty condition": (lambda b: _v2_form(b, {"expiration": "2099-01-01T00:00:00Z",
                                              "conditions": [{}]}),
                        None, (400, "InvalidPolicyDocument")),
    "bad content-length-range": (lambda b: _v2_form(b, _policy(b, ["content-length-range", -1, 0])),
                                 None, (400, "InvalidPolicyDocument")),
    "fields before the file too large": (
        lambda b: _v2_form(b, _policy(b), **{"x-ignore-padding": "p" * (21 * 1024)}),
        None, (400, "MaxPostPreDataLengthExceeded")),
}


@pytest.mark.parametrize("case", HOSTILE)
def test_hostile_forms_are_refused(gateway, s3, bucket, case):
    make, file, expected = HOSTILE[case]
    s3.put_object(Bucket=bucket, Key="hostile.txt", Body=b"original")
    reply = post(gateway, bucket, make(bucket), file or ("upload.bin", b"overwritten?"))
    assert error_of(reply) == expected, reply.content
    assert keys_in(s3, bucket) == ["hostile.txt"]
    assert s3.get_object(Bucket=bucket, Key="hostile.txt")["Body"].read() == b"original"
    assert len(s3.list_object_versions(Bucket=bucket)["Versions"]) == 1


def test_missing_file_and_file_not_last(gateway, s3, bucket):
    form = _v2_form(bucket, _policy(bucket))
    assert error_of(post(gateway, bucket, form, file=None)) == \
        (400, "IncorrectNumberOfFilesInPostRequest")
    # Fields after the file are ignored (S3 alike): a key sent after it is no key.
    without_key = [(k, v) for k, v in form.items() if k != "key"]
    reply = post(gateway, bucket, without_key, after=[("key", "late.txt")])
    assert error_of(reply) == (400, "InvalidArgument")
    assert keys_in(s3, bucket) == []


def test_form_uploads_keep_roles_and_content_type_rules(gateway, s3, bucket):
    reader = signer(gateway, "s3v4", READER).generate_presigned_post(bucket, "r.txt",
                                                                      ExpiresIn=600)
    reply = requests.post(reader["url"], data=reader["fields"], files={"file": b"x"}, timeout=60)
    assert error_of(reply) == (403, "AccessDenied")
    reply = requests.post(f"{gateway.endpoint}/{bucket}", data=b"key=x",
                          headers={"Content-Type": "application/x-www-form-urlencoded"},
                          timeout=60)
    assert error_of(reply) == (412, "PreconditionFailed")
    reply = requests.post(f"{gateway.endpoint}/{bucket}", data=b"--nope\r\ngarbage",
                          headers={"Content-Type": "multipart/form-data; boundary=nope"},
                          timeout=60)
    assert error_of(reply) == (400, "MalformedPOSTRequest")
    assert keys_in(s3, bucket) == []


def test_form_fields_are_case_insensitive(gateway, s3, bucket):
    form = _v2_form(bucket, {"expiration": "2099-01-01T00:00:00Z",
                             "conditions": [{"bUcKeT": bucket}, ["StArTs-WiTh", "$KeY", "case"],
                                            ["eq", "$Content-Type", "text/plain"]]})
    fields = {"kEy": "case.txt", "AWSAccessKeyId": form["AWSAccessKeyId"],
              "pOLICy": form["policy"], "signature": form["signature"],
              "Content-Type": "text/plain"}
    reply = post(gateway, bucket, fields, ("c.txt", b"case"))
    assert reply.status_code == 204, reply.content
    got = s3.get_object(Bucket=bucket, Key="case.txt")
    assert (got["Body"].read(), got["ContentType"]) == (b"case", "text/plain")
