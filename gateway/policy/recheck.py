"""Re-checking stored assets when the policy set changes.

A rule added today says nothing about what was stored yesterday, so whenever a new set
comes into force (and once at start-up), and again after the catalog changed (new writes
may have been let through with a warning: at most one run every ``settle`` seconds), the
current version of every asset in the
catalog is evaluated against its ``intake`` rules in the background, and the versions the
new set would not accept as they are (any action but allow) are kept for the admin API
(``GET /api/v1/violations``). Nothing is changed or removed: it is a report for ops.

Bounded: one asset at a time through the evaluation sandbox (whose per-rule deadline
caps each), a short pause between assets so request traffic keeps its share of the
sandbox workers, at most ``max_violations`` kept; a newer set cancels a run in progress
and starts over. The quarantine bucket is left out — its contents await review anyway.

Incremental within one set: the outcome of each asset is kept with the catalog version
it was judged on (a digest of its catalog entry), and a run started by a catalog change
evaluates only the assets whose current version (or its record: an edit, a review
event) differs from that — one scan of the catalog in a worker thread finds them. Without this, every write would cost a
re-evaluation of the whole catalog within ``settle`` seconds, a background load that
grows with the catalog and competes with request traffic.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import Any

from gateway.policy.explain import stored_context

log = logging.getLogger("provgate.policy")

# How often the set in force is compared with the one last checked (an attribute read).
WATCH_INTERVAL = 0.5


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


class Recheck:
    def __init__(self, store, catalog, *, skip_buckets: tuple[str, ...] = (),
                 pause: float = 0.005, max_violations: int = 10000,
                 settle: float = 2.0) -> None:
        self.store = store
        self.catalog = catalog
        self.skip_buckets = set(skip_buckets)
        self.pause = pause
        self.max_violations = max_violations
        self.settle = settle               # seconds between runs started by catalog changes
        self._state: dict[str, Any] = {"state": "idle", "revision": None}
        self._violations: list[dict] = []
        self._task: asyncio.Task | None = None
        # (bucket, key) -> (digest of the catalog entry judged, its violations), for
        # ``_judged_revision``: a digest, not the entry, so memory stays small per asset
        self._judged: dict[tuple[str, str], tuple[bytes, list[dict]]] = {}
        self._judged_revision: str | None = None

    def report(self) -> dict[str, Any]:
        return {**self._state, "violations": list(self._violations)}

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._watch(), name="policy-recheck")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    def _catalog_generation(self) -> int:
        """LMDB's last write transaction id: changes whenever anything was written."""
        return self.catalog.env.generation()

    async def _watch(self) -> None:
        checked = None
        seen_generation = None
        last_start = 0.0
        run: asyncio.Task | None = None
        loop = asyncio.get_running_loop()
        try:
            while True:
                policy_set = self.store.current
                generation = self._catalog_generation()
                if policy_set.revision != checked:
                    if run is not None:
                        run.cancel()
                elif (generation == seen_generation or not run.done()
                      or loop.time() - last_start < self.settle):
                    await asyncio.sleep(WATCH_INTERVAL)
                    continue
                checked, seen_generation, last_start = policy_set.revision, generation, loop.time()
                run = loop.create_task(self._run(policy_set))
                await asyncio.sleep(WATCH_INTERVAL)
        finally:
            if run is not None:
                run.cancel()

    async def _run(self, policy_set) -> None:
        if policy_set.revision != self._judged_revision:
            self._judged, self._judged_revision = {}, policy_set.revision
        judged = self._judged
        self._state = {"state": "running", "revision": policy_set.revision,
                       "started": _now(), "finished": None, "checked": 0, "truncated": False}
        try:
            current, changed = await asyncio.to_thread(self._changed, judged)
            for gone in set(judged) - current:
                del judged[gone]
            self._state["checked"] = len(current) - len(changed)
            self._violations = self._collect()     # the report shows the run as it goes
            for bucket, key, digest, version in changed:
                decision = await policy_set.evaluate_async(
                    "intake", stored_context(bucket, key, version))
                found = [{"bucket": bucket, "key": key, "version_id": version["version_id"],
                          "rule": o.rule_id, "result": o.result, "action": o.action,
                          "message": o.message}
                         for o in decision.outcomes if o.action != "allow"]
                judged[(bucket, key)] = (digest, found)
                if found:
                    self._violations = self._collect()
                self._state["checked"] += 1
                await asyncio.sleep(self.pause)
            found = self._violations = self._collect()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - a failed run is reported, not fatal
            log.exception("policy re-check of stored assets failed")
            self._state.update(state="failed", error=str(exc), finished=_now())
            return
        self._state.update(state="done", finished=_now())
        if found and changed:
            log.warning("policy set %s: %d violation(s) among %d stored assets "
                        "(GET /api/v1/violations)", policy_set.revision, len(found),
                        self._state["checked"])

    def _changed(self, judged: dict) -> tuple[set[tuple[str, str]], list[tuple[str, str, bytes, dict]]]:
        """(every current asset, the ones whose catalog entry is not the one judged, with
        the entry's digest and the entry), read in one pass in a worker thread."""
        current: set[tuple[str, str]] = set()
        stale = []
        for bucket, key, digest in self.catalog.current_fingerprints():
            if bucket in self.skip_buckets:
                continue
            current.add((bucket, key))
            seen = judged.get((bucket, key))
            if seen is None or seen[0] != digest:
                stale.append((bucket, key, digest))
        # Read once the scan's transaction is over. An entry changed in between is
        # judged as it is now and kept with the older digest: judged again next run.
        changed = [(bucket, key, digest, version) for bucket, key, digest in stale
                   if (version := self.catalog.version(bucket, key)) is not None]
        return current, changed

    def _collect(self) -> list[dict]:
        """The violations kept, at most ``max_violations`` (``truncated`` says so)."""
        found = []
        for _, violations in self._judged.values():
            for violation in violations:
                if len(found) >= self.max_violations:
                    self._state["truncated"] = True
                    return found
                found.append(violation)
        return found
