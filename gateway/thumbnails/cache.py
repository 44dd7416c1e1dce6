"""The thumbnail cache: files in one folder outside every bucket, at most ``max_bytes`` in
all, the least recently used removed first.

Each entry is one file named by its key (a digest; ``.img`` a thumbnail, ``.err`` the
reason a version cannot have one, so hostile bytes are not decoded again on every view).
Entries never change: a key names an object version and a size, and a version's bytes
never change. Use order lives in memory and in the files' modification times (set on
every hit, each later than the last), so it survives a restart. Thread-safe; blocking (small file reads and
writes): async callers use a worker thread.
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from pathlib import Path

IMAGE, ERROR = ".img", ".err"


class ThumbnailCache:
    """``directory``  where the files live (created; ``tmp/`` in it is scratch space)
    ``max_bytes``  the most the entries may take in all; a larger entry is not kept
    """

    def __init__(self, directory: Path, max_bytes: int) -> None:
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self.scratch = self.directory / "tmp"
        self.scratch.mkdir(parents=True, exist_ok=True)
        for leftover in self.scratch.iterdir():       # a render cut off by a stop
            _remove(leftover)
        self._lock = threading.Lock()
        self._sizes: OrderedDict[str, int] = OrderedDict()     # file name -> bytes, LRU first
        self.total = 0
        found = []
        for entry in os.scandir(self.directory):
            if entry.is_file() and entry.name.endswith((IMAGE, ERROR)):
                stat = entry.stat()
                found.append((stat.st_mtime_ns, entry.name, stat.st_size))
        for _, name, size in sorted(found):
            self._sizes[name] = size
            self.total += size
        self._clock = max((mtime for mtime, _, _ in found), default=0)
        with self._lock:
            self._evict()

    def get(self, key: str) -> tuple[bytes | None, str | None]:
        """``(thumbnail, None)``, ``(None, reason)`` or ``(None, None)`` when not cached."""
        for suffix in (IMAGE, ERROR):
            name = key + suffix
            with self._lock:
                if name not in self._sizes:
                    continue
                self._sizes.move_to_end(name)
            path = self.directory / name
            try:
                data = path.read_bytes()
                self._touch(path)
            except FileNotFoundError:          # evicted meanwhile
                return None, None
            return (data, None) if suffix == IMAGE else (None, data.decode("utf-8", "replace"))
        return None, None

    def put(self, key: str, thumbnail: bytes | None = None, reason: str | None = None) -> None:
        """Keep a thumbnail (or the reason there is none), evicting the least recently
        used entries until everything fits."""
        name = key + (IMAGE if thumbnail is not None else ERROR)
        data = thumbnail if thumbnail is not None else reason.encode("utf-8")
        if len(data) > self.max_bytes:
            return
        scratch = self.scratch / f"{name}.{threading.get_ident()}"
        scratch.write_bytes(data)
        self._touch(scratch)
        os.replace(scratch, self.directory / name)
        with self._lock:
            self.total += len(data) - self._sizes.pop(name, 0)
            self._sizes[name] = len(data)
            self._evict()

    def _touch(self, path: Path) -> None:
        """Mark a file used now: its mtime, strictly after every other use (file system
        clocks tick coarser than views come)."""
        with self._lock:
            self._clock = max(time.time_ns(), self._clock + 1)
            when = self._clock
        os.utime(path, ns=(when, when))

    def _evict(self) -> None:
        while self.total > self.max_bytes and self._sizes:
            name, size = self._sizes.popitem(last=False)
            self.total -= size
            _remove(self.directory / name)


def _remove(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    except IsADirectoryError:
        for inner in path.iterdir():
            _remove(inner)
        path.rmdir()
