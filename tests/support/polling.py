"""The one way tests wait: poll an observable condition until it holds, with a deadline.

    value = wait_for(lambda: server.log_has("ready"), timeout=30, what="the ready line")
    value = await wait_for_async(lambda: store.generation > 1, what="a reload")

``predicate`` is called until it returns something truthy, which ``wait_for`` returns.
When ``timeout`` seconds pass first it raises ``AssertionError("timed out after T s
waiting for WHAT: LAST")``, where LAST is the predicate's last result (or the exception
it last raised) and, when ``log`` is given, the text ``log()`` returns — a test never
sleeps a fixed time in the hope that something happened.

Options (the same for both):
    timeout   seconds before giving up (default 60; the per-test pytest-timeout is the
              outer bound, so keep this below it)
    what      words for the failure message: what was being waited for
    interval  seconds between polls (default 0.05); a poll that is itself slow (an HTTP
              scrape) simply polls less often
    log       a callable returning text worth showing on failure (a process log)
    errors    exception types that mean "not yet" instead of failing at once (e.g.
              ``ConnectionError`` while a server restarts); default none
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Callable

DEFAULT_TIMEOUT = 60.0
DEFAULT_INTERVAL = 0.05


def _failure(timeout: float, what: str, last: Any, log: Callable[[], str] | None) -> AssertionError:
    text = f"timed out after {timeout:g} s waiting for {what}: last {last!r}"
    if log is not None:
        text += "\n" + log()
    return AssertionError(text)


def wait_for(predicate: Callable[[], Any], timeout: float = DEFAULT_TIMEOUT,
             what: str = "a condition", log: Callable[[], str] | None = None, *,
             interval: float = DEFAULT_INTERVAL,
             errors: tuple[type[BaseException], ...] = ()) -> Any:
    """Call ``predicate`` until it is truthy and return its value; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            last = predicate()
        except errors as exc:
            last = exc
        else:
            if last:
                return last
        if time.monotonic() > deadline:
            raise _failure(timeout, what, last, log)
        time.sleep(interval)


async def wait_for_async(predicate: Callable[[], Any], timeout: float = DEFAULT_TIMEOUT,
                         what: str = "a condition", log: Callable[[], str] | None = None, *,
                         interval: float = DEFAULT_INTERVAL,
                         errors: tuple[type[BaseException], ...] = ()) -> Any:
    """``wait_for`` inside an event loop: the loop keeps running between polls."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            last = predicate()
        except errors as exc:
            last = exc
        else:
            if last:
                return last
        if time.monotonic() > deadline:
            raise _failure(timeout, what, last, log)
        await asyncio.sleep(interval)
