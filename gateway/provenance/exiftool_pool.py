"""A pool of long-running ExifTool processes (``-stay_open``), safe against hostile files.

Starting ExifTool (Perl) costs ~100-200 ms; a ``-stay_open`` process answers a request in
a few milliseconds. The pool keeps up to ``size`` such processes (one from the start, the
others once files are read at the same time), each driven by one pyexiftool
``ExifToolHelper`` loaded with provgate's ``exiftool.config`` (so the AI, DataMining and
``pg:`` tags have their proper names).

Every request has a deadline. pyexiftool's own reader blocks until ExifTool answers and,
once the process is gone, spins on end-of-file forever; a file that makes ExifTool hang
would therefore pin a thread and a CPU. ``_ExifToolProcess`` keeps pyexiftool's process
management (start, ``-stay_open`` protocol, config file, shutdown) but replaces
``execute`` with a reader that waits on stdout *and* stderr with a deadline, notices
when the process dies, and caps the answer's size. On a timeout the process is killed
and a fresh one takes its place; the caller gets ``ExifToolTimeout`` and the pool keeps
serving.

Reads use ``-j -G1 -struct -n``: JSON keeps newlines in prompts (the text output turns
them into "."), ``-G1`` names the specific group (``PNG:Parameters``, ``IFD0:Make``,
``XMP-iptcExt:...``) so that generator metadata is told apart, ``-struct`` keeps XMP
structures (Licensor, History) as objects, and ``-n`` gives raw values (vocabulary codes
rather than translated labels, numbers as numbers). ``-api LargeFileSupport=1`` lets
ExifTool walk videos larger than 2 GB. ExifTool's JSON prints number-like text unquoted
("3.0", "true"); the answer is decoded with non-integral numbers as ``Decimal`` so that
their text survives (``Tags.text`` turns values back into text).

Asyncio: ``await pool.read(path)`` runs the blocking exchange in the pool's own thread
executor (one thread per process), so the event loop never blocks and the default
executor is not starved. ``read_sync`` is the same call for synchronous code.
"""

from __future__ import annotations

import asyncio
import decimal
import json
import logging
import os
import shutil
import queue
import random
import selectors
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import exiftool

log = logging.getLogger("provgate.provenance.exiftool")

CONFIG_FILE = Path(__file__).with_name("exiftool.config")
READ_ARGS = ("-j", "-G1", "-struct", "-n", "-api", "LargeFileSupport=1")
MAX_OUTPUT = 256 * 1024 * 1024    # an answer larger than this is treated as hostile


class ExifToolError(Exception):
    """ExifTool could not be asked (process died, answer malformed or too large)."""


class ExifToolTimeout(ExifToolError):
    """ExifTool did not answer before the deadline; its process was killed and replaced."""


