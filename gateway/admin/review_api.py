"""Admin API for review (authenticated: ``gateway.admin.auth``).

    GET  /api/v1/reviews                               the queue: pending current versions,
                                                       oldest first (?bucket= narrows it)
    GET  /api/v1/reviews/{bucket}/{key}                one version's review (?versionId=),
                                                       and the state of every version
    POST /api/v1/reviews/{bucket}/{key}/decisions      {"decision": "approve" |
                                                       "request-changes" | "reject",
                                                       "note"?, "version_id"?}
    POST /api/v1/reviews/{bucket}/{key}/comments       {"text", "region"? {x,y,w,h},
                                                       "timecode"? {start,end},
                                                       "reply_to"?, "version_id"?}
    POST /api/v1/reviews/{bucket}/{key}/comments/{id}/resolve   {"version_id"?}
    PUT  /api/v1/reviews/{bucket}/{key}/rating         {"rating": 0..5, "version_id"?}
    POST /api/v1/quarantine/{bucket}/{key}/release     {"note"?}: into its bucket
    POST /api/v1/quarantine/{bucket}/{key}/discard     {"note"?}: delete it

``{bucket}/{key}`` is where the write was sent (for the quarantine too: the gateway
knows where it keeps it). Errors are ``{"error": {"code", "message"}}``; a review rule
that refuses an approval answers 403 with ``error.rule`` and header
``x-provgate-policy``, as an intake denial does.
"""

from __future__ import annotations


from aiohttp import web

from gateway import errors
from gateway.admin.auth import request_json, require
from gateway.gatekeeper.review_gate import ReviewGate

_KEY = "{bucket}/{key:.+}"


def _version(doc: dict, request: web.Request) -> str | None:
    value = doc.get("version_id", request.query.get("versionId"))
    if value is not None and (not isinstance(value, str) or not value):
        raise errors.InvalidArgument("version_id must be a non-empty string")
    return value


def _target(request: web.Request) -> tuple[str, str]:
    return request.match_info["bucket"], request.match_info["key"]


def add_review_routes(app: web.Application, gate: ReviewGate) -> None:
    async def show(request: web.Request) -> web.Response:
        bucket, key = _target(request)
        require(request, role="reviewer" if bucket == gate.quarantine_bucket else "reader",
                bucket=bucket)
        return web.json_response(gate.show(bucket, key, request.query.get("versionId")))

    async def decide(request: web.Request) -> web.Response:
        bucket, key = _target(request)
        doc = request_json(request)
        state = await gate.decide(bucket, key, _version(doc, request), doc.get("decision"),
                                  request["identity"], doc.get("note"))
        return web.json_response(state)

    async def comment(request: web.Request) -> web.Response:
        bucket, key = _target(request)
        doc = request_json(request)
        unknown = set(doc) - {"text", "region", "timecode", "reply_to", "version_id"}
        if unknown:
            raise errors.InvalidArgument(f"unknown field {sorted(unknown)[0]!r}")
        state = await gate.comment(bucket, key, _version(doc, request), request["identity"],
                                   doc.get("text"), region=doc.get("region"),
                                   timecode=doc.get("timecode"), reply_to=doc.get("reply_to"))
        return web.json_response(state, status=201)

    async def resolve(request: web.Request) -> web.Response:
        bucket, key = _target(request)
        doc = request_json(request)
        return web.json_response(await gate.resolve(
            bucket, key, _version(doc, request), request.match_info["comment"],
            request["identity"]))

    async def rate(request: web.Request) -> web.Response:
        bucket, key = _target(request)
        doc = request_json(request)
        if "rating" not in doc:
            raise errors.InvalidArgument("rating is required (0..5)")
        return web.json_response(await gate.rate(bucket, key, _version(doc, request),
                                                 doc["rating"], request["identity"]))

    async def release(request: web.Request) -> web.Response:
        bucket, key = _target(request)
        doc = request_json(request)
        return web.json_response(await gate.release(bucket, key, request["identity"],
                                                    doc.get("note")))

    async def discard(request: web.Request) -> web.Response:
        bucket, key = _target(request)
        doc = request_json(request)
        return web.json_response(await gate.discard(bucket, key, request["identity"],
                                                    doc.get("note")))

    app.router.add_post(f"/api/v1/reviews/{_KEY}/decisions", decide)
    app.router.add_post(f"/api/v1/reviews/{_KEY}/comments/{{comment}}/resolve", resolve)
    app.router.add_post(f"/api/v1/reviews/{_KEY}/comments", comment)
    app.router.add_put(f"/api/v1/reviews/{_KEY}/rating", rate)
    app.router.add_post(f"/api/v1/quarantine/{_KEY}/release", release)
    app.router.add_post(f"/api/v1/quarantine/{_KEY}/discard", discard)
    app.router.add_get(f"/api/v1/reviews/{_KEY}", show)
