"""End-to-end tests of gateway.s3.auth over real sockets.

A tiny aiohttp app (in a background thread, plain HTTP and TLS listeners) calls
``Authenticator.authenticate`` — from an ``expect_handler`` too, the way the S3 layer
answers ``Expect: 100-continue`` — then iterates ``verified_body`` and records what it
decoded.  Requests come from boto3/botocore themselves (client calls, presigners,
``botocore.auth`` signers on ``AWSRequest``), from the aws CLI, from the AWS
documentation's published examples, and from a test-side aws-chunked encoder written
from the AWS spec for the chunk-signed modes botocore does not produce.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import hashlib
import hmac
import http.client
import os
import queue
import re
import socket
import ssl
import subprocess
import sys
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit

import boto3
import botocore.auth
import pytest
from aiohttp import web
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from gateway import errors
from gateway.identities import Identity, IdentityStore
from gateway.s3.auth import AuthContext, Authenticator, Hasher, verified_body

ACCESS = "AKIDPROVGATETEST"
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
DOC_ACCESS = "AKIAIOSFODNN7EXAMPLE"
DOC_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
DOC_TIME = datetime.datetime(2013, 5, 24, tzinfo=datetime.timezone.utc).timestamp()
AUTH_KEY = web.RequestKey("auth", AuthContext)
IDENTITIES = IdentityStore([Identity("tester", ACCESS, SECRET),
                            Identity("aws-docs", DOC_ACCESS, DOC_SECRET)])

ODD_KEYS = [
    "plain.txt", "with space.png", "plus+sign", "percent%25%", "amp&er=sand", 'quote"d',
    "é-accent", "日本/語.jpg", "emoji-😀🎨", '&+-é"', "dir//double/slash", "~tilde*star!bang",
    "(paren)'apos'", "semi;colon:colon@at,comma$dollar", "hash#tag?question", "tab\tnew",
]


# --- server harness ---------------------------------------------------------------------

def _error_xml(exc: errors.GatewayError) -> bytes:
    from xml.sax.saxutils import escape
    return (f"<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{exc.code}</Code>"
            f"<Message>{escape(exc.message)}</Message></Error>").encode()


class Harness:
    """Holds the authenticator in force and what each request decoded."""

    def __init__(self) -> None:
        self.authenticator = Authenticator(IDENTITIES)
        self.outcomes: queue.Queue = queue.Queue()

    def take(self, timeout: float = 10) -> dict:
        return self.outcomes.get(timeout=timeout)

    async def expect(self, request: web.Request):
        try:
            request[AUTH_KEY] = self.authenticator.authenticate(request)
        except errors.GatewayError as exc:
            self.outcomes.put({"ok": False, "code": exc.code, "message": exc.message,
                               "stage": "expect"})
            return web.Response(status=exc.status, body=_error_xml(exc),
                                content_type="application/xml")
        await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        request.writer.output_size = 0
        return None

    async def handle(self, request: web.Request) -> web.StreamResponse:
        outcome = {"method": request.method, "raw_path": request.raw_path,
                   "headers": {k.lower(): v for k, v in request.headers.items()}}
        data, sizes = bytearray(), []
        try:
            ctx = request.get(AUTH_KEY) or self.authenticator.authenticate(request)
            body = verified_body(request, ctx)
            async for piece in body:
                sizes.append(len(piece))
                data += piece
            outcome.update(ok=True, data=bytes(data), sizes=sizes, scheme=ctx.scheme,
                           identity=ctx.identity.name, plus=ctx.plus_means_space,
                           md5=body.md5_hex, sha256=body.sha256_hex, checksums=body.checksums,
                           trailers=body.trailers, length=body.length,
                           content_encoding=body.content_encoding)
            self.outcomes.put(outcome)
            # botocore reads a non-empty 200 body on PUT as an error document.
            text = b"decoded %d bytes" % len(data) if request.method == "GET" else b""
            return web.Response(body=text, headers={"ETag": f'"{body.md5_hex}"'})
        except errors.GatewayError as exc:
            outcome.update(ok=False, code=exc.code, message=exc.message, fields=exc.fields,
                           received=len(data))
            self.outcomes.put(outcome)
            return web.Response(status=exc.status, body=_error_xml(exc),
                                content_type="application/xml")
        except Exception as exc:  # a crash must fail the test, not hang it
            outcome.update(ok=False, code="CRASH", message=repr(exc))
            self.outcomes.put(outcome)
            raise


@dataclass
class Server:
    harness: Harness
    port: int
    tls_port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def tls_url(self) -> str:
        return f"https://localhost:{self.tls_port}"


def _tls_context(directory: str) -> ssl.SSLContext:
    from tests.support.tls import make_certificate
    cert, key = make_certificate(Path(directory))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    harness = Harness()
    tls = _tls_context(str(tmp_path_factory.mktemp("tls")))
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    ports: list[int | None] = []

    async def start():
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", harness.handle, expect_handler=harness.expect)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        ports.append(site._server.sockets[0].getsockname()[1])
        tls_site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=tls)
        await tls_site.start()
        ports.append(tls_site._server.sockets[0].getsockname()[1])
        return runner

    def run():
        asyncio.set_event_loop(loop)
        runner_box.append(loop.run_until_complete(start()))
        ready.set()
        loop.run_forever()
        # Keep-alive connections still have handler tasks: end them before closing.
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.close()

    runner_box: list = []
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert ready.wait(10)
    yield Server(harness, ports[0], ports[1])
    asyncio.run_coroutine_threadsafe(runner_box[0].cleanup(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)


@pytest.fixture
def srv(server):
    """The module server, reset to the default authenticator with no pending outcomes."""
    server.harness.authenticator = Authenticator(IDENTITIES)
    while not server.harness.outcomes.empty():
        server.harness.outcomes.get_nowait()
    return server


# --- clients ------------------------------------------------------------------------------

def s3_client(endpoint: str, **s3_config):
    config = Config(s3={"addressing_style": "path", **s3_config},
                    retries={"total_max_attempts": 1}, signature_version="s3v4")
    warnings.filterwarnings("ignore", message="Unverified HTTPS request")
    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id=ACCESS, aws_secret_access_key=SECRET,
                        config=config, verify=False)


def exchange(port: int, head: bytes, body: bytes = b"", *, half_close: bool = False):
    """Send raw bytes; return (status, response body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=15) as sock:
        sock.sendall(head + body)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        response = http.client.HTTPResponse(sock)
        response.begin()
        return response.status, response.read()


