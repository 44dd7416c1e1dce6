"""The in-process PNG reader gives the same record as ExifTool, or hands the file over.

Every media fixture is extracted twice, once with every file sent to the real ExifTool
(``in_process=False``) and once as intake does it; the records must be identical. The
generator PNGs must actually take the in-process path (else the comparison proves
nothing), and every other shape must go to ExifTool.
"""

from __future__ import annotations

import asyncio
import zlib
import struct

import pytest
from PIL import Image, PngImagePlugin

from gateway.provenance import Extractor, png_text
from tests.support.media import FIXTURE_NAMES, build_all

NOW = "2026-12-06T23:00:00Z"
# The generator PNGs of the fixture set that the in-process reader takes on.
IN_PROCESS = {"a1111_png", "nonlatin_png", "comfyui_png", "comfyui_malformed",
              "invokeai_png", "fooocus_png", "a_png", "huge_text_png"}


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    return build_all(tmp_path_factory.mktemp("media"))


def extract_all(files: dict, in_process: bool) -> dict:
    async def run():
        async with Extractor(pool_size=1, exiftool_timeout=30.0, in_process=in_process) as ex:
            return {name: (await ex.extract(path, content_type, headers, "alice", "s3",
                                            bucket="renders", key=f"{name}.bin",
                                            version_id="v1", now=NOW)).to_dict()
                    for name, (path, content_type, headers) in files.items()}
    return asyncio.run(run())


@pytest.fixture(scope="module")
def both(media):
    files = {name: (fx.path, fx.content_type, fx.headers) for name, fx in media.items()}
    return extract_all(files, in_process=False), extract_all(files, in_process=True)


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_the_record_is_the_one_exiftool_gives(name, both):
    with_exiftool, as_intake_does = both
    assert as_intake_does[name] == with_exiftool[name]


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_generator_pngs_are_read_in_process_and_the_rest_by_exiftool(name, media):
    taken = png_text.read(str(media[name].path)) is not None
    assert taken == (name in IN_PROCESS)


def png(path, chunks_before=(), chunks_after=(), trailing=b"", text=None):
    """A small RGB PNG with ``text`` (tEXt) plus raw chunks around the image data."""
    info = PngImagePlugin.PngInfo()
    for key, value in (text or {}).items():
        info.add_text(key, value)
    Image.new("RGB", (8, 4), (10, 20, 30)).save(path, pnginfo=info)
    data = path.read_bytes()
    idat = data.index(b"IDAT") - 4
    iend = data.index(b"IEND") - 4
    path.write_bytes(data[:idat] + b"".join(chunks_before) + data[idat:iend]
                     + b"".join(chunks_after) + data[iend:] + trailing)
    return path


def chunk(kind: bytes, payload: bytes) -> bytes:
    return (struct.pack(">I", len(payload)) + kind + payload
            + struct.pack(">I", zlib.crc32(kind + payload)))


@pytest.mark.parametrize("shape", [
    "creation time", "text after the image data", "repeated keyword", "number",
    "zTXt", "iTXt with a language", "eXIf", "trailing bytes", "unknown keyword",
    "latin-1 and control characters", "plain",
])
def test_edge_shapes_give_the_exiftool_record(shape, tmp_path):
    path = tmp_path / "shape.png"
    text = {"parameters": "a fox\nSteps: 20, Seed: 7"}
    before, after, trailing, expect_in_process = [], [], b"", False
    if shape == "creation time":
        text["Creation Time"] = "2024:01:02 03:04:05"
    elif shape == "text after the image data":
        after.append(chunk(b"tEXt", b"prompt\0{\"1\": {}}"))
    elif shape == "repeated keyword":
        before.append(chunk(b"tEXt", b"parameters\0a hare"))
    elif shape == "number":
        text["Comment"] = "42"
    elif shape == "zTXt":
        before.append(chunk(b"zTXt", b"workflow\0\0" + zlib.compress(b'{"nodes": []}')))
    elif shape == "iTXt with a language":
        before.append(chunk(b"iTXt", "Description\0\0\0de\0Beschreibung\0Ein Fuchs".encode()))
    elif shape == "eXIf":
        before.append(chunk(b"eXIf", b"MM\0*\0\0\0\x08\0\0"))
    elif shape == "trailing bytes":
        trailing = b"junk after the end"
    elif shape == "unknown keyword":
        text["my key!"] = "value"
    elif shape == "latin-1 and control characters":
        text["Description"] = "caf\xe9 \t tab\r\nline \x7f"
        expect_in_process = True
    else:
        expect_in_process = True
    png(path, before, after, trailing, text)
    assert (png_text.read(str(path)) is not None) == expect_in_process
    files = {"shape": (path, "image/png", {})}
    assert extract_all(files, in_process=True) == extract_all(files, in_process=False)


def test_truncated_or_corrupted_pngs_go_to_exiftool(media, tmp_path):
    """Hostile input: every cut of a generator PNG, and a chunk length pointing far past
    the end, is handed to ExifTool (None), never an exception or a partial answer."""
    data = media["a1111_png"].path.read_bytes()
    path = tmp_path / "cut.png"
    for end in range(0, len(data) - 1, max(1, len(data) // 97)):
        path.write_bytes(data[:end])
        assert png_text.read(str(path)) is None, end
    text_at = data.index(b"tEXt") - 4
    path.write_bytes(data[:text_at] + struct.pack(">I", 0x7FFFFFFF) + data[text_at + 4:])
    assert png_text.read(str(path)) is None
    assert png_text.read(str(tmp_path)) is None            # a directory, not a file
    assert png_text.read(str(tmp_path / "missing.png")) is None
