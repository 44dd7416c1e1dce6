"""The S3 application: one route, dispatch by operation, errors rendered in one place.

Order of work for every request: parse the target (bucket, key, operation) → authenticate
from headers/query alone → authorize (role and bucket scope) → only then answer
``Expect: 100-continue`` and read the body → run the operation. Any ``GatewayError``
raised on the way becomes an S3 error document here and nowhere else.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import secrets
import time

from aiohttp import web

from gateway import errors, metrics
from gateway.gatekeeper.gatekeeper import Access, Gatekeeper, QuarantineRefusal
from gateway.identities import Identity
from gateway.logs import log_request
from gateway.s3.auth import Authenticator
from gateway.s3.call import MAX_UPLOAD_BYTES, S3Call, Services
from gateway.s3.handlers import (acl, attributes, buckets, cors, listing, multipart, objects,
                                 post_object, tagging)
from gateway.s3.responses import error_response
from gateway.s3.routing import S3Target, parse_target

log = logging.getLogger("provgate.s3")

HANDLERS = {
    "ListBuckets": buckets.list_buckets,
    "CreateBucket": buckets.create_bucket,
    "HeadBucket": buckets.head_bucket,
    "DeleteBucket": buckets.delete_bucket,
    "GetBucketLocation": buckets.get_bucket_location,
    "GetBucketVersioning": buckets.get_bucket_versioning,
    "PutBucketVersioning": buckets.put_bucket_versioning,
    "ListObjects": listing.list_objects_v1,
    "ListObjectsV2": listing.list_objects_v2,
    "ListObjectVersions": listing.list_object_versions,
    "PutObject": objects.put_object,
    "GetObject": objects.get_object,
    "HeadObject": objects.head_object,
    "DeleteObject": objects.delete_object,
    "DeleteObjects": objects.delete_objects,
    "GetObjectTagging": tagging.get_object_tagging,
    "GetObjectAttributes": attributes.get_object_attributes,
    "PutObjectTagging": tagging.put_object_tagging,
    "DeleteObjectTagging": tagging.delete_object_tagging,
    "CreateMultipartUpload": multipart.create_multipart_upload,
    "UploadPart": multipart.upload_part,
    "CompleteMultipartUpload": multipart.complete_multipart_upload,
    "AbortMultipartUpload": multipart.abort_multipart_upload,
    "ListParts": multipart.list_parts,
    "ListMultipartUploads": multipart.list_multipart_uploads,
    "GetBucketAcl": acl.get_bucket_acl,
    "GetObjectAcl": acl.get_object_acl,
    "GetBucketCors": cors.get_bucket_cors,
    "PutBucketCors": cors.put_bucket_cors,
    "DeleteBucketCors": cors.delete_bucket_cors,
    "PreflightRequest": cors.preflight,
    "PostObject": post_object.post_object,
}

# Operations not authenticated from headers or query before the body: a preflight never
# is (browsers do not sign it), a POST form carries its signature in its fields.
UNSIGNED_OPERATIONS = {"PreflightRequest", "PostObject"}

# The least role each operation needs (see gateway.identities.ROLES).
def _access(operation: str) -> Access:
    """What an operation does to its bucket, for the quarantine bucket's visibility."""
    if operation == "CreateBucket":
        return Access.CREATE_BUCKET
    if operation in READ_OPERATIONS:
        return Access.READ
    return Access.DISCARD if operation in ("DeleteObject", "DeleteObjects") else Access.WRITE


def _check_visibility(gatekeeper: Gatekeeper, identity: Identity, target: S3Target) -> None:
    """The gatekeeper's visibility rules (the quarantine bucket), as S3 errors."""
    refusal = gatekeeper.quarantine_refusal(identity, target.bucket, _access(target.operation))
    if refusal is QuarantineRefusal.NAME_TAKEN:       # the name is taken, whoever asks
        raise errors.BucketAlreadyExists(resource=f"/{target.bucket}", BucketName=target.bucket)
    if refusal is QuarantineRefusal.HIDDEN:
        raise errors.NoSuchBucket(resource=f"/{target.bucket}", BucketName=target.bucket)
    if refusal is QuarantineRefusal.INTAKE_ONLY:
        raise errors.AccessDenied(
            f"The quarantine bucket is written only by policy intake; {target.operation} "
            "is not allowed there", resource=f"/{target.bucket}")


