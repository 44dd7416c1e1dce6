"""Listings over the fs index: current objects, and versions with delete markers.

Both are one ordered scan of the ``objects`` table (one entry per key: its current
version), rolling keys up into common prefixes and jumping past each common prefix with
a fresh seek, so a listing costs what it returns, not what the bucket holds. A version
listing expands each key into its history from the ``versions`` table.
"""

from __future__ import annotations

from collections.abc import Iterator

import lmdb

from gateway.storage.base import ListPage, ObjectAttributes, ObjectInfo, VersionPage
from gateway.storage.fs import versions
from gateway.storage.fs.index import SEP, Index, key_after_prefix, object_key


def info(bucket: str, key: str, record: dict, is_latest: bool = True) -> ObjectInfo:
    """The ObjectInfo of a version record (or of a delete marker)."""
    vid = versions.shown_id(record)
    internal = record.get("vid", "") if vid != record.get("vid") else ""
    if versions.is_marker(record):
        return ObjectInfo(bucket, key, 0, "", record["mtime"],
                          ObjectAttributes(owner=record.get("owner", "")), version_id=vid,
                          is_latest=is_latest, delete_marker=True, internal_id=internal)
    return ObjectInfo(bucket, key, record["size"], record["etag"], record["mtime"],
                      ObjectAttributes.from_json(record["attrs"]), record["checksums"],
                      record["parts"], version_id=vid, is_latest=is_latest,
                      internal_id=internal)


def _keys(index: Index, txn: lmdb.Transaction, bucket: str, prefix: str, delimiter: str,
          start: bytes, after: str, live_only: bool) -> Iterator[tuple[str, dict | None]]:
    """``(key, current record)`` and ``(common prefix, None)`` in S3 order, from the full
    key ``start`` on; common prefixes not after ``after`` are passed over. With
    ``live_only``, keys whose current version is a delete marker do not exist."""
    base = bucket.encode() + SEP
    scope = base + prefix.encode("utf-8", "surrogatepass")
    entries = index.iter_objects(txn, start, scope)
    while (entry := next(entries, None)) is not None:
        raw_key, record = entry
        if live_only and versions.is_marker(record):
            continue
        key = raw_key[len(base):].decode("utf-8", "surrogatepass")
        cut = key.find(delimiter, len(prefix)) if delimiter else -1
        if cut < 0:
            yield key, record
            continue
        common = key[:cut + len(delimiter)]
        if common > after:
            yield common, None
        # Go on after everything under the common prefix, in one seek.
        entries.close()
        entries = index.iter_objects(
            txn, key_after_prefix(base + common.encode("utf-8", "surrogatepass")), scope)


def _start(bucket: str, prefix: str, marker: str, inclusive: bool) -> bytes:
    scope = object_key(bucket, prefix)
    if marker and object_key(bucket, marker) >= scope:
        return object_key(bucket, marker) + (b"" if inclusive else b"\x00")
    return scope


def list_objects(index: Index, txn: lmdb.Transaction, bucket: str, prefix: str,
                 delimiter: str, start_after: str, max_keys: int) -> ListPage:
    objects: list[ObjectInfo] = []
    prefixes: list[str] = []
    last = None
    for key, record in _keys(index, txn, bucket, prefix, delimiter,
                             _start(bucket, prefix, start_after, False), start_after, True):
        if len(objects) + len(prefixes) >= max_keys:
            return ListPage(objects, prefixes, True, last)
        if record is None:
            prefixes.append(key)
        else:
            objects.append(info(bucket, key, record))
        last = key
    return ListPage(objects, prefixes, False, last)


def list_versions(index: Index, txn: lmdb.Transaction, bucket: str, prefix: str,
                  delimiter: str, key_marker: str, version_id_marker: str,
                  max_keys: int) -> VersionPage:
    resume_inside = bool(key_marker and version_id_marker)
    if resume_inside and version_id_marker == versions.NULL_VERSION:
        # Versions sort by internal id: resume after the null version's (after the whole
        # key when it has none any more).
        found = versions.find(index, txn, object_key(bucket, key_marker), version_id_marker)
        version_id_marker = found[0]["vid"] if found else "~"
    keys = _keys(index, txn, bucket, prefix, delimiter,
                 _start(bucket, prefix, key_marker, resume_inside), key_marker, False)
    page = VersionPage([], [], False)
    for key, record in keys:
        if record is None:
            entries: Iterator[ObjectInfo | str] = iter([key])
        else:
            entries = (info(bucket, key, r, latest) for r, latest in
                       versions.history(index, txn, object_key(bucket, key))
                       if not (resume_inside and key == key_marker
                               and r["vid"] <= version_id_marker))
        for entry in entries:
            if len(page.versions) + len(page.common_prefixes) >= max_keys:
                page.truncated = True
                return page
            if isinstance(entry, str):
                page.common_prefixes.append(entry)
                page.next_key_marker, page.next_version_id_marker = entry, None
            else:
                page.versions.append(entry)
                page.next_key_marker, page.next_version_id_marker = key, entry.version_id
    page.next_key_marker = page.next_version_id_marker = None
    return page
