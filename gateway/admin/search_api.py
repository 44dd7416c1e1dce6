"""Admin API for finding assets and the review queue.

    GET /api/v1/assets?q=WORDS&model=M&...      search (``provgate asset search``)
    GET /api/v1/reviews/queue?bucket=B&...      pending versions, oldest first, not the
                                                quarantine bucket (``provgate review queue``)

Both answer ``{"items": [...], "next": TOKEN | null}``; ``?page=TOKEN`` continues,
``?limit=N`` sets the page size. ``q`` is the prompt words; the other filters are the
names of ``gateway.catalog.search.FILTERS`` (``from``/``to`` dates, ``review``,
``identity`` = the writer, ...). A bad filter, date, limit or token answers 400 with
``{"error": {"code": "InvalidArgument", "message": ...}}``.

When the request carries an authenticated caller (``request["identity"]``, set by the
admin authentication middleware), results are limited to the buckets that identity may
access; without one (no middleware in front) nothing is limited.
"""

from __future__ import annotations

import asyncio
import functools

from aiohttp import web

from gateway import errors
from gateway.catalog import Catalog
from gateway.catalog import search as searching

PAGING = ("limit", "page")


def error_response(exc: errors.GatewayError) -> web.Response:
    return web.json_response({"error": {"code": exc.code, "message": exc.message}},
                             status=exc.status)


def _params(request: web.Request, allowed, aliases: dict[str, str]) -> dict[str, str]:
    """Filter values by their search names (``aliases``: ``q`` for ``prompt``); a
    repeated or unknown name is refused."""
    out = {}
    for name in dict.fromkeys(request.query):
        if name in PAGING:
            continue
        filter_name = aliases.get(name, name)
        if filter_name not in allowed:
            raise searching.invalid(name, f"unknown parameter (filters: "
                                          f"{', '.join([*aliases, *allowed])}, limit, page)")
        values = request.query.getall(name)
        if len(values) > 1 or filter_name in out:
            raise searching.invalid(name, "given more than once")
        out[filter_name] = values[0]
    return out


def _visible_buckets(request: web.Request):
    identity = request.get("identity")
    return None if identity is None else tuple(identity.buckets)


def _page_handler(run, allowed, aliases: dict[str, str]):
    """A GET handler answering one page of ``run`` (``Catalog.search`` or ``queue``)."""
    async def handler(request: web.Request) -> web.Response:
        try:
            filters = searching.parse_params(_params(request, allowed, aliases), allowed=allowed)
            limit = searching.parse_limit(request.query.get("limit"))
            page = await asyncio.to_thread(run, limit=limit, page=request.query.get("page"),
                                           buckets=_visible_buckets(request), **filters)
        except errors.GatewayError as exc:
            return error_response(exc)
        return web.json_response(page.to_json())
    return handler


def add_search_routes(app: web.Application, *, catalog: Catalog,
                      quarantine_bucket: str | None = None) -> None:
    """The two routes; the quarantine bucket's writes are released or discarded, never
    queued for review in place."""
    skip = (quarantine_bucket,) if quarantine_bucket else ()
    app.router.add_get("/api/v1/assets",
                       _page_handler(catalog.search, tuple(searching.FILTERS), {"q": "prompt"}))
    app.router.add_get("/api/v1/reviews/queue",
                       _page_handler(functools.partial(catalog.queue, skip_buckets=skip),
                                     searching.QUEUE_FILTERS, {}))
