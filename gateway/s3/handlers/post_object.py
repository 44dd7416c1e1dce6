"""POST Object: a browser-form upload (``multipart/form-data``) signed by a POST policy.

The form's fields come first, then the field named ``file`` (S3 ignores any field after
it). Everything is decided from the fields before a byte of the file is read: the
signature (``gateway.s3.auth``), the policy's expiration and conditions
(``gateway.s3.post_policy``), the signer's role and bucket scope. The file then streams
to the spool — bounded by the policy's ``content-length-range`` as it arrives, never held
in memory — and goes through the same intake as a PutObject: provenance from the
``x-amz-meta-*`` fields and the file itself, the policies, the record and the catalog.

Answers as S3: 204 (or ``success_action_status`` 200, or 201 with a ``PostResponse``
document), or a 303 to ``success_action_redirect`` with bucket, key and ETag appended.
"""

from __future__ import annotations

import time
from urllib.parse import quote, urlencode, urlsplit

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError
from multidict import CIMultiDict

from gateway import errors
from gateway.gatekeeper.pipeline import StreamBody, WriteRequest
from gateway.s3 import headers as h
from gateway.s3 import post_policy
from gateway.s3.auth.authenticator import refuse_unsigned
from gateway.s3.call import MAX_UPLOAD_BYTES, S3Call
from gateway.s3.handlers.objects import intake_headers
from gateway.s3.handlers.tagging import parse_tag_document
from gateway.s3.responses import xml_response
from gateway.wire.names import validate_key

# S3's bound on the form fields before the file (MaxPostPreDataLengthExceeded).
MAX_PRE_DATA = 20 * 1024
CHUNK = 1 << 20
FORM_TYPE = "multipart/form-data"
# What aiohttp's multipart reader raises on a body that is not well-formed.
_MALFORMED = (ValueError, AssertionError, KeyError, HttpProcessingError)


async def post_object(call: S3Call) -> web.StreamResponse:
    if not call.headers.get("Content-Type", "").lower().startswith(FORM_TYPE):
        raise errors.PreconditionFailed(
            "Bucket POST must be of the enclosure-type multipart/form-data",
            Condition="Bucket POST must be of the enclosure-type multipart/form-data")
    # No x-provgate-* header steers a form upload: nothing in the form signs one.
    refuse_unsigned([n for n in call.headers if n.lower().startswith("x-provgate-")],
                    {"host"})
    form, file_part = await _read_fields(call)
    fields = {name.lower(): value for name, value in form.items()}
    if "key" not in fields:
        raise errors.InvalidArgument("Bucket POST must contain a field named 'key'.  If it is "
                                     "specified, please check the order of the fields.",
                                     ArgumentName="key", ArgumentValue="")
    key = fields["key"].replace("${filename}", file_part.filename or "")
    if not key:
        raise errors.InvalidArgument("User key must have a length greater than 0.",
                                     ArgumentName="key", ArgumentValue="")
    validate_key(key)
    call.authenticate_form(fields)
    policy = post_policy.decode(fields["policy"])
    policy.check_fields({**fields, "bucket": call.bucket, "key": key}, time.time())

    attributes = h.attributes_from(form)
    if "tagging" in fields:
        attributes.tags = parse_tag_document(fields["tagging"].encode())
    attributes.owner = call.identity.name
    low, high = policy.size_range() or (0, MAX_UPLOAD_BYTES)
    chunks = _file_chunks(file_part, min(high, MAX_UPLOAD_BYTES))
    staged = await call.gatekeeper.spool(StreamBody(chunks, None))
    if staged.size < low:
        await staged.discard()
        raise errors.EntityTooSmall(ProposedSize=str(staged.size), MinSizeAllowed=str(low))
    result = await call.gatekeeper.ingest(WriteRequest(
        call.bucket, key, staged, attributes, call.identity, door="s3"))
    return _answer(call, fields, key, result)


async def _read_fields(call: S3Call) -> tuple[CIMultiDict, BodyPartReader]:
    """The fields before ``file`` (names as sent, first value of each kept) and the file
    part, not yet read."""
    try:
        reader = await call.request.multipart()
    except _MALFORMED as exc:
        raise errors.MalformedPOSTRequest() from exc
    form: CIMultiDict = CIMultiDict()
    budget = MAX_PRE_DATA
    while True:
        try:
            part = await reader.next()
        except _MALFORMED as exc:
            raise errors.MalformedPOSTRequest() from exc
        if part is None:
            raise errors.IncorrectNumberOfFilesInPostRequest()
        if not isinstance(part, BodyPartReader):
            raise errors.MalformedPOSTRequest("Nested multipart bodies are not allowed in a POST form.")
        name = part.name or ""
        if name.lower() == "file":
            return form, part
        value = await _field_value(part, budget)
        budget -= len(name) + len(value)
        if name and name not in form:
            form[name] = value


async def _field_value(part: BodyPartReader, budget: int) -> str:
    data = bytearray()
    try:
        while chunk := await part.read_chunk(4096):
            data += chunk
            if len(data) > budget:
                raise errors.MaxPostPreDataLengthExceeded(MaxPostPreDataLength=str(MAX_PRE_DATA))
        return data.decode("utf-8")
    except _MALFORMED as exc:   # UnicodeDecodeError is a ValueError
        raise errors.MalformedPOSTRequest() from exc


async def _file_chunks(part: BodyPartReader, limit: int):
    """The file's bytes as they arrive; EntityTooLarge as soon as they pass ``limit``."""
    size = 0
    while True:
        try:
            chunk = await part.read_chunk(CHUNK)
        except _MALFORMED as exc:
            raise errors.MalformedPOSTRequest() from exc
        if not chunk:
            return
        size += len(chunk)
        if size > limit:
            raise errors.EntityTooLarge(ProposedSize=f"more than {limit}",
                                        MaxSizeAllowed=str(limit))
        yield chunk


def _answer(call: S3Call, fields: dict[str, str], key: str, result) -> web.StreamResponse:
    etag = f'"{result.info.etag}"'
    location = f"{call.request.scheme}://{call.request.host}/{call.bucket}/{quote(key)}"
    headers = {"ETag": etag, "Location": location, **intake_headers(result)}
    redirect = fields.get("success_action_redirect") or fields.get("redirect")
    if redirect and urlsplit(redirect).scheme in ("http", "https"):
        query = urlencode({"bucket": call.bucket, "key": key, "etag": etag})
        headers["Location"] = redirect + ("&" if urlsplit(redirect).query else "?") + query
        return web.Response(status=303, headers=headers)
    status = fields.get("success_action_status")
    if status == "201":
        return xml_response("PostResponse", {"Location": location, "Bucket": call.bucket,
                                             "Key": key, "ETag": etag},
                            status=201, headers=headers)
    return web.Response(status=200 if status == "200" else 204, headers=headers)
