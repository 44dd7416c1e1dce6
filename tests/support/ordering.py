"""Longest test files first, so that a run's workers finish together.

`make test` gives each worker whole files (xdist ``--dist loadfile``), in the order the
files are collected, the next file going to whichever worker is free. Were the longest
file handed out near the end, one worker would still run it while the others sat idle:
with a file taking five minutes (the folder sidecar's 2,000 files), the run's last minutes
went that way. Handing out the longest files first ("longest processing time first")
leaves only short files for the end.

How long each file takes is read from ``tests/durations.json``: seconds per file, written
by a whole run with ``--record-durations`` (``make durations``). A file not listed yet (a
new one) counts as the median, and a stale figure costs only some balance: the order
changes when tests run, never which tests run.
"""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from pathlib import Path

import pytest

DURATIONS = Path(__file__).resolve().parents[1] / "durations.json"


def file_of(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]


def known_durations() -> dict[str, float]:
    try:
        return {str(k): float(v) for k, v in json.loads(DURATIONS.read_text()).items()}
    except (OSError, ValueError, AttributeError):
        return {}


def longest_files_first(items: list[pytest.Item]) -> None:
    """Reorder ``items`` in place: whole files, the longest first; tests within a file
    keep their order (module fixtures start once per file)."""
    durations = known_durations()
    if not durations:
        return
    unknown = statistics.median(durations.values())
    first_seen: dict[str, int] = {}
    for item in items:
        first_seen.setdefault(file_of(item.nodeid), len(first_seen))
    items.sort(key=lambda item: (-durations.get(file_of(item.nodeid), unknown),
                                 first_seen[file_of(item.nodeid)]))


class DurationRecorder:
    """Adds up each file's setup, call and teardown times as reports arrive (in the
    controlling process when workers run the tests) and writes them at the end, in
    place of the figures of the files that ran (a narrowed run updates only those)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.seconds[file_of(report.nodeid)] += report.duration

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if not self.seconds or hasattr(session.config, "workerinput"):
            return
        merged = {**known_durations(), **{k: round(v, 1) for k, v in self.seconds.items()}}
        ordered = dict(sorted(merged.items(), key=lambda kv: -kv[1]))
        DURATIONS.write_text(json.dumps(ordered, indent=1) + "\n")
