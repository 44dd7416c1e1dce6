"""A DAM editing ``<key>.xmp``: descriptive and rights fields change, provenance does not."""

from __future__ import annotations

import pytest

from gateway.provenance import (EDITABLE, HistoryEvent, ObjectRef, ProvenanceRecord, Review,
                                SidecarError, document_id_for, instance_id_for,
                                merge_client_edit, parse_sidecar, render_sidecar)
from gateway.provenance.record import Generation, RawMetadata, Source
from tests.support.media import TAM, exiftool_write

DOC = document_id_for("shop", "hero.png")
INST = instance_id_for("shop", "hero.png", "v3")
HISTORY = [HistoryEvent("created", "2026-01-05T10:00:00Z", instance_id=INST,
                        software_agent="provgate 0.1.0")]


@pytest.fixture
def record() -> ProvenanceRecord:
    return ProvenanceRecord(
        bucket="shop", key="hero.png", version_id="v3", content_type="image/png", size=1234,
        sha256="ab" * 32, identity="render-farm", door="s3", captured_at="2026-01-05T10:00:00Z",
        prompt="hero shot of a sneaker", negative_prompt="blurry", generator="ComfyUI",
        model="sdxl", seed=42, steps=30, sampler="euler", cfg_scale=6.5, source_type=TAM,
        derived_from=[ObjectRef("shop", "sketch.png", "v1")], sku="SNK-1", title="Hero",
        keywords=["sneaker"], rating=2, copyright="© Shop", custom={"shot": "12"},
        generation=Generation(width=1024, height=1024, extra={"loras": ["a"]},
                              raw=[RawMetadata("PNG:Prompt", "comfyui-prompt", '{"1": {}}')]),
        sources=[Source(role="init_image", origin="comfyui", name="sketch.png")],
        review=Review(status="pending"),
        field_sources={"prompt": "embedded", "sku": "header", "title": "header"})


def sidecar(tmp_path, record) -> object:
    path = tmp_path / "hero.png.xmp"
    path.write_bytes(render_sidecar(record, DOC, INST, HISTORY))
    return path


def merge(record, path, **kw):
    return merge_client_edit(record, path.read_bytes(), document_id=DOC, instance_id=INST,
                             history=HISTORY, now="2026-02-01T00:00:00Z", **kw)


def test_dam_rewrite_without_changes_changes_nothing(tmp_path, record):
    path = sidecar(tmp_path, record)
    exiftool_write(path, "-XMP-xmp:MetadataDate=2026:02:01 09:00:00Z")   # DAMs touch this
    new, rejected = merge(record, path)
    assert rejected == [] and new == record


def test_editable_fields_are_applied(tmp_path, record):
    path = sidecar(tmp_path, record)
    exiftool_write(path, "-XMP-xmp:Rating=5", "-XMP-dc:Subject+=summer",
                   "-XMP-dc:Title=Hero, final", "-XMP-dc:Description=Storefront hero",
                   "-XMP-plus:DataMining=http://ns.useplus.org/ldf/vocab/DMI-PROHIBITED",
                   "-XMP-plus:LicenseEndDate=2027-06-30", "-XMP-iptcExt:PersonInImage=Ana",
                   "-XMP-photoshop:Credit=Shop Studio", "-XMP-plus:LicensorName=Shop AG")
    new, rejected = merge(record, path)
    assert rejected == []
    assert (new.rating, new.title, new.description) == (5, "Hero, final", "Storefront hero")
    assert new.keywords == ["sneaker", "summer"]
    assert new.data_mining == "http://ns.useplus.org/ldf/vocab/DMI-PROHIBITED"
    assert new.license_expires == "2027-06-30" and new.people == ["Ana"]
    assert (new.credit, new.licensor) == ("Shop Studio", "Shop AG")
    assert {f: new.field_sources[f] for f in ("rating", "title", "data_mining")} == \
        {"rating": "client", "title": "client", "data_mining": "client"}
    assert new.modified_at == "2026-02-01T00:00:00Z"
    # everything else is as it was
    assert (new.prompt, new.seed, new.source_type, new.sha256, new.review) == \
        (record.prompt, record.seed, record.source_type, record.sha256, record.review)


