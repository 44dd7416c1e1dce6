"""The storage backend interface: the one small surface every backend implements.

A backend stores buckets, objects (bytes + attributes), tags and multipart uploads. It
knows nothing of S3 wire formats, provenance or policy: ``gateway.s3`` speaks the protocol,
``gateway.gatekeeper`` decides what gets committed, and a backend only keeps what it is given.

Writes reach a backend in two steps, so that intake can inspect a complete object before
it becomes visible: the bytes are first *staged* (a local spool file for PUT and Copy, an
assembled multipart upload for Complete), then *committed* under their key atomically.

A bucket is in one of S3's three versioning states (``VERSIONING_STATES``). Enabled: a
commit adds a new version of its key and keeps the previous one (bytes and attributes)
retrievable by version id; a delete without a version id adds a *delete marker*.
Unversioned (never enabled) and Suspended: a commit replaces the key's ``null`` version
(wherever it sits in the key's history) and becomes current; a delete without a version
id removes the ``null`` version and, when Suspended, adds a ``null`` delete marker. A
version id is an opaque string a backend issues (``"null"`` names such a version, and an
object stored before versioning); readers address a version with ``version_id`` and
never parse it.

Provenance keeps every version's XMP record, also of a ``null`` version that a later
write replaced: each stored version therefore has a *record id* (``ObjectInfo.record_id``)
unique among the key's versions ever written, which is its version id except for ``null``
versions, and the record store is keyed by it.
"""

from __future__ import annotations

import abc
import email.utils
import hashlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from gateway import errors
from gateway.wire.zerocopy import Source

# Content headers S3 stores with an object and returns on GET/HEAD, in canonical case.
CONTENT_HEADERS = ("Cache-Control", "Content-Disposition", "Content-Encoding",
                   "Content-Language", "Expires")
DEFAULT_CONTENT_TYPE = "binary/octet-stream"
NULL_VERSION = "null"          # the version id of an object stored while not versioning
# A bucket's versioning state, as GetBucketVersioning names it ("" = never enabled).
UNVERSIONED, VERSIONING_ENABLED, VERSIONING_SUSPENDED = "", "Enabled", "Suspended"
VERSIONING_STATES = (UNVERSIONED, VERSIONING_ENABLED, VERSIONING_SUSPENDED)
RECORD_SUFFIX = ".xmp"         # an object's XMP record is served at <key>.xmp
RECORD_CONTENT_TYPE = "application/rdf+xml"
# What any version id looks like: S3 and its clones issue ids of these characters (AWS
# uses base64-like ids, MinIO UUIDs, SeaweedFS hex), never path-like ones such as "../x".
# Anything else is malformed (400).
_VERSION_ID = re.compile(r"^(?!.*\.\.)[A-Za-z0-9_+=-][A-Za-z0-9._+/=-]{0,1023}$")


@dataclass
class ObjectAttributes:
    """What a writer chooses about an object besides its bytes."""

    content_type: str = DEFAULT_CONTENT_TYPE
    content_headers: dict[str, str] = field(default_factory=dict)  # keys from CONTENT_HEADERS
    user_metadata: dict[str, str] = field(default_factory=dict)    # names lower-case, no x-amz-meta-
    tags: dict[str, str] = field(default_factory=dict)
    owner: str = ""                # name of the identity that wrote it
    # A multipart upload's checksum, as CreateMultipartUpload named it: the algorithm
    # ("CRC32"...) and the type ("COMPOSITE" | "FULL_OBJECT"); kept with the upload only.
    checksum_algorithm: str | None = None
    checksum_type: str | None = None

    def to_json(self) -> dict:
        doc = {"content_type": self.content_type, "content_headers": self.content_headers,
               "user_metadata": self.user_metadata, "tags": tags_to_json(self.tags),
               "owner": self.owner}
        if self.checksum_algorithm:
            doc["checksum"] = [self.checksum_algorithm, self.checksum_type]
        return doc

    @classmethod
    def from_json(cls, doc: dict) -> ObjectAttributes:
        algorithm, kind = doc.get("checksum") or (None, None)
        return cls(doc["content_type"], dict(doc["content_headers"]),
                   dict(doc["user_metadata"]), tags_from_json(doc["tags"]),
                   doc.get("owner", ""), algorithm, kind)


