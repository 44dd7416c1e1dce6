"""Precedence: explicit headers > embedded metadata > policy defaults, and the generator rule."""

from __future__ import annotations

import asyncio
import io

import pytest
from PIL import Image

from gateway.provenance import Extractor
from tests.support import media
from tests.support.media import DST, TAM, exiftool_write


@pytest.fixture(scope="module")
def extractor():
    ex = Extractor(pool_size=1, exiftool_timeout=30.0)
    yield ex
    asyncio.run(ex.close())


def extract(extractor, path, content_type, headers=None, defaults=None):
    return asyncio.run(extractor.extract(path, content_type, headers or {}, "bob", "share",
                                         defaults=defaults))


def test_header_beats_embedded(extractor, tmp_path):
    fx = media.a1111_png(tmp_path)
    r = extract(extractor, fx.path, fx.content_type, {"seed": "7", "prompt": "from header"})
    assert (r.seed, r.prompt, r.steps) == (7, "from header", 28)
    assert r.field_sources["seed"] == "header" and r.field_sources["steps"] == "embedded"
    assert r.negative_prompt == media.A1111_NEGATIVE


def test_embedded_beats_default_and_defaults_fill_gaps(extractor, tmp_path):
    fx = media.a1111_png(tmp_path)
    r = extract(extractor, fx.path, fx.content_type, defaults={
        "prompt": "default prompt", "steps": 99, "license": "CC0-1.0",
        "data_mining": "DMI-PROHIBITED", "source_type": "digitalCreation"})
    assert r.prompt == media.A1111_PROMPT and r.steps == 28
    assert r.license == "CC0-1.0"
    assert r.data_mining == "http://ns.useplus.org/ldf/vocab/DMI-PROHIBITED"
    # generator output without an explicit source type: the rule comes before defaults
    assert r.source_type == TAM
    assert r.field_sources == {**r.field_sources, "prompt": "embedded", "license": "default",
                               "data_mining": "default", "source_type": "default"}


def test_explicit_source_type_wins_over_the_generator_rule(extractor, tmp_path):
    fx = media.a1111_png(tmp_path)
    r = extract(extractor, fx.path, fx.content_type,
                {"source-type": "compositeWithTrainedAlgorithmicMedia"})
    assert r.source_type == DST + "compositeWithTrainedAlgorithmicMedia"
    assert r.field_sources["source_type"] == "header"


def test_no_ai_evidence_no_source_type(extractor, tmp_path):
    path = tmp_path / "photo.jpg"
    Image.new("RGB", (32, 32), "gray").save(path, "JPEG")
    # an editing tool is not a generator
    exiftool_write(path, "-XMP-xmp:CreatorTool=Adobe Photoshop 25.0", "-XMP-dc:Creator=Kim")
    r = extract(extractor, path, "image/jpeg")
    assert r.source_type is None and r.generator is None and r.creator == "Kim"
    r = extract(extractor, path, "image/jpeg", defaults={"source_type": "digitalCapture"})
    assert r.source_type == DST + "digitalCapture"
    assert r.field_sources["source_type"] == "default"


def test_a_prompt_header_alone_marks_generated_content(extractor, tmp_path):
    path = tmp_path / "plain.png"
    Image.new("RGB", (8, 8)).save(path)
    assert extract(extractor, path, "image/png", {"prompt": "a cat"}).source_type == TAM
    assert extract(extractor, path, "image/png", {"campaign": "x"}).source_type is None


def test_invalid_embedded_value_falls_through_with_a_notice(extractor, tmp_path):
    fx = media.a1111_png(tmp_path)
    exiftool_write(fx.path, "-XMP-iptcExt:DigitalSourceType=aiGeneratedPlease")
    r = extract(extractor, fx.path, fx.content_type, defaults={"license": 42 + 0j})
    assert r.source_type == TAM and r.field_sources["source_type"] == "default"
    notices = {n.code: n for n in r.notices}
    assert "aiGeneratedPlease" in notices["embedded_invalid"].message
    assert notices["default_invalid"].field == "license"


def _signed_with_xmp(tmp_path, xmp_source_type: str) -> bytes:
    base = tmp_path / "base.jpg"
    Image.new("RGB", (48, 48), (20, 80, 160)).save(base, "JPEG")
    exiftool_write(base, f"-XMP-iptcExt:DigitalSourceType={DST}{xmp_source_type}")
    return media._c2pa_sign(base.read_bytes(), "image/jpeg", media.make_test_ca(), "x.jpg")


def test_valid_c2pa_claim_beats_xmp_source_type(extractor, tmp_path):
    path = tmp_path / "signed.jpg"
    path.write_bytes(_signed_with_xmp(tmp_path, "digitalCapture"))
    r = extract(extractor, path, "image/jpeg")
    assert r.c2pa.validation_state == "Valid"
    assert r.source_type == TAM and r.field_sources["source_type"] == "embedded"


def test_invalid_c2pa_claim_is_not_used(extractor, tmp_path):
    data = bytearray(_signed_with_xmp(tmp_path, "digitalCapture"))
    data[-10] ^= 0xFF                       # alter the image data: the hard binding breaks
    path = tmp_path / "tampered.jpg"
    path.write_bytes(bytes(data))
    r = extract(extractor, path, "image/jpeg")
    assert r.c2pa is not None and r.c2pa.validation_state == "Invalid"
    assert "assertion.dataHash.mismatch" in r.c2pa.validation_failures
    assert r.source_type == DST + "digitalCapture"     # from XMP, not the broken claim
    assert r.generator is None                          # claim generator not trusted either
    assert any(n.code == "c2pa_invalid" for n in r.notices)


def test_c2pa_is_read_where_exiftool_cannot_see_jumbf(extractor, tmp_path):
    buf = io.BytesIO()
    Image.new("RGB", (32, 32), (200, 100, 0)).save(buf, "WEBP")
    path = tmp_path / "signed.webp"
    path.write_bytes(media._c2pa_sign(buf.getvalue(), "image/webp", media.make_test_ca(),
                                      "signed.webp"))
    r = extract(extractor, path, "image/webp")
    assert r.c2pa is not None and r.c2pa.claim_generator == "ChatGPT/1.0"
    assert r.source_type == TAM and "c2pa" in r.detected
