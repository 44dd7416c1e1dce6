"""Every fixture through the real ExifTool pool and c2pa-python: record, sidecar, read-back."""

from __future__ import annotations

import asyncio
import hashlib
import json
import subprocess

import defusedxml.ElementTree as SafeET
import pytest

from gateway.provenance import (CONFIG_FILE, Extractor, HistoryEvent, ProvenanceRecord,
                                document_id_for, instance_id_for, parse_sidecar, render_sidecar)
from gateway.provenance.xmp import compose_prompt
from tests.support.media import FIXTURE_NAMES, build_all

BUCKET = "renders"


@pytest.fixture(scope="session")
def media(tmp_path_factory):
    return build_all(tmp_path_factory.mktemp("media"))


@pytest.fixture(scope="session")
def records(media):
    """The record of every fixture, extracted once with one shared Extractor."""
    extractor = Extractor(pool_size=2, exiftool_timeout=30.0)

    async def run():
        out = {}
        for name, fx in media.items():
            out[name] = await extractor.extract(
                fx.path, fx.content_type, fx.headers, "alice", "s3", bucket=BUCKET,
                key=fx.path.name, version_id="v1")
        await extractor.close()
        return out

    return asyncio.run(run())


def sidecar_of(record: ProvenanceRecord) -> bytes:
    key = record.key
    history = [HistoryEvent("created", record.captured_at,
                            instance_id=instance_id_for(BUCKET, key, "v1"),
                            software_agent="provgate 0.1.0")]
    return render_sidecar(record, document_id_for(BUCKET, key),
                          instance_id_for(BUCKET, key, "v1"), history)


def exiftool_json(path, *, config=True) -> dict:
    args = ["exiftool"] + (["-config", str(CONFIG_FILE)] if config else [])
    out = subprocess.run(args + ["-j", "-G1", "-struct", str(path)], check=True,
                         capture_output=True, text=True)
    return json.loads(out.stdout)[0]


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_extraction_finds_what_the_tool_embedded(name, media, records):
    fx, record = media[name], records[name]
    for field, value in fx.expected.items():
        assert getattr(record, field) == value, field
    for attr, value in fx.generation.items():
        assert getattr(record.generation, attr) == value, f"generation.{attr}"
    assert sorted({s.role for s in record.sources}) == sorted(set(fx.source_roles))
    codes = {n.code for n in record.notices}
    assert set(fx.notices) <= codes, record.notices
    assert set(fx.detected) <= set(record.detected)
    for attr, value in fx.media.items():
        actual = getattr(record.media, attr)
        assert actual == pytest.approx(value, abs=0.05) if isinstance(value, float) else \
            actual == value, f"media.{attr}"
    data = fx.path.read_bytes()
    assert record.sha256 == hashlib.sha256(data).hexdigest()
    assert record.size == len(data)
    assert (record.identity, record.door, record.bucket, record.version_id) == \
        ("alice", "s3", BUCKET, "v1")
    assert record.prompt and record.model and record.source_type


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_sidecar_is_rdf_and_exiftool_reads_prompt_model_source_type(name, records, tmp_path):
    record = records[name]
    xmp = sidecar_of(record)
    root = SafeET.fromstring(xmp)                         # well-formed, no DTD/entities
    assert root.tag == "{adobe:ns:meta/}xmpmeta"
    assert root.find("{http://www.w3.org/1999/02/22-rdf-syntax-ns#}RDF") is not None
    path = tmp_path / f"{record.key}.xmp"
    path.write_bytes(xmp)
    tags = exiftool_json(path)
    assert "ExifTool:Warning" not in tags and "ExifTool:Error" not in tags, tags
    assert tags["XMP-iptcExt:AIPromptInformation"] == compose_prompt(record.prompt,
                                                                      record.negative_prompt)
    assert str(tags["XMP-iptcExt:AISystemUsed"]) == record.model
    assert tags["XMP-iptcExt:DigitalSourceType"] == record.source_type
    assert tags["XMP-xmpMM:DocumentID"] == document_id_for(BUCKET, record.key)
    assert tags["XMP-xmpMM:InstanceID"] == instance_id_for(BUCKET, record.key, "v1")
    assert tags["XMP-pg:SHA256"] == record.sha256
    if record.seed is not None:
        assert str(tags["XMP-pg:Seed"]) == str(record.seed)


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_sidecar_and_json_round_trip(name, records):
    record = records[name]
    parsed = parse_sidecar(sidecar_of(record))
    assert parsed.problems == []
    assert parsed.record == record
    assert parsed.document_id == document_id_for(BUCKET, record.key)
    assert parsed.instance_id == instance_id_for(BUCKET, record.key, "v1")
    assert [e.action for e in parsed.history] == ["created"]
    assert ProvenanceRecord.from_json(record.to_json()) == record