def tags_to_json(tags: dict[str, str]) -> list[list[str]]:
    """A tag set as ``[[key, value], ...]``: S3 returns tags in the order they were set,
    and JSON objects lose their order where they are stored with sorted keys (kv)."""
    return [[k, v] for k, v in tags.items()]


def tags_from_json(doc: list | dict) -> dict[str, str]:
    """The inverse of ``tags_to_json``; a JSON object (as stored before) is read too."""
    return dict(doc) if isinstance(doc, dict) else {k: v for k, v in doc}


@dataclass
class ObjectInfo:
    """A stored object version as readers see it (or, in version listings, a delete
    marker: ``delete_marker`` set, no bytes, default attributes)."""

    bucket: str
    key: str
    size: int
    etag: str                      # unquoted: md5 hex, or "<md5 of part md5s>-N"
    last_modified: float           # seconds since the epoch, UTC
    attributes: ObjectAttributes
    checksums: dict[str, str] = field(default_factory=dict)  # "CRC32" -> base64, as the client sent
    parts_count: int | None = None
    version_id: str = NULL_VERSION
    is_latest: bool = True         # the key's current version (listings of versions say)
    delete_marker: bool = False
    # The backend's own id of a ``null`` version, unique per write ("" = the version id;
    # see the module docstring). Clients never see it.
    internal_id: str = ""

    @property
    def record_id(self) -> str:
        """The id the version's XMP record is stored under."""
        return self.internal_id or self.version_id


@dataclass
class ObjectPart:
    """One part of an object uploaded in parts, as GET ``?partNumber=`` and
    GetObjectAttributes show it (``checksums``: the part's, "CRC32" -> base64)."""

    number: int
    size: int
    checksums: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> list:
        return [self.number, self.size, self.checksums]

    @classmethod
    def from_json(cls, doc: list) -> ObjectPart:
        return cls(int(doc[0]), int(doc[1]), dict(doc[2]))


@dataclass
class DeleteOutcome:
    """What a delete did: the version id it created (a delete marker) or removed."""

    version_id: str | None
    delete_marker: bool            # a marker was created, or the version removed was one
    # A delete without a version id in an unversioned or suspended bucket removes the
    # ``null`` version for good: then NULL_VERSION (whether or not there was one).
    removed: str | None = None


@dataclass
class BucketInfo:
    name: str
    created: float


# Per-bucket settings a backend keeps for the gatekeeper, each a JSON document under its
# name (see ``StorageBackend.bucket_setting``): "cors" holds the CORS rules.
BUCKET_SETTINGS = ("cors",)


def check_setting_name(name: str) -> None:
    """ValueError for a name not in ``BUCKET_SETTINGS`` (a programming error)."""
    if name not in BUCKET_SETTINGS:
        raise ValueError(f"unknown bucket setting {name!r}")


@dataclass
class ListPage:
    """One page of a listing, in UTF-8 binary key order (S3's order)."""

    objects: list[ObjectInfo]
    common_prefixes: list[str]
    truncated: bool
    # The last key or common prefix on this page: where the next page starts after.
    last: str | None


@dataclass
class VersionPage:
    """One page of a version listing: keys in UTF-8 binary order, each key's versions and
    delete markers newest first (S3's order), common prefixes in their place by key."""

    versions: list[ObjectInfo]     # delete markers included (``delete_marker`` set)
    common_prefixes: list[str]
    truncated: bool
    # Where the next page starts: after this key (a common prefix, or a key whose
    # versions were all listed when next_version_id_marker is None) or this version.
    next_key_marker: str | None = None
    next_version_id_marker: str | None = None


def check_version_id(version_id: str) -> None:
    """InvalidArgument (400) for a version id no backend could have issued."""
    if not _VERSION_ID.match(version_id):
        raise errors.InvalidArgument("Invalid version id specified", ArgumentName="versionId",
                                     ArgumentValue=version_id)


def no_such_version(bucket: str, key: str, version_id: str) -> errors.GatewayError:
    return errors.NoSuchVersion(resource=f"/{bucket}/{key}", Key=key, VersionId=version_id)


def delete_marker_addressed(bucket: str, key: str, version_id: str,
                            last_modified: float | None = None) -> errors.GatewayError:
    """A delete marker named by version id: it has no bytes or tags (S3 answers 405)."""
    headers = {"x-amz-delete-marker": "true", "x-amz-version-id": version_id}
    if last_modified is not None:
        headers["Last-Modified"] = email.utils.formatdate(last_modified, usegmt=True)
    return errors.MethodNotAllowed(resource=f"/{bucket}/{key}", headers=headers,
                                   ResourceType="DeleteMarker")


