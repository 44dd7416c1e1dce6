"""Sidecar rendering of a record using every field: ExifTool, RDF/XML and exact round trip."""

from __future__ import annotations

import json
import subprocess

import defusedxml.ElementTree as SafeET

from gateway.provenance import (CONFIG_FILE, HistoryEvent, ObjectRef, ProvenanceRecord, Review,
                                Source, capture_headers, document_id_for, instance_id_for,
                                parse_sidecar, render_sidecar)
from gateway.provenance.record import (C2paAction, C2paIngredient, C2paSummary, Generation,
                                       Media, Notice, RawMetadata)
from tests.support.media import TAM

DOC = document_id_for("campaigns", "spring/hero.png")


def everything() -> ProvenanceRecord:
    return ProvenanceRecord(
        bucket="campaigns", key="spring/hero.png", version_id="3", content_type="image/png",
        size=2 ** 40, sha256="cd" * 32, identity="farm", door="share",
        captured_at="2026-03-01T10:00:00Z", created_at="2026-02-28T09:00:00+01:00",
        modified_at="2026-03-02T08:00:00Z",
        prompt="line one\r\nline two <b>&amp;</b> \"quotes\" 🦊", negative_prompt="ugly",
        prompt_author="Ann", generator="ComfyUI", model="sdxl", model_version="1.0",
        seed=2 ** 64 - 1, steps=30, sampler="dpmpp_2m", cfg_scale=0.1 + 0.2, source_type=TAM,
        derived_from=[ObjectRef("campaigns", "spring/sketch.png", "1"),
                      ObjectRef("moodboards", "a, b.png")],
        job_id="J-1", cost=0.125, creator="Ann; Bo", copyright="© 2026", owner="Shop AG",
        credit="Shop", license="LIC-1", license_url="https://example.com/l",
        usage_terms="web", licensor="Lic Ltd", license_expires="2027-12-31",
        model_release="REL-7", people=["A", "B"],
        data_mining="http://ns.useplus.org/ldf/vocab/DMI-PROHIBITED",
        campaign="spring", brand="Shop", sku="S-1", channel="web", title="Hero",
        description="desc", keywords=["a", "b"], rating=-1, custom={"shot": "12", "é": "ü"},
        generation=Generation(width=1024, height=768, scheduler="karras", model_hash="abc",
                              denoise=0.5, extra={"loras": [{"name": "x", "w": 0.7}], "n": None},
                              raw=[RawMetadata("PNG:Prompt", "comfyui-prompt", '{"a": "<&>"}')]),
        sources=[Source(role="init_image", origin="header", name="sketch.png",
                        ref=ObjectRef("campaigns", "spring/sketch.png", "1")),
                 Source(role="c2pa_ingredient", origin="c2pa", name="in.jpg",
                        relationship="parentOf", instance_id="xmp.iid:1")],
        c2pa=C2paSummary(manifest_label="urn:c2pa:1", claim_generator="ChatGPT/1.0",
                         actions=[C2paAction("c2pa.created", TAM, "GPT-4o", "2026-01-01T00:00Z")],
                         digital_source_type=TAM,
                         ingredients=[C2paIngredient(title="in.jpg", relationship="parentOf")],
                         validation_state="Valid",
                         validation_failures=["signingCredential.untrusted"]),
        review=Review("approved", by="rita", at="2026-03-03T12:00:00Z", comment="ok"),
        media=Media("image/png", "PNG", 1024, 768, None), detected=["comfyui", "c2pa"],
        field_sources={"prompt": "header", "sku": "header"},
        notices=[Notice("exiftool_warning", "ExifTool: x", "warning", None),
                 Notice("header_invalid", "seed: 'a'", "warning", "seed")])


HISTORY = [
    HistoryEvent("created", "2026-03-01T10:00:00Z", instance_id_for("campaigns",
                 "spring/hero.png", "1"), "provgate 0.1.0", None, None),
    HistoryEvent("edited", "2026-03-01T11:00:00Z", instance_id_for("campaigns",
                 "spring/hero.png", "3"), "provgate 0.1.0", "/", "new version"),
    HistoryEvent("reviewed", "2026-03-03T12:00:00Z", None, "provgate 0.1.0", "/metadata",
                 "approved by rita"),
]


