"""Admin API for spend: credits (the record field ``cost``) by campaign, brand, model or
month, from the catalog (``gateway.catalog.spend`` says what counts).

    GET /api/v1/spend?by=campaign|brand|model|month[&bucket=B][&since=YYYY-MM][&until=YYYY-MM]

answers ``{"by": "campaign", "rows": [{"group": "spring", "credits": 12.5, "assets": 3}],
"total": 12.5, "uncosted": 2}``: one row per group, most credits first (ties by name);
``total`` is the sum of the rows, ``uncosted`` the versions in scope without a cost (in no
row). A version without the grouping field is in the row of group ``""``.

``by`` is required. ``bucket`` narrows to one bucket (outside the caller's scope: 403);
``since``/``until`` are months, both inclusive. Any reader may ask; an identity scoped to
some buckets sees the spend in those only. A bad or repeated parameter answers 400 with
``{"error": {"code": "InvalidArgument", "message": ...}}``.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from gateway.admin.auth import query_values, require
from gateway.catalog import spend as spending
from gateway.catalog.search import invalid

PARAMETERS = ("by", "bucket", "since", "until")


def add_spend_routes(app: web.Application, spend: spending.Spend) -> None:
    async def show(request: web.Request) -> web.Response:
        params = query_values(request, PARAMETERS)
        bucket = params.get("bucket")
        identity = require(request, role="reader", bucket=bucket)
        by = spending.parse_dimension(params.get("by"))
        since = spending.parse_month("since", params.get("since"))
        until = spending.parse_month("until", params.get("until"))
        if since is not None and until is not None and since > until:
            raise invalid("until", "is before since")
        answer = await asyncio.to_thread(spend.report, by, buckets=tuple(identity.buckets),
                                         bucket=bucket, since=since, until=until)
        return web.json_response(answer)

    app.router.add_get("/api/v1/spend", show)