def head_bytes(method: str, target: str, headers) -> bytes:
    lines = [f"{method} {target} HTTP/1.1"] + [f"{k}: {v}" for k, v in headers] + ["", ""]
    return "\r\n".join(lines).encode("utf-8")


def send_request(server: Server, request: AWSRequest, body: bytes | None = None,
                 target: str | None = None, extra=(), **kw):
    """Send a botocore-signed AWSRequest exactly as signed (duplicates and raw path kept)."""
    parts = urlsplit(request.url)
    if target is None:
        target = parts.path + (f"?{parts.query}" if parts.query else "")
    body = request.body if body is None else body
    body = body.encode() if isinstance(body, str) else (body or b"")
    headers = list(request.headers.items()) + list(extra)
    names = {k.lower() for k, _ in headers}
    if "host" not in names:
        headers.append(("Host", parts.netloc))
    if "content-length" not in names and "transfer-encoding" not in names:
        headers.append(("Content-Length", str(len(body))))
    return exchange(server.port, head_bytes(request.method, target, headers), body, **kw)


def v4_request(server, method, path, body=b"", headers=None, secret=SECRET, access=ACCESS,
               auth_cls=botocore.auth.S3SigV4Auth, **auth_kw) -> AWSRequest:
    request = AWSRequest(method=method, url=server.url + path, data=body, headers=headers or {})
    auth_cls(Credentials(access, secret), "s3", "us-east-1", **auth_kw).add_auth(request)
    return request


def url_key(key: str) -> str:
    return quote(key, safe="/~")


def error_code(body: bytes) -> str:
    return body.split(b"<Code>")[1].split(b"</Code>")[0].decode()


def assert_error(response, code: str, status: int | None = None):
    status_got, body = response
    assert error_code(body) == code, body
    if status is not None:
        assert status_got == status


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def checksum_b64(algorithm: str, data: bytes) -> str:
    hasher = Hasher(algorithm)
    hasher.update(data)
    return hasher.b64()


# --- boto3 clients ------------------------------------------------------------------------

@pytest.mark.parametrize("key", ODD_KEYS)
def test_boto3_put_over_http_sends_header_checksum(srv, key):
    data = os.urandom(1000) + key.encode()
    response = s3_client(srv.url).put_object(Bucket="bucket", Key=key, Body=data)
    outcome = srv.harness.take()
    assert outcome["ok"], outcome
    assert outcome["data"] == data
    assert outcome["headers"]["x-amz-content-sha256"] == hashlib.sha256(data).hexdigest()
    assert outcome["checksums"] == {"CRC32": checksum_b64("CRC32", data)}
    assert response["ETag"] == f'"{hashlib.md5(data).hexdigest()}"'
    assert (outcome["scheme"], outcome["identity"], outcome["length"]) == ("sigv4", "tester", len(data))


@pytest.mark.parametrize("key", ["with space.png", '&+-é"', "日本/emoji-😀", "percent%25%"])
def test_boto3_put_over_https_uses_unsigned_trailer(srv, key):
    data = os.urandom(300_000)
    s3_client(srv.tls_url).put_object(Bucket="bucket", Key=key, Body=data)
    outcome = srv.harness.take()
    assert outcome["ok"], outcome
    assert outcome["headers"]["x-amz-content-sha256"] == "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
    assert "aws-chunked" in outcome["headers"]["content-encoding"]
    assert outcome["data"] == data
    assert outcome["content_encoding"] is None
    assert outcome["trailers"] == {"x-amz-checksum-crc32": checksum_b64("CRC32", data)}
    assert outcome["checksums"] == {"CRC32": checksum_b64("CRC32", data)}


@pytest.mark.parametrize("algorithm", ["CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256"])
@pytest.mark.parametrize("transport", ["http", "https"])
def test_boto3_each_checksum_algorithm(srv, algorithm, transport):
    data = b"provenance " * 5000
    endpoint = srv.url if transport == "http" else srv.tls_url
    s3_client(endpoint).put_object(Bucket="bucket", Key="k", Body=data, ChecksumAlgorithm=algorithm)
    outcome = srv.harness.take()
    assert outcome["ok"], outcome
    assert outcome["data"] == data
    assert outcome["checksums"] == {algorithm: checksum_b64(algorithm, data)}
    where = outcome["headers"] if transport == "http" else outcome["trailers"]
    assert where[f"x-amz-checksum-{algorithm.lower()}"] == checksum_b64(algorithm, data)


def test_boto3_payload_signing_disabled_over_http(srv):
    data = b"x" * 70_000
    s3_client(srv.url, payload_signing_enabled=False).put_object(Bucket="b", Key="k", Body=data)
    outcome = srv.harness.take()
    assert outcome["ok"], outcome
    assert outcome["headers"]["x-amz-content-sha256"] == "UNSIGNED-PAYLOAD"
    assert outcome["data"] == data


def test_large_plain_body_streams_in_bounded_pieces(srv):
    data = os.urandom(5 * 1024 * 1024 + 3)
    s3_client(srv.url).put_object(Bucket="b", Key="big", Body=data)
    outcome = srv.harness.take()
    assert outcome["data"] == data
    assert max(outcome["sizes"]) <= 1 << 20


def test_boto3_wrong_checksum_header_is_bad_digest(srv):
    with pytest.raises(ClientError) as info:
        s3_client(srv.url).put_object(Bucket="b", Key="k", Body=b"data", ChecksumCRC32="AAAAAA==")
    assert info.value.response["Error"]["Code"] == "BadDigest"


def test_boto3_wrong_content_md5_is_bad_digest(srv):
    with pytest.raises(ClientError) as info:
        s3_client(srv.url).put_object(Bucket="b", Key="k", Body=b"data",
                                      ContentMD5=b64(hashlib.md5(b"other").digest()))
    assert info.value.response["Error"]["Code"] == "BadDigest"


