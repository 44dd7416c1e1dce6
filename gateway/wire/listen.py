"""Listening for HTTP: an aiohttp site on a ``host:port`` address, and the stop signal.

Shared by ``provgate serve`` (S3 and admin listeners) and the folder sidecar (its metrics
listener under ``provgate watch``).
"""

from __future__ import annotations

import asyncio
import signal

from aiohttp import web

from gateway.wire.addresses import parse_listen

# Seconds a SIGTERM waits for in-flight requests before closing their connections.
SHUTDOWN_TIMEOUT = 30.0


async def start_site(app: web.Application, listen: str, *, ssl_context=None,
                     handler_args: dict | None = None) -> tuple[web.AppRunner, str]:
    """Serve ``app`` on ``listen``; returns the runner and the URL it answers at (the real
    port when ``listen`` asked for port 0).  ``handler_args`` go to aiohttp's request
    handler (header size limits, decompression)."""
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT,
                           **(handler_args or {}))
    await runner.setup()
    host, port = parse_listen(listen)
    site = web.TCPSite(runner, host, port, ssl_context=ssl_context, reuse_address=True)
    await site.start()
    sock = site._server.sockets[0].getsockname()  # the real port when 0 was asked for
    scheme = "https" if ssl_context else "http"
    shown_host = f"[{sock[0]}]" if ":" in sock[0] else sock[0]
    return runner, f"{scheme}://{shown_host}:{sock[1]}"


def stop_signal_event() -> asyncio.Event:
    """An event set on SIGTERM (systemd stopping the service) or SIGINT (Ctrl-C), from
    now on: installed before start-up work, a signal during it ends the process cleanly."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop


async def until_stop_signal() -> None:
    """Return on SIGTERM (systemd stopping the service) or SIGINT (Ctrl-C)."""
    await stop_signal_event().wait()
