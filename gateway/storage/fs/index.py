"""The fs backend's index: an LMDB environment mapping keys to object records.

Why an index rather than one file per key path: S3 keys are arbitrary UTF-8 strings in
which ``a`` and ``a/b`` coexist, ``..`` is an ordinary character sequence and a segment
may exceed a file-name limit. Mapping keys onto paths either loses some keys or opens a
way out of the data directory. Here bytes live in opaque blob files named by random ids,
and the index (an LMDB B-tree ordered by UTF-8 bytes, which is S3's listing order) maps
``bucket NUL key`` to the blob and its attributes. One LMDB transaction publishes an
object, so a crash never leaves a half-committed object visible.

LMDB keys hold at most 511 bytes, S3 keys up to 1024. A key longer than ``KEY_ROOM``
bytes lives in a *group* record stored under ``bucket NUL <first KEY_ROOM bytes> NUL``,
which maps each full key sharing those first bytes to its record. NUL never occurs in a
key, so the group sorts right after the only short key it could share its bytes with and
before every other key: iterating the table in LMDB order and expanding groups in
sorted order still yields all keys in UTF-8 binary order.

Versions: the ``objects`` table holds each key's *current* version (an object record or a
delete marker), so listing current objects stays one ordered scan. Noncurrent versions
live in the ``versions`` table under ``<16-byte hash of bucket NUL key><version id>``: a
fixed-size prefix whatever the key's length, and version ids sort newest first (see
``versions``), so one prefix scan yields a key's history in S3's order.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import lmdb

from gateway import kv
from gateway.kv import SEP  # bucket names cannot contain NUL, so it cleanly ends the bucket part


KEY_ROOM = 400  # key bytes kept in an LMDB key; longer keys go to a group record


def object_key(bucket: str, key: str) -> bytes:
    """The full ordering key ``bucket NUL key`` (not always the LMDB key: see _slot)."""
    return bucket.encode() + SEP + key.encode("utf-8", "surrogatepass")


def _slot(full: bytes) -> tuple[bytes, bool]:
    """The LMDB key holding ``full``'s record, and whether it is a group record."""
    base = full.index(SEP) + 1
    if len(full) - base <= KEY_ROOM:
        return full, False
    return full[:base + KEY_ROOM] + SEP, True


def _key_text(full: bytes) -> str:
    return full[full.index(SEP) + 1:].decode("utf-8", "surrogatepass")


def _sorted_group(doc: dict) -> list[tuple[bytes, str]]:
    return sorted((k.encode("utf-8", "surrogatepass"), k) for k in doc["long"])


def history_prefix(full: bytes) -> bytes:
    """The ``versions`` table prefix of one key's noncurrent versions."""
    return hashlib.sha256(full).digest()[:16]


def record_key(bucket: str, key: str, version_id: str = "") -> bytes:
    """Where a version's XMP record is kept; with no version id, the prefix of every
    record of the key. A fixed-size key part, so a 1024-byte key fits LMDB's limit."""
    return bucket.encode() + SEP + history_prefix(object_key(bucket, key)) + version_id.encode()


def part_key(upload_id: str, number: int) -> bytes:
    return upload_id.encode() + SEP + b"%05d" % number


def key_after_prefix(prefix: bytes) -> bytes:
    """The smallest byte string greater than every string starting with ``prefix``."""
    trimmed = prefix.rstrip(b"\xff")
    if not trimmed:
        return b"\xff" * (len(prefix) + 1)
    return trimmed[:-1] + bytes([trimmed[-1] + 1])


