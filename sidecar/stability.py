"""Only complete files: a file is ready once its size and mtime stood still for a window.

Writers on shares give no "closed" signal that reaches other hosts, so the sidecar does
what Paperless-ngx does: remember each candidate's size and mtime, look again at every
tick, and release it after ``window`` seconds without change. A file that vanishes
(renamed from ``x.part`` to ``x``, deleted) is forgotten; its new name arrives as a new
candidate.
"""

from __future__ import annotations

import os
import stat
import time
from dataclasses import dataclass


@dataclass
class Candidate:
    size: int
    mtime_ns: int
    unchanged_since: float           # monotonic
    first_seen: float                # monotonic: start of the drop-to-XMP latency


@dataclass(frozen=True)
class Ready:
    path: str
    size: int
    mtime_ns: int
    first_seen: float


class StabilityTracker:
    def __init__(self, window: float) -> None:
        self.window = window
        self._candidates: dict[str, Candidate] = {}

    def __len__(self) -> int:
        return len(self._candidates)

    def __contains__(self, path: str) -> bool:
        return path in self._candidates

    def observe(self, path: str, size: int, mtime_ns: int, first_seen: float | None = None) -> None:
        now = time.monotonic()
        known = self._candidates.get(path)
        if known is None:
            self._candidates[path] = Candidate(size, mtime_ns, now, first_seen or now)
        elif (known.size, known.mtime_ns) != (size, mtime_ns):
            known.size, known.mtime_ns, known.unchanged_since = size, mtime_ns, now

    def forget(self, path: str) -> None:
        self._candidates.pop(path, None)

    def paths(self) -> list[str]:
        return list(self._candidates)

    def settle(self, stats: dict[str, tuple[int, int] | None]) -> list[Ready]:
        """Apply fresh ``(size, mtime_ns)`` (None: gone) and return the complete files."""
        now = time.monotonic()
        ready = []
        for path, stat in stats.items():
            c = self._candidates.get(path)
            if c is None:
                continue
            if stat is None:
                del self._candidates[path]
            elif stat != (c.size, c.mtime_ns):
                c.size, c.mtime_ns, c.unchanged_since = stat[0], stat[1], now
            elif now - c.unchanged_since >= self.window:
                del self._candidates[path]
                ready.append(Ready(path, c.size, c.mtime_ns, c.first_seen))
        return ready


def stat_files(paths: list[str]) -> dict[str, tuple[int, int] | None]:
    """``(size, mtime_ns)`` of regular files (blocking: run it in a thread); None for a
    path that is gone or is no longer a regular file."""
    out: dict[str, tuple[int, int] | None] = {}
    for path in paths:
        try:
            st = os.lstat(path)
        except OSError:
            out[path] = None
            continue
        out[path] = (st.st_size, st.st_mtime_ns) if stat.S_ISREG(st.st_mode) else None
    return out
