"""A staged object held as a local file (a spooled PUT body, an assembled upload)."""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

from gateway.storage.base import StagedObject


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
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass


async def adopt_spool_file(spool_dir: Path, path: Path, size: int, md5_hex: str,
                           checksums: dict[str, str]) -> LocalStagedFile:
    """A complete local file as a staged object, moved into ``spool_dir`` if elsewhere
    (the backends' ``stage_file``)."""
    if path.parent != spool_dir:
        target = spool_dir / uuid.uuid4().hex
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
