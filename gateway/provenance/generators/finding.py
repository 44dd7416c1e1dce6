"""What one generator parser found, and the helpers every parser shares.

Kept apart from the package's ``__init__`` (which runs the parsers in merge order) so that
a parser module never imports the package that imports it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from gateway.provenance.fields import clean_text
from gateway.provenance.record import Generation, Notice, RawMetadata, Source

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
        finding.note("json_invalid", f"{where}: malformed JSON ({short_reason(exc)}); "
                     "its parameters could not be read", severity="error")
        return None


def short_reason(exc: Exception) -> str:
    return str(exc)[:200]


def scalar(value: Any) -> Any:
    """A JSON scalar as-is; containers are not field values."""
    return None if isinstance(value, (dict, list)) else value