def test_boto3_unknown_amz_headers_are_tolerated(srv):
    client = s3_client(srv.url)

    def add_headers(request, **_):
        request.headers["x-amz-te"] = "append-md5"
        request.headers["x-amz-checksum-mode"] = "ENABLED"
        request.headers["x-amz-future-feature"] = "  spaced   out  value "
    client.meta.events.register("before-sign.s3.PutObject", add_headers)
    client.put_object(Bucket="b", Key="k", Body=b"abc")
    assert srv.harness.take()["ok"]


def test_boto3_get_with_odd_response_params(srv):
    client = s3_client(srv.url)
    response = client.get_object(Bucket="bucket", Key='é &+"日本 😀', VersionId="v+1/2=",
                                 ResponseContentDisposition='attachment; filename="a b+c.png"',
                                 Range="bytes=0-9")
    assert response["Body"].read() == b"decoded 0 bytes"
    assert srv.harness.take()["ok"]


def test_aws_cli_cp(srv, tmp_path):
    aws = os.path.join(os.path.dirname(sys.executable), "aws")
    if not os.path.exists(aws):
        pytest.skip("aws CLI not installed")
    source = tmp_path / "render 01+é.bin"
    data = os.urandom(200_000)
    source.write_bytes(data)
    env = dict(os.environ, AWS_ACCESS_KEY_ID=ACCESS, AWS_SECRET_ACCESS_KEY=SECRET,
               AWS_DEFAULT_REGION="us-east-1", AWS_CONFIG_FILE=os.devnull,
               AWS_SHARED_CREDENTIALS_FILE=os.devnull)
    result = subprocess.run([aws, "--endpoint-url", srv.url, "s3", "cp", str(source),
                             "s3://bucket/in box/render 01+é.bin"],
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    outcome = srv.harness.take()
    assert outcome["ok"], outcome
    assert outcome["data"] == data
    (algorithm, value), = outcome["checksums"].items()    # CLI v1 sends CRC32, v2 CRC64NVME
    assert value == checksum_b64(algorithm, data)


# --- presigned URLs -------------------------------------------------------------------------

def presign(srv, method, key, version="s3v4", expires=3600, **params):
    config = Config(s3={"addressing_style": "path"}, signature_version=version) if version else None
    client = boto3.client("s3", endpoint_url=srv.url, region_name="us-east-1",
                          aws_access_key_id=ACCESS, aws_secret_access_key=SECRET, config=config)
    operation = {"GET": "get_object", "PUT": "put_object"}[method]
    return client.generate_presigned_url(operation, Params={"Bucket": "bucket", "Key": key, **params},
                                         ExpiresIn=expires)


def fetch(srv, method, url, body=b"", headers=()):
    parts = urlsplit(url)
    target = parts.path + "?" + parts.query
    return exchange(srv.port, head_bytes(method, target, [("Host", parts.netloc),
                                                            ("Content-Length", str(len(body))),
                                                            *headers]), body)


@pytest.mark.parametrize("key", ODD_KEYS)
def test_presigned_v4_get_and_put(srv, key):
    url = presign(srv, "GET", key, ResponseContentDisposition='inline; filename="é +.png"')
    assert "X-Amz-Signature=" in url
    assert fetch(srv, "GET", url)[0] == 200
    assert srv.harness.take()["scheme"] == "sigv4-presigned"
    url = presign(srv, "PUT", key)
    status, _ = fetch(srv, "PUT", url, b"payload")
    assert status == 200
    outcome = srv.harness.take()
    assert outcome["data"] == b"payload"


def test_presigned_default_boto3_is_sigv2_and_verifies(srv):
    url = presign(srv, "GET", "a b+c/é 日本.png", version=None,
                  ResponseContentType="image/png; charset=x")
    assert "AWSAccessKeyId=" in url and "Expires=" in url and "Signature=" in url
    assert fetch(srv, "GET", url)[0] == 200
    assert srv.harness.take()["scheme"] == "sigv2-presigned"


def test_presigned_sigv2_put_with_type_and_metadata_moved_into_query(srv):
    url = presign(srv, "PUT", "k é", version="s3", ContentType="image/png",
                  Metadata={"prompt": "a cat"})
    assert "x-amz-meta-prompt=" in url
    status, _ = fetch(srv, "PUT", url, b"png")
    assert status == 200
    assert srv.harness.take()["data"] == b"png"


@pytest.mark.parametrize("version", ["s3v4", "s3"])
@pytest.mark.parametrize("tamper", ["path", "extra-param", "expiry"])
def test_tampered_presigned_url(srv, version, tamper):
    url = presign(srv, "GET", "secret.png", version=version)
    if tamper == "path":
        url = url.replace("secret.png", "other.png")
    elif tamper == "extra-param":
        url += "&versionId=1" if version == "s3" else "&x-id=GetObject"
    else:
        url = (url.replace("X-Amz-Expires=3600", "X-Amz-Expires=7200") if version == "s3v4"
               else re.sub(r"Expires=([0-9]+)", lambda m: f"Expires={int(m[1]) + 60}", url))
    assert_error(fetch(srv, "GET", url), "SignatureDoesNotMatch", 403)


@pytest.mark.parametrize("version", ["s3v4", "s3"])
def test_expired_presigned_url(srv, version):
    url = presign(srv, "GET", "k", version=version, expires=60)
    srv.harness.authenticator = Authenticator(IDENTITIES, clock=lambda: time.time() + 120)
    status, body = fetch(srv, "GET", url)
    assert_error((status, body), "AccessDenied", 403)
    assert b"Request has expired" in body


def test_presigned_v4_longer_than_a_week_is_refused(srv):
    # S3 answers an X-Amz-Expires out of range with 403 (other malformed query auth: 400).
    url = presign(srv, "GET", "k", expires=604801)
    assert_error(fetch(srv, "GET", url), "AuthorizationQueryParametersError", 403)


def test_presigned_v4_not_yet_valid(srv):
    url = presign(srv, "GET", "k")
    srv.harness.authenticator = Authenticator(IDENTITIES, clock=lambda: time.time() - 3600)
    assert_error(fetch(srv, "GET", url), "AccessDenied", 403)


def test_aws_documented_presigned_url(srv):
    srv.harness.authenticator = Authenticator(IDENTITIES, clock=lambda: DOC_TIME + 10)
    target = ("/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F"
              "20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires="
              "86400&X-Amz-SignedHeaders=host&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f9"
              "95330da4c265957d157751f604d404")
    head = head_bytes("GET", target, [("Host", "examplebucket.s3.amazonaws.com")])
    assert exchange(srv.port, head)[0] == 200
    assert srv.harness.take()["identity"] == "aws-docs"


# --- botocore signers on raw requests --------------------------------------------------------

def test_aws_documented_get_object(srv):
    srv.harness.authenticator = Authenticator(IDENTITIES, clock=lambda: DOC_TIME + 60)
    head = head_bytes("GET", "/test.txt", [
        ("Host", "examplebucket.s3.amazonaws.com"), ("Range", "bytes=0-9"),
        ("x-amz-content-sha256", hashlib.sha256(b"").hexdigest()),
        ("x-amz-date", "20130524T000000Z"),
        ("Authorization", "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/"
                          "s3/aws4_request,SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"
                          "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"),
    ])
    assert exchange(srv.port, head)[0] == 200


ODD_QUERIES = [
    "list-type=2&prefix=" + quote("a b+c%&=é/日本😀", safe="") + "&delimiter=%2F",
    "uploads&prefix=x",
    "versions&key-marker=" + quote("k~*'()!$", safe="") + "&max-keys=10",
    "tagging",
    "continuation-token=" + quote("1/ab+cd==", safe="") + "&fetch-owner=true&list-type=2",
]


@pytest.mark.parametrize("query", ODD_QUERIES)
def test_sigv4_header_with_odd_query_params(srv, query):
    request = v4_request(srv, "GET", "/bucket?" + query)
    assert send_request(srv, request)[0] == 200
    assert srv.harness.take()["ok"]


def test_sigv4_whitespace_and_repeated_headers(srv):
    request = AWSRequest(method="PUT", url=srv.url + "/bucket/k", data=b"body",
                         headers={"x-amz-meta-prompt": "  a   red\t  fox  "})
    request.headers["x-amz-meta-tag"] = "one"
    request.headers["x-amz-meta-tag"] = "two  words"      # HTTPHeaders appends duplicates
    botocore.auth.S3SigV4Auth(Credentials(ACCESS, SECRET), "s3", "us-east-1").add_auth(request)
    assert len(request.headers.get_all("x-amz-meta-tag")) == 2
    assert send_request(srv, request)[0] == 200
    assert srv.harness.take()["data"] == b"body"


def test_sigv4_with_date_header_instead_of_amz_date(srv):
    request = AWSRequest(method="GET", url=srv.url + "/bucket/k", headers={"Date": "placeholder"})
    botocore.auth.S3SigV4Auth(Credentials(ACCESS, SECRET), "s3", "us-east-1").add_auth(request)
    assert "X-Amz-Date" not in request.headers
    assert send_request(srv, request)[0] == 200


def test_s3cmd_style_plus_sent_for_signed_space(srv):
    request = v4_request(srv, "PUT", "/bucket/my%20file%20name.txt", b"s3cmd")
    status, _ = send_request(srv, request, target="/bucket/my+file+name.txt")
    assert status == 200
    outcome = srv.harness.take()
    assert outcome["plus"] is True and outcome["data"] == b"s3cmd"


def test_unsigned_plain_header_is_tolerated_unsigned_amz_header_is_not(srv):
    request = v4_request(srv, "PUT", "/bucket/k", b"abc")
    assert send_request(srv, request, extra=[("X-Custom-Thing", "1")])[0] == 200
    refused = send_request(srv, request, extra=[("x-amz-unsigned-thing", "1")])
    assert_error(refused, "AccessDenied", 403)


def test_signed_payload_hash_mismatch(srv):
    request = v4_request(srv, "PUT", "/bucket/k", b"original")
    request.headers["Content-Length"] = "8"
    assert_error(send_request(srv, request, body=b"tampered"), "XAmzContentSHA256Mismatch", 400)


@pytest.mark.parametrize("key", ["plain", "with space", '&+-é"', "日本😀", "a%b"])
def test_sigv2_header_auth(srv, key):
    request = AWSRequest(method="PUT", url=srv.url + "/bucket/" + url_key(key), data=b"v2 body",
                         headers={"Content-Type": "text/plain", "x-amz-meta-prompt": "a  cat"})
    botocore.auth.HmacV1Auth(Credentials(ACCESS, SECRET)).add_auth(request)
    assert request.headers["Authorization"].startswith(f"AWS {ACCESS}:")
    assert send_request(srv, request)[0] == 200
    outcome = srv.harness.take()
    assert (outcome["scheme"], outcome["data"]) == ("sigv2", b"v2 body")


def test_sigv2_header_with_subresources(srv):
    request = AWSRequest(method="GET", url=srv.url + "/bucket/k?uploadId=a%2Bb&partNumber=2&x-id=1")
    botocore.auth.HmacV1Auth(Credentials(ACCESS, SECRET)).add_auth(request)
    assert send_request(srv, request)[0] == 200


def test_sigv2_virtual_host(srv):
    srv.harness.authenticator = Authenticator(IDENTITIES, domain="s3.test")
    request = AWSRequest(method="GET", url=f"http://bucket.s3.test:{srv.port}/k%20x")
    request.auth_path = "/bucket/k%20x"
    botocore.auth.HmacV1Auth(Credentials(ACCESS, SECRET)).add_auth(request)
    assert send_request(srv, request)[0] == 200


def test_sigv2_wrong_secret(srv):
    request = AWSRequest(method="GET", url=srv.url + "/bucket/k")
    botocore.auth.HmacV1Auth(Credentials(ACCESS, "wrong")).add_auth(request)
    assert_error(send_request(srv, request), "SignatureDoesNotMatch", 403)


# --- hostile requests (headers) -------------------------------------------------------------

def test_bad_signature(srv):
    request = v4_request(srv, "GET", "/bucket/k", secret="not-the-secret")
    status, body = send_request(srv, request)
    assert_error((status, body), "SignatureDoesNotMatch", 403)
    assert SECRET.encode() not in body


def test_anonymous_request(srv):
    head = head_bytes("GET", "/bucket/k", [("Host", "x")])
    assert_error(exchange(srv.port, head), "AccessDenied", 403)


def test_unknown_access_key(srv):
    request = v4_request(srv, "GET", "/bucket/k", access="AKIDUNKNOWN")
    assert_error(send_request(srv, request), "InvalidAccessKeyId", 403)


def test_unknown_access_key_presigned_v2(srv):
    url = presign(srv, "GET", "k", version="s3").replace(ACCESS, "AKIDUNKNOWN")
    assert_error(fetch(srv, "GET", url), "InvalidAccessKeyId", 403)


def test_clock_skew(srv):
    srv.harness.authenticator = Authenticator(IDENTITIES, clock=lambda: time.time() + 3600)
    request = v4_request(srv, "GET", "/bucket/k")
    assert_error(send_request(srv, request), "RequestTimeTooSkewed", 403)
    request = AWSRequest(method="GET", url=srv.url + "/bucket/k")
    botocore.auth.HmacV1Auth(Credentials(ACCESS, SECRET)).add_auth(request)
    assert_error(send_request(srv, request), "RequestTimeTooSkewed", 403)


@pytest.mark.parametrize("authorization, code", [
    ("AWS4-HMAC-SHA256 Credential=abc", "AuthorizationHeaderMalformed"),
    ("AWS4-HMAC-SHA256 Credential=AKID/2024/us-east-1/s3, SignedHeaders=host, Signature=00",
     "AuthorizationHeaderMalformed"),
    ("AWS AKIDONLY", "AuthorizationHeaderMalformed"),
    ("Bearer token", "InvalidArgument"),
])
def test_malformed_authorization(srv, authorization, code):
    now = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    head = head_bytes("GET", "/bucket/k", [("Host", "x"), ("Authorization", authorization),
                                            ("x-amz-date", now)])
    assert_error(exchange(srv.port, head), code, 400)


def test_wrong_region_in_scope(srv):
    request = AWSRequest(method="GET", url=srv.url + "/bucket/k")
    botocore.auth.S3SigV4Auth(Credentials(ACCESS, SECRET), "s3", "eu-west-3").add_auth(request)
    assert_error(send_request(srv, request), "AuthorizationHeaderMalformed", 400)
    srv.harness.authenticator = Authenticator(IDENTITIES, region=None)
    assert send_request(srv, request)[0] == 200


def test_header_and_query_auth_together(srv):
    url = presign(srv, "GET", "k")
    request = v4_request(srv, "GET", urlsplit(url).path + "?" + urlsplit(url).query)
    assert_error(send_request(srv, request), "InvalidArgument", 400)


def test_invalid_content_md5(srv):
    request = v4_request(srv, "PUT", "/bucket/k", b"abc", headers={"Content-MD5": "bm90IDE2IGJ5dGVz"})
    assert_error(send_request(srv, request), "InvalidDigest", 400)


def test_invalid_checksum_header_value(srv):
    request = v4_request(srv, "PUT", "/bucket/k", b"abc", headers={"x-amz-checksum-sha256": "abc"})
    assert_error(send_request(srv, request), "InvalidRequest", 400)


@pytest.mark.parametrize("headers, code", [
    ({"x-amz-checksum-crc32": "AAAAAA==", "x-amz-checksum-sha1": "A" * 27 + "="}, "InvalidRequest"),
    ({"x-amz-sdk-checksum-algorithm": "MD4"}, "InvalidRequest"),
    ({"x-amz-trailer": "x-amz-meta-foo"}, "InvalidRequest"),
    ({"x-amz-decoded-content-length": "-1"}, "InvalidArgument"),
])
def test_invalid_body_headers(srv, headers, code):
    request = v4_request(srv, "PUT", "/bucket/k", b"abc", headers=headers)
    assert_error(send_request(srv, request), code, 400)


def test_invalid_content_sha256_value(srv):
    request = v4_request(srv, "PUT", "/bucket/k", auth_cls=StreamingAuth, marker="STREAMING-BOGUS")
    assert_error(send_request(srv, request, body=b""), "InvalidArgument", 400)


def test_expect_100_continue_answered_only_after_authentication(srv):
    request = v4_request(srv, "PUT", "/bucket/k", b"body!", secret="wrong")
    headers = list(request.headers.items()) + [("Host", f"127.0.0.1:{srv.port}"),
                                               ("Content-Length", "5"), ("Expect", "100-continue")]
    # Body deliberately not sent: the refusal must come from the headers alone.
    assert_error(exchange(srv.port, head_bytes("PUT", "/bucket/k", headers)),
                 "SignatureDoesNotMatch", 403)
    assert srv.harness.take()["stage"] == "expect"

    request = v4_request(srv, "PUT", "/bucket/k", b"body!")
    headers = list(request.headers.items()) + [("Host", f"127.0.0.1:{srv.port}"),
                                               ("Content-Length", "5"), ("Expect", "100-continue")]
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as sock:
        sock.sendall(head_bytes("PUT", "/bucket/k", headers))
        interim = b""
        while b"\r\n\r\n" not in interim:
            interim += sock.recv(1024)
        assert interim.startswith(b"HTTP/1.1 100 Continue")
        sock.sendall(b"body!")
        response = http.client.HTTPResponse(sock)
        response.begin()
        assert response.status == 200
    assert srv.harness.take()["data"] == b"body!"


def test_truncated_plain_body(srv):
    request = v4_request(srv, "PUT", "/bucket/k", b"0123456789")
    head = list(request.headers.items()) + [("Host", f"127.0.0.1:{srv.port}"),
                                            ("Content-Length", "10")]
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as sock:
        sock.sendall(head_bytes("PUT", "/bucket/k", head) + b"01234")
        sock.shutdown(socket.SHUT_WR)
        sock.recv(1024)
    outcome = srv.harness.take()
    assert (outcome["ok"], outcome["code"]) == (False, "IncompleteBody")


# --- aws-chunked encoders (test side, from the AWS spec) -------------------------------------

def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def derive_key(secret: str, date: str, region: str = "us-east-1") -> bytes:
    """SigV4 key derivation: HMAC chain over date, region, service, "aws4_request"."""
    return _hmac(_hmac(_hmac(_hmac(("AWS4" + secret).encode(), date), region), "s3"), "aws4_request")


def encode_signed_chunks(chunks, key, timestamp, scope, seed, trailer=None,
                         corrupt_chunk=None) -> bytes:
    """STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER] body.

    Each chunk: ``hex(len);chunk-signature=SIG\\r\\nDATA\\r\\n`` where SIG is the hex
    HMAC (derived key) of "AWS4-HMAC-SHA256-PAYLOAD\\n<timestamp>\\n<scope>\\n<previous
    signature>\\n<sha256('')>\\n<sha256(DATA)>", the previous signature of the first
    chunk being the request's (seed) signature.  A final zero-length chunk ends the
    data; with trailers, the trailer lines follow it, then
    ``x-amz-trailer-signature:`` signing "AWS4-HMAC-SHA256-TRAILER\\n<timestamp>\\n
    <scope>\\n<final chunk signature>\\n<sha256('name:value\\n' ...)>", then CRLF.
    """
    empty = hashlib.sha256(b"").hexdigest()
    previous, out = seed, bytearray()
    for index, chunk in enumerate(list(chunks) + [b""]):
        to_sign = "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", timestamp, scope, previous, empty,
                             hashlib.sha256(chunk).hexdigest()])
        previous = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        signature = "0" * 64 if index == corrupt_chunk else previous
        out += f"{len(chunk):x};chunk-signature={signature}\r\n".encode() + chunk
        if chunk or trailer is None:
            out += b"\r\n"
    if trailer is not None:
        canonical = "".join(f"{name}:{value}\n" for name, value in trailer)
        to_sign = "\n".join(["AWS4-HMAC-SHA256-TRAILER", timestamp, scope, previous,
                             hashlib.sha256(canonical.encode()).hexdigest()])
        signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        out += "".join(f"{n}:{v}\r\n" for n, v in trailer).encode()
        out += f"x-amz-trailer-signature:{signature}\r\n\r\n".encode()
    return bytes(out)


