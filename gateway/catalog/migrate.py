"""Move XMP records of the old layout into the record store (run when a gateway starts).

Before the record store, provgate kept each object version's XMP record as an ordinary
object ``<key>.xmp`` beside it (a new version of that object per version of the key). A
bucket still in that layout (``storage.base.OBJECT_RECORDS_LAYOUT``) is migrated once:

* a version of ``<key>.xmp`` is a provgate record when ``<key>`` exists in the bucket, the
  version is stored as ``application/rdf+xml``, parses as an XMP record and names this
  bucket, this key and a version of it (``pg:Bucket``, ``pg:Key``, ``pg:VersionID``). The
  newest such record of each object version is stored in the record store, then every
  migrated version of ``<key>.xmp`` is deleted for good, and so are its delete markers
  when nothing but records was ever stored under that name;
* every other ``.xmp`` object (a user's own preset, a DAM's file for a key that does not
  exist) stays where it is, untouched.

The bucket is then marked as migrated. A migration stopped half-way is simply run again:
a record already in the store is not written twice, and the bucket is marked only at
the end.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from gateway.catalog.reindex import all_versions
from gateway.storage.base import RECORD_CONTENT_TYPE, recorded_key
from gateway.provenance import SidecarError, parse_sidecar
from gateway.storage.base import (MAX_RECORD_BYTES, RECORD_STORE_LAYOUT, ObjectInfo,
                                  StorageBackend)

log = logging.getLogger("provgate.migrate")


@dataclass
class MigrationReport:
    buckets: list[str] = field(default_factory=list)      # buckets migrated
    records: int = 0                                       # records moved into the store
    kept: list[str] = field(default_factory=list)          # bucket/name: .xmp objects left


async def migrate_records(backend: StorageBackend) -> MigrationReport:
    """Migrate every bucket still in the old layout (see the module docstring)."""
    report = MigrationReport()
    for bucket_info in await backend.list_buckets():
        bucket = bucket_info.name
        if await backend.bucket_layout(bucket) >= RECORD_STORE_LAYOUT:
            continue
        await _migrate_bucket(backend, bucket, report)
        await backend.set_bucket_layout(bucket, RECORD_STORE_LAYOUT)
        report.buckets.append(bucket)
        log.info("bucket %s: XMP records moved into the record store", bucket)
    return report


async def _migrate_bucket(backend: StorageBackend, bucket: str,
                          report: MigrationReport) -> None:
    versions = await all_versions(backend, bucket)
    for name, entries in versions.items():
        key = recorded_key(name)
        if key is None or key not in versions:
            continue
        object_versions = {v.version_id for v in versions[key] if not v.delete_marker}
        migrated: list[str] = []
        kept = False
        for entry in entries:                       # newest first: the newest record wins
            if entry.delete_marker:
                continue
            body = await _record_body(backend, entry)
            version_id = _names_version(body, bucket, key) if body is not None else None
            if version_id not in object_versions:
                kept = True
                continue
            if await backend.get_record(bucket, key, version_id) is None:
                await backend.put_record(bucket, key, version_id, body)
                report.records += 1
            migrated.append(entry.version_id)
        if kept:
            report.kept.append(f"{bucket}/{name}")
        doomed = migrated if kept else [e.version_id for e in entries]
        for version_id in doomed:
            await backend.delete_object(bucket, name, version_id)


async def _record_body(backend: StorageBackend, entry: ObjectInfo) -> bytes | None:
    """The bytes of a ``.xmp`` version that may be a provgate record, else None."""
    if entry.size > MAX_RECORD_BYTES:
        return None
    stream = await backend.open_object(entry.bucket, entry.key, version_id=entry.version_id)
    try:
        if stream.info.attributes.content_type != RECORD_CONTENT_TYPE:
            return None
        return b"".join([chunk async for chunk in stream.body])
    finally:
        await stream.close()


def _names_version(body: bytes, bucket: str, key: str) -> str | None:
    """The object version a provgate record of ``bucket/key`` names, else None."""
    try:
        record = parse_sidecar(body).record
    except SidecarError:
        return None
    if (record.bucket, record.key) != (bucket, key):
        return None
    return record.version_id
