"""Rebuild the catalog from the storage backend alone (``provgate reindex``).

The XMP sidecars are the durable provenance record, so the catalog can always be
recomputed: for every object version, the newest version of ``<key>.xmp`` that names it
(``pg:VersionID`` in the record) gives its record, history and lineage. A key ending in
``.xmp`` whose base key exists is a sidecar, never an asset of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from gateway.catalog.store import Catalog
from gateway import kv
from gateway.catalog.lineage import history_json, record_parents
from gateway.provenance import (SIDECAR_SUFFIX, SidecarError, document_id_for, instance_id_for,
                                parse_sidecar)
from gateway.storage.base import ObjectInfo, StorageBackend

MAX_SIDECAR_BYTES = 16 * 1024 * 1024


@dataclass
class ReindexReport:
    buckets: int = 0
    assets: int = 0
    versions: int = 0
    missing_sidecars: list[str] = field(default_factory=list)     # bucket/key?versionId=
    unreadable_sidecars: list[str] = field(default_factory=list)


async def _all_versions(backend: StorageBackend, bucket: str) -> dict[str, list[ObjectInfo]]:
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


async def _read(backend: StorageBackend, info: ObjectInfo) -> bytes:
    stream = await backend.open_object(info.bucket, info.key, version_id=info.version_id)
    data = bytearray()
    try:
        async for chunk in stream.body:
            data += chunk
            if len(data) > MAX_SIDECAR_BYTES:
                raise SidecarError("sidecar larger than 16 MiB")
    finally:
        await stream.close()
    return bytes(data)


async def reindex(backend: StorageBackend, catalog: Catalog,
                  progress: Callable[[ReindexReport, str], None] = lambda r, b: None) -> ReindexReport:
    report = ReindexReport()
    await kv.offload(catalog.clear)
    for bucket_info in await backend.list_buckets():
        bucket = bucket_info.name
        report.buckets += 1
        versions = await _all_versions(backend, bucket)
        for key in sorted(versions, key=lambda k: k.encode("utf-8", "surrogatepass")):
            if key.endswith(SIDECAR_SUFFIX) and key[: -len(SIDECAR_SUFFIX)] in versions:
                continue
            await _index_asset(backend, catalog, bucket, key, versions, report)
            progress(report, bucket)
    return report


async def _index_asset(backend, catalog: Catalog, bucket: str, key: str,
                       versions: dict[str, list[ObjectInfo]], report: ReindexReport) -> None:
    sidecars: dict[str, ObjectInfo] = {}
    parsed_by_version = {}
    for xmp in versions.get(key + SIDECAR_SUFFIX, []):   # newest first: first one wins
        if xmp.delete_marker:
            continue
        try:
            parsed = parse_sidecar(await _read(backend, xmp))
        except SidecarError:
            report.unreadable_sidecars.append(f"{bucket}/{xmp.key}?versionId={xmp.version_id}")
            continue
        object_version = parsed.record.version_id
        if object_version and object_version not in parsed_by_version:
            parsed_by_version[object_version] = parsed
            sidecars[object_version] = xmp
    indexed = False
    for info in reversed(versions[key]):                  # oldest first, as committed
        if info.delete_marker:
            continue
        parsed = parsed_by_version.get(info.version_id)
        if parsed is None:
            report.missing_sidecars.append(f"{bucket}/{key}?versionId={info.version_id}")
            continue
        await kv.offload(catalog.add_version, bucket, key, version_id=info.version_id,
                         document_id=document_id_for(bucket, key),
                         instance_id=instance_id_for(bucket, key, info.version_id),
                         record=parsed.record.to_dict(), committed=info.last_modified,
                         parents=record_parents(parsed.record),
                         history=history_json(parsed.history))
        report.versions += 1
        indexed = True
    if indexed:
        report.assets += 1
        latest = versions[key][0]
        if latest.delete_marker:
            await kv.offload(catalog.mark_deleted, bucket, key, latest.last_modified)


