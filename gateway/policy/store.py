"""The policy set in force, and hot reload.

``PolicyStore`` holds the current ``PolicySet``. ``load_initial()`` raises on a broken set
— the server refuses to start rather than run without its guardrails. Afterwards
``watch()`` follows the policy directories with watchfiles: adding, editing or removing a
``*.toml`` file loads a complete new set and swaps it in at once. A change that does not
load keeps the previous set in force and is recorded (``last_error``: file, line, rule,
message) for the admin API and the audit log — nothing ever fails open.

Besides file events, the watcher compares a fingerprint of the files (names, sizes,
mtimes) every ``poll_interval`` seconds, so a missed event (network file systems, a
directory replaced under the watcher) is caught up with, at worst, that late.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gateway.policy.errors import PolicyError, Problem
from gateway.policy.loader import fingerprint, load_policies
from gateway.policy.policyset import PolicySet
from gateway.policy.sandbox import Sandbox

log = logging.getLogger("provgate.policy")

# Loads retried while the files keep changing under them; after that the last load
# counts (and the watcher sees the next change anyway).
_SETTLE_ATTEMPTS = 5


class PolicyStore:
    def __init__(self, dirs: Sequence[str | os.PathLike], *, mode: str = "enforce",
                 dry_run: bool = False, sandbox: Sandbox | None = None, workers: int = 2,
                 timeout: float = 1.0, audit=None, debounce_ms: int = 200,
                 poll_interval: float = 30.0) -> None:
        self.dirs = [Path(d) for d in dirs]
        self.mode = mode                       # default mode of files that set none
        self.dry_run = dry_run                 # every enforce-mode rule runs as audit
        self._own_sandbox = sandbox is None
        self.sandbox = sandbox or Sandbox(workers=workers, timeout=timeout)
        self.audit = audit                     # AuditLog: records loads and rejections
        self.debounce_ms = debounce_ms         # wait for an editor's burst of writes
        self.poll_interval = poll_interval
        self._current: PolicySet | None = None
        self._fingerprint: tuple = ()
        self._lock = asyncio.Lock()
        self._stop: asyncio.Event | None = None
        self._task: asyncio.Task | None = None
        self.last_error: dict[str, Any] | None = None   # the last rejected change, if the
        #                                                  current files do not load
        self.reloads = 0                                 # sets swapped in after the first

    # -- the current set ---------------------------------------------------------------
    @property
    def current(self) -> PolicySet:
        if self._current is None:
            raise RuntimeError("no policy set loaded (call load_initial first)")
        return self._current

    def load_initial(self) -> PolicySet:
        """Load the set the server starts with; ``PolicyError`` if it is broken."""
        self._fingerprint = fingerprint(self.dirs)
        try:
            policy_set = self._load()
        except PolicyError as exc:
            self._record_error(exc)
            raise
        self._install(policy_set)
        return policy_set

    def reload(self) -> bool:
        """Load the files now; True if a new set is in force. Never raises PolicyError."""
        try:
            policy_set = self._load_settled()
        except PolicyError as exc:
            self._record_error(exc)
            log.error("policy change rejected, previous set (revision %s) stays in force:\n%s",
                      self._current.revision if self._current else "none", exc)
            return False
        except Exception as exc:  # noqa: BLE001 - a loader bug must not end the watcher
            self._record_error(PolicyError([Problem(str(self.dirs[0]) if self.dirs else "",
                                                    f"internal error while loading: {exc}")]))
            log.exception("policy reload failed; previous set stays in force")
            return False
        if self._current is not None and policy_set.revision == self._current.revision:
            self.last_error = None             # e.g. a broken edit was reverted
            return False
        self._install(policy_set)
        self.reloads += 1
        log.info("policy set %s loaded (%d rules, %d defaults, %d routes)", policy_set.revision,
                 len(policy_set.rules), len(policy_set.sets), len(policy_set.routes))
        return True

    async def reload_async(self) -> bool:
        async with self._lock:
            return await asyncio.to_thread(self.reload)

    def _load_settled(self) -> PolicySet:
        """Load a set the files did not change under.

        An editor or ``cp`` writing a file (truncate, then write) can be caught half-way;
        a half-written file may even load, as a weaker set. So the files' fingerprint is
        taken before and after loading, and a load they changed under is done again.
        """
        for _ in range(_SETTLE_ATTEMPTS):
            before = fingerprint(self.dirs)
            try:
                policy_set, error = self._load(), None
            except PolicyError as exc:
                policy_set, error = None, exc
            if fingerprint(self.dirs) == before:
                break
            time.sleep(self.debounce_ms / 1000)
        self._fingerprint = before
        if error is not None:
            raise error
        return policy_set

    def _load(self) -> PolicySet:
        return load_policies(self.dirs, sandbox=self.sandbox, mode=self.mode,
                             dry_run=self.dry_run)

    def _install(self, policy_set: PolicySet) -> None:
        previous, self._current = self._current, policy_set
        self.last_error = None
        if self.audit is not None:
            self.audit.append_event("policy-loaded", revision=policy_set.revision,
                                    detail={"files": policy_set.files,
                                            "dry_run": policy_set.dry_run,
                                            "previous_revision": previous.revision if previous else None,
                                            "changes": entry_changes(previous, policy_set)})

    def _record_error(self, exc: PolicyError) -> None:
        self.last_error = {"at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                           "problems": [p.to_dict() for p in exc.problems]}
        if self.audit is not None:
            self.audit.append_event("policy-rejected",
                                    revision=self._current.revision if self._current else None,
                                    detail=self.last_error)

    def status(self) -> dict[str, Any]:
        """For the admin API: the set in force and the last rejected change."""
        out: dict[str, Any] = {"dirs": [str(d) for d in self.dirs], "reloads": self.reloads,
                               "error": self.last_error}
        if self._current is not None:
            out.update(self._current.summary())
        return out

    # -- hot reload --------------------------------------------------------------------
    def start(self) -> asyncio.Task:
        """Start ``watch()`` as a task of the running loop."""
        self._task = asyncio.get_running_loop().create_task(self.watch(), name="policy-watch")
        return self._task

    async def watch(self) -> None:
        """Reload on every change under the policy directories, until ``close()``."""
        from watchfiles import awatch
        self._stop = asyncio.Event()
        while not self._stop.is_set():
            dirs = [d for d in self.dirs if d.is_dir()]
            try:
                if not dirs:                                  # nothing to watch yet
                    raise FileNotFoundError("no policy directory exists")
                async for changes in awatch(*dirs, watch_filter=_policy_file, recursive=False,
                                            debounce=self.debounce_ms, step=50,
                                            stop_event=self._stop, yield_on_timeout=True,
                                            rust_timeout=int(self.poll_interval * 1000)):
                    if changes or fingerprint(self.dirs) != self._fingerprint:
                        await self.reload_async()
                    if [d for d in self.dirs if d.is_dir()] != dirs:
                        break                                 # a directory came or went
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - keep watching whatever happens
                log.warning("policy watcher: %s; retrying in %.0f s", exc, self.poll_interval)
                try:
                    await asyncio.wait_for(self._stop.wait(), self.poll_interval)
                except asyncio.TimeoutError:
                    pass
            if not self._stop.is_set() and fingerprint(self.dirs) != self._fingerprint:
                await self.reload_async()

    async def close(self) -> None:
        if self._stop is not None:
            self._stop.set()
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001
                pass
            self._task = None
        if self._own_sandbox:
            await asyncio.to_thread(self.sandbox.close)


def _policy_file(change, path: str) -> bool:
    """Only ``*.toml`` files count (editor swap files and tests/ do not)."""
    name = os.path.basename(path)
    return name.endswith(".toml") and not name.startswith(".")


def _entries(policy_set: PolicySet | None) -> dict[str, Any]:
    if policy_set is None:
        return {}
    return {f"{kind}:{item.id}": item for kind, items in
            (("rule", policy_set.rules), ("set", policy_set.sets), ("route", policy_set.routes))
            for item in items}


def entry_changes(previous: PolicySet | None, current: PolicySet) -> dict[str, list[str]]:
    """Which entries (``rule:<id>``, ``set:<id>``, ``route:<id>``) a new set added,
    removed or changed (any field but the line it sits on), for the audit log."""
    before, after = _entries(previous), _entries(current)

    def comparable(item) -> dict:
        fields = dataclasses.asdict(item)
        fields.pop("line", None)
        return fields

    return {"added": sorted(after.keys() - before.keys()),
            "removed": sorted(before.keys() - after.keys()),
            "changed": sorted(k for k in before.keys() & after.keys()
                              if comparable(before[k]) != comparable(after[k]))}
