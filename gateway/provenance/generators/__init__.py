"""Parsers for the metadata AI generators embed in their output.

One module per generator. Each exposes ``parse(tags: Tags) -> Finding | None``: None when
the file carries nothing of that generator, otherwise a ``Finding`` with whatever could
be read. A parser never raises on bad content: malformed JSON, absurd sizes and missing
pieces become notices on the finding, and the fields that could be read are kept.

``parse_all`` runs them in merge order (first wins per field), the most specific formats
first: ComfyUI, InvokeAI, NovelAI, Fooocus, Midjourney, AUTOMATIC1111. ComfyUI comes
before AUTOMATIC1111 because ComfyUI saver nodes that also write an A1111-style
``parameters`` text carry the full graph; Fooocus comes before AUTOMATIC1111 because
Fooocus writes ``parameters`` too (as JSON, or as A1111 text marked by ``fooocus_scheme``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable

from gateway.provenance.fields import clean_text
from gateway.provenance.record import Generation, Notice, RawMetadata, Source
from gateway.provenance.tags import Tags

# Raw generator metadata larger than this is not kept in the record/sidecar (a ComfyUI
# workflow is typically 10-200 KB; megabytes mean embedded images or abuse).
MAX_RAW = 1024 * 1024
# JSON larger than this is not parsed at all.
MAX_JSON = 32 * 1024 * 1024


@dataclass
class Finding:
    """What one generator's metadata says. ``values`` are raw; extract.py validates them."""

    format: str                                    # a1111, comfyui, invokeai, novelai, ...
    values: dict[str, Any] = field(default_factory=dict)
    generation: Generation = field(default_factory=Generation)
    sources: list[Source] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)

    def note(self, code: str, message: str, severity: str = "warning",
             field_name: str | None = None) -> None:
        self.notices.append(Notice(code=code, message=message, severity=severity,
                                   field=field_name))

    def set(self, name: str, value: Any) -> None:
        """Set a record field unless already set or empty."""
        if value is None or value == "" or value == []:
            return
        self.values.setdefault(name, value)

    def keep_raw(self, where: str, fmt: str, value: str) -> None:
        """Keep the generator's metadata verbatim, unless it is too large to carry."""
        if len(value) > MAX_RAW:
            self.note("raw_dropped", f"{where}: {len(value)} characters of {fmt} metadata "
                      f"exceed {MAX_RAW}; parsed but not kept verbatim")
            return
        self.generation.raw.append(RawMetadata(name=where, format=fmt,
                                               value=clean_text(value)))


def load_json(finding: Finding, where: str, text: str) -> Any:
    """Parse JSON embedded in a file; None (with a notice) if it is not usable."""
    if len(text) > MAX_JSON:
        finding.note("json_too_large", f"{where}: {len(text)} characters of JSON exceed "
                     f"{MAX_JSON}; not parsed", severity="error")
        return None
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        finding.note("json_invalid", f"{where}: malformed JSON ({_short(exc)}); "
                     "its parameters could not be read", severity="error")
        return None


def _short(exc: Exception) -> str:
    return str(exc)[:200]


def scalar(value: Any) -> Any:
    """A JSON scalar as-is; containers are not field values."""
    return None if isinstance(value, (dict, list)) else value


def _registry() -> list[tuple[str, Callable[[Tags], Finding | None]]]:
    from gateway.provenance.generators import (a1111, comfyui, fooocus, invokeai, midjourney,
                                               novelai)
    return [
        ("comfyui", comfyui.parse),
        ("invokeai", invokeai.parse),
        ("novelai", novelai.parse),
        ("fooocus", fooocus.parse),
        ("midjourney", midjourney.parse),
        ("a1111", a1111.parse),
    ]


def parse_all(tags: Tags) -> list[Finding]:
    """Every generator finding in the file, in merge order. Never raises."""
    findings = []
    for name, parse in _registry():
        try:
            finding = parse(tags)
        except Exception as exc:  # noqa: BLE001 - a parser bug must not lose the write
            finding = Finding(format=name)
            finding.note("parser_failed", f"{name} metadata could not be parsed "
                         f"({type(exc).__name__}: {_short(exc)})", severity="error")
        if finding is not None:
            findings.append(finding)
    return findings
