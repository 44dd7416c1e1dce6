"""The review queue: the current version of every asset that waits for a decision.

Pending means the version's review status is ``pending`` (no decision yet, or approvals
short of the quorum). Only current versions are queued: a version superseded before
anyone decided is not worth a reviewer's time (its state stays in the catalog). The
quarantine bucket is not queued: its writes are released or discarded
(``/api/v1/quarantine``). The catalog keeps the review state of each version under
``review`` (``gateway.catalog.store.review_summary``), which is what is read here.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from gateway.review.states import PENDING, approvals

# Record fields shown with each queued version (what a reviewer sorts by at a glance).
SUMMARY_FIELDS = ("content_type", "size", "identity", "door", "prompt", "generator", "model",
                  "campaign", "brand", "sku", "people", "model_release")


def queued(catalog, *, skip_buckets: tuple[str, ...] = (),
           visible: Callable[[str], bool] = lambda bucket: True,
           bucket: str | None = None) -> Iterator[dict]:
    """Pending current versions (unordered), one dict each."""
    for asset in catalog.iter_assets(bucket):
        if asset["bucket"] in skip_buckets or not visible(asset["bucket"]):
            continue
        if asset.get("current") is None:
            continue
        entry = catalog.version(asset["bucket"], asset["key"], asset["current"])
        if entry is None:
            continue
        review = entry.get("review") or {"status": PENDING}
        if review.get("status", PENDING) != PENDING:
            continue
        record = entry.get("record", {})
        yield {"bucket": asset["bucket"], "key": asset["key"],
               "version_id": entry["version_id"], "committed": entry["committed"],
               "status": PENDING, "approvals": approvals(review.get("decisions", [])),
               "comments": len(review.get("comments", [])), "rating": review.get("rating"),
               "warnings": [n["message"] for n in record.get("notices", [])
                            if n.get("severity") == "warning"],
               "asset": {k: record[k] for k in SUMMARY_FIELDS if k in record}}


def pending(catalog, **kwargs) -> list[dict]:
    """Pending current versions, oldest commit first."""
    return sorted(queued(catalog, **kwargs), key=lambda item: (item["committed"],
                                                               item["bucket"], item["key"]))


def figures(catalog, *, skip_buckets: tuple[str, ...] = (),
            now: Callable[[], float] = time.time) -> tuple[int, float]:
    """(pending versions, age in seconds of the oldest) for the metrics."""
    count, oldest = 0, None
    for item in queued(catalog, skip_buckets=skip_buckets):
        count += 1
        oldest = item["committed"] if oldest is None else min(oldest, item["committed"])
    return count, (max(0.0, now() - oldest) if oldest is not None else 0.0)
