"""Hostile-input helpers: requests signed by botocore's own signers, then sent byte for
byte over a raw socket so that nothing between the test and the server "fixes" them.

Used by ``tests/test_hostile_*.py``. The pattern of every hostile test::

    reply = send(gateway, "PUT", path, headers=sign_v4(gateway, "PUT", path, body=...), body=...)
    assert_error(reply, 400, "BadDigest")
    guard.check()          # server alive, stored objects byte-identical, nothing new listed
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import os
import socket
import threading
import uuid
import xml.etree.ElementTree as ET
import zlib
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from unittest import mock
from urllib.parse import quote, urlsplit
from urllib.request import urlopen

import pytest
from botocore.auth import HmacV1QueryAuth, S3SigV4Auth, S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from gateway.provenance.xmp import parse_sidecar
from tests.support.metrics import scrape, total
from tests.support.polling import wait_for
from tests.support.server import ADMIN

ANSWERED = "provgate_s3_requests_total"
MAX_KEY_BYTES = 1024          # S3's key limit: a record of a longer key has no address

STREAMING_SIGNED = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
STREAMING_UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
REGION = "us-east-1"


# --- signing -----------------------------------------------------------------------

class _SigV4(S3SigV4Auth):
    """botocore's S3 SigV4 signer, with the payload hash chosen by the test."""

    def __init__(self, credentials, payload_hash: str | None):
        super().__init__(credentials, "s3", REGION)
        self._payload_hash = payload_hash

    def payload(self, request):
        if self._payload_hash is not None:
            return self._payload_hash
        return super().payload(request)


def _clock(when: datetime | None):
    if when is None:
        return nullcontext()
    naive = when.astimezone(timezone.utc).replace(tzinfo=None)
    return mock.patch("botocore.auth.get_current_datetime", return_value=naive)


def host_of(endpoint: str) -> str:
    return urlsplit(endpoint).netloc


def sign_v4(endpoint: str, method: str, target: str, *, headers: dict | None = None,
            body: bytes = b"", identity: dict = ADMIN, payload_hash: str | None = None,
            when: datetime | None = None) -> dict[str, str]:
    """Headers (Host, X-Amz-Date, X-Amz-Content-SHA256, Authorization and the given
    ones) for ``method target`` signed by botocore; ``target`` is the raw, already
    percent-encoded path plus query exactly as it will be sent."""
    endpoint = getattr(endpoint, "endpoint", endpoint)
    all_headers = {"Host": host_of(endpoint), **(headers or {})}
    request = AWSRequest(method=method, url=endpoint + target, headers=all_headers, data=body)
    signer = _SigV4(Credentials(identity["access_key"], identity["secret"]), payload_hash)
    with _clock(when):
        signer.add_auth(request)
    return dict(request.headers.items())


def presign_v4(endpoint: str, method: str, target: str, *, identity: dict = ADMIN,
               expires: int = 300, when: datetime | None = None) -> str:
    """A SigV4 presigned target (path + query) made by botocore's query signer."""
    endpoint = getattr(endpoint, "endpoint", endpoint)
    request = AWSRequest(method=method, url=endpoint + target, headers={})
    signer = S3SigV4QueryAuth(Credentials(identity["access_key"], identity["secret"]), "s3",
                              REGION, expires=expires)
    with _clock(when):
        signer.add_auth(request)
    parts = urlsplit(request.url)
    return parts.path + "?" + parts.query


def presign_v2(endpoint: str, method: str, target: str, *, identity: dict = ADMIN,
               expires: int = 300) -> str:
    """A SigV2 query-string presigned target (``expires`` may be negative: already expired)."""
    endpoint = getattr(endpoint, "endpoint", endpoint)
    request = AWSRequest(method=method, url=endpoint + target, headers={})
    HmacV1QueryAuth(Credentials(identity["access_key"], identity["secret"]),
                    expires=expires).add_auth(request)
    parts = urlsplit(request.url)
    return parts.path + "?" + parts.query


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def signing_key(secret: str, date: str) -> bytes:
    key = _hmac(f"AWS4{secret}".encode(), date)
    for part in (REGION, "s3", "aws4_request"):
        key = _hmac(key, part)
    return key


