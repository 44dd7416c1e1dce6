"""Multipart uploads mapped onto upstream multipart uploads.

Each upload is one upstream multipart upload started under a hidden staging key
(``!pg/staging/<id>.<generation>``, see ``staging``) plus a small JSON record
(``!pg/uploads/<id>``) holding what the upstream cannot give back: the client's key,
attributes, owner and start time. Provgate's upload id is its own (the upstream id
changes if the upload is reopened) and is all a gateway needs to find an upload, so any
gateway of a scaled-out group can serve any part.

Parts stream straight into upstream UploadPart requests. Each acknowledged part also
gets a record (``!pg/parts/<id>/<n>``: its ETag and the client's checksums, which are
known only once the part is read). The record says which upload of a part number is the
current one: SeaweedFS 4.48 keeps every upload of a part number and lists them all.

Assembling completes the upstream upload under the staging key. The upload stays open
afterwards, as the interface requires: the record lists the assembled parts, a retried
Complete with the same parts reuses the assembled object, and a new part (or a different
selection) *reopens* it — a new upstream upload into which the assembled parts are
copied back server-side, byte range by byte range.

The bucket is versioned upstream like any other (see ``versioning``), so rewriting a
record adds a version and deleting one only adds a delete marker: everything an upload
leaves behind is therefore deleted with all its versions (``listing.purge``).
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from gateway import errors
from gateway.storage.base import (ObjectAttributes, ObjectPart, PartBody, PartInfo,
                                  UploadInfo, multipart_etag, validate_completion)
from gateway.storage.s3 import keys, listing
from gateway.wire import xmldoc
from gateway.wire.client import FileSection, S3Client, StreamSection
from gateway.storage.s3.listing import bounded
from gateway.storage.s3.keys import BucketNames
from gateway.storage.s3.staging import AssembledPart, UploadStaged
from gateway.storage.staged import spool_to_file

log = logging.getLogger("provgate.storage.s3")

RECORDS = keys.INTERNAL_PREFIX + "uploads/"
PART_RECORDS = keys.INTERNAL_PREFIX + "parts/"
STAGING = keys.INTERNAL_PREFIX + "staging/"
_HEX32 = re.compile(r"^[0-9a-f]{32}$")  # provgate's upload ids, and md5 ETags


@dataclass
class UploadRecord:
    upload_id: str
    key: str
    owner: str
    initiated: float
    attributes: dict
    generation: int = 0
    upstream_id: str | None = None                   # None once assembled
    assembled: list[dict] | None = None              # AssembledPart fields, in order

    @property
    def staging_key(self) -> str:
        return f"{STAGING}{self.upload_id}.{self.generation}"

    def part_record_key(self, number: int) -> str:
        return f"{PART_RECORDS}{self.upload_id}/{number:05d}"

    def info(self, bucket: str) -> UploadInfo:
        return UploadInfo(bucket, self.key, self.upload_id, self.initiated,
                          ObjectAttributes.from_json(self.attributes), self.owner)

    def to_bytes(self) -> bytes:
        return json.dumps(asdict(self), separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> UploadRecord:
        return cls(**json.loads(raw))


@dataclass
class _StoredPart:
    number: int
    etag: str                    # client-visible
    upstream_etag: str
    size: int
    last_modified: float
    checksums: dict[str, str] = field(default_factory=dict)


async def release_when_verified(body: PartBody, length: int) -> AsyncIterator[bytes]:
    """Pass a verified body on, holding its last chunk back until the body has ended
    without error: a body that fails verification raises at its end, and then the
    upstream request is cut short of its Content-Length, so no part is stored."""
    held: bytes | None = None
    seen = 0
    async for chunk in body:
        if not chunk:
            continue
        seen += len(chunk)
        if seen > length:
            raise errors.IncompleteBody("the part body is longer than its declared length")
        if held is not None:
            yield held
        held = chunk
    if seen != length:
        raise errors.IncompleteBody()
    if held is not None:
        yield held


class Uploads:
    def __init__(self, client: S3Client, names: BucketNames, spool_dir: Callable[[], Path],
                 opener: Callable[[str, str], Awaitable[AsyncIterator[bytes]]]) -> None:
        self.client = client
        self.names = names
        self._spool_dir = spool_dir
        self._open = opener          # (upstream bucket, upstream key) -> byte stream

    # -- records ------------------------------------------------------------------------
    async def create(self, bucket: str, key: str, attributes: ObjectAttributes,
                     owner: str) -> str:
        upstream = self.names.upstream(bucket)
        record = UploadRecord(uuid.uuid4().hex, key, owner, time.time(), attributes.to_json())
        reply = await self.client.send("POST", upstream, record.staging_key,
                                       query={"uploads": ""}, subject=(bucket, key),
                                       headers={"Content-Type": "binary/octet-stream"})
        record.upstream_id = xmldoc.upload_id(reply.body)
        try:
            await self._save(bucket, record)
        except errors.GatewayError:
            await self._abort_upstream(upstream, record, bucket)
            raise
        return record.upload_id

    async def load(self, bucket: str, key: str, upload_id: str) -> UploadRecord:
        missing = errors.NoSuchUpload(resource=f"/{bucket}/{key}", UploadId=upload_id)
        if not _HEX32.match(upload_id or ""):
            await self._require_bucket(bucket)
            raise missing
        try:
            reply = await self.client.send("GET", self.names.upstream(bucket),
                                           RECORDS + upload_id, subject=(bucket, key))
        except errors.NoSuchKey:
            raise missing from None
        record = UploadRecord.from_bytes(reply.body)
        if record.key != key:
            raise missing
        return record

    async def _save(self, bucket: str, record: UploadRecord) -> None:
        await self.client.send("PUT", self.names.upstream(bucket), RECORDS + record.upload_id,
                               body=record.to_bytes(), subject=(bucket, record.key),
                               headers={"Content-Type": "application/json"})

    async def _require_bucket(self, bucket: str) -> None:
        await self.client.send("HEAD", self.names.upstream(bucket), subject=(bucket, ""))

    async def list(self, bucket: str, prefix: str) -> list[UploadInfo]:
        upstream = self.names.upstream(bucket)
        await self._require_bucket(bucket)
        names = [listed.key async for listed in
                 listing.upstream_keys(self.client, upstream, RECORDS, (bucket, ""))]

        async def fetch(name: str) -> UploadRecord | None:
            try:
                reply = await self.client.send("GET", upstream, name, subject=(bucket, ""))
            except errors.NoSuchKey:
                return None  # finished meanwhile
            return UploadRecord.from_bytes(reply.body)

        records = await bounded([lambda n=n: fetch(n) for n in names])
        found = [r.info(bucket) for r in records if r is not None and r.key.startswith(prefix)]
        return sorted(found, key=lambda u: (u.key.encode("utf-8", "surrogatepass"), u.initiated))

    # -- parts --------------------------------------------------------------------------
    async def upload_part(self, bucket: str, key: str, upload_id: str, number: int,
                          body: PartBody) -> PartInfo:
        record = await self.load(bucket, key, upload_id)
        if record.assembled is not None:
            record = await self._reopen(bucket, record)
        upstream = self.names.upstream(bucket)
        spooled: Path | None = None
        try:
            if body.length is None:
                # S3 needs a part's length before its bytes; an undeclared length is
                # learnt by spooling the part to local disk first (bounded memory).
                spooled, length = await self._spool(body)
                section = FileSection(spooled, 0, length)
            elif body.length == 0:
                async for _ in body:  # verify before anything is sent
                    pass
                section, length = b"", 0
            else:
                length = body.length
                section = StreamSection(release_when_verified(body, length), length)
            reply = await self.client.send(
                "PUT", upstream, record.staging_key, body=section, subject=(bucket, key),
                query={"partNumber": str(number), "uploadId": record.upstream_id or ""})
        finally:
            if spooled is not None:
                spooled.unlink(missing_ok=True)
        if reply.etag != body.md5_hex and _HEX32.match(reply.etag):
            # The upstream stored other bytes than were verified: report it so the client
            # sends the part again (which replaces it).
            log.error("upstream stored part %d of upload %s with ETag %s, expected %s",
                      number, upload_id, reply.etag, body.md5_hex)
            raise errors.BadDigest("the storage backend stored the part with another digest")
        checksums = dict(body.checksums)
        await self._record_part(bucket, record, number, reply.etag, checksums=checksums)
        return PartInfo(number, reply.etag, length, time.time(), checksums)

    async def _record_part(self, bucket: str, record: UploadRecord, number: int, etag: str, *,
                           client_etag: str | None = None,
                           checksums: dict[str, str] | None = None) -> None:
        """Acknowledge a part: from now on the upload's part ``number`` is the one with
        the upstream ETag ``etag``, known to the client as ``client_etag``."""
        doc = {"etag": etag, "checksums": checksums or {}}
        if client_etag and client_etag != etag:
            doc["client_etag"] = client_etag  # a part copied back may get another ETag
        await self.client.send("PUT", self.names.upstream(bucket), record.part_record_key(number),
                               body=json.dumps(doc).encode(), subject=(bucket, record.key),
                               headers={"Content-Type": "application/json"})

    async def _spool(self, body: PartBody) -> tuple[Path, int]:
        path = self._spool_dir() / f"part-{uuid.uuid4().hex}"
        return path, await spool_to_file(body, path)

    async def _stored_parts(self, bucket: str, record: UploadRecord) -> list[_StoredPart]:
        """The upload's current parts: an upstream part counts once its record names it
        (a part whose record was never written was never acknowledged to the client)."""
        if record.assembled is not None:
            numbers = [p["number"] for p in record.assembled]
            docs = await self._part_records(bucket, record, numbers)
            return [_StoredPart(p["number"], p["etag"], p["etag"], p["size"], p["last_modified"],
                                docs.get(p["number"], {}).get("checksums", {}))
                    for p in record.assembled]
        listed: dict[int, list[xmldoc.ListedPart]] = {}
        for part in await self._upstream_parts(bucket, record):
            listed.setdefault(part.number, []).append(part)
        docs = await self._part_records(bucket, record, list(listed))
        parts = []
        for number in sorted(listed):
            doc = docs.get(number)
            current = next((p for p in listed[number] if doc and p.etag == doc["etag"]), None)
            if current is not None:
                parts.append(_StoredPart(number, doc.get("client_etag", current.etag),
                                         current.etag, current.size, current.last_modified,
                                         doc["checksums"]))
        return parts

    async def _upstream_parts(self, bucket: str, record: UploadRecord) -> list[xmldoc.ListedPart]:
        upstream = self.names.upstream(bucket)
        parts: list[xmldoc.ListedPart] = []
        marker = 0
        while True:
            query = {"uploadId": record.upstream_id or "", "max-parts": "1000"}
            if marker:
                query["part-number-marker"] = str(marker)
            reply = await self.client.send("GET", upstream, record.staging_key, query=query,
                                           subject=(bucket, record.key))
            page = xmldoc.part_listing(reply.body)
            parts += page.parts
            if not page.truncated or not page.parts or page.next_marker <= marker:
                return parts
            marker = page.next_marker

    async def _part_records(self, bucket: str, record: UploadRecord,
                            numbers: list[int]) -> dict[int, dict]:
        upstream = self.names.upstream(bucket)

        async def fetch(number: int) -> tuple[int, dict] | None:
            try:
                reply = await self.client.send("GET", upstream, record.part_record_key(number),
                                               subject=(bucket, record.key))
            except errors.NoSuchKey:
                return None
            return number, json.loads(reply.body)

        return dict(r for r in await bounded([lambda n=n: fetch(n) for n in numbers]) if r)

    async def list_parts(self, bucket: str, key: str, upload_id: str) -> list[PartInfo]:
        record = await self.load(bucket, key, upload_id)
        parts = await self._stored_parts(bucket, record)
        return [PartInfo(p.number, p.etag, p.size, p.last_modified, p.checksums) for p in parts]

    # -- completion -----------------------------------------------------------------------
    async def assemble(self, bucket: str, key: str, upload_id: str,
                       requested: list[tuple[int, str]]) -> UploadStaged:
        record = await self.load(bucket, key, upload_id)
        if record.assembled is not None:
            stored = {p.number: _part_info(p) for p in await self._stored_parts(bucket, record)}
            chosen = validate_completion(requested, stored)
            if [p.number for p in chosen] == [p["number"] for p in record.assembled]:
                return self._staged(bucket, record, chosen)  # a retried Complete: same bytes
            record = await self._reopen(bucket, record)
        parts = await self._stored_parts(bucket, record)
        chosen = validate_completion(requested, {p.number: _part_info(p) for p in parts})
        by_number = {p.number: p for p in parts}
        await self.client.send(
            "POST", self.names.upstream(bucket), record.staging_key, subject=(bucket, key),
            query={"uploadId": record.upstream_id or ""},
            body=xmldoc.completion_document([(p.number, by_number[p.number].upstream_etag)
                                             for p in chosen]))
        record.assembled = [asdict(AssembledPart(p.number, p.etag, p.size, p.last_modified))
                            for p in chosen]
        record.upstream_id = None
        await self._save(bucket, record)
        return self._staged(bucket, record, chosen)

    def _staged(self, bucket: str, record: UploadRecord, chosen: list[PartInfo]) -> UploadStaged:
        parts = [AssembledPart(**p) for p in record.assembled or []]
        upstream = self.names.upstream(bucket)
        staged = UploadStaged(
            bucket=bucket, key=record.key, upload_id=record.upload_id,
            staging_key=record.staging_key,
            size=sum(p.size for p in parts),
            md5_hex=multipart_etag([PartInfo(p.number, p.etag, p.size, 0) for p in parts]),
            parts=parts, opener=lambda: self._open(upstream, record.staging_key))
        staged.part_list = [ObjectPart(p.number, p.size, dict(p.checksums)) for p in chosen]
        return staged

    async def _reopen(self, bucket: str, record: UploadRecord) -> UploadRecord:
        """Turn an assembled upload back into an open one holding the same parts."""
        upstream = self.names.upstream(bucket)
        previous_key = record.staging_key
        assembled = [AssembledPart(**p) for p in record.assembled or []]
        record.generation += 1
        reply = await self.client.send("POST", upstream, record.staging_key,
                                       query={"uploads": ""}, subject=(bucket, record.key),
                                       headers={"Content-Type": "binary/octet-stream"})
        record.upstream_id = xmldoc.upload_id(reply.body)
        source = self.client.url(upstream, previous_key).raw_path
        checksums = await self._part_records(bucket, record, [p.number for p in assembled])
        offset = 0
        for part in assembled:
            copy = await self.client.send(
                "PUT", upstream, record.staging_key, subject=(bucket, record.key),
                query={"partNumber": str(part.number), "uploadId": record.upstream_id},
                headers={"x-amz-copy-source": source,
                         "x-amz-copy-source-range": f"bytes={offset}-{offset + part.size - 1}"})
            await self._record_part(bucket, record, part.number, xmldoc.result_etag(copy.body),
                                    client_etag=part.etag,
                                    checksums=checksums.get(part.number, {}).get("checksums"))
            offset += part.size
        record.assembled = None
        await self._save(bucket, record)
        await self._delete(upstream, previous_key, bucket)
        return record

    # -- the end of an upload -------------------------------------------------------------
    async def abort(self, bucket: str, key: str, upload_id: str) -> None:
        record = await self.load(bucket, key, upload_id)
        await self.forget(bucket, record)

    async def finish(self, bucket: str, key: str, upload_id: str) -> None:
        try:
            record = await self.load(bucket, key, upload_id)
        except errors.NoSuchUpload:
            return  # commit already cleaned up
        await self.forget(bucket, record)

    async def forget(self, bucket: str, record: UploadRecord) -> None:
        """Drop everything of an upload: upstream upload, staged bytes, part records, record."""
        upstream = self.names.upstream(bucket)
        await self._abort_upstream(upstream, record, bucket)
        await self._delete(upstream, record.staging_key, bucket)
        await listing.purge_prefix(self.client, upstream, f"{PART_RECORDS}{record.upload_id}/",
                                   (bucket, ""))
        # The record goes last: while it exists the upload can still be found and aborted.
        await self._delete(upstream, RECORDS + record.upload_id, bucket)

    async def forget_all(self, bucket: str) -> None:
        """Drop every upload and leftover of a bucket (before the bucket is deleted)."""
        await self.abort_orphans(bucket)
        await listing.purge_prefix(self.client, self.names.upstream(bucket),
                                   keys.INTERNAL_PREFIX, (bucket, ""))

    async def abort_orphans(self, bucket: str) -> None:
        """Abort upstream uploads under the staging prefix, records or not."""
        upstream = self.names.upstream(bucket)
        reply = await self.client.send("GET", upstream, query={"uploads": "", "prefix": STAGING},
                                       subject=(bucket, ""))
        root = xmldoc.parse(reply.body)
        for item in root.findall("Upload"):
            name, upstream_id = xmldoc.text(item, "Key"), xmldoc.text(item, "UploadId")
            try:
                await self.client.send("DELETE", upstream, name, query={"uploadId": upstream_id},
                                       expect=(200, 204), subject=(bucket, ""))
            except errors.NoSuchUpload:
                pass

    async def _abort_upstream(self, upstream: str, record: UploadRecord, bucket: str) -> None:
        if not record.upstream_id:
            return
        try:
            await self.client.send("DELETE", upstream, record.staging_key, expect=(200, 204),
                                   query={"uploadId": record.upstream_id},
                                   subject=(bucket, record.key))
        except errors.NoSuchUpload:
            pass

    async def _delete(self, upstream: str, name: str, bucket: str) -> None:
        await listing.purge(self.client, upstream, name, (bucket, ""))


def _part_info(part: _StoredPart) -> PartInfo:
    return PartInfo(part.number, part.etag, part.size, part.last_modified, dict(part.checksums))
