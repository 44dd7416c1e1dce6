"""The page shells of the UI; what fills them comes from ``/api/v1`` in the browser.

    GET /ui/                              → the queue
    GET /ui/queue                         pending versions, oldest first, with filters
    GET /ui/asset/{bucket}/{key}          one asset (``?versionId=``): media, provenance,
                                          versions, lineage, history, distribution, review
    GET /ui/quarantine                    writes held by a policy (reviewers)
    GET /ui/prompts                       the prompt library of approved assets
    GET /ui/spend                         credits by campaign, brand, model and month

Every page needs a signed-in caller (the authentication middleware sends a browser
without a session to the login form). The quarantine page is for reviewers, as its API
is; other pages show what the caller's role and bucket scope let the API answer.
"""

from __future__ import annotations

from aiohttp import web

from gateway.admin.auth import require
from gateway.admin.ui.render import shell


def add_routes(app: web.Application) -> None:
    async def home(request: web.Request) -> web.Response:
        return web.Response(status=303, headers={"Location": "/ui/queue"})

    async def queue(request: web.Request) -> web.Response:
        require(request, role="reader")
        return shell(request, "Review queue", "queue.html", "queue")

    async def asset(request: web.Request) -> web.Response:
        bucket, key = request.match_info["bucket"], request.match_info["key"]
        require(request, role="reader")
        return shell(request, f"{key} — {bucket}", "asset.html", "asset", bucket=bucket,
                     key=key, version=request.query.get("versionId", ""))

    async def quarantine(request: web.Request) -> web.Response:
        require(request, role="reviewer")
        return shell(request, "Quarantine", "quarantine.html", "quarantine")

    async def prompts(request: web.Request) -> web.Response:
        require(request, role="reader")
        return shell(request, "Prompt library", "prompts.html", "prompts")

    async def spend(request: web.Request) -> web.Response:
        require(request, role="reader")
        return shell(request, "Spend", "spend.html", "spend")

    app.router.add_get("/ui", home)
    app.router.add_get("/ui/", home)
    app.router.add_get("/ui/queue", queue)
    app.router.add_get("/ui/asset/{bucket}/{key:.+}", asset)
    app.router.add_get("/ui/quarantine", quarantine)
    app.router.add_get("/ui/prompts", prompts)
    app.router.add_get("/ui/spend", spend)
