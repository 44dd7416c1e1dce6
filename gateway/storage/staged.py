"""A staged object held as a local file (a spooled PUT body, an assembled upload), and
the one spool writer that streams a body into such a file."""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterable, AsyncIterator
from pathlib import Path

from gateway.storage.base import StagedObject

# Spooled bytes are handed to a worker thread for writing in batches of about this
# size (a thread hop per network read costs more than the write itself).
SPOOL_BATCH = 1 << 20


async def spool_to_file(chunks: AsyncIterable[bytes], path: Path, *, sync: bool = False) -> int:
    """Write ``chunks`` to a new file at ``path`` as they stream in; the number of bytes.

    The stream hashes itself while it is read (a verified request body computes its MD5,
    SHA-256 and the client's checksums; ``StreamBody`` does the same for a copy source),
    so spooling is also hashing.  Writes run in a worker thread, in batches of about
    ``SPOOL_BATCH`` bytes, so the event loop never waits for the disk.

    ``sync``   flush and fsync the file before returning (a multipart part, which is
               acknowledged as soon as it is recorded)

    On any failure, the stream's own included (a bad signature, a short body), the file
    is removed before the error is raised.
    """
    size = 0
    pending: list[bytes] = []   # pieces not yet written: one thread hop per SPOOL_BATCH
    pending_bytes = 0
    try:
        with open(path, "wb") as fh:
            async for chunk in chunks:
                size += len(chunk)
                pending.append(chunk)
                pending_bytes += len(chunk)
                if pending_bytes >= SPOOL_BATCH:
                    await asyncio.to_thread(fh.writelines, pending)
                    pending, pending_bytes = [], 0
            await asyncio.to_thread(_write_and_close_out, fh, pending, sync)
    except BaseException:
        _remove(path)
        raise
    return size


def _write_and_close_out(fh, pending: list[bytes], sync: bool) -> None:
    if pending:
        fh.writelines(pending)
    if sync:
        fh.flush()
        os.fsync(fh.fileno())


def _remove(path: Path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


class LocalStagedFile(StagedObject):
    """Bytes complete in a local file, waiting for commit; the file belongs to it."""

    def __init__(self, path: Path, size: int, md5_hex: str, checksums: dict[str, str],
                 parts_count: int | None = None) -> None:
        self.path = path
        self.size = size
        self.md5_hex = md5_hex
        self.checksums = checksums
        self.parts_count = parts_count

    async def read(self, chunk_size: int = 1 << 20) -> AsyncIterator[bytes]:
        with open(self.path, "rb") as fh:
            while chunk := await asyncio.to_thread(fh.read, chunk_size):
                yield chunk

    async def discard(self) -> None:
        _remove(self.path)


class SpoolDirStaging:
    """``StorageBackend.stage_file`` for a backend that keeps staged bytes as local files
    in its ``spool_dir`` (both backends do)."""

    spool_dir: Path

    async def stage_file(self, path: Path, size: int, md5_hex: str,
                         checksums: dict[str, str]) -> StagedObject:
        """A complete local file as a staged object, moved into ``spool_dir`` if
        elsewhere."""
        if path.parent != self.spool_dir:
            target = self.spool_dir / uuid.uuid4().hex
            await asyncio.to_thread(shutil.move, path, target)
            path = target
        return LocalStagedFile(path, size, md5_hex, checksums)


def fsync_dir(path: Path) -> None:
    """Make a rename or unlink in ``path`` durable (POSIX needs the directory synced)."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