def encode_unsigned_chunks(chunks, trailer=()) -> bytes:
    """STREAMING-UNSIGNED-PAYLOAD-TRAILER body, as botocore's AwsChunkedWrapper frames it."""
    out = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks)
    return out + b"0\r\n" + b"".join(f"{n}:{v}\r\n".encode() for n, v in trailer) + b"\r\n"


class StreamingAuth(botocore.auth.S3SigV4Auth):
    """botocore's signer, with the streaming marker standing in for the body hash."""

    def __init__(self, credentials, service, region, marker):
        super().__init__(credentials, service, region)
        self._marker = marker

    def payload(self, request):
        return self._marker


def streaming_put(srv, chunks, *, trailer=None, mode=None, decoded_length=None, path="/bucket/k",
                  corrupt_chunk=None, http_chunked=False, declare_trailer=True, body_edit=None):
    """Sign (via botocore) and send a chunk-signed upload; return the response."""
    data = b"".join(chunks)
    mode = mode or ("STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER" if trailer is not None
                    else "STREAMING-AWS4-HMAC-SHA256-PAYLOAD")
    headers = {"Content-Encoding": "aws-chunked",
               "x-amz-decoded-content-length": str(len(data) if decoded_length is None
                                                   else decoded_length)}
    if trailer is not None and declare_trailer:
        headers["x-amz-trailer"] = ",".join(n for n, _ in trailer)
    # Content-Length stays unsigned (added when sending) so edited bodies keep framing.
    request = AWSRequest(method="PUT", url=srv.url + path, headers=headers)
    StreamingAuth(Credentials(ACCESS, SECRET), "s3", "us-east-1", mode).add_auth(request)
    timestamp = request.headers["X-Amz-Date"]
    seed = request.headers["Authorization"].rsplit("Signature=", 1)[1]
    scope = f"{timestamp[:8]}/us-east-1/s3/aws4_request"
    body = encode_signed_chunks(chunks, derive_key(SECRET, timestamp[:8]), timestamp, scope, seed,
                                trailer, corrupt_chunk)
    if body_edit:
        body = body_edit(body)
    if http_chunked:
        body = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 7000]), body[i:i + 7000])
                        for i in range(0, len(body), 7000)) + b"0\r\n\r\n"
        return send_request(srv, request, body=body, extra=[("Transfer-Encoding", "chunked")])
    return send_request(srv, request, body=body)