class Index:
    """Typed access to the LMDB tables: buckets, objects, versions, uploads, parts.

    Values are :mod:`gateway.kv` JSON; ``write()`` transactions sync to disk, so the
    backend's async methods run them in a worker thread (``kv.offload``).
    """

    def __init__(self, path: Path) -> None:
        self.store = kv.Store(path, max_dbs=8)
        self.buckets, self.objects, self.versions, self.uploads, self.parts = (
            self.store.table(name) for name in ("buckets", "objects", "versions", "uploads",
                                                "parts"))
        # XMP records, by bucket NUL <16-byte hash of the key> <object version id>
        # (``record_key``): outside the objects table, so no S3 key can reach them.
        self.records = self.store.table("records")

    def close(self) -> None:
        self.store.close()

    def read(self) -> lmdb.Transaction:
        return self.store.read()

    def write(self) -> lmdb.Transaction:
        return self.store.write()

    # -- the objects table, keyed by full ordering keys (see object_key) ----------------
    def get_object(self, txn: lmdb.Transaction, full: bytes) -> dict | None:
        slot, grouped = _slot(full)
        doc = kv.get(txn, self.objects, slot)
        if doc is None or not grouped:
            return doc
        return doc["long"].get(_key_text(full))

    def put_object(self, txn: lmdb.Transaction, full: bytes, record: dict) -> None:
        slot, grouped = _slot(full)
        if not grouped:
            kv.put(txn, self.objects, slot, record)
            return
        doc = kv.get(txn, self.objects, slot) or {"long": {}}
        doc["long"][_key_text(full)] = record
        kv.put(txn, self.objects, slot, doc)

    def delete_object(self, txn: lmdb.Transaction, full: bytes) -> dict | None:
        """Remove a record; return it (None when there was none)."""
        slot, grouped = _slot(full)
        doc = kv.get(txn, self.objects, slot)
        if doc is None:
            return None
        if not grouped:
            txn.delete(slot, db=self.objects)
            return doc
        previous = doc["long"].pop(_key_text(full), None)
        if doc["long"]:
            kv.put(txn, self.objects, slot, doc)
        else:
            txn.delete(slot, db=self.objects)
        return previous

    def iter_objects(self, txn: lmdb.Transaction, start: bytes,
                     prefix: bytes) -> Iterator[tuple[bytes, dict]]:
        """``(full key, record)`` in key order, from the first full key >= ``start``,
        while full keys start with ``prefix`` (which must name the bucket)."""
        slot_start, _ = _slot(start)
        seek = start if slot_start == start else slot_start[:-1]
        base = prefix[:prefix.index(SEP) + 1]
        cursor = txn.cursor(db=self.objects)
        if not cursor.set_range(seek):
            return
        for raw_key, raw in cursor:
            if not raw_key.startswith(base):
                return
            doc = kv.loads(raw)
            if raw_key.endswith(SEP):  # a group of long keys
                for encoded, key in _sorted_group(doc):
                    full = base + encoded
                    if full >= start:
                        if not full.startswith(prefix):
                            return
                        yield full, doc["long"][key]
                continue
            if raw_key < start:
                continue
            if not raw_key.startswith(prefix):
                return
            yield raw_key, doc

    def all_object_records(self, txn: lmdb.Transaction) -> Iterator[dict]:
        """Every version record: current ones, then noncurrent ones."""
        for raw_key, raw in txn.cursor(db=self.objects):
            doc = kv.loads(raw)
            if raw_key.endswith(SEP):
                yield from doc["long"].values()
            else:
                yield doc
        for _, raw in txn.cursor(db=self.versions):
            yield kv.loads(raw)

    # -- the versions table: noncurrent versions, by key hash and version id -------------
    def noncurrent(self, txn: lmdb.Transaction, full: bytes) -> Iterator[dict]:
        """A key's noncurrent version records, in version id order (newest first)."""
        prefix = history_prefix(full)
        for _, doc in kv.scan(txn, self.versions, prefix, prefix):
            yield doc

    def get_noncurrent(self, txn: lmdb.Transaction, full: bytes, version_id: str) -> dict | None:
        return kv.get(txn, self.versions, history_prefix(full) + version_id.encode())

    def put_noncurrent(self, txn: lmdb.Transaction, full: bytes, record: dict) -> None:
        kv.put(txn, self.versions, history_prefix(full) + record["vid"].encode(), record)

    def delete_noncurrent(self, txn: lmdb.Transaction, full: bytes, version_id: str) -> None:
        txn.delete(history_prefix(full) + version_id.encode(), db=self.versions)
