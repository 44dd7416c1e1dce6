"""Upstream bucket versioning: turning it on, the versioning states clients set, ``null``
versions, and reading what a 404 means.

Every upstream bucket is versioned, and the upstream keeps the versions: provgate
enables versioning on each upstream bucket when it creates it, and on a bucket made by
an older provgate (or by hand) before the first write or delete this process sends
there — objects stored before that become the ``null`` version, as in S3. Which
buckets are known to be versioned is remembered per process only: enabling is
idempotent, so gateways sharing an upstream need no coordination.

The upstream bucket stays versioned whatever state a client sets: SeaweedFS 4.48 keeps
Suspended and ``null`` versions only in part (after re-enabling, a new write is not
the latest version while a ``null`` delete marker exists, and that marker cannot be
deleted by version id), and provenance needs every version's record anyway. So the
state is provgate's: a note in the bucket (``keys.VERSIONING_NAME``; a bucket without
one is Enabled, as every bucket was before the states existed), and each key's ``null``
version is an ordinary upstream version that a pointer (``keys.null_name``) names. A
write or delete while not versioning writes the new version (or delete marker), points
the pointer at it, then deletes the previous ``null`` version for good; clients see
that upstream version as ``null`` and its upstream id is its record id. A process that
dies between those steps leaves the previous ``null`` version as an ordinary noncurrent
version (nothing is lost). The state is cached for ``STATE_TTL`` seconds per process:
S3 too applies a changed versioning state eventually, not at once.

An upstream answers a read of a missing or deleted object with a bare 404, and a read of
a delete marker by version id with a 404 that looks the same (SeaweedFS 4.48). S3
clients expect more (``x-amz-delete-marker``, 405 for a marker named by version), so on a
404 the key's versions are looked up (:func:`walk.exact`) to say which it was. That
costs a listing, on the error path only.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from contextlib import aclosing

from gateway import errors
from gateway.storage.base import (NULL_VERSION, VERSIONING_ENABLED, delete_marker_addressed,
                                  deleted_key, no_such_version)
from gateway.storage.s3 import keys, walk
from gateway.storage.s3.listing import bounded
from gateway.wire import xmldoc
from gateway.wire.client import S3Client


def shown_error(exc: errors.GatewayError, null_id: str | None) -> errors.GatewayError:
    """An error naming the upstream version ``null_id`` names the null version instead."""
    if null_id is not None:
        if exc.headers.get("x-amz-version-id") == null_id:
            exc.headers["x-amz-version-id"] = NULL_VERSION
        if exc.fields.get("VersionId") == null_id:
            exc.fields["VersionId"] = NULL_VERSION
    return exc


def version_of(headers: Mapping[str, str]) -> str:
    """The version an upstream reply names (``null`` from an unversioned upstream)."""
    return headers.get("x-amz-version-id") or NULL_VERSION


log = logging.getLogger("provgate.storage.s3")
STATE_TTL = 5.0                   # seconds a bucket's versioning state is cached


class Versioning:
    def __init__(self, client: S3Client) -> None:
        self.client = client
        self._enabled: set[str] = set()   # upstream buckets known to be versioned
        # upstream bucket -> (state, whether it has a note, when read)
        self._states: dict[str, tuple[str, bool, float]] = {}

    # -- the state clients set ------------------------------------------------------------
    async def state(self, upstream: str, bucket: str) -> tuple[str, bool]:
        """The bucket's state, and whether it has a note (only then can keys have
        ``null`` versions of their own). NoSuchBucket."""
        cached = self._states.get(upstream)
        if cached is not None and time.monotonic() - cached[2] < STATE_TTL:
            return cached[0], cached[1]
        try:
            reply = await self.client.send("GET", upstream, keys.VERSIONING_NAME,
                                           subject=(bucket, ""))
            state, noted = reply.body.decode().strip(), True
        except errors.NoSuchKey:
            state, noted = VERSIONING_ENABLED, False
        self._states[upstream] = (state, noted, time.monotonic())
        return state, noted

    async def set_state(self, upstream: str, bucket: str, state: str) -> None:
        await self.client.send("PUT", upstream, keys.VERSIONING_NAME, body=state.encode(),
                               subject=(bucket, ""))
        self._states[upstream] = (state, True, time.monotonic())
        await drop_older(self.client, upstream, keys.VERSIONING_NAME, bucket)

    # -- null versions --------------------------------------------------------------------
    async def null_of(self, upstream: str, bucket: str, key: str) -> str | None:
        """The upstream version id of ``key``'s null version, if it has one of its own."""
        try:
            reply = await self.client.send("GET", upstream, keys.null_name(key),
                                           subject=(bucket, key))
        except errors.NoSuchKey:
            return None
        return reply.body.decode().strip() or None

    async def replace_null(self, upstream: str, bucket: str, key: str,
                           version_id: str | None, previous: str | None) -> None:
        """Make ``version_id`` (None: none) the key's null version and delete the
        ``previous`` one for good."""
        name = keys.null_name(key)
        if version_id is not None:
            await self.client.send("PUT", upstream, name, body=version_id.encode(),
                                   subject=(bucket, key))
            await drop_older(self.client, upstream, name, bucket)
        else:
            await drop_older(self.client, upstream, name, bucket, keep=0)
        if previous is not None and previous != version_id:
            try:
                await self.client.send("DELETE", upstream, keys.encode_key(key),
                                       query={"versionId": previous}, expect=(200, 204),
                                       subject=(bucket, key))
            except errors.GatewayError as exc:
                # The write itself is done: the old null version stays as an ordinary
                # older version, as when a process dies here.
                log.warning("replaced null version %s of %s/%s not deleted: %s",
                            previous, bucket, key, exc.message)

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
        """The bucket is gone (or new): nothing known of it holds any more."""
        self._enabled.discard(upstream)
        self._states.pop(upstream, None)

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


async def drop_older(client: S3Client, upstream: str, name: str, bucket: str, *,
                     keep: int = 1) -> None:
    """Delete every version of an internal upstream key but the newest ``keep``, for good."""
    older = [listed.version_id async for listed in
             walk.exact(client, upstream, name, subject=(bucket, ""))][keep:]
    await bounded([lambda v=version_id: client.send(
        "DELETE", upstream, name, query={"versionId": v}, expect=(200, 204),
        subject=(bucket, "")) for version_id in older])