def unsigned_trailer_put(srv, body: bytes, decoded_length: int | None,
                         trailer_names=("x-amz-checksum-crc32",), extra_headers=None, **kw):
    headers = {"Content-Encoding": "aws-chunked", "x-amz-trailer": ",".join(trailer_names),
               **(extra_headers or {})}
    if decoded_length is not None:
        headers["x-amz-decoded-content-length"] = str(decoded_length)
    request = AWSRequest(method="PUT", url=srv.url + "/bucket/k", headers=headers)
    StreamingAuth(Credentials(ACCESS, SECRET), "s3", "us-east-1",
                  "STREAMING-UNSIGNED-PAYLOAD-TRAILER").add_auth(request)
    return send_request(srv, request, body=body, **kw)


# --- aws-chunked: the AWS documentation examples ------------------------------------------

DOC_CHUNKS = [b"a" * 65536, b"a" * 1024]


def _doc_request(srv, trailer: bool) -> bytes:
    seed = ("106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e" if trailer
            else "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9")
    signed = ("content-encoding;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;"
              "x-amz-storage-class;x-amz-trailer" if trailer else
              "content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;"
              "x-amz-decoded-content-length;x-amz-storage-class")
    headers = [("Host", "s3.amazonaws.com"), ("x-amz-date", "20130524T000000Z"),
               ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
               ("Authorization", f"AWS4-HMAC-SHA256 Credential={DOC_ACCESS}/20130524/us-east-1/"
                                 f"s3/aws4_request,SignedHeaders={signed},Signature={seed}"),
               ("x-amz-content-sha256",
                "STREAMING-AWS4-HMAC-SHA256-PAYLOAD" + ("-TRAILER" if trailer else "")),
               ("Content-Encoding", "aws-chunked"), ("x-amz-decoded-content-length", "66560")]
    if trailer:
        headers.append(("x-amz-trailer", "x-amz-checksum-crc32c"))
    key = derive_key(DOC_SECRET, "20130524")
    body = encode_signed_chunks(DOC_CHUNKS, key, "20130524T000000Z",
                                "20130524/us-east-1/s3/aws4_request", seed, [("x-amz-checksum-crc32c", "sOO8/Q==")] if trailer else None)
    if not trailer:
        assert len(body) == 66824          # the documented Content-Length
    headers.append(("Content-Length", str(len(body))))
    return head_bytes("PUT", "/examplebucket/chunkObject.txt", headers) + body


