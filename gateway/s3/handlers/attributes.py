"""GetObjectAttributes: an object's ETag, checksum, parts, storage class and size in one
answer, without its bytes.

``x-amz-object-attributes`` names what to return (ETag, Checksum, ObjectParts,
StorageClass, ObjectSize); ``x-amz-max-parts`` and ``x-amz-part-number-marker`` page
through the parts. As S3 answers: the ETag unquoted; ObjectParts only for an object
uploaded in parts, listing each part (number, size, checksums) only when the object has
a checksum (the part count's element is ``<PartsCount>``, which SDKs call
TotalPartsCount); ``Last-Modified``, ``x-amz-version-id`` as headers.
"""

from __future__ import annotations

from aiohttp import web

from gateway import errors
from gateway.s3 import headers as h
from gateway.s3.call import S3Call
from gateway.s3.responses import xml_response
from gateway.storage.base import MAX_PARTS
from gateway.wire import checksums

ATTRIBUTES = ("ETag", "Checksum", "ObjectParts", "StorageClass", "ObjectSize")
MAX_LISTED_PARTS = 1000


def _requested(call: S3Call) -> set[str]:
    names = {n.strip() for v in call.headers.getall("x-amz-object-attributes", [])
             for n in v.split(",") if n.strip()}
    if not names:
        raise errors.InvalidArgument("Empty value for x-amz-object-attributes header",
                                     ArgumentName="x-amz-object-attributes")
    unknown = names - set(ATTRIBUTES)
    if unknown:
        raise errors.InvalidArgument("Invalid attribute name specified.",
                                     ArgumentName="x-amz-object-attributes",
                                     ArgumentValue=sorted(unknown)[0])
    return names


def _count(call: S3Call, name: str, default: int) -> int:
    raw = call.headers.get(name, str(default)).strip()
    if not raw.isdigit():
        raise errors.InvalidArgument(f"{name} must be a non-negative integer",
                                     ArgumentName=name, ArgumentValue=raw)
    return int(raw)


async def get_object_attributes(call: S3Call) -> web.Response:
    wanted = _requested(call)
    max_parts = min(_count(call, "x-amz-max-parts", MAX_LISTED_PARTS), MAX_LISTED_PARTS)
    marker = min(_count(call, "x-amz-part-number-marker", 0), MAX_PARTS)
    info = await call.gatekeeper.head_object(call.bucket, call.key, call.version_id)
    h.check_read_conditions(call.headers, info)
    doc: dict = {}
    if "ETag" in wanted:
        doc["ETag"] = info.etag
    if "Checksum" in wanted and info.checksums:
        doc["Checksum"] = {**{f"Checksum{a}": v for a, v in info.checksums.items()},
                           "ChecksumType": checksums.value_type(
                               next(iter(info.checksums.values())))}
    if "ObjectParts" in wanted:
        parts = await call.gatekeeper.object_parts(call.bucket, call.key, info.version_id)
        if parts is not None:
            doc["ObjectParts"] = _parts(parts, info.checksums, marker, max_parts)
    if "StorageClass" in wanted:
        doc["StorageClass"] = "STANDARD"
    if "ObjectSize" in wanted:
        doc["ObjectSize"] = info.size
    headers = {"Last-Modified": h.http_date(info.last_modified)}
    if info.version_id:
        headers["x-amz-version-id"] = info.version_id
    return xml_response("GetObjectAttributesResponse", doc, headers=headers)


def _parts(parts, object_checksums: dict[str, str], marker: int, max_parts: int) -> dict:
    after = [p for p in parts if p.number > marker]
    page = after[:max_parts]
    truncated = len(after) > len(page)
    doc = {"PartsCount": len(parts), "PartNumberMarker": marker,
           "NextPartNumberMarker": page[-1].number if page else marker,
           "MaxParts": max_parts, "IsTruncated": truncated}
    if object_checksums:
        doc["Part"] = [{"PartNumber": p.number, "Size": p.size,
                        **{f"Checksum{a}": v for a, v in p.checksums.items()
                           if a in object_checksums}} for p in page]
    return doc
