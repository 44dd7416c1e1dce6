"""The gatekeeper: the one object every door holds, and the only code that changes
stored data.

The S3 handlers (and, as they come, the CLI, the admin API and the review UI) hold a
``Gatekeeper`` and nothing else: no storage backend, no catalog.  Every change to
stored data is one of its methods — writing an object (PutObject, CopyObject,
CompleteMultipartUpload, an XMP edit; all through :class:`IntakePipeline`, which runs
extraction and the policy stages and commits), deleting one, creating and deleting
buckets, tagging, and the multipart bookkeeping (create, upload part, abort).  Reads go
through it too, so a rule about what someone may see lives in one place: today, who sees
the quarantine bucket.

The gatekeeper speaks in typed errors (:mod:`gateway.errors`) and plain outcomes; how an
outcome looks on the wire is the door's business.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import logging
import time
from collections.abc import Callable

from gateway import errors, kv
from gateway.gatekeeper.completions import CompletedUploads, Completion, same_parts
from gateway.gatekeeper.pipeline import (IngestResult, IntakePipeline, WriteRequest,
                                         recorded_key)
from gateway.gatekeeper.review_gate import ReviewGate
from gateway.gatekeeper.upload_checksums import (CompletionChecks, object_checksums,
                                                 part_algorithms)
from gateway.identities import Identity
from gateway.review.states import REVIEW_TAG, REVIEW_TAG_VALUES
from gateway.config import VERSIONING_DEFAULT
from gateway.storage.base import (UNVERSIONED, VERSIONING_ENABLED, VERSIONING_SUSPENDED,
                                  BucketInfo, ByteRange, DeleteOutcome, ListPage,
                                  ObjectAttributes, ObjectInfo, ObjectPart, ObjectStream,
                                  PartBody, PartInfo, StagedObject, StorageBackend,
                                  UploadInfo, VersionPage)

log = logging.getLogger("provgate.gatekeeper")

# Keys of one DeleteObjects request deleted at once (S3 and MinIO also work through a
# bulk delete in parallel): one at a time, 1000 keys took ~14 s on the s3 backend.
BULK_DELETES = 16

# The least role that sees the quarantine bucket: it reads it and discards from it.
QUARANTINE_ROLE = "reviewer"


class Access(enum.Enum):
    """What a caller means to do with a bucket, as far as visibility rules care."""

    READ = "read"
    DISCARD = "discard"              # delete objects
    WRITE = "write"                  # anything else that changes the bucket or its objects
    CREATE_BUCKET = "create-bucket"


class QuarantineRefusal(enum.Enum):
    """Why the quarantine bucket is not available to a caller (see ``quarantine_refusal``)."""

    NAME_TAKEN = "name-taken"        # creating a bucket of that name: it exists, for anyone
    HIDDEN = "hidden"                # the caller may not know it exists
    INTAKE_ONLY = "intake-only"      # the caller sees it, but only intake writes into it


def check_write_tags(tags: dict[str, str]) -> None:
    """A write (PUT, Copy with REPLACE, multipart) may not carry the review tag: a new
    version is reviewed by a decision (PutObjectTagging by a reviewer), never by its
    writer's say-so."""
    if tags.get(REVIEW_TAG) in REVIEW_TAG_VALUES:
        raise errors.InvalidTag(
            f"The '{REVIEW_TAG}' tag records a review decision: set it with "
            "PutObjectTagging as a reviewer once the object is stored", TagKey=REVIEW_TAG)


