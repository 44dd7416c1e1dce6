"""The admin listener: health, readiness, Prometheus metrics and the JSON API (/api/v1)."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from gateway import errors, metrics
from gateway.catalog import Catalog
from gateway.provenance import Extractor
from gateway.storage.base import StorageBackend


def build_admin_app(backend: StorageBackend, catalog: Catalog, extractor: Extractor,
                    registries: tuple = ()) -> web.Application:
    """``registries``: Prometheus registries of other parts in this process (the folder
    sidecar's) shown on ``/metrics`` after the gateway's own."""
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
        if problems:
            return web.json_response({"status": "unavailable", **problems}, status=503)
        return web.json_response({"status": "ready", "backend": "ok", "catalog": "ok",
                                  "exiftool": "ok"})

    async def metrics_page(request: web.Request) -> web.Response:
        body = b"".join(generate_latest(r) for r in (metrics.REGISTRY, *registries))
        return web.Response(body=body,
                            headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def asset(request: web.Request) -> web.Response:
        """The provenance record of an asset version (current, or ``?versionId=``)."""
        bucket, key = request.match_info["bucket"], request.match_info["key"]
        version_id = request.query.get("versionId")
        found = catalog.version(bucket, key, version_id)
        if found is None:
            return web.json_response({"error": "NoSuchAsset", "bucket": bucket, "key": key,
                                      "version_id": version_id}, status=404)
        return web.json_response({"bucket": bucket, "key": key, **found,
                                  "asset": catalog.asset(bucket, key)})

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_page)
    app.router.add_get("/api/v1/assets/{bucket}/{key:.+}", asset)
    return app
