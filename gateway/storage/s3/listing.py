"""Listings over an upstream that stores keys encoded (see ``keys``) and versioned.

Both S3 listings — current objects, and versions with delete markers — read the
upstream's version listing through :func:`walk.walk` (keys in byte order, each key's
versions newest first, however the upstream pages). Encoded keys are decoded, common
prefixes are rolled up here for any delimiter, and after a common prefix the walk jumps
past everything under it, so a bucket with a million objects under three "folders"
costs three small requests, not a full scan. Provgate's own records (``!pg/``) sort
before every encoded key and are skipped by starting after ``keys.LISTING_FLOOR``.

A listed object carries what an S3 listing has: size, date, version and the upstream's
ETag (the client-visible one differs only for the cases ``docs/scale-out.md`` names);
its other attributes are left at their defaults.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from dataclasses import dataclass

from gateway import errors
from gateway.storage.base import (NULL_VERSION, ListPage, ObjectAttributes, ObjectInfo,
                                  VersionPage)
from gateway.storage.s3 import keys, walk
from gateway.wire.client import S3Client
from gateway.storage.s3.metadata import SYSTEM_HEADER, SystemFields
from gateway.wire.xmldoc import ListedVersion


@dataclass
class _Scope:
    """One listing request: where it lists and what it skips."""

    client: S3Client
    upstream_bucket: str
    bucket: str
    prefix: str
    delimiter: str

    @property
    def subject(self) -> tuple[str, str]:
        return (self.bucket, "")


async def _entries(scope: _Scope, after: str, after_version: str | None,
                   skip_through: str, live_only: bool
                   ) -> AsyncIterator[tuple[str, ListedVersion | None]]:
    """``(key, version)`` and ``(common prefix, None)`` in S3 order. The upstream walk
    starts after the encoded ``after`` (``after_version`` of it, when given); decoded
    keys up to ``skip_through`` and common prefixes not after it are passed over. With
    ``live_only``, only current versions that are not delete markers count."""
    upstream_prefix = keys.listing_prefix(scope.prefix)
    digest_keys: dict[str, str | None] = {}
    if after < keys.LISTING_FLOOR:  # provgate's records sort before every key
        after, after_version = keys.LISTING_FLOOR, None
    while True:
        jump = None
        versions = walk.walk(scope.client, scope.upstream_bucket, upstream_prefix,
                             after=after, after_version=after_version, latest_only=live_only,
                             subject=scope.subject)
        try:
            async for listed in versions:
                if live_only and (not listed.is_latest or listed.delete_marker):
                    continue
                key = await _key(scope, listed, digest_keys)
                if key is None or not key.startswith(scope.prefix):
                    continue  # not written by provgate, or outside the asked range
                if key < skip_through or (key == skip_through and after_version is None):
                    continue
                cut = key.find(scope.delimiter, len(scope.prefix)) if scope.delimiter else -1
                if cut < 0:
                    yield key, listed
                    continue
                common = key[:cut + len(scope.delimiter)]
                if common > skip_through:
                    yield common, None
                    skip_through = common
                jump = keys.after_prefix(common)
                if jump is not None:
                    break  # start a new walk past everything under the common prefix
        finally:
            await versions.aclose()
        if jump is None:
            return
        after, after_version = jump, None


async def _key(scope: _Scope, listed: ListedVersion, cache: dict[str, str | None]) -> str | None:
    key = keys.decode_key(listed.key)
    if key is not None or not keys.is_digest_name(listed.key):
        return key
    if listed.key not in cache:
        cache[listed.key] = await _key_of_digest_name(scope, listed)
    return cache[listed.key]


async def _key_of_digest_name(scope: _Scope, listed: ListedVersion) -> str | None:
    """The key behind a digest name, from a version's system metadata. A delete marker
    has none, so another version of the name is read; a name with nothing but delete
    markers cannot be shown."""
    version_id = None if listed.delete_marker else listed.version_id
    if version_id is None:
        async with aclosing(walk.exact(scope.client, scope.upstream_bucket, listed.key,
                                       complete=False, subject=scope.subject)) as others:
            async for other in others:
                if not other.delete_marker:
                    version_id = other.version_id
                    break
        if version_id is None:
            return None
    try:
        reply = await scope.client.send("HEAD", scope.upstream_bucket, listed.key,
                                        query={"versionId": version_id}, subject=scope.subject)
    except (errors.NoSuchKey, errors.NoSuchVersion):
        return None  # deleted since it was listed
    key = SystemFields.from_header(reply.headers.get(SYSTEM_HEADER)).key
    return key if key is not None and keys.encode_key(key) == listed.key else None


def _info(bucket: str, key: str, listed: ListedVersion) -> ObjectInfo:
    return ObjectInfo(bucket, key, listed.size, listed.etag, listed.last_modified,
                      ObjectAttributes(), version_id=listed.version_id,
                      is_latest=listed.is_latest, delete_marker=listed.delete_marker)


def shown(info: ObjectInfo, null_id: str | None) -> ObjectInfo:
    """``info`` as clients see it: the upstream version ``null_id`` is the null version
    (see ``versioning``)."""
    if null_id is not None and info.version_id == null_id:
        info.internal_id, info.version_id = null_id, NULL_VERSION
    return info


async def list_objects(client: S3Client, upstream_bucket: str, bucket: str, *, prefix: str,
                       delimiter: str, start_after: str, max_keys: int) -> ListPage:
    scope = _Scope(client, upstream_bucket, bucket, prefix, delimiter)
    after = keys.listing_cursor(start_after) if start_after else ""
    objects: list[ObjectInfo] = []
    prefixes: list[str] = []
    last: str | None = None
    entries = _entries(scope, after, None, start_after, live_only=True)
    try:
        async for key, listed in entries:
            if len(objects) + len(prefixes) >= max_keys:
                return ListPage(objects, prefixes, True, last)
            if listed is None:
                prefixes.append(key)
            else:
                objects.append(_info(bucket, key, listed))
            last = key
    finally:
        await entries.aclose()
    return ListPage(objects, prefixes, False, last)


async def list_versions(client: S3Client, upstream_bucket: str, bucket: str, *, prefix: str,
                        delimiter: str, key_marker: str, version_id_marker: str,
                        max_keys: int,
                        null_of: Callable[[str], Awaitable[str | None]] | None = None
                        ) -> VersionPage:
    """``null_of(key)``: the upstream id of the key's null version (None: the bucket's
    keys have none of their own), shown as ``null``."""
    scope = _Scope(client, upstream_bucket, bucket, prefix, delimiter)
    nulls: dict[str, str | None] = {}

    async def null_id(key: str) -> str | None:
        if null_of is None:
            return None
        if key not in nulls:
            nulls[key] = await null_of(key)
        return nulls[key]

    if key_marker and version_id_marker == NULL_VERSION:
        # Resume after the upstream version that is the null one (after the whole key
        # when it has none of its own any more).
        version_id_marker = await null_id(key_marker) or ""
    if key_marker and version_id_marker:
        # Resuming inside a key: the upstream must skip exactly its newer versions.
        after, after_version = keys.encode_key(key_marker), version_id_marker
    else:
        after, after_version = (keys.listing_cursor(key_marker) if key_marker else ""), None
    page = VersionPage([], [], False)
    entries = _entries(scope, after, after_version, key_marker, live_only=False)
    try:
        async for key, listed in entries:
            if len(page.versions) + len(page.common_prefixes) >= max_keys:
                page.truncated = True
                return page
            if listed is None:
                page.common_prefixes.append(key)
                page.next_key_marker, page.next_version_id_marker = key, None
            else:
                info = shown(_info(bucket, key, listed), await null_id(key))
                page.versions.append(info)
                page.next_key_marker, page.next_version_id_marker = key, info.version_id
    finally:
        await entries.aclose()
    page.next_key_marker = page.next_version_id_marker = None
    return page


async def upstream_keys(client: S3Client, upstream_bucket: str, prefix: str,
                        subject: tuple[str, str] = ("", "")) -> AsyncIterator[ListedVersion]:
    """The current versions under a raw (unencoded) prefix: provgate's own records."""
    versions = walk.walk(client, upstream_bucket, prefix, subject=subject)
    try:
        async for listed in versions:
            if listed.is_latest and not listed.delete_marker:
                yield listed
    finally:
        await versions.aclose()


