"""Admin API for policy: the set in force, the audit log, quarantine, re-check violations.

    GET /api/v1/policies        revision, files, rules, mode/dry-run, last rejected change
    GET /api/v1/audit           the audit log, oldest first, filtered and paged
    GET /api/v1/quarantine      writes kept in quarantine, with the rule that put them there
    GET /api/v1/violations      stored assets the current set would not accept (re-check)
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from gateway import errors
from gateway.admin.auth import require
from gateway.catalog import Catalog
from gateway.policy import AuditLog, PolicyStore

MAX_PAGE = 1000
# Audit fields a reader may filter on (exact match).
AUDIT_FILTERS = ("kind", "revision", "stage", "rule", "result", "action", "bucket", "key",
                 "version_id", "identity")


def _int_param(request: web.Request, name: str, default: int, upper: int | None = None) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    if not raw.isdigit():
        raise ValueError(f"{name} must be a non-negative integer")
    value = int(raw)
    return min(value, upper) if upper is not None else value


def read_audit(audit: AuditLog, *, since: int, limit: int, filters: dict[str, str]):
    """Up to ``limit`` matching entries after ``since``, and where the next page starts.

    ``next`` is the seq of the last entry looked at (matching or not), so a client that
    pages with ``since=next`` never sees an entry twice and skips none.
    """
    entries, last = [], since
    for entry in audit.iter(since):
        last = entry["seq"]
        if all(str(entry.get(k)) == v for k, v in filters.items()):
            entries.append(entry)
            if len(entries) >= limit:
                break
    more = last < audit.last_seq()
    return {"entries": entries, "next": last if more else None}


def quarantined(catalog: Catalog, audit: AuditLog, quarantine_bucket: str) -> list[dict]:
    """Current versions in the quarantine bucket, each with the decision that sent it.

    The audit log says why (rule, message, who, when); the catalog says what is still
    there — a version a reviewer discarded drops out.
    """
    why = {}
    for entry in audit.iter():
        if (entry.get("kind") == "decision" and entry.get("action") == "quarantine"
                and entry.get("bucket") == quarantine_bucket):
            why.setdefault((entry["key"], entry.get("version_id")), entry)
    items = []
    for asset in catalog.iter_assets(quarantine_bucket):
        version = asset.get("current")
        if version is None:
            continue
        decision = why.get((asset["key"], version), {})
        bucket, _, key = asset["key"].partition("/")
        items.append({"bucket": bucket, "key": key,
                      "location": {"bucket": quarantine_bucket, "key": asset["key"],
                                   "version_id": version},
                      "rule": decision.get("rule"), "message": decision.get("message"),
                      "identity": decision.get("identity"), "time": decision.get("time"),
                      "revision": decision.get("revision")})
    return items


def add_policy_routes(app: web.Application, *, store: PolicyStore, audit: AuditLog,
                      catalog: Catalog, quarantine_bucket: str, recheck=None) -> None:
    # The rule set is what every writer is held to: readers may see it. The audit log,
    # quarantine and violations name identities and objects of every bucket: reviewers.
    async def policies(request: web.Request) -> web.Response:
        require(request, role="reader")
        return web.json_response(store.status())

    async def audit_log(request: web.Request) -> web.Response:
        require(request, role="reviewer")
        try:
            since = _int_param(request, "since", 0)
            limit = _int_param(request, "limit", 100, MAX_PAGE) or 1
        except ValueError as exc:
            raise errors.InvalidArgument(str(exc)) from None
        unknown = set(request.query) - {"since", "limit", *AUDIT_FILTERS}
        if unknown:
            raise errors.InvalidArgument(f"unknown parameter {sorted(unknown)[0]!r} "
                                f"(filters: {', '.join(AUDIT_FILTERS)})")
        filters = {k: v for k, v in request.query.items() if k in AUDIT_FILTERS}
        return web.json_response(await asyncio.to_thread(
            read_audit, audit, since=since, limit=limit, filters=filters))

    async def quarantine(request: web.Request) -> web.Response:
        require(request, role="reviewer")
        return web.json_response({"bucket": quarantine_bucket,
                                  "items": await asyncio.to_thread(
                                      quarantined, catalog, audit, quarantine_bucket)})

    async def violations(request: web.Request) -> web.Response:
        require(request, role="reviewer")
        return web.json_response(recheck.report())

    app.router.add_get("/api/v1/policies", policies)
    app.router.add_get("/api/v1/audit", audit_log)
    app.router.add_get("/api/v1/quarantine", quarantine)
    if recheck is not None:
        app.router.add_get("/api/v1/violations", violations)
