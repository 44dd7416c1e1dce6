"""A multipart upload assembled upstream, waiting to be committed.

Intake inspects a complete object before it becomes visible, but an upstream
CompleteMultipartUpload publishes at the key the upload was started on. So uploads are
started under a hidden staging key in the bucket's ``!pg/`` namespace (see ``keys``):
completing that upload assembles the bytes server-side — nothing passes through the
gateway and no part is buffered — without anything appearing under the client's key.
Intake reads it with :meth:`UploadStaged.read`; ``commit`` then copies it server-side to
the final key in one request (atomic, conditional where the upstream supports it) and
drops the staging object.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

from gateway.storage.base import StagedObject


@dataclass
class AssembledPart:
    number: int
    etag: str             # as the client knows it (md5 of the part)
    size: int
    last_modified: float


@dataclass(eq=False)
class UploadStaged(StagedObject):
    bucket: str                       # the client's bucket and key the upload belongs to
    key: str
    upload_id: str
    staging_key: str                  # upstream key of the assembled bytes
    size: int
    md5_hex: str                      # "<md5 of part md5s>-N"
    parts: list[AssembledPart]
    opener: Callable[[], Awaitable[AsyncIterator[bytes]]] = field(repr=False)
    checksums: dict[str, str] = field(default_factory=dict)

    @property
    def parts_count(self) -> int:  # type: ignore[override]
        return len(self.parts)

    async def read(self, chunk_size: int = 1 << 20) -> AsyncIterator[bytes]:
        body = await self.opener()
        try:
            async for chunk in body:
                yield chunk
        finally:
            close = getattr(body, "aclose", None)
            if close is not None:
                await close()

    async def discard(self) -> None:
        """Nothing to drop here: the assembled bytes belong to the upload, which stays
        open after a refused commit (so the client can retry Complete or abort) and is
        cleaned up by commit, abort or finish."""
