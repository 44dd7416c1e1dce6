"""Object operations: Put, Get, Head, Copy, Delete, DeleteObjects."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from urllib.parse import unquote

from aiohttp import web

from gateway import errors
from gateway.gatekeeper.pipeline import IngestResult, StreamBody, WriteRequest
from gateway.s3 import headers as h
from gateway.wire import xml, zerocopy
from gateway.s3.call import S3Call
from gateway.s3.responses import xml_response
from gateway.wire.names import validate_bucket_name
from gateway.storage.base import (NULL_VERSION, UNVERSIONED, ByteRange, DeleteOutcome,
                                  ObjectInfo, recorded_key)

MAX_DELETE_KEYS = 1000
log = logging.getLogger("provgate.s3")


def write_conditions(call: S3Call) -> tuple[str | None, bool]:
    """``If-Match`` / ``If-None-Match: *`` on a write (S3 conditional writes)."""
    if_none = call.headers.get("If-None-Match")
    if if_none is not None and if_none.strip() != "*":
        raise errors.NotImplementedOperation("If-None-Match on a write supports only '*'")
    if_match = call.headers.get("If-Match")
    return (if_match.strip().strip('"') if if_match else None), if_none is not None


def write_headers(result: IngestResult) -> dict[str, str]:
    info = result.info
    out = {"ETag": f'"{info.etag}"'}
    h.add_checksums(out, info.checksums)
    out.update(intake_headers(result))
    return out


def intake_headers(result: IngestResult) -> dict[str, str]:
    """What intake tells the writer: the version, warnings, a quarantine.

    A quarantined write has no version under the writer's key (it is kept in the
    quarantine bucket), so no ``x-amz-version-id`` is sent for it; nor for a ``null``
    version (a bucket not versioning), as S3 sends none.
    """
    out = {}
    if result.quarantined:
        out["x-provgate-quarantine"] = warning_header([result.quarantined])
    elif result.info.version_id and result.info.version_id != NULL_VERSION:
        out["x-amz-version-id"] = result.info.version_id
    if result.warnings:
        out["x-provgate-warning"] = warning_header(result.warnings)
    return out


def warning_header(warnings: list[str]) -> str:
    """Warnings as one header value: ASCII only (header values are not UTF-8), bounded."""
    text = "; ".join(warnings).replace("\r", " ").replace("\n", " ")
    return text.encode("ascii", "backslashreplace").decode()[:1024]


async def put_object(call: S3Call) -> web.StreamResponse:
    if "x-amz-copy-source" in call.headers:
        return await copy_object(call)
    if_match, if_none_match = write_conditions(call)
    door = call.door
    attributes = h.attributes_from(call.object_fields())
    attributes.owner = call.identity.name
    await call.gatekeeper.check_conditions(call.bucket, call.key, if_match, if_none_match)
    staged = await call.gatekeeper.spool(call.body())
    result = await call.gatekeeper.ingest(WriteRequest(
        call.bucket, call.key, staged, attributes, call.identity, door=door,
        if_match=if_match, if_none_match=if_none_match, conditions_checked=True))
    return web.Response(status=200, headers=write_headers(result))


@dataclass
class PartRead:
    """What GET/HEAD ``?partNumber=N`` reads: the part's bytes (None: the whole object)
    and the part's checksums."""

    byte_range: ByteRange | None
    checksums: dict[str, str]


async def part_read(call: S3Call, info: ObjectInfo, number: int) -> PartRead:
    """Part ``number`` of the object ``info`` describes, as S3 serves it: for an object
    uploaded in parts, that part's byte span; for any other, part 1 is the whole object.
    InvalidPartNumber (416) for a part the object does not have; a Range header besides
    is InvalidRequest (400)."""
    if call.headers.get("Range"):
        raise errors.InvalidRequest("Cannot specify both Range header and partNumber query parameter")
    parts = await call.gatekeeper.object_parts(call.bucket, call.key, info.version_id)
    if parts is None:
        if number != 1:
            raise errors.InvalidPartNumber(PartNumberRequested=str(number), ActualPartCount="1")
        return PartRead(ByteRange(0, None) if info.size else None, dict(info.checksums))
    offset = 0
    for part in parts:
        if part.number == number:
            span = ByteRange(offset, offset + part.size - 1) if part.size else None
            return PartRead(span, {a: v for a, v in part.checksums.items()
                                   if a in info.checksums})
        offset += part.size
    raise errors.InvalidPartNumber(PartNumberRequested=str(number),
                                   ActualPartCount=str(len(parts)))