def aws_chunked_signed(headers: dict[str, str], chunks: list[bytes], secret: str,
                       corrupt: int | None = None) -> bytes:
    """An ``STREAMING-AWS4-HMAC-SHA256-PAYLOAD`` body for ``chunks`` (the final empty
    chunk is added), chained from the seed signature in ``headers``; the chunk at index
    ``corrupt`` (len(chunks) = the final chunk) gets a wrong signature."""
    timestamp = headers["X-Amz-Date"]
    previous = headers["Authorization"].rsplit("Signature=", 1)[1]
    scope = f"{timestamp[:8]}/{REGION}/s3/aws4_request"
    key = signing_key(secret, timestamp[:8])
    empty = hashlib.sha256(b"").hexdigest()
    out = bytearray()
    for index, chunk in enumerate([*chunks, b""]):
        to_sign = "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", timestamp, scope, previous, empty,
                             hashlib.sha256(chunk).hexdigest()])
        signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        previous = signature
        if index == corrupt:
            signature = ("0" if signature[0] != "0" else "1") + signature[1:]
        out += f"{len(chunk):x};chunk-signature={signature}\r\n".encode() + chunk + b"\r\n"
    return bytes(out)


def aws_chunked_trailer(data: bytes, trailer: str, chunk_size: int = 65536) -> bytes:
    """An unsigned aws-chunked body with one trailer line (``name:value``)."""
    out = bytearray()
    for start in range(0, len(data), chunk_size):
        chunk = data[start:start + chunk_size]
        out += f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    out += b"0\r\n" + trailer.encode() + b"\r\n\r\n"
    return bytes(out)


def crc32_b64(data: bytes) -> str:
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


def md5_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


# --- raw HTTP ------------------------------------------------------------------------

@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes
    will_close: bool

    @property
    def code(self) -> str | None:
        """The S3 error ``<Code>``, or None when the body is not an S3 error document."""
        try:
            root = ET.fromstring(self.body)
        except ET.ParseError:
            return None
        if root.tag != "Error":
            return None
        return root.findtext("Code")

    def __repr__(self) -> str:
        return f"Reply({self.status}, {self.body[:300]!r})"


class ConnectionDropped(Exception):
    """The server closed the connection without an HTTP response."""


