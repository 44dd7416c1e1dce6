"""Thumbnails of object versions, made on first view and kept in the cache.

:meth:`Thumbnails.get` answers a cached thumbnail at once; otherwise it reads the
version's bytes through the caller's ``open_object`` (the gatekeeper's read: the
thumbnails package never sees a backend) into a scratch file, at most
:data:`MAX_SOURCE_BYTES`, makes the thumbnail there and keeps it. What can be made:

- images (``image/*``): Pillow (``render.render_image``);
- video (``video/*``): the first frame, with ffmpeg when it is installed;
- PDF: the first page, with pdftoppm (poppler-utils) when it is installed;
- audio and every other type: nothing (``NoThumbnail``, with the reason).

Bytes that cannot be decoded answer ``UnsupportedMediaType`` (415), and the reason is
cached like a thumbnail, so the same hostile version is not decoded again. At most
``concurrency`` thumbnails are made at once; two requests for the same one make it once.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import shutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from gateway import errors
from gateway.thumbnails import render
from gateway.thumbnails.cache import ThumbnailCache

log = logging.getLogger("provgate.thumbnails")

# The largest object read to make a thumbnail of (a bigger one answers 415): a poster
# frame of a long video needs the whole file on local disk.
MAX_SOURCE_BYTES = 2 << 30
# Seconds ffmpeg may take to find the first frame, or pdftoppm to draw the first page,
# before it is killed.
TOOL_TIMEOUT = 30.0
# Bumped when thumbnails are made differently: older cache entries are not used again.
RENDER_VERSION = "1"


@dataclass(frozen=True)
class Thumbnail:
    body: bytes
    content_type: str


def parse_size(value: str | None) -> str:
    """``small`` (default) or ``large``; InvalidArgument otherwise."""
    if value is None:
        return "small"
    if value not in render.SIZES:
        raise errors.InvalidArgument(f"size: {str(value)[:40]!r} is not one of "
                                     f"{', '.join(render.SIZES)}", ArgumentName="size")
    return value


def _base(media_type: str | None) -> str:
    return (media_type or "").split(";", 1)[0].strip().lower()


def kind_of(declared: str | None, detected: str | None = None) -> str:
    """``image``, ``video`` or ``pdf`` from the type a version was sent as (``declared``)
    and the one found in its bytes (``detected``, which wins); NoThumbnail says why there
    is none, UnsupportedMediaType when the bytes are not the picture the writer claimed."""
    claimed, found = _base(declared), _base(detected)
    base = found or claimed
    kind = _KINDS.get(base) or _KINDS.get(base.partition("/")[0])
    if kind is not None:
        return kind
    if found and (_KINDS.get(claimed) or _KINDS.get(claimed.partition("/")[0])):
        raise errors.UnsupportedMediaType(f"sent as {claimed}, but the bytes are {found}")
    if base.startswith("audio/"):
        raise errors.NoThumbnail("audio has no picture to make a thumbnail of")
    raise errors.NoThumbnail(f"no thumbnail is made for {base or 'objects of unknown type'}")


# Media types (or their top level) that have a thumbnail, and how it is made.
_KINDS = {"image": "image", "video": "video", "application/pdf": "pdf"}


class Thumbnails:
    """``directory``, ``max_bytes``  the cache (``ThumbnailCache``)
    ``ffmpeg``       the ffmpeg executable (None: video has no thumbnails)
    ``pdftoppm``     poppler's pdftoppm (None: PDF has no thumbnails)
    ``concurrency``  thumbnails made at once (each holds at most one image decoded)
    """

    def __init__(self, directory: Path, max_bytes: int, *,
                 ffmpeg: str | None = shutil.which("ffmpeg"),
                 pdftoppm: str | None = shutil.which("pdftoppm"), concurrency: int = 2) -> None:
        self.cache = ThumbnailCache(directory, max_bytes)
        self.ffmpeg = ffmpeg
        self.pdftoppm = pdftoppm
        self._slots = asyncio.Semaphore(concurrency)
        self._making: dict[str, asyncio.Future] = {}

    @staticmethod
    def key(bucket: str, key: str, version_id: str, size: str) -> str:
        raw = "\0".join((RENDER_VERSION, bucket, key, version_id, size, render.FORMAT))
        return hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()

    def etag(self, bucket: str, key: str, version_id: str, size: str) -> str:
        """The ETag of a thumbnail, known before it is made (it names version and size)."""
        return f'"{self.key(bucket, key, version_id, size)[:32]}"'

    async def get(self, bucket: str, key: str, version_id: str, size: str,
                  media_types: tuple[str | None, str | None],
                  open_object: Callable[[], Awaitable]) -> Thumbnail:
        """The thumbnail of one version. ``open_object()`` returns the version's
        ``ObjectStream``; ``media_types`` are the type it was sent as and the one found
        in its bytes (``kind_of``). Raises NoThumbnail (404) or UnsupportedMediaType
        (415)."""
        try:
            kind = kind_of(*media_types)
        except errors.UnsupportedMediaType as exc:
            raise errors.UnsupportedMediaType(f"{bucket}/{key}: {exc.message}") from None
        name = self.key(bucket, key, version_id, size)
        made, reason = await asyncio.to_thread(self.cache.get, name)
        if made is None and reason is None:
            pending = self._making.get(name)
            if pending is None:
                pending = asyncio.ensure_future(self._make(name, kind, size, open_object))
                self._making[name] = pending
                pending.add_done_callback(lambda _: self._making.pop(name, None))
            made, reason = await asyncio.shield(pending)
        if made is None:
            raise errors.UnsupportedMediaType(f"{bucket}/{key}: {reason}")
        return Thumbnail(made, render.CONTENT_TYPE)

    async def _make(self, name: str, kind: str, size: str,
                    open_object: Callable[[], Awaitable]) -> tuple[bytes | None, str | None]:
        async with self._slots:
            work = self.cache.scratch / name
            work.mkdir(exist_ok=True)
            try:
                made = await self._render(work, kind, render.SIZES[size], open_object)
            except OSError as exc:
                if errors.is_storage_full(exc):
                    raise errors.ServiceUnavailable(
                        "the thumbnail cache's disk is full; try again once space is "
                        "freed") from None
                raise
            except render.Undecodable as exc:
                reason = str(exc)
                await asyncio.to_thread(self._keep, name, None, reason)
                return None, reason
            finally:
                await asyncio.to_thread(shutil.rmtree, work, True)
            await asyncio.to_thread(self._keep, name, made)
            return made, None

    def _keep(self, name: str, made: bytes | None, reason: str | None = None) -> None:
        try:
            self.cache.put(name, made, reason)
        except OSError as exc:
            # A full or read-only cache disk costs making it again, not the answer.
            log.warning("thumbnail cache %s: cannot keep a thumbnail: %s",
                        self.cache.directory, exc)

    async def _render(self, work: Path, kind: str, longest: int,
                      open_object: Callable[[], Awaitable]) -> bytes:
        tool = {"video": (self.ffmpeg, render.video_frame, "video posters need ffmpeg"),
                "pdf": (self.pdftoppm, render.pdf_page,
                        "PDF pages are drawn by pdftoppm (Debian package poppler-utils)")
                }.get(kind)
        if tool is not None and tool[0] is None:
            raise errors.NoThumbnail(f"{tool[2]}, which is not installed on this server")
        source = work / "source"
        await _spool(open_object, source)
        if tool is not None:
            drawn = work / "drawn.png"
            await tool[1](tool[0], source, drawn, longest, TOOL_TIMEOUT)
            source = drawn
        return await asyncio.to_thread(render.render_image, source, longest)


async def _spool(open_object: Callable[[], Awaitable], target: Path) -> None:
    """Copy the object's bytes to ``target``, piece by piece (never whole in memory)."""
    stream = await open_object()
    try:
        if stream.info.size > MAX_SOURCE_BYTES:
            raise render.Undecodable(f"the object is {stream.info.size:,} bytes, more than "
                                     f"the {MAX_SOURCE_BYTES:,} a thumbnail is made from")
        with open(target, "wb") as out:
            async for piece in stream.body:
                await asyncio.to_thread(out.write, piece)
    finally:
        await stream.close()
