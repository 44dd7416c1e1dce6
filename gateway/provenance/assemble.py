"""Precedence: how header, embedded and default values become one record.

For every field the first layer that has a valid value wins:

1. **header** — the writer's ``x-amz-meta-*`` headers (an individual header beats the same
   field inside the ``provenance`` JSON header);
2. **embedded** — metadata in the file. Within this layer, generator parameters come first
   (in ``generators.parse_all`` order), then standard XMP/IPTC/EXIF, then the C2PA manifest.
   Exception, ``source_type``: a C2PA manifest that validates is a signed claim and comes
   first, then XMP's DigitalSourceType; an ``Invalid`` manifest's claim is not used;
3. **the generator rule** — ``source_type`` only: content that shows evidence of AI
   generation (generator parameters in the file, IPTC AI properties, or a ``generator``,
   ``model`` or ``prompt`` header) and has no explicit source type is recorded as
   ``trainedAlgorithmicMedia``; its origin is ``default``;
4. **default** — policy defaults handed in by the caller (e.g. a bucket's license).

Values are validated on the way in (``fields.normalize``); a value that fails is dropped
with a notice and the next layer may still supply the field. ``field_sources`` records
which layer each field came from.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gateway.provenance import fields
from gateway.provenance.generators.finding import Finding
from gateway.provenance.headers import HeaderCapture
from gateway.provenance.record import (ORIGIN_DEFAULT, ORIGIN_EMBEDDED, ORIGIN_HEADER,
                                       VALUE_FIELDS, C2paSummary, Generation, Notice,
                                       ProvenanceRecord, Source)
from gateway.provenance.vocab import TRAINED_ALGORITHMIC_MEDIA

# header fields whose presence declares the content generated
_AI_HEADER_FIELDS = ("generator", "model", "prompt")


@dataclass
class Embedded:
    """The embedded layer: everything read from the file, validated and merged."""

    values: dict[str, Any] = field(default_factory=dict)
    generation: Generation = field(default_factory=Generation)
    sources: list[Source] = field(default_factory=list)
    c2pa: C2paSummary | None = None
    detected: list[str] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)
    ai_evidence: bool = False


def merge_embedded(generator_findings: list[Finding], standard: Finding | None,
                   c2pa: C2paSummary | None, *, ai_properties: bool = False) -> Embedded:
    out = Embedded(c2pa=c2pa)
    findings = list(generator_findings) + ([standard] if standard is not None else [])
    out.ai_evidence = bool(generator_findings) or ai_properties
    c2pa_values = _c2pa_values(c2pa)
    if c2pa is not None and c2pa.validation_state != "Invalid" and c2pa.digital_source_type:
        _take(out, "c2pa", "source_type", c2pa.digital_source_type)
    for finding in findings:
        out.detected.append(finding.format)
        out.notices.extend(finding.notices)
        for name, value in finding.values.items():
            _take(out, finding.format, name, value)
        _merge_generation(out.generation, finding.generation)
        out.sources.extend(finding.sources)
    if c2pa is not None:
        out.detected.append("c2pa")
        for name, value in c2pa_values.items():
            _take(out, "c2pa", name, value)
        if c2pa.digital_source_type and "AlgorithmicMedia" in c2pa.digital_source_type:
            out.ai_evidence = True
        for ingredient in c2pa.ingredients:
            out.sources.append(Source(role="c2pa_ingredient", origin="c2pa",
                                      name=ingredient.title, relationship=ingredient.relationship,
                                      format=ingredient.format,
                                      instance_id=ingredient.instance_id))
    return out


def _c2pa_values(c2pa: C2paSummary | None) -> dict[str, Any]:
    if c2pa is None or c2pa.validation_state == "Invalid":
        return {}
    values: dict[str, Any] = {}
    if c2pa.claim_generator:
        values["generator"] = c2pa.claim_generator.split("/")[0]
    created = [a for a in c2pa.actions if a.action == "c2pa.created"]
    agent = next((a.software_agent for a in created if a.software_agent), None)
    if agent:
        values["model"] = agent
    when = next((a.when for a in created if a.when), None)
    if when:
        values["created_at"] = when
    return values


def _take(out: Embedded, fmt: str, name: str, value: Any) -> None:
    if name in out.values or value is None:
        return
    try:
        normalized = fields.normalize(name, value)
    except ValueError as exc:
        out.notices.append(Notice(code="embedded_invalid", field=name,
                                  message=f"{fmt} {name}: {exc}; ignored"))
        return
    if isinstance(normalized, fields.Truncated):
        out.notices.append(Notice(code="value_truncated", field=name,
                                  message=f"{fmt} {name}: {normalized.original_length} "
                                  f"characters, kept the first {len(normalized)}"))
        normalized = str(normalized)
    out.values[name] = normalized


def _merge_generation(into: Generation, other: Generation) -> None:
    for f in dataclasses.fields(Generation):
        if f.name in ("extra", "raw"):
            continue
        if getattr(into, f.name) is None and getattr(other, f.name) is not None:
            setattr(into, f.name, getattr(other, f.name))
    for key, value in other.extra.items():
        into.extra.setdefault(key, value)
    into.raw.extend(other.raw)


def assemble(record: ProvenanceRecord, header: HeaderCapture, embedded: Embedded,
             defaults: Mapping[str, Any] | None = None) -> ProvenanceRecord:
    """Fill ``record`` from the three layers (in place) and return it."""
    record.notices.extend(header.notices)
    record.notices.extend(embedded.notices)
    for name in VALUE_FIELDS:
        if name in header.values:
            _assign(record, name, header.values[name], ORIGIN_HEADER)
        elif name in embedded.values:
            _assign(record, name, embedded.values[name], ORIGIN_EMBEDDED)
    generated = embedded.ai_evidence or any(n in header.values for n in _AI_HEADER_FIELDS)
    if record.source_type is None and generated:
        _assign(record, "source_type", TRAINED_ALGORITHMIC_MEDIA, ORIGIN_DEFAULT)
    apply_defaults(record, defaults or {})
    gen = Generation()
    _merge_generation(gen, header.generation)
    _merge_generation(gen, embedded.generation)
    record.generation = gen
    record.sources = list(header.sources) + list(embedded.sources)
    record.custom = dict(header.custom)
    record.c2pa = embedded.c2pa
    record.detected = list(dict.fromkeys(embedded.detected))
    # strings taken from files unvalidated (parameter names, manifest titles) must still be
    # storable in XMP, so that the sidecar reproduces the record exactly
    record.generation, record.sources, record.c2pa = _clean((record.generation, record.sources,
                                                             record.c2pa))
    return record


def apply_defaults(record: ProvenanceRecord, defaults: Mapping[str, Any]) -> ProvenanceRecord:
    """Fill fields that are still empty from policy defaults (in place).

    Intake calls this after extraction, because the ``[[set]]`` conditions see the
    record as headers and the file made it; ``assemble`` calls it for callers that know
    their defaults up front.
    """
    for name, value in defaults.items():
        if name not in VALUE_FIELDS:
            record.warn("default_invalid", f"policy default {name}: not a record field; ignored",
                        name)
            continue
        if _is_set(record, name):
            continue
        try:
            normalized = fields.normalize(name, value)
        except ValueError as exc:
            record.warn("default_invalid", f"policy default {name}: {exc}; ignored", name)
            continue
        _assign(record, name, str(normalized) if isinstance(normalized, fields.Truncated)
                else normalized, ORIGIN_DEFAULT)
    return record


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return fields.clean_text(value)
    if isinstance(value, tuple):
        return tuple(_clean(v) for v in value)
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, dict):
        return {_clean(k): _clean(v) for k, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            setattr(value, f.name, _clean(getattr(value, f.name)))
    return value


def _is_set(record: ProvenanceRecord, name: str) -> bool:
    value = getattr(record, name)
    return value is not None and value != []


def _assign(record: ProvenanceRecord, name: str, value: Any, origin: str) -> None:
    setattr(record, name, value)
    record.field_sources[name] = origin
