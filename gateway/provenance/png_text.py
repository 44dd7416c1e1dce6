"""The common PNG read in-process: what ExifTool would answer, without asking it.

Generator PNGs (AUTOMATIC1111, ComfyUI, InvokeAI, Fooocus, NovelAI) are a header, a few
text chunks and the image data. For exactly that shape this reader builds the same
``{"Group:Tag": value}`` answer that ``exiftool -j -G1 -struct -n`` gives for the tags
extraction reads (``tests/test_provenance_png_text.py`` compares the records built from
both, fixture by fixture), and saves the ExifTool round trip, which costs more CPU than
the rest of extraction.

Anything else returns None and goes to ExifTool: another chunk type (eXIf, iCCP, zTXt,
caBX with C2PA, ...), a text keyword outside ``KEYWORDS`` (ExifTool converts some values,
e.g. Creation Time), a text chunk after the image data or repeated (ExifTool warns, or
keeps one), a value ExifTool would print as a number, text that is not valid in its
encoding, an iTXt with a language or compression, bytes after IEND, a file that is not
a well-formed PNG, anything but a regular file. Only the chunk headers and the text chunks are read; the image data
is skipped.
"""

from __future__ import annotations

import os
import re
import stat
import struct
from typing import Any

SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Text keywords (as written, lower-cased) -> the tag name ExifTool gives them. ExifTool
# keeps these values as they are (no value conversion); extraction looks them up.
KEYWORDS = {
    "parameters": "Parameters", "prompt": "Prompt", "workflow": "Workflow",
    "invokeai_metadata": "Invokeai_metadata", "invokeai_graph": "Invokeai_graph",
    "invokeai_workflow": "Invokeai_workflow", "sd-metadata": "Sd-metadata",
    "fooocus_scheme": "Fooocus_scheme", "comment": "Comment", "description": "Description",
    "software": "Software", "source": "Source", "author": "Author", "title": "Title",
}
_IMAGE_CHUNKS = {b"IHDR", b"PLTE", b"IDAT", b"IEND"}
_TEXT_CHUNKS = {b"tEXt", b"iTXt"}
MAX_TEXT = 8 << 20           # larger text chunks are left to ExifTool (and its limits)
# What ExifTool's JSON writer prints unquoted (a number), which the parser would turn
# into int/Decimal: left to ExifTool, whose exact rule then applies.
_NUMBER_LIKE = re.compile(r"\s*[-+]?[\d.]+([eE][-+]?\d+)?\s*")
_COLOR_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}


def read(path: str) -> dict[str, Any] | None:
    """ExifTool's answer for the PNG at ``path`` (the tags extraction uses), or None when
    the file needs ExifTool."""
    try:
        # Only a regular file: reading a device or a FIFO could block (ExifTool's reads
        # have a deadline; this one has none).
        if not stat.S_ISREG(os.stat(path).st_mode):
            return None
        with open(path, "rb") as fh:
            return _read(fh)
    except (OSError, ValueError, struct.error, UnicodeDecodeError):
        return None


def _read(fh) -> dict[str, Any] | None:
    if fh.read(8) != SIGNATURE:
        return None
    tags: dict[str, Any] = {"File:FileType": "PNG", "File:FileTypeExtension": "png",
                            "File:MIMEType": "image/png"}
    seen_data = ended = False
    first = True
    while not ended:
        header = fh.read(8)
        if len(header) != 8:
            return None
        length, kind = struct.unpack(">I4s", header)
        if first != (kind == b"IHDR"):
            return None
        first = False
        if kind in _TEXT_CHUNKS:
            if seen_data or length > MAX_TEXT:
                return None
            data = fh.read(length)
            if len(data) != length or not _text(tags, kind, data):
                return None
            fh.seek(4, 1)                       # CRC: ExifTool does not check it either
        elif kind == b"IHDR":
            data = fh.read(length)
            if length != 13 or len(data) != 13 or not _header(tags, data):
                return None
            fh.seek(4, 1)
        elif kind in _IMAGE_CHUNKS:
            seen_data = seen_data or kind == b"IDAT"
            ended = kind == b"IEND"
            fh.seek(length + 4, 1)
        else:
            return None
    if not seen_data:
        return None
    position = fh.tell()
    fh.seek(0, 2)
    if fh.tell() != position:                   # trailing bytes: ExifTool warns
        return None
    return tags


def _header(tags: dict[str, Any], data: bytes) -> bool:
    width, height, depth, color, compression, filter_, interlace = struct.unpack(">IIBBBBB", data)
    if not width or not height or color not in _COLOR_CHANNELS:
        return False
    tags.update({"PNG:ImageWidth": width, "PNG:ImageHeight": height, "PNG:BitDepth": depth,
                 "PNG:ColorType": color, "PNG:Compression": compression,
                 "PNG:Filter": filter_, "PNG:Interlace": interlace,
                 "Composite:ImageSize": f"{width} {height}"})
    return True


def _text(tags: dict[str, Any], kind: bytes, data: bytes) -> bool:
    keyword, sep, rest = data.partition(b"\0")
    if not sep:
        return False
    name = KEYWORDS.get(keyword.decode("latin-1").lower())
    if name is None or f"PNG:{name}" in tags:
        return False
    if kind == b"tEXt":
        if b"\0" in rest:
            return False
        value = rest.decode("latin-1")
    else:
        # iTXt: compression flag, method, language tag \0, translated keyword \0, text
        if rest[:4] != b"\0\0\0\0":
            return False
        value = rest[4:].decode("utf-8")
        if "\0" in value:
            return False
    if _NUMBER_LIKE.fullmatch(value) or not value.strip():
        return False
    tags[f"PNG:{name}"] = value
    return True
