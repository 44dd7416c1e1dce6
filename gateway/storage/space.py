"""Free space on the local filesystems a write needs, for readiness.

A write needs room in the spool (every body lands there first), in the fs backend's
data directory and in the catalog. Readiness turns "not ready" while any of them has
less than ``min_free_bytes`` free, so that a load balancer or an operator hears of a
filling disk before writes start failing with ``XProvgateStorageFull``.
"""

from __future__ import annotations

import os
from pathlib import Path


def _existing(path: Path) -> Path:
    """``path`` or its nearest existing parent (a directory made on first use)."""
    path = Path(path).absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


class FreeSpace:
    """Watches ``dirs`` (one check per filesystem). ``min_free_bytes``: the least free
    space (for unprivileged users, ``statvfs.f_bavail``) a filesystem may have before
    readiness reports it; 0 turns the check off."""

    def __init__(self, dirs: list[Path], min_free_bytes: int) -> None:
        self.min_free_bytes = min_free_bytes
        by_device: dict[int, Path] = {}
        for directory in dirs:
            existing = _existing(directory)
            by_device.setdefault(os.stat(existing).st_dev, existing)
        self.dirs = list(by_device.values())

    def low(self) -> str | None:
        """A sentence naming each filesystem below the threshold, or None."""
        if self.min_free_bytes <= 0:
            return None
        short = []
        for directory in self.dirs:
            try:
                # Looked up again each time: a directory may be removed and recreated.
                stats = os.statvfs(_existing(directory))
            except OSError as exc:
                short.append(f"free space of {directory} cannot be read: {exc.strerror or exc}")
                continue
            free = stats.f_bavail * stats.f_frsize
            if free < self.min_free_bytes:
                short.append(f"{directory} has {free} bytes free "
                             f"(below storage.min_free_bytes = {self.min_free_bytes})")
        return "; ".join(short) or None