class Gatekeeper:
    """``backend``            the storage backend (the gatekeeper's alone)
    ``intake``             the write-committing pipeline over the same backend
    ``quarantine_bucket``  where intake keeps writes a policy quarantined ("" = none)
    ``versioning``         ``[storage] versioning``: "enabled" | "off" | "locked" (see
                           ``gateway.config.StorageConfig``)
    """

    def __init__(self, backend: StorageBackend, intake: IntakePipeline, *,
                 quarantine_bucket: str = "", reviews: ReviewGate | None = None,
                 replication_status: Callable[[str, str, str], str | None] | None = None,
                 versioning: str = VERSIONING_DEFAULT) -> None:
        """``reviews``: the review stage (decisions sent as S3 object tags go there);
        ``replication_status(bucket, key, version_id)``: PENDING | COMPLETED | FAILED of a
        routed version, None when no route sends it anywhere."""
        self.backend = backend
        self.intake = intake
        self.quarantine_bucket = quarantine_bucket
        self.versioning = versioning
        self.reviews = reviews
        self._replication_status = replication_status
        self.completions = CompletedUploads(intake.catalog.env)

    # -- who sees what --------------------------------------------------------------------
    def quarantine_refusal(self, identity: Identity, bucket: str,
                           access: Access) -> QuarantineRefusal | None:
        """Whether ``identity`` may do ``access`` on ``bucket``, as far as the quarantine
        bucket is concerned (None: nothing against it).

        For readers and writers the quarantine bucket does not exist, so a quarantined
        object is invisible to them under any name.  Reviewers and admins read it like
        any bucket (``<quarantine bucket>/<bucket>/<key>``) and may discard from it;
        nobody writes into it but intake.
        """
        if not self.quarantine_bucket or bucket != self.quarantine_bucket:
            return None
        if access is Access.CREATE_BUCKET:
            return QuarantineRefusal.NAME_TAKEN
        if not identity.has_role(QUARANTINE_ROLE):
            return QuarantineRefusal.HIDDEN
        if access not in (Access.READ, Access.DISCARD):
            return QuarantineRefusal.INTAKE_ONLY
        return None

    def require_visible(self, identity: Identity, bucket: str) -> None:
        """NoSuchBucket when ``bucket`` is the quarantine bucket and ``identity`` may not
        know it exists: the one check for reads that name a bucket besides the request's
        own (the source of CopyObject and UploadPartCopy, and their conditions)."""
        if self.quarantine_refusal(identity, bucket, Access.READ) is QuarantineRefusal.HIDDEN:
            raise errors.NoSuchBucket(resource=f"/{bucket}", BucketName=bucket)

    # -- reading ------------------------------------------------------------------------
    async def list_buckets(self, identity: Identity) -> list[BucketInfo]:
        """The buckets ``identity`` may see, in name order: its bucket scope, never the
        quarantine bucket (S3 tools that sync every listed bucket must not sweep it up;
        reviewers reach it by name)."""
        return [b for b in await self.backend.list_buckets()
                if identity.may_access_bucket(b.name) and b.name != self.quarantine_bucket]

    async def head_bucket(self, bucket: str) -> BucketInfo:
        return await self.backend.head_bucket(bucket)

    async def list_objects(self, bucket: str, *, with_records: bool = False, **page) -> ListPage:
        """Current objects; ``with_records`` (identities with ``xmp = "listed"``) also
        lists each live object's XMP record as ``<key>.xmp``, read-only."""
        if with_records:
            return await self.intake.list_with_records(bucket, **page)
        return await self.backend.list_objects(bucket, **page)

    async def list_versions(self, bucket: str, **page) -> VersionPage:
        return await self.backend.list_versions(bucket, **page)

    async def head_object(self, bucket: str, key: str,
                          version_id: str | None = None) -> ObjectInfo:
        """The object at the key, or else the XMP record served there (see ``open_object``)."""
        if recorded_key(key) is None:
            return await self.backend.head_object(bucket, key, version_id)
        stream = await self.open_object(bucket, key, version_id=version_id)
        await stream.close()
        return stream.info

    async def object_parts(self, bucket: str, key: str,
                           version_id: str | None = None) -> list[ObjectPart] | None:
        """The parts the object at the key was uploaded in (None: one piece; an XMP
        record served at ``<key>.xmp`` is one piece too)."""
        try:
            return await self.backend.object_parts(bucket, key, version_id)
        except (errors.NoSuchKey, errors.NoSuchVersion):
            if recorded_key(key) is None:
                raise
            await self.head_object(bucket, key, version_id)   # the record, or the error
            return None

    async def open_object(self, bucket: str, key: str, byte_range: ByteRange | None = None, *,
                          version_id: str | None = None) -> ObjectStream:
        """The object at the key, or else the XMP record served there (``<key>.xmp``, of
        the current version of ``<key>`` or of its version ``version_id``): a real object
        of that name always wins."""
        if recorded_key(key) is None:
            return await self.backend.open_object(bucket, key, byte_range, version_id=version_id)
        try:
            # Why the object is missing (a delete marker?) matters only when no record is
            # served either: asked for then, not on every record read.
            return await self.backend.open_object(bucket, key, byte_range, version_id=version_id,
                                                  explain_missing=False)
        except (errors.NoSuchKey, errors.NoSuchVersion):
            pass
        try:
            return await self.intake.open_record(bucket, key, byte_range, version_id=version_id)
        except errors.NoSuchKey:
            pass
        return await self.backend.open_object(bucket, key, byte_range, version_id=version_id)

    def review_state(self, bucket: str, key: str, version_id: str) -> str | None:
        """The review status of a catalogued version (None: not catalogued)."""
        return self.intake.review_state(bucket, key, version_id)

    def replication_status(self, bucket: str, key: str, version_id: str) -> str | None:
        if self._replication_status is None:
            return None
        return self._replication_status(bucket, key, version_id)

    async def get_upload(self, bucket: str, key: str, upload_id: str) -> UploadInfo:
        return await self.backend.get_upload(bucket, key, upload_id)

    async def list_parts(self, bucket: str, key: str, upload_id: str) -> list[PartInfo]:
        return await self.backend.list_parts(bucket, key, upload_id)

    async def list_uploads(self, bucket: str, prefix: str = "") -> list[UploadInfo]:
        return await self.backend.list_uploads(bucket, prefix)

    # -- buckets --------------------------------------------------------------------------
    async def create_bucket(self, bucket: str, identity: Identity) -> None:
        """Create ``bucket`` owned by ``identity``, unversioned where ``versioning =
        "off"`` (S3's default), else versioned. A taken name is BucketAlreadyExists, or
        BucketAlreadyOwnedByYou when ``identity`` created it (or it has no owner: a
        bucket made before owners were noted, or by provgate for itself)."""
        try:
            await self.backend.create_bucket(
                bucket, identity.name,
                versioning=UNVERSIONED if self.versioning == "off" else VERSIONING_ENABLED)
        except errors.BucketAlreadyOwnedByYou:
            owner = await self.backend.bucket_owner(bucket)
            if owner and owner != identity.name:
                raise errors.BucketAlreadyExists(resource=f"/{bucket}",
                                                 BucketName=bucket) from None
            raise

    async def bucket_owner(self, bucket: str) -> str:
        """The name of the identity that created the bucket ("" when none was noted)."""
        return await self.backend.bucket_owner(bucket)

    async def bucket_cors(self, bucket: str) -> list[dict] | None:
        """The bucket's CORS rules as stored by ``set_bucket_cors`` (None: none set)."""
        rules = await self.backend.bucket_setting(bucket, "cors")
        return rules if isinstance(rules, list) else None

    async def set_bucket_cors(self, bucket: str, rules: list[dict] | None) -> None:
        """Replace (None: remove) the bucket's CORS rules."""
        await self.backend.set_bucket_setting(bucket, "cors", rules)

    async def get_versioning(self, bucket: str) -> str:
        return await self.backend.get_versioning(bucket)

    async def set_versioning(self, bucket: str, state: str) -> None:
        """Enable or suspend versioning; InvalidBucketState for suspending where
        ``versioning = "locked"`` (as S3 answers for a bucket whose object lock forbids it)."""
        if state == VERSIONING_SUSPENDED and self.versioning == "locked":
            raise errors.InvalidBucketState(
                "Versioning cannot be suspended on this gateway: it is configured with "
                "[storage] versioning = \"locked\", which keeps every version of every object.",
                resource=f"/{bucket}", BucketName=bucket)
        await self.backend.set_versioning(bucket, state)

    async def delete_bucket(self, bucket: str) -> None:
        await self.backend.delete_bucket(bucket)

    # -- objects --------------------------------------------------------------------------
    async def spool(self, body: PartBody) -> StagedObject:
        """Receive a body (hashing it) before anything is decided; see ``ingest``."""
        return await self.intake.spool(body)

    async def check_conditions(self, bucket: str, key: str, if_match: str | None,
                               if_none_match: bool) -> None:
        """A conditional write's conditions, checked as the request arrives (412 / 404);
        the write then says ``conditions_checked``. See ``IntakePipeline.check_conditions``."""
        await self.intake.check_conditions(bucket, key, if_match, if_none_match)

    async def ingest(self, write: WriteRequest) -> IngestResult:
        """Extract, judge and commit a write (an object or an XMP edit); a refused tag
        set releases the received body as any refused write does."""
        try:
            check_write_tags(write.attributes.tags)
        except errors.GatewayError:
            await write.staged.discard()
            raise
        return await self.intake.ingest(write)

    @staticmethod
    def copied_tags(tags: dict[str, str]) -> dict[str, str]:
        """The tags a copy takes from its source: all but the review decision, which was
        made on the source version and says nothing of the copy."""
        return {k: v for k, v in tags.items()
                if not (k == REVIEW_TAG and v in REVIEW_TAG_VALUES)}

    async def delete(self, bucket: str, key: str, version_id: str | None = None) -> DeleteOutcome:
        return await self.intake.delete(bucket, key, version_id)

    async def delete_many(self, bucket: str, named: list[tuple[str, str | None]]
                          ) -> list[DeleteOutcome | errors.GatewayError]:
        """Delete each (key, version id) as ``delete`` does, as S3's DeleteObjects does:
        up to ``BULK_DELETES`` keys at once, the entries of one key in the order given.
        Returns, in the order given, each entry's outcome or the error it met."""
        results: list[DeleteOutcome | errors.GatewayError | None] = [None] * len(named)
        entries_of: dict[str, list[int]] = {}
        for n, (key, _) in enumerate(named):
            entries_of.setdefault(key, []).append(n)
        gate = asyncio.Semaphore(BULK_DELETES)

        async def delete_key(entries: list[int]) -> None:
            async with gate:
                for n in entries:
                    key, version_id = named[n]
                    try:
                        results[n] = await self.intake.delete(bucket, key, version_id)
                    except errors.GatewayError as exc:
                        results[n] = exc

        await asyncio.gather(*(delete_key(entries) for entries in entries_of.values()))
        return results

    async def set_tags(self, bucket: str, key: str, tags: dict[str, str],
                       version_id: str | None = None, *,
                       identity: Identity | None = None) -> ObjectInfo:
        """Replace an object version's tag set (an empty one removes the tags).

        A ``review`` tag (approved | rejected | changes_requested) is a review decision
        by ``identity`` on the version it lands on, judged by the review stage before any
        tag is stored: a caller who may not decide gets AccessDenied and the tag set stays
        as it was. Setting the tag the version already carries decides nothing again."""
        decision = tags.get(REVIEW_TAG)
        if decision is not None:
            if decision not in REVIEW_TAG_VALUES:
                raise errors.InvalidTag(f"the {REVIEW_TAG} tag must be one of "
                                        f"{', '.join(REVIEW_TAG_VALUES)}")
            current = await self.backend.head_object(bucket, key, version_id)
            if current.attributes.tags.get(REVIEW_TAG) != decision:
                if self.reviews is None or identity is None:
                    raise errors.NotImplementedOperation("review decisions are not enabled")
                await self.reviews.decide(bucket, key, current.version_id, decision, identity,
                                          note="decided by S3 object tagging")
            version_id = current.version_id  # the version decided on, even if a newer came
        return await self.backend.set_tags(bucket, key, tags, version_id)

    # -- multipart uploads ------------------------------------------------------------------
    async def create_upload(self, bucket: str, key: str, attributes: ObjectAttributes,
                            owner: str) -> str:
        """Start a multipart upload; its tags (``x-amz-tagging``) are the object's at
        Complete, checked here already."""
        check_write_tags(attributes.tags)
        return await self.backend.create_upload(bucket, key, attributes, owner)

    async def upload_part(self, bucket: str, key: str, upload_id: str, number: int,
                          body: PartBody) -> PartInfo:
        """Store one part; the body computes the checksum of the upload's algorithm
        (``part_algorithms``) besides the client's."""
        return await self.backend.upload_part(bucket, key, upload_id, number, body)

    async def part_algorithms(self, bucket: str, key: str, upload_id: str,
                              sent: tuple[str, ...] | None) -> tuple[str, ...]:
        """The checksum algorithm a part of the upload must get (none, or the one
        CreateMultipartUpload named), given the ones the client ``sent`` (or will send in
        a trailer; None for a copied part); NoSuchUpload, or InvalidRequest when they do
        not fit the upload (``upload_checksums.part_algorithms``)."""
        upload = await self.backend.get_upload(bucket, key, upload_id)
        return part_algorithms(upload.attributes, sent)

    async def abort_upload(self, bucket: str, key: str, upload_id: str) -> None:
        await self.backend.abort_upload(bucket, key, upload_id)

    async def complete_upload(self, bucket: str, key: str, upload_id: str,
                              parts: list[tuple[int, str]], identity: Identity, *, door: str,
                              if_match: str | None = None, if_none_match: bool = False,
                              checks: CompletionChecks | None = None) -> IngestResult:
        """Assemble the named parts and ingest them as one write, with the metadata the
        upload was created with; the upload is finished once the object is committed.

        A retry of a Complete that succeeded (same upload, same parts) is answered with
        what the first answer said, for ``completions.KEEP_SECONDS``; its ``record`` is
        None (nothing new was ingested). ``checks``: the checksums, checksum type and size
        the request names, checked against the parts (``upload_checksums``); the object
        keeps the checksum of the upload's algorithm and type."""
        try:
            upload = await self.backend.get_upload(bucket, key, upload_id)
        except errors.NoSuchUpload:
            done = self.completions.find(bucket, key, upload_id)
            if done is None or not same_parts(parts, done.parts):
                raise
            return _retried(bucket, key, done)
        await self.intake.check_conditions(bucket, key, if_match, if_none_match)
        staged = await self.backend.assemble_upload(bucket, key, upload_id, parts)
        try:
            staged.checksums = object_checksums(upload.attributes, staged.part_list or [],
                                                checks or CompletionChecks())
        except BaseException:
            await staged.discard()
            raise
        # The upload's checksum choice made the object's checksum; the object has none.
        attributes = dataclasses.replace(upload.attributes, checksum_algorithm=None,
                                         checksum_type=None)
        try:
            result = await self.intake.ingest(WriteRequest(
                bucket, key, staged, attributes, identity, door=door,
                if_match=if_match, if_none_match=if_none_match, conditions_checked=True))
        except errors.PolicyDenied:
            # The policy judged the assembled bytes and the upload's metadata, neither of
            # which a retry can change: the parts go, as nothing of a denied write is kept.
            await self.backend.abort_upload(bucket, key, upload_id)
            raise
        # Remembered before the upload is forgotten: a retry finds one or the other.
        info = result.info
        try:
            await kv.offload(self.completions.remember, bucket, key, upload_id, Completion(
                parts, info.etag, None if result.quarantined else info.version_id, info.size,
                info.last_modified, dict(info.checksums), info.parts_count or len(parts),
                result.quarantined, time.time()))
        except Exception as exc:  # noqa: BLE001 — the object is committed: answer so
            log.warning("completion of upload %s not remembered (a retry of it will get "
                        "NoSuchUpload): %s", upload_id, exc)
        await self.backend.finish_upload(bucket, key, upload_id)
        return result


def _retried(bucket: str, key: str, done: Completion) -> IngestResult:
    """The answer to a retried Complete, from the memo of the first one."""
    info = ObjectInfo(bucket, key, done.size, done.etag, done.last_modified,
                      ObjectAttributes(), dict(done.checksums), done.parts_count,
                      version_id=done.version_id or "")
    return IngestResult(info, None, quarantined=done.quarantined)
