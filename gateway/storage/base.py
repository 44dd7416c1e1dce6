"""The storage backend interface: the one small surface every backend implements.

A backend stores buckets, objects (bytes + attributes), tags and multipart uploads. It
knows nothing of S3 wire formats, provenance or policy: ``gateway.s3`` speaks the protocol,
``gateway.intake`` decides what gets committed, and a backend only keeps what it is given.

Writes reach a backend in two steps, so that intake can inspect a complete object before
it becomes visible: the bytes are first *staged* (a local spool file for PUT and Copy, an
assembled multipart upload for Complete), then *committed* under their key atomically.
"""

from __future__ import annotations

import abc
import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from gateway import errors

# Content headers S3 stores with an object and returns on GET/HEAD, in canonical case.
CONTENT_HEADERS = ("Cache-Control", "Content-Disposition", "Content-Encoding",
                   "Content-Language", "Expires")
DEFAULT_CONTENT_TYPE = "binary/octet-stream"


@dataclass
class ObjectAttributes:
    """What a writer chooses about an object besides its bytes."""

    content_type: str = DEFAULT_CONTENT_TYPE
    content_headers: dict[str, str] = field(default_factory=dict)  # keys from CONTENT_HEADERS
    user_metadata: dict[str, str] = field(default_factory=dict)    # names lower-case, no x-amz-meta-
    tags: dict[str, str] = field(default_factory=dict)
    owner: str = ""                # name of the identity that wrote it

    def to_json(self) -> dict:
        return {"content_type": self.content_type, "content_headers": self.content_headers,
                "user_metadata": self.user_metadata, "tags": self.tags, "owner": self.owner}

    @classmethod
    def from_json(cls, doc: dict) -> ObjectAttributes:
        return cls(doc["content_type"], dict(doc["content_headers"]),
                   dict(doc["user_metadata"]), dict(doc["tags"]), doc.get("owner", ""))


@dataclass
class ObjectInfo:
    """A stored object as readers see it."""

    bucket: str
    key: str
    size: int
    etag: str                      # unquoted: md5 hex, or "<md5 of part md5s>-N"
    last_modified: float           # seconds since the epoch, UTC
    attributes: ObjectAttributes
    checksums: dict[str, str] = field(default_factory=dict)  # "CRC32" -> base64, as the client sent
    parts_count: int | None = None
    version_id: str | None = None


@dataclass
class BucketInfo:
    name: str
    created: float


@dataclass
class ListPage:
    """One page of a listing, in UTF-8 binary key order (S3's order)."""

    objects: list[ObjectInfo]
    common_prefixes: list[str]
    truncated: bool
    # The last key or common prefix on this page: where the next page starts after.
    last: str | None


@dataclass
class PartInfo:
    number: int
    etag: str                      # unquoted md5 hex of the part
    size: int
    last_modified: float
    checksums: dict[str, str] = field(default_factory=dict)


@dataclass
class UploadInfo:
    bucket: str
    key: str
    upload_id: str
    initiated: float
    attributes: ObjectAttributes
    owner: str = ""                # identity name that started it


@dataclass(frozen=True)
class ByteRange:
    """An HTTP byte range as requested: ``first-last``, ``first-`` or suffix ``-n``."""

    first: int | None
    last: int | None

    def resolve(self, size: int) -> tuple[int, int]:
        """Inclusive (start, end) within an object of ``size`` bytes, or InvalidRange."""
        if self.first is None:  # suffix range: the last n bytes
            if not self.last or size == 0:
                raise errors.InvalidRange(ActualObjectSize=str(size))
            return max(0, size - self.last), size - 1
        if self.first >= size:
            raise errors.InvalidRange(ActualObjectSize=str(size))
        end = size - 1 if self.last is None else min(self.last, size - 1)
        return self.first, end


class StagedObject(abc.ABC):
    """Complete bytes waiting to be committed under a key (or discarded)."""

    size: int
    md5_hex: str                   # the ETag it will get (for multipart: "<hex>-N")
    checksums: dict[str, str]
    parts_count: int | None = None

    @abc.abstractmethod
    def read(self, chunk_size: int = 1 << 20) -> AsyncIterator[bytes]:
        """Stream the staged bytes (for extraction, or to commit to another place)."""

    @abc.abstractmethod
    async def discard(self) -> None:
        """Drop the staged bytes; safe to call more than once."""


@dataclass
class ObjectStream:
    """An open object: its info, the byte span served, and the bytes."""

    info: ObjectInfo
    span: tuple[int, int] | None   # inclusive byte span when a range was asked for
    body: AsyncIterator[bytes]

    async def close(self) -> None:
        close = getattr(self.body, "aclose", None)
        if close is not None:
            await close()


class PartBody(Protocol):
    """A request body that verifies itself while it is read (see gateway.s3.auth)."""

    length: int | None             # decoded length when the client declared it
    checksums: dict[str, str]      # client checksums, "CRC32" -> base64; set once read
    md5_hex: str                   # md5 of the bytes read (the part's ETag); set once read

    def __aiter__(self) -> AsyncIterator[bytes]: ...


MIN_PART_SIZE = 5 * 1024 * 1024
MAX_PARTS = 10000


def multipart_etag(parts: list[PartInfo]) -> str:
    """S3's multipart ETag: md5 of the concatenated binary part md5s, then ``-N``."""
    digest = hashlib.md5(b"".join(bytes.fromhex(p.etag) for p in parts)).hexdigest()
    return f"{digest}-{len(parts)}"


