"""Multipart uploads: Create, UploadPart(Copy), Complete, Abort, ListParts, ListUploads."""

from __future__ import annotations

from aiohttp import web

from gateway import errors
from gateway.gatekeeper.pipeline import StreamBody
from gateway.gatekeeper.upload_checksums import CompletionChecks, upload_checksum
from gateway.s3 import headers as h
from gateway.wire import checksums, xml
from gateway.s3.call import S3Call
from gateway.s3.handlers.objects import open_copy_source, write_conditions, write_headers
from gateway.s3.responses import owner, xml_response
from gateway.storage.base import MAX_PARTS, ByteRange

MAX_LIST = 1000


async def create_multipart_upload(call: S3Call) -> web.Response:
    attributes = h.attributes_from(call.object_fields())
    attributes.owner = call.identity.name
    attributes.checksum_algorithm, attributes.checksum_type = upload_checksum(
        call.headers.get("x-amz-checksum-algorithm"), call.headers.get("x-amz-checksum-type"))
    upload_id = await call.gatekeeper.create_upload(call.bucket, call.key, attributes,
                                                 call.identity.name)
    headers = {}
    if attributes.checksum_algorithm:
        headers["x-amz-checksum-algorithm"] = attributes.checksum_algorithm
        headers["x-amz-checksum-type"] = attributes.checksum_type
    return xml_response("InitiateMultipartUploadResult", {
        "Bucket": call.bucket, "Key": call.key, "UploadId": upload_id}, headers=headers)


def _part_number(call: S3Call) -> int:
    number = h.part_number(call.query)
    if number is None:
        raise errors.InvalidArgument(f"Part number must be an integer between 1 and {MAX_PARTS}, inclusive",
                                     ArgumentName="partNumber", ArgumentValue="")
    return number


def _copy_range(value: str | None) -> ByteRange | None:
    if value is None:
        return None
    parsed = h.parse_range(value)
    if parsed is None or parsed.first is None or parsed.last is None:
        raise errors.InvalidArgument("The x-amz-copy-source-range value must be of the form bytes=first-last",
                                     ArgumentName="x-amz-copy-source-range", ArgumentValue=value)
    return parsed


async def upload_part(call: S3Call) -> web.Response:
    number = _part_number(call)
    upload_id = call.query["uploadId"]
    if "x-amz-copy-source" in call.headers:
        return await _upload_part_copy(call, number, upload_id)
    also = await call.gatekeeper.part_algorithms(call.bucket, call.key, upload_id,
                                                 call.auth.payload.algorithms)
    # A part's own SHA-256 is never used: the object's is taken at Complete.
    part = await call.gatekeeper.upload_part(call.bucket, call.key, upload_id, number,
                                             call.body(also, sha256=False))
    headers = {"ETag": f'"{part.etag}"'}
    for algorithm, value in part.checksums.items():
        headers[f"x-amz-checksum-{algorithm.lower()}"] = value
    return web.Response(status=200, headers=headers)


async def _upload_part_copy(call: S3Call, number: int, upload_id: str) -> web.Response:
    also = await call.gatekeeper.part_algorithms(call.bucket, call.key, upload_id, None)
    byte_range = _copy_range(call.headers.get("x-amz-copy-source-range"))
    _, _, stream = await open_copy_source(call, byte_range)
    try:
        if byte_range is not None and (byte_range.last >= stream.info.size):
            raise errors.InvalidRange(ActualObjectSize=str(stream.info.size))
        length = (stream.span[1] - stream.span[0] + 1) if stream.span else stream.info.size
        part = await call.gatekeeper.upload_part(call.bucket, call.key, upload_id, number,
                                              StreamBody(stream.body, length, also,
                                                         sha256=False))
    finally:
        await stream.close()
    return xml_response("CopyPartResult", {"ETag": f'"{part.etag}"',
                                           "LastModified": xml.iso_time(part.last_modified),
                                           **{f"Checksum{a}": v
                                              for a, v in part.checksums.items()}},
                        headers={"x-amz-copy-source-version-id": stream.info.version_id})


def _completion_parts(body: bytes, checks: CompletionChecks) -> list[tuple[int, str]]:
    """The parts a Complete names; their checksums go into ``checks``."""
    root = xml.parse(body, "CompleteMultipartUpload")
    parts = []
    for part in xml.children(root, "Part"):
        raw_number = xml.child_text(part, "PartNumber", required=True).strip()
        if not raw_number.isdigit():
            raise errors.MalformedXML("PartNumber must be a number")
        number = int(raw_number)
        parts.append((number, xml.child_text(part, "ETag", required=True).strip()))
        named = {a: xml.child_text(part, f"Checksum{a}") for a in checksums.ALGORITHMS}
        checks.part_checksums[number] = {a: v.strip() for a, v in named.items() if v}
    if len(parts) > MAX_PARTS:
        raise errors.MalformedXML(f"A multipart upload has at most {MAX_PARTS} parts")
    return parts


def _completion_checks(call: S3Call) -> CompletionChecks:
    """The whole-object checksum, checksum type and size a Complete's headers name."""
    checks = CompletionChecks(checksum_type=call.headers.get("x-amz-checksum-type"))
    for name in call.headers:
        algorithm = checksums.algorithm_for_header(name)
        if algorithm is not None:
            checks.object_checksums[algorithm] = call.headers[name].strip()
    size = call.headers.get("x-amz-mp-object-size")
    if size is not None:
        if not size.strip().isdigit():
            raise errors.InvalidArgument("x-amz-mp-object-size must be a non-negative integer",
                                         ArgumentName="x-amz-mp-object-size", ArgumentValue=size)
        checks.object_size = int(size)
    return checks


