"""A minimal async S3 client on one pooled aiohttp session, signed with SigV4.

Only what the backend needs: path-style requests, bodies streamed from files or from
other streams, responses read whole (small XML) or streamed (object bytes), and every
failure turned into a typed :mod:`gateway.errors` error.

Payloads are sent as ``UNSIGNED-PAYLOAD`` (or the SHA-256 of a small in-memory body)
with a plain ``Content-Length`` — never ``aws-chunked`` and never checksum trailers.
That is botocore's ``when_required`` checksum behaviour: it is what every S3
implementation parses (SeaweedFS, MinIO, Ceph and older gateways misread aws-chunked
framing or trailers), and integrity is covered by ``Content-MD5`` where the digest is
known up front and by comparing ETags.

Timeouts: ``timeout`` bounds connecting, each wait for response data, and each stall
while sending a body; a body fed by a slow client does not count against the upstream
(time spent waiting for the client's next chunk is not measured). An upstream that is
down, refuses, stalls or answers 5xx surfaces as ServiceUnavailable (SlowDown passes
through) within that bound, and the pool reconnects by itself once the upstream is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import hashlib
import logging
from collections.abc import AsyncIterable, AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import yarl

from gateway import errors
from gateway.wire import xmldoc
from gateway.wire.sigv4 import EMPTY_SHA256, UNSIGNED_PAYLOAD, host_header, sign_request, uri_encode

log = logging.getLogger("provgate.storage.s3")

CHUNK = 1 << 20
READ_BUFSIZE = 256 << 10     # aiohttp's read buffer for upstream answers

# What a caller of ``S3Client.send`` catches: ``Unreachable`` when the other end did not
# answer (connect failure, stall, 5xx), ``Failure`` for every typed error the client
# raises (``Unreachable`` included, and a file that changed while it was sent).
Unreachable = errors.ServiceUnavailable
Failure = errors.GatewayError
IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE"})

# Upstream error codes that mean the same to provgate's clients as to ours.
_PASSED_THROUGH = {cls.code: cls for cls in (
    errors.NoSuchBucket, errors.NoSuchKey, errors.NoSuchVersion, errors.NoSuchUpload,
    errors.BucketAlreadyOwnedByYou,
    errors.BucketAlreadyExists, errors.BucketNotEmpty, errors.PreconditionFailed,
    errors.InvalidRange, errors.InvalidPart, errors.InvalidPartOrder, errors.EntityTooSmall,
    errors.EntityTooLarge, errors.KeyTooLongError, errors.InvalidBucketName,
    errors.MetadataTooLarge, errors.InvalidTag, errors.BadDigest, errors.InvalidDigest,
    errors.ConditionalRequestConflict, errors.SlowDown, errors.NoSuchTagSet,
)}
# Upstream refusals that say provgate's own credentials or clock are wrong: an operator's
# problem, so the gateway reports itself unavailable instead of blaming the client.
_CREDENTIAL_CODES = frozenset({"AccessDenied", "SignatureDoesNotMatch", "InvalidAccessKeyId",
                               "RequestTimeTooSkewed", "InvalidToken", "ExpiredToken",
                               "AuthorizationHeaderMalformed"})


@dataclass
class FileSection:
    """``length`` bytes of a local file from ``offset``: a body that can be sent again."""

    path: Path
    offset: int
    length: int

    async def chunks(self) -> AsyncIterator[bytes]:
        with open(self.path, "rb") as fh:
            if self.offset:  # a fresh file object is at 0 already: no thread hop for that
                await asyncio.to_thread(fh.seek, self.offset)
            remaining = self.length
            while remaining > 0:
                # Up to two chunks' worth is read at once: one thread hop, not two.
                chunk = await asyncio.to_thread(
                    fh.read, remaining if remaining <= 2 * CHUNK else CHUNK)
                if not chunk:
                    raise errors.InternalError(
                        f"spool file {self.path.name} is shorter than staged")
                remaining -= len(chunk)
                yield chunk


@dataclass
class StreamSection:
    """A body read once from another stream (a client's upload), of a known length."""

    stream: AsyncIterable[bytes]
    length: int


Body = bytes | FileSection | StreamSection


@dataclass
class Reply:
    status: int
    headers: Mapping[str, str]
    body: bytes = b""
    response: aiohttp.ClientResponse | None = None   # set for streamed replies

    @property
    def etag(self) -> str:
        return xmldoc.unquote_etag(self.headers.get("ETag", ""))


class _Watchdog:
    """A deadline for the current request that moves forward whenever the body advances,
    and that is off while the body waits for its own source (a slow client)."""

    def __init__(self, deadline: asyncio.Timeout, timeout: float) -> None:
        self.deadline = deadline
        self.timeout = timeout
        self.source_error: BaseException | None = None

    def arm(self) -> None:
        self.deadline.reschedule(asyncio.get_running_loop().time() + self.timeout)

    def disarm(self) -> None:
        self.deadline.reschedule(None)

    async def watch(self, chunks: AsyncIterator[bytes],
                    waits_on_source: bool) -> AsyncIterator[bytes]:
        iterator = aiter(chunks)
        while True:
            if waits_on_source:
                self.disarm()
            try:
                chunk = await anext(iterator)
            except StopAsyncIteration:
                self.arm()
                return
            except BaseException as exc:
                # Remembered so the caller reports the body's own error (a failed
                # verification) rather than the broken upload it causes.
                self.source_error = exc
                raise
            self.arm()
            if chunk:
                yield chunk


class S3Client:
    def __init__(self, endpoint: str, region: str, access_key: str, secret: str,
                 timeout: float, *, connections: int = 128, pinned_cert: str | None = None) -> None:
        """``pinned_cert``: a PEM certificate file that is the only one trusted for an
        https endpoint (the gateway's own, possibly self-signed ``tls_cert``); its names
        are not matched against the host, since the certificate itself is pinned."""
        self.endpoint = endpoint.rstrip("/")
        # Sent and signed on every request: derived once, not parsed from each URL.
        self._host = host_header(urlsplit(self.endpoint))
        self.pinned_cert = pinned_cert
        self.region = region or "us-east-1"
        self.access_key = access_key
        self.secret = secret
        self.timeout = timeout
        self.connections = connections
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self.connections, enable_cleanup_closed=True,
                                               ssl=self._ssl_context()),
                timeout=aiohttp.ClientTimeout(total=None, connect=self.timeout,
                                              sock_connect=self.timeout, sock_read=self.timeout),
                # Stored bytes must come back exactly as stored, even when an object's
                # Content-Encoding is gzip; and nothing unsigned should change the request.
                auto_decompress=False, skip_auto_headers=("Accept-Encoding", "Content-Type"),
                # Larger reads: a GET forwards what has arrived (``iter_any``) in fewer,
                # bigger writes (64 KiB by default). Each streaming response may buffer
                # up to twice this before reading pauses.
                read_bufsize=READ_BUFSIZE)
            # aiohttp resends a PUT or DELETE by itself when a kept-alive connection drops,
            # and offers no public switch (aio-libs/aiohttp#10790). On a versioned bucket
            # that resend can store a second version; ``send`` decides what is resent.
            self._session._retry_connection = False

    def _ssl_context(self) -> ssl.SSLContext | bool:
        if not self.pinned_cert:
            return True       # aiohttp's default: the system's trusted authorities
        context = ssl.create_default_context(cafile=self.pinned_cert)
        context.check_hostname = False
        return context

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    def url(self, bucket: str = "", key: str = "",
            query: Mapping[str, str] | None = None) -> yarl.URL:
        path = "/"
        if bucket:
            path += uri_encode(bucket)
            if key:
                path += "/" + uri_encode(key, safe="/")
        text = self.endpoint + path
        if query:
            text += "?" + "&".join(f"{uri_encode(k)}={uri_encode(v)}" for k, v in query.items())
        return yarl.URL(text, encoded=True)

    async def send(self, method: str, bucket: str = "", key: str = "", *,
                   query: Mapping[str, str] | None = None,
                   headers: Mapping[str, str] | None = None, body: Body | None = None,
                   expect: tuple[int, ...] = (200,), stream: bool = False,
                   subject: tuple[str, str] = ("", ""), resend: bool = True) -> Reply:
        """One request; its reply when the status is in ``expect``, a typed error otherwise.

        With ``stream`` the reply carries the open response (the caller releases it);
        otherwise the body is read. ``subject`` (the client's bucket and key) names the
        resource in errors. An idempotent request with a replayable body is sent once more
        when the connection drops; ``resend=False`` leaves that to the caller (on a
        versioned bucket a PUT whose answer was lost may have stored a version already:
        ``errors.AnswerLost``).
        """
        if self._session is None:
            raise errors.ServiceUnavailable("the s3 storage backend is not started")
        url = self.url(bucket, key, query)
        replayable = not isinstance(body, StreamSection)
        attempts = 2 if resend and replayable and method in IDEMPOTENT else 1
        for attempt in range(attempts):
            try:
                return await self._attempt(method, url, dict(headers or {}), body, expect,
                                           stream, subject)
            except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as exc:
                # Most often a pooled keep-alive connection the upstream had closed. The
                # methods retried are idempotent and the body can be sent again.
                if attempt == attempts - 1:
                    raise self._unavailable(exc) from None
        raise AssertionError("unreachable")

    async def _attempt(self, method, url, headers, body, expect, stream, subject) -> Reply:
        assert self._session is not None
        payload_hash = EMPTY_SHA256
        data = None
        if isinstance(body, bytes):
            payload_hash = hashlib.sha256(body).hexdigest()
            data = body
        elif body is not None:
            payload_hash = UNSIGNED_PAYLOAD
            headers["Content-Length"] = str(body.length)
        elif method in ("PUT", "POST"):
            data = b""
        headers.setdefault("Host", self._host)
        headers.update(sign_request(method, str(url), headers, payload_hash, self.access_key,
                                    self.secret, self.region))
        response: aiohttp.ClientResponse | None = None
        watchdog: _Watchdog | None = None
        handed_over = False
        # A request without a body is bounded by the session's own timeouts (connect and
        # pool wait, then each wait for answer data from the moment it is sent); one
        # with a body also needs a deadline for sending it (the watchdog moves it with
        # the body). No deadline for GET and HEAD: a timer less per request.
        bounded = asyncio.timeout(self.timeout) if body is not None else contextlib.nullcontext()
        try:
            async with bounded as deadline:
                if isinstance(body, (FileSection, StreamSection)):
                    watchdog = _Watchdog(deadline, self.timeout)
                    source = body.chunks() if isinstance(body, FileSection) else aiter(body.stream)
                    data = watchdog.watch(source, waits_on_source=isinstance(body, StreamSection))
                response = await self._session.request(method, url, headers=headers, data=data,
                                                       allow_redirects=False)
                if stream and response.status in expect:
                    handed_over = True
                    return Reply(response.status, response.headers, response=response)
                content = await response.read()
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError):
            if watchdog is not None and watchdog.source_error is not None:
                raise watchdog.source_error from None
            raise
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            if response is not None:
                response.close()
            if watchdog is not None and watchdog.source_error is not None:
                raise watchdog.source_error from None
            raise self._unavailable(exc) from None
        except BaseException:
            if response is not None:
                response.close()
            if watchdog is not None and watchdog.source_error is not None:
                raise watchdog.source_error from None
            raise
        finally:
            if response is not None and not handed_over:
                response.release()
        if response.status not in expect:
            raise self.failure(response.status, content, subject)
        # CopyObject, UploadPartCopy and CompleteMultipartUpload may fail after a 200.
        if method in ("PUT", "POST") and content:
            problem = xmldoc.error(content)
            if problem is not None:
                status = 400 if problem.code in _PASSED_THROUGH else 500
                raise self._translate(status, problem.code, problem.message, subject)
        return Reply(response.status, response.headers, content)

    def failure(self, status: int, content: bytes,
                subject: tuple[str, str]) -> errors.GatewayError:
        problem = xmldoc.error(content) if content else None
        code, message = (problem.code, problem.message) if problem else ("", "")
        return self._translate(status, code, message, subject)

    def _translate(self, status: int, code: str, message: str,
                   subject: tuple[str, str]) -> errors.GatewayError:
        bucket, key = subject
        fields = {}
        if bucket:
            fields["BucketName"] = bucket
        if key:
            fields["Key"] = key
        resource = "/" + "/".join(p for p in (bucket, key) if p) if bucket else None
        if not code:  # HEAD and some proxies answer without an error document
            code = {404: "NoSuchKey" if key else "NoSuchBucket", 412: "PreconditionFailed",
                    416: "InvalidRange"}.get(status, "")
        if code in _PASSED_THROUGH and (status < 500 or code == "SlowDown"):
            return _PASSED_THROUGH[code](message or None, resource=resource, **fields)
        if code in _CREDENTIAL_CODES:
            log.error("upstream S3 %s refused provgate's credentials: %s %s", self.endpoint,
                      code, message)
            return errors.ServiceUnavailable(
                f"the storage backend refused provgate's credentials ({code})")
        if status >= 500:
            return errors.ServiceUnavailable(
                f"the storage backend answered {status} {code}".rstrip())
        log.error("upstream S3 %s rejected a request: %s %s %s", self.endpoint, status, code,
                  message)
        return errors.InternalError(f"the storage backend rejected the request ({code or status})")

    def _unavailable(self, exc: BaseException) -> errors.GatewayError:
        # The message reaches S3 clients: it names the kind of failure, while the
        # upstream's address and the details go to the log only.
        if isinstance(exc, TimeoutError):
            reason = f"no answer within {self.timeout:g}s"
        elif isinstance(exc, aiohttp.ClientConnectorError):
            reason = "cannot connect"
        elif isinstance(exc, (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError)):
            reason = "the connection was cut"
        else:
            reason = type(exc).__name__
        log.warning("upstream S3 %s unavailable: %s", self.endpoint, exc or type(exc).__name__)
        message = f"the storage backend is unavailable: {reason}"
        if isinstance(exc, (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError)) or (
                isinstance(exc, aiohttp.ClientOSError)
                and not isinstance(exc, aiohttp.ClientConnectorError)):
            return errors.AnswerLost(message)   # connected, so the request may have landed
        return errors.ServiceUnavailable(message)

    def unavailable(self, exc: BaseException) -> errors.GatewayError:
        """A transport failure while streaming a response, as a typed error."""
        return self._unavailable(exc)
