"""Spend: the credits (record field ``cost``) of catalogued assets, summed by campaign,
brand, model or month (``GET /api/v1/spend``, the ``provgate_spend_credits`` gauges).

What counts is each asset's current version (a superseded or deleted version is not
spend the team still holds), outside the quarantine bucket (held writes are not assets
yet). Its month is the UTC month it was committed (``YYYY-MM``). A version without a
``cost`` belongs to no group: reports count such versions as ``uncosted``. A version
without the grouping field (no campaign, say) is summed under the group ``""``.

Group names are compared as search compares them (``index.normalise``: case and Unicode
forms do not split a campaign in two); a group is shown with the spelling of the first
version found under it (in bucket and key order).

Reading every current version is a scan of the catalog, so :class:`Spend` keeps the
figures per (bucket, month, campaign, brand, model) and scans again only when the
catalog changed since (``kv.Store.generation``); a report or a metrics scrape between
two writes costs no catalog read. The tally is small: its size is the number of
distinct combinations, not of assets.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
from dataclasses import dataclass, field

from gateway.catalog import index as ix
from gateway.catalog.search import invalid

# What a report may group by: record fields, and the month of the commit.
DIMENSIONS = ("campaign", "brand", "model", "month")
_FIELDS = ("campaign", "brand", "model")
_MONTH = re.compile(r"\d{4}-(0[1-9]|1[0-2])")


def month_of(committed: float) -> str:
    """The UTC month of an epoch time, ``YYYY-MM``."""
    return dt.datetime.fromtimestamp(committed, dt.timezone.utc).strftime("%Y-%m")


def parse_month(name: str, value: str | None) -> str | None:
    """A ``YYYY-MM`` parameter, or InvalidArgument naming it."""
    if value is None:
        return None
    text = str(value).strip()
    if not _MONTH.fullmatch(text):
        raise invalid(name, f"{text[:40]!r} is not a month (YYYY-MM)")
    return text


def parse_dimension(value: str | None) -> str:
    if value is None:
        raise invalid("by", f"required: one of {', '.join(DIMENSIONS)}")
    if value not in DIMENSIONS:
        raise invalid("by", f"{str(value)[:40]!r} is not one of {', '.join(DIMENSIONS)}")
    return value


@dataclass
class Tally:
    """Credits and asset counts per (bucket, month, campaign, brand, model), each field
    normalised; ``names`` keeps the first spelling seen of each normalised value."""

    costed: dict[tuple, list] = field(default_factory=dict)     # -> [credits, assets]
    uncosted: dict[tuple[str, str], int] = field(default_factory=dict)  # (bucket, month)
    names: dict[tuple[str, str], str] = field(default_factory=dict)     # (field, normal)


def tally(versions) -> Tally:
    """Sum ``(bucket, key, entry)`` triples (``Catalog.current_versions``)."""
    out = Tally()
    for bucket, _key, entry in versions:
        record = entry.get("record") or {}
        month = month_of(entry["committed"])
        cost = record.get("cost")
        if not isinstance(cost, (int, float)) or isinstance(cost, bool):
            where = (bucket, month)
            out.uncosted[where] = out.uncosted.get(where, 0) + 1
            continue
        groups = []
        for name in _FIELDS:
            value = record.get(name)
            normal = ix.normalise(value) if value not in (None, "") else ""
            if normal and (name, normal) not in out.names:
                out.names[(name, normal)] = str(value).strip()
            groups.append(normal)
        sums = out.costed.setdefault((bucket, month, *groups), [0.0, 0])
        sums[0] += float(cost)
        sums[1] += 1
    return out


def _visible(bucket: str, buckets) -> bool:
    return buckets is None or "*" in buckets or bucket in buckets


def report(figures: Tally, by: str, *, buckets=None, bucket: str | None = None,
           since: str | None = None, until: str | None = None) -> dict:
    """The ``/api/v1/spend`` answer: ``{"by", "rows": [{"group", "credits", "assets"}],
    "total", "uncosted"}``, rows by credits, most first (ties by group name).

    ``buckets``: the caller's scope (None or containing ``"*"``: every bucket);
    ``bucket``: only this one; ``since``/``until``: months ``YYYY-MM``, inclusive.
    """
    def wanted(where_bucket: str, month: str) -> bool:
        return (_visible(where_bucket, buckets) and bucket in (None, where_bucket)
                and (since is None or month >= since) and (until is None or month <= until))

    position = {"month": 1, "campaign": 2, "brand": 3, "model": 4}[by]
    rows: dict[str, list] = {}
    for where, (credits, assets) in figures.costed.items():
        if not wanted(where[0], where[1]):
            continue
        group = where[position]
        sums = rows.setdefault(group, [0.0, 0])
        sums[0] += credits
        sums[1] += assets
    uncosted = sum(n for (b, month), n in figures.uncosted.items() if wanted(b, month))

    def shown(group: str) -> str:
        return group if by == "month" else figures.names.get((by, group), group)

    ordered = sorted(rows.items(), key=lambda item: (-item[1][0], shown(item[0])))
    return {"by": by,
            "rows": [{"group": shown(g), "credits": round(c, 6), "assets": n}
                     for g, (c, n) in ordered],
            "total": round(sum(c for c, _ in rows.values()), 6),
            "uncosted": uncosted}


class Spend:
    """The catalog's spend figures, recounted only after the catalog changed.

    ``catalog``       the :class:`gateway.catalog.Catalog`
    ``skip_buckets``  buckets whose versions are not spend (the quarantine bucket)

    Blocking (reads the catalog): async callers run it in a worker thread.
    """

    def __init__(self, catalog, skip_buckets: tuple[str, ...] = ()) -> None:
        self.catalog = catalog
        self.skip_buckets = tuple(b for b in skip_buckets if b)
        self._lock = threading.Lock()
        self._generation: int | None = None
        self._figures = Tally()

    def figures(self) -> Tally:
        """The tally as of the catalog's last write."""
        with self._lock:
            generation = self.catalog.env.generation()
            if generation != self._generation:
                # Read the generation before the scan: a write during it makes the next
                # call count again rather than keep a tally that missed it.
                self._figures = tally(self.catalog.current_versions(self.skip_buckets))
                self._generation = generation
            return self._figures

    def report(self, by: str, **scope) -> dict:
        """``report(self.figures(), by, **scope)``."""
        return report(self.figures(), by, **scope)

    def gauges(self) -> dict[tuple[str, str], float]:
        """Credits per (dimension, group) over every bucket, for the metrics page."""
        figures = self.figures()
        return {(by, row["group"]): row["credits"]
                for by in DIMENSIONS for row in report(figures, by)["rows"]}
