"""The shipped ExifTool config: ExifTool 12.57 reads AND writes the AI, DataMining, pg tags."""

from __future__ import annotations

import json
import subprocess

import pytest
from PIL import Image

from gateway.provenance import CONFIG_FILE, PG_NS

TAGS = {
    "XMP-iptcExt:AISystemUsed": "Stable Diffusion XL",
    "XMP-iptcExt:AISystemVersionUsed": "1.0",
    "XMP-iptcExt:AIPromptInformation": "a fox\nin snow",
    "XMP-iptcExt:AIPromptWriterName": "Jane Doe",
    "XMP-plus:DataMining": "http://ns.useplus.org/ldf/vocab/DMI-PROHIBITED-GENAIMLTRAINING",
    "XMP-pg:Seed": "18446744073709551615",
    "XMP-pg:Steps": 30,
    "XMP-pg:CfgScale": 6.5,
    "XMP-pg:ReviewStatus": "approved",
    "XMP-pg:Sources": '[{"role":"init_image"}]',
}


def exiftool(*args: str, config: bool = True) -> subprocess.CompletedProcess:
    cmd = ["exiftool"] + (["-config", str(CONFIG_FILE)] if config else []) + list(args)
    return subprocess.run(cmd, capture_output=True, text=True)


def read(path) -> dict:
    # ExifTool's JSON prints number-like text bare ("1.0"): keep such numbers' text
    return json.loads(exiftool("-j", "-G1", "-struct", str(path)).stdout, parse_float=str)[0]


@pytest.mark.parametrize("target", ["new.xmp", "image.jpg"])
def test_config_defines_writable_tags(tmp_path, target):
    path = tmp_path / target
    assignments = [f"-{tag}={value}" for tag, value in TAGS.items()]
    if target.endswith(".jpg"):
        Image.new("RGB", (8, 8)).save(path, "JPEG")
        result = exiftool("-overwrite_original", *assignments,
                          "-XMP-pg:Custom={Name=shot,Value=12}", str(path))
    else:
        result = exiftool("-o", str(path), *assignments, "-XMP-pg:Custom={Name=shot,Value=12}")
    assert result.returncode == 0, result.stderr
    assert "Warning" not in result.stderr, result.stderr
    tags = read(path)
    for tag, value in TAGS.items():
        assert str(tags[tag]) == str(value), tag
    assert tags["XMP-pg:Custom"] == [{"Name": "shot", "Value": 12}]
    # the namespace URI in the file is provgate's
    if target.endswith(".xmp"):
        assert f"xmlns:pg='{PG_NS}'" in path.read_text()


def test_without_the_config_exiftool_cannot_write_them(tmp_path):
    result = exiftool("-o", str(tmp_path / "x.xmp"), "-XMP-iptcExt:AISystemUsed=x",
                      "-XMP-plus:DataMining=x", "-XMP-pg:Seed=1", config=False)
    for tag in ("XMP-iptcExt:AISystemUsed", "XMP-plus:DataMining", "XMP-pg:Seed"):
        assert f"Tag '{tag}' is not defined" in result.stderr
    assert not (tmp_path / "x.xmp").exists()


def test_dates_in_pg_namespace_convert_like_xmp_dates(tmp_path):
    path = tmp_path / "d.xmp"
    exiftool("-o", str(path), "-XMP-pg:CapturedAt=2026:01:02 03:04:05Z")
    assert "<pg:CapturedAt>2026-01-02T03:04:05Z</pg:CapturedAt>" in path.read_text()
