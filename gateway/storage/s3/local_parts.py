"""Multipart parts kept on this gateway's disk as they stream through it, so that
Complete builds the object intake inspects from them instead of reading the assembled
upload back from the upstream.

A cache, never the truth: every part is stored upstream and any gateway of a group may
serve any part, so a part file only ever saves a download. A file is named by its part
number and its md5 (the part's ETag), and an assembly uses local files only when every
part it names is here under the ETag the upload's records name as current; otherwise
(a part sent through another gateway, a restart, a full disk, a file that vanished) the
upload is read back as before. Files are not synced for the same reason.

Layout under the spool directory (which belongs to this gateway alone)::

    parts/<bucket>/<upload id>/<number>-<md5>     a part as the client sent it
    parts/<bucket>/<upload id>/.<random>          one still being written

An upload's files go when it is finished or aborted here, all of them when the gateway
starts, and those of uploads finished elsewhere by ``sweep``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import time
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from pathlib import Path

from gateway.storage.staged import SPOOL_BATCH, concatenate

log = logging.getLogger("provgate.storage.s3")

# A part is copied locally only while the spool's filesystem keeps at least this much
# room besides it (a full spool must not fail PUTs; the copy is optional).
HEADROOM = 1 << 30
# Uploads whose directory has not changed for this long are checked by ``sweep``.
SWEEP_AGE = 600.0


class LocalParts:
    """``root``: the directory holding the part files (called on use: the spool
    directory may be chosen after construction)."""

    def __init__(self, root: Callable[[], Path]) -> None:
        self._root = root
        self._swept = 0.0

    def directory(self, bucket: str, upload_id: str) -> Path:
        return self._root() / bucket / upload_id

    def copy(self, bucket: str, upload_id: str, number: int, length: int) -> PartCopy | None:
        """A copy of one part about to stream through, or None when the spool has no
        room to spare for it."""
        root = self._root()
        try:
            stats = os.statvfs(root.parent)
        except OSError:
            return None
        if stats.f_bavail * stats.f_frsize < length + HEADROOM:
            return None
        return PartCopy(self.directory(bucket, upload_id), number, length)

    async def adopt(self, bucket: str, upload_id: str, number: int, md5_hex: str,
                    path: Path) -> None:
        """Keep a part already spooled to ``path`` (on the same filesystem) as this
        upload's part ``number``."""
        target = self.directory(bucket, upload_id)
        try:
            await asyncio.to_thread(_install, target, path, number, md5_hex)
        except OSError as exc:
            log.info("part %d of upload %s not kept locally: %s", number, upload_id, exc)

    async def assemble(self, bucket: str, upload_id: str, parts: list[tuple[int, str, int]],
                       target: Path) -> str | None:
        """Write the parts ``(number, md5, size)`` one after another into ``target`` and
        return its SHA-256 (hex), or None, with nothing written, unless every one of them
        is here in full."""
        directory = self.directory(bucket, upload_id)
        sources = [directory / f"{number:05d}-{md5}" for number, md5, _ in parts]
        try:
            for source, (_, _, size) in zip(sources, parts):
                if (await asyncio.to_thread(os.stat, source)).st_size != size:
                    return None
            return await asyncio.to_thread(concatenate, sources, target)
        except OSError:
            return None   # missing, or replaced by a concurrent upload of the same part

    async def forget(self, bucket: str, upload_id: str) -> None:
        await asyncio.to_thread(shutil.rmtree, self.directory(bucket, upload_id), True)

    def clear(self) -> None:
        """Drop every part file (at start: what a previous process left is stale)."""
        shutil.rmtree(self._root(), ignore_errors=True)

    async def sweep(self, finished: Callable[[str, str], Awaitable[bool]]) -> None:
        """Drop the files of uploads that ``finished(bucket, upload_id)`` says are over
        (completed or aborted through another gateway), looking at most every
        ``SWEEP_AGE`` seconds and only at uploads idle here that long."""
        now = time.time()
        if now - self._swept < SWEEP_AGE:
            return
        self._swept = now
        for bucket, upload_id in await asyncio.to_thread(self._idle, now - SWEEP_AGE):
            if await finished(bucket, upload_id):
                await self.forget(bucket, upload_id)

    def _idle(self, before: float) -> list[tuple[str, str]]:
        found = []
        try:
            buckets = list(os.scandir(self._root()))
        except FileNotFoundError:
            return found
        for bucket in buckets:
            try:
                found += [(bucket.name, upload.name) for upload in os.scandir(bucket.path)
                          if upload.stat().st_mtime < before]
            except OSError:
                continue
        return found


