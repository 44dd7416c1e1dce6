"""Bucket CORS: Get/Put/DeleteBucketCors, the OPTIONS preflight, and the CORS headers of
actual cross-origin requests (see ``gateway.s3.cors`` for the rules' semantics)."""

from __future__ import annotations

from aiohttp import web

from gateway import errors
from gateway.s3 import cors
from gateway.s3.call import S3Call
from gateway.s3.responses import xml_response


async def get_bucket_cors(call: S3Call) -> web.Response:
    rules = await call.gatekeeper.bucket_cors(call.bucket)
    if rules is None:
        raise errors.NoSuchCORSConfiguration(resource=f"/{call.bucket}",
                                             BucketName=call.bucket)
    return xml_response("CORSConfiguration", cors.configuration_body(rules))


async def put_bucket_cors(call: S3Call) -> web.Response:
    rules = cors.parse_configuration(await call.small_body(cors.MAX_CONFIGURATION_BYTES))
    await call.gatekeeper.set_bucket_cors(call.bucket, rules)
    return web.Response(status=200)


async def delete_bucket_cors(call: S3Call) -> web.Response:
    await call.gatekeeper.head_bucket(call.bucket)
    await call.gatekeeper.set_bucket_cors(call.bucket, None)
    return web.Response(status=204)


async def preflight(call: S3Call) -> web.Response:
    """OPTIONS: answered from the bucket's rules alone, unauthenticated (browsers never
    sign a preflight). A bucket without rules, or that does not exist, answers 403 as
    one whose rules do not allow the request: an anonymous caller learns nothing more."""
    asked = cors.preflight_of(call.headers)
    try:
        rules = await call.gatekeeper.bucket_cors(call.bucket)
    except errors.NoSuchBucket:
        rules = None
    if rules is None:
        raise errors.CORSForbidden("CORSResponse: CORS is not enabled for this bucket.",
                                   resource=call.request.path)
    allowed = cors.allowing_rule(rules, asked.origin, asked.method, asked.headers)
    if allowed is None:
        raise errors.CORSForbidden(resource=call.request.path)
    rule, pattern = allowed
    return web.Response(status=200, headers=cors.answer_headers(
        rule, pattern, asked.origin, requested_headers=asked.headers, preflight=True))


async def actual_request_headers(call: S3Call, method: str) -> dict[str, str]:
    """The CORS headers for a request that carries an ``Origin`` (empty when the bucket
    has no rule allowing it, or cannot be read: the answer itself is not changed)."""
    origin = call.headers.get("Origin")
    if not origin or not call.bucket:
        return {}
    try:
        rules = await call.gatekeeper.bucket_cors(call.bucket)
    except errors.GatewayError:
        return {}
    allowed = cors.allowing_rule(rules or [], origin, method)
    if allowed is None:
        return {}
    rule, pattern = allowed
    return cors.answer_headers(rule, pattern, origin, preflight=False)