def connect(endpoint, timeout: float = 30.0) -> socket.socket:
    endpoint = getattr(endpoint, "endpoint", endpoint)
    parts = urlsplit(endpoint)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def request_head(method: str, target: str, headers: dict[str, str]) -> bytes:
    lines = [f"{method} {target} HTTP/1.1"] + [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8", "surrogateescape")


def exchange(endpoint, method: str, data: bytes, timeout: float = 30.0) -> Reply:
    """Send ``data`` (a hand-made request) on a new connection and read the reply."""
    sock = connect(endpoint, timeout=timeout)
    try:
        sock.sendall(data)
        return read_reply(sock, method)
    finally:
        sock.close()


def read_reply(sock: socket.socket, method: str) -> Reply:
    response = http.client.HTTPResponse(sock, method=method)
    try:
        response.begin()
    except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as exc:
        raise ConnectionDropped(str(exc)) from None
    try:
        body = response.read()
    except (http.client.IncompleteRead, ConnectionResetError) as exc:
        body = getattr(exc, "partial", b"")
    headers = {k.lower(): v for k, v in response.getheaders()}
    return Reply(response.status, headers, body, response.will_close)


def send(endpoint, method: str, target: str, *, headers: dict[str, str] | None = None,
         body: bytes = b"", content_length: int | None = None, timeout: float = 30.0,
         end: str = "keep") -> Reply:
    """Send one request exactly as given and read the reply.

    ``content_length`` declares a length different from ``len(body)``; ``end`` says what
    happens after the body: ``keep`` (wait for the reply), ``shutdown`` (half-close, so
    the server sees EOF, then read), ``close`` (drop the connection; returns None).
    The body is written from a thread, so a server that answers early and stops
    reading cannot deadlock the test.
    """
    headers = dict(headers or {})
    if not any(k.lower() in ("content-length", "transfer-encoding") for k in headers) and (
            body or method in ("PUT", "POST")):
        headers["Content-Length"] = str(len(body) if content_length is None else content_length)
    # A provgate server (not a bare URL) lets a dropped request be waited for.
    admin = getattr(endpoint, "admin", "") if end == "close" else ""
    answered_before = total(scrape(admin), ANSWERED) if admin else 0
    sock = connect(endpoint, timeout)
    try:
        sock.sendall(request_head(method, target, headers))

        def write_body() -> None:
            try:
                sock.sendall(body)
                if end == "shutdown":
                    sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass  # the server answered and closed early: the reply tells why

        writer = threading.Thread(target=write_body, daemon=True)
        writer.start()
        if end == "close":
            writer.join(timeout)
            sock.close()
            if admin:
                # The server accounts for every request it ends, dropped ones included.
                wait_for(lambda: total(scrape(admin), ANSWERED) > answered_before, timeout,
                         "the server to finish the dropped request")
            return None
        try:
            return read_reply(sock, method)
        finally:
            writer.join(5)
    finally:
        sock.close()


def assert_error(reply: Reply, status: int, code: str) -> None:
    assert reply is not None, "no reply"
    assert (reply.status, reply.code) == (status, code), reply
    assert reply.headers.get("content-type", "").startswith("application/xml"), reply.headers


def quote_key(key: str) -> str:
    return quote(key, safe="/~")


# --- the guard: alive, untouched, nothing new ------------------------------------------

def spool_dir(gateway) -> Path:
    if gateway.storage["kind"] == "fs":
        return Path(gateway.storage["path"]) / ".provgate" / "spool"
    return Path(gateway.storage["spool_dir"])


def leftover_files(directory: Path) -> list[str]:
    if not directory.exists():
        return []
    return [str(p) for p in directory.rglob("*") if p.is_file()]


def versions_of(s3, bucket: str) -> dict[tuple[str, str, bool], tuple[int, str]]:
    """Every version and delete marker in ``bucket``, as a user lists them:
    ``{(key, version id, is delete marker): (size, ETag)}``."""
    found = {}
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        for v in page.get("Versions", []):
            found[(v["Key"], v["VersionId"], False)] = (v["Size"], v["ETag"])
        for m in page.get("DeleteMarkers", []):
            found[(m["Key"], m["VersionId"], True)] = (0, "")
    return found


def stored_state(s3, skip: str) -> dict[str, dict]:
    """Every bucket the identity sees (but ``skip``) with every version in it."""
    names = [b["Name"] for b in s3.list_buckets().get("Buckets", [])]
    return {name: versions_of(s3, name) for name in names if name != skip}


@dataclass
class Guard:
    """A bucket holding known objects; ``check`` proves a hostile request changed nothing.

    What it compares, as a client sees it: every other bucket, with every version and
    delete marker, is as it was when the guard was made (no bucket came or went); in
    its own bucket the objects are exactly ``objects`` (tests add what they store on
    purpose), none has a delete marker, the ones ``put`` here still have the version
    they were written as, and each object's XMP record (``<key>.xmp``) names the bytes
    it sits beside (their SHA-256) and is byte for byte the one written with them.
    """

    gateway: object
    s3: object
    bucket: str
    objects: dict[str, bytes] = field(default_factory=dict)
    log_start: int = 0
    written: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # key: (version, record)
    elsewhere: dict[str, dict] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.log_start = len(self.gateway.output)

    def put(self, key: str, data: bytes, **extra) -> None:
        reply = self.s3.put_object(Bucket=self.bucket, Key=key, Body=data, **extra)
        self.objects[key] = data
        self.written[key] = (reply.get("VersionId", "null"), self.record(key))

    def snapshot(self) -> None:
        """Remember every other bucket as it is now (called once the guard is set up)."""
        self.elsewhere = stored_state(self.s3, skip=self.bucket)

    def record(self, key: str) -> bytes:
        return self.s3.get_object(Bucket=self.bucket, Key=key + ".xmp")["Body"].read()

    def alive(self) -> None:
        process = self.gateway.process
        assert process is not None and process.poll() is None, (
            "provgate exited:\n" + self.gateway.log()[-4000:])
        with urlopen(self.gateway.admin + "/healthz", timeout=10) as reply:
            assert reply.status == 200
        self.s3.head_bucket(Bucket=self.bucket)

    def listing(self) -> dict[str, int]:
        found: dict[str, int] = {}
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket):
            found.update({o["Key"]: o["Size"] for o in page.get("Contents", [])})
        # Records are not listed: the listing is exactly the stored objects.
        return found

    def unexpected_errors(self) -> list[str]:
        """Server log lines since the guard was made that show an unhandled failure (a
        500 from an exception provgate did not map, an asyncio task that crashed)."""
        marks = ("failed unexpectedly", "Task exception was never retrieved",
                 "Exception in callback", "Unhandled exception")
        return [line for line in self.gateway.output[self.log_start:]
                if any(mark in line for mark in marks)]

    def check(self, uploads: int = 0) -> None:
        self.alive()
        assert self.unexpected_errors() == []
        assert self.listing() == {k: len(v) for k, v in self.objects.items()}
        versions = versions_of(self.s3, self.bucket)
        for key, data in self.objects.items():
            got = self.s3.get_object(Bucket=self.bucket, Key=key)
            assert got["Body"].read() == data, f"stored object {key!r} changed"
            if len((key + ".xmp").encode()) <= MAX_KEY_BYTES:   # else it has no address
                record = parse_sidecar(self.record(key)).record
                assert record.sha256 == hashlib.sha256(data).hexdigest(), (
                    f"the XMP record of {key[:80]!r} does not name its bytes")
            if key in self.written:
                version, written_record = self.written[key]
                mine = sorted((v, marker) for k, v, marker in versions if k == key)
                assert mine == [(version, False)], (
                    f"{key!r} has versions or delete markers it was not written with: {mine}")
                assert self.record(key) == written_record, f"the record of {key!r} changed"
        elsewhere = stored_state(self.s3, skip=self.bucket)
        changed = sorted(name for name in elsewhere.keys() | self.elsewhere.keys()
                         if elsewhere.get(name) != self.elsewhere.get(name))
        assert changed == [], f"a bucket other than the guard's changed: {changed}"
        listed = self.s3.list_multipart_uploads(Bucket=self.bucket).get("Uploads", [])
        assert len(listed) == uploads, listed
        self.no_spool_leftovers()

    def no_spool_leftovers(self, wait: float = 30.0) -> None:
        """No half-received body is left in the spool (cleanup may trail the reply)."""
        directory = spool_dir(self.gateway)
        wait_for(lambda: not leftover_files(directory), wait,
                 f"no spool leftovers in {directory}", lambda: str(leftover_files(directory)))

    def rss(self) -> int:
        import psutil
        return psutil.Process(self.gateway.process.pid).memory_info().rss


def client_error(call) -> tuple[int, str]:
    """(HTTP status, S3 error code) of the ClientError that ``call()`` must raise."""
    with pytest.raises(ClientError) as info:
        call()
    response = info.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"]


def make_guard(gateway, s3, bucket: str) -> Guard:
    guard = Guard(gateway, s3, bucket)
    guard.put("sentinel.bin", os.urandom(70_000), Metadata={"kept": "yes"})
    guard.put("dir/nested sentinel é.txt", b"hello sentinel\n")
    guard.snapshot()
    return guard


def unique(prefix: str = "k") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def skewed(minutes: float) -> datetime:
    return datetime.now(timezone.utc) + timedelta(minutes=minutes)

