"""The ledger: what the sidecar already did, so that restarts and rescans redo nothing.

An LMDB environment in ``[sidecar] state_dir`` with two tables:

``files``    ``<share>\\0<relative path>`` -> the file as last ingested: size, mtime_ns,
             sha256, state, the version the gateway stored, the sha256 of the XMP the
             sidecar last wrote beside it (a different sidecar there is a person's edit),
             and whether a person's edit was merged (new versions carry it forward).
``content``  sha256 -> the first ``bucket/key`` stored with that content, so identical
             content under a second name is recorded as such.

States: ``uploading`` (written before the PUT: after a crash the sidecar asks the gateway
whether that content already arrived instead of sending it twice), ``ingested`` and
``failed`` (the gateway refused it for good; retried when the file changes). Quarantined
and moved files leave the share, and their entries are removed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from gateway import kv

MAP_SIZE = 1 << 30   # address space only; the file grows as entries are written


@dataclass
class Entry:
    size: int
    mtime_ns: int
    sha256: str
    state: str                       # uploading | ingested | failed
    version_id: str | None = None
    xmp_sha256: str | None = None
    xmp_stat: list[int] | None = None   # [size, mtime_ns] of that XMP: unchanged = not edited
    person_edited: bool = False      # a person's XMP edit was merged: carry it to new versions
    error: str | None = None

    def xmp_unchanged(self, size: int, mtime_ns: int) -> bool:
        return self.xmp_stat == [size, mtime_ns]

    def same_stat(self, size: int, mtime_ns: int) -> bool:
        return self.size == size and self.mtime_ns == mtime_ns


class Ledger:
    """Reads are cheap and synchronous; every writing method syncs to disk and is
    therefore a coroutine that runs its transaction in a worker thread."""

    def __init__(self, directory: Path) -> None:
        # sync: an entry that says "ingested" is on disk before the source may be moved
        # or deleted (after = move | delete relies on it).
        self.store = kv.Store(directory, max_dbs=2, map_size=MAP_SIZE)
        self._files = self.store.table("files")
        self._content = self.store.table("content")

    def get(self, share: str, relpath: str) -> Entry | None:
        with self.store.read() as txn:
            doc = kv.get(txn, self._files, kv.key(share, relpath))
        return Entry(**doc) if doc else None

    async def put(self, share: str, relpath: str, entry: Entry) -> None:
        await kv.offload(self._put, kv.key(share, relpath), asdict(entry))

    def _put(self, key: bytes, doc: dict) -> None:
        with self.store.write() as txn:
            kv.put(txn, self._files, key, doc)

    async def remove(self, share: str, relpath: str) -> None:
        await kv.offload(self._remove, kv.key(share, relpath))

    def _remove(self, key: bytes) -> None:
        with self.store.write() as txn:
            txn.delete(key, db=self._files)

    def first_with_content(self, sha256: str) -> str | None:
        with self.store.read() as txn:
            raw = txn.get(sha256.encode(), db=self._content)
        return raw.decode() if raw else None

    async def remember_content(self, sha256: str, location: str) -> None:
        await kv.offload(self._remember_content, sha256, location)

    def _remember_content(self, sha256: str, location: str) -> None:
        with self.store.write() as txn:
            txn.put(sha256.encode(), location.encode(), overwrite=False, db=self._content)

    def count(self) -> int:
        return self.store.entries(self._files)

    def close(self) -> None:
        """Flush and close; called last on shutdown."""
        self.store.close()
