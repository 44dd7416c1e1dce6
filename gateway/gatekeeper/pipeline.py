"""The intake pipeline: the one code path that commits writes.

PutObject, CopyObject and CompleteMultipartUpload (and the folder sidecar, which is an
S3 client) all end here, so no door can skip a stage. For every write::

    spool (hash while streaming to local disk)  or  assemble (multipart parts)
      → extract     provenance from headers and the file itself (ExifTool, C2PA)
      → policy      [[set]] defaults into the record, then the intake rules: a denial
                    ends the write here (nothing stored); a quarantine verdict sends it
                    to the quarantine bucket instead of its own (``policy_gate``)
      → commit      the object, atomically, as a new version
      → record      its XMP record in the backend's record store           } at the
      → catalog     the version, its record and its lineage edges           } same time
      → acknowledge

The record and the catalog entry need only what the commit returned (the version id),
not each other, so they are written concurrently; ``ingest`` returns once both are on
stable storage. The caller answers 2xx only after ``ingest`` returns, so an acknowledged
write has its bytes, its XMP and its catalog entry on stable storage. A crash after the
object's commit leaves a complete object whose record is missing (and whose catalog
entry may or may not be written); ``provgate reindex`` lists such versions
(``missing_records``) and indexes the rest.

Records live out of the client's namespace (see ``gateway.storage.base``) and are served
at ``<key>.xmp``. Every record write goes through ``write_record`` and every read through
``read_record``. A client that writes ``<key>.xmp`` while ``<key>`` is live (and no object
of that name exists) edits the record, as a DAM saves edits: the edit is merged under the
rules in ``gateway.provenance.client_edit`` and judged by the intake policy like any write
before the merged record is stored. Writing ``<key>.xmp`` anywhere else stores a plain
object; a record is never deleted or replaced raw.

Writes, edits and deletes of one key are serialised within the gateway (``key_lock``):
each new version's record continues the history of the one before, so under any
interleaving of concurrent writers the current record holds every event and describes
the current version.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import heapq
import itertools
import logging
import os
import time
import uuid
from collections.abc import AsyncIterable, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from gateway import errors, kv, metrics
from gateway.catalog import Catalog
from gateway.catalog.lineage import history_json, record_parents
from gateway.identities import Identity
from gateway.gatekeeper.policy_gate import PolicyGate
from gateway.provenance.record import SOFTWARE_AGENT, iso_now
from gateway.provenance import (Extractor, HistoryEvent, ProvenanceRecord, SidecarError,
                                document_id_for, instance_id_for, merge_client_edit,
                                render_sidecar)
from gateway.wire.checksums import ChecksumSet
from gateway.wire.names import MAX_KEY_BYTES
from gateway.storage.base import (MAX_RECORD_BYTES, NULL_VERSION, RECORD_CONTENT_TYPE,
                                  record_name, recorded_key, ByteRange, DeleteOutcome, ListPage,
                                  ObjectAttributes, ObjectInfo, ObjectStream, PartBody,
                                  RecordInfo, StagedObject, StorageBackend, StoredRecord,
                                  check_version_id)
from gateway.storage.staged import LocalStagedFile, spool_to_file

RECORD_OWNER = "provgate"          # the owner listings show for a record

T = TypeVar("T")
log = logging.getLogger("provgate.intake")


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
    # The door checked the conditions when the request arrived (``check_conditions``);
    # otherwise intake checks them before extraction. The commit checks them again.
    conditions_checked: bool = False


@dataclass
class IngestResult:
    """What the door reports back: the stored version and what intake noticed."""

    info: ObjectInfo
    record: ProvenanceRecord | None  # None: a retried Complete, answered from its memo
    warnings: list[str] = field(default_factory=list)  # sent as x-provgate-warning
    quarantined: str | None = None   # "rule: message" when kept in quarantine, not the key


def records_kept(bucket: str, name: str) -> errors.GatewayError:
    """The answer to deleting a served record."""
    return errors.AccessDenied(
        f"{name} is the provenance record of an object; records are kept with their "
        f"object (and after it, as its history) and cannot be deleted",
        resource=f"/{bucket}/{name}")


class IntakePipeline:
    def __init__(self, backend: StorageBackend, extractor: Extractor, catalog: Catalog,
                 policy: PolicyGate) -> None:
        self.backend = backend
        self.extractor = extractor
        self.catalog = catalog
        self.policy = policy
        self._locks: dict[tuple[str, str], _KeyLock] = {}

    # -- receiving ----------------------------------------------------------------------
    async def spool(self, body: PartBody) -> StagedObject:
        """Write a body to the backend's spool directory as it streams in.

        The body hashes itself (md5 for the ETag, sha256 for the record) and carries the
        client's verified checksums, which are kept with the object. The spool file is
        removed if the body fails part-way (a bad signature, a short body).
        """
        path = self.backend.spool_dir / uuid.uuid4().hex
        with metrics.INTAKE_STAGE_SECONDS.labels("spool").time():
            size = await spool_to_file(body, path, length=body.length)
        staged = await self.backend.stage_file(path, size, body.md5_hex, dict(body.checksums))
        staged.sha256_hex = body.sha256_hex
        return staged

    # -- committing -----------------------------------------------------------------------
    async def ingest(self, write: WriteRequest) -> IngestResult:
        """Extract, commit object + record, index; the staged bytes are always released."""
        outcome = "failed"
        try:
            annotated = recorded_key(write.key)
            if annotated is not None and await self._edits_record(write.bucket, write.key,
                                                                  annotated):
                result = await self._edit_record(write, annotated)
                outcome = "committed"
                return result
            if len(write.key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
                raise errors.KeyTooLongError(Size=str(len(write.key.encode("utf-8", "surrogatepass"))),
                                             MaxSizeAllowed=str(MAX_KEY_BYTES))
            result = await self._ingest_object(write)
            outcome = "quarantined" if result.quarantined else "committed"
            return result
        except errors.PolicyDenied:
            outcome = "denied"
            raise
        finally:
            metrics.INTAKE_WRITES.labels(write.door, outcome).inc()
            await write.staged.discard()

    async def _edits_record(self, bucket: str, name: str, annotated: str) -> bool:
        """A write of ``<key>.xmp`` is a record edit while ``<key>`` is live and no
        object of that name exists (a real object always wins)."""
        return not await self._exists(bucket, name) and await self._exists(bucket, annotated)

    async def check_conditions(self, bucket: str, key: str, if_match: str | None,
                               if_none_match: bool) -> None:
        """S3's conditional write, judged when the request arrives: PreconditionFailed
        (412) for an ``If-None-Match: *`` key that has an object or an ``If-Match`` ETag
        (unquoted; ``*``: any object) that differs, NoSuchKey (404) for ``If-Match`` on a
        key without one. The commit checks again under the key's lock; a write that passed
        here and fails there lost to a concurrent one (``_commit``:
        ConditionalRequestConflict, 409)."""
        if if_match is None and not if_none_match:
            return
        try:
            current = await self.backend.head_object(bucket, key)
        except errors.NoSuchKey:
            current = None
        if if_none_match and current is not None:
            raise errors.PreconditionFailed(Condition="If-None-Match")
        if if_match is not None:
            if current is None:
                raise errors.NoSuchKey(resource=f"/{bucket}/{key}", Key=key)
            if if_match != "*" and current.etag != if_match:
                raise errors.PreconditionFailed(Condition="If-Match")

    async def _ingest_object(self, write: WriteRequest) -> IngestResult:
        if not write.conditions_checked:
            await self.check_conditions(write.bucket, write.key, write.if_match,
                                        write.if_none_match)
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
        audit = _Audit(self.policy.recorder(verdict, identity=write.identity.name))
        try:
            info = await self._commit(write, verdict.bucket, verdict.key, record,
                                      verdict.warnings, audit=audit)
        finally:
            if not audit.written:   # nothing committed (or nothing to append)
                await self.policy.record(verdict, version_id=None,
                                         identity=write.identity.name)
        return IngestResult(info, record, [n.message for n in record.notices
                                           if n.severity == "error"] + verdict.warnings,
                            quarantined=verdict.quarantined)

    async def commit_record(self, write: WriteRequest, record: ProvenanceRecord,
                            events_after: list[HistoryEvent] = ()) -> ObjectInfo:
        """Commit staged bytes under ``write.bucket``/``write.key`` with a record that is
        already decided (a quarantined write a reviewer released): no extraction and no
        intake rules, which ran when the bytes first came in. ``events_after`` follow the
        created/saved event in the history; their instance id is the new version's.
        The staged bytes are always released."""
        try:
            record.bucket, record.key = write.bucket, write.key
            return await self._commit(write, write.bucket, write.key, record, [], events_after)
        finally:
            await write.staged.discard()

    def review_state(self, bucket: str, key: str, version_id: str) -> str | None:
        """The review status of a catalogued version (None: not catalogued)."""
        entry = self.catalog.version(bucket, key, version_id)
        return None if entry is None else (entry.get("review") or {}).get("status", "pending")

    async def _commit(self, write: WriteRequest, bucket: str, key: str,
                      record: ProvenanceRecord, policy_warnings: list[str],
                      events_after: list[HistoryEvent] = (),
                      audit: _Audit | None = None) -> ObjectInfo:
        """The object, then its record and its catalog entry side by side, all under the
        key's lock: the history read here is the previous version's, complete
        (``policy_warnings``: the intake rules that warned, kept for the review queue;
        ``events_after`` follow the created/saved event, with the new version's instance
        id; ``audit``: the intake decision, appended in the catalog entry's transaction)."""
        async with self.key_lock(bucket, key):
            with metrics.INTAKE_STAGE_SECONDS.labels("commit").time():
                # S3 conditions name the writer's key, not the quarantine location.
                # Only the version id is needed from the commit itself; the stored
                # Last-Modified is read (where that costs a request) beside the record
                # and catalog writes.
                own_key = (bucket, key) == (write.bucket, write.key)
                try:
                    committed = await self.backend.commit(
                        bucket, key, write.staged, write.attributes,
                        if_match=write.if_match if own_key else None,
                        if_none_match=write.if_none_match and own_key, read_back=False)
                except (errors.PreconditionFailed, errors.NoSuchKey):
                    # The conditions held when the request came (``_check_conditions``):
                    # another write or a delete of the key won in between, as S3 says.
                    raise errors.ConditionalRequestConflict(
                        resource=f"/{bucket}/{key}", Key=key) from None
                history = self._history(bucket, key)
                instance_id = instance_id_for(bucket, key, committed.record_id)
                history.append(HistoryEvent("saved" if history else "created",
                                            record.captured_at or iso_now(committed.last_modified),
                                            instance_id=instance_id,
                                            software_agent=SOFTWARE_AGENT,
                                            changed="/" if history else None))
                history += [dataclasses.replace(e, instance_id=e.instance_id or instance_id)
                            for e in events_after]
                try:
                    _, info = await self._write_record(bucket, key, committed.version_id,
                                                       record, history, committed=committed,
                                                       policy_warnings=policy_warnings,
                                                       audit=audit)
                except BaseException:
                    # An error answer must mean nothing was stored (a full disk fails
                    # here, after the object itself went in): take the version back.
                    await self._undo_commit(bucket, key, committed.version_id)
                    raise
        return info

    async def _undo_commit(self, bucket: str, key: str, version_id: str | None) -> None:
        """Remove an object version whose record or catalog entry could not be written,
        and its catalog entry if that got written. Best effort: each step is tried, and
        what cannot be undone is logged for ``provgate reindex`` to settle. A record that
        did get written stays in the record store, unreachable through listings, like the
        record of any deleted version."""
        if not version_id:
            return
        steps = [("object", self.backend.delete_object(bucket, key, version_id)),
                 ("catalog entry", asyncio.to_thread(self.catalog.remove_version,
                                                     bucket, key, version_id))]
        for what, step in steps:
            try:
                await step
            except Exception as exc:  # noqa: BLE001 — undo the rest whatever one step did
                log.error("could not take back the %s of %s/%s (version %s) after a failed "
                          "write: %s", what, bucket, key, version_id, exc)

    async def _edit_record(self, write: WriteRequest, annotated: str) -> IngestResult:
        """A client rewrote ``<key>.xmp``: merge what it may change, keep the rest, and
        let the intake policy judge the edited record before it is stored."""
        bucket = write.bucket
        if write.staged.size > MAX_RECORD_BYTES:
            raise errors.EntityTooLarge(MaxSizeAllowed=str(MAX_RECORD_BYTES))
        async with self._local_file(write.staged) as path:
            edited = await asyncio.to_thread(Path(path).read_bytes)
        async with self.key_lock(bucket, annotated):
            current = self.catalog.version(bucket, annotated)
            if current is None:
                raise errors.ServiceUnavailable(
                    f"the catalog has no record of {annotated}; run `provgate reindex`")
            version_id = current["version_id"]
            record = ProvenanceRecord.from_dict(current["record"])
            history = self._history(bucket, annotated)
            try:
                merged, rejected = merge_client_edit(
                    record, edited, document_id=document_id_for(bucket, annotated),
                    instance_id=current["instance_id"], history=history, now=iso_now())
            except SidecarError as exc:
                raise errors.MalformedXML(f"{write.key} is not a readable XMP record: {exc}") from None
            target = await self.backend.head_object(bucket, annotated, version_id)
            verdict = await self.policy.judge(
                bucket=bucket, key=annotated, size=target.size,
                content_type=target.attributes.content_type, door=write.door,
                identity=write.identity, record=merged)
            refusal = verdict.refusal()
            if refusal is None and verdict.quarantined:
                # An edit cannot move a stored object: a rule that would hold it refuses it.
                held = verdict.decision.quarantine
                refusal = errors.PolicyDenied(held.rule_id, f"{held.message} [an edit of a "
                                              f"stored object's record cannot be quarantined]")
            if refusal is not None:
                await self.policy.record(verdict, version_id=None, identity=write.identity.name)
                raise refusal
            history.append(HistoryEvent("edited", iso_now(), instance_id=current["instance_id"],
                                        software_agent=write.attributes.user_metadata.get(
                                            "software-agent", write.identity.name),
                                        changed="/metadata"))
            await self.write_record(bucket, annotated, version_id, merged, history,
                                    write.identity)
            await self.policy.record(verdict, version_id=version_id, identity=write.identity.name)
        served = await self.open_record(bucket, write.key, version_id=version_id)
        await served.close()
        served.info.version_id = version_id
        warnings = [f"{r.field}: {r.reason}" for r in rejected] + verdict.warnings
        return IngestResult(served.info, merged, warnings)

    # -- the record store ---------------------------------------------------------------
    async def write_record(self, bucket: str, key: str, version_id: str,
                           record: ProvenanceRecord, history: list[HistoryEvent],
                           identity: Identity) -> None:
        """Store the XMP record of object version ``version_id`` of ``key`` (replacing
        the version's previous record) and update that version's catalog entry (record
        and history). The one way a record is written: intake, DAM edits, review events.

        ``history`` is the asset's complete xmpMM:History including the new event; a
        caller that read it from the catalog holds ``key_lock(bucket, key)`` from that
        read to this write, so that no concurrent event is lost. ``identity`` made the
        change (logged; the event in ``history`` names it for the record).
        """
        log.debug("record of %s/%s?versionId=%s written for %s", bucket, key, version_id,
                  identity.name)
        await self._write_record(bucket, key, version_id, record, history)

    async def _write_record(self, bucket: str, key: str, version_id: str,
                            record: ProvenanceRecord, history: list[HistoryEvent], *,
                            committed: ObjectInfo | None = None,
                            policy_warnings: list[str] | None = None,
                            audit: _Audit | None = None
                            ) -> tuple[RecordInfo, ObjectInfo]:
        """The record and the catalog entry, concurrently; returns the record as stored
        and the object version as stored (read back for a new version: its Last-Modified
        is the one listings and a reindex see).

        ``committed``: a version just committed (``backend.commit`` with ``read_back=False``,
        whose Last-Modified may be the time the store acknowledged it); None for a stored
        version, whose record id comes from its catalog entry. ``audit``: a new version's
        intake decision, written with its catalog entry."""
        record.version_id = version_id
        entry = None if committed is not None else self.catalog.version(bucket, key, version_id)
        if committed is None and entry is None:
            raise errors.NoSuchVersion(resource=f"/{bucket}/{key}", Key=key,
                                       VersionId=version_id)
        record_id = (committed.record_id if committed is not None
                     else entry.get("record_id") or version_id)
        document_id = document_id_for(bucket, key)
        instance_id = instance_id_for(bucket, key, record_id)
        body = render_sidecar(record, document_id, instance_id, history)

        async def index() -> ObjectInfo | None:
            # The LMDB commit (an fsync) runs in a thread so the event loop keeps serving.
            if entry is not None:
                # A stored version's record changed (an edit, a review event): which
                # version is current stays as it is.
                await asyncio.to_thread(self.catalog.update_version, bucket, key, version_id,
                                        record=record.to_dict(), history=history_json(history))
                return None
            append = audit.append if audit is not None and audit.append else None
            estimate = committed.last_modified

            async def add() -> None:
                await asyncio.to_thread(
                    self.catalog.add_version, bucket, key, version_id=version_id,
                    document_id=document_id, instance_id=instance_id,
                    record=record.to_dict(), committed=estimate,
                    parents=record_parents(record), history=history_json(history),
                    policy_warnings=policy_warnings, record_id=record_id,
                    also=None if append is None else lambda txn: append(txn, version_id))
                if append is not None:
                    audit.written = True

            # The entry is written with the commit's own time while the stored one is
            # read back: one request and one sync side by side, not one after the other.
            # The rare write acknowledged in the next second is corrected before the
            # answer, so the writer, readers and a reindex all see the stored time.
            info, _ = await _all(self.backend.head_object(bucket, key, version_id), add())
            if info.last_modified != estimate:
                await asyncio.to_thread(self.catalog.set_committed, bucket, key, version_id,
                                        estimate, info.last_modified)
            return info

        stored, info = await _all(
            self.backend.put_record(bucket, key, record_id, body, first=committed is not None),
            index())
        return stored, info

    async def read_record(self, bucket: str, key: str, version_id: str | None) -> bytes:
        """The stored XMP record of an object version (None: the current version);
        NoSuchKey when that version has none (or, for None, the key has no current
        version)."""
        return (await self._stored_record(bucket, key, version_id)).body

    async def _stored_record(self, bucket: str, key: str,
                             version_id: str | None) -> StoredRecord:
        missing = errors.NoSuchKey(resource=f"/{bucket}/{record_name(key)}",
                                   Key=record_name(key))
        if version_id is not None:
            check_version_id(version_id)
        record_id = version_id
        if version_id in (None, NULL_VERSION):
            # The null version's record is kept under its record id (each null version
            # written has its own), as is the current version's when it is a null one.
            try:
                info = await self.backend.head_object(bucket, key, version_id)
            except (errors.NoSuchKey, errors.NoSuchVersion, errors.MethodNotAllowed):
                raise missing from None
            version_id, record_id = info.version_id, info.record_id
        stored = await self.backend.get_record(bucket, key, record_id)
        if stored is None:
            raise missing
        stored.info.version_id = version_id   # as clients name the version it describes
        return stored

    async def open_record(self, bucket: str, name: str, byte_range: ByteRange | None = None,
                          version_id: str | None = None) -> ObjectStream:
        """The record served at ``name`` (``<key>.xmp``) as an object: the record of the
        current version of ``<key>``, or of its version ``version_id`` (kept after that
        version was deleted). NoSuchKey when ``name`` serves no record; callers look
        for a real object of that name first."""
        key = recorded_key(name)
        if key is None:
            raise errors.NoSuchKey(resource=f"/{bucket}/{name}", Key=name)
        try:
            stored = await self._stored_record(bucket, key, version_id)
        except errors.NoSuchKey:
            raise errors.NoSuchKey(resource=f"/{bucket}/{name}", Key=name) from None
        body = stored.body
        info = _served_record(bucket, name, stored)
        span = byte_range.resolve(info.size) if byte_range else None
        start, end = span if span else (0, info.size - 1)
        return ObjectStream(info, span, _bytes_body(body[start:end + 1]))

    async def list_with_records(self, bucket: str, *, prefix: str = "", delimiter: str = "",
                                start_after: str = "", max_keys: int = 1000) -> ListPage:
        """A listing of current objects in which each live object's record appears as
        ``<key>.xmp`` (for identities with ``xmp = "listed"``); a real object of that
        name wins. Same order, paging and roll-up as ``backend.list_objects``.

        ``<key>.xmp`` sorts after ``<key>`` but possibly after keys that follow it, so
        records wait in a heap until the object listing has passed them. Paging on after
        ``start_after`` must also find the records of objects that sort before it: only
        keys that are prefixes of ``start_after`` can have such a record, and they are
        looked up one by one.
        """
        waiting: list[tuple[bytes, int, ObjectInfo]] = []   # (order, tie-break, record)
        tie = itertools.count()
        candidates = []
        for key in _prefixes_recorded_after(start_after, prefix, delimiter):
            try:
                candidates.append(await self.backend.head_object(bucket, key))
            except (errors.NoSuchKey, errors.NoSuchVersion):
                pass
        for info in await self._listed_records(candidates):
            heapq.heappush(waiting, (_order(info.key), next(tie), info))
        objects: list[ObjectInfo] = []
        common: list[str] = []
        last: str | None = None

        def full() -> bool:
            return len(objects) + len(common) >= max_keys

        def emit(item: ObjectInfo | str) -> None:
            nonlocal last
            if isinstance(item, str):
                if common and common[-1] == item:
                    return          # a record rolled up into a prefix already listed
                common.append(item)
                last = item
            else:
                objects.append(item)
                last = item.key

        def rolled_up(info: ObjectInfo) -> ObjectInfo | str:
            rest = info.key[len(prefix):]
            if delimiter and delimiter in rest:
                return prefix + rest[:rest.index(delimiter) + len(delimiter)]
            return info

        def release(before: bytes | None) -> None:
            """List the waiting records that sort before ``before`` (all when None)."""
            while waiting and not full() and (before is None or waiting[0][0] < before):
                info = heapq.heappop(waiting)[2]
                emit(rolled_up(info))

        cursor, more, left_over = start_after, True, False
        while more and not full():
            # Each object brings at most one record: a page of what is still missing
            # fills this one, and records are read only for objects that may be listed.
            wanted = max_keys - len(objects) - len(common)
            page = await self.backend.list_objects(bucket, prefix=prefix, delimiter=delimiter,
                                                   start_after=cursor, max_keys=wanted)
            items = sorted([*page.objects, *page.common_prefixes],
                           key=lambda i: _order(i if isinstance(i, str) else i.key))
            records = {info.key: info for info in await self._listed_records(page.objects)}
            for n, item in enumerate(items):
                name = item if isinstance(item, str) else item.key
                release(_order(name))
                if full():
                    left_over = True
                    break
                # A real object named like a waiting record wins over it.
                waiting[:] = [w for w in waiting if w[2].key != name]
                heapq.heapify(waiting)
                emit(item)
                record = records.get(record_name(name)) if not isinstance(item, str) else None
                if record is not None:
                    heapq.heappush(waiting, (_order(record.key), next(tie), record))
                if full() and n + 1 < len(items):
                    left_over = True
            more = page.truncated
            cursor = page.last or cursor
        if not more:
            release(None)
        return ListPage(objects, common, more or left_over or bool(waiting), last)

    async def _listed_records(self, objects: list[ObjectInfo]) -> list[ObjectInfo]:
        """The records of these object versions, as listings show them (``<key>.xmp``)."""
        gate = asyncio.Semaphore(16)

        async def one(obj: ObjectInfo) -> ObjectInfo | None:
            async with gate:
                try:
                    stored = await self._stored_record(obj.bucket, obj.key, obj.version_id)
                except errors.NoSuchKey:
                    return None
            return _served_record(obj.bucket, record_name(obj.key), stored)

        found = await asyncio.gather(*(one(o) for o in objects))
        return [info for info in found if info is not None]

    # -- deleting -------------------------------------------------------------------------
    async def delete(self, bucket: str, key: str, version_id: str | None = None) -> DeleteOutcome:
        """Delete as S3 does, keeping the catalog in step; records stay.

        Without a version the object gets a delete marker and the catalog marks the asset
        deleted; with one, that version leaves the catalog, and removing a delete marker
        brings the asset back. The records of deleted versions stay in the record store
        (their history). Deleting a served record (``<key>.xmp`` where no object of that
        name is addressed) is refused: AccessDenied.
        """
        annotated = recorded_key(key)
        if annotated is not None and await self._serves_record(bucket, key, annotated,
                                                               version_id):
            raise records_kept(bucket, key)
        if len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
            raise errors.KeyTooLongError(Size=str(len(key.encode("utf-8", "surrogatepass"))),
                                         MaxSizeAllowed=str(MAX_KEY_BYTES))
        async with self.key_lock(bucket, key):
            outcome = await self.backend.delete_object(bucket, key, version_id)
            if outcome.removed is not None:     # a null version went for good
                await kv.offload(self.catalog.remove_version, bucket, key, outcome.removed)
            if version_id is None:
                if outcome.delete_marker:
                    await kv.offload(self.catalog.mark_deleted, bucket, key, time.time())
            elif outcome.delete_marker:
                if await self._exists(bucket, key):
                    await kv.offload(self.catalog.restore, bucket, key)
            else:
                await kv.offload(self.catalog.remove_version, bucket, key, version_id)
        return outcome

    async def _serves_record(self, bucket: str, name: str, annotated: str,
                             version_id: str | None) -> bool:
        """Whether a delete of ``name`` would delete a served record rather than an
        object of that name."""
        try:
            await self.backend.head_object(bucket, name, version_id)
            return False            # a real object (version) of that name: deletable
        except errors.MethodNotAllowed:
            return False            # a delete marker of a real object of that name
        except (errors.NoSuchKey, errors.NoSuchVersion):
            pass
        if version_id is None:
            return await self._exists(bucket, annotated)
        try:
            await self._stored_record(bucket, annotated, version_id)
        except errors.NoSuchKey:
            return False
        return True

    @contextlib.asynccontextmanager
    async def key_lock(self, bucket: str, key: str):
        """Serialise the writes, record edits and deletes of one key in this gateway."""
        slot = (bucket, key)
        lock = self._locks.get(slot)
        if lock is None:
            lock = self._locks[slot] = _KeyLock()
        lock.users += 1
        try:
            async with lock.lock:
                yield
        finally:
            lock.users -= 1
            if lock.users == 0:
                del self._locks[slot]

    def _history(self, bucket: str, key: str) -> list[HistoryEvent]:
        asset = self.catalog.version(bucket, key)
        if asset is None:
            return []
        return [HistoryEvent(**e) for e in asset.get("history", [])]

    async def _exists(self, bucket: str, key: str) -> bool:
        try:
            await self.backend.head_object(bucket, key)
        except (errors.NoSuchKey, errors.NoSuchVersion):
            return False
        return True

    def _local_file(self, staged: StagedObject):
        return _LocalCopy(self.backend, staged)


def _order(name: str) -> bytes:
    """S3's listing order: UTF-8 bytes."""
    return name.encode("utf-8", "surrogatepass")


def _prefixes_recorded_after(start_after: str, prefix: str, delimiter: str) -> list[str]:
    """The keys that sort at or before ``start_after`` but whose ``<key>.xmp`` sorts
    after it: only its prefixes can (any other key differs from it at a smaller
    character, and so does its record's name)."""
    if not start_after:
        return []
    found = []
    for end in range(max(len(prefix), 1), len(start_after) + 1):
        key = start_after[:end]
        if not key.startswith(prefix) or (delimiter and delimiter in key[len(prefix):]):
            continue
        if _order(record_name(key)) > _order(start_after):
            found.append(key)
    return found


@dataclass
class _Audit:
    """A write's intake decision on its way to the audit log: ``append(txn, version_id)``
    writes it in the transaction that catalogues the version (one sync for both; None:
    the decision has nothing to append); ``written`` once that transaction committed.
    A write that fails before then is logged without a version instead; one taken back
    after it (its record could not be stored) keeps the entry naming the version."""

    append: Callable[[object, str], object] | None
    written: bool = False


class _KeyLock:
    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.users = 0


def _served_record(bucket: str, name: str, stored: StoredRecord) -> ObjectInfo:
    """A stored record as the object readers see at ``name`` (``<key>.xmp``)."""
    return ObjectInfo(bucket, name, len(stored.body),
                      stored.info.etag or hashlib.md5(stored.body).hexdigest(),
                      stored.info.last_modified,
                      ObjectAttributes(content_type=RECORD_CONTENT_TYPE, owner=RECORD_OWNER),
                      version_id=stored.info.version_id)


async def _bytes_body(data: bytes):
    yield data


class _LocalCopy:
    """A local path with the staged bytes: the spool file itself, or a temporary copy
    of a staged object that lives in the backend (an assembled upstream upload), hashed
    as it is written (``sha256_hex``) so that extraction needs no second pass."""

    def __init__(self, backend: StorageBackend, staged: StagedObject) -> None:
        self.backend = backend
        self.staged = staged
        self.temp: Path | None = None

    async def __aenter__(self) -> str:
        if isinstance(self.staged, LocalStagedFile):
            return str(self.staged.path)
        temp = self.backend.spool_dir / f"extract-{uuid.uuid4().hex}"
        digest = hashlib.sha256()
        await spool_to_file(self.staged.read(), temp, digest=digest)
        self.temp = temp
        if self.staged.sha256_hex is None:
            self.staged.sha256_hex = digest.hexdigest()
        return str(temp)

    async def __aexit__(self, *exc) -> None:
        if self.temp is not None:
            _remove(self.temp)


class StreamBody:
    """A plain byte stream (a copy source) in the shape of a verified request body."""

    def __init__(self, stream: AsyncIterable[bytes], length: int | None,
                 algorithms: tuple[str, ...] = (), *, sha256: bool = True) -> None:
        """``algorithms``: S3 checksums to compute (``checksums`` once read), e.g. the
        one a multipart upload was created with, for a part copied into it; ``sha256``:
        compute ``sha256_hex`` (off for a part, whose own SHA-256 nobody reads)."""
        self._stream = stream
        self._hashes = ChecksumSet(algorithms, sha256=sha256)
        self.length = length
        self.checksums: dict[str, str] = {}

    @property
    def md5_hex(self) -> str:
        return self._hashes.md5_hex

    @property
    def sha256_hex(self) -> str:
        return self._hashes.sha256_hex

    async def __aiter__(self):
        async for chunk in self._stream:
            self._hashes.update(chunk)
            yield chunk
        self.checksums = self._hashes.values()


def _remove(path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


async def _all(*steps: Awaitable[T]) -> list[T]:
    """Run independent steps concurrently and return their results once every one has
    finished; the first failure is raised only then, so nothing is still writing when
    the caller answers."""
    results = await asyncio.gather(*steps, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results
