"""Making one thumbnail from a file on local disk: Pillow for images, ffmpeg for a video's
poster frame, pdftoppm (poppler) for a PDF's first page. Blocking (``render_image``) or
a subprocess (``video_frame``, ``pdf_page``); hostile input ends in :class:`Undecodable`,
never a crash, a hang or an unbounded allocation.

Limits, each checked before the work it bounds:

- :data:`MAX_PIXELS`: an image larger than this (width × height, read from its header)
  is refused before any pixel is decoded, so a decompression bomb (a small file that
  decodes to gigabytes) costs nothing. Pillow's own bomb check is set to the same figure.
- Truncated or corrupt image data, and bytes that are no image Pillow knows, are refused
  with the decoder's reason.
- JPEGs are decoded at the smallest scale that still covers the thumbnail (``draft``).
- ffmpeg reads one frame near the start, single-threaded; pdftoppm draws the first page
  at the thumbnail's size. Each runs as its own process (a crash in a decoder is not the
  gateway's), is killed after ``timeout`` seconds, and its picture is then read back
  through ``render_image`` like any image.
"""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError, features

# Largest image (width × height) made into a thumbnail: 64 megapixels decode to at most
# 256 MB of RGBA, the most one thumbnail may hold in memory.
MAX_PIXELS = 64_000_000
Image.MAX_IMAGE_PIXELS = MAX_PIXELS

# Longest side of each size, in pixels.
SIZES = {"small": 256, "large": 1024}

# WebP where Pillow was built with it (smaller, keeps transparency), else JPEG.
FORMAT, CONTENT_TYPE = ("WEBP", "image/webp") if features.check("webp") else ("JPEG", "image/jpeg")
QUALITY = 80


class Undecodable(Exception):
    """The bytes cannot be made into a thumbnail; the message says why (for people)."""


def render_image(source: Path, longest: int) -> bytes:
    """A thumbnail of the image in ``source`` whose longer side is at most ``longest``
    pixels (never enlarged), oriented as its EXIF says; ``FORMAT`` bytes."""
    try:
        with Image.open(source) as image:
            width, height = image.size
            if width < 1 or height < 1:
                raise Undecodable("the image has no pixels")
            if width * height > MAX_PIXELS:
                raise Undecodable(f"the image is {width}×{height} pixels, more than the "
                                  f"{MAX_PIXELS:,} a thumbnail is made of")
            image.draft("RGB", (longest, longest))
            image.load()
            picture = ImageOps.exif_transpose(image)
            picture.thumbnail((longest, longest))
            if picture.mode not in ("RGB", "RGBA"):
                picture = picture.convert("RGBA" if "A" in picture.getbands()
                                          or "transparency" in picture.info else "RGB")
            if FORMAT == "JPEG" and picture.mode != "RGB":
                picture = picture.convert("RGB")
            out = io.BytesIO()
            picture.save(out, FORMAT, quality=QUALITY)
            return out.getvalue()
    except Undecodable:
        raise
    except Image.DecompressionBombError as exc:
        # Pillow refuses more than twice MAX_IMAGE_PIXELS while opening, before the size
        # check above sees the image (between once and twice it only warns).
        raise Undecodable(f"the image is more than the {MAX_PIXELS:,} pixels a thumbnail "
                          f"is made of ({exc})") from None
    except UnidentifiedImageError:
        raise Undecodable("the bytes are not an image this server can read") from None
    except MemoryError:
        raise Undecodable("the image needs more memory to decode than is free") from None
    except Exception as exc:  # noqa: BLE001 — hostile bytes reach every decoder's edge
        # Truncated and corrupt data surface as OSError, ValueError, SyntaxError, EOFError,
        # and in a format plugin's own checks as others: all of them mean "cannot decode".
        detail = str(exc).replace(str(source), "the object")[:200]
        raise Undecodable(f"the image data cannot be decoded ({type(exc).__name__}: "
                          f"{detail})") from None


async def video_frame(ffmpeg: str, source: Path, target: Path, longest: int,
                      timeout: float) -> None:
    """Write a PNG of the video's first frame to ``target``, scaled to fit ``longest``."""
    scale = (f"scale='min({longest},iw)':'min({longest},ih)'"
             ":force_original_aspect_ratio=decrease")
    await _run([ffmpeg, "-nostdin", "-v", "error", "-threads", "1", "-i", str(source),
                "-frames:v", "1", "-an", "-vf", scale, "-f", "image2", "-c:v", "png", "-y",
                str(target)], source, target, timeout, "no frame could be read from the video")


async def pdf_page(pdftoppm: str, source: Path, target: Path, longest: int,
                   timeout: float) -> None:
    """Write a PNG of the PDF's first page to ``target`` (a ``.png`` path), its longer
    side ``longest`` pixels (a page is drawn at the size asked, however large it says
    it is)."""
    await _run([pdftoppm, "-q", "-f", "1", "-l", "1", "-singlefile", "-png",
                "-scale-to", str(longest), str(source), str(target.with_suffix(""))],
               source, target, timeout, "the first page of the PDF could not be drawn")


async def _run(command: list[str], source: Path, target: Path, timeout: float,
               failure: str) -> None:
    """Run a tool that reads ``source`` and writes ``target``; Undecodable (``failure``,
    and the tool's last words) when it fails, writes nothing or takes longer than
    ``timeout`` seconds."""
    log = target.with_suffix(".log")
    with open(log, "wb") as err:
        # Errors go to a file, not a pipe: a hostile file can make a tool print without end.
        process = await asyncio.create_subprocess_exec(
            *command, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
            stderr=err)
    try:
        await asyncio.wait_for(process.wait(), timeout)
    except asyncio.TimeoutError:
        process.kill()
        await process.wait()
        raise Undecodable(f"{failure} within {timeout:g} s") from None
    except asyncio.CancelledError:
        process.kill()
        await process.wait()
        raise
    if process.returncode != 0 or not target.exists() or target.stat().st_size == 0:
        with open(log, "rb") as err:
            err.seek(max(0, log.stat().st_size - 1024))
            # The scratch path means nothing to the caller (and is the server's business).
            reason = err.read().decode("utf-8", "replace").replace(
                str(source), "the object").strip().splitlines()
        raise Undecodable(failure + (f" ({reason[-1][:200]})" if reason else ""))
