"""Rebuild the catalog from the storage backend alone (``provgate reindex``).

The XMP records are the durable provenance record, so the catalog can always be
recomputed: every object version's record in the backend's record store gives its record,
history and lineage. A record is indexed only when it is bound to its object: it must name
the version it is stored for (``pg:VersionID``), the bucket and key it describes, and the
SHA-256 of that version's bytes (``pg:SHA256``, checked by reading the bytes). A record
that does not match is reported (``mismatched_records``) and never indexed; so is a version
without a record (``missing_records``) and an unreadable one (``unreadable_records``).

reindex opens the backend without its crash recovery (``start(recover=False)``), so it
can run beside a live gateway without touching that gateway's in-flight spool files.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

from gateway.catalog.store import Catalog
from gateway import kv
from gateway.catalog.lineage import history_json, record_parents
from gateway.provenance import SidecarError, document_id_for, instance_id_for, parse_sidecar
from gateway.storage.base import NULL_VERSION, ObjectInfo, StorageBackend


@dataclass
class ReindexReport:
    buckets: int = 0
    assets: int = 0
    versions: int = 0
    missing_records: list[str] = field(default_factory=list)     # bucket/key?versionId=
    unreadable_records: list[str] = field(default_factory=list)
    mismatched_records: list[str] = field(default_factory=list)  # "bucket/key?versionId=: why"


async def all_versions(backend: StorageBackend, bucket: str) -> dict[str, list[ObjectInfo]]:
    """Every version and delete marker of a bucket, by key, newest first (S3 order)."""
    by_key: dict[str, list[ObjectInfo]] = {}
    key_marker, version_marker = "", ""
    while True:
        page = await backend.list_versions(bucket, key_marker=key_marker,
                                           version_id_marker=version_marker, max_keys=1000)
        for info in page.versions:
            by_key.setdefault(info.key, []).append(info)
        if not page.truncated:
            return by_key
        key_marker, version_marker = page.next_key_marker, page.next_version_id_marker


async def object_sha256(backend: StorageBackend, info: ObjectInfo) -> str:
    """SHA-256 of a stored version's bytes, streamed."""
    digest = hashlib.sha256()
    stream = await backend.open_object(info.bucket, info.key, version_id=info.version_id)
    try:
        async for chunk in stream.body:
            digest.update(chunk)
    finally:
        await stream.close()
    return digest.hexdigest()


async def reindex(backend: StorageBackend, catalog: Catalog,
                  progress: Callable[[ReindexReport, str], None] = lambda r, b: None,
                  policy_warnings: dict[tuple[str, str, str], list[str]] | None = None
                  ) -> ReindexReport:
    """``policy_warnings``: ``rule: message`` of the intake warnings of each stored version
    (bucket, key, version id), from the policy audit log: they are not part of the record,
    and the review queue filters on them."""
    report = ReindexReport()
    warnings = policy_warnings or {}
    await kv.offload(catalog.clear)
    for bucket_info in await backend.list_buckets():
        bucket = bucket_info.name
        report.buckets += 1
        versions = await all_versions(backend, bucket)
        for key in sorted(versions, key=lambda k: k.encode("utf-8", "surrogatepass")):
            await _index_asset(backend, catalog, bucket, key, versions[key], report, warnings)
            progress(report, bucket)
    return report


async def _index_asset(backend: StorageBackend, catalog: Catalog, bucket: str, key: str,
                       versions: list[ObjectInfo], report: ReindexReport,
                       warnings: dict[tuple[str, str, str], list[str]]) -> None:
    indexed = False
    for info in reversed(versions):                       # oldest first, as committed
        if info.delete_marker:
            continue
        where = f"{bucket}/{key}?versionId={info.version_id}"
        if info.version_id == NULL_VERSION and not info.internal_id:
            info = await backend.head_object(bucket, key, NULL_VERSION)  # its record id
        stored = await backend.get_record(bucket, key, info.record_id)
        if stored is None:
            report.missing_records.append(where)
            continue
        try:
            parsed = parse_sidecar(stored.body)
        except SidecarError:
            report.unreadable_records.append(where)
            continue
        mismatch = await _mismatch(backend, info, parsed.record)
        if mismatch:
            report.mismatched_records.append(f"{where}: {mismatch}")
            continue
        await kv.offload(catalog.add_version, bucket, key, version_id=info.version_id,
                         document_id=document_id_for(bucket, key),
                         instance_id=instance_id_for(bucket, key, info.record_id),
                         record_id=info.record_id,
                         record=parsed.record.to_dict(), committed=info.last_modified,
                         parents=record_parents(parsed.record),
                         history=history_json(parsed.history),
                         policy_warnings=warnings.get((bucket, key, info.version_id), []))
        report.versions += 1
        indexed = True
    if indexed:
        report.assets += 1
        if versions[0].delete_marker:
            await kv.offload(catalog.mark_deleted, bucket, key, versions[0].last_modified)


async def _mismatch(backend: StorageBackend, info: ObjectInfo, record) -> str | None:
    """Why a record is not the record of this object version, or None when it is."""
    if record.version_id != info.version_id:
        return f"the record names version {record.version_id!r}"
    if (record.bucket, record.key) != (info.bucket, info.key):
        return f"the record names {record.bucket}/{record.key}"
    if not record.sha256:
        return "the record names no SHA-256"
    actual = await object_sha256(backend, info)
    if record.sha256 != actual:
        return f"the record names SHA-256 {record.sha256}, the bytes have {actual}"
    return None

