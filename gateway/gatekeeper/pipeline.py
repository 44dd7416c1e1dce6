"""The intake pipeline: the one code path that commits writes.

PutObject, CopyObject and CompleteMultipartUpload (and the folder sidecar, which is an
S3 client) all end here, so no door can skip a stage. For every write::

    spool (hash while streaming to local disk)  or  assemble (multipart parts)
      → extract     provenance from headers and the file itself (ExifTool, C2PA)
      → policy      [[set]] defaults into the record, then the intake rules: a denial
                    ends the write here (nothing stored); a quarantine verdict sends it
                    to the quarantine bucket instead of its own (``policy_gate``)
      → commit      the object, atomically, as a new version
      → sidecar     the XMP record ``<key>.xmp`` beside it, as a new version   } at the
      → catalog     the version, its record and its lineage edges              } same time
      → acknowledge

The sidecar and the catalog entry need only what the commit returned (the version id),
not each other, so they are written concurrently; ``ingest`` returns once both are on
stable storage. The caller answers 2xx only after ``ingest`` returns, so an acknowledged
write has its bytes, its XMP and its catalog entry on stable storage. A crash after the
object's commit leaves a complete object whose sidecar is missing or older (and whose
catalog entry may or may not be written); ``provgate reindex`` lists such versions
(``missing_sidecars``) and indexes the rest.

A client that writes ``<key>.xmp`` itself while ``<key>`` exists (a DAM saving edits)
does not overwrite the record: its edit is merged under the rules in
``gateway.provenance.client_edit`` and provgate writes the merged sidecar.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
import uuid
from collections.abc import AsyncIterable, Awaitable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from gateway import errors, kv, metrics
from gateway.catalog import Catalog
from gateway.catalog.lineage import history_json, record_parents
from gateway.identities import Identity
from gateway.gatekeeper.policy_gate import PolicyGate
from gateway.provenance import (SIDECAR_SUFFIX, Extractor, HistoryEvent, ProvenanceRecord,
                                SidecarError, document_id_for, instance_id_for,
                                merge_client_edit, render_sidecar)
from gateway.storage.base import (DeleteOutcome, ObjectAttributes, ObjectInfo, PartBody,
                                  StagedObject, StorageBackend)
from gateway.storage.staged import LocalStagedFile, spool_to_file

SIDECAR_CONTENT_TYPE = "application/rdf+xml"
SOFTWARE_AGENT = "provgate 0.1.0"

T = TypeVar("T")


@dataclass
class WriteRequest:
    """A complete object on its way in, and who sent it through which door."""

    bucket: str
    key: str
    staged: StagedObject
    attributes: ObjectAttributes
    identity: Identity
    door: str = "s3"                 # "s3" | "sidecar" (provenance.record.DOORS)
    if_match: str | None = None      # unquoted ETag the current object must have
    if_none_match: bool = False      # no object may exist under the key


@dataclass
class IngestResult:
    """What the door reports back: the stored version and what intake noticed."""

    info: ObjectInfo
    record: ProvenanceRecord
    warnings: list[str] = field(default_factory=list)  # sent as x-provgate-warning
    quarantined: str | None = None   # "rule: message" when kept in quarantine, not the key


def sidecar_key(key: str) -> str:
    return key + SIDECAR_SUFFIX


def iso_now(epoch: float | None = None) -> str:
    moment = time.time() if epoch is None else epoch
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(moment)) + f".{int(moment * 1000) % 1000:03d}Z"


class IntakePipeline:
    def __init__(self, backend: StorageBackend, extractor: Extractor, catalog: Catalog,
                 policy: PolicyGate) -> None:
        self.backend = backend
        self.extractor = extractor
        self.catalog = catalog
        self.policy = policy

    # -- receiving ----------------------------------------------------------------------
    async def spool(self, body: PartBody) -> StagedObject:
        """Write a body to the backend's spool directory as it streams in.

        The body hashes itself (md5 for the ETag, sha256 for the record) and carries the
        client's verified checksums, which are kept with the object. The spool file is
        removed if the body fails part-way (a bad signature, a short body).
        """
        path = self.backend.spool_dir / uuid.uuid4().hex
        with metrics.INTAKE_STAGE_SECONDS.labels("spool").time():
            size = await spool_to_file(body, path)
        staged = await self.backend.stage_file(path, size, body.md5_hex, dict(body.checksums))
        staged.sha256_hex = body.sha256_hex
        return staged

    # -- committing -----------------------------------------------------------------------
    async def ingest(self, write: WriteRequest) -> IngestResult:
        """Extract, commit object + sidecar, index; the staged bytes are always released."""
        outcome = "failed"
        try:
            if write.key.endswith(SIDECAR_SUFFIX):
                annotated = write.key[: -len(SIDECAR_SUFFIX)]
                if annotated and await self._exists(write.bucket, annotated):
                    result = await self._client_sidecar(write, annotated)
                    outcome = "committed"
                    return result
            result = await self._ingest_object(write)
            outcome = "quarantined" if result.quarantined else "committed"
            return result
        except errors.PolicyDenied:
            outcome = "denied"
            raise
        finally:
            metrics.INTAKE_WRITES.labels(write.door, outcome).inc()
            await write.staged.discard()

    async def _ingest_object(self, write: WriteRequest) -> IngestResult:
        with metrics.INTAKE_STAGE_SECONDS.labels("extract").time():
            async with self._local_file(write.staged) as path:
                record = await self.extractor.extract(
                    path, write.attributes.content_type, write.attributes.user_metadata,
                    write.identity.name, write.door, bucket=write.bucket, key=write.key,
                    sha256=write.staged.sha256_hex, size=write.staged.size)
        verdict = await self.policy.judge(
            bucket=write.bucket, key=write.key, size=write.staged.size,
            content_type=write.attributes.content_type, door=write.door,
            identity=write.identity, record=record)
        refusal = verdict.refusal()
        if refusal is not None:
            await self.policy.record(verdict, version_id=None, identity=write.identity.name)
            raise refusal
        version_id = None
        try:
            info = await self._commit(write, verdict.bucket, verdict.key, record)
            version_id = info.version_id
        finally:
            await self.policy.record(verdict, version_id=version_id, identity=write.identity.name)
        return IngestResult(info, record, [n.message for n in record.notices
                                           if n.severity == "error"] + verdict.warnings,
                            quarantined=verdict.quarantined)

    async def _commit(self, write: WriteRequest, bucket: str, key: str,
                      record: ProvenanceRecord) -> ObjectInfo:
        """The object, then its sidecar and its catalog entry side by side."""
        with metrics.INTAKE_STAGE_SECONDS.labels("commit").time():
            # S3 conditions name the writer's key, not the quarantine location.
            # Only the version id is needed from the commit itself; the stored
            # Last-Modified is read (where that costs a request) beside the sidecar write.
            own_key = (bucket, key) == (write.bucket, write.key)
            committed = await self.backend.commit(
                bucket, key, write.staged, write.attributes,
                if_match=write.if_match if own_key else None,
                if_none_match=write.if_none_match and own_key, read_back=False)
            record.version_id = committed.version_id
            history = self._history(bucket, key)
            history.append(HistoryEvent("saved" if history else "created",
                                        record.captured_at or iso_now(committed.last_modified),
                                        instance_id=instance_id_for(bucket, key,
                                                                    committed.version_id),
                                        software_agent=SOFTWARE_AGENT,
                                        changed="/" if history else None))
            _, info = await _all(
                self._write_sidecar(bucket, key, record, history, write.identity,
                                    read_back=False),
                self._read_back_and_index(bucket, key, committed, record, history))
        return info

    async def _read_back_and_index(self, bucket: str, key: str, committed: ObjectInfo,
                                   record: ProvenanceRecord,
                                   history: list[HistoryEvent]) -> ObjectInfo:
        """The committed version as stored (its Last-Modified is the one listings and a
        reindex see), indexed in the catalog; the LMDB commit (an fsync) runs in a thread
        so the event loop keeps serving."""
        info = await self.backend.head_object(bucket, key, committed.version_id)
        await kv.offload(self._index, bucket, key, info, record, history)
        return info

    async def _client_sidecar(self, write: WriteRequest, annotated: str) -> IngestResult:
        """A client rewrote ``<key>.xmp``: merge what it may change, keep the rest."""
        current = self.catalog.version(write.bucket, annotated)
        if current is None:
            raise errors.ServiceUnavailable(
                f"the catalog has no record of {annotated}; run `provgate reindex`")
        record = ProvenanceRecord.from_dict(current["record"])
        history = self._history(write.bucket, annotated)
        async with self._local_file(write.staged) as path:
            edited = await asyncio.to_thread(Path(path).read_bytes)
        try:
            merged, rejected = merge_client_edit(
                record, edited, document_id=document_id_for(write.bucket, annotated),
                instance_id=current["instance_id"], history=history, now=iso_now())
        except SidecarError as exc:
            raise errors.MalformedXML(f"{write.key} is not a readable XMP sidecar: {exc}") from None
        history.append(HistoryEvent("edited", iso_now(), instance_id=current["instance_id"],
                                    software_agent=write.attributes.user_metadata.get(
                                        "software-agent", write.identity.name),
                                    changed="/metadata"))
        info = await self._write_sidecar(write.bucket, annotated, merged, history, write.identity)
        await kv.offload(self.catalog.add_version, write.bucket, annotated,
                         version_id=current["version_id"],
                         document_id=document_id_for(write.bucket, annotated),
                         instance_id=current["instance_id"], record=merged.to_dict(),
                         committed=current["committed"], parents=record_parents(merged),
                         history=history_json(history))
        warnings = [f"{r.field}: {r.reason}" for r in rejected]
        return IngestResult(info, merged, warnings)

    # -- deleting -------------------------------------------------------------------------
    async def delete(self, bucket: str, key: str, version_id: str | None = None) -> DeleteOutcome:
        """Delete as S3 does, keeping the object's sidecar and the catalog in step.

        Without a version: the object and its sidecar each get a delete marker (both
        vanish from listings; every version stays retrievable) and the catalog marks the
        asset deleted. With a version: that version leaves the catalog; removing a delete
        marker brings the asset (and its sidecar) back.
        """
        outcome = await self.backend.delete_object(bucket, key, version_id)
        if key.endswith(SIDECAR_SUFFIX) and await self._exists(bucket, key[: -len(SIDECAR_SUFFIX)]):
            return outcome   # a client removing a sidecar: history stays in its versions
        if version_id is None:
            await self._delete_quietly(bucket, sidecar_key(key))
            await kv.offload(self.catalog.mark_deleted, bucket, key, time.time())
        elif outcome.delete_marker:
            if await self._exists(bucket, key):
                await self._undelete_sidecar(bucket, key)
                await kv.offload(self.catalog.restore, bucket, key)
        else:
            await kv.offload(self.catalog.remove_version, bucket, key, version_id)
        return outcome

    async def _delete_quietly(self, bucket: str, key: str) -> None:
        try:
            await self.backend.delete_object(bucket, key)
        except (errors.NoSuchKey, errors.NoSuchVersion):
            pass

    async def _undelete_sidecar(self, bucket: str, key: str) -> None:
        """Remove the delete marker on top of ``<key>.xmp``, if that is what is there."""
        page = await self.backend.list_versions(bucket, prefix=sidecar_key(key), max_keys=1)
        latest = next((v for v in page.versions if v.key == sidecar_key(key)), None)
        if latest is not None and latest.delete_marker:
            await self.backend.delete_object(bucket, latest.key, latest.version_id)

    async def _write_sidecar(self, bucket: str, key: str, record: ProvenanceRecord,
                             history: list[HistoryEvent], identity: Identity, *,
                             read_back: bool = True) -> ObjectInfo:
        body = render_sidecar(record, document_id_for(bucket, key),
                              instance_id_for(bucket, key, record.version_id), history)
        path = self.backend.spool_dir / uuid.uuid4().hex
        await asyncio.to_thread(path.write_bytes, body)
        staged = await self.backend.stage_file(path, len(body), hashlib.md5(body).hexdigest(), {})
        try:
            return await self.backend.commit(bucket, sidecar_key(key), staged, ObjectAttributes(
                content_type=SIDECAR_CONTENT_TYPE, owner=identity.name), read_back=read_back)
        finally:
            await staged.discard()

    def _history(self, bucket: str, key: str) -> list[HistoryEvent]:
        asset = self.catalog.version(bucket, key)
        if asset is None:
            return []
        return [HistoryEvent(**e) for e in asset.get("history", [])]

    def _index(self, bucket: str, key: str, info: ObjectInfo, record: ProvenanceRecord,
               history: list[HistoryEvent]) -> None:
        self.catalog.add_version(bucket, key, version_id=info.version_id,
                                 document_id=document_id_for(bucket, key),
                                 instance_id=instance_id_for(bucket, key, info.version_id),
                                 record=record.to_dict(), committed=info.last_modified,
                                 parents=record_parents(record),
                                 history=history_json(history))

    async def _exists(self, bucket: str, key: str) -> bool:
        try:
            await self.backend.head_object(bucket, key)
        except (errors.NoSuchKey, errors.NoSuchVersion):
            return False
        return True

    def _local_file(self, staged: StagedObject):
        return _LocalCopy(self.backend, staged)


class _LocalCopy:
    """A local path with the staged bytes: the spool file itself, or a temporary copy
    of a staged object that lives in the backend (an assembled upstream upload)."""

    def __init__(self, backend: StorageBackend, staged: StagedObject) -> None:
        self.backend = backend
        self.staged = staged
        self.temp: Path | None = None

    async def __aenter__(self) -> str:
        if isinstance(self.staged, LocalStagedFile):
            return str(self.staged.path)
        temp = self.backend.spool_dir / f"extract-{uuid.uuid4().hex}"
        await spool_to_file(self.staged.read(), temp)
        self.temp = temp
        return str(temp)

    async def __aexit__(self, *exc) -> None:
        if self.temp is not None:
            _remove(self.temp)


class StreamBody:
    """A plain byte stream (a copy source) in the shape of a verified request body."""

    def __init__(self, stream: AsyncIterable[bytes], length: int | None) -> None:
        self._stream = stream
        self._md5 = hashlib.md5()
        self._sha256 = hashlib.sha256()
        self.length = length
        self.checksums: dict[str, str] = {}

    @property
    def md5_hex(self) -> str:
        return self._md5.hexdigest()

    @property
    def sha256_hex(self) -> str:
        return self._sha256.hexdigest()

    async def __aiter__(self):
        async for chunk in self._stream:
            self._md5.update(chunk)
            self._sha256.update(chunk)
            yield chunk


async def _all(*steps: Awaitable[T]) -> list[T]:
    """Run independent steps concurrently and return their results once every one has
    finished; the first failure is raised only then, so nothing is still writing when
    the caller answers."""
    results = await asyncio.gather(*steps, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results


def _remove(path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
