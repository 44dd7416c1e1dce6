"""S3 header semantics: object attributes in and out, ranges, conditions, dates."""

from __future__ import annotations

import functools
import re
from email.utils import format_datetime, parsedate_to_datetime
from datetime import datetime, timezone
from urllib.parse import parse_qsl, quote

from multidict import CIMultiDict, CIMultiDictProxy

from gateway import errors
from gateway.storage.base import (CONTENT_HEADERS, DEFAULT_CONTENT_TYPE, MAX_PARTS,
                                  ByteRange, ObjectAttributes, ObjectInfo)
from gateway.wire import checksums

META_PREFIX = "x-amz-meta-"
MAX_USER_METADATA = 2048      # bytes of names + values, as S3 counts them
MAX_TAGS = 10
MAX_TAG_KEY = 128             # characters
MAX_TAG_VALUE = 256
# ASCII digits only: Python's \d and int() also take other scripts' digits ("١").
_RANGE_RE = re.compile(r"bytes=([0-9]*)-([0-9]*)")


def http_date(epoch: float) -> str:
    return _http_date_of_second(int(epoch))


# Cached: every response carries a date, and most name the same few seconds.
@functools.lru_cache(maxsize=256)
def _http_date_of_second(second: int) -> str:
    return format_datetime(datetime.fromtimestamp(second, timezone.utc), usegmt=True)


def parse_http_date(value: str | None) -> float | None:
    """An HTTP date as epoch seconds; None when absent or unparseable (then ignored, as S3 does)."""
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        try:  # some clients send ISO 8601
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.timestamp()


def user_metadata(headers: CIMultiDictProxy) -> dict[str, str]:
    meta: dict[str, str] = {}
    for name in headers:
        lower = name.lower()
        if lower.startswith(META_PREFIX) and lower not in meta:
            meta[lower[len(META_PREFIX):]] = ",".join(headers.getall(name))
    size = sum(len(k.encode()) + len(v.encode("utf-8", "surrogateescape")) for k, v in meta.items())
    if size > MAX_USER_METADATA:
        raise errors.MetadataTooLarge(Size=str(size), MaxSizeAllowed=str(MAX_USER_METADATA))
    return meta


def parse_tagging(query_string: str) -> dict[str, str]:
    """The ``x-amz-tagging`` header: tags as a URL query string."""
    tags: dict[str, str] = {}
    for k, v in parse_qsl(query_string, keep_blank_values=True):
        if k in tags:
            raise errors.InvalidTag("Cannot provide multiple Tags with the same key")
        tags[k] = v
    validate_tags(tags)
    return tags


def validate_tags(tags: dict[str, str]) -> None:
    """S3's limits on an object's tag set (InvalidTag, 400): at most 10 tags, keys of 1
    to 128 characters not starting with ``aws:`` (reserved for AWS), values up to 256."""
    if len(tags) > MAX_TAGS:
        raise errors.InvalidTag("Object tags cannot be greater than 10")
    for k, v in tags.items():
        if not k:
            raise errors.InvalidTag("The TagKey you have provided is invalid", TagKey=k)
        if len(k) > MAX_TAG_KEY:
            raise errors.InvalidTag("The TagKey you have provided is too long, max 128",
                                    TagKey=k[:MAX_TAG_KEY])
        if len(v) > MAX_TAG_VALUE:
            raise errors.InvalidTag("The TagValue you have provided is too long, max 256",
                                    TagKey=k)
        if k.lower().startswith("aws:"):
            raise errors.InvalidTag("Your TagKey cannot be prefixed with aws:", TagKey=k)


def attributes_from(headers: CIMultiDictProxy) -> ObjectAttributes:
    """What a PUT / CreateMultipartUpload / Copy(REPLACE) sets besides the bytes."""
    content = {h: headers[h] for h in CONTENT_HEADERS if h in headers}
    # aws-chunked is transfer framing, never a property of the stored object.
    if "Content-Encoding" in content:
        kept = [e.strip() for e in content["Content-Encoding"].split(",")
                if e.strip() and e.strip().lower() != "aws-chunked"]
        if kept:
            content["Content-Encoding"] = ", ".join(kept)
        else:
            del content["Content-Encoding"]
    tags = parse_tagging(headers["x-amz-tagging"]) if "x-amz-tagging" in headers else {}
    return ObjectAttributes(headers.get("Content-Type") or DEFAULT_CONTENT_TYPE, content,
                            user_metadata(headers), tags)


