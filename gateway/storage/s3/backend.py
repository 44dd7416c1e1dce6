"""The s3 storage backend: provgate's buckets and objects kept in an upstream S3.

SeaweedFS first; MinIO, Ceph RGW or AWS by configuration. The upstream holds everything
durable — bytes, attributes, tags, the XMP sidecars intake writes beside objects, and
provgate's upload records — so several gateways can share one upstream (see
``docs/scale-out.md``). Locally there is only the spool directory.

How things map (details in the modules named):

* buckets: same names, ``bucket_prefix`` in front (``keys.BucketNames``);
* keys: an injective, order-preserving encoding that filer-backed stores keep
  faithfully (``keys``); listings decode it and roll up common prefixes (``listing``);
* attributes: S3 headers and user metadata, plus one reserved metadata entry for what
  S3 has no place for (``metadata``);
* writes: a PUT spool file goes up as one PutObject with Content-Length and Content-MD5,
  or as a multipart upload read part by part from the file when larger than
  ``multipart_threshold``; an assembled multipart upload is server-side copied from its
  hidden staging key (``staging``, ``uploads``);
* XMP records: the record store lives under ``!pg/records/`` of the same upstream
  bucket, one upstream key per object version (``keys.record_name``), out of reach of
  every encoded key and skipped by listings like the rest of ``!pg/``;
* versions: every upstream bucket is versioned (``versioning``); version ids are the
  upstream's, passed through (a commit returns the id of the final write, never the
  staging copy's). Listings of both kinds walk the upstream's version listing
  (``walk``), and provgate's own records are deleted with all their versions
  (``listing.purge``) so that nothing piles up behind delete markers.

Conditional commits (``if_match`` / ``if_none_match``) are checked first with a HEAD —
the client-visible ETag may differ from the upstream's — and then sent upstream as
``If-Match`` (with the upstream's ETag) / ``If-None-Match: *`` on the very request
that writes, so the upstream decides atomically. SeaweedFS 4.48 does so for PutObject
and CopyObject (under its object write lock); for CompleteMultipartUpload it checks
before writing, so the rare commit that needs one (a spool file over
``multipart_threshold``, an assembled upload over 5 GiB) can race a concurrent writer
there. An upstream that ignores the headers still gets the HEAD check: best effort.

Failures: an upstream that is down, refuses, stalls or answers 5xx yields
ServiceUnavailable (SlowDown passes through) within ``timeout``; a write is reported
committed only after the upstream acknowledged it. Nothing is cached about upstream
health, so service resumes as soon as the upstream answers again. A write whose
connection is cut before the answer is never resent blindly (on a versioned bucket that
stores a second version): each write carries a write id in its reserved metadata, and
the latest version is looked at first (``_write_version``).
"""

from __future__ import annotations

import base64
import email.utils
import functools
import hashlib
import json
import logging
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

import aiohttp

from gateway import errors
from gateway.config import StorageConfig
from gateway.storage.base import (MAX_RECORD_BYTES, NULL_VERSION, OBJECT_RECORDS_LAYOUT,
                                  RECORD_STORE_LAYOUT, BucketInfo, ByteRange, DeleteOutcome,
                                  ListPage, ObjectAttributes, ObjectInfo, ObjectPart,
                                  ObjectStream, PartBody, PartInfo, RecordInfo, StagedObject,
                                  StorageBackend, StoredRecord, UploadInfo, VersionPage,
                                  check_setting_name, check_version_id, UNVERSIONED,
                                  VERSIONING_ENABLED, VERSIONING_SUSPENDED)
from gateway.storage.s3 import keys, listing, walk
from gateway.wire import xmldoc
from gateway.wire.client import FileSection, Reply, S3Client
from gateway.wire.zerocopy import SplicedResponse
from gateway.storage.s3.metadata import SystemFields, read_headers, write_headers
from gateway.storage.s3.staging import UploadStaged
from gateway.storage.s3.uploads import Uploads
from gateway.storage.s3.listing import shown
from gateway.storage.s3.versioning import Versioning, drop_older, shown_error, version_of
from gateway.storage.staged import LocalStagedFile, SpoolDirStaging

log = logging.getLogger("provgate.storage.s3")

GiB = 1 << 30
MiB = 1 << 20
MAX_COPY = 5 * GiB            # S3's limit for CopyObject and for one part
MAX_PARTS = 10000


