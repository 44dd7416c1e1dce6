"""Listing: ListObjects (V1), ListObjectsV2, ListObjectVersions."""

from __future__ import annotations

import base64
import binascii

from aiohttp import web

from gateway import errors
from gateway.wire import xml
from gateway.s3.call import S3Call
from gateway.s3.headers import url_encode
from gateway.s3.responses import owner, xml_response
from gateway.storage.base import ListPage, ObjectInfo, VersionPage

MAX_KEYS = 1000


def _max_keys(call: S3Call, name: str = "max-keys") -> int:
    raw = call.query.get(name, str(MAX_KEYS))
    try:
        value = int(raw)
    except ValueError:
        raise errors.InvalidArgument(f"Provided {name} not an integer or within integer range",
                                     ArgumentName=name, ArgumentValue=raw) from None
    if value < 0:
        raise errors.InvalidArgument(f"{name} must be >= 0", ArgumentName=name,
                                     ArgumentValue=raw)
    return min(value, MAX_KEYS)


def _encoding(call: S3Call) -> bool:
    encoding = call.query.get("encoding-type")
    if encoding not in (None, "url"):
        raise errors.InvalidArgument("Invalid Encoding Method specified in Request",
                                     ArgumentName="encoding-type", ArgumentValue=encoding)
    return encoding == "url"


def encode_token(last: str) -> str:
    return base64.urlsafe_b64encode(last.encode("utf-8", "surrogatepass")).decode()


def decode_token(token: str) -> str:
    try:
        return base64.urlsafe_b64decode(token.encode()).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise errors.InvalidArgument("The continuation token provided is incorrect",
                                     ArgumentName="continuation-token") from None


def _entry(obj: ObjectInfo, encode: bool, with_owner: bool) -> dict:
    entry = {"Key": url_encode(obj.key, encode), "LastModified": xml.iso_time(obj.last_modified),
             "ETag": f'"{obj.etag}"', "Size": obj.size, "StorageClass": "STANDARD"}
    if obj.checksums:
        entry["ChecksumAlgorithm"] = list(obj.checksums)
    if with_owner:
        entry["Owner"] = owner(obj.attributes.owner or "provgate")
    return entry


async def _page(call: S3Call, start_after: str, max_keys: int) -> ListPage:
    if max_keys == 0:
        await call.gatekeeper.head_bucket(call.bucket)
        return ListPage([], [], False, None)
    # An identity with xmp = "listed" sees each object's record as <key>.xmp as well.
    return await call.gatekeeper.list_objects(
        call.bucket, with_records=call.identity.xmp == "listed", prefix=call.query.get("prefix", ""),
        delimiter=call.query.get("delimiter", ""), start_after=start_after, max_keys=max_keys)


def _common(page: ListPage, encode: bool) -> list[dict]:
    return [{"Prefix": url_encode(p, encode)} for p in page.common_prefixes]


async def list_objects_v2(call: S3Call) -> web.Response:
    encode = _encoding(call)
    max_keys = _max_keys(call)
    token = call.query.get("continuation-token")
    start_after = call.query.get("start-after", "")
    resume = decode_token(token) if token is not None else start_after
    page = await _page(call, resume, max_keys)
    fetch_owner = call.query.get("fetch-owner", "").lower() == "true"
    return xml_response("ListBucketResult", {
        "Name": call.bucket,
        "Prefix": url_encode(call.query.get("prefix", ""), encode),
        "Delimiter": url_encode(call.query.get("delimiter"), encode),
        "MaxKeys": max_keys,
        "EncodingType": "url" if encode else None,
        "KeyCount": len(page.objects) + len(page.common_prefixes),
        "IsTruncated": page.truncated,
        "ContinuationToken": token,
        "NextContinuationToken": encode_token(page.last) if page.truncated and page.last else None,
        "StartAfter": url_encode(start_after, encode) if "start-after" in call.query else None,
        "Contents": [_entry(o, encode, fetch_owner) for o in page.objects],
        "CommonPrefixes": _common(page, encode),
    })


async def list_objects_v1(call: S3Call) -> web.Response:
    encode = _encoding(call)
    max_keys = _max_keys(call)
    marker = call.query.get("marker", "")
    page = await _page(call, marker, max_keys)
    return xml_response("ListBucketResult", {
        "Name": call.bucket,
        "Prefix": url_encode(call.query.get("prefix", ""), encode),
        "Marker": url_encode(marker, encode),
        "Delimiter": url_encode(call.query.get("delimiter"), encode),
        "MaxKeys": max_keys,
        "EncodingType": "url" if encode else None,
        "IsTruncated": page.truncated,
        "NextMarker": url_encode(page.last, encode) if page.truncated else None,
        "Contents": [_entry(o, encode, True) for o in page.objects],
        "CommonPrefixes": _common(page, encode),
    })


async def list_object_versions(call: S3Call) -> web.Response:
    encode = _encoding(call)
    max_keys = _max_keys(call)
    key_marker = call.query.get("key-marker", "")
    version_marker = call.query.get("version-id-marker", "")
    if version_marker and not key_marker:
        raise errors.InvalidArgument("A version-id marker cannot be specified without a key marker.",
                                     ArgumentName="version-id-marker", ArgumentValue=version_marker)
    if max_keys == 0:
        await call.gatekeeper.head_bucket(call.bucket)
        page = VersionPage([], [], False)
    else:
        page = await call.gatekeeper.list_versions(
            call.bucket, prefix=call.query.get("prefix", ""),
            delimiter=call.query.get("delimiter", ""), key_marker=key_marker,
            version_id_marker=version_marker, max_keys=max_keys)
    # Version and DeleteMarker elements interleave in listing order, hence pairs.
    return xml_response("ListVersionsResult", [
        ("Name", call.bucket),
        ("Prefix", url_encode(call.query.get("prefix", ""), encode)),
        ("KeyMarker", url_encode(key_marker, encode)),
        ("VersionIdMarker", version_marker),
        ("NextKeyMarker", url_encode(page.next_key_marker, encode) if page.truncated else None),
        ("NextVersionIdMarker", page.next_version_id_marker if page.truncated else None),
        ("MaxKeys", max_keys),
        ("Delimiter", url_encode(call.query.get("delimiter"), encode)),
        ("EncodingType", "url" if encode else None),
        ("IsTruncated", page.truncated),
        *(_version_entry(v, encode) for v in page.versions),
        ("CommonPrefixes", [{"Prefix": url_encode(p, encode)} for p in page.common_prefixes]),
    ])


def _version_entry(info: ObjectInfo, encode: bool) -> tuple[str, dict]:
    common = {"Key": url_encode(info.key, encode), "VersionId": info.version_id,
              "IsLatest": info.is_latest, "LastModified": xml.iso_time(info.last_modified)}
    if info.delete_marker:
        return "DeleteMarker", {**common, "Owner": owner(info.attributes.owner or "provgate")}
    entry = _entry(info, encode, True)
    return "Version", {**common, "ETag": entry["ETag"], "Size": info.size,
                       "StorageClass": "STANDARD", "Owner": entry["Owner"],
                       **({"ChecksumAlgorithm": entry["ChecksumAlgorithm"]}
                          if "ChecksumAlgorithm" in entry else {})}