async def head_object(call: S3Call) -> web.StreamResponse:
    info = await call.gatekeeper.head_object(call.bucket, call.key, call.version_id)
    h.check_read_conditions(call.headers, info)
    number = h.part_number(call.query)
    part = await part_read(call, info, number) if number is not None else None
    headers = h.object_headers(info, with_checksums=_wants_checksums(call) and part is None)
    if part is not None and _wants_checksums(call):
        h.add_checksums(headers, part.checksums)
    headers.update(review_header(call, info.version_id))
    _add_replication_status(call, info, headers)
    await _unversioned_has_no_version(call, info, headers)
    byte_range = part.byte_range if part else h.parse_range(call.headers.get("Range"))
    if byte_range is not None:
        start, end = byte_range.resolve(info.size)
        headers["Content-Range"] = f"bytes {start}-{end}/{info.size}"
        headers["Content-Length"] = str(end - start + 1)
        return web.Response(status=206, headers=headers)
    headers["Content-Length"] = str(info.size)
    return web.Response(status=200, headers=headers)


def review_header(call: S3Call, version_id: str) -> dict[str, str]:
    """``x-provgate-review``: the review status of the version read (catalogued ones)."""
    status = call.gatekeeper.review_state(call.bucket, call.key, version_id)
    return {"x-provgate-review": status} if status else {}


def _add_replication_status(call: S3Call, info, headers) -> None:
    """``x-amz-replication-status`` for a version that a ``[[route]]`` sends somewhere."""
    if info.version_id:
        status = call.gatekeeper.replication_status(call.bucket, call.key, info.version_id)
        if status is not None:
            headers["x-amz-replication-status"] = status


async def _unversioned_has_no_version(call: S3Call, info, headers) -> None:
    """S3 names no version on reads from a bucket that never had versioning enabled."""
    if (info.version_id == NULL_VERSION
            and await call.gatekeeper.get_versioning(call.bucket) == UNVERSIONED):
        headers.pop("x-amz-version-id", None)


def _wants_checksums(call: S3Call) -> bool:
    return call.headers.get("x-amz-checksum-mode", "").upper() == "ENABLED"


async def get_object(call: S3Call) -> web.StreamResponse:
    byte_range = h.parse_range(call.headers.get("Range"))
    number = h.part_number(call.query)
    part = None
    version_id = call.version_id
    if number is not None:
        info = await call.gatekeeper.head_object(call.bucket, call.key, version_id)
        part = await part_read(call, info, number)
        byte_range = part.byte_range
        # The part's span is the version's: read that very version.
        version_id = version_id or (info.version_id if recorded_key(call.key) is None else None)
    stream = await call.gatekeeper.open_object(call.bucket, call.key, byte_range,
                                            version_id=version_id)
    try:
        h.check_read_conditions(call.headers, stream.info)
        info = stream.info
        # A checksum covers the whole object (or the part read), so a ranged answer
        # cannot carry it.
        headers = h.object_headers(info, with_checksums=_wants_checksums(call) and not stream.span)
        if part is not None and _wants_checksums(call):
            h.add_checksums(headers, part.checksums)
        headers.update(h.response_overrides(call.query))
        headers.update(review_header(call, info.version_id))
        _add_replication_status(call, info, headers)
        await _unversioned_has_no_version(call, info, headers)
        if stream.span:
            start, end = stream.span
            headers["Content-Range"] = f"bytes {start}-{end}/{info.size}"
            length = end - start + 1
        else:
            length = info.size
        response = web.StreamResponse(status=206 if stream.span else 200, headers=headers)
        response.content_length = length
        writer = await response.prepare(call.request)
        # Straight from the backend's socket or file to the client's when both allow it.
        out = zerocopy.outlet(call.request.transport) if stream.direct is not None else None
        try:
            if out is not None:
                try:
                    await out.send(stream.direct)
                finally:
                    writer.output_size += out.sent     # for the request log and metrics
            else:
                async for chunk in stream.body:
                    await response.write(chunk)
        except errors.GatewayError as exc:
            # Status and length are already sent: the only honest signal left is to cut
            # the connection, so the client sees a short body and retries.
            log.warning("GET %s/%s failed mid-body: %s", call.bucket, call.key, exc.message)
            call.request.transport.close()
            return response
        await response.write_eof()
        return response
    finally:
        await stream.close()


async def delete_object(call: S3Call) -> web.Response:
    outcome = await call.gatekeeper.delete(call.bucket, call.key, call.version_id)
    return web.Response(status=204, headers=delete_headers(outcome))


def delete_headers(outcome: DeleteOutcome) -> dict[str, str]:
    headers = {}
    if outcome.version_id:
        headers["x-amz-version-id"] = outcome.version_id
    if outcome.delete_marker:
        headers["x-amz-delete-marker"] = "true"
    return headers


def parse_copy_source(value: str) -> tuple[str, str, str | None]:
    """``x-amz-copy-source``: ``[/]bucket/key[?versionId=V]``, URL-encoded."""
    source, _, query = value.partition("?")
    source = unquote(source).lstrip("/")
    bucket, _, key = source.partition("/")
    if not bucket or not key:
        raise errors.InvalidArgument("Copy Source must mention the source bucket and key: sourcebucket/sourcekey",
                                     ArgumentName="x-amz-copy-source")
    validate_bucket_name(bucket)
    version = None
    for param in query.split("&") if query else ():
        name, _, raw = param.partition("=")
        if name == "versionId":
            version = unquote(raw)
    return bucket, key, version


