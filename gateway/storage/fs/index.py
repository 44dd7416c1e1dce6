"""The fs backend's index: an LMDB environment mapping keys to object records.

Why an index rather than one file per key path: S3 keys are arbitrary UTF-8 strings in
which ``a`` and ``a/b`` coexist, ``..`` is an ordinary character sequence and a segment
may exceed a file-name limit. Mapping keys onto paths either loses some keys or opens a
way out of the data directory. Here bytes live in opaque blob files named by random ids,
and the index (an LMDB B-tree ordered by UTF-8 bytes, which is S3's listing order) maps
``bucket NUL key`` to the blob and its attributes. One LMDB transaction publishes an
object, so a crash never leaves a half-committed object visible.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import lmdb

SEP = b"\x00"  # bucket names cannot contain NUL, so it cleanly ends the bucket part


def object_key(bucket: str, key: str) -> bytes:
    return bucket.encode() + SEP + key.encode("utf-8", "surrogatepass")


def part_key(upload_id: str, number: int) -> bytes:
    return upload_id.encode() + SEP + b"%05d" % number


def key_after_prefix(prefix: bytes) -> bytes:
    """The smallest byte string greater than every string starting with ``prefix``."""
    trimmed = prefix.rstrip(b"\xff")
    if not trimmed:
        return b"\xff" * (len(prefix) + 1)
    return trimmed[:-1] + bytes([trimmed[-1] + 1])


class Index:
    """Typed access to the four LMDB tables: buckets, objects, uploads, parts."""

    def __init__(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        # map_size is address space, not disk: 1 TiB is plenty for records of ~1 KiB.
        self.env = lmdb.open(str(path), map_size=1 << 40, max_dbs=8, subdir=True,
                             sync=True, metasync=True, lock=True)
        self.buckets = self.env.open_db(b"buckets")
        self.objects = self.env.open_db(b"objects")
        self.uploads = self.env.open_db(b"uploads")
        self.parts = self.env.open_db(b"parts")

    def close(self) -> None:
        self.env.close()

    def read(self) -> lmdb.Transaction:
        return self.env.begin()

    def write(self) -> lmdb.Transaction:
        return self.env.begin(write=True)

    @staticmethod
    def get(txn: lmdb.Transaction, db, key: bytes) -> dict | None:
        raw = txn.get(key, db=db)
        return None if raw is None else json.loads(raw)

    @staticmethod
    def put(txn: lmdb.Transaction, db, key: bytes, doc: dict) -> None:
        txn.put(key, json.dumps(doc, separators=(",", ":")).encode(), db=db)

    @staticmethod
    def scan(txn: lmdb.Transaction, db, start: bytes, prefix: bytes) -> Iterator[tuple[bytes, dict]]:
        """Records whose key starts with ``prefix``, from the first key >= ``start``."""
        cursor = txn.cursor(db=db)
        if not cursor.set_range(start):
            return
        for raw_key, raw in cursor:
            if not raw_key.startswith(prefix):
                return
            yield raw_key, json.loads(raw)