def render(record=None) -> bytes:
    record = record or everything()
    return render_sidecar(record, DOC, instance_id_for(record.bucket, record.key,
                                                       record.version_id), HISTORY)


def test_every_field_round_trips_exactly():
    record = everything()
    parsed = parse_sidecar(render(record))
    assert parsed.problems == []
    assert parsed.record == record
    assert parsed.history == HISTORY
    assert parsed.document_id == DOC


def test_exiftool_reads_structures_without_warnings(tmp_path):
    path = tmp_path / "hero.png.xmp"
    path.write_bytes(render())
    out = subprocess.run(["exiftool", "-config", str(CONFIG_FILE), "-j", "-G1", "-struct",
                          str(path)], check=True, capture_output=True, text=True)
    tags = json.loads(out.stdout, parse_float=str)[0]
    assert "ExifTool:Warning" not in tags and "ExifTool:Error" not in tags
    assert tags["XMP-iptcExt:AIPromptInformation"] == \
        "line one\r\nline two <b>&amp;</b> \"quotes\" 🦊\nNegative prompt: ugly"
    assert tags["XMP-xmpMM:DerivedFrom"]["FilePath"] == "s3://campaigns/spring/sketch.png"
    assert tags["XMP-xmpMM:DerivedFrom"]["InstanceID"] == \
        instance_id_for("campaigns", "spring/sketch.png", "1")
    assert [e["Action"] for e in tags["XMP-xmpMM:History"]] == ["created", "edited", "reviewed"]
    assert len(tags["XMP-xmpMM:Ingredients"]) == 4
    assert tags["XMP-plus:ModelReleaseID"] == ["REL-7"]
    assert tags["XMP-pg:ReviewStatus"] == "approved"
    assert tags["XMP-pg:Custom"] == [{"Name": "shot", "Value": 12}, {"Name": "é", "Value": "ü"}]
    assert json.loads(tags["XMP-pg:C2PA"])["validation_state"] == "Valid"
    assert tags["XMP-xmp:Rating"] == -1


def test_ids_are_stable_per_key_and_new_per_version():
    assert document_id_for("b", "k") == document_id_for("b", "k")
    assert document_id_for("b", "k") != document_id_for("b", "k2")
    assert instance_id_for("b", "k", "1") != instance_id_for("b", "k", "2")
    assert document_id_for("b", "k").startswith("xmp.did:")
    assert instance_id_for("b", "k", "1").startswith("xmp.iid:")


def test_minimal_record_renders_valid_xmp():
    xmp = render_sidecar(ProvenanceRecord(), DOC, "xmp.iid:x")
    SafeET.fromstring(xmp)
    assert parse_sidecar(xmp).record == ProvenanceRecord()


def test_control_characters_never_break_the_xml(tmp_path):
    captured = capture_headers({"prompt": "bell\x07 and nul%00", "odd": "a%01b"})
    record = ProvenanceRecord(prompt=captured.values["prompt"], custom=captured.custom,
                              review=Review("pending", comment="esc\x1b"))
    xmp = render_sidecar(record, DOC, "xmp.iid:y")
    SafeET.fromstring(xmp)
    back = parse_sidecar(xmp).record
    assert back.prompt == "bell\ufffd and nul%00" and back.custom == {"odd": "a\ufffdb"}
    assert back.review.comment == "esc\ufffd"


def test_a_modified_record_keeps_document_id_and_adds_history():
    record = everything()
    v4 = ProvenanceRecord.from_dict({**record.to_dict(), "version_id": "4"})
    history = HISTORY + [HistoryEvent("edited", "2026-04-01T00:00:00Z",
                                      instance_id_for("campaigns", "spring/hero.png", "4"))]
    parsed = parse_sidecar(render_sidecar(v4, DOC, instance_id_for(v4.bucket, v4.key, "4"),
                                          history))
    assert parsed.document_id == DOC
    assert parsed.instance_id == instance_id_for("campaigns", "spring/hero.png", "4")
    assert len(parsed.history) == 4
