"""The functions a policy expression may call, and the CEL context that provides them.

``common-expression-language`` (the Rust ``cel`` crate) ships the CEL core: macros
(``has``, ``all``, ``exists``, ``exists_one``, ``map``, ``filter``), conversions, ``size``,
``contains``/``startsWith``/``endsWith``/``matches`` and timestamp accessors. We add:

* the string, list, set and math helpers of its ``cel.stdlib`` (cel-go's extension
  libraries: ``lowerAscii``, ``split``, ``join``, ``sets.intersects``, ...), minus
  ``lists.range``, which exists only to build large lists (an allocation bomb in a
  guardrail), the encoders, which no policy needs, and the list ``contains``, which would
  shadow the native string ``contains`` with a slower Python one (lists have ``in``);
* ``isoTime`` and ``isoUntil`` for the record's ISO 8601 dates, which the CEL
  ``timestamp()`` conversion rejects unless they carry a time and a zone.

The same table is the allow-list for the load-time check: an expression calling a
function that is not here is rejected when the file loads, not when a write arrives.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Callable

from gateway.policy.cel_binding import cel

UTC = dt.timezone.utc


def iso_time(value: Any) -> dt.datetime:
    """``isoTime(s)``: an ISO 8601 date or date-time as a CEL timestamp.

    A date (``2026-12-31``) is midnight UTC that day; a date-time without a zone is UTC.
    """
    return _parse_iso(value, end_of_day=False)


def iso_until(value: Any) -> dt.datetime:
    """``isoUntil(s)``: the first instant *after* a validity period ending at ``s``.

    A date (``license_expires = 2026-12-31``) includes that whole day, so the period ends
    at 2027-01-01T00:00:00Z; a date-time ends exactly then. ``now < isoUntil(x)`` is
    "still valid".
    """
    return _parse_iso(value, end_of_day=True)


def _parse_iso(value: Any, *, end_of_day: bool) -> dt.datetime:
    if not isinstance(value, str):
        raise ValueError(f"expected an ISO 8601 date string, got {type(value).__name__}")
    text = value.strip()
    try:
        if len(text) == 10:                                   # YYYY-MM-DD
            day = dt.date.fromisoformat(text)
            start = dt.datetime(day.year, day.month, day.day, tzinfo=UTC)
            return start + dt.timedelta(days=1) if end_of_day else start
        moment = dt.datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        raise ValueError(f"not an ISO 8601 date or date-time: {value!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


CUSTOM_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "isoTime": iso_time,
    "isoUntil": iso_until,
}

# cel.stdlib libraries we register, and the names we leave out (see the module doc).
_STDLIB_LIBRARIES = ("core", "strings", "math", "sets", "lists")
_STDLIB_EXCLUDED = {"lists.range", "contains"}

# Functions the Rust interpreter provides natively (as ``Program.functions()`` names them).
NATIVE_FUNCTIONS = frozenset({
    "size", "contains", "startsWith", "endsWith", "matches",
    "int", "uint", "double", "string", "bytes", "bool", "timestamp", "duration",
    "type", "dyn",
    "getFullYear", "getMonth", "getDayOfYear", "getDayOfMonth", "getDate", "getDayOfWeek",
    "getHours", "getMinutes", "getSeconds", "getMilliseconds",
})


def stdlib_functions() -> dict[str, Callable[..., Any]]:
    stdlib = cel().stdlib
    out: dict[str, Callable[..., Any]] = {}
    for library in _STDLIB_LIBRARIES:
        for name, func in stdlib.EXTENSIONS[library].items():
            if name not in _STDLIB_EXCLUDED:
                out[name] = func
    return out


def all_functions() -> dict[str, Callable[..., Any]]:
    """Every Python-implemented function registered on the evaluation context."""
    return {**stdlib_functions(), **CUSTOM_FUNCTIONS}


def known_function_names() -> tuple[frozenset[str], frozenset[str]]:
    """(function names as ``Program.functions()`` reports them, namespaces).

    ``math.greatest(x)`` is reported as function ``greatest`` on a variable ``math``, so
    namespaced helpers contribute their last segment and their namespace.
    """
    names, namespaces = set(NATIVE_FUNCTIONS), set()
    for name in all_functions():
        head, _, tail = name.rpartition(".")
        names.add(tail)
        if head:
            namespaces.add(head)
    return frozenset(names), frozenset(namespaces)


def new_context():
    """A ``cel.Context`` with every allowed function registered (one per worker)."""
    context = cel().Context()
    for name, func in all_functions().items():
        context.add_function(name, func)
    return context