READ_OPERATIONS = {"ListBuckets", "HeadBucket", "GetBucketLocation", "GetBucketVersioning",
                   "ListObjects", "ListObjectsV2", "ListObjectVersions", "GetObject",
                   "HeadObject", "GetObjectTagging", "GetObjectAttributes", "ListParts",
                   "ListMultipartUploads", "GetBucketAcl", "GetObjectAcl", "GetBucketCors"}
ADMIN_OPERATIONS = {"DeleteBucket", "PutBucketCors", "DeleteBucketCors"}


def required_role(operation: str) -> str:
    if operation in READ_OPERATIONS:
        return "reader"
    if operation in ADMIN_OPERATIONS:
        return "admin"
    return "writer"



REQUEST_ID = "provgate.request_id"
CALL = "provgate.call"
ERROR = "provgate.error"        # the GatewayError a request was answered with, for its log line


class S3Application:
    def __init__(self, services: Services, authenticator: Authenticator, domain: str = "",
                 max_header_bytes: int = 16384) -> None:
        self.services = services
        self.authenticator = authenticator
        self.domain = domain
        # The whole header section; aiohttp's parser bounds each line (plain 400 above it).
        self.max_header_bytes = max_header_bytes
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()

    def build(self, client_max_size: int = 1 << 20) -> web.Application:
        app = web.Application(client_max_size=client_max_size, middlewares=[self._errors])
        # [\s\S]: keys may hold a newline, which "." would not match (aiohttp's plain 404).
        app.router.add_route("*", r"/{tail:[\s\S]*}", self._handle, expect_handler=self._expect)
        app.on_response_prepare.append(_answer_headers)
        return app

    def _prepare(self, request: web.Request) -> S3Call:
        """Target, authentication and authorization: everything decided before the body."""
        existing = request.get(CALL)
        if existing is not None:
            return existing
        header_bytes = sum(len(name) + len(value) + 4 for name, value in request.raw_headers)
        if header_bytes > self.max_header_bytes:
            raise errors.RequestHeaderSectionTooLarge(
                MaxSizeAllowed=str(self.max_header_bytes))
        target = parse_target(request.method, request.raw_path, request.host, self.domain)
        call = S3Call(request, target, None, self.services, self._authorize,
                      self.authenticator)
        if target.operation not in UNSIGNED_OPERATIONS:
            call.authenticated(self.authenticator.authenticate(request))
        request[CALL] = call
        return call

    def _authorize(self, call: S3Call) -> None:
        """Role, bucket scope and visibility of an authenticated call, and the declared
        length of an upload: all decided before 100 Continue and any body byte."""
        request, target, auth = call.request, call.target, call.auth
        identity = auth.identity
        if target.bucket and not identity.may_access_bucket(target.bucket):
            raise errors.AccessDenied(resource=f"/{target.bucket}")
        if not identity.has_role(required_role(target.operation)):
            raise errors.AccessDenied(
                f"Identity '{identity.name}' ({identity.role}) may not {target.operation}")
        if target.bucket:
            _check_visibility(self.services.gatekeeper, identity, target)
        if (target.operation in ("PutObject", "UploadPart")
                and "x-amz-copy-source" not in request.headers):
            # Refused from the declared length, before 100 Continue and any body byte.
            if (request.content_length is None
                    and "chunked" not in request.headers.get("Transfer-Encoding", "").lower()):
                raise errors.MissingContentLength()
            if (auth.payload.length or 0) > MAX_UPLOAD_BYTES:
                raise errors.EntityTooLarge(ProposedSize=str(auth.payload.length),
                                            MaxSizeAllowed=str(MAX_UPLOAD_BYTES))

    async def _expect(self, request: web.Request) -> None:
        """Answer ``Expect: 100-continue`` only for requests that may proceed."""
        try:
            self._prepare(request)
        except errors.GatewayError as exc:
            request[ERROR] = exc
            # Refuse before the client sends its body; the connection is not reusable.
            response = error_response(exc, _request_id(request), request.method)
            response.force_close()
            return response
        expect = request.headers.get("Expect", "")
        if expect.lower() == "100-continue":
            await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            request.writer.output_size = 0  # the interim answer is not the response's size
        return None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        call = self._prepare(request)
        request["provgate.operation"] = call.target.operation
        handler = HANDLERS.get(call.target.operation)
        if handler is None:
            raise errors.NotImplementedOperation(f"{call.target.operation} is not implemented")
        return await handler(call)

    @web.middleware
    async def _errors(self, request: web.Request, handler) -> web.StreamResponse:
        request_id = _request_id(request)
        started = time.monotonic()
        metrics.S3_IN_FLIGHT.inc()
        self._in_flight += 1
        self._idle.clear()
        try:
            response = await self._respond(request, handler, request_id)
        finally:
            metrics.S3_IN_FLIGHT.dec()
            self._in_flight -= 1
            if self._in_flight == 0:
                self._idle.set()
        self._account(request, response, time.monotonic() - started)
        return response

    async def drain(self, timeout: float) -> bool:
        """Wait until no request is in flight (True) or ``timeout`` passes (False).

        aiohttp's own graceful shutdown stops reading from connections at once, which
        stalls uploads still receiving their body; so the server stops listening, waits
        here, and only then shuts the connections.
        """
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
            return True
        except asyncio.TimeoutError:
            return False

    async def _respond(self, request: web.Request, handler, request_id: str) -> web.StreamResponse:
        try:
            return await handler(request)
        except errors.GatewayError as exc:
            request[ERROR] = exc
            if exc.status >= 500:
                log.warning("request %s failed: %s %s", request_id, exc.code, exc.message)
            response = error_response(exc, request_id, request.method)
            if exc.status in (400, 403, 411) and not request.content.at_eof():
                # The body was not read; closing is cheaper than draining a large one.
                response.force_close()
            return response
        except web.HTTPException as exc:
            return exc
        except Exception as exc:
            if errors.is_storage_full(exc):
                log.error("request %s refused: storage full (%s)", request_id, exc)
                response = error_response(errors.StorageFull(), request_id, request.method)
                response.force_close()   # the body may be unread
                return response
            log.exception("request %s failed unexpectedly", request_id)
            response = error_response(errors.InternalError(), request_id, request.method)
            response.force_close()
            return response

    @staticmethod
    def _account(request: web.Request, response: web.StreamResponse, seconds: float) -> None:
        call = request.get(CALL)
        operation = call.target.operation if call else "Unknown"
        bytes_in = request.content.total_bytes
        bytes_out = response.body_length if response.prepared else len(getattr(response, "body", b"") or b"")
        _counted(operation, response.status).inc()
        _timed(operation).observe(seconds)
        metrics.S3_BYTES_IN.inc(bytes_in)
        metrics.S3_BYTES_OUT.inc(bytes_out)
        log_request(request_id=_request_id(request), remote=request.remote or "-",
                    identity=call.auth.identity.name if call and call.auth else "-",
                    method=request.method,
                    path=request.raw_path.split("?", 1)[0], operation=operation, status=response.status,
                    bytes_in=bytes_in, bytes_out=bytes_out, seconds=seconds,
                    reason=_failure_reason(request.get(ERROR)))


