"""Extraction: from a complete file on local disk and its headers to a ProvenanceRecord.

One ExifTool request per file (through the pool) reads everything ExifTool knows; the
generator parsers and the standard-metadata reader work on that answer. A PNG of the
common generator shape (header, known text chunks, image data) is read in-process
instead (``png_text``: the same answer for the tags read here, without the round trip). c2pa-python is
asked only when it can add something: when ExifTool saw a JUMBF box (JPEG, PNG), or when
the file is of a type c2pa reads but in which ExifTool 12.57 cannot see JUMBF (WebP,
AVIF/HEIF, TIFF, MP4/MOV, WAV, MP3, PDF, ...).

Nothing here raises because of the file's content. ExifTool timing out, ExifTool not
knowing the format (GLB, ZIP, ...), truncated media, malformed JSON, enormous chunks and
C2PA errors all leave a partial record whose ``notices`` say what was lost; the headers
and policy defaults still apply. c2pa-rs runs in a thread that cannot be killed: past
``c2pa_timeout`` the record is finished without it (notice ``c2pa_timeout``) and the
thread completes in the background.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
from collections.abc import Mapping
from decimal import Decimal
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from gateway.provenance import c2pa_reader, generators, png_text, standard_metadata
from gateway.provenance.assemble import assemble, merge_embedded
from gateway.provenance.exiftool_pool import ExifToolError, ExifToolPool, ExifToolTimeout
from gateway.provenance.headers import capture_headers
from gateway.provenance.record import C2paSummary, Media, ProvenanceRecord, utc_now
from gateway.provenance.tags import Tags

log = logging.getLogger("provgate.provenance")

# ExifTool errors that only mean "no metadata format I know": not a fault of the file.
_UNKNOWN_FORMAT_ERRORS = ("Unknown file type", "File is empty", "Unsupported file type")
_EXIFTOOL_JUMBF_TYPES = ("image/jpeg", "image/png")


class Extractor:
    """Builds provenance records. One per process; share it between requests.

    ``pool``: an ExifToolPool to use (not closed by ``close``); otherwise one of
    ``pool_size`` processes with ``exiftool_timeout`` is created and owned.
    ``in_process``: read common generator PNGs in-process (``png_text``); False sends
    every file to ExifTool.
    """

    def __init__(self, pool: ExifToolPool | None = None, *, pool_size: int = 2,
                 exiftool_timeout: float = 10.0, c2pa_timeout: float = 10.0,
                 c2pa_workers: int = 2, in_process: bool = True) -> None:
        self.in_process = in_process
        self._own_pool = pool is None
        self.pool = pool or ExifToolPool(size=pool_size, timeout=exiftool_timeout)
        self.c2pa_timeout = c2pa_timeout
        self._c2pa_executor = ThreadPoolExecutor(max_workers=c2pa_workers,
                                                 thread_name_prefix="c2pa")
        self._hash_executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="sha256")
        self._c2pa_types = c2pa_reader.supported_mime_types()

    async def start(self) -> None:
        await self.pool.astart()

    async def close(self) -> None:
        self._c2pa_executor.shutdown(wait=False, cancel_futures=True)
        self._hash_executor.shutdown(wait=False, cancel_futures=True)
        if self._own_pool:
            await self.pool.aclose()

    async def __aenter__(self) -> Extractor:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def extract(self, path: str | os.PathLike, content_type: str | None,
                      headers_meta: Mapping[str, str] | None, identity: str | None,
                      door: str = "s3", *, bucket: str | None = None, key: str | None = None,
                      version_id: str | None = None, sha256: str | None = None,
                      size: int | None = None, defaults: Mapping[str, Any] | None = None,
                      now: str | None = None) -> ProvenanceRecord:
        """The provenance record of the file at ``path`` (complete, on local disk).

        ``headers_meta``: S3 user metadata (lower-case names without ``x-amz-meta-``).
        ``sha256``/``size``: pass them if the caller hashed while spooling; otherwise the
        file is read once more to compute them. ``defaults``: policy defaults
        (record field -> value), applied where neither headers nor the file give a value.
        """
        record = ProvenanceRecord(bucket=bucket, key=key, version_id=version_id,
                                  content_type=content_type, identity=identity, door=door,
                                  captured_at=now or utc_now())
        header = capture_headers(headers_meta or {})
        path = os.fspath(path)
        if sha256 is None or size is None:
            try:
                digest, length = await asyncio.get_running_loop().run_in_executor(
                    self._hash_executor, _hash_file, path)
                sha256 = sha256 or digest
                size = length if size is None else size
            except OSError as exc:
                record.warn("read_failed", f"cannot read the file to hash it ({exc})",
                            severity="error")
        record.sha256, record.size = sha256, size

        tags = Tags()
        try:
            known = None
            if self.in_process:
                # ExifTool tells types by their bytes, not the name or Content-Type.
                known = await asyncio.get_running_loop().run_in_executor(
                    self._hash_executor, png_text.read, path)
            tags = Tags(known if known is not None else await self.pool.read(path))
        except ExifToolTimeout as exc:
            record.warn("exiftool_timeout", f"ExifTool: {exc}; embedded metadata not read",
                        severity="error")
        except ExifToolError as exc:
            record.warn("exiftool_failed", f"ExifTool: {exc}; embedded metadata not read",
                        severity="error")
        _exiftool_notices(record, tags)
        record.media = media_info(tags)

        c2pa = await self._c2pa(record, path, tags)
        try:
            embedded = merge_embedded(generators.parse_all(tags), standard_metadata.parse(tags),
                                      c2pa, ai_properties=standard_metadata.has_ai_properties(tags))
        except Exception as exc:  # noqa: BLE001 - a bug here must not lose the write
            log.exception("embedded metadata of %s could not be interpreted", path)
            record.warn("extraction_failed", "embedded metadata could not be interpreted "
                        f"({type(exc).__name__}: {str(exc)[:200]})", severity="error")
            embedded = merge_embedded([], None, c2pa)
        return assemble(record, header, embedded, defaults)

    async def _c2pa(self, record: ProvenanceRecord, path: str, tags: Tags) -> C2paSummary | None:
        mime = record.media.detected_type or _base_type(record.content_type)
        if not tags.has_group("JUMBF") and (
                not tags or mime in _EXIFTOOL_JUMBF_TYPES or mime not in self._c2pa_types):
            # ExifTool failed (c2pa would likely suffer the same), or ExifTool would have
            # seen a manifest, or c2pa cannot read this type
            return None
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._c2pa_executor, c2pa_reader.read_manifest, path, mime)
        try:
            summary, notices = await asyncio.wait_for(future, self.c2pa_timeout)
        except asyncio.TimeoutError:
            record.warn("c2pa_timeout", f"C2PA manifest not read within {self.c2pa_timeout:g} s",
                        severity="error")
            return None
        record.notices.extend(notices)
        return summary


def _base_type(content_type: str | None) -> str | None:
    if not content_type:
        return None
    return content_type.split(";")[0].strip().lower() or None


def _hash_file(path: str) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _exiftool_notices(record: ProvenanceRecord, tags: Tags) -> None:
    error = tags.text("ExifTool:Error")
    if error:
        if error.startswith(_UNKNOWN_FORMAT_ERRORS):
            record.warn("format_unreadable", f"ExifTool: {error}; the record comes from "
                        "headers and defaults only")
        else:
            record.warn("exiftool_error", f"ExifTool: {error}", severity="error")
    warning = tags.get("ExifTool:Warning")
    for text in warning if isinstance(warning, list) else [warning] if warning else []:
        record.warn("exiftool_warning", f"ExifTool: {text}")


def media_info(tags: Tags) -> Media:
    media = Media(detected_type=tags.text("File:MIMEType"), file_type=tags.text("File:FileType"))
    size = tags.text("Composite:ImageSize")
    if size:
        parts = size.replace("x", " ").split()
        if len(parts) == 2 and all(p.isdigit() for p in parts):
            media.width, media.height = int(parts[0]), int(parts[1])
    duration = tags.get("Composite:Duration", "QuickTime:Duration", "RIFF:Duration",
                        "Matroska:Duration", "MPEG:Duration")
    if duration is None:
        candidates = [v for _, v in tags.with_name("Duration")
                      if isinstance(v, (int, float, Decimal))]
        duration = candidates[0] if candidates else None
    if isinstance(duration, (int, float, Decimal)) and not isinstance(duration, bool):
        media.duration = float(duration)
    return media

