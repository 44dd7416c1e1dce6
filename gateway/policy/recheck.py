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
        self._state = {"state": "running", "revision": policy_set.revision,
                       "started": _now(), "finished": None, "checked": 0, "truncated": False}
        found: list[dict] = []
        self._violations = found               # the report shows the run as it goes
        try:
            assets = await asyncio.to_thread(lambda: [a for a in self.catalog.iter_assets()
                                                      if a.get("current")
                                                      and a["bucket"] not in self.skip_buckets])
            for asset in assets:
                version = await asyncio.to_thread(self.catalog.version, asset["bucket"],
                                                  asset["key"])
                if version is not None:
                    decision = await policy_set.evaluate_async(
                        "intake", stored_context(asset["bucket"], asset["key"], version))
                    for o in decision.outcomes:
                        if o.action == "allow":
                            continue
                        if len(found) >= self.max_violations:
                            self._state["truncated"] = True
                            break
                        found.append({"bucket": asset["bucket"], "key": asset["key"],
                                      "version_id": version["version_id"], "rule": o.rule_id,
                                      "result": o.result, "action": o.action,
                                      "message": o.message})
                self._state["checked"] += 1
                await asyncio.sleep(self.pause)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - a failed run is reported, not fatal
            log.exception("policy re-check of stored assets failed")
            self._state.update(state="failed", error=str(exc), finished=_now())
            return
        self._state.update(state="done", finished=_now())
        if found:
            log.warning("policy set %s: %d violation(s) among %d stored assets "
                        "(GET /api/v1/violations)", policy_set.revision, len(found),
                        self._state["checked"])
