"""A TCP proxy in front of the upstream S3 that cuts chosen requests' connections.

Real networks drop connections at the worst moment: after the upstream stored a write and
before its answer reached provgate. ``CuttingProxy`` does that on demand, for PUT and POST
requests whose request line contains a marker, either before passing the request on
(nothing reaches the upstream) or after the upstream answered (the write is stored, its
answer is lost); and for GET requests (``cut_read``) part-way through the answer, as an
upstream that dies while it sends an object. Everything else is relayed untouched.
"""

from __future__ import annotations

import asyncio
import threading
from urllib.parse import urlsplit

CUT_WHEN = ("request", "answer")


class CuttingProxy:
    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        self._upstream = (parts.hostname, parts.port)
        self.endpoint = ""
        self.cuts = 0                      # connections cut so far
        self._marker = b""
        self._remaining = 0
        self._when = "answer"
        self._read_marker = b""
        self._reads_remaining = 0
        self._read_after = 0
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.base_events.Server | None = None
        self._relays: set[asyncio.Task] = set()

    def __enter__(self) -> "CuttingProxy":
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._relay, "127.0.0.1", 0), self._loop).result(10)
        port = self._server.sockets[0].getsockname()[1]
        self.endpoint = f"http://127.0.0.1:{port}"
        return self

    def __exit__(self, *exc) -> None:
        async def close():
            self._server.close()
            for relay in list(self._relays):
                relay.cancel()
            await asyncio.gather(*self._relays, return_exceptions=True)
        asyncio.run_coroutine_threadsafe(close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def cut(self, marker: str, times: int, when: str) -> None:
        """Cut the next ``times`` writes whose request line contains ``marker``."""
        assert when in CUT_WHEN
        with self._lock:
            self._marker, self._remaining, self._when = marker.encode(), times, when

    def cut_read(self, marker: str, times: int, after: int) -> None:
        """Cut the next ``times`` GET answers whose request line contains ``marker``
        once ``after`` bytes of the answer (status line and headers included) have
        been passed on."""
        with self._lock:
            self._read_marker, self._reads_remaining, self._read_after = \
                marker.encode(), times, after

    def _should_cut_read(self, chunk: bytes) -> int | None:
        """The bytes of the answer to pass on before cutting, for a GET to cut."""
        if not chunk.startswith(b"GET "):
            return None
        with self._lock:
            if (self._reads_remaining <= 0
                    or self._read_marker not in chunk.split(b"\r\n", 1)[0]):
                return None
            self._reads_remaining -= 1
            self.cuts += 1
            return self._read_after

    def _should_cut(self, chunk: bytes) -> str | None:
        if not chunk.startswith((b"PUT ", b"POST ")):
            return None
        with self._lock:
            if self._remaining <= 0 or self._marker not in chunk.split(b"\r\n", 1)[0]:
                return None
            self._remaining -= 1
            self.cuts += 1
            return self._when

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._relays.add(asyncio.current_task())
        try:
            await self._relay_connection(reader, writer)
        finally:
            self._relays.discard(asyncio.current_task())
            writer.transport.abort()

    async def _relay_connection(self, reader: asyncio.StreamReader,
                                writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self._upstream)
        answer_lost = asyncio.Event()
        passed: list[int] = []          # the answer to cut after this many bytes

        def close_both() -> None:
            writer.transport.abort()
            up_writer.transport.abort()

        async def requests() -> None:
            while chunk := await reader.read(1 << 16):
                read_cut = self._should_cut_read(chunk)
                if read_cut is not None:
                    passed.append(read_cut)
                when = self._should_cut(chunk)
                if when == "request":
                    close_both()
                    return
                if when == "answer":
                    answer_lost.set()
                up_writer.write(chunk)
                await up_writer.drain()
            up_writer.close()

        async def answers() -> None:
            while chunk := await up_reader.read(1 << 16):
                if answer_lost.is_set():   # the upstream has answered this write: drop it
                    close_both()
                    return
                if passed:                 # a GET answer to cut part-way
                    if len(chunk) >= passed[0]:
                        writer.write(chunk[:passed[0]])
                        writer.transport.close()     # what was passed on arrives, then EOF
                        up_writer.transport.abort()
                        return
                    passed[0] -= len(chunk)
                writer.write(chunk)
                await writer.drain()
            writer.close()

        try:
            await asyncio.gather(requests(), answers(), return_exceptions=True)
        finally:
            up_writer.transport.abort()
