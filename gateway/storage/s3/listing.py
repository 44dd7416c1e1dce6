"""Listing objects over an upstream that stores them under encoded keys (see ``keys``).

The upstream is listed flat (no upstream delimiter): encoded keys come back in S3's byte
order, are decoded, and common prefixes are rolled up here for any delimiter. After a
common prefix the upstream listing jumps past everything under it, so a bucket with a
million objects under three "folders" costs three small requests, not a full scan.

A listed object carries what an S3 listing has: size, date and the upstream's ETag (the
client-visible one differs only for the cases ``docs/scale-out.md`` names); its other
attributes are left at their defaults.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from gateway import errors
from gateway.storage.base import ListPage, ObjectAttributes, ObjectInfo
from gateway.storage.s3 import keys, xmldoc
from gateway.storage.s3.client import S3Client
from gateway.storage.s3.metadata import SYSTEM_HEADER, SystemFields

UPSTREAM_PAGE = 1000


async def upstream_page(client: S3Client, upstream_bucket: str, *, prefix: str,
                        start_after: str, max_keys: int = UPSTREAM_PAGE,
                        subject: tuple[str, str] = ("", "")) -> xmldoc.ObjectListing:
    query = {"list-type": "2", "encoding-type": "url", "max-keys": str(max_keys)}
    if prefix:
        query["prefix"] = prefix
    if start_after:
        query["start-after"] = start_after
    reply = await client.send("GET", upstream_bucket, query=query, subject=subject)
    return xmldoc.object_listing(reply.body)


async def upstream_keys(client: S3Client, upstream_bucket: str, prefix: str,
                        subject: tuple[str, str] = ("", "")) -> AsyncIterator[xmldoc.ListedObject]:
    """Every upstream object under a raw (unencoded) prefix: provgate's own records."""
    cursor = ""
    while True:
        page = await upstream_page(client, upstream_bucket, prefix=prefix, start_after=cursor,
                                   subject=subject)
        for listed in page.objects:
            cursor = listed.key
            yield listed
        if not page.truncated or not page.objects:
            return


async def list_objects(client: S3Client, upstream_bucket: str, bucket: str, *, prefix: str,
                       delimiter: str, start_after: str, max_keys: int) -> ListPage:
    upstream_prefix = keys.listing_prefix(prefix)
    cursor = keys.listing_cursor(start_after) if start_after else ""
    cursor = max(cursor, keys.LISTING_FLOOR)  # provgate's records sort before every key
    objects: list[ObjectInfo] = []
    prefixes: list[str] = []
    last: str | None = None
    batch = min(UPSTREAM_PAGE, max_keys + 1)
    while True:
        page = await upstream_page(client, upstream_bucket, prefix=upstream_prefix,
                                   start_after=cursor, max_keys=batch, subject=(bucket, ""))
        jumped = False
        for listed in page.objects:
            cursor = listed.key
            key = keys.decode_key(listed.key)
            if key is None and keys.is_digest_name(listed.key):
                key = await _key_of_digest_name(client, upstream_bucket, listed.key, bucket)
            if key is None or key <= start_after or not key.startswith(prefix):
                continue  # not written by provgate, or outside the asked range
            cut = key.find(delimiter, len(prefix)) if delimiter else -1
            if cut >= 0:
                common = key[:cut + len(delimiter)]
                if common > start_after and (not prefixes or prefixes[-1] != common):
                    if len(objects) + len(prefixes) >= max_keys:
                        return ListPage(objects, prefixes, True, last)
                    prefixes.append(common)
                    last = common
                skip = keys.after_prefix(common)
                if skip is not None:
                    cursor, jumped = skip, True
                    break
                continue
            if len(objects) + len(prefixes) >= max_keys:
                return ListPage(objects, prefixes, True, last)
            objects.append(ObjectInfo(bucket, key, listed.size, listed.etag, listed.last_modified,
                                      ObjectAttributes()))
            last = key
        if not jumped and (not page.truncated or not page.objects):
            return ListPage(objects, prefixes, False, last)


async def _key_of_digest_name(client: S3Client, upstream_bucket: str, name: str,
                              bucket: str) -> str | None:
    """The key behind a digest name, from the object's system metadata."""
    try:
        reply = await client.send("HEAD", upstream_bucket, name, subject=(bucket, ""))
    except errors.NoSuchKey:
        return None  # deleted since it was listed
    key = SystemFields.from_header(reply.headers.get(SYSTEM_HEADER)).key
    return key if key is not None and keys.encode_key(key) == name else None