def deleted_key(bucket: str, key: str, marker_version_id: str | None) -> errors.GatewayError:
    """NoSuchKey for a key, saying so when its current version is a delete marker."""
    headers = ({"x-amz-delete-marker": "true", "x-amz-version-id": marker_version_id}
               if marker_version_id is not None else {})
    return errors.NoSuchKey(resource=f"/{bucket}/{key}", headers=headers, Key=key)


@dataclass
class RecordInfo:
    """One stored XMP record: the object version it describes and its stored form."""

    bucket: str
    key: str                       # the object's key (not ``<key>.xmp``)
    version_id: str                # the object version the record describes
    size: int
    etag: str                      # unquoted md5 hex of the record's bytes
    last_modified: float


@dataclass
class StoredRecord:
    info: RecordInfo
    body: bytes


# Bucket layouts: where a bucket keeps its XMP records. 1: as ordinary ``<key>.xmp``
# objects beside the objects (provgate before the record store); 2: in the record store.
# A bucket created now starts at RECORD_STORE_LAYOUT; older ones are migrated on start.
OBJECT_RECORDS_LAYOUT = 1
RECORD_STORE_LAYOUT = 2

# The largest record a backend accepts: records are XML text of a few KiB (a ComfyUI
# workflow can make one a few hundred); anything larger is not a record provgate wrote.
MAX_RECORD_BYTES = 16 * 1024 * 1024


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
    sha256_hex: str | None = None  # of the whole content, when it was hashed on the way in
    part_list: list[ObjectPart] | None = None  # an assembled upload's parts, in order

    @abc.abstractmethod
    def read(self, chunk_size: int = 1 << 20) -> AsyncIterator[bytes]:
        """Stream the staged bytes (for extraction, or to commit to another place)."""

    @abc.abstractmethod
    async def discard(self) -> None:
        """Drop the staged bytes; safe to call more than once."""