def object_headers(info: ObjectInfo, *, with_checksums: bool) -> CIMultiDict:
    """Response headers describing a stored object (GET / HEAD)."""
    out = CIMultiDict()
    out["ETag"] = f'"{info.etag}"'
    out["Last-Modified"] = http_date(info.last_modified)
    out["Content-Type"] = info.attributes.content_type
    out["Accept-Ranges"] = "bytes"
    for name, value in info.attributes.content_headers.items():
        out[name] = value
    for name, value in info.attributes.user_metadata.items():
        out[META_PREFIX + name] = value
    if info.attributes.tags:
        out["x-amz-tagging-count"] = str(len(info.attributes.tags))
    if info.parts_count:
        out["x-amz-mp-parts-count"] = str(info.parts_count)
    if info.version_id:
        out["x-amz-version-id"] = info.version_id
    if with_checksums:
        add_checksums(out, info.checksums)
    return out


def add_checksums(out, values: dict[str, str]) -> None:
    """``x-amz-checksum-<algorithm>`` and ``x-amz-checksum-type`` for stored checksums."""
    for algorithm, value in values.items():
        out[f"x-amz-checksum-{algorithm.lower()}"] = value
        out["x-amz-checksum-type"] = checksums.value_type(value)


def part_number(query: dict[str, str]) -> int | None:
    """``?partNumber=``: None when absent; InvalidArgument unless 1..10000."""
    raw = query.get("partNumber")
    if raw is None:
        return None
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_PARTS:
        raise errors.InvalidArgument(f"Part number must be an integer between 1 and {MAX_PARTS}, inclusive",
                                     ArgumentName="partNumber", ArgumentValue=raw)
    return int(raw)


RESPONSE_OVERRIDES = {
    "response-content-type": "Content-Type", "response-content-language": "Content-Language",
    "response-expires": "Expires", "response-cache-control": "Cache-Control",
    "response-content-disposition": "Content-Disposition",
    "response-content-encoding": "Content-Encoding",
}


_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def response_overrides(query: dict[str, str]) -> dict[str, str]:
    """Headers a GET's ``response-*`` query parameters set on the answer.

    A value with a control character (CR/LF above all) could split the response's
    header section, so it is refused: 400 InvalidArgument naming the parameter.
    """
    out = {}
    for param, header in RESPONSE_OVERRIDES.items():
        if param in query:
            value = query[param]
            if _CONTROL.search(value):
                raise errors.InvalidArgument(
                    f"{param} must not contain control characters",
                    ArgumentName=param, ArgumentValue=value.encode("unicode_escape").decode()[:256])
            out[header] = value
    return out


def parse_range(value: str | None) -> ByteRange | None:
    """A single ``bytes=`` range; anything else (absent, multi-range, junk) means the whole
    object, as S3 and RFC 9110 treat a Range they do not understand."""
    if not value:
        return None
    match = _RANGE_RE.fullmatch(value.strip(" \t"))
    if not match or (match[1] == "" and match[2] == ""):
        return None
    first = int(match[1]) if match[1] else None
    last = int(match[2]) if match[2] else None
    if first is not None and last is not None and last < first:
        return None
    if first is None:
        return ByteRange(None, last)
    return ByteRange(first, last)


def _etag_matches(header: str, etag: str) -> bool:
    candidates = [c.strip().removeprefix("W/").strip('"') for c in header.split(",")]
    return "*" in candidates or etag in candidates


def check_read_conditions(headers, info: ObjectInfo, prefix: str = "") -> None:
    """If-Match / If-None-Match / If-(Un)Modified-Since, with S3's precedence.

    ``prefix`` is ``x-amz-copy-source-`` for a copy's source conditions, which fail
    with 412 in every case (a copy never answers 304).
    """
    if_match = headers.get(prefix + "If-Match")
    if_none = headers.get(prefix + "If-None-Match")
    modified_since = parse_http_date(headers.get(prefix + "If-Modified-Since"))
    unmodified_since = parse_http_date(headers.get(prefix + "If-Unmodified-Since"))
    mtime = int(info.last_modified)
    not_modified = errors.PreconditionFailed if prefix else errors.NotModified
    if if_match is not None:
        if not _etag_matches(if_match, info.etag):
            raise errors.PreconditionFailed(Condition="If-Match")
    elif unmodified_since is not None and mtime > unmodified_since:
        raise errors.PreconditionFailed(Condition="If-Unmodified-Since")
    if if_none is not None:
        if _etag_matches(if_none, info.etag):
            raise not_modified(headers={"ETag": f'"{info.etag}"'})
    elif modified_since is not None and mtime <= modified_since:
        raise not_modified(headers={"ETag": f'"{info.etag}"'})


def url_encode(value: str | None, enabled: bool) -> str | None:
    """``encoding-type=url`` listings: keys percent-encoded (botocore decodes them)."""
    if value is None or not enabled:
        return value
    return quote(value, safe="/")