@pytest.mark.parametrize("trailer", [False, True])
def test_aws_documented_chunked_upload(srv, trailer):
    srv.harness.authenticator = Authenticator(IDENTITIES, clock=lambda: DOC_TIME + 1)
    raw = _doc_request(srv, trailer)
    signatures = ([b"b474d886", b"1c1344b1", b"2ca2aba2", b"d81f82fc"] if trailer
                  else [b"ad80c730", b"0055627c", b"b6c6ea8a"])
    assert all(s in raw for s in signatures)            # our encoder reproduces the spec
    assert exchange(srv.port, raw)[0] == 200
    outcome = srv.harness.take()
    assert outcome["data"] == b"a" * 66560
    assert outcome["content_encoding"] is None
    if trailer:
        assert outcome["checksums"] == {"CRC32C": "sOO8/Q=="}


# --- aws-chunked: signed, botocore seed ---------------------------------------------------

@pytest.mark.parametrize("sizes", [[1], [65536, 65536, 17], [8192] * 9 + [3], [3 * 1024 * 1024 + 5]])
def test_signed_chunks_decode_exactly(srv, sizes):
    chunks = [os.urandom(n) for n in sizes]
    assert streaming_put(srv, chunks, path="/bucket/" + url_key('&+-é" 日本😀'))[0] == 200
    outcome = srv.harness.take()
    assert outcome["data"] == b"".join(chunks)
    assert max(outcome["sizes"]) <= 1 << 20
    assert outcome["length"] == sum(sizes)


