"""The admin listener: health and readiness now; the JSON API and metrics build on it."""

from __future__ import annotations

from aiohttp import web

from gateway import errors
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

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    return app
