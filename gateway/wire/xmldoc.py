"""The few S3 XML documents the backend reads and writes.

Everything read from the network goes through ``defusedxml`` (no entity expansion, no
external references). Namespaces are dropped: S3 implementations disagree on them.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from urllib.parse import unquote
from xml.etree.ElementTree import Element
from xml.sax.saxutils import escape

from defusedxml import ElementTree
from defusedxml.common import DefusedXmlException

from gateway import errors


def parse(body: bytes) -> Element:
    try:
        root = ElementTree.fromstring(body)
    except (ElementTree.ParseError, DefusedXmlException, ValueError) as exc:
        raise errors.ServiceUnavailable(f"upstream S3 sent unreadable XML: {exc}") from None
    for element in root.iter():
        if isinstance(element.tag, str) and element.tag.startswith("{"):
            element.tag = element.tag.split("}", 1)[1]
    return root


def text(element: Element, name: str, default: str = "") -> str:
    child = element.find(name)
    return default if child is None or child.text is None else child.text


def iso_time(value: str) -> float:
    if not value:
        return 0.0
    try:
        parsed = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return 0.0
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.timezone.utc)
    return parsed.timestamp()


def unquote_etag(value: str) -> str:
    return value.strip().strip('"').lower()


@dataclass
class UpstreamError:
    code: str
    message: str


def error(body: bytes) -> UpstreamError | None:
    """The ``<Error>`` in a body, if it is one (S3 may send one with status 200)."""
    if not body.lstrip().startswith(b"<"):
        return None
    try:
        root = parse(body)
    except errors.ServiceUnavailable:
        return None
    if root.tag != "Error":
        return None
    return UpstreamError(text(root, "Code"), text(root, "Message"))


@dataclass
class ListedBucket:
    name: str
    created: float


def buckets(body: bytes) -> list[ListedBucket]:
    root = parse(body)
    container = root.find("Buckets")
    if container is None:
        return []
    return [ListedBucket(text(b, "Name"), iso_time(text(b, "CreationDate")))
            for b in container.findall("Bucket")]


@dataclass
class ListedObject:
    key: str                       # upstream key
    size: int
    etag: str
    last_modified: float


@dataclass
class ObjectListing:
    objects: list[ListedObject]
    truncated: bool


def object_listing(body: bytes) -> ObjectListing:
    """A ListObjectsV2 page requested with ``encoding-type=url``."""
    root = parse(body)
    encoded = text(root, "EncodingType") == "url"
    objects = []
    for item in root.findall("Contents"):
        key = text(item, "Key")
        objects.append(ListedObject(
            unquote(key) if encoded else key, int(text(item, "Size", "0")),
            unquote_etag(text(item, "ETag")), iso_time(text(item, "LastModified"))))
    return ObjectListing(objects, text(root, "IsTruncated").lower() == "true")


@dataclass
class ListedVersion:
    key: str                       # upstream key
    version_id: str
    is_latest: bool
    delete_marker: bool
    size: int
    etag: str
    last_modified: float


@dataclass
class VersionListing:
    versions: list[ListedVersion]  # in document order (see version_listing)
    truncated: bool


def version_listing(body: bytes) -> VersionListing:
    """A ListObjectVersions page requested with ``encoding-type=url``.

    S3 interleaves ``<Version>`` and ``<DeleteMarker>`` in listing order; some upstreams
    (SeaweedFS) send all versions first, then all delete markers. Both come back here
    in document order; ``walk`` puts each key's entries back in version order.
    """
    root = parse(body)
    encoded = text(root, "EncodingType") == "url"
    found = []
    for item in root:
        if item.tag not in ("Version", "DeleteMarker"):
            continue
        key = text(item, "Key")
        found.append(ListedVersion(
            unquote(key) if encoded else key, text(item, "VersionId") or "null",
            text(item, "IsLatest").lower() == "true", item.tag == "DeleteMarker",
            int(text(item, "Size", "0")), unquote_etag(text(item, "ETag")),
            iso_time(text(item, "LastModified"))))
    return VersionListing(found, text(root, "IsTruncated").lower() == "true")


def upload_id(body: bytes) -> str:
    value = text(parse(body), "UploadId")
    if not value:
        raise errors.ServiceUnavailable("upstream S3 started a multipart upload without an id")
    return value


@dataclass
class ListedPart:
    number: int
    etag: str
    size: int
    last_modified: float


@dataclass
class PartListing:
    parts: list[ListedPart]
    truncated: bool
    next_marker: int


def part_listing(body: bytes) -> PartListing:
    root = parse(body)
    parts = [ListedPart(int(text(p, "PartNumber", "0")), unquote_etag(text(p, "ETag")),
                        int(text(p, "Size", "0")), iso_time(text(p, "LastModified")))
             for p in root.findall("Part")]
    marker = text(root, "NextPartNumberMarker", "0")
    return PartListing(parts, text(root, "IsTruncated").lower() == "true",
                       int(marker) if marker.isdigit() else 0)


def result_etag(body: bytes) -> str:
    """The ETag in a CopyObjectResult, CopyPartResult or CompleteMultipartUploadResult."""
    return unquote_etag(text(parse(body), "ETag"))


def tags(body: bytes) -> dict[str, str]:
    root = parse(body)
    container = root.find("TagSet")
    if container is None:
        return {}
    return {text(tag, "Key"): text(tag, "Value") for tag in container.findall("Tag")}


# -- documents sent upstream --------------------------------------------------------
def tagging_document(tag_set: dict[str, str]) -> bytes:
    items = "".join(f"<Tag><Key>{escape(k)}</Key><Value>{escape(v)}</Value></Tag>"
                    for k, v in tag_set.items())
    return (f'<?xml version="1.0" encoding="UTF-8"?>'
            f"<Tagging><TagSet>{items}</TagSet></Tagging>").encode()


def completion_document(parts: list[tuple[int, str]]) -> bytes:
    items = "".join(f"<Part><PartNumber>{n}</PartNumber><ETag>\"{escape(etag)}\"</ETag></Part>"
                    for n, etag in parts)
    return (f'<?xml version="1.0" encoding="UTF-8"?>'
            f"<CompleteMultipartUpload>{items}</CompleteMultipartUpload>").encode()


def versioning_document() -> bytes:
    return (b'<?xml version="1.0" encoding="UTF-8"?><VersioningConfiguration>'
            b"<Status>Enabled</Status></VersioningConfiguration>")


def versioning_status(body: bytes) -> str:
    return text(parse(body), "Status")


def bucket_configuration(region: str) -> bytes:
    return ('<?xml version="1.0" encoding="UTF-8"?><CreateBucketConfiguration>'
            f"<LocationConstraint>{escape(region)}</LocationConstraint>"
            "</CreateBucketConfiguration>").encode()
