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
    interval  seconds between polls, fixed; by default polls start 0.05 s apart and
              spread out as the wait goes on (a tenth of the time waited so far, at
              most 0.5 s): a long wait on a costly predicate (a metrics scrape costs the
              server and the parser ~10 ms of CPU under coverage) would otherwise take
              a fifth of a core from the rest of the run, while a condition met after
              T seconds is still seen by T × 1.1 (+0.5 s at most). A test that must
              catch a short window passes its own (e.g. ``interval=0.01``).
    log       a callable returning text worth showing on failure (a process log)
    errors    exception types that mean "not yet" instead of failing at once (e.g.
              ``ConnectionError`` while a server restarts); default none
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Callable

DEFAULT_TIMEOUT = 60.0
FIRST_INTERVAL = 0.05        # the default's first gap between polls
LONGEST_INTERVAL = 0.5       # and its widest
SPREAD = 0.1                 # a gap is this share of the time waited so far


def _pause(interval: float | None, started: float) -> float:
    """Seconds until the next poll."""
    if interval is not None:
        return interval
    return min(LONGEST_INTERVAL, max(FIRST_INTERVAL, SPREAD * (time.monotonic() - started)))


def _failure(timeout: float, what: str, last: Any, log: Callable[[], str] | None) -> AssertionError:
    text = f"timed out after {timeout:g} s waiting for {what}: last {last!r}"
    if log is not None:
        text += "\n" + log()
    return AssertionError(text)


def wait_for(predicate: Callable[[], Any], timeout: float = DEFAULT_TIMEOUT,
             what: str = "a condition", log: Callable[[], str] | None = None, *,
             interval: float | None = None,
             errors: tuple[type[BaseException], ...] = ()) -> Any:
    """Call ``predicate`` until it is truthy and return its value; fail after ``timeout``."""
    started = time.monotonic()
    deadline = started + timeout
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
        time.sleep(min(_pause(interval, started), max(0.0, deadline - time.monotonic())))


async def wait_for_async(predicate: Callable[[], Any], timeout: float = DEFAULT_TIMEOUT,
                         what: str = "a condition", log: Callable[[], str] | None = None, *,
                         interval: float | None = None,
                         errors: tuple[type[BaseException], ...] = ()) -> Any:
    """``wait_for`` inside an event loop: the loop keeps running between polls."""
    started = time.monotonic()
    deadline = started + timeout
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
        await asyncio.sleep(min(_pause(interval, started), max(0.0, deadline - time.monotonic())))
