"""``provgate watch``: the sidecar alone, with its own metrics and health listener."""

from __future__ import annotations

import logging

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from gateway.config import Config
from gateway.wire.addresses import parse_listen
from gateway.wire.listen import start_site, until_stop_signal
from sidecar import metrics
from sidecar.service import Sidecar

log = logging.getLogger("provgate.sidecar")


def gateway_endpoint(config: Config) -> str:
    """Where the sidecar sends files: ``[sidecar] endpoint``, else this config's own
    S3 listener (a wildcard address reached on loopback)."""
    assert config.sidecar is not None
    if config.sidecar.settings.endpoint:
        return config.sidecar.settings.endpoint.rstrip("/")
    host, port = parse_listen(config.server.listen)
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
    shown = f"[{host}]" if ":" in host else host
    scheme = "https" if config.server.tls_cert else "http"
    return f"{scheme}://{shown}:{port}"


def gateway_certificate(config: Config) -> str | None:
    """The certificate the sidecar pins when it sends to its own config's TLS listener
    (``[server] tls_cert``, often self-signed); None for an explicit ``[sidecar]
    endpoint`` (verified against the system's authorities) or a plain-http listener."""
    assert config.sidecar is not None
    if config.sidecar.settings.endpoint or not config.server.tls_cert:
        return None
    return str(config.resolve(config.server.tls_cert))


def not_ready_reason(sidecar: Sidecar) -> str | None:
    """Why the sidecar's shares are stuck (the gateway does not answer it), or None."""
    if sidecar.gateway_up:
        return None
    names = ", ".join(share.name for share in sidecar.shares)
    return (f"the folder sidecar cannot reach the gateway at {sidecar.endpoint}; "
            f"uploads from share(s) {names} are held")


def build_metrics_app(sidecar: Sidecar) -> web.Application:
    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(request: web.Request) -> web.Response:
        if sidecar.gateway_up:
            return web.json_response({"status": "ready", "gateway": "ok"})
        return web.json_response({"status": "unavailable",
                                  "gateway": "not answering; uploads are held"}, status=503)

    async def metrics_page(request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(metrics.REGISTRY),
                            headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_page)
    return app


async def watch(config: Config) -> None:
    assert config.sidecar is not None
    sidecar = Sidecar(config, gateway_endpoint(config), gateway_certificate(config))
    runner = None
    if config.sidecar.settings.metrics_listen:
        runner, url = await start_site(build_metrics_app(sidecar), config.sidecar.settings.metrics_listen)
        # Tests and scripts read this line to learn the port (listen may say port 0).
        print(f"provgate: sidecar metrics {url}", flush=True)
    await sidecar.start()
    print(f"provgate: sidecar watching {len(config.sidecar.shares)} share(s), "
          f"gateway {sidecar.endpoint}", flush=True)
    await until_stop_signal()
    log.info("stopping: no new files; finishing in-flight uploads")
    await sidecar.stop()
    if runner is not None:
        await runner.cleanup()
