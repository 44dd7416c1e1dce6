"""The embedded filesystem backend: blobs on local disk, an LMDB index over them.

Layout under the data directory (bucket names cannot start with a dot, so nothing here
collides with a bucket)::

    .provgate/index/           LMDB: buckets, objects (current versions), versions
                               (noncurrent ones), uploads, parts, and the record store
                               (``records``: each object version's XMP record)
    .provgate/blobs/xx/<id>    object bytes, immutable once published; one per version
    .provgate/parts/<id>       staged multipart parts
    .provgate/spool/           request bodies being received (same filesystem: commit
                               is a rename, never a copy)

Commit protocol: fsync the spooled bytes; then, holding LMDB's single write lock, check
preconditions, rename the spool file to its blob path, fsync the directory and commit the
index transaction (LMDB syncs it). A crash before the index commit leaves only an
unreferenced blob, removed by the sweep at the next start; readers never see it.

Versions (see ``versions``): a commit publishes a new version and moves the previous one
to the noncurrent versions in the same transaction, keeping its blob; a blob is unlinked
only after the transaction that permanently deleted its version committed (so a crash
leaves at worst an orphan for the sweep, never a record without bytes). The sweep keeps
every blob that any version, current or not, refers to.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from gateway import errors, kv
from gateway.storage.base import (MAX_RECORD_BYTES, OBJECT_RECORDS_LAYOUT,
                                  RECORD_STORE_LAYOUT, BucketInfo, ByteRange, DeleteOutcome,
                                  ListPage, ObjectAttributes, ObjectInfo, ObjectPart,
                                  ObjectStream, PartBody, PartInfo, RecordInfo, StagedObject,
                                  StorageBackend, StoredRecord, UploadInfo, VersionPage,
                                  check_setting_name, check_version_id,
                                  delete_marker_addressed, deleted_key,
                                  multipart_etag, no_such_version, tags_to_json,
                                  validate_completion, NULL_VERSION, UNVERSIONED,
                                  VERSIONING_ENABLED, VERSIONING_SUSPENDED)
from gateway.storage.fs import listing, versions
from gateway.storage.fs.index import SEP, Index, object_key, part_key, record_key
from gateway.storage.staged import (LocalStagedFile, SpoolDirStaging, concatenate, fsync_dir,
                                   spool_to_file)
from gateway.wire.zerocopy import FileSource

CHUNK = 1 << 20


class FsBackend(SpoolDirStaging, StorageBackend):
    def __init__(self, root: Path) -> None:
        self.root = root
        self.meta = root / ".provgate"
        self.spool_dir = self.meta / "spool"
        self.blob_dir = self.meta / "blobs"
        self.part_dir = self.meta / "parts"
        self.index: Index | None = None

    # -- lifecycle --------------------------------------------------------------------
    async def start(self, *, recover: bool = True) -> None:
        for d in (self.spool_dir, self.part_dir, self.blob_dir):
            d.mkdir(parents=True, exist_ok=True)
        for n in range(256):
            (self.blob_dir / f"{n:02x}").mkdir(exist_ok=True)
        self.index = Index(self.meta / "index")
        if recover:
            await asyncio.to_thread(self._sweep)

    async def close(self) -> None:
        if self.index is not None:
            self.index.close()
            self.index = None

    async def check(self) -> None:
        if self.index is None:
            raise errors.ServiceUnavailable("storage is not open")
        try:
            await asyncio.to_thread(self._probe_write)
        except OSError as exc:
            raise errors.ServiceUnavailable(
                f"data directory {self.root} is not writable: {exc.strerror}") from None

    def _probe_write(self) -> None:
        # A real write, because permissions alone say nothing of a full or gone disk.
        probe = self.spool_dir / f".ready-{uuid.uuid4().hex}"
        try:
            with open(probe, "wb") as fh:
                fh.write(b"ok")
                os.fsync(fh.fileno())
        finally:
            # Also when the write failed (a full disk): a probe never stays behind.
            try:
                os.unlink(probe)
            except FileNotFoundError:
                pass

    def _sweep(self) -> None:
        """Drop what a crash left behind: spool files and blobs/parts nothing points to."""
        for entry in os.scandir(self.spool_dir):
            os.unlink(entry.path)
        with self.index.read() as txn:
            # Every version's blob, noncurrent ones included (delete markers have none).
            live_blobs = {record["blob"] for record in self.index.all_object_records(txn)
                          if "blob" in record}
            live_parts = {doc["file"] for _, doc in kv.scan(txn, self.index.parts, b"")}
        for sub in os.scandir(self.blob_dir):
            for entry in os.scandir(sub.path):
                if entry.name not in live_blobs:
                    os.unlink(entry.path)
        for entry in os.scandir(self.part_dir):
            if entry.name not in live_parts:
                os.unlink(entry.path)

    def _blob_path(self, blob: str) -> Path:
        return self.blob_dir / blob[:2] / blob

    # -- buckets --------------------------------------------------------------------
    async def list_buckets(self) -> list[BucketInfo]:
        with self.index.read() as txn:
            return [BucketInfo(k.decode(), doc["created"])
                    for k, doc in kv.scan(txn, self.index.buckets, b"", b"")]

    async def create_bucket(self, bucket: str, owner: str = "", *,
                            versioning: str = VERSIONING_ENABLED) -> None:
        await kv.offload(self._create_bucket, bucket, owner, versioning)

    def _create_bucket(self, bucket: str, owner: str, versioning: str) -> None:
        with self.index.write() as txn:
            doc = kv.get(txn, self.index.buckets, bucket.encode())
            if doc is not None:
                if "owner" not in doc:   # claimed (see the interface)
                    doc["owner"] = owner
                    kv.put(txn, self.index.buckets, bucket.encode(), doc)
                raise errors.BucketAlreadyOwnedByYou(resource=f"/{bucket}", BucketName=bucket)
            kv.put(txn, self.index.buckets, bucket.encode(),
                   {"created": time.time(), "layout": RECORD_STORE_LAYOUT, "owner": owner,
                    "versioning": versioning})

    async def get_versioning(self, bucket: str) -> str:
        with self.index.read() as txn:
            return _versioning(self._bucket(txn, bucket))

    async def set_versioning(self, bucket: str, state: str) -> None:
        await self._change_bucket(bucket, lambda doc: doc.update(versioning=state))

    async def bucket_owner(self, bucket: str) -> str:
        with self.index.read() as txn:
            return self._bucket(txn, bucket).get("owner", "")

    async def bucket_setting(self, bucket: str, name: str) -> dict | list | None:
        check_setting_name(name)
        with self.index.read() as txn:
            return self._bucket(txn, bucket).get("settings", {}).get(name)

    async def set_bucket_setting(self, bucket: str, name: str,
                                 value: dict | list | None) -> None:
        check_setting_name(name)

        def change(doc: dict) -> None:
            settings = doc.setdefault("settings", {})
            if value is None:
                settings.pop(name, None)
            else:
                settings[name] = value
        await self._change_bucket(bucket, change)

    async def bucket_layout(self, bucket: str) -> int:
        with self.index.read() as txn:
            return self._bucket(txn, bucket).get("layout", OBJECT_RECORDS_LAYOUT)

    async def set_bucket_layout(self, bucket: str, layout: int) -> None:
        await self._change_bucket(bucket, lambda doc: doc.update(layout=layout))

    async def _change_bucket(self, bucket: str, change: Callable[[dict], None]) -> None:
        """Apply ``change`` to the bucket's document in one write transaction, off the
        event loop; NoSuchBucket."""
        def write() -> None:
            with self.index.write() as txn:
                doc = self._bucket(txn, bucket)
                change(doc)
                kv.put(txn, self.index.buckets, bucket.encode(), doc)
        await kv.offload(write)

    async def head_bucket(self, bucket: str) -> BucketInfo:
        with self.index.read() as txn:
            return BucketInfo(bucket, self._bucket(txn, bucket)["created"])

    def _bucket(self, txn, bucket: str) -> dict:
        doc = kv.get(txn, self.index.buckets, bucket.encode())
        if doc is None:
            raise errors.NoSuchBucket(resource=f"/{bucket}", BucketName=bucket)
        return doc

    async def delete_bucket(self, bucket: str) -> None:
        files = await asyncio.to_thread(self._drop_bucket, bucket)
        await asyncio.to_thread(_unlink_all, files)

    def _drop_bucket(self, bucket: str) -> list[Path]:
        """Delete a bucket without current versions, purging its noncurrent versions,
        delete markers and uploads in the same transaction (see the interface); return
        the files to unlink once that is committed."""
        scope = bucket.encode() + SEP
        files: list[Path] = []
        with self.index.write() as txn:
            self._bucket(txn, bucket)
            keys = [full for full, _ in self.index.iter_objects(txn, scope, scope)]
            for full in keys:
                if not versions.is_marker(self.index.get_object(txn, full)):
                    raise errors.BucketNotEmpty(resource=f"/{bucket}", BucketName=bucket)
            for full in keys:
                files += [self._blob_path(r["blob"]) for r in versions.purge(self.index, txn, full)
                          if not versions.is_marker(r)]
            for upload in self._uploads(txn, bucket, ""):
                files += [self.part_dir / name for name in self._forget_upload(txn, upload.upload_id)]
            _delete_prefix(txn, self.index.records, bucket.encode() + SEP)
            txn.delete(bucket.encode(), db=self.index.buckets)
        return files

    # -- objects --------------------------------------------------------------------
    async def commit(self, bucket: str, key: str, staged: StagedObject,
                     attributes: ObjectAttributes, *, if_match: str | None = None,
                     if_none_match: bool = False, read_back: bool = True) -> ObjectInfo:
        # The stored time is known here without asking anything: read_back changes nothing.
        if not isinstance(staged, LocalStagedFile):
            raise TypeError("the fs backend commits only local staged files")
        await asyncio.to_thread(_fsync_file, staged.path)
        return await asyncio.to_thread(self._publish, bucket, key, staged, attributes,
                                       if_match, if_none_match)

    def _publish(self, bucket, key, staged: LocalStagedFile, attributes, if_match,
                 if_none_match) -> ObjectInfo:
        blob = uuid.uuid4().hex
        record = {"blob": blob, "size": staged.size, "etag": staged.md5_hex,
                  "mtime": time.time(), "attrs": attributes.to_json(),
                  "checksums": staged.checksums, "parts": staged.parts_count}
        if staged.part_list:
            record["part_list"] = [part.to_json() for part in staged.part_list]
        full = object_key(bucket, key)
        replaced = None
        with self.index.write() as txn:  # the write lock makes check-and-publish atomic
            versioning = _versioning(self._bucket(txn, bucket))
            current = versions.current(self.index, txn, full)
            live = None if versions.is_marker(current) else current
            if if_none_match and live is not None:
                raise errors.PreconditionFailed(Condition="If-None-Match")
            if if_match is not None and live is None:
                raise errors.NoSuchKey(resource=f"/{bucket}/{key}", Key=key)
            if if_match not in (None, "*") and live["etag"] != if_match:
                raise errors.PreconditionFailed(Condition="If-Match")
            if versioning != VERSIONING_ENABLED:
                record["null"] = True
                replaced = versions.remove(self.index, txn, full, NULL_VERSION)
            record["vid"] = versions.new_version_id(current["vid"] if current else None)
            target = self._blob_path(blob)
            os.rename(staged.path, target)
            fsync_dir(target.parent)
            versions.publish(self.index, txn, full, record)
        if replaced is not None and not versions.is_marker(replaced):
            _unlink(self._blob_path(replaced["blob"]))
        return listing.info(bucket, key, record)

    def _version(self, txn, bucket: str, key: str,
                 version_id: str | None) -> tuple[dict, bool]:
        """``(record, is_latest)`` of the current or named version, which must hold
        bytes (not be a delete marker)."""
        full = object_key(bucket, key)
        if version_id is None:
            record = versions.current(self.index, txn, full)
            if record is None:
                self._bucket(txn, bucket)
                raise deleted_key(bucket, key, None)
            if versions.is_marker(record):
                raise deleted_key(bucket, key, versions.shown_id(record))
            return record, True
        _check_version_id(version_id)
        found = versions.find(self.index, txn, full, version_id)
        if found is None:
            self._bucket(txn, bucket)
            raise no_such_version(bucket, key, version_id)
        if versions.is_marker(found[0]):
            raise delete_marker_addressed(bucket, key, version_id, found[0]["mtime"])
        return found

    async def head_object(self, bucket: str, key: str,
                          version_id: str | None = None) -> ObjectInfo:
        with self.index.read() as txn:
            return listing.info(bucket, key, *self._version(txn, bucket, key, version_id))

    async def object_parts(self, bucket: str, key: str,
                           version_id: str | None = None) -> list[ObjectPart] | None:
        with self.index.read() as txn:
            record, _ = self._version(txn, bucket, key, version_id)
        part_list = record.get("part_list")
        return None if part_list is None else [ObjectPart.from_json(p) for p in part_list]

    async def open_object(self, bucket: str, key: str, byte_range: ByteRange | None = None,
                          version_id: str | None = None, *,
                          explain_missing: bool = True) -> ObjectStream:
        # A miss is always explained: the index read that finds it says what it is.
        # Deleting a version for good unlinks its blob after its record is gone: if that
        # happens between reading the record and opening the file, look again (and find
        # the new current version, or learn that the named one is gone).
        for _ in range(5):
            with self.index.read() as txn:
                record, is_latest = self._version(txn, bucket, key, version_id)
            try:
                fh = open(self._blob_path(record["blob"]), "rb")
            except FileNotFoundError:
                continue
            info = listing.info(bucket, key, record, is_latest)
            span = byte_range.resolve(info.size) if byte_range else None
            start, end = span if span else (0, info.size - 1)
            length = end - start + 1
            return ObjectStream(info, span, _read_file(fh, start, length),
                                FileSource(fh, start, length, _short_blob))
        raise errors.ServiceUnavailable("object is being deleted too fast to read")

    async def delete_object(self, bucket: str, key: str,
                            version_id: str | None = None) -> DeleteOutcome:
        if version_id is not None:
            _check_version_id(version_id)
        outcome, blob = await asyncio.to_thread(self._delete, bucket, key, version_id)
        if blob is not None:
            await asyncio.to_thread(_unlink, self._blob_path(blob))
        return outcome

    def _delete(self, bucket: str, key: str,
                version_id: str | None) -> tuple[DeleteOutcome, str | None]:
        full = object_key(bucket, key)
        with self.index.write() as txn:
            versioning = _versioning(self._bucket(txn, bucket))
            if version_id is None:
                return self._delete_current(txn, full, versioning)
            removed = versions.remove(self.index, txn, full, version_id)
        if removed is None:  # nothing to remove is not an error, as in S3
            return DeleteOutcome(version_id, False), None
        if versions.is_marker(removed):
            return DeleteOutcome(version_id, True), None
        return DeleteOutcome(version_id, False), removed["blob"]

    def _delete_current(self, txn, full: bytes,
                        versioning: str) -> tuple[DeleteOutcome, str | None]:
        """A delete without a version id, as the bucket's versioning state wants it."""
        removed = None
        if versioning != VERSIONING_ENABLED:
            removed = versions.remove(self.index, txn, full, NULL_VERSION)
        blob = removed["blob"] if removed is not None and not versions.is_marker(removed) else None
        if versioning == UNVERSIONED:
            return DeleteOutcome(None, False, removed=NULL_VERSION), blob
        current = versions.current(self.index, txn, full)
        marker = {"vid": versions.new_version_id(current["vid"] if current else None),
                  "dm": True, "mtime": time.time()}
        if versioning == VERSIONING_SUSPENDED:
            marker["null"] = True
        versions.publish(self.index, txn, full, marker)
        return (DeleteOutcome(versions.shown_id(marker), True,
                              removed=NULL_VERSION if removed is not None else None), blob)

    async def list_objects(self, bucket: str, *, prefix: str = "", delimiter: str = "",
                           start_after: str = "", max_keys: int = 1000) -> ListPage:
        with self.index.read() as txn:
            self._bucket(txn, bucket)
            return listing.list_objects(self.index, txn, bucket, prefix, delimiter,
                                        start_after, max_keys)

    async def list_versions(self, bucket: str, *, prefix: str = "", delimiter: str = "",
                            key_marker: str = "", version_id_marker: str = "",
                            max_keys: int = 1000) -> VersionPage:
        if version_id_marker:
            _check_version_id(version_id_marker)
        with self.index.read() as txn:
            self._bucket(txn, bucket)
            return listing.list_versions(self.index, txn, bucket, prefix, delimiter,
                                         key_marker, version_id_marker, max_keys)

    async def set_tags(self, bucket: str, key: str, tags: dict[str, str],
                       version_id: str | None = None) -> ObjectInfo:
        return await kv.offload(self._set_tags, bucket, key, tags, version_id)

    def _set_tags(self, bucket: str, key: str, tags: dict[str, str],
                  version_id: str | None) -> ObjectInfo:
        with self.index.write() as txn:
            record, is_latest = self._version(txn, bucket, key, version_id)
            record["attrs"]["tags"] = tags_to_json(tags)
            versions.update(self.index, txn, object_key(bucket, key), record, is_latest)
        return listing.info(bucket, key, record, is_latest)

    # -- multipart uploads --------------------------------------------------------------
    async def create_upload(self, bucket: str, key: str, attributes: ObjectAttributes,
                            owner: str) -> str:
        upload_id = uuid.uuid4().hex
        await kv.offload(self._create_upload, bucket, key, upload_id, attributes, owner)
        return upload_id

    def _create_upload(self, bucket: str, key: str, upload_id: str,
                       attributes: ObjectAttributes, owner: str) -> None:
        with self.index.write() as txn:
            self._bucket(txn, bucket)
            kv.put(txn, self.index.uploads, upload_id.encode(),
                   {"bucket": bucket, "key": key, "initiated": time.time(),
                    "attrs": attributes.to_json(), "owner": owner})

    async def get_upload(self, bucket: str, key: str, upload_id: str) -> UploadInfo:
        with self.index.read() as txn:
            return self._upload(txn, bucket, key, upload_id)

    def _upload(self, txn, bucket: str, key: str, upload_id: str) -> UploadInfo:
        doc = kv.get(txn, self.index.uploads, upload_id.encode()) if upload_id else None
        if doc is None or doc["bucket"] != bucket or doc["key"] != key:
            self._bucket(txn, bucket)
            raise errors.NoSuchUpload(resource=f"/{bucket}/{key}", UploadId=upload_id)
        return _upload_info(upload_id, doc)

    def _uploads(self, txn, bucket: str, prefix: str) -> list[UploadInfo]:
        found = [_upload_info(k.decode(), doc)
                 for k, doc in kv.scan(txn, self.index.uploads, b"", b"")
                 if doc["bucket"] == bucket and doc["key"].startswith(prefix)]
        return sorted(found, key=lambda u: (u.key.encode(), u.initiated))

    async def upload_part(self, bucket: str, key: str, upload_id: str, number: int,
                          body: PartBody) -> PartInfo:
        await self.get_upload(bucket, key, upload_id)
        name = uuid.uuid4().hex
        tmp = self.spool_dir / name
        size = await spool_to_file(body, tmp, sync=True)
        try:
            part = {"file": name, "etag": body.md5_hex, "size": size,
                    "mtime": time.time(), "checksums": dict(body.checksums)}
            previous = await asyncio.to_thread(self._publish_part, bucket, key, upload_id,
                                               number, tmp, part)
        except BaseException:
            _unlink(tmp)
            raise
        if previous is not None:
            _unlink(self.part_dir / previous["file"])
        return _part_info(number, part)

    def _publish_part(self, bucket, key, upload_id, number, tmp: Path, part: dict):
        with self.index.write() as txn:
            self._upload(txn, bucket, key, upload_id)  # aborted meanwhile → NoSuchUpload
            previous = kv.get(txn, self.index.parts, part_key(upload_id, number))
            os.rename(tmp, self.part_dir / part["file"])
            fsync_dir(self.part_dir)
            kv.put(txn, self.index.parts, part_key(upload_id, number), part)
        return previous

    async def list_parts(self, bucket: str, key: str, upload_id: str) -> list[PartInfo]:
        with self.index.read() as txn:
            self._upload(txn, bucket, key, upload_id)
            return [_part_info(int(k.rsplit(SEP, 1)[1]), doc) for k, doc in
                    kv.scan(txn, self.index.parts, upload_id.encode() + SEP,
                               upload_id.encode() + SEP)]

    async def list_uploads(self, bucket: str, prefix: str = "") -> list[UploadInfo]:
        with self.index.read() as txn:
            self._bucket(txn, bucket)
            return self._uploads(txn, bucket, prefix)

    async def abort_upload(self, bucket: str, key: str, upload_id: str) -> None:
        await self.get_upload(bucket, key, upload_id)
        await self._drop_upload(upload_id)

    async def finish_upload(self, bucket: str, key: str, upload_id: str) -> None:
        await self._drop_upload(upload_id)

    async def _drop_upload(self, upload_id: str) -> None:
        files = await kv.offload(self._drop_upload_records, upload_id)
        await asyncio.to_thread(_unlink_all, [self.part_dir / name for name in files])

    def _drop_upload_records(self, upload_id: str) -> list[str]:
        with self.index.write() as txn:
            return self._forget_upload(txn, upload_id)

    def _forget_upload(self, txn, upload_id: str) -> list[str]:
        """Remove an upload and its parts from the index; return the part file names."""
        prefix = upload_id.encode() + SEP
        files = [doc["file"] for _, doc in kv.scan(txn, self.index.parts, prefix, prefix)]
        _delete_prefix(txn, self.index.parts, prefix)
        txn.delete(upload_id.encode(), db=self.index.uploads)
        return files

    async def assemble_upload(self, bucket: str, key: str, upload_id: str,
                              parts: list[tuple[int, str]]) -> StagedObject:
        stored = {p.number: p for p in await self.list_parts(bucket, key, upload_id)}
        chosen = validate_completion(parts, stored)
        with self.index.read() as txn:
            files = [kv.get(txn, self.index.parts, part_key(upload_id, p.number))["file"]
                     for p in chosen]
        target = self.spool_dir / uuid.uuid4().hex
        sha256 = await asyncio.to_thread(concatenate, [self.part_dir / f for f in files], target)
        staged = LocalStagedFile(target, sum(p.size for p in chosen), multipart_etag(chosen),
                                 {}, parts_count=len(chosen))
        staged.sha256_hex = sha256
        staged.part_list = [ObjectPart(p.number, p.size, dict(p.checksums)) for p in chosen]
        return staged


    # -- the record store ---------------------------------------------------------------
    async def put_record(self, bucket: str, key: str, version_id: str,
                         body: bytes, *, first: bool = False) -> RecordInfo:
        if len(body) > MAX_RECORD_BYTES:
            raise errors.EntityTooLarge(MaxSizeAllowed=str(MAX_RECORD_BYTES))
        head = {"key": key, "etag": hashlib.md5(body).hexdigest(), "mtime": time.time()}
        value = json.dumps(head, separators=(",", ":")).encode() + SEP + body
        await asyncio.to_thread(self._put_record, bucket, record_key(bucket, key, version_id),
                                value)
        return _record_info(bucket, version_id, head, len(body))

    def _put_record(self, bucket: str, slot: bytes, value: bytes) -> None:
        with self.index.write() as txn:   # LMDB syncs on commit: durable when it returns
            self._bucket(txn, bucket)
            txn.put(slot, value, db=self.index.records)

    async def get_record(self, bucket: str, key: str, version_id: str) -> StoredRecord | None:
        with self.index.read() as txn:
            self._bucket(txn, bucket)
            raw = txn.get(record_key(bucket, key, version_id), db=self.index.records)
        if raw is None:
            return None
        head, body = _split_record(raw)
        return StoredRecord(_record_info(bucket, version_id, head, len(body)), body)

    async def list_records(self, bucket: str, key: str) -> list[RecordInfo]:
        prefix = record_key(bucket, key)
        found = []
        with self.index.read() as txn:
            self._bucket(txn, bucket)
            cursor = txn.cursor(db=self.index.records)
            if cursor.set_range(prefix):
                for slot, raw in cursor:
                    if not slot.startswith(prefix):
                        break
                    head, body = _split_record(raw)
                    found.append(_record_info(bucket, slot[len(prefix):].decode(), head,
                                              len(body)))
        return found


