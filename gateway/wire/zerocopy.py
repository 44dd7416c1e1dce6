"""Sending a GET's body to the client's socket without passing it through Python.

An object's bytes usually go to the client untouched: from the upstream's socket (s3
backend) or from a stored file (fs backend). Relayed through Python, each read costs a
copy out of the kernel, the HTTP client's parsing, a bytes object and a copy back in —
about half of the gateway's CPU per 1 MiB GET. Here the kernel moves them instead:
``os.splice`` through a pipe from socket to socket, ``os.sendfile`` from a file (Linux).

A :class:`Source` is the body of one answer; :func:`outlet` is the client's socket, or
None when the bytes cannot go there directly (TLS, no socket, not Linux), and then the
caller iterates the body as before. Both sockets stay owned by their asyncio transports:
an outlet only writes once the transport's own buffer is empty, and a source reads only
while its transport's reading is paused. Waits use duplicated descriptors, so a transport
that closes its socket meanwhile cannot hand its number to somebody else's socket.

Failures: a source that fails (the upstream cut, stalled longer than its timeout, a file
shorter than its record) raises the ``GatewayError`` its owner maps it to; a client that
went away raises ``ConnectionResetError`` (aiohttp's, as its own writes do).
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import socket
from collections.abc import Callable

import aiohttp
from aiohttp.client_exceptions import ClientConnectionResetError

from gateway import errors

SUPPORTED = hasattr(os, "splice") and hasattr(os, "sendfile") and hasattr(fcntl, "F_SETPIPE_SZ")
PIPE_SIZE = 1 << 20          # bytes a pipe holds (Linux's default limit for an unprivileged one)
_SPLICE_FLAGS = (os.SPLICE_F_MOVE | os.SPLICE_F_NONBLOCK) if SUPPORTED else 0
_PIPES_KEPT = 16             # empty pipes kept for the next transfers


class Outlet:
    """The client's socket of one answer, written to directly (see :func:`outlet`)."""

    def __init__(self, transport: asyncio.Transport, sock: socket.socket) -> None:
        self.transport = transport
        self._sock = sock
        self.sent = 0                       # body bytes written through this outlet

    async def _flushed(self, fd: int) -> None:
        """Wait until the transport has written everything it buffered (the headers):
        bytes written here must follow them."""
        while self.transport.get_write_buffer_size():
            if self.transport.is_closing():
                raise ClientConnectionResetError("Cannot write to closing transport")
            await _ready(fd, write=True)
            await asyncio.sleep(0)          # the transport's own writer runs on that event too

    async def send(self, source: "Source") -> None:
        """Send all of ``source`` to the client."""
        if self.transport.is_closing():
            raise ClientConnectionResetError("Cannot write to closing transport")
        fd = os.dup(self._sock.fileno())
        try:
            await self._flushed(fd)
            await source.send_to(self, fd)
        finally:
            os.close(fd)

    async def write(self, fd: int, data: bytes | memoryview) -> None:
        """Write ``data`` to the client socket ``fd`` (a duplicate of the outlet's)."""
        view = memoryview(data)
        while view:
            try:
                written = os.write(fd, view)
            except BlockingIOError:
                await self.writable(fd)
                continue
            except OSError as exc:
                raise self.gone(exc) from None
            view = view[written:]
            self.sent += written

    async def writable(self, fd: int) -> None:
        await _ready(fd, write=True)

    def gone(self, exc: OSError) -> ClientConnectionResetError:
        """The client went away: its connection is of no further use."""
        self.transport.abort()
        return ClientConnectionResetError(f"Cannot write to the client: {exc.strerror or exc}")


def outlet(transport: asyncio.BaseTransport | None) -> Outlet | None:
    """The client's socket behind an aiohttp server ``transport``, when bytes can be sent
    to it directly: a plain TCP socket (not TLS) on Linux; None otherwise."""
    if not SUPPORTED or transport is None or transport.is_closing():
        return None
    if transport.get_extra_info("ssl_object") is not None:
        return None
    sock = transport.get_extra_info("socket")
    if sock is None or sock.type != socket.SOCK_STREAM:
        return None
    return Outlet(transport, sock)


class Source:
    """The body of one answer, ``length`` bytes, that an :class:`Outlet` can send.

    Used at most once, and closed by its owner afterwards either way (``close``)."""

    length: int

    async def send_to(self, out: Outlet, fd: int) -> None:
        """Send the bytes to ``fd``, the outlet's socket (a duplicate that stays valid
        for the call), counting them in ``out.sent``."""
        raise NotImplementedError

    def close(self) -> None:
        """Release what the source holds (a file, an upstream connection)."""
        raise NotImplementedError


class FileSource(Source):
    """``length`` bytes of an open file from ``offset``, sent with ``os.sendfile``.

    ``short``: the error for a file that ends early (it is shorter than its record)."""

    def __init__(self, fh, offset: int, length: int,
                 short: Callable[[], errors.GatewayError]) -> None:
        self.fh, self.offset, self.length, self._short = fh, offset, length, short

    async def send_to(self, out: Outlet, fd: int) -> None:
        offset, remaining, source = self.offset, self.length, self.fh.fileno()
        while remaining:
            try:
                sent = os.sendfile(fd, source, offset, remaining)
            except BlockingIOError:
                await out.writable(fd)
                continue
            except OSError as exc:
                raise out.gone(exc) from None
            if sent == 0:
                raise self._short()
            offset += sent
            remaining -= sent
            out.sent += sent

    def close(self) -> None:
        self.fh.close()