class _ExifToolProcess(exiftool.ExifToolHelper):
    """One ``exiftool -stay_open`` process with deadline-aware request handling."""

    def __init__(self, executable: str, config_file: str | None, timeout: float) -> None:
        super().__init__(executable=executable, config_file=config_file, common_args=[],
                         encoding="utf-8", auto_start=False, check_execute=False,
                         check_tag_names=False)
        self.timeout = timeout         # seconds for the next execute()

    def execute(self, *params: Any, raw_bytes: bool = False) -> str | bytes:
        """pyexiftool's ``-stay_open`` exchange, with a deadline and end-of-file detection."""
        if not self.alive():
            raise ExifToolError("exiftool process is not running")
        signal = random.randint(100000, 999999)
        ready = f"{{ready{signal}}}".encode()
        post = f"post{signal}".encode()
        args = [p if isinstance(p, bytes) else str(p).encode("utf-8") for p in params]
        if any(b"\n" in a for a in args):
            raise ValueError("ExifTool arguments cannot contain newlines")
        args += [b"-echo4", b"=${status}=" + post, f"-execute{signal}".encode()]
        proc = self._process
        deadline = time.monotonic() + self.timeout
        try:
            proc.stdin.write(b"\n".join(args) + b"\n")
            proc.stdin.flush()
        except (BrokenPipeError, OSError) as exc:
            raise ExifToolError(f"exiftool process is gone ({exc})") from None
        out, err = self._read_answer(proc, ready, post, deadline)
        stdout = out.rstrip()[:-len(ready)]
        stderr = err.rstrip()[:-len(post)]
        # stderr ends with "=<status>=": split the exit status off
        head, _, status = stderr[:-1].rpartition(b"=")
        self._last_stdout = stdout if raw_bytes else stdout.decode("utf-8", "replace")
        self._last_stderr = head if raw_bytes else head.decode("utf-8", "replace")
        try:
            self._last_status = int(status)
        except ValueError:
            raise ExifToolError(f"unexpected exiftool status output {stderr[-40:]!r}") from None
        return self._last_stdout

    def _read_answer(self, proc, ready: bytes, post: bytes, deadline: float) -> tuple[bytes, bytes]:
        streams = {proc.stdout.fileno(): ("out", ready), proc.stderr.fileno(): ("err", post)}
        chunks: dict[str, list[bytes]] = {"out": [], "err": []}
        tails = {"out": b"", "err": b""}
        done: set[str] = set()
        total = 0
        with selectors.DefaultSelector() as sel:
            for fd in streams:
                sel.register(fd, selectors.EVENT_READ)
            while len(done) < 2:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise ExifToolTimeout(f"exiftool gave no answer within {self.timeout:g} s")
                for key, _ in sel.select(remaining):
                    name, marker = streams[key.fd]
                    data = os.read(key.fd, 1 << 16)
                    if not data:
                        raise ExifToolError("exiftool process exited unexpectedly")
                    chunks[name].append(data)
                    total += len(data)
                    if total > MAX_OUTPUT:
                        raise ExifToolError(f"exiftool answer exceeds {MAX_OUTPUT} bytes")
                    tails[name] = (tails[name] + data)[-(len(marker) + 16):]
                    if tails[name].rstrip().endswith(marker):
                        done.add(name)
                        sel.unregister(key.fd)
        return b"".join(chunks["out"]), b"".join(chunks["err"])

    def alive(self) -> bool:
        # not the `running` property: that one drops the pipes without closing them
        return self._running and self._process is not None and self._process.poll() is None

    def kill(self) -> None:
        """Kill the process at once (it may be hung) and reap it."""
        proc = self._process
        if proc is not None:
            try:
                proc.kill()
                proc.wait(timeout=5)
            except Exception:  # noqa: BLE001 - already gone, or unkillable: nothing more to do
                pass
            for stream in (proc.stdin, proc.stdout, proc.stderr):
                try:
                    stream.close()
                except Exception:  # noqa: BLE001
                    pass
        self._flag_running_false()


