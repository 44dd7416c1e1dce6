"""Listing: ListObjects (V1), ListObjectsV2, ListObjectVersions."""

from __future__ import annotations

import base64
import binascii

from aiohttp import web

from gateway import errors
from gateway.s3 import xml
from gateway.s3.call import S3Call
from gateway.s3.headers import url_encode
from gateway.s3.responses import owner, xml_response
from gateway.storage.base import ListPage, ObjectInfo

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
        await call.backend.head_bucket(call.bucket)
        return ListPage([], [], False, None)
    return await call.backend.list_objects(
        call.bucket, prefix=call.query.get("prefix", ""),
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
    """Unversioned buckets: each object's single version is ``null`` and latest."""
    encode = _encoding(call)
    max_keys = _max_keys(call)
    marker = call.query.get("key-marker", "")
    page = await _page(call, marker, max_keys)
    versions = []
    for obj in page.objects:
        entry = _entry(obj, encode, True)
        versions.append({"Key": entry["Key"], "VersionId": "null", "IsLatest": True,
                         "LastModified": entry["LastModified"], "ETag": entry["ETag"],
                         "Size": obj.size, "StorageClass": "STANDARD", "Owner": entry["Owner"]})
    return xml_response("ListVersionsResult", {
        "Name": call.bucket,
        "Prefix": url_encode(call.query.get("prefix", ""), encode),
        "KeyMarker": url_encode(marker, encode),
        "VersionIdMarker": call.query.get("version-id-marker", ""),
        "NextKeyMarker": url_encode(page.last, encode) if page.truncated else None,
        "NextVersionIdMarker": "null" if page.truncated else None,
        "Delimiter": url_encode(call.query.get("delimiter"), encode),
        "MaxKeys": max_keys,
        "EncodingType": "url" if encode else None,
        "IsTruncated": page.truncated,
        "Version": versions,
        "CommonPrefixes": _common(page, encode),
    })