# A metric's child for a label set, looked up once: ``labels()`` takes a lock and
# builds its key on every call. Bounded: operations come from HANDLERS and routing, and
# statuses are the few an S3 answer has.
@functools.lru_cache(maxsize=1024)
def _counted(operation: str, status: int):
    return metrics.S3_REQUESTS.labels(operation, str(status))


@functools.lru_cache(maxsize=256)
def _timed(operation: str):
    return metrics.S3_REQUEST_SECONDS.labels(operation)


def _failure_reason(exc: errors.GatewayError | None) -> str:
    """Why a request was refused, for the request log: the S3 error code, its message
    and the access key it claimed (never a secret, a signature or a header value)."""
    if exc is None:
        return ""
    reason = f"{exc.code}: {exc.message}"
    access_key = exc.fields.get("AWSAccessKeyId")
    if access_key:
        reason += f" (access key {access_key})"
    return reason


def _request_id(request: web.Request) -> str:
    request_id = request.get(REQUEST_ID)
    if request_id is None:
        request_id = request[REQUEST_ID] = secrets.token_hex(8).upper()
    return request_id


async def _answer_headers(request: web.Request, response: web.StreamResponse) -> None:
    """Headers on every answer: the request id and the server's name; and CORS headers
    on the answer to a cross-origin request (one with an ``Origin``) that the bucket's
    rules allow, errors included (a browser shows a script neither otherwise). A
    preflight's answer has its own. One callback, not two: it runs for every request."""
    request_id = _request_id(request)
    headers = response.headers
    headers["x-amz-request-id"] = request_id
    headers["x-amz-id-2"] = request_id
    headers["Server"] = "provgate"
    call = request.get(CALL)
    if (call is None or call.target.operation == "PreflightRequest"
            or "Origin" not in request.headers):
        return
    headers.update(await cors.actual_request_headers(call, request.method))
