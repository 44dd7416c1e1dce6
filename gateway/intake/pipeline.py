"""The intake pipeline: the one code path that commits writes.

PutObject, CopyObject and CompleteMultipartUpload (and the folder sidecar, which is an
S3 client) all end here. A write is first made complete and inspectable — spooled to
local disk while hashing, or assembled from its parts — and only then committed to the
backend under its key. The caller acknowledges only after ``ingest`` returns, so a 2xx
always means the object is durable.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import uuid
from collections.abc import AsyncIterable
from dataclasses import dataclass

from gateway import metrics
from gateway.identities import Identity
from gateway.storage.base import (ObjectAttributes, ObjectInfo, PartBody, StagedObject,
                                  StorageBackend)


@dataclass
class WriteRequest:
    """A complete object on its way in, and who sent it through which door."""

    bucket: str
    key: str
    staged: StagedObject
    attributes: ObjectAttributes
    identity: Identity
    door: str = "s3"                 # "s3" | "share"
    if_match: str | None = None      # unquoted ETag the current object must have
    if_none_match: bool = False      # no object may exist under the key


class IntakePipeline:
    def __init__(self, backend: StorageBackend) -> None:
        self.backend = backend

    async def spool(self, body: PartBody) -> StagedObject:
        """Write a body to the backend's spool directory, hashing as it streams.

        The body's checksums (algorithm -> base64, the client's, verified while reading)
        are kept with the object. The spool file is removed if the body fails part-way
        (a bad signature, a short body).
        """
        path = self.backend.spool_dir / uuid.uuid4().hex
        size = 0
        try:
            with metrics.INTAKE_STAGE_SECONDS.labels("spool").time(), open(path, "wb") as fh:
                async for chunk in body:
                    size += len(chunk)
                    await asyncio.to_thread(fh.write, chunk)
        except BaseException:
            _remove(path)
            raise
        return await self.backend.stage_file(path, size, body.md5_hex, dict(body.checksums))

    async def ingest(self, write: WriteRequest) -> ObjectInfo:
        """Commit a staged write; on any failure the staged bytes are discarded."""
        outcome = "failed"
        try:
            with metrics.INTAKE_STAGE_SECONDS.labels("commit").time():
                info = await self.backend.commit(write.bucket, write.key, write.staged,
                                                 write.attributes, if_match=write.if_match,
                                                 if_none_match=write.if_none_match)
            outcome = "committed"
            return info
        finally:
            metrics.INTAKE_WRITES.labels(write.door, outcome).inc()
            await write.staged.discard()


class StreamBody:
    """A plain byte stream (a copy source) in the shape of a verified request body."""

    def __init__(self, stream: AsyncIterable[bytes], length: int | None) -> None:
        self._stream = stream
        self._md5 = hashlib.md5()
        self.length = length
        self.checksums: dict[str, str] = {}

    @property
    def md5_hex(self) -> str:
        return self._md5.hexdigest()

    async def __aiter__(self):
        async for chunk in self._stream:
            self._md5.update(chunk)
            yield chunk


def _remove(path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
