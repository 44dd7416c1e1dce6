"""Admin API for the prompt library: the prompts of approved assets, grouped by model and
generator, each with its best-rated results (``gateway.catalog.prompts`` says how).

    GET /api/v1/prompts?q=WORDS&model=M&generator=G&limit=N&offset=N

answers::

    {"groups": [{"model": "flux-dev", "generator": "ComfyUI", "prompts": [
        {"prompt": "...", "negative_prompt": "..." | null,
         "parameters": {"steps": 30, "sampler": "euler", "cfg_scale": 3.5, ...},
         "seed": 42 | null,
         "best": [{"bucket", "key", "version_id", "rating": 0..5 | -1 | null}, ...]}]}],
     "total": 17}

``q`` matches prompts holding every word (as ``/api/v1/assets?q=`` does); ``model`` and
``generator`` are exact (case-insensitive). ``total`` counts the prompts of every page;
``limit`` (default 50, at most 1,000) and ``offset`` (default 0) choose the page, counted
in prompts. Any reader may ask; an identity scoped to some buckets sees the assets in
those only, and the quarantine bucket is never listed. A bad or repeated parameter
answers 400 with ``{"error": {"code": "InvalidArgument", "message": ...}}``.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from gateway.admin.auth import query_values, require
from gateway.catalog import prompts as library
from gateway.catalog import search as searching

PARAMETERS = ("q", "model", "generator", "limit", "offset")


def add_prompt_routes(app: web.Application, prompts: library.PromptLibrary) -> None:
    async def show(request: web.Request) -> web.Response:
        identity = require(request, role="reader")
        params = query_values(request, PARAMETERS)
        limit = searching.parse_limit(params.get("limit"), library.DEFAULT_LIMIT)
        offset = library.parse_offset(params.get("offset"))
        answer = await asyncio.to_thread(
            prompts.page, q=params.get("q"), model=params.get("model"),
            generator=params.get("generator"), limit=limit, offset=offset,
            buckets=tuple(identity.buckets))
        return web.json_response(answer)

    app.router.add_get("/api/v1/prompts", show)
