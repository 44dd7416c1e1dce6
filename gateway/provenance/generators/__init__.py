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

from typing import Callable

from gateway.provenance.generators.finding import Finding, short_reason
from gateway.provenance.tags import Tags


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
                         f"({type(exc).__name__}: {short_reason(exc)})", severity="error")
        if finding is not None:
            findings.append(finding)
    return findings