class PartCopy:
    """One part written locally while it streams upstream (``wrap``), kept under its
    md5 once acknowledged (``keep``) or dropped (``drop``). A local write that fails
    (a full disk) only ends the copy: the part itself goes on."""

    def __init__(self, directory: Path, number: int, length: int) -> None:
        self.directory = directory
        self.number = number
        self.length = length
        self.temp = directory / f".{uuid.uuid4().hex}"
        self._fh = None
        self._written = 0
        self._writing: asyncio.Future | None = None

    async def wrap(self, chunks: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
        """Pass ``chunks`` on, writing each to the local file beside (in a worker thread,
        in batches of ``SPOOL_BATCH``; one batch is written while the next is sent)."""
        try:
            self._fh = await asyncio.to_thread(_open_new, self.temp)
        except OSError:
            self._fh = None
        pending: list[bytes] = []
        pending_bytes = seen = 0
        async for chunk in chunks:
            seen += len(chunk)
            if self._fh is not None:
                pending.append(chunk)
                pending_bytes += len(chunk)
                if pending_bytes >= SPOOL_BATCH or seen >= self.length:
                    await self._flush(pending)
                    pending, pending_bytes = [], 0
            if seen >= self.length:
                # The copy is complete before the upstream has the last byte: its reply
                # may come before the sender asks this generator for more.
                await self._settle()
            yield chunk

    async def _flush(self, pending: list[bytes]) -> None:
        await self._settle()
        if self._fh is not None:
            self._writing = asyncio.ensure_future(asyncio.to_thread(self._fh.writelines, pending))
            self._written += sum(len(p) for p in pending)

    async def _settle(self) -> None:
        """Wait for the batch being written; a failed write ends the copy."""
        writing, self._writing = self._writing, None
        if writing is None:
            return
        try:
            await writing
        except OSError as exc:
            log.info("part %d not kept locally: %s", self.number, exc)
            self._close()
            self._fh = None

    async def keep(self, md5_hex: str) -> None:
        """The part was acknowledged with this md5: keep the copy if it is complete."""
        await self._settle()
        fh, self._fh = self._fh, None
        if fh is None or self._written != self.length:
            await self.drop(fh)
            return
        try:
            await asyncio.to_thread(_close_and_install, fh, self.directory, self.temp,
                                    self.number, md5_hex)
        except OSError as exc:
            log.info("part %d not kept locally: %s", self.number, exc)
            await self.drop()

    async def drop(self, fh=None) -> None:
        """Remove the copy (safe to call more than once)."""
        fh = fh or self._fh
        self._fh = None
        if self._writing is not None:
            try:
                await self._writing
            except OSError:
                pass
            self._writing = None
        await asyncio.to_thread(_close_and_remove, fh, self.temp)

    def _close(self) -> None:
        if self._fh is not None:
            try:
                self._fh.close()
            except OSError:
                pass


def _open_new(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    return open(path, "xb")


def _close_and_install(fh, directory: Path, temp: Path, number: int, md5_hex: str) -> None:
    fh.close()
    _install(directory, temp, number, md5_hex)


def _install(directory: Path, source: Path, number: int, md5_hex: str) -> None:
    """Move ``source`` in as part ``number`` with ``md5_hex``, replacing the files of
    earlier uploads of that part number."""
    directory.mkdir(parents=True, exist_ok=True)
    name = f"{number:05d}-{md5_hex}"
    os.replace(source, directory / name)
    prefix = f"{number:05d}-"
    for entry in os.scandir(directory):
        if entry.name.startswith(prefix) and entry.name != name:
            _unlink(Path(entry.path))


def _close_and_remove(fh, path: Path) -> None:
    if fh is not None:
        try:
            fh.close()
        except OSError:
            pass
    _unlink(path)


def _unlink(path: Path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