@dataclass
class ObjectStream:
    """An open object: its info, the byte span served, and the bytes.

    ``direct``, when a backend offers it, is the same bytes as something the kernel can
    send to the client's socket itself (``gateway.wire.zerocopy``); a reader uses either
    it or ``body``, and closes the stream afterwards either way."""

    info: ObjectInfo
    span: tuple[int, int] | None   # inclusive byte span when a range was asked for
    body: AsyncIterator[bytes]
    direct: Source | None = None

    async def close(self) -> None:
        try:
            close = getattr(self.body, "aclose", None)
            if close is not None:
                await close()
        finally:
            if self.direct is not None:
                self.direct.close()


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
    """The stored parts a CompleteMultipartUpload names, checked as S3 checks them.

    A part number named twice in a row counts once, with the ETag named last: a client
    that sent a part again while its first upload was still running lists both answers,
    and the upload that finished last is the part."""
    if not requested:
        raise errors.MalformedXML("CompleteMultipartUpload names no parts")
    named: list[tuple[int, str]] = []
    for number, etag in requested:
        if named and number == named[-1][0]:
            named[-1] = (number, etag)
        elif named and number < named[-1][0]:
            raise errors.InvalidPartOrder()
        else:
            named.append((number, etag))
    chosen: list[PartInfo] = []
    for number, etag in named:
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
    async def start(self, *, recover: bool = True) -> None:
        """Open the store. ``recover`` (the serving gateway) also removes what a crashed
        process left behind (spool files, unreferenced bytes); a tool that runs beside a
        live gateway (``provgate reindex``) passes False, so in-flight writes are kept."""

    @abc.abstractmethod
    async def close(self) -> None: ...

    @abc.abstractmethod
    async def check(self) -> None:
        """Raise ServiceUnavailable with a reason when the backend cannot serve."""

    # -- buckets --------------------------------------------------------------------
    @abc.abstractmethod
    async def list_buckets(self) -> list[BucketInfo]: ...

    @abc.abstractmethod
    async def create_bucket(self, bucket: str, owner: str = "", *,
                            versioning: str = VERSIONING_ENABLED) -> None:
        """Create in the versioning state ``versioning`` (one of ``VERSIONING_STATES``),
        noting ``owner`` (the name of the identity that created it; "" for
        buckets provgate makes for itself), or raise BucketAlreadyOwnedByYou when the
        name is taken: the store knows one owner, provgate; who among provgate's
        identities owns it is ``bucket_owner``'s to say. Of creates that race, exactly
        one notes its owner. A bucket that has no owner noted (made before owners were
        kept) is claimed by the first create of its name, which still raises."""

    @abc.abstractmethod
    async def bucket_owner(self, bucket: str) -> str:
        """The owner noted at creation ("" for a bucket created without one, e.g. by a
        provgate that did not note owners yet); NoSuchBucket."""

    @abc.abstractmethod
    async def bucket_setting(self, bucket: str, name: str) -> dict | list | None:
        """The bucket's setting ``name`` (one of ``BUCKET_SETTINGS``), None when unset;
        NoSuchBucket."""

    @abc.abstractmethod
    async def set_bucket_setting(self, bucket: str, name: str,
                                 value: dict | list | None) -> None:
        """Store (None: remove) the bucket's setting ``name``, durably; NoSuchBucket.
        The setting goes with the bucket when it is deleted."""

    @abc.abstractmethod
    async def get_versioning(self, bucket: str) -> str:
        """The bucket's versioning state (``VERSIONING_STATES``); a bucket made before
        the states existed is Enabled. NoSuchBucket."""

    @abc.abstractmethod
    async def set_versioning(self, bucket: str, state: str) -> None:
        """Enable or suspend versioning (never back to unversioned, as in S3)."""

    @abc.abstractmethod
    async def head_bucket(self, bucket: str) -> BucketInfo:
        """Return the bucket or raise NoSuchBucket."""

    @abc.abstractmethod
    async def delete_bucket(self, bucket: str) -> None:
        """Delete a bucket in which no key has a current version; NoSuchBucket otherwise,
        or BucketNotEmpty while some key has one. Its record store goes with it.

        Deliberately unlike S3, which refuses while any version or delete marker is left:
        the noncurrent versions and delete markers (and unfinished uploads) are purged
        with the bucket, so that ``aws s3 rm --recursive`` then ``aws s3 rb`` works as
        users expect of a bucket they never chose to version.
        """

    # -- objects --------------------------------------------------------------------
    @abc.abstractmethod
    async def stage_file(self, path: Path, size: int, md5_hex: str,
                         checksums: dict[str, str]) -> StagedObject:
        """Adopt a complete local spool file as a staged object (the file is moved)."""

    @abc.abstractmethod
    async def commit(self, bucket: str, key: str, staged: StagedObject,
                     attributes: ObjectAttributes, *, if_match: str | None = None,
                     if_none_match: bool = False, read_back: bool = True) -> ObjectInfo:
        """Make ``staged`` the new current version of ``key``, atomically; the previous
        version stays retrievable, unless the bucket is not versioning and it was the
        ``null`` version (see the module docstring). Returns the new version's info (its
        version id and, for a ``null`` version, its internal id set).

        ``read_back=False`` says the caller has no use for the stored Last-Modified: a
        backend that would have to ask its store for it (s3: a HEAD) may report the time
        the store acknowledged the write instead, which can be a second later.

        ``if_match`` (an unquoted ETag) and ``if_none_match`` (no current version may
        exist; a delete marker counts as none) are checked against the current version
        atomically with the commit: PreconditionFailed otherwise. On success the staged
        object is consumed; on failure it is left for the caller to discard.
        """

    @abc.abstractmethod
    async def head_object(self, bucket: str, key: str,
                          version_id: str | None = None) -> ObjectInfo:
        """The current version's info, or the named version's.

        NoSuchBucket; NoSuchKey when there is no current version (with
        ``x-amz-delete-marker`` when the current version is a delete marker, see
        ``deleted_key``); NoSuchVersion for an unknown version; MethodNotAllowed for a
        delete marker named by version (``delete_marker_addressed``); InvalidArgument for
        a malformed version id.
        """

    @abc.abstractmethod
    async def open_object(self, bucket: str, key: str, byte_range: ByteRange | None = None,
                          version_id: str | None = None, *,
                          explain_missing: bool = True) -> ObjectStream:
        """The bytes of the current or the named version; errors as ``head_object``.

        ``explain_missing=False`` is for a caller with another answer for a missing key
        (the gatekeeper serves a record at ``<key>.xmp``): a miss may then be a bare
        NoSuchKey or NoSuchVersion, without saying whether the key's current version is
        a delete marker, which costs an upstream S3 further requests. The caller asks
        again, explained, when it shows the error after all."""

    @abc.abstractmethod
    async def object_parts(self, bucket: str, key: str,
                           version_id: str | None = None) -> list[ObjectPart] | None:
        """The parts of the current or the named version, as its commit's staged object
        had them (``part_list``), in order; None for an object not uploaded in parts.
        Errors as ``head_object``."""

    @abc.abstractmethod
    async def delete_object(self, bucket: str, key: str,
                            version_id: str | None = None) -> DeleteOutcome:
        """Without a version id, add a delete marker as the key's current version (even
        for a key that has none, as S3 does) in a versioned bucket; in an unversioned or
        suspended one, remove the ``null`` version (suspended: and add a ``null`` delete
        marker). With one, remove that version or delete marker for good (the next
        newest becomes current); an unknown version id is not an error (S3 semantics), a
        malformed one is InvalidArgument."""

    @abc.abstractmethod
    async def list_objects(self, bucket: str, *, prefix: str = "", delimiter: str = "",
                           start_after: str = "", max_keys: int = 1000) -> ListPage:
        """Current versions only: keys whose current version is a delete marker are not
        listed."""

    @abc.abstractmethod
    async def list_versions(self, bucket: str, *, prefix: str = "", delimiter: str = "",
                            key_marker: str = "", version_id_marker: str = "",
                            max_keys: int = 1000) -> VersionPage:
        """Versions and delete markers, S3's ListObjectVersions: starting after
        ``key_marker`` (all its versions), or after its version ``version_id_marker``."""

    @abc.abstractmethod
    async def set_tags(self, bucket: str, key: str, tags: dict[str, str],
                       version_id: str | None = None) -> ObjectInfo:
        """Replace the tag set of the current or the named version, without touching its
        bytes or other attributes (errors as ``head_object``)."""

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
        """Join the named parts (number, unquoted etag) into a staged object whose
        ``part_list`` lists them (sizes and checksums), for ``commit`` to keep.

        Raises InvalidPart / InvalidPartOrder / EntityTooSmall (a part other than the
        last under 5 MiB). The upload stays open until commit or abort, so a Complete
        that intake refuses can be retried or aborted by the client.
        """

    @abc.abstractmethod
    async def finish_upload(self, bucket: str, key: str, upload_id: str) -> None:
        """Forget a completed upload's parts (after its staged object was committed)."""

    # -- the record store ---------------------------------------------------------------
    @abc.abstractmethod
    async def put_record(self, bucket: str, key: str, version_id: str,
                         body: bytes, *, first: bool = False) -> RecordInfo:
        """Store (or replace) the XMP record of object version ``version_id`` (its record
        id: ``ObjectInfo.record_id``) of ``key``, durably. NoSuchBucket when the bucket is gone.

        ``first``: the version was just committed, so it has no record yet (record ids
        are never reused); a backend may then skip looking for one to replace."""

    @abc.abstractmethod
    async def get_record(self, bucket: str, key: str, version_id: str) -> StoredRecord | None:
        """The record of that object version (by its record id), or None when it has none."""

    @abc.abstractmethod
    async def list_records(self, bucket: str, key: str) -> list[RecordInfo]:
        """The records kept for ``key``: one per object version that was recorded,
        including versions deleted since (any order)."""

    @abc.abstractmethod
    async def bucket_layout(self, bucket: str) -> int:
        """The bucket's layout (OBJECT_RECORDS_LAYOUT for a bucket that predates the
        record store and was not migrated yet); NoSuchBucket."""

    @abc.abstractmethod
    async def set_bucket_layout(self, bucket: str, layout: int) -> None:
        """Note that the bucket now has ``layout`` (after a migration)."""


def record_name(key: str) -> str:
    """Where the record of ``key`` is served: ``<key>.xmp``."""
    return key + RECORD_SUFFIX


def recorded_key(name: str) -> str | None:
    """For ``<key>.xmp``, the key whose record that name serves; None otherwise."""
    if name.endswith(RECORD_SUFFIX) and len(name) > len(RECORD_SUFFIX):
        return name[: -len(RECORD_SUFFIX)]
    return None
