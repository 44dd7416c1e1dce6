"""The admin listener: health, readiness and Prometheus metrics; the JSON API builds on it."""

from __future__ import annotations

from aiohttp import web

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from gateway import errors, metrics
from gateway.storage.base import StorageBackend


def build_admin_app(backend: StorageBackend) -> web.Application:
    async def healthz(request: web.Request) -> web.Response:
        # Alive means the event loop answers; dependencies are /readyz's business.
        return web.json_response({"status": "ok"})

    async def readyz(request: web.Request) -> web.Response:
        try:
            await backend.check()
        except errors.GatewayError as exc:
            return web.json_response({"status": "unavailable", "backend": exc.message}, status=503)
        return web.json_response({"status": "ready", "backend": "ok"})

    async def metrics_page(request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(metrics.REGISTRY),
                            headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_page)
    return app
