"""Object versions in the fs backend's index: ids, the current version, history.

A key's versions are records in the index (see ``index``): its current version in the
``objects`` table and the older ones in the ``versions`` table. A record is either an
object version (``blob``, ``size``, ``etag``, ``attrs``, ...) or a delete marker
(``"dm": true``); every record carries its version id as ``vid``. Records written before
versioning existed have no ``vid``: they are the ``null`` version, as S3 calls an object
stored before versioning was enabled.

A version written while the bucket was unversioned or suspended is the key's ``null``
version too: it gets a fresh id like any other (``"null": true`` marks it), so that its
place in the history and its XMP record (keyed by that id) stay its own after a later
write replaced it; clients see and address it as ``null``. A key has at most one.

Version ids are 32 lowercase hex digits: 16 of ``2**64 - 1 - nanoseconds since the
epoch`` and 16 random ones. Inverting the time makes newer ids sort *first*, so the
``versions`` table yields a key's history newest first with a plain forward scan (S3's
order), and ``null`` — the oldest by definition — sorts after every generated id. A new
id is always made smaller than the key's current one, even if the clock went back, so
id order is version order.

All functions here run inside the caller's LMDB transaction: a version becomes current,
and its predecessor noncurrent, in the same commit.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Iterator

import lmdb

from gateway.storage.base import NULL_VERSION
from gateway.storage.fs.index import Index

_STAMP_MAX = (1 << 64) - 1
VERSION_ID = re.compile(r"^(?:[0-9a-f]{32}|null)$")


def new_version_id(current: str | None) -> str:
    """A fresh id that sorts before ``current`` (the key's current version id, if any)."""
    stamp = time.time_ns()
    if current is not None and current != NULL_VERSION:
        stamp = max(stamp, _STAMP_MAX - int(current[:16], 16) + 1)
    return f"{_STAMP_MAX - stamp:016x}{secrets.token_hex(8)}"


def is_marker(record: dict | None) -> bool:
    return bool(record and record.get("dm"))


def is_null(record: dict) -> bool:
    return bool(record.get("null")) or record.get("vid", NULL_VERSION) == NULL_VERSION


def shown_id(record: dict) -> str:
    """The version id clients see: ``null`` for the null version."""
    return NULL_VERSION if is_null(record) else record["vid"]


def current(index: Index, txn: lmdb.Transaction, full: bytes) -> dict | None:
    """The key's current version record (object or delete marker), or None."""
    record = index.get_object(txn, full)
    if record is not None:
        record.setdefault("vid", NULL_VERSION)
    return record


def history(index: Index, txn: lmdb.Transaction, full: bytes) -> Iterator[tuple[dict, bool]]:
    """``(record, is_latest)`` for every version of a key, newest first."""
    latest = current(index, txn, full)
    if latest is None:
        return
    yield latest, True
    for record in index.noncurrent(txn, full):
        yield record, False


def find(index: Index, txn: lmdb.Transaction, full: bytes,
         version_id: str) -> tuple[dict, bool] | None:
    """``(record, is_latest)`` of one version by the id clients see, or None."""
    latest = current(index, txn, full)
    if latest is None:
        return None
    if version_id == NULL_VERSION:
        return next(((r, is_latest) for r, is_latest in history(index, txn, full)
                     if is_null(r)), None)
    if latest["vid"] == version_id:
        return (latest, True) if not is_null(latest) else None
    record = index.get_noncurrent(txn, full, version_id)
    return None if record is None or is_null(record) else (record, False)


def publish(index: Index, txn: lmdb.Transaction, full: bytes, record: dict) -> None:
    """Make ``record`` (its ``vid`` set) the current version; the previous current
    version is kept as the newest noncurrent one."""
    previous = current(index, txn, full)
    if previous is not None:
        index.put_noncurrent(txn, full, previous)
    index.put_object(txn, full, record)


def update(index: Index, txn: lmdb.Transaction, full: bytes, record: dict, is_latest: bool) -> None:
    """Rewrite a version's record in place (its tags changed)."""
    if is_latest:
        index.put_object(txn, full, record)
    else:
        index.put_noncurrent(txn, full, record)


def remove(index: Index, txn: lmdb.Transaction, full: bytes, version_id: str) -> dict | None:
    """Delete one version (named as clients name it) for good and return its record
    (None if there was none). Removing the current version makes the newest noncurrent
    one current."""
    found = find(index, txn, full, version_id)
    if found is None:
        return None
    record, is_latest = found
    if not is_latest:
        index.delete_noncurrent(txn, full, record["vid"])
        return record
    successors = index.noncurrent(txn, full)
    successor = next(successors, None)
    successors.close()  # its cursor must not outlive the writes below
    if successor is None:
        index.delete_object(txn, full)
    else:
        index.delete_noncurrent(txn, full, successor["vid"])
        index.put_object(txn, full, successor)
    return record


def purge(index: Index, txn: lmdb.Transaction, full: bytes) -> list[dict]:
    """Delete every version of a key; return their records (to free their blobs)."""
    records = [record for record, _ in history(index, txn, full)]
    for record in records[1:]:
        index.delete_noncurrent(txn, full, record["vid"])
    if records:
        index.delete_object(txn, full)
    return records