class SplicedResponse(Source):
    """The rest of an aiohttp client ``response`` whose body is ``length`` bytes, spliced
    from its connection's socket to the client's.

    What the response has buffered already is written first; then reading from the
    connection is paused and exactly the remaining bytes are moved through a pipe. A
    connection drained to the byte goes back to the pool; any other outcome closes it.
    ``failed`` turns a transport failure (``ClientPayloadError`` for an upstream that
    closed early, ``TimeoutError`` for one silent longer than ``timeout`` seconds,
    ``OSError``) into the error reported for it.
    """

    def __init__(self, response: aiohttp.ClientResponse, length: int, timeout: float,
                 failed: Callable[[BaseException], errors.GatewayError]) -> None:
        self.response, self.length, self.timeout, self._failed = response, length, timeout, failed
        self._done = False

    @staticmethod
    def usable(response: aiohttp.ClientResponse, length: int) -> bool:
        """Whether the response's body is ``length`` bytes sent as they are (a declared
        Content-Length, no chunked framing) on a plain TCP connection."""
        if response.content_length != length or "Transfer-Encoding" in response.headers:
            return False
        connection = response.connection
        if not SUPPORTED or connection is None or connection.transport is None:
            return response.content.is_eof()     # all of it arrived already: nothing to splice
        transport = connection.transport
        return (transport.get_extra_info("ssl_object") is None
                and transport.get_extra_info("socket") is not None)

    async def send_to(self, out: Outlet, fd: int) -> None:
        content = self.response.content
        try:
            # Taken and paused in one step (no await between): nothing arrives unseen.
            head = content.read_nowait()
            remaining = self.length - content.total_bytes
            connection = self.response.connection
            if remaining > 0 and connection is not None:
                connection.protocol.pause_reading()
        except (aiohttp.ClientError, OSError) as exc:
            raise self._failed(exc) from None
        if remaining < 0 or (remaining and connection is None):
            raise self._failed(aiohttp.ClientPayloadError(
                "the upstream's body does not match its Content-Length"))
        if head:
            await out.write(fd, head)
        if remaining:
            await self._splice(out, fd, connection.transport.get_extra_info("socket"), remaining)
            content.feed_eof()          # the message is complete: the pool may reuse it
        self._done = True

    async def _splice(self, out: Outlet, fd: int, sock, remaining: int) -> None:
        source = os.dup(sock.fileno())
        pipe = _pipe()
        in_pipe = 0
        try:
            while remaining or in_pipe:
                moved = out_blocked = False
                if in_pipe:
                    try:
                        sent = os.splice(pipe[0], fd, in_pipe, flags=_SPLICE_FLAGS)
                        in_pipe -= sent
                        out.sent += sent
                        moved = sent > 0
                    except BlockingIOError:
                        out_blocked = True
                    except OSError as exc:
                        raise out.gone(exc) from None
                if remaining:
                    try:
                        got = os.splice(source, pipe[1], remaining, flags=_SPLICE_FLAGS)
                    except BlockingIOError:
                        got = -1        # nothing to read, or the pipe is full
                    except OSError as exc:
                        raise self._failed(exc) from None
                    if got == 0:
                        raise self._failed(aiohttp.ClientPayloadError(
                            f"the upstream closed with {remaining} bytes of the body unsent"))
                    if got > 0:
                        remaining -= got
                        in_pipe += got
                        moved = True
                if moved:
                    continue
                if in_pipe and out_blocked:
                    # The pipe may be full too: only the client can make room.
                    await out.writable(fd)
                else:
                    try:
                        async with asyncio.timeout(self.timeout):
                            await _ready(source, write=False)
                    except TimeoutError as exc:
                        raise self._failed(exc) from None
        finally:
            os.close(source)
            _release_pipe(pipe, empty=in_pipe == 0)

    def close(self) -> None:
        if self._done:
            self.response.release()
        else:
            self.response.close()


def _ready(fd: int, *, write: bool) -> asyncio.Future:
    """A future done when ``fd`` is writable (``write``) or readable."""
    loop = asyncio.get_running_loop()
    future = loop.create_future()
    add, remove = (loop.add_writer, loop.remove_writer) if write else \
        (loop.add_reader, loop.remove_reader)

    def ready() -> None:
        remove(fd)
        if not future.done():
            future.set_result(None)

    add(fd, ready)
    future.add_done_callback(lambda _: remove(fd))   # also when the waiter is cancelled
    return future


_pipes: list[tuple[int, int]] = []


def _pipe() -> tuple[int, int]:
    if _pipes:
        return _pipes.pop()
    pipe = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        fcntl.fcntl(pipe[1], fcntl.F_SETPIPE_SZ, PIPE_SIZE)
    except OSError:
        pass      # the system's limit is lower: the default size works, with more rounds
    return pipe


def _release_pipe(pipe: tuple[int, int], *, empty: bool) -> None:
    """Keep an empty pipe for the next transfer; close one that still holds bytes."""
    if empty and len(_pipes) < _PIPES_KEPT:
        _pipes.append(pipe)
    else:
        os.close(pipe[0])
        os.close(pipe[1])
