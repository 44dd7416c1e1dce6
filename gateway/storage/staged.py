"""A staged object held as a local file (a spooled PUT body, an assembled upload), and
the one spool writer that streams a body into such a file."""

from __future__ import annotations

import asyncio
import errno
import hashlib
import os
import shutil
import uuid
from collections.abc import AsyncIterable, AsyncIterator
from pathlib import Path

from gateway.storage.base import StagedObject

# Spooled bytes are handed to a worker thread for writing in batches of about this
# size (a thread hop per network read costs more than the write itself); a stream
# declared to end within two batches is written in one (one hop, not two).
SPOOL_BATCH = 1 << 20
# Read size when hashing a file: large enough that hashing runs at memory speed, small
# enough to stay out of the heap's way (one buffer per assembly).
CONCAT_CHUNK = 4 << 20


async def spool_to_file(chunks: AsyncIterable[bytes], path: Path, *, sync: bool = False,
                        digest=None, length: int | None = None) -> int:
    """Write ``chunks`` to a new file at ``path`` as they stream in; the number of bytes.

    The stream hashes itself while it is read (a verified request body computes its MD5,
    SHA-256 and the client's checksums; ``StreamBody`` does the same for a copy source),
    so spooling is also hashing.  Writes run in a worker thread, in batches of about
    ``SPOOL_BATCH`` bytes, so the event loop never waits for the disk.

    ``sync``   flush and fsync the file before returning (a multipart part, which is
               acknowledged as soon as it is recorded)
    ``digest`` a ``hashlib`` object fed every byte, in the writer thread beside the
               writes (off the event loop): for a stream that does not hash itself (an
               assembled upload read back for extraction)
    ``length`` the length the stream declared, if it did: when what is left to write
               fits in two batches, it is written in one when the stream ends

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
                if pending_bytes >= SPOOL_BATCH and not (
                        length is not None and pending_bytes < 2 * SPOOL_BATCH
                        and length - (size - pending_bytes) <= 2 * SPOOL_BATCH):
                    await asyncio.to_thread(_write, fh, pending, digest)
                    pending, pending_bytes = [], 0
            await asyncio.to_thread(_write_and_close_out, fh, pending, sync, digest)
    except BaseException:
        _remove(path)
        raise
    return size


def concatenate(sources: list[Path], target: Path) -> str:
    """Write the files ``sources`` one after another into a new file ``target`` and return
    the SHA-256 (hex) of what was written. The kernel copies (``copy_file_range``, no
    pass through Python) and the hash reads the pages it just wrote, still cached.
    Blocking (run it in a worker thread); on any failure ``target`` is removed before the
    error is raised."""
    try:
        with open(target, "wb") as out:
            for source in sources:
                with open(source, "rb") as fh:
                    _copy_all(fh, out)
        return _sha256_of(target)
    except BaseException:
        _remove(target)
        raise


def _copy_all(source, out) -> None:
    try:
        while os.copy_file_range(source.fileno(), out.fileno(), CONCAT_CHUNK << 4):
            pass
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
            raise
        shutil.copyfileobj(source, out, CONCAT_CHUNK)   # a filesystem without it


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    buffer = bytearray(CONCAT_CHUNK)
    view = memoryview(buffer)
    with open(path, "rb", buffering=0) as fh:
        while n := fh.readinto(buffer):
            digest.update(view[:n])
    return digest.hexdigest()


def _write(fh, pending: list[bytes], digest) -> None:
    if digest is not None:
        for piece in pending:
            digest.update(piece)
    fh.writelines(pending)


def _write_and_close_out(fh, pending: list[bytes], sync: bool, digest) -> None:
    if pending:
        _write(fh, pending, digest)
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