def _versioning(doc: dict) -> str:
    # A bucket made before the versioning states existed was always versioned.
    return doc.get("versioning", VERSIONING_ENABLED)


def _split_record(raw: bytes) -> tuple[dict, bytes]:
    head, _, body = bytes(raw).partition(SEP)   # JSON never holds a raw NUL
    return json.loads(head), body


def _record_info(bucket: str, version_id: str, head: dict, size: int) -> RecordInfo:
    return RecordInfo(bucket, head["key"], version_id, size, head["etag"], head["mtime"])


def _delete_prefix(txn, db, prefix: bytes) -> None:
    cursor = txn.cursor(db=db)
    if cursor.set_range(prefix):
        while cursor.key().startswith(prefix):
            if not cursor.delete():
                break


def _check_version_id(version_id: str) -> None:
    check_version_id(version_id)
    if not versions.VERSION_ID.match(version_id):  # well-formed, but not one of ours
        raise errors.InvalidArgument("Invalid version id specified", ArgumentName="versionId",
                                     ArgumentValue=version_id)


def _upload_info(upload_id: str, doc: dict) -> UploadInfo:
    return UploadInfo(doc["bucket"], doc["key"], upload_id, doc["initiated"],
                      ObjectAttributes.from_json(doc["attrs"]), doc["owner"])


def _part_info(number: int, doc: dict) -> PartInfo:
    return PartInfo(number, doc["etag"], doc["size"], doc["mtime"], doc["checksums"])


async def _read_file(fh, offset: int, length: int) -> AsyncIterator[bytes]:
    with fh:
        await asyncio.to_thread(fh.seek, offset)
        while length > 0:
            chunk = await asyncio.to_thread(fh.read, min(CHUNK, length))
            if not chunk:
                raise _short_blob()
            length -= len(chunk)
            yield chunk


def _short_blob() -> errors.GatewayError:
    return errors.InternalError("stored object is shorter than its record")


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _unlink_all(paths: list[Path]) -> None:
    for path in paths:
        _unlink(path)


def _unlink(path: Path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
