"""The S3 application: one route, dispatch by operation, errors rendered in one place.

Order of work for every request: parse the target (bucket, key, operation) → authenticate
from headers/query alone → authorize (role and bucket scope) → only then answer
``Expect: 100-continue`` and read the body → run the operation. Any ``GatewayError``
raised on the way becomes an S3 error document here and nowhere else.
"""

from __future__ import annotations

import logging
import secrets

from aiohttp import web

from gateway import errors
from gateway.s3.auth import Authenticator
from gateway.s3.call import S3Call, Services
from gateway.s3.handlers import buckets, listing, multipart, objects, tagging
from gateway.s3.responses import error_response
from gateway.s3.routing import parse_target

log = logging.getLogger("provgate.s3")

HANDLERS = {
    "ListBuckets": buckets.list_buckets,
    "CreateBucket": buckets.create_bucket,
    "HeadBucket": buckets.head_bucket,
    "DeleteBucket": buckets.delete_bucket,
    "GetBucketLocation": buckets.get_bucket_location,
    "GetBucketVersioning": buckets.get_bucket_versioning,
    "ListObjects": listing.list_objects_v1,
    "ListObjectsV2": listing.list_objects_v2,
    "ListObjectVersions": listing.list_object_versions,
    "PutObject": objects.put_object,
    "GetObject": objects.get_object,
    "HeadObject": objects.head_object,
    "DeleteObject": objects.delete_object,
    "DeleteObjects": objects.delete_objects,
    "GetObjectTagging": tagging.get_object_tagging,
    "PutObjectTagging": tagging.put_object_tagging,
    "DeleteObjectTagging": tagging.delete_object_tagging,
    "CreateMultipartUpload": multipart.create_multipart_upload,
    "UploadPart": multipart.upload_part,
    "CompleteMultipartUpload": multipart.complete_multipart_upload,
    "AbortMultipartUpload": multipart.abort_multipart_upload,
    "ListParts": multipart.list_parts,
    "ListMultipartUploads": multipart.list_multipart_uploads,
}

# The least role each operation needs (see gateway.identities.ROLES).
READ_OPERATIONS = {"ListBuckets", "HeadBucket", "GetBucketLocation", "GetBucketVersioning",
                   "ListObjects", "ListObjectsV2", "ListObjectVersions", "GetObject",
                   "HeadObject", "GetObjectTagging", "ListParts", "ListMultipartUploads"}
ADMIN_OPERATIONS = {"DeleteBucket"}


def required_role(operation: str) -> str:
    if operation in READ_OPERATIONS:
        return "reader"
    if operation in ADMIN_OPERATIONS:
        return "admin"
    return "writer"


REQUEST_ID = "provgate.request_id"
CALL = "provgate.call"


class S3Application:
    def __init__(self, services: Services, authenticator: Authenticator, domain: str = "") -> None:
        self.services = services
        self.authenticator = authenticator
        self.domain = domain

    def build(self, client_max_size: int = 1 << 20) -> web.Application:
        app = web.Application(client_max_size=client_max_size, middlewares=[self._errors])
        app.router.add_route("*", "/{tail:.*}", self._handle, expect_handler=self._expect)
        app.on_response_prepare.append(_common_headers)
        return app

    def _prepare(self, request: web.Request) -> S3Call:
        """Target, authentication and authorization: everything decided before the body."""
        existing = request.get(CALL)
        if existing is not None:
            return existing
        target = parse_target(request.method, request.raw_path, request.host, self.domain)
        auth = self.authenticator.authenticate(request)
        identity = auth.identity
        if target.bucket and not identity.may_access_bucket(target.bucket):
            raise errors.AccessDenied(resource=f"/{target.bucket}")
        if not identity.has_role(required_role(target.operation)):
            raise errors.AccessDenied(
                f"Identity '{identity.name}' ({identity.role}) may not {target.operation}")
        call = S3Call(request, target, auth, self.services)
        request[CALL] = call
        return call

    async def _expect(self, request: web.Request) -> None:
        """Answer ``Expect: 100-continue`` only for requests that may proceed."""
        try:
            self._prepare(request)
        except errors.GatewayError as exc:
            # Refuse before the client sends its body; the connection is not reusable.
            response = error_response(exc, request.get(REQUEST_ID, ""), request.method)
            response.force_close()
            return response
        expect = request.headers.get("Expect", "")
        if expect.lower() == "100-continue":
            await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
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
        request_id = secrets.token_hex(8).upper()
        request[REQUEST_ID] = request_id
        try:
            response = await handler(request)
        except errors.GatewayError as exc:
            if exc.status >= 500:
                log.warning("request %s failed: %s %s", request_id, exc.code, exc.message)
            response = error_response(exc, request_id, request.method)
            if exc.status in (400, 403, 411) and not request.content.at_eof():
                # The body was not read; closing is cheaper than draining a large one.
                response.force_close()
        except web.HTTPException as exc:
            response = exc
        except Exception:
            log.exception("request %s failed unexpectedly", request_id)
            response = error_response(errors.InternalError(), request_id, request.method)
            response.force_close()
        return response


async def _common_headers(request: web.Request, response: web.StreamResponse) -> None:
    request_id = request.get(REQUEST_ID, "")
    response.headers["x-amz-request-id"] = request_id
    response.headers["x-amz-id-2"] = request_id
    response.headers["Server"] = "provgate"