def validate_completion(requested: list[tuple[int, str]],
                        stored: dict[int, PartInfo]) -> list[PartInfo]:
    """The stored parts a CompleteMultipartUpload names, checked as S3 checks them."""
    if not requested:
        raise errors.MalformedXML("CompleteMultipartUpload names no parts")
    chosen: list[PartInfo] = []
    previous = 0
    for number, etag in requested:
        if number <= previous:
            raise errors.InvalidPartOrder()
        previous = number
        part = stored.get(number)
        if part is None or part.etag != etag.strip('"').lower():
            raise errors.InvalidPart(PartNumber=str(number), ETag=etag)
        chosen.append(part)
    for part in chosen[:-1]:
        if part.size < MIN_PART_SIZE:
            raise errors.EntityTooSmall(PartNumber=str(part.number),
                                                ProposedSize=str(part.size),
                                                MinSizeAllowed=str(MIN_PART_SIZE))
    return chosen


class StorageBackend(abc.ABC):
    """What provgate needs from a place that keeps bytes."""

    # Local directory where intake spools request bodies before staging them. For the
    # fs backend it sits on the data filesystem, so staging and commit are renames.
    spool_dir: Path

    @abc.abstractmethod
    async def start(self) -> None: ...

    @abc.abstractmethod
    async def close(self) -> None: ...

    @abc.abstractmethod
    async def check(self) -> None:
        """Raise ServiceUnavailable with a reason when the backend cannot serve."""

    # -- buckets --------------------------------------------------------------------
    @abc.abstractmethod
    async def list_buckets(self) -> list[BucketInfo]: ...

    @abc.abstractmethod
    async def create_bucket(self, bucket: str) -> None:
        """Create, or raise BucketAlreadyOwnedByYou."""

    @abc.abstractmethod
    async def head_bucket(self, bucket: str) -> BucketInfo:
        """Return the bucket or raise NoSuchBucket."""

    @abc.abstractmethod
    async def delete_bucket(self, bucket: str) -> None:
        """Delete an empty bucket; NoSuchBucket / BucketNotEmpty otherwise."""

    # -- objects --------------------------------------------------------------------
    @abc.abstractmethod
    async def stage_file(self, path: Path, size: int, md5_hex: str,
                         checksums: dict[str, str]) -> StagedObject:
        """Adopt a complete local spool file as a staged object (the file is moved)."""

    @abc.abstractmethod
    async def commit(self, bucket: str, key: str, staged: StagedObject,
                     attributes: ObjectAttributes, *, if_match: str | None = None,
                     if_none_match: bool = False) -> ObjectInfo:
        """Make ``staged`` visible under ``key`` atomically, replacing any object there.

        ``if_match`` (an unquoted ETag) and ``if_none_match`` (no object may exist) are
        checked atomically with the commit: PreconditionFailed otherwise. On success the
        staged object is consumed; on failure it is left for the caller to discard.
        """

    @abc.abstractmethod
    async def head_object(self, bucket: str, key: str) -> ObjectInfo:
        """Return the object's info or raise NoSuchKey / NoSuchBucket."""

    @abc.abstractmethod
    async def open_object(self, bucket: str, key: str,
                          byte_range: ByteRange | None = None) -> ObjectStream: ...

    @abc.abstractmethod
    async def delete_object(self, bucket: str, key: str) -> None:
        """Delete if present; deleting a missing key is not an error (S3 semantics)."""

    @abc.abstractmethod
    async def list_objects(self, bucket: str, *, prefix: str = "", delimiter: str = "",
                           start_after: str = "", max_keys: int = 1000) -> ListPage: ...

    @abc.abstractmethod
    async def set_tags(self, bucket: str, key: str, tags: dict[str, str]) -> ObjectInfo:
        """Replace an object's tag set without touching its bytes or other attributes."""

    # -- multipart uploads ------------------------------------------------------------
    @abc.abstractmethod
    async def create_upload(self, bucket: str, key: str, attributes: ObjectAttributes,
                            owner: str) -> str:
        """Start a multipart upload; return its upload id."""

    @abc.abstractmethod
    async def get_upload(self, bucket: str, key: str, upload_id: str) -> UploadInfo:
        """Return the upload or raise NoSuchUpload."""

    @abc.abstractmethod
    async def upload_part(self, bucket: str, key: str, upload_id: str, number: int,
                          body: PartBody) -> PartInfo:
        """Store one part from a verified body stream (replacing the same number).

        The body raises at its end when verification fails; nothing may be recorded
        for the part then.
        """

    @abc.abstractmethod
    async def list_parts(self, bucket: str, key: str, upload_id: str) -> list[PartInfo]: ...

    @abc.abstractmethod
    async def list_uploads(self, bucket: str, prefix: str = "") -> list[UploadInfo]: ...

    @abc.abstractmethod
    async def abort_upload(self, bucket: str, key: str, upload_id: str) -> None: ...

    @abc.abstractmethod
    async def assemble_upload(self, bucket: str, key: str, upload_id: str,
                              parts: list[tuple[int, str]]) -> StagedObject:
        """Join the named parts (number, unquoted etag) into a staged object.

        Raises InvalidPart / InvalidPartOrder / EntityTooSmall (a part other than the
        last under 5 MiB). The upload stays open until commit or abort, so a Complete
        that intake refuses can be retried or aborted by the client.
        """

    @abc.abstractmethod
    async def finish_upload(self, bucket: str, key: str, upload_id: str) -> None:
        """Forget a completed upload's parts (after its staged object was committed)."""
