"""The record schema: JSON form, versioning, vocabularies, value validation."""

from __future__ import annotations

import json

import pytest

from gateway.provenance import SCHEMA_VERSION, ObjectRef, ProvenanceRecord, Source
from gateway.provenance import fields, vocab
from gateway.provenance.record import C2paAction, C2paSummary, Generation, Notice, Review


def full_record() -> ProvenanceRecord:
    return ProvenanceRecord(
        bucket="b", key="k/é.png", version_id="v", content_type="image/png", size=10,
        sha256="0" * 64, identity="alice", door="share", captured_at="2026-01-01T00:00:00Z",
        prompt="p", seed=2 ** 64 - 1, cfg_scale=7.0, derived_from=[ObjectRef("b", "p.png")],
        people=["A"], custom={"x": "y"}, rating=-1,
        generation=Generation(width=8, extra={"loras": [{"n": 1}]}),
        sources=[Source(role="init_image", origin="a1111", details={"denoising_strength": 0.5})],
        c2pa=C2paSummary(actions=[C2paAction("c2pa.created")], validation_state="Valid"),
        review=Review("approved", by="rev"), notices=[Notice("c", "m", "error", "seed")])


def test_json_round_trip_and_compact_form():
    record = full_record()
    data = json.loads(record.to_json())
    assert data["schema_version"] == SCHEMA_VERSION == 1
    assert "model" not in data and "keywords" not in data      # None / empty omitted
    assert data["derived_from"] == [{"bucket": "b", "key": "p.png"}]
    assert ProvenanceRecord.from_json(record.to_json()) == record
    assert ProvenanceRecord.from_dict(record.to_dict()) == record


def test_newer_schema_keys_are_ignored():
    data = full_record().to_dict()
    data["schema_version"] = 2
    data["something_new"] = {"x": 1}
    data["generation"]["future"] = 1
    record = ProvenanceRecord.from_dict(data)
    assert record.schema_version == 2 and record.prompt == "p"


def test_warnings_and_errors_views():
    record = ProvenanceRecord()
    record.warn("a", "first")
    record.warn("b", "second", severity="error")
    assert [n.code for n in record.warnings] == ["a"]
    assert [n.code for n in record.errors] == ["b"]


@pytest.mark.parametrize("value", [
    "trainedAlgorithmicMedia", "TRAINEDALGORITHMICMEDIA", "digsrctype:trainedAlgorithmicMedia",
    "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia",
    "https://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia/",
])
def test_source_type_spellings(value):
    assert vocab.normalize_source_type(value) == vocab.TRAINED_ALGORITHMIC_MEDIA


def test_plus_vocabularies():
    assert vocab.normalize_data_mining("http://ns.useplus.org/ldf/vocab/DMI-ALLOWED") == \
        vocab.PLUS_VOCAB_BASE + "DMI-ALLOWED"
    assert vocab.normalize_data_mining("prohibited_aimltraining") == \
        vocab.PLUS_VOCAB_BASE + "DMI-PROHIBITED-AIMLTRAINING"
    with pytest.raises(ValueError):
        vocab.normalize_data_mining("DMI-SOMETIMES")
    assert fields.normalize("model_release", "mr-umr") == vocab.PLUS_VOCAB_BASE + "MR-UMR"
    assert fields.normalize("model_release", "REL-2026-001") == "REL-2026-001"


@pytest.mark.parametrize("field,value,expected", [
    ("seed", "-1", -1), ("seed", 42.0, 42), ("steps", " 30 ", 30), ("cfg_scale", "7", 7.0),
    ("license_expires", "2027:12:31", "2027-12-31"),
    ("license_expires", "2027-12-31T10:00:00+00:00", "2027-12-31T10:00:00Z"),
    ("created_at", "2025:03:14 09:26:53+01:00", "2025-03-14T09:26:53+01:00"),
    ("people", ["a", "a", " b "], ["a", "b"]), ("keywords", "x; y, z", ["x", "y", "z"]),
    ("derived_from", "s3://b/k?versionId=1", [ObjectRef("b", "k", "1")]),
    ("rating", "5", 5), ("model_version", 3, "3"),
])
def test_field_normalisation(field, value, expected):
    assert fields.normalize(field, value) == expected


@pytest.mark.parametrize("field,value", [
    ("seed", "1.5"), ("seed", 2 ** 64), ("steps", 0), ("cfg_scale", "nan"), ("rating", 6),
    ("license_url", "javascript:alert(1)"), ("license_expires", "tomorrow"), ("prompt", "   "),
    ("derived_from", "/k"), ("people", []), ("prompt", ["not", "text"]), ("sha256", "x"),
])
def test_field_rejections(field, value):
    with pytest.raises(ValueError):
        fields.normalize(field, value)
