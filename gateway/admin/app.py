"""The admin listener: health, readiness, Prometheus metrics and the JSON API (/api/v1)."""

from __future__ import annotations

import asyncio
from typing import Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from gateway import errors, metrics
from gateway.admin.auth import AdminAuthenticator, admin_auth_middleware, require
from gateway.catalog import Catalog
from gateway.provenance import Extractor
from gateway.storage.base import StorageBackend
from gateway.storage.space import FreeSpace


def build_admin_app(backend: StorageBackend, catalog: Catalog, extractor: Extractor,
                    authenticator: AdminAuthenticator, *,
                    quarantine_bucket: str | None = None, space: FreeSpace | None = None,
                    readiness: dict[str, Callable[[], str | None]] | None = None,
                    registries: tuple = ()) -> web.Application:
    """The admin listener's application; ``/api/v1`` answers authenticated callers only.

    ``quarantine_bucket``: its records are shown to reviewers (and above) only.
    ``space``: the free-space watch readiness consults (None: no disk check).
    ``readiness``: more named checks (e.g. ``sidecar``), each returning why it is not
    ready or None; read at every ``/readyz``, so parts started later can add theirs.
    ``registries``: Prometheus registries of other parts in this process (the folder
    sidecar's) shown on ``/metrics`` after the gateway's own.
    """
    readiness = readiness if readiness is not None else {}
    metrics.watch_runtime(catalog=catalog, pool=extractor.pool)

    async def healthz(request: web.Request) -> web.Response:
        # Alive means the event loop answers; dependencies are /readyz's business.
        return web.json_response({"status": "ok"})

    async def readyz(request: web.Request) -> web.Response:
        problems = {}
        try:
            await backend.check()
        except errors.GatewayError as exc:
            problems["backend"] = exc.message
        try:
            catalog.count_assets()
        except Exception as exc:  # noqa: BLE001 — any failure to read means not ready
            problems["catalog"] = f"catalog unreadable: {exc}"
        reason = extractor.pool.usable()
        if reason:
            problems["exiftool"] = reason
        low = await asyncio.to_thread(space.low) if space is not None else None
        if low:
            problems["disk"] = low
        for name, check in list(readiness.items()):
            reason = check()
            if reason:
                problems[name] = reason
        if problems:
            return web.json_response({"status": "unavailable", **problems}, status=503)
        return web.json_response({"status": "ready", "backend": "ok", "catalog": "ok",
                                  "exiftool": "ok", "disk": "ok"})

    async def metrics_page(request: web.Request) -> web.Response:
        await asyncio.to_thread(metrics.refresh_review_queue)
        await asyncio.to_thread(metrics.refresh_spend)
        body = b"".join(generate_latest(r) for r in (metrics.REGISTRY, *registries))
        return web.Response(body=body,
                            headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def asset(request: web.Request) -> web.Response:
        """The provenance record of an asset version (current, or ``?versionId=``)."""
        bucket, key = request.match_info["bucket"], request.match_info["key"]
        require(request, role="reviewer" if bucket == quarantine_bucket else "reader",
                bucket=bucket)
        version_id = request.query.get("versionId")
        found = catalog.version(bucket, key, version_id)
        if found is None:
            raise errors.NoSuchKey(f"no asset {bucket}/{key}"
                                   + (f" version {version_id}" if version_id else ""))
        return web.json_response({"bucket": bucket, "key": key, **found,
                                  "asset": catalog.asset(bucket, key)})

    async def lineage(request: web.Request) -> web.Response:
        """What a version (current, or ``?versionId=``) was made from, and what was made
        from the asset (``provgate asset lineage``)."""
        bucket, key = request.match_info["bucket"], request.match_info["key"]
        require(request, role="reviewer" if bucket == quarantine_bucket else "reader",
                bucket=bucket)
        if catalog.asset(bucket, key) is None:
            raise errors.NoSuchKey(f"no asset {bucket}/{key}")
        return web.json_response(catalog.lineage(bucket, key, request.query.get("versionId")))

    app = web.Application(middlewares=[admin_auth_middleware(authenticator)])
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_page)
    app.router.add_get("/api/v1/assets/{bucket}/{key:.+}", asset)
    app.router.add_get("/api/v1/lineage/{bucket}/{key:.+}", lineage)
    return app