def test_signed_chunks_over_http_chunked_transfer(srv):
    chunks = [os.urandom(20000), os.urandom(20000), os.urandom(5)]
    assert streaming_put(srv, chunks, http_chunked=True)[0] == 200
    assert srv.harness.take()["data"] == b"".join(chunks)


def test_empty_signed_streaming_body(srv):
    assert streaming_put(srv, [])[0] == 200
    assert srv.harness.take()["data"] == b""


@pytest.mark.parametrize("algorithm", ["CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256"])
def test_signed_chunks_with_signed_trailer(srv, algorithm):
    chunks = [os.urandom(70000), os.urandom(100)]
    data = b"".join(chunks)
    name = f"x-amz-checksum-{algorithm.lower()}"
    assert streaming_put(srv, chunks, trailer=[(name, checksum_b64(algorithm, data))])[0] == 200
    outcome = srv.harness.take()
    assert outcome["data"] == data
    assert outcome["checksums"] == {algorithm: checksum_b64(algorithm, data)}


@pytest.mark.parametrize("algorithm", ["CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256"])
def test_unsigned_trailer_each_algorithm(srv, algorithm):
    chunks = [os.urandom(9000), os.urandom(10)]
    data = b"".join(chunks)
    name = f"x-amz-checksum-{algorithm.lower()}"
    body = encode_unsigned_chunks(chunks, [(name, checksum_b64(algorithm, data))])
    assert unsigned_trailer_put(srv, body, len(data), (name,))[0] == 200
    outcome = srv.harness.take()
    assert outcome["data"] == data
    assert outcome["checksums"] == {algorithm: checksum_b64(algorithm, data)}


def test_unsigned_trailer_without_decoded_length(srv):
    data = os.urandom(5000)
    body = encode_unsigned_chunks([data], [("x-amz-checksum-crc32", checksum_b64("CRC32", data))])
    assert unsigned_trailer_put(srv, body, None)[0] == 200
    assert srv.harness.take()["data"] == data


# --- aws-chunked: hostile bodies ---------------------------------------------------------------

def test_bad_chunk_signature_in_middle_chunk(srv):
    chunks = [os.urandom(10000), os.urandom(10000), os.urandom(10000)]
    assert_error(streaming_put(srv, chunks, corrupt_chunk=1), "SignatureDoesNotMatch", 403)


def test_tampered_chunk_data(srv):
    chunks = [b"a" * 10000, b"b" * 10000]
    edit = lambda body: body.replace(b"bbbb", b"cccc", 1)   # noqa: E731
    assert_error(streaming_put(srv, chunks, body_edit=edit), "SignatureDoesNotMatch", 403)


def test_bad_trailer_signature(srv):
    data = os.urandom(100)
    def edit(body):
        return re.sub(rb"trailer-signature:[0-9a-f]{64}", b"trailer-signature:" + b"0" * 64, body)
    trailer = [("x-amz-checksum-crc32", checksum_b64("CRC32", data))]
    response = streaming_put(srv, [data], trailer=trailer, body_edit=edit)
    assert_error(response, "SignatureDoesNotMatch", 403)


def test_wrong_checksum_in_signed_trailer(srv):
    chunks = [os.urandom(100_000), os.urandom(100)]
    response = streaming_put(srv, chunks, trailer=[("x-amz-checksum-crc32", "AAAAAA==")])
    assert_error(response, "BadDigest", 400)
    # The last piece is withheld until verification: the consumer never had it all.
    assert srv.harness.take()["received"] < 100_100


