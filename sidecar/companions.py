"""Provenance a share gives a file besides its bytes, as the headers an S3 write carries.

Sources, most specific first (a field from an earlier source wins):

1. ``<file>.json`` — a JSON object of provenance fields: any name of the header
   vocabulary (``prompt``, ``negative-prompt`` or ``negative_prompt``, ``model``,
   ``seed``, ``derived-from``, ``license``, ...), plus ``generation`` / ``sources`` /
   ``custom`` in the record's structure; any other name is kept as a custom field;
2. ``<file>.txt`` — the prompt;
3. the share's path template (``{brand}/{campaign}``);
4. ``prompt.txt`` in the file's folder — the prompt for every file there;
5. the share's fixed ``fields``.

Everything travels in one ``x-amz-meta-provenance`` header (base64url JSON, decoded and
validated field by field by ``gateway.provenance.headers``): it carries non-ASCII text
and newlines, which plain header values cannot, at 4/3 of the UTF-8 size. A companion
that cannot be read (not UTF-8, not a JSON object, too large) is skipped, and the reason
is recorded with the file as the custom field ``sidecar-warning``.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from gateway.wire.provenance_headers import HEADER_TO_FIELD, PROVENANCE_HEADER
from sidecar.names import FOLDER_PROMPT, template_fields
from sidecar.settings import Share

MAX_COMPANION_BYTES = 64 * 1024
# The gateway's whole header section is capped (server.max_header_bytes, 16 KiB by
# default); the signature and the other headers need about 1 KiB of it.
MAX_PROVENANCE_HEADER = 12 * 1024
STRUCTURED = ("generation", "sources", "custom")
_RECORD_FIELDS = set(HEADER_TO_FIELD.values())


class MetadataTooLarge(Exception):
    """The provenance does not fit in a request header; the file cannot be sent as is."""


def provenance_headers(share: Share, root: Path, relpath: str,
                       extra_custom: dict[str, str] | None = None) -> dict[str, str]:
    """The ``x-amz-meta-*`` headers for the file at ``root/relpath``."""
    path = root / relpath
    warnings: list[str] = []
    record: dict[str, Any] = {}
    custom: dict[str, str] = {}
    companion = _read_json(path.with_name(path.name + ".json"), warnings)
    for name, value in companion.items():
        canonical = name.strip().lower().replace("-", "_")
        if canonical in _RECORD_FIELDS:
            record.setdefault(canonical, _scalar(value))
        elif canonical in STRUCTURED:
            if canonical == "custom" and isinstance(value, dict):
                custom.update({str(k): str(v) for k, v in value.items()})
            else:
                record.setdefault(canonical, value)
        else:
            custom.setdefault(name, str(_scalar(value)))
    prompt = _read_text(path.with_name(path.name + ".txt"), warnings)
    if prompt:
        record.setdefault("prompt", prompt)
    for name, value in template_fields(relpath, share.template).items():
        _set_field(record, custom, name, value)
    folder_prompt = _read_text(path.parent / FOLDER_PROMPT, warnings)
    if folder_prompt:
        record.setdefault("prompt", folder_prompt)
    for name, value in share.fields.items():
        _set_field(record, custom, name, value)
    custom.update(extra_custom or {})
    if warnings:
        custom["sidecar-warning"] = "; ".join(warnings)
    if custom:
        record["custom"] = custom
    if not record:
        return {}
    encoded = base64.urlsafe_b64encode(
        json.dumps(record, ensure_ascii=False).encode("utf-8")).decode().rstrip("=")
    if len(encoded) > MAX_PROVENANCE_HEADER:
        raise MetadataTooLarge(
            f"the provenance from the companion files and the share is {len(encoded)} bytes "
            f"encoded, over the {MAX_PROVENANCE_HEADER} a request header can carry")
    return {f"x-amz-meta-{PROVENANCE_HEADER}": encoded}


def _set_field(record: dict, custom: dict, name: str, value: str) -> None:
    canonical = name.replace("-", "_")
    if canonical in _RECORD_FIELDS:
        record.setdefault(canonical, value)
    else:
        custom.setdefault(name, value)


def _scalar(value: Any) -> Any:
    # Lists (people, keywords, derived-from) travel as the comma lists headers use.
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return value


def _read_bytes(path: Path, warnings: list[str]) -> bytes | None:
    try:
        if path.is_symlink() or not path.is_file():
            return None
        size = path.stat().st_size
        if size > MAX_COMPANION_BYTES:
            warnings.append(f"{path.name} ignored: {size} bytes, limit {MAX_COMPANION_BYTES}")
            return None
        return path.read_bytes()
    except OSError as exc:
        warnings.append(f"{path.name} ignored: {exc.strerror or exc}")
        return None


def _read_text(path: Path, warnings: list[str]) -> str:
    data = _read_bytes(path, warnings)
    if data is None:
        return ""
    try:
        return data.decode("utf-8-sig").strip()
    except UnicodeDecodeError:
        warnings.append(f"{path.name} ignored: not UTF-8 text")
        return ""


def _read_json(path: Path, warnings: list[str]) -> dict[str, Any]:
    data = _read_bytes(path, warnings)
    if data is None:
        return {}
    try:
        value = json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError:
        warnings.append(f"{path.name} ignored: not UTF-8")
        return {}
    except ValueError as exc:
        warnings.append(f"{path.name} ignored: not valid JSON ({exc})")
        return {}
    if not isinstance(value, dict):
        warnings.append(f"{path.name} ignored: not a JSON object")
        return {}
    return value