async def purge_prefix(client: S3Client, upstream_bucket: str, prefix: str,
                       subject: tuple[str, str] = ("", "")) -> None:
    """Delete every version of every upstream key under a raw prefix, for good."""
    doomed = [(listed.key, listed.version_id) async for listed in
              walk.walk(client, upstream_bucket, prefix, subject=subject)]
    await bounded([lambda n=name, v=version_id: client.send(
        "DELETE", upstream_bucket, n, query={"versionId": v}, expect=(200, 204),
        subject=subject) for name, version_id in doomed])


async def purge(client: S3Client, upstream_bucket: str, name: str,
                subject: tuple[str, str] = ("", "")) -> None:
    """Delete every version of one upstream key for good (a plain DELETE would only add
    a delete marker in a versioned bucket, keeping the bytes): the newest page of its
    versions at a time, until none is left."""
    while True:
        found = [listed.version_id async for listed in
                 walk.exact(client, upstream_bucket, name, complete=False, subject=subject)]
        await bounded([lambda v=version_id: client.send(
            "DELETE", upstream_bucket, name, query={"versionId": v}, expect=(200, 204),
            subject=subject) for version_id in found])
        if len(found) < walk.UPSTREAM_PAGE:
            return


FAN_OUT = 16                     # concurrent small requests (reading records, deleting versions)


async def bounded(calls: list[Callable[[], Awaitable]], limit: int = FAN_OUT) -> list:
    gate = asyncio.Semaphore(limit)

    async def run(call):
        async with gate:
            return await call()

    return list(await asyncio.gather(*(run(c) for c in calls)))