def test_provenance_fields_are_rejected(tmp_path, record):
    path = sidecar(tmp_path, record)
    exiftool_write(
        path, "-XMP-xmp:Rating=4",
        "-XMP-iptcExt:DigitalSourceType=http://cv.iptc.org/newscodes/digitalsourcetype/"
        "digitalCapture",
        "-XMP-iptcExt:AIPromptInformation=something nicer", "-XMP-pg:SHA256=" + "00" * 32,
        "-XMP-pg:ReviewStatus=approved", "-XMP-pg:Seed=1", "-XMP-pg:SKU=SNK-2",
        "-XMP-pg:Scheduler=karras", "-XMP-xmpMM:DocumentID=xmp.did:stolen",
        "-XMP-xmpMM:HistoryAction+=published")
    new, rejected = merge(record, path)
    assert {r.field for r in rejected} == {"source_type", "prompt", "sha256", "review", "seed",
                                           "sku", "generation", "document_id", "history"}
    assert all(r.reason for r in rejected)
    assert new.rating == 4                                   # the legitimate part applies
    assert (new.source_type, new.prompt, new.sha256, new.review.status, new.seed, new.sku) == \
        (TAM, record.prompt, record.sha256, "pending", 42, "SNK-1")


def test_missing_properties_change_nothing(tmp_path, record):
    record.data_mining = "http://ns.useplus.org/ldf/vocab/DMI-PROHIBITED-AIMLTRAINING"
    path = sidecar(tmp_path, record)
    # a DAM that drops namespaces it does not know must not lift the AI-training opt-out
    exiftool_write(path, "-XMP-pg:all=", "-XMP-plus:all=", "-XMP-dc:Subject=")
    new, rejected = merge(record, path)
    assert rejected == []
    assert new.data_mining == record.data_mining
    assert new.keywords == record.keywords and new.seed == 42


def test_empty_property_clears_an_editable_field(tmp_path, record):
    text = sidecar(tmp_path, record).read_text()
    text = text.replace('<rdf:li xml:lang="x-default">Hero</rdf:li>',
                        '<rdf:li xml:lang="x-default"></rdf:li>')
    new, rejected = merge_client_edit(record, text.encode())
    assert rejected == [] and new.title is None and "title" not in new.field_sources


def test_invalid_edits_are_rejected_with_reasons(tmp_path, record):
    text = sidecar(tmp_path, record).read_text()
    text = text.replace("<xmp:Rating>2</xmp:Rating>", "<xmp:Rating>9</xmp:Rating>")
    text = text.replace("</dc:format>", "</dc:format>\n   <plus:DataMining>maybe later"
                        "</plus:DataMining>\n   <plus:LicenseEndDate>next year"
                        "</plus:LicenseEndDate>")
    new, rejected = merge_client_edit(record, text.encode())
    reasons = {r.field: r.reason for r in rejected}
    assert set(reasons) == {"rating", "data_mining", "license_expires"}
    assert "outside -1..5" in reasons["rating"]
    assert "not a PLUS DataMining value" in reasons["data_mining"]
    assert new == record


def test_attribute_style_xmp_from_another_dam(record):
    # Lightroom / digiKam write simple properties as attributes of rdf:Description
    xmp = f"""<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/"
    xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/"
    xmlns:xmpMM="http://ns.adobe.com/xap/1.0/mm/"
    xmp:Rating="3" Iptc4xmpExt:DigitalSourceType="{TAM}" xmpMM:DocumentID="{DOC}">
   <dc:subject xmlns:dc="http://purl.org/dc/elements/1.1/">
    <rdf:Bag><rdf:li>sneaker</rdf:li><rdf:li>hero</rdf:li></rdf:Bag>
   </dc:subject>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>""".encode()
    new, rejected = merge_client_edit(record, xmp, document_id=DOC)
    assert rejected == []
    assert (new.rating, new.keywords) == (3, ["sneaker", "hero"])


@pytest.mark.parametrize("data", [
    b"", b"not xml at all", b"<html><body>hi</body></html>",
    b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/">&e;</x:xmpmeta>',
])
def test_unreadable_sidecars_raise_sidecar_error(record, data):
    with pytest.raises(SidecarError):
        merge_client_edit(record, data)
    with pytest.raises(SidecarError):
        parse_sidecar(data)


def test_editable_list_is_documented_scope():
    assert set(EDITABLE) == {"title", "description", "keywords", "rating", "people", "creator",
                             "copyright", "owner", "credit", "license", "license_url",
                             "usage_terms", "licensor", "license_expires", "model_release",
                             "data_mining"}
