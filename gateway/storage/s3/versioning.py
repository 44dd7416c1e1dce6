"""Upstream bucket versioning: turning it on, and reading what a 404 means.

Every provgate bucket is versioned (see ``gateway.storage.base``), and the upstream
keeps the versions: provgate enables versioning on each upstream bucket when it creates
it, and on a bucket made by an older provgate (or by hand) before the first write or
delete this process sends there — objects stored before that become the ``null``
version, as in S3. Which buckets are known to be versioned is remembered per process
only: enabling is idempotent, so gateways sharing an upstream need no coordination.

An upstream answers a read of a missing or deleted object with a bare 404, and a read of
a delete marker by version id with a 404 that looks the same (SeaweedFS 4.48). S3
clients expect more (``x-amz-delete-marker``, 405 for a marker named by version), so on a
404 the key's versions are looked up (:func:`walk.exact`) to say which it was. That
costs a listing, on the error path only.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import aclosing

from gateway import errors
from gateway.storage.base import (NULL_VERSION, delete_marker_addressed, deleted_key,
                                  no_such_version)
from gateway.storage.s3 import walk
from gateway.wire import xmldoc
from gateway.wire.client import S3Client


def version_of(headers: Mapping[str, str]) -> str:
    """The version an upstream reply names (``null`` from an unversioned upstream)."""
    return headers.get("x-amz-version-id") or NULL_VERSION


class Versioning:
    def __init__(self, client: S3Client) -> None:
        self.client = client
        self._enabled: set[str] = set()   # upstream buckets known to be versioned

    async def enable(self, upstream: str, bucket: str) -> None:
        await self.client.send("PUT", upstream, query={"versioning": ""},
                               body=xmldoc.versioning_document(), subject=(bucket, ""))
        self._enabled.add(upstream)

    async def ensure(self, upstream: str, bucket: str) -> None:
        """Make sure writes to this bucket keep versions (one request per process)."""
        if upstream in self._enabled:
            return
        reply = await self.client.send("GET", upstream, query={"versioning": ""},
                                       subject=(bucket, ""))
        if xmldoc.versioning_status(reply.body) == "Enabled":
            self._enabled.add(upstream)
        else:
            await self.enable(upstream, bucket)

    def forget(self, upstream: str) -> None:
        self._enabled.discard(upstream)

    async def explain_missing(self, upstream: str, name: str, bucket: str, key: str,
                              version_id: str | None) -> errors.GatewayError:
        """The error for a read that found nothing: NoSuchKey (saying whether the key's
        current version is a delete marker), NoSuchVersion, or MethodNotAllowed for a
        delete marker named by version id."""
        # The newest entry says what the key is now; a named version may be older.
        async with aclosing(walk.exact(self.client, upstream, name, complete=version_id is not None,
                                       subject=(bucket, key))) as versions:
            async for listed in versions:
                if version_id is None:
                    marker = listed.is_latest and listed.delete_marker
                    return deleted_key(bucket, key, listed.version_id if marker else None)
                if listed.version_id == version_id and listed.delete_marker:
                    return delete_marker_addressed(bucket, key, version_id, listed.last_modified)
        if version_id is None:
            return deleted_key(bucket, key, None)
        return no_such_version(bucket, key, version_id)