def test_sidecar_reads_without_the_config_too(records, tmp_path):
    # a DAM user's stock ExifTool still sees the AI properties (read-only without config)
    record = records["comfyui_png"]
    path = tmp_path / "plain.xmp"
    path.write_bytes(sidecar_of(record))
    tags = exiftool_json(path, config=False)
    assert tags["XMP-iptcExt:AISystemUsed"] == record.model
    assert tags["XMP-iptcExt:DigitalSourceType"] == record.source_type


def test_non_latin_multiline_prompt_survives_everything(records, tmp_path):
    record = records["nonlatin_png"]
    assert "\n" in record.prompt and "🦊" in record.prompt
    path = tmp_path / "x.xmp"
    path.write_bytes(sidecar_of(record))
    assert exiftool_json(path)["XMP-iptcExt:AIPromptInformation"].startswith(record.prompt)
    assert exiftool_json(path)["XMP-iptcExt:AIPromptWriterName"] == "山田花子"


def test_same_base_name_files_get_distinct_sidecars(records):
    png, jpg = records["a_png"], records["a_jpg"]
    assert (png.key, jpg.key) == ("a.png", "a.jpg")
    assert document_id_for(BUCKET, png.key) != document_id_for(BUCKET, jpg.key)
    assert parse_sidecar(sidecar_of(png)).record.prompt == png.prompt
    assert parse_sidecar(sidecar_of(jpg)).record.prompt == jpg.prompt
    assert png.sku == "SNK-001" and jpg.sku is None


def test_rights_reach_the_sidecar_as_plus_and_xmprights(records, tmp_path):
    record = records["a_jpg"]
    path = tmp_path / "a.jpg.xmp"
    path.write_bytes(sidecar_of(record))
    tags = exiftool_json(path)
    assert tags["XMP-plus:DataMining"] == record.data_mining
    assert tags["XMP-plus:Licensor"] == [{"LicensorName": "Example Licensing Ltd"}]
    assert tags["XMP-plus:LicenseID"] == "LIC-42"
    assert tags["XMP-xmpRights:WebStatement"] == "https://example.com/license/42"
    assert tags["XMP-dc:Rights"] == "© 2026 Example Studio"
    assert tags["XMP-iptcExt:PersonInImage"] == ["Alex Model"]
    assert tags["XMP-iptcExt:AIPromptWriterName"] == "Jane Doe"
    assert tags["XMP-xmp:Rating"] == 4


def test_c2pa_summary(records):
    for name in ("c2pa_jpeg", "c2pa_png"):
        c2pa = records[name].c2pa
        assert c2pa is not None, name
        assert c2pa.claim_generator == "ChatGPT/1.0"
        assert c2pa.validation_state == "Valid"
        assert [a.action for a in c2pa.actions] == ["c2pa.created"]
        assert c2pa.actions[0].software_agent == "GPT-4o"
        assert c2pa.digital_source_type.endswith("/trainedAlgorithmicMedia")
        assert [(i.title, i.relationship) for i in c2pa.ingredients] == [("sketch.png",
                                                                         "parentOf")]
        # the throw-away CA is not a trust anchor: valid, but the signer is untrusted
        assert "signingCredential.untrusted" in c2pa.validation_failures


def test_generator_inputs_become_sources(records):
    comfy = records["comfyui_png"].sources
    assert [(s.role, s.name) for s in comfy] == [("controlnet", "pose_reference.png")]
    flux = records["comfyui_webp"].sources
    assert [(s.role, s.name) for s in flux] == [("init_image", "bakery_sketch.png")]
    invoke = records["invokeai_png"].sources
    assert [(s.role, s.name) for s in invoke] == [("controlnet", "depth_map.png")]
    a1111 = {s.role: s for s in records["a1111_png"].sources}
    assert a1111["controlnet"].details["module"] == "canny"
    assert a1111["init_image"].details["denoising_strength"] == 0.55


def test_raw_workflow_is_kept_verbatim(records, media):
    raw = {m.format: m.value for m in records["comfyui_png"].generation.raw}
    assert json.loads(raw["comfyui-prompt"])["3"]["class_type"] == "KSampler"
    assert "nodes" in json.loads(raw["comfyui-workflow"])
    assert records["comfyui_png"].generation.extra["loras"] == [
        {"name": "film_grain.safetensors", "strength": 0.7}]
    assert [m.name for m in records["comfyui_webp"].generation.raw] == ["IFD0:Model",
                                                                       "IFD0:Make"]


def test_bad_input_gives_partial_records(records):
    huge = records["huge_text_png"]
    assert len(huge.prompt) == 64 * 1024 and huge.seed == 9
    assert huge.generation.raw == []                      # 5 MB not carried into the XMP
    malformed = records["comfyui_malformed"]
    assert any(n.code == "json_invalid" and n.severity == "error" for n in malformed.notices)
    glb = records["glb"]
    assert glb.media.detected_type is None and glb.prompt
    truncated = records["truncated_png"]
    assert truncated.seed == 3141592653                  # text chunks precede the cut