class S3Backend(SpoolDirStaging, StorageBackend):
    def __init__(self, config: StorageConfig, spool_dir: Path | None = None, *,
                 multipart_threshold: int = 5 * GiB, part_size: int = 64 * MiB,
                 copy_limit: int = MAX_COPY) -> None:
        """``multipart_threshold``: spool files up to this size go up as one PutObject,
        so the upstream's ETag is the plain md5 clients expect, listings included (5 GiB
        is S3's single-PUT limit); larger ones as a multipart upload of ``part_size``
        parts read straight from the file.
        ``copy_limit``: an assembled multipart upload up to this size becomes its key
        with one server-side CopyObject; a larger one is copied part by part (5 GiB, the
        default and the most allowed, is S3's CopyObject limit; tests set it lower)."""
        self.config = config
        self.names = keys.BucketNames(config.bucket_prefix)
        self.client = S3Client(config.endpoint, config.region, config.access_key,
                               config.secret, config.timeout)
        self._private_spool = spool_dir is None
        self.spool_dir = spool_dir or Path(tempfile.gettempdir()) / f"provgate-spool-{os.getpid()}"
        self.multipart_threshold = min(multipart_threshold, MAX_COPY)
        self.part_size = part_size
        self.copy_limit = min(copy_limit, MAX_COPY)
        self.uploads = Uploads(self.client, self.names, lambda: self.spool_dir,
                               self._open_upstream)
        self.versioning = Versioning(self.client)

    # -- lifecycle ------------------------------------------------------------------------
    async def start(self, *, recover: bool = True) -> None:
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        # Files left by a crashed process were never acknowledged; the spool directory
        # belongs to this gateway alone (each gateway of a group has its own).
        for entry in os.scandir(self.spool_dir) if recover else ():
            if entry.is_file():
                os.unlink(entry.path)
        await self.client.start()
        # The upstream is not contacted here: the gateway starts while it is down and
        # serves once it is back (check() reports the state).

    async def close(self) -> None:
        await self.client.close()
        if self._private_spool:
            shutil.rmtree(self.spool_dir, ignore_errors=True)

    async def check(self) -> None:
        try:
            await self.client.send("GET", "")
        except errors.ServiceUnavailable:
            raise
        except errors.GatewayError as exc:
            raise errors.ServiceUnavailable(
                f"the storage backend is not usable: {exc.message}") from None

    # -- buckets --------------------------------------------------------------------------
    async def list_buckets(self) -> list[BucketInfo]:
        reply = await self.client.send("GET", "")
        found = []
        for listed in xmldoc.buckets(reply.body):
            name = self.names.local(listed.name)
            if name is not None:
                found.append(BucketInfo(name, listed.created))
        return sorted(found, key=lambda b: b.name)

    async def create_bucket(self, bucket: str, owner: str = "", *,
                            versioning: str = VERSIONING_ENABLED) -> None:
        region = self.client.region
        upstream = self.names.upstream(bucket)
        body = xmldoc.bucket_configuration(region) if region != "us-east-1" else None
        try:
            await self.client.send("PUT", upstream, body=body, subject=(bucket, ""))
            existed = False
        except errors.BucketAlreadyOwnedByYou:
            existed = True
        self.versioning.forget(upstream)   # a bucket of that name may have been cached
        # Should this fail, the first write to the bucket turns versioning on.
        await self.versioning.enable(upstream, bucket)
        # The owner note decides who created the bucket, written once: the upstream may
        # answer 200 to creates that race (SeaweedFS does), and 409 to one that races a
        # create whose note is not written yet.
        try:
            await self.client.send("PUT", upstream, keys.OWNER_NAME, body=owner.encode(),
                                   headers={"If-None-Match": "*"}, subject=(bucket, ""))
        except errors.PreconditionFailed:
            if not existed:
                # A racing create of a new bucket: its layout is this one's too, and is
                # in place before the caller, told the name is taken, writes into it.
                await self.set_bucket_layout(bucket, RECORD_STORE_LAYOUT)
            raise errors.BucketAlreadyOwnedByYou(resource=f"/{bucket}",
                                                 BucketName=bucket) from None
        if existed:   # a bucket without an owner note, now claimed (see the interface)
            raise errors.BucketAlreadyOwnedByYou(resource=f"/{bucket}", BucketName=bucket)
        await self.set_bucket_layout(bucket, RECORD_STORE_LAYOUT)
        if versioning != VERSIONING_ENABLED:
            await self.versioning.set_state(upstream, bucket, versioning)

    async def get_versioning(self, bucket: str) -> str:
        return (await self.versioning.state(self.names.upstream(bucket), bucket))[0]

    async def set_versioning(self, bucket: str, state: str) -> None:
        upstream = self.names.upstream(bucket)
        await self._require_bucket(bucket)
        await self.versioning.ensure(upstream, bucket)
        await self.versioning.set_state(upstream, bucket, state)

    async def _null_id(self, upstream: str, bucket: str, key: str) -> str | None:
        """The upstream id of the key's null version (None: none of its own), asked only
        of buckets whose state was ever set (see ``versioning``)."""
        if not (await self.versioning.state(upstream, bucket))[1]:
            return None
        return await self.versioning.null_of(upstream, bucket, key)

    async def _address(self, upstream: str, bucket: str, key: str,
                       version_id: str | None) -> tuple[str | None, str | None]:
        """(the upstream version to ask for, the upstream id of the null version)."""
        null_id = await self._null_id(upstream, bucket, key)
        if version_id == NULL_VERSION and null_id is not None:
            return null_id, null_id
        return version_id, null_id

    async def bucket_owner(self, bucket: str) -> str:
        note = await self._note(bucket, keys.OWNER_NAME)
        return note.decode("utf-8") if note is not None else ""

    async def _note(self, bucket: str, name: str) -> bytes | None:
        """An internal upstream key's bytes; None when the bucket has none."""
        try:
            reply = await self.client.send("GET", self.names.upstream(bucket), name,
                                           subject=(bucket, ""))
        except errors.NoSuchKey:
            await self._require_bucket(bucket)
            return None
        return reply.body

    async def bucket_setting(self, bucket: str, name: str) -> dict | list | None:
        check_setting_name(name)
        note = await self._note(bucket, keys.SETTINGS_PREFIX + name)
        if note is None:
            return None
        try:
            return json.loads(note)
        except ValueError:
            raise errors.InternalError(f"unreadable {name} setting in bucket {bucket}") from None

    async def set_bucket_setting(self, bucket: str, name: str,
                                 value: dict | list | None) -> None:
        check_setting_name(name)
        upstream, note = self.names.upstream(bucket), keys.SETTINGS_PREFIX + name
        await self._require_bucket(bucket)
        await self.versioning.ensure(upstream, bucket)
        if value is None:
            await listing.purge(self.client, upstream, note, subject=(bucket, ""))
            return
        await self.client.send("PUT", upstream, note, body=json.dumps(value).encode(),
                               subject=(bucket, ""))
        await drop_older(self.client, upstream, note, bucket)

    async def bucket_layout(self, bucket: str) -> int:
        upstream = self.names.upstream(bucket)
        try:
            reply = await self.client.send("GET", upstream, keys.LAYOUT_NAME,
                                           subject=(bucket, ""))
        except errors.NoSuchKey:
            await self._require_bucket(bucket)
            return OBJECT_RECORDS_LAYOUT
        try:
            return int(reply.body.decode().strip())
        except ValueError:
            raise errors.InternalError(f"unreadable layout note in bucket {bucket}") from None

    async def set_bucket_layout(self, bucket: str, layout: int) -> None:
        upstream = self.names.upstream(bucket)
        await self.versioning.ensure(upstream, bucket)
        await self.client.send("PUT", upstream, keys.LAYOUT_NAME, body=str(layout).encode(),
                               subject=(bucket, ""))
        # Versioned: keep just the newest note.
        await drop_older(self.client, upstream, keys.LAYOUT_NAME, bucket)

    async def head_bucket(self, bucket: str) -> BucketInfo:
        upstream = self.names.upstream(bucket)
        reply = await self.client.send("GET", "")
        for listed in xmldoc.buckets(reply.body):
            if listed.name == upstream:
                return BucketInfo(bucket, listed.created)
        raise errors.NoSuchBucket(resource=f"/{bucket}", BucketName=bucket)

    async def delete_bucket(self, bucket: str) -> None:
        upstream = self.names.upstream(bucket)
        page = await self.list_objects(bucket, max_keys=1)
        if page.objects or page.common_prefixes:
            raise errors.BucketNotEmpty(resource=f"/{bucket}", BucketName=bucket)
        await self.uploads.forget_all(bucket)
        try:
            await self._delete_upstream_bucket(upstream, bucket)
        except errors.BucketNotEmpty:
            # Noncurrent versions and delete markers are purged with the bucket (see the
            # interface). A current version written meanwhile is not touched: the second
            # attempt then fails as it should.
            await self._purge_versions(upstream, bucket)
            await self._delete_upstream_bucket(upstream, bucket)
        self.versioning.forget(upstream)

    async def _delete_upstream_bucket(self, upstream: str, bucket: str) -> None:
        await self.client.send("DELETE", upstream, expect=(200, 204), subject=(bucket, ""))

    async def _purge_versions(self, upstream: str, bucket: str) -> None:
        async for listed in walk.walk(self.client, upstream, "", subject=(bucket, "")):
            if listed.is_latest and not listed.delete_marker:
                continue
            await self.client.send("DELETE", upstream, listed.key, expect=(200, 204),
                                   query={"versionId": listed.version_id}, subject=(bucket, ""))

    # -- writing objects ------------------------------------------------------------------
    async def commit(self, bucket: str, key: str, staged: StagedObject,
                     attributes: ObjectAttributes, *, if_match: str | None = None,
                     if_none_match: bool = False, read_back: bool = True) -> ObjectInfo:
        upstream, name = self.names.upstream(bucket), keys.encode_key(key)
        await self.versioning.ensure(upstream, bucket)
        state, _ = await self.versioning.state(upstream, bucket)
        previous_null = (await self._null_id(upstream, bucket, key)
                         if state != VERSIONING_ENABLED else None)
        conditions = await self._conditions(upstream, name, bucket, key, if_match, if_none_match)
        system = SystemFields(checksums=dict(staged.checksums), parts_count=staged.parts_count,
                              owner=attributes.owner,
                              key=key if keys.is_digest_name(name) else None,
                              write_id=uuid.uuid4().hex)
        if staged.part_list:
            # Written first, so no version is ever without it; named by the write, which
            # the version's system fields name (``object_parts``).
            await self.client.send(
                "PUT", upstream, keys.PART_LISTS + system.write_id, subject=(bucket, key),
                body=json.dumps([p.to_json() for p in staged.part_list]).encode(),
                headers={"Content-Type": "application/json"})
        if isinstance(staged, LocalStagedFile):
            reply = await self._commit_file(upstream, name, bucket, key, staged,
                                            attributes, system, conditions)
        elif isinstance(staged, UploadStaged):
            system.etag = staged.md5_hex  # an upstream copy may not keep the multipart ETag
            reply = await self._commit_upload(upstream, name, bucket, key, staged,
                                              attributes, system, conditions)
        else:
            raise errors.InternalError(f"the s3 backend cannot commit a {type(staged).__name__}")
        written = version_of(reply.headers)
        null_id = None
        if state != VERSIONING_ENABLED:
            await self.versioning.replace_null(upstream, bucket, key, written, previous_null)
            null_id = written
        await self._note_tag_order(bucket, key, written, attributes.tags)
        if read_back:
            # The upstream sets Last-Modified (to the second) and a PUT does not return
            # it; read it back so the writer, readers and a later reindex all see the same
            # time. (The reply's Date is no substitute: SeaweedFS stamps the object before
            # it answers, and about one write in 300 straddles a second.)
            return shown(await self._head(upstream, bucket, key, written), null_id)
        return shown(ObjectInfo(bucket, key, staged.size, system.etag or reply.etag,
                                _http_time(reply.headers.get("Date")), attributes,
                                dict(staged.checksums), staged.parts_count,
                                version_id=written), null_id)

    async def _conditions(self, upstream: str, name: str, bucket: str, key: str,
                          if_match: str | None, if_none_match: bool) -> dict[str, str]:
        """Check the preconditions now and return the headers that make the upstream
        check them again, atomically with the write."""
        if if_match is None and not if_none_match:
            return {}
        try:
            current = await self.client.send("HEAD", upstream, name, subject=(bucket, key))
        except errors.NoSuchKey:
            current = None
        headers = {}
        if if_none_match:
            if current is not None:
                raise errors.PreconditionFailed(Condition="If-None-Match")
            headers["If-None-Match"] = "*"
        if if_match is not None:
            if current is None:
                raise errors.NoSuchKey(resource=f"/{bucket}/{key}", Key=key)
            _, system = read_headers(current.headers)
            if if_match != "*" and (system.etag or current.etag) != if_match.strip('"'):
                raise errors.PreconditionFailed(Condition="If-Match")
            headers["If-Match"] = "*" if if_match == "*" else f'"{current.etag}"'
        return headers

    async def _commit_file(self, upstream: str, name: str, bucket: str, key: str,
                           staged: LocalStagedFile, attributes: ObjectAttributes,
                           system: SystemFields, conditions: dict[str, str]) -> Reply:
        """Upload a spool file; return the upstream's reply to the write."""
        if staged.size <= self.multipart_threshold:
            headers = write_headers(attributes, system) | conditions
            # The upstream verifies the bytes it stores against the digest intake computed.
            headers["Content-MD5"] = base64.b64encode(bytes.fromhex(staged.md5_hex)).decode()
            reply = await self._write_version(
                upstream, name, system, lambda: self.client.send(
                    "PUT", upstream, name, headers=headers, subject=(bucket, key),
                    body=FileSection(staged.path, 0, staged.size), resend=False))
        else:
            system.etag = staged.md5_hex  # the upstream's will be a multipart ETag
            reply = await self._put_in_parts(upstream, name, bucket, key, staged,
                                             attributes, system, conditions)
        await staged.discard()  # consumed: the bytes are upstream now
        return reply

    async def _put_in_parts(self, upstream: str, name: str, bucket: str, key: str,
                            staged: LocalStagedFile, attributes: ObjectAttributes,
                            system: SystemFields, conditions: dict[str, str]) -> Reply:
        part_size = max(self.part_size, -(-staged.size // MAX_PARTS))

        async def send_parts(upload_id: str) -> list[tuple[int, str]]:
            etags = []
            for number, offset in enumerate(range(0, staged.size, part_size), 1):
                length = min(part_size, staged.size - offset)
                part = await self.client.send(
                    "PUT", upstream, name, body=FileSection(staged.path, offset, length),
                    query={"partNumber": str(number), "uploadId": upload_id},
                    subject=(bucket, key))
                etags.append((number, part.etag))
            return etags

        return await self._in_parts(upstream, name, bucket, key,
                                    write_headers(attributes, system), system, conditions,
                                    send_parts)

    async def _commit_upload(self, upstream: str, name: str, bucket: str, key: str,
                             staged: UploadStaged, attributes: ObjectAttributes,
                             system: SystemFields, conditions: dict[str, str]) -> Reply:
        """Copy an assembled upload to its key; return the upstream's reply to the write
        (naming the copy's version, not the staging object's)."""
        headers = write_headers(attributes, system)
        source = self.client.url(self.names.upstream(staged.bucket), staged.staging_key).raw_path
        if staged.size <= self.copy_limit:
            # One server-side copy: atomic, and SeaweedFS keeps the multipart ETag.
            headers |= conditions
            headers["x-amz-copy-source"] = source
            headers["x-amz-metadata-directive"] = "REPLACE"
            headers["x-amz-tagging-directive"] = "REPLACE"
            reply = await self._write_version(
                upstream, name, system, lambda: self.client.send(
                    "PUT", upstream, name, headers=headers, subject=(bucket, key),
                    resend=False))
        else:
            reply = await self._copy_in_parts(upstream, name, bucket, key, staged, source,
                                              headers, system, conditions)
        try:
            await self.uploads.finish(staged.bucket, staged.key, staged.upload_id)
        except errors.GatewayError as exc:
            # The object is committed; the leftovers go with the next finish or abort.
            log.warning("upload %s committed, cleanup deferred: %s", staged.upload_id, exc.message)
        return reply

    async def _copy_in_parts(self, upstream: str, name: str, bucket: str, key: str,
                             staged: UploadStaged, source: str, headers: dict[str, str],
                             system: SystemFields, conditions: dict[str, str]) -> Reply:
        """Copy over 5 GiB with the original part boundaries, so an upstream that gives
        copied parts their md5 (AWS) ends with the very multipart ETag the client saw."""

        async def copy_parts(upload_id: str) -> list[tuple[int, str]]:
            etags = []
            offset = 0
            for part in staged.parts:
                copy = await self.client.send(
                    "PUT", upstream, name, subject=(bucket, key),
                    query={"partNumber": str(part.number), "uploadId": upload_id},
                    headers={"x-amz-copy-source": source, "x-amz-copy-source-range":
                             f"bytes={offset}-{offset + part.size - 1}"})
                etags.append((part.number, xmldoc.result_etag(copy.body)))
                offset += part.size
            return etags

        return await self._in_parts(upstream, name, bucket, key, headers, system, conditions,
                                    copy_parts)

    async def _in_parts(self, upstream: str, name: str, bucket: str, key: str,
                        headers: dict[str, str], system: SystemFields,
                        conditions: dict[str, str], send_parts) -> Reply:
        """One upstream multipart upload as one write: started with ``headers``, its parts
        sent by ``send_parts(upload_id)`` (which returns their numbers and ETags), completed
        as this write's version — or aborted, whatever went wrong."""
        reply = await self.client.send("POST", upstream, name, query={"uploads": ""},
                                       headers=headers, subject=(bucket, key))
        upload_id = xmldoc.upload_id(reply.body)
        try:
            etags = await send_parts(upload_id)
            return await self._write_version(
                upstream, name, system, lambda: self.client.send(
                    "POST", upstream, name, query={"uploadId": upload_id},
                    headers=conditions, subject=(bucket, key),
                    body=xmldoc.completion_document(etags)))
        except BaseException:
            await self._abort_quietly(upstream, name, upload_id)
            raise

    async def _write_version(self, upstream: str, name: str, system: SystemFields,
                             send) -> Reply:
        """``send()`` stores a new version. If the connection is cut before the upstream
        answers, it may have stored it all the same, and on a versioned bucket sending it
        again would store a second version: look at the latest version first, and send
        again only if it is not this write (``system.write_id``)."""
        try:
            return await send()
        except errors.AnswerLost:
            try:
                latest = await self.client.send("HEAD", upstream, name, subject=(upstream, name))
            except errors.NoSuchKey:   # none yet, or a delete marker
                latest = None
            if latest is not None and read_headers(latest.headers)[1].write_id == system.write_id:
                log.info("write %s to %s/%s landed although its answer was lost",
                         system.write_id, upstream, name)
                return latest
            return await send()

    async def _abort_quietly(self, upstream: str, name: str, upload_id: str) -> None:
        try:
            await self.client.send("DELETE", upstream, name, query={"uploadId": upload_id},
                                   expect=(200, 204))
        except errors.GatewayError as exc:
            log.warning("could not abort upstream upload %s: %s", upload_id, exc.message)

    # -- reading objects --------------------------------------------------------------------
    async def head_object(self, bucket: str, key: str,
                          version_id: str | None = None) -> ObjectInfo:
        upstream = self.names.upstream(bucket)
        if version_id is not None:
            check_version_id(version_id)
        asked, null_id = await self._address(upstream, bucket, key, version_id)
        try:
            info = await self._head(upstream, bucket, key, asked)
        except errors.GatewayError as exc:
            raise shown_error(exc, null_id) from None
        return shown(info, null_id)

    async def _head(self, upstream: str, bucket: str, key: str,
                    version_id: str | None) -> ObjectInfo:
        """HEAD of an upstream version as the backend stores it (no null mapping)."""
        reply = await self._head_reply(upstream, bucket, key, version_id)
        size = int(reply.headers.get("Content-Length", "0"))
        return await self._info(bucket, key, reply.headers, size)

    async def _head_reply(self, upstream: str, bucket: str, key: str,
                          version_id: str | None) -> Reply:
        """The upstream's HEAD of an upstream version; errors as ``head_object``."""
        name = keys.encode_key(key)
        try:
            return await self.client.send("HEAD", upstream, name, query=_version(version_id),
                                          subject=(bucket, key))
        except (errors.NoSuchKey, errors.NoSuchVersion):
            raise await self._missing(upstream, name, bucket, key, version_id) from None

    async def _missing(self, upstream: str, name: str, bucket: str, key: str,
                       version_id: str | None) -> errors.GatewayError:
        await self._require_bucket(bucket)
        return await self.versioning.explain_missing(upstream, name, bucket, key, version_id)

    async def _require_bucket(self, bucket: str) -> None:
        await self.client.send("HEAD", self.names.upstream(bucket), subject=(bucket, ""))

    async def _info(self, bucket: str, key: str, headers: Mapping[str, str],
                    size: int) -> ObjectInfo:
        attributes, system = read_headers(headers)
        if int(headers.get("x-amz-tagging-count", "0") or 0) > 0:
            # The tags of this very version, not of whatever is current by now.
            attributes.tags = await self._tags(bucket, key, headers.get("x-amz-version-id"))
        upstream_etag = xmldoc.unquote_etag(headers.get("ETag", ""))
        return ObjectInfo(bucket, key, size, system.etag or upstream_etag,
                          _http_time(headers.get("Last-Modified")), attributes,
                          system.checksums, system.parts_count, version_id=version_of(headers))

    async def _tags(self, bucket: str, key: str, version_id: str | None) -> dict[str, str]:
        reply = await self.client.send("GET", self.names.upstream(bucket), keys.encode_key(key),
                                       query={"tagging": "", **_version(version_id)},
                                       subject=(bucket, key))
        tags = xmldoc.tags(reply.body)
        if len(tags) < 2:
            return tags
        # The upstream's order is its own (SeaweedFS sorts): the order the tags were
        # set in is kept in a note, used only while it names exactly this tag set.
        note = await self._note(bucket, keys.tag_order_name(key, version_id or NULL_VERSION))
        try:
            order = json.loads(note) if note is not None else None
        except ValueError:
            order = None
        if not isinstance(order, list) or sorted(order) != sorted(tags):
            return tags
        return {name: tags[name] for name in order}

    async def _note_tag_order(self, bucket: str, key: str, version_id: str,
                              tags: dict[str, str]) -> None:
        """Keep the order of a tag set of two or more tags (see ``_tags``). Successive
        ``null`` versions share one note: each write of such a set rewrites it, and a
        note naming another set is not used."""
        if len(tags) < 2:
            return
        await self.client.send("PUT", self.names.upstream(bucket),
                               keys.tag_order_name(key, version_id),
                               body=json.dumps(list(tags)).encode(), subject=(bucket, key))

    async def object_parts(self, bucket: str, key: str,
                           version_id: str | None = None) -> list[ObjectPart] | None:
        upstream = self.names.upstream(bucket)
        asked, _ = await self._address(upstream, bucket, key, version_id)
        _, system = read_headers((await self._head_reply(upstream, bucket, key, asked)).headers)
        if not system.parts_count or not system.write_id:
            return None
        try:
            listed = await self.client.send("GET", upstream, keys.PART_LISTS + system.write_id,
                                            subject=(bucket, key))
        except errors.NoSuchKey:
            return None   # committed before part lists were kept
        return [ObjectPart.from_json(p) for p in json.loads(listed.body)]

    async def open_object(self, bucket: str, key: str, byte_range: ByteRange | None = None,
                          version_id: str | None = None, *,
                          explain_missing: bool = True) -> ObjectStream:
        upstream, name = self.names.upstream(bucket), keys.encode_key(key)
        headers = {"Range": _range_header(byte_range)} if byte_range else {}
        if version_id is not None:
            check_version_id(version_id)
        asked, null_id = await self._address(upstream, bucket, key, version_id)
        try:
            reply = await self.client.send("GET", upstream, name, headers=headers, stream=True,
                                           query=_version(asked), expect=(200, 206),
                                           subject=(bucket, key))
        except (errors.NoSuchKey, errors.NoSuchVersion):
            if not explain_missing:
                raise
            missing = await self._missing(upstream, name, bucket, key, asked)
            raise shown_error(missing, null_id) from None
        except errors.InvalidRange:
            size = (await self.head_object(bucket, key, version_id)).size
            raise errors.InvalidRange(ActualObjectSize=str(size)) from None
        response = reply.response
        assert response is not None
        try:
            span, size, skip, take = _served(reply, byte_range)
            info = shown(await self._info(bucket, key, reply.headers, size), null_id)
        except BaseException:
            response.close()
            raise
        direct = None
        length = span[1] - span[0] + 1 if span else size
        if skip == 0 and take is None and SplicedResponse.usable(response, length):
            direct = SplicedResponse(response, length, self.client.timeout,
                                     self.client.unavailable)
        return ObjectStream(info, span, self._body(response, skip, take), direct)

    async def _body(self, response: aiohttp.ClientResponse, skip: int = 0,
                    take: int | None = None) -> AsyncIterator[bytes]:
        """The bytes of an upstream response, optionally sliced; the response is released
        at the end, or dropped (never reused) when the reader stops early."""
        finished = False
        try:
            # iter_any forwards bytes as they arrive; iter_chunked would hold each MiB
            # back until it is complete, serialising upstream read and client write.
            async for chunk in response.content.iter_any():
                if skip:
                    dropped = min(skip, len(chunk))
                    chunk, skip = chunk[dropped:], skip - dropped
                if take is not None:
                    chunk, take = chunk[:take], take - min(take, len(chunk))
                if chunk:
                    yield chunk
                if take == 0:
                    break
            finished = True
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise self.client.unavailable(exc) from None
        finally:
            if finished and take is None:
                response.release()
            else:
                response.close()

    async def _open_upstream(self, upstream: str, name: str) -> AsyncIterator[bytes]:
        reply = await self.client.send("GET", upstream, name, stream=True)
        assert reply.response is not None
        return self._body(reply.response)

    async def delete_object(self, bucket: str, key: str,
                            version_id: str | None = None) -> DeleteOutcome:
        upstream = self.names.upstream(bucket)
        if version_id is not None:
            check_version_id(version_id)
        state = VERSIONING_ENABLED
        if version_id is None:
            # In a bucket not yet versioned upstream, a plain DELETE would destroy the
            # object instead of adding a delete marker.
            await self.versioning.ensure(upstream, bucket)
            state, _ = await self.versioning.state(upstream, bucket)
        asked, null_id = await self._address(upstream, bucket, key, version_id)
        if state == UNVERSIONED:
            await self.versioning.replace_null(upstream, bucket, key, None, null_id)
            return DeleteOutcome(None, False, removed=NULL_VERSION)
        reply = await self.client.send("DELETE", upstream, keys.encode_key(key),
                                       query=_version(asked), expect=(200, 204),
                                       subject=(bucket, key))
        marker = reply.headers.get("x-amz-delete-marker", "").lower() == "true"
        if state == VERSIONING_SUSPENDED:
            await self.versioning.replace_null(upstream, bucket, key,
                                               reply.headers.get("x-amz-version-id"), null_id)
            return DeleteOutcome(NULL_VERSION, True, removed=NULL_VERSION)
        if version_id == NULL_VERSION and null_id is not None:
            await self.versioning.replace_null(upstream, bucket, key, None, None)
            return DeleteOutcome(NULL_VERSION, marker)
        return DeleteOutcome(reply.headers.get("x-amz-version-id") or version_id, marker)

    async def list_objects(self, bucket: str, *, prefix: str = "", delimiter: str = "",
                           start_after: str = "", max_keys: int = 1000) -> ListPage:
        return await listing.list_objects(self.client, self.names.upstream(bucket), bucket,
                                          prefix=prefix, delimiter=delimiter,
                                          start_after=start_after, max_keys=max_keys)

    async def list_versions(self, bucket: str, *, prefix: str = "", delimiter: str = "",
                            key_marker: str = "", version_id_marker: str = "",
                            max_keys: int = 1000) -> VersionPage:
        if version_id_marker:
            check_version_id(version_id_marker)
        upstream = self.names.upstream(bucket)
        null_of = None
        if (await self.versioning.state(upstream, bucket))[1]:
            async def null_of(key: str) -> str | None:
                return await self.versioning.null_of(upstream, bucket, key)
        return await listing.list_versions(self.client, upstream, bucket,
                                           prefix=prefix, delimiter=delimiter,
                                           key_marker=key_marker,
                                           version_id_marker=version_id_marker,
                                           max_keys=max_keys, null_of=null_of)

    async def set_tags(self, bucket: str, key: str, tags: dict[str, str],
                       version_id: str | None = None) -> ObjectInfo:
        upstream, name = self.names.upstream(bucket), keys.encode_key(key)
        if version_id is not None:
            check_version_id(version_id)
        asked, null_id = await self._address(upstream, bucket, key, version_id)
        query = {"tagging": "", **_version(asked)}
        if len(tags) >= 2:
            target = asked or version_of(
                (await self._head_reply(upstream, bucket, key, None)).headers)
            await self._note_tag_order(bucket, key, target, tags)
        try:
            if tags:
                await self.client.send("PUT", upstream, name, query=query,
                                       body=xmldoc.tagging_document(tags), subject=(bucket, key))
            else:
                await self.client.send("DELETE", upstream, name, query=query,
                                       expect=(200, 204), subject=(bucket, key))
        except (errors.NoSuchKey, errors.NoSuchVersion):
            missing = await self._missing(upstream, name, bucket, key, asked)
            raise shown_error(missing, null_id) from None
        return await self.head_object(bucket, key, version_id)

    # -- the record store ---------------------------------------------------------------
    async def put_record(self, bucket: str, key: str, version_id: str,
                         body: bytes, *, first: bool = False) -> RecordInfo:
        if len(body) > MAX_RECORD_BYTES:
            raise errors.EntityTooLarge(MaxSizeAllowed=str(MAX_RECORD_BYTES))
        upstream, name = self.names.upstream(bucket), keys.record_name(key, version_id)
        await self.versioning.ensure(upstream, bucket)
        headers = {"Content-Type": "application/rdf+xml",
                   "Content-MD5": base64.b64encode(hashlib.md5(body).digest()).decode()}
        if first:
            # Every commit: nothing to replace, and no condition for the upstream to check
            # (If-None-Match costs SeaweedFS a lookup, about 1.3 ms of a versioned PUT).
            reply = await self.client.send("PUT", upstream, name, body=body, headers=headers,
                                           subject=(bucket, key))
        else:
            reply = await self._replace_record(upstream, name, bucket, key, body, headers)
        return RecordInfo(bucket, key, version_id, len(body), reply.etag,
                          _http_time(reply.headers.get("Date")))

    async def _replace_record(self, upstream: str, name: str, bucket: str, key: str,
                              body: bytes, headers: dict[str, str]) -> Reply:
        """Write a record that may replace one (an edit, a review event): one request
        when the version has none yet, else a second one and the old one's removal."""
        try:
            return await self.client.send("PUT", upstream, name, body=body,
                                          headers=headers | {"If-None-Match": "*"},
                                          subject=(bucket, key))
        except errors.PreconditionFailed:
            reply = await self.client.send("PUT", upstream, name, body=body, headers=headers,
                                           subject=(bucket, key))
            await drop_older(self.client, upstream, name, bucket)
            return reply

    async def get_record(self, bucket: str, key: str, version_id: str) -> StoredRecord | None:
        upstream = self.names.upstream(bucket)
        try:
            reply = await self.client.send("GET", upstream, keys.record_name(key, version_id),
                                           subject=(bucket, key))
        except (errors.NoSuchKey, errors.NoSuchVersion):
            await self._require_bucket(bucket)
            return None
        return StoredRecord(_record_info(bucket, key, version_id, reply.headers,
                                         len(reply.body)), reply.body)

    async def list_records(self, bucket: str, key: str) -> list[RecordInfo]:
        upstream, prefix = self.names.upstream(bucket), keys.record_prefix(key)
        await self._require_bucket(bucket)
        found = []
        async for listed in walk.walk(self.client, upstream, prefix, subject=(bucket, key)):
            if not listed.is_latest or listed.delete_marker:
                continue
            try:
                version_id = bytes.fromhex(listed.key[len(prefix):]).decode()
            except (ValueError, UnicodeDecodeError):
                continue   # not a name provgate wrote
            found.append(RecordInfo(bucket, key, version_id, listed.size, listed.etag,
                                    listed.last_modified))
        return found

    # -- multipart uploads (see uploads.py) --------------------------------------------------
    async def create_upload(self, bucket: str, key: str, attributes: ObjectAttributes,
                            owner: str) -> str:
        return await self.uploads.create(bucket, key, attributes, owner)

    async def get_upload(self, bucket: str, key: str, upload_id: str) -> UploadInfo:
        return (await self.uploads.load(bucket, key, upload_id)).info(bucket)

    async def upload_part(self, bucket: str, key: str, upload_id: str, number: int,
                          body: PartBody) -> PartInfo:
        return await self.uploads.upload_part(bucket, key, upload_id, number, body)

    async def list_parts(self, bucket: str, key: str, upload_id: str) -> list[PartInfo]:
        return await self.uploads.list_parts(bucket, key, upload_id)

    async def list_uploads(self, bucket: str, prefix: str = "") -> list[UploadInfo]:
        return await self.uploads.list(bucket, prefix)

    async def abort_upload(self, bucket: str, key: str, upload_id: str) -> None:
        await self.uploads.abort(bucket, key, upload_id)

    async def assemble_upload(self, bucket: str, key: str, upload_id: str,
                              parts: list[tuple[int, str]]) -> StagedObject:
        return await self.uploads.assemble(bucket, key, upload_id, parts)

    async def finish_upload(self, bucket: str, key: str, upload_id: str) -> None:
        await self.uploads.finish(bucket, key, upload_id)


def _record_info(bucket: str, key: str, version_id: str, headers: Mapping[str, str],
                 size: int) -> RecordInfo:
    return RecordInfo(bucket, key, version_id, size,
                      xmldoc.unquote_etag(headers.get("ETag", "")),
                      _http_time(headers.get("Last-Modified")))


def _version(version_id: str | None) -> dict[str, str]:
    """The query naming a version (none for the current one); a malformed id never
    reaches the upstream, which might read it as something else."""
    if version_id is None:
        return {}
    check_version_id(version_id)
    return {"versionId": version_id}


def _range_header(byte_range: ByteRange) -> str:
    if byte_range.first is None:
        return f"bytes=-{byte_range.last}"
    return f"bytes={byte_range.first}-{'' if byte_range.last is None else byte_range.last}"


def _served(reply: Reply, byte_range: ByteRange | None
            ) -> tuple[tuple[int, int] | None, int, int, int | None]:
    """(span, object size, bytes to skip, bytes to take) for a GET reply.

    An upstream that answers a range with the whole object (200) is sliced here, so a
    ranged read means the same on every upstream."""
    if reply.status == 206:
        content_range = reply.headers.get("Content-Range", "").removeprefix("bytes ")
        first_last, _, total = content_range.partition("/")
        first, _, last = first_last.partition("-")
        try:
            return (int(first), int(last)), int(total), 0, None
        except ValueError:
            raise errors.ServiceUnavailable(
                "the storage backend sent a malformed Content-Range") from None
    size = int(reply.headers.get("Content-Length", "0"))
    if byte_range is None:
        return None, size, 0, None
    start, end = byte_range.resolve(size)
    return (start, end), size, start, end - start + 1


# Cached: every read parses its Last-Modified, and objects of one second share it.
@functools.lru_cache(maxsize=256)
def _http_time(value: str | None) -> float:
    if not value:
        return 0.0
    try:
        return email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return 0.0