async def complete_multipart_upload(call: S3Call) -> web.Response:
    upload_id = call.query["uploadId"]
    checks = _completion_checks(call)
    body = await call.small_body(xml.MAX_REQUEST_XML, object_checksum_headers=True)
    parts = _completion_parts(body, checks)
    if_match, if_none_match = write_conditions(call)
    door = call.door
    result = await call.gatekeeper.complete_upload(
        call.bucket, call.key, upload_id, parts, call.identity, door=door,
        if_match=if_match, if_none_match=if_none_match, checks=checks)
    info = result.info
    host = call.request.host
    headers = write_headers(result)
    return xml_response("CompleteMultipartUploadResult", {
        "Location": f"{call.request.scheme}://{host}/{call.bucket}/{call.key}",
        "Bucket": call.bucket, "Key": call.key, "ETag": f'"{info.etag}"',
        **{f"Checksum{a}": v for a, v in info.checksums.items()},
        "ChecksumType": headers.get("x-amz-checksum-type"),
    }, headers=headers)


async def abort_multipart_upload(call: S3Call) -> web.Response:
    await call.gatekeeper.abort_upload(call.bucket, call.key, call.query["uploadId"])
    return web.Response(status=204)


def _bounded_int(call: S3Call, name: str, default: int, upper: int) -> int:
    raw = call.query.get(name, str(default))
    if not raw.isdigit():
        raise errors.InvalidArgument(f"{name} must be a non-negative integer", ArgumentName=name,
                                     ArgumentValue=raw)
    return min(int(raw), upper)


async def list_parts(call: S3Call) -> web.Response:
    upload_id = call.query["uploadId"]
    upload = await call.gatekeeper.get_upload(call.bucket, call.key, upload_id)
    marker = _bounded_int(call, "part-number-marker", 0, MAX_PARTS)
    max_parts = _bounded_int(call, "max-parts", MAX_LIST, MAX_LIST)
    remaining = [p for p in await call.gatekeeper.list_parts(call.bucket, call.key, upload_id)
                 if p.number > marker]
    page = remaining[:max_parts]
    truncated = len(remaining) > len(page)
    return xml_response("ListPartsResult", {
        "Bucket": call.bucket, "Key": call.key, "UploadId": upload_id,
        "Initiator": owner(upload.owner), "Owner": owner(upload.owner),
        "StorageClass": "STANDARD", "PartNumberMarker": marker,
        "NextPartNumberMarker": page[-1].number if page else marker,
        "MaxParts": max_parts, "IsTruncated": truncated,
        "ChecksumAlgorithm": upload.attributes.checksum_algorithm,
        "ChecksumType": upload.attributes.checksum_type,
        "Part": [{"PartNumber": p.number, "LastModified": xml.iso_time(p.last_modified),
                  "ETag": f'"{p.etag}"', "Size": p.size,
                  **{f"Checksum{a}": v for a, v in p.checksums.items()}} for p in page],
    })


async def list_multipart_uploads(call: S3Call) -> web.Response:
    prefix = call.query.get("prefix", "")
    delimiter = call.query.get("delimiter", "")
    key_marker = call.query.get("key-marker", "")
    id_marker = call.query.get("upload-id-marker", "")
    max_uploads = _bounded_int(call, "max-uploads", MAX_LIST, MAX_LIST)
    encode = call.query.get("encoding-type") == "url"
    uploads, prefixes = [], []
    truncated = False
    # Uploads of one key come in the backend's order (initiation time), not upload-id
    # order: the upload-id marker is passed by position, never compared as a string.
    before_id_marker = bool(key_marker and id_marker)
    last_marker: tuple[str, str] | None = None  # (key or common prefix, upload id or "")
    for upload in await call.gatekeeper.list_uploads(call.bucket, prefix):
        if key_marker and upload.key < key_marker:
            continue
        if key_marker and upload.key == key_marker:
            if before_id_marker and upload.upload_id == id_marker:
                before_id_marker = False
                continue
            if not id_marker or before_id_marker:
                continue
        cut = upload.key.find(delimiter, len(prefix)) if delimiter else -1
        common = upload.key[:cut + len(delimiter)] if cut >= 0 else None
        if common is not None and (common in prefixes or common <= key_marker):
            continue
        if len(uploads) + len(prefixes) >= max_uploads:
            truncated = True
            break
        if common is not None:
            prefixes.append(common)
            last_marker = (common, "")
        else:
            uploads.append(upload)
            last_marker = (upload.key, upload.upload_id)
    next_key, next_id = last_marker if truncated and last_marker else (None, None)
    return xml_response("ListMultipartUploadsResult", {
        "Bucket": call.bucket, "KeyMarker": h.url_encode(key_marker, encode),
        "UploadIdMarker": id_marker,
        "NextKeyMarker": h.url_encode(next_key, encode),
        "NextUploadIdMarker": next_id,
        "Prefix": h.url_encode(prefix, encode), "Delimiter": h.url_encode(delimiter or None, encode),
        "MaxUploads": max_uploads, "EncodingType": "url" if encode else None,
        "IsTruncated": truncated,
        "Upload": [{"Key": h.url_encode(u.key, encode), "UploadId": u.upload_id,
                    "Initiator": owner(u.owner), "Owner": owner(u.owner),
                    "StorageClass": "STANDARD", "Initiated": xml.iso_time(u.initiated),
                    "ChecksumAlgorithm": u.attributes.checksum_algorithm,
                    "ChecksumType": u.attributes.checksum_type}
                   for u in uploads],
        "CommonPrefixes": [{"Prefix": h.url_encode(p, encode)} for p in prefixes],
    })
