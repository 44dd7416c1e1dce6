"""Evaluating policy expressions in worker processes, under a deadline.

Why processes: the CEL interpreter is Rust code that holds the GIL for the whole of an
evaluation (measured: a nested ``map`` over constant lists ran for minutes while every
other Python thread stood still). A thread cannot be interrupted, so a pathological
expression would freeze the event loop; a process can be killed. Each evaluation request
carries a batch of items (one per rule) and the worker answers item by item, so the
parent can give *each* item its own deadline, name the item that overran, kill the
worker, start a fresh one and go on with the rest. A timeout or a dead worker is an
error result for that item, which the policy set turns into a denial (fail closed).

Workers compile each policy set's expressions once (cached by the set's key) and keep
one ``cel.Context`` with the function library; per request only the variables change.
They run with an address-space limit, so an allocation bomb kills the worker, not the
gateway, and ignore SIGINT, so Ctrl-C reaches only the server.

Messages (parent → worker → parent), over a socket pair, pickled:
  (worker start-up)                                   → ("ready",)
  ("load", key, {expr_id: source})                    → ("loaded", key)
  ("rules", key, [(match, validate, message)], ctx)   → ("item", result) per item
  ("probe", key, [(expr_id, ctx_index)], [ctx, ...])  → ("item", result) per item
  any request for a key the worker has not loaded     → ("missing", key)
"""

from __future__ import annotations

import os
import queue
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass
from typing import Any

# Result of one item. ``error`` set means the item could not be evaluated.
ItemResult = dict[str, Any]

TIMEOUT_ERROR = "timeout"
WORKER_ERROR = "worker"


@dataclass(frozen=True)
class Programs:
    """The expressions of one policy set, as the workers receive them."""

    key: str                       # identifies the set: its revision
    sources: dict[str, str]        # expression id -> CEL source


class Sandbox:
    """A pool of evaluation workers. Thread-safe; each call blocks its calling thread
    (at most ``timeout`` per item, plus a worker restart after an overrun)."""

    def __init__(self, *, workers: int = 2, timeout: float = 1.0,
                 memory_limit: int = 1 << 30) -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self.timeout = timeout             # seconds allowed for each item
        self.memory_limit = memory_limit   # bytes of address space per worker (0: none)
        # A new worker has to start Python and import the CEL binding before it answers;
        # that time is not charged to the first expression's deadline.
        self.startup_timeout = 60.0
        # Workers start on demand, up to this many: a server whose policy set has no rule
        # never needs one (each costs an interpreter and the CEL binding, ~0.2 s of CPU).
        self.workers = workers
        self._idle: queue.Queue[_Worker] = queue.Queue()
        self._all: set[_Worker] = set()
        self._lock = threading.Lock()
        self._closed = False

    # -- public -----------------------------------------------------------------------
    def evaluate_rules(self, programs: Programs, items: list[tuple], context: dict) -> list[ItemResult]:
        """Evaluate ``(match_id, validate_id, message_id)`` items (ids may be None)."""
        return self._run(programs, "rules", items, context)

    def probe(self, programs: Programs, items: list[tuple[str, int]],
              contexts: list[dict]) -> list[ItemResult]:
        """Evaluate ``(expr_id, context_index)`` items: ``{"type": name}`` or an error."""
        return self._run(programs, "probe", items, contexts)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            workers, self._all = list(self._all), set()
        for w in workers:
            w.kill()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- internals --------------------------------------------------------------------
    def _run(self, programs: Programs, kind: str, items: list, payload: Any) -> list[ItemResult]:
        results: list[ItemResult] = []
        if not items:
            return results
        worker = self._acquire()
        try:
            while len(results) < len(items):
                pending = items[len(results):]
                got, failure, worker = self._exchange(worker, programs, kind, pending, payload)
                results.extend(got)
                if failure is not None:          # the item after ``got`` overran or crashed
                    results.append(failure)
        finally:
            self._release(worker)
        return results

    def _exchange(self, worker: _Worker, programs: Programs, kind: str, items: list,
                  payload: Any):
        """Send one request; returns (results, failure of the next item or None, worker)."""
        got: list[ItemResult] = []
        try:
            worker.wait_ready(self.startup_timeout)
            worker.conn.send((kind, programs.key, items, payload))
            while len(got) < len(items):
                if not worker.conn.poll(self.timeout):
                    worker.kill()
                    return got, {"error": TIMEOUT_ERROR, "message":
                                 f"evaluation exceeded the time limit of {self.timeout:g} s"}, \
                        self._replace(worker)
                msg = worker.conn.recv()
                if msg[0] == "missing":
                    worker.conn.send(("load", programs.key, programs.sources))
                    worker.conn.recv()             # ("loaded", key): compile is bounded
                    worker.conn.send((kind, programs.key, items[len(got):], payload))
                    continue
                got.append(msg[1])
        except (EOFError, OSError, BrokenPipeError):
            code = worker.process.poll()
            worker.kill()
            return got, {"error": WORKER_ERROR, "message":
                         "evaluation worker died" + (f" (exit code {code})" if code is not None
                                                     else "")
                         + " — the expression may exceed the memory limit"}, self._replace(worker)
        return got, None, worker

    def _spawn(self) -> _Worker:
        # A fresh interpreter (not fork: the server is threaded; not multiprocessing's
        # spawn: it re-imports the parent's __main__), talking over a socket pair.
        from multiprocessing.connection import Connection
        ours, theirs = socket.socketpair()
        env = dict(os.environ)
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        try:
            process = subprocess.Popen(
                [sys.executable, "-m", "gateway.policy.worker", str(theirs.fileno()),
                 str(self.memory_limit)],
                pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, env=env, close_fds=True)
        finally:
            theirs.close()
        return _Worker(process, Connection(ours.detach()))

    def _add(self, worker: _Worker) -> None:
        with self._lock:
            self._all.add(worker)
        self._idle.put(worker)

    def _replace(self, worker: _Worker) -> _Worker:
        fresh = self._spawn()
        with self._lock:
            self._all.discard(worker)
            if self._closed:
                fresh.kill()
                raise RuntimeError("policy sandbox is closed")
            self._all.add(fresh)
        return fresh

    def _acquire(self) -> _Worker:
        if self._closed:
            raise RuntimeError("policy sandbox is closed")
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            pass
        with self._lock:
            if len(self._all) < self.workers:
                worker = self._spawn()
                self._all.add(worker)
                return worker
        return self._idle.get()

    def _release(self, worker: _Worker) -> None:
        if not self._closed and worker.alive():
            self._idle.put(worker)
        elif not self._closed:
            with self._lock:
                self._all.discard(worker)
            self._add(self._spawn())


class _Worker:
    def __init__(self, process: subprocess.Popen, conn) -> None:
        self.process = process
        self.conn = conn
        self.ready = False

    def wait_ready(self, timeout: float) -> None:
        """Block until the worker has started (its first message); EOFError if it died."""
        if self.ready:
            return
        if not self.conn.poll(timeout):
            raise EOFError("evaluation worker did not start")
        message = self.conn.recv()
        if message != ("ready",):
            raise EOFError(f"unexpected message from a new worker: {message!r}")
        self.ready = True

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            pass
        self.conn.close()
