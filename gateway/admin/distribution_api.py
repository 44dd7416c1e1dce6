"""Admin API for distribution: the queue, and the same actions as ``provgate distribute``.

    GET  /api/v1/distribution/status     per target: jobs by state, queue depth, oldest
                                         job age; unfinished jobs (``?target=``, and
                                         ``?bucket=&key=`` for every job of one asset)
    POST /api/v1/distribution/retry      {"target"?, "bucket"?, "key"?}: dead, retrying
                                         and blocked jobs run again from attempt 1
    POST /api/v1/distribution/resync     {"bucket"?, "key"?, "version_id"?}: routes
                                         evaluated again (one version: on_review_change)
    POST /api/v1/distribution/takedown   {"bucket", "key", "version_id"?, "target"?,
                                         "reason"?}: copies removed from the targets

Errors answer ``{"error": {"code", "message"}}`` with the HTTP status. Reading needs the
reader role, acting the publisher role (enforced by ``gateway.admin.auth`` where the
admin listener authenticates).
"""

from __future__ import annotations

import json

from aiohttp import web

from gateway import errors, kv
from gateway.admin.auth import require
from gateway.distribution import Distributor


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


async def _body(request: web.Request, allowed: tuple[str, ...]) -> dict:
    # The authentication layer has read the body already (a SigV4 signature covers it).
    raw = request.get("body", b"")
    if len(raw) > 64 * 1024:
        raise ValueError("the request body is larger than 64 KiB")
    try:
        doc = json.loads(raw or b"{}")
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"the body is not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise ValueError("the body must be a JSON object")
    unknown = sorted(set(doc) - set(allowed))
    if unknown:
        raise ValueError(f"unknown field {unknown[0]!r} (known: {', '.join(allowed)})")
    for name, value in doc.items():
        if not isinstance(value, str) or not value:
            raise ValueError(f"{name!r} must be a non-empty string")
    return doc


def add_distribution_routes(app: web.Application, distributor: Distributor) -> None:
    async def status(request: web.Request) -> web.Response:
        q = request.query
        require(request, role="reader", bucket=q.get("bucket"))
        if "key" in q and "bucket" not in q:
            return _error(400, "InvalidArgument", "key needs bucket")
        return web.json_response(distributor.status(target=q.get("target"),
                                                    bucket=q.get("bucket"), key=q.get("key")))

    async def act(request: web.Request, allowed: tuple[str, ...], run) -> web.Response:
        try:
            doc = await _body(request, allowed)
        except ValueError as exc:
            return _error(400, "InvalidArgument", str(exc))
        require(request, role="publisher", bucket=doc.get("bucket"))
        if "key" in doc and "bucket" not in doc or "version_id" in doc and "key" not in doc:
            return _error(400, "InvalidArgument", "key needs bucket, version_id needs key")
        if "target" in doc and doc["target"] not in distributor.config.targets:
            return _error(400, "InvalidArgument", f"no target named {doc['target']!r}")
        try:
            jobs = await run(doc)
        except errors.GatewayError as exc:
            return _error(exc.status, exc.code, exc.message)
        return web.json_response({"jobs": [j.to_json() for j in jobs]})

    async def retry(request: web.Request) -> web.Response:
        async def run(doc):
            return await kv.offload(distributor.retry, target=doc.get("target"),
                                    bucket=doc.get("bucket"), key=doc.get("key"))
        return await act(request, ("target", "bucket", "key"), run)

    async def resync(request: web.Request) -> web.Response:
        async def run(doc):
            if "version_id" in doc:
                return await distributor.on_review_change(doc["bucket"], doc["key"],
                                                          doc["version_id"])
            return await distributor.resync(doc.get("bucket"), doc.get("key"))
        return await act(request, ("bucket", "key", "version_id"), run)

    async def takedown(request: web.Request) -> web.Response:
        async def run(doc):
            if "key" not in doc:
                raise errors.InvalidArgument("takedown needs bucket and key")
            return await distributor.takedown(doc["bucket"], doc["key"], doc.get("version_id"),
                                              target=doc.get("target"),
                                              reason=doc.get("reason", "manual takedown"))
        return await act(request, ("bucket", "key", "version_id", "target", "reason"), run)

    app.router.add_get("/api/v1/distribution/status", status)
    app.router.add_post("/api/v1/distribution/retry", retry)
    app.router.add_post("/api/v1/distribution/resync", resync)
    app.router.add_post("/api/v1/distribution/takedown", takedown)
