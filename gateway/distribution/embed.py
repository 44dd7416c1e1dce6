"""Provenance carried by the delivered file itself: XMP written with ExifTool.

``embed_xmp = true`` copies the record's standard XMP (IPTC Core and Extension with the
2025.1 AI properties and DigitalSourceType, PLUS rights and data mining, Dublin Core,
xmpRights, Photoshop credit, xmp:CreatorTool/Rating, xmpMM ids and history) into the copy,
so the AI marking travels with the file wherever it is served. provgate's own ``pg:``
namespace (seed, raw workflows, cost, review bookkeeping) stays home.

ExifTool writes XMP into JPEG, PNG, WebP, TIFF, MP4/MOV and PDF; any other format gets
the record as ``<copy>.xmp`` beside it (darktable/digiKam naming), the same file the
record is served as.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from gateway.provenance.exiftool_pool import CONFIG_FILE

# File types (ExifTool's names and MIME types) whose XMP ExifTool can write.
EMBEDDABLE_TYPES = {
    "image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP", "image/tiff": "TIFF",
    "video/mp4": "MP4", "video/quicktime": "MOV", "application/pdf": "PDF",
}
EMBEDDABLE_EXTENSIONS = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".webp": "WEBP",
                         ".tif": "TIFF", ".tiff": "TIFF", ".mp4": "MP4", ".m4v": "MP4",
                         ".mov": "MOV", ".pdf": "PDF"}
# XMP groups copied from the record into the file (family 1 names, see exiftool.config).
COPIED_GROUPS = ("XMP-iptcExt", "XMP-iptcCore", "XMP-plus", "XMP-dc", "XMP-xmpRights",
                 "XMP-photoshop", "XMP-xmp", "XMP-xmpMM")
EXIFTOOL_TIMEOUT = 120.0


class EmbedError(Exception):
    """ExifTool could not write the file (the message is ExifTool's)."""


def embeddable(content_type: str, key: str, detected_type: str | None = None) -> bool:
    """Whether the copy can hold XMP: the detected type first, then the declared one,
    then the key's extension."""
    for kind in (detected_type, content_type.split(";")[0].strip().lower()):
        if kind in EMBEDDABLE_TYPES:
            return True
    return Path(key).suffix.lower() in EMBEDDABLE_EXTENSIONS


async def embed_xmp(path: Path, record_xmp: bytes, work_dir: Path) -> None:
    """Write the record's XMP into the file at ``path`` (in place)."""
    source = work_dir / (path.name + ".record.xmp")
    await asyncio.to_thread(source.write_bytes, record_xmp)
    exiftool = shutil.which("exiftool")
    if exiftool is None:
        raise EmbedError("exiftool is not installed")
    args = [exiftool, "-config", str(CONFIG_FILE), "-q", "-q", "-m", "-overwrite_original",
            "-P", "-tagsFromFile", str(source)]
    args += [f"-{group}:all" for group in COPIED_GROUPS]
    args.append(str(path))
    try:
        process = await asyncio.create_subprocess_exec(
            *args, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE)
        try:
            out, err = await asyncio.wait_for(process.communicate(), EXIFTOOL_TIMEOUT)
        except TimeoutError:
            process.kill()
            await process.wait()
            raise EmbedError(f"exiftool took longer than {EXIFTOOL_TIMEOUT:g}s") from None
    finally:
        source.unlink(missing_ok=True)
    if process.returncode != 0:
        raise EmbedError((err or out).decode("utf-8", "replace").strip()[:500]
                         or f"exiftool exited with {process.returncode}")