class ExifToolPool:
    """``size`` ExifTool processes; ``read(path)`` returns ExifTool's JSON object for a file.

    - ``timeout``: seconds one file may take; past it the process is killed and replaced.
    - ``startup_timeout``: seconds a new process may take to start and answer ``-ver``.
    - ``config_file``: the ExifTool config loaded by every process (default: the shipped one).
    """

    def __init__(self, size: int = 2, timeout: float = 10.0, *, executable: str = "exiftool",
                 config_file: str | os.PathLike | None = CONFIG_FILE,
                 startup_timeout: float = 15.0) -> None:
        if size < 1:
            raise ValueError("pool size must be at least 1")
        self.size = size
        self.timeout = timeout
        self.startup_timeout = startup_timeout
        self.executable = executable
        self.config_file = str(config_file) if config_file is not None else None
        self.restarts = 0              # processes replaced after a timeout or a crash
        self._idle: queue.Queue[_ExifToolProcess | None] = queue.Queue()
        self._lock = threading.Lock()
        self._started = False
        self._closed = False
        self._executor = ThreadPoolExecutor(max_workers=size, thread_name_prefix="exiftool")

    @property
    def busy(self) -> int:
        """Processes working on a file right now (slots not waiting in the idle queue)."""
        return max(0, self.size - self._idle.qsize()) if self._started else 0

    def usable(self) -> str | None:
        """None when files can be read; otherwise the reason they cannot."""
        if self._closed:
            return "the ExifTool pool is closed"
        if shutil.which(self.executable) is None:
            return f"{self.executable} is not installed (Debian: libimage-exiftool-perl)"
        return None

    # -- lifecycle --

    def start(self) -> None:
        """Start one process now, so that the first file does not wait for Perl to load
        (otherwise it starts on first use). The other slots start a process when two
        files are read at once: most files are read without ExifTool, and each idle
        process costs a Perl start and its memory."""
        with self._lock:
            if self._started:
                return
            if self._closed:
                raise ExifToolError("pool is closed")
            self._started = True
            # a slot without a process (None) starts one when a request takes it
            self._idle.put(self._spawn_or_none())
            for _ in range(self.size - 1):
                self._idle.put(None)

    async def astart(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self._executor, self.start)

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        while True:
            try:
                proc = self._idle.get_nowait()
            except queue.Empty:
                break
            if proc is not None and proc.alive():
                try:
                    proc.terminate(timeout=2)
                except Exception:  # noqa: BLE001 - shutting down: kill instead
                    proc.kill()
        for _ in range(self.size):
            self._idle.put(None)       # wake requests waiting for a process: they fail fast
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def aclose(self) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self.close)

    def __enter__(self) -> ExifToolPool:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- requests --

    async def read(self, path: str | os.PathLike) -> dict[str, Any]:
        """ExifTool's metadata for one file, as ``{"Group:Tag": value}``; never blocks the loop."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self.read_sync, path)

    def read_sync(self, path: str | os.PathLike) -> dict[str, Any]:
        """Blocking form of ``read``. Raises ExifToolTimeout or ExifToolError."""
        path = os.fspath(path)
        if "\n" in path or "\r" in path:
            raise ExifToolError("path contains a newline, which ExifTool's argument "
                                "protocol cannot pass")
        output, stderr = self._exchange(*READ_ARGS, path)
        if not output.strip():
            raise ExifToolError(f"exiftool returned nothing: {stderr.strip()[:300]}")
        try:
            # Decimal keeps a number's text: ExifTool prints "3.0" (a version) unquoted
            parsed = json.loads(output, parse_float=decimal.Decimal)
        except ValueError as exc:
            raise ExifToolError(f"exiftool returned malformed JSON ({exc})") from None
        if not isinstance(parsed, list) or not parsed or not isinstance(parsed[0], dict):
            raise ExifToolError("exiftool returned an unexpected JSON shape")
        return parsed[0]

    def version_sync(self) -> str:
        return self._exchange("-ver")[0].strip()

    def _exchange(self, *args: str) -> tuple[str, str]:
        """Run one ExifTool command on an idle process; (stdout, stderr)."""
        if self._closed:
            raise ExifToolError("pool is closed")
        if not self._started:
            self.start()
        proc = self._idle.get()
        if self._closed:
            self._idle.put(None)
            if proc is not None:
                proc.kill()
            raise ExifToolError("pool is closed")
        try:
            if proc is None or not proc.alive():
                if proc is not None:
                    proc.kill()
                    proc = None
                proc = self._spawn()
            proc.timeout = self.timeout
            try:
                stdout = proc.execute(*args)
            except BaseException as exc:
                # the exchange is out of step (hung, died, or interrupted): never reuse it
                self._replace(proc, "timed out" if isinstance(exc, ExifToolTimeout) else
                              f"failed ({exc})")
                proc = None
                raise
            return stdout, proc.last_stderr
        finally:
            self._release(proc)

    def _release(self, proc: _ExifToolProcess | None) -> None:
        if self._closed:
            if proc is not None:
                proc.kill()
            return
        self._idle.put(proc)           # None keeps the slot: the next request starts a process

    def _replace(self, proc: _ExifToolProcess, why: str) -> None:
        pid = proc._process.pid if proc._process is not None else None
        log.warning("exiftool process %s %s; killing it, a new one takes its place", pid, why)
        proc.kill()
        with self._lock:
            self.restarts += 1

    def _spawn(self) -> _ExifToolProcess:
        try:
            proc = _ExifToolProcess(self.executable, self.config_file, self.startup_timeout)
        except Exception as exc:       # executable not found
            raise ExifToolError(f"cannot start exiftool: {exc}") from exc
        try:
            proc.run()
        except Exception as exc:
            proc.kill()
            raise ExifToolError(f"cannot start exiftool: {exc}") from exc
        return proc

    def _spawn_or_none(self) -> _ExifToolProcess | None:
        try:
            return self._spawn()
        except ExifToolError as exc:
            log.error("%s", exc)
            return None
