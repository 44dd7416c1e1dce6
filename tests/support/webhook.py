"""A webhook receiver for distribution tests: a real aiohttp server on loopback, in a
thread, that checks every request's HMAC signature as a connector would.

    receiver = WebhookReceiver(secret).start()
    ... receiver.url ... receiver.events (verified JSON bodies) ... receiver.rejected
    receiver.answer = 503      # refuse (5xx: retried; 4xx: a permanent failure)
    receiver.stop()
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import threading
import time

from aiohttp import web

TOLERANCE = 300     # seconds a signed timestamp stays acceptable (replay window)


class WebhookReceiver:
    def __init__(self, secret: str) -> None:
        self.secret = secret.encode()
        self.events: list[dict] = []
        self.rejected: list[str] = []          # why a request was refused (bad signature ...)
        self.answer = 200
        self.url = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def verify(self, headers, body: bytes) -> str | None:
        """None when the signature is right and fresh, else the reason it is not."""
        timestamp = headers.get("X-Provgate-Timestamp", "")
        signature = headers.get("X-Provgate-Signature", "")
        if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > TOLERANCE:
            return f"stale or missing timestamp {timestamp!r}"
        expected = "sha256=" + hmac.new(self.secret, timestamp.encode() + b"." + body,
                                        hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature):
            return "signature mismatch"
        return None

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        problem = self.verify(request.headers, body)
        if problem:
            with self._lock:
                self.rejected.append(problem)
            return web.Response(status=401, text=problem)
        if self.answer != 200:
            return web.Response(status=self.answer)
        event = json.loads(body)
        event["_delivery_header"] = request.headers.get("X-Provgate-Delivery")
        with self._lock:
            self.events.append(event)
        return web.json_response({"ok": True})

    def of(self, event: str) -> list[dict]:
        with self._lock:
            return [e for e in self.events if e["event"] == event]

    def start(self) -> "WebhookReceiver":
        ready = threading.Event()

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            app = web.Application()
            app.router.add_post("/hook", self._handle)
            self._runner = web.AppRunner(app)
            self._loop.run_until_complete(self._runner.setup())
            site = web.TCPSite(self._runner, "127.0.0.1", 0)
            self._loop.run_until_complete(site.start())
            port = site._server.sockets[0].getsockname()[1]
            self.url = f"http://127.0.0.1:{port}/hook"
            ready.set()
            self._loop.run_forever()
            self._loop.run_until_complete(self._runner.cleanup())
            self._loop.close()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