def test_verification_precedes_the_only_piece(srv):
    with pytest.raises(ClientError):
        s3_client(srv.url).put_object(Bucket="b", Key="k", Body=b"data", ChecksumSHA1="A" * 27 + "=")
    assert srv.harness.take()["received"] == 0
    request = v4_request(srv, "PUT", "/bucket/k", b"original")
    assert_error(send_request(srv, request, body=b"tampered"), "XAmzContentSHA256Mismatch", 400)
    assert srv.harness.take()["received"] == 0


def test_wrong_checksum_in_unsigned_trailer(srv):
    body = encode_unsigned_chunks([b"hello"], [("x-amz-checksum-crc32c", "AAAAAA==")])
    assert_error(unsigned_trailer_put(srv, body, 5, ("x-amz-checksum-crc32c",)), "BadDigest", 400)


def test_declared_trailer_missing(srv):
    body = encode_unsigned_chunks([b"hello"])
    assert_error(unsigned_trailer_put(srv, body, 5), "IncompleteBody", 400)


def test_undeclared_trailer(srv):
    body = encode_unsigned_chunks([b"hello"], [("x-amz-checksum-sha1", checksum_b64("SHA1", b"hello"))])
    assert_error(unsigned_trailer_put(srv, body, 5, ()), "InvalidRequest", 400)


@pytest.mark.parametrize("declared, code", [(30001, "IncompleteBody"), (29999, "InvalidRequest"),
                                            (0, "InvalidRequest")])
def test_decoded_length_must_match(srv, declared, code):
    chunks = [os.urandom(10000)] * 3
    assert_error(streaming_put(srv, chunks, decoded_length=declared), code, 400)


def test_decoded_length_mismatch_unsigned(srv):
    trailer = [("x-amz-checksum-crc32", checksum_b64("CRC32", b"hello"))]
    body = encode_unsigned_chunks([b"hello"], trailer)
    assert_error(unsigned_trailer_put(srv, body, 6), "IncompleteBody", 400)
    assert_error(unsigned_trailer_put(srv, body, 4), "InvalidRequest", 400)


def test_truncated_chunked_body_inside_chunk(srv):
    chunks = [os.urandom(10000), os.urandom(10000)]
    edit = lambda body: body[:12000]   # noqa: E731
    # Sent with HTTP chunked transfer so the HTTP body ends cleanly: aws framing is cut.
    assert_error(streaming_put(srv, chunks, body_edit=edit, http_chunked=True), "IncompleteBody", 400)


def test_truncated_chunked_body_at_transport_level(srv):
    chunks = [os.urandom(10000), os.urandom(10000)]
    request = AWSRequest(method="PUT", url=srv.url + "/bucket/k",
                         headers={"Content-Encoding": "aws-chunked",
                                  "x-amz-decoded-content-length": "20000"})
    StreamingAuth(Credentials(ACCESS, SECRET), "s3", "us-east-1",
                  "STREAMING-AWS4-HMAC-SHA256-PAYLOAD").add_auth(request)
    timestamp = request.headers["X-Amz-Date"]
    body = encode_signed_chunks(chunks, derive_key(SECRET, timestamp[:8]), timestamp,
                                f"{timestamp[:8]}/us-east-1/s3/aws4_request",
                                request.headers["Authorization"].rsplit("=", 1)[1])
    headers = list(request.headers.items()) + [("Host", f"127.0.0.1:{srv.port}"),
                                               ("Content-Length", str(len(body)))]
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as sock:
        sock.sendall(head_bytes("PUT", "/bucket/k", headers) + body[:15000])
        sock.shutdown(socket.SHUT_WR)
        sock.recv(1024)
    outcome = srv.harness.take()
    assert (outcome["ok"], outcome["code"]) == (False, "IncompleteBody")


@pytest.mark.parametrize("body", [
    b"a" * 10000,                                        # size line without end, oversized
    b"zz\r\nhello\r\n0\r\n\r\n",                        # non-hex size
    b"-5\r\nhello\r\n0\r\n\r\n",                        # negative size
    b"5\r\nhelloXX0\r\n\r\n",                           # data not followed by CRLF
    b"11111111111111111\r\n",                           # 17 hex digits
])
def test_malformed_chunk_framing(srv, body):
    response = unsigned_trailer_put(srv, body, 5, ())
    assert_error(response, "InvalidRequest", 400)


def test_garbage_after_final_chunk(srv):
    assert_error(streaming_put(srv, [b"hello"], body_edit=lambda body: body + b"junk"),
                 "InvalidRequest", 400)
    body = encode_unsigned_chunks([b"hello"]) + b"junk\r\n\r\n"
    assert_error(unsigned_trailer_put(srv, body, 5, ()), "InvalidRequest", 400)


def test_missing_chunk_signature_in_signed_mode(srv):
    edit = lambda body: body.replace(b";chunk-signature=", b";x=", 1)   # noqa: E731
    assert_error(streaming_put(srv, [b"hello"], body_edit=edit), "SignatureDoesNotMatch", 403)


def test_signed_streaming_requires_header_auth(srv):
    url = presign(srv, "PUT", "k")
    status, body = fetch(srv, "PUT", url, encode_unsigned_chunks([b"x"]),
                         headers=[("x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"),
                                  ("Content-Encoding", "aws-chunked")])
    assert_error((status, body), "InvalidRequest", 400)


def test_aws_chunked_encoding_without_streaming_marker_is_the_body_as_sent(srv):
    """As S3: only a STREAMING-* payload hash says the body is framed; ``aws-chunked``
    in Content-Encoding alone is dropped from what is stored, the bytes kept as sent."""
    body = encode_unsigned_chunks([b"hello ", b"world"])
    request = v4_request(srv, "PUT", "/bucket/k", headers={"Content-Encoding": "gzip,aws-chunked"},
                         auth_cls=StreamingAuth, marker="UNSIGNED-PAYLOAD")
    assert send_request(srv, request, body=body)[0] == 200
    outcome = srv.harness.take()
    assert outcome["data"] == body
    assert outcome["content_encoding"] == "gzip"