async def open_copy_source(call: S3Call, byte_range=None):
    """The source of a copy: its bucket, key and open stream (the stream's info names
    the version read, for ``x-amz-copy-source-version-id``)."""
    bucket, key, version_id = parse_copy_source(call.headers["x-amz-copy-source"])
    call.gatekeeper.require_visible(call.identity, bucket)
    if not call.identity.may_access_bucket(bucket):
        raise errors.AccessDenied(resource=f"/{bucket}/{key}")
    try:
        stream = await call.gatekeeper.open_object(bucket, key, byte_range, version_id=version_id)
    except errors.MethodNotAllowed:
        raise errors.InvalidRequest("The source of a copy request may not specifically refer "
                                    "to a delete marker by version id.") from None
    try:
        h.check_read_conditions(call.headers, stream.info, prefix="x-amz-copy-source-")
    except BaseException:
        await stream.close()
        raise
    return bucket, key, stream


async def copy_object(call: S3Call) -> web.Response:
    if_match, if_none_match = write_conditions(call)
    door = call.door
    directive = call.headers.get("x-amz-metadata-directive", "COPY").upper()
    tag_directive = call.headers.get("x-amz-tagging-directive", "COPY").upper()
    if directive not in ("COPY", "REPLACE") or tag_directive not in ("COPY", "REPLACE"):
        bad = "x-amz-metadata-directive" if directive not in ("COPY", "REPLACE") \
            else "x-amz-tagging-directive"
        raise errors.InvalidArgument(f"Unknown {bad}: expected COPY or REPLACE",
                                     ArgumentName=bad, ArgumentValue=call.headers[bad])
    bucket, key, stream = await open_copy_source(call)
    try:
        source = stream.info
        if (bucket, key) == (call.bucket, call.key) and directive == "COPY":
            raise errors.InvalidRequest(
                "This copy request is illegal because it is trying to copy an object to itself "
                "without changing the object's metadata, storage class, website redirect "
                "location or encryption attributes.")
        # Whatever can refuse the copy (metadata, tags) is decided before bytes are spooled.
        attributes = h.attributes_from(call.object_fields()) if directive == "REPLACE" else source.attributes
        attributes.tags = (h.parse_tagging(call.headers.get("x-amz-tagging", ""))
                           if tag_directive == "REPLACE"
                           else call.gatekeeper.copied_tags(source.attributes.tags))
        attributes.owner = call.identity.name
        staged = await call.gatekeeper.spool(StreamBody(stream.body, source.size))
    finally:
        await stream.close()
    staged.checksums = {} if source.parts_count else dict(source.checksums)
    result = await call.gatekeeper.ingest(WriteRequest(
        call.bucket, call.key, staged, attributes, call.identity, door=door,
        if_match=if_match, if_none_match=if_none_match))
    info = result.info
    headers = {"x-amz-copy-source-version-id": source.version_id, **intake_headers(result)}
    return xml_response("CopyObjectResult", {
        "LastModified": xml.iso_time(info.last_modified), "ETag": f'"{info.etag}"',
        **{f"Checksum{a}": v for a, v in info.checksums.items()},
    }, headers=headers)


async def delete_objects(call: S3Call) -> web.Response:
    root = xml.parse(await call.small_body(xml.MAX_REQUEST_XML), "Delete")
    quiet = (xml.child_text(root, "Quiet") or "").strip().lower() == "true"
    entries = xml.children(root, "Object")
    if not entries or len(entries) > MAX_DELETE_KEYS:
        raise errors.MalformedXML(f"Delete names between 1 and {MAX_DELETE_KEYS} objects")
    # Every entry is read before anything is deleted: a malformed one fails the request whole.
    named = [(xml.child_text(entry, "Key", required=True), xml.child_text(entry, "VersionId"))
             for entry in entries]
    await call.gatekeeper.head_bucket(call.bucket)
    deleted, failed = [], []
    for (key, version), outcome in zip(named, await call.gatekeeper.delete_many(call.bucket,
                                                                                  named)):
        if isinstance(outcome, errors.GatewayError):
            failed.append({"Key": key, "VersionId": version, "Code": outcome.code,
                           "Message": outcome.message})
        elif not quiet:
            deleted.append(_deleted_entry(key, version, outcome))
    return xml_response("DeleteResult", {"Deleted": deleted, "Error": failed})


def _deleted_entry(key: str, version: str | None, outcome: DeleteOutcome) -> dict:
    """A ``<Deleted>`` entry: the version named, and the delete marker the delete added
    (no version named) or removed (the version named was one)."""
    entry = {"Key": key, "VersionId": version}
    if outcome.delete_marker:
        entry["DeleteMarker"] = True
        entry["DeleteMarkerVersionId"] = outcome.version_id
    return entry
