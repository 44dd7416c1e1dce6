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

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import lmdb

from gateway.catalog.store import lmdb_key

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
    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        # sync: an entry that says "ingested" is on disk before the source may be moved
        # or deleted (after = move | delete relies on it).
        self.env = lmdb.open(str(directory), map_size=MAP_SIZE, max_dbs=2, subdir=True,
                             sync=True, metasync=True, lock=True)
        self._files = self.env.open_db(b"files")
        self._content = self.env.open_db(b"content")

    @staticmethod
    def _key(share: str, relpath: str) -> bytes:
        # Same bound as the catalog: LMDB keys stop at 511 bytes, paths need not.
        return lmdb_key(share, relpath)

    def get(self, share: str, relpath: str) -> Entry | None:
        with self.env.begin(db=self._files) as txn:
            raw = txn.get(self._key(share, relpath))
        return Entry(**json.loads(raw)) if raw else None

    def put(self, share: str, relpath: str, entry: Entry) -> None:
        with self.env.begin(db=self._files, write=True) as txn:
            txn.put(self._key(share, relpath), json.dumps(asdict(entry)).encode())

    def remove(self, share: str, relpath: str) -> None:
        with self.env.begin(db=self._files, write=True) as txn:
            txn.delete(self._key(share, relpath))

    def first_with_content(self, sha256: str) -> str | None:
        with self.env.begin(db=self._content) as txn:
            raw = txn.get(sha256.encode())
        return raw.decode() if raw else None

    def remember_content(self, sha256: str, location: str) -> None:
        with self.env.begin(db=self._content, write=True) as txn:
            txn.put(sha256.encode(), location.encode(), overwrite=False)

    def count(self) -> int:
        with self.env.begin(db=self._files) as txn:
            return txn.stat(self._files)["entries"]

    def close(self) -> None:
        """Flush and close; called last on shutdown."""
        self.env.sync(True)
        self.env.close()
