"""Capture provenance from S3 user metadata (the ``x-amz-meta-*`` headers of a write).

Input: the object's user metadata as the S3 layer stores it — names lower-case without
the ``x-amz-meta-`` prefix, values as text. Output: a ``HeaderCapture`` holding validated
field values, custom fields and notices. Nothing here raises on bad input: a value that
cannot be used is dropped and a ``Notice`` says which header, which value and why.

Names. The header vocabulary of DESIGN.md ("Provenance headers") maps to record fields
with ``-`` replaced by ``_`` (``negative-prompt`` -> ``negative_prompt``). ``_`` is also
accepted in header names (``Metadata={"negative_prompt": ...}`` in boto3). Any other name
is kept verbatim in ``custom``.

Values. HTTP header values are ASCII in practice, so writers encode non-ASCII text:
  - RFC 2047 encoded words, ``=?UTF-8?B?5pel5pys?=`` (base64) or ``=?UTF-8?Q?caf=C3=A9?=``
    (quoted-printable), possibly several, possibly mixed with plain text;
  - percent-encoding, ``%E6%97%A5`` (what ``urllib.parse.quote`` produces).
A value is percent-decoded only when it is entirely well-formed percent-encoding (every
``%`` starts a ``%XX`` escape), contains at least one escape, contains no raw whitespace
(``quote`` never leaves a space, so "20% off now" is literal text) and decodes to UTF-8.
``derived-from`` is split at commas *before* decoding, so a key containing a comma is
written ``%2C``.

``provenance``: a base64url (padding optional) JSON object for structured parameters,
using record field names (``{"seed": 42, "sources": [...], "loras": [...]}``). Record
fields are validated like headers; ``generation`` and ``sources`` take the record's
structure; ``custom`` takes an object of text values; any other key is a generation
parameter kept in ``generation.extra``. Fields that only provgate sets (hashes, identity,
review, C2PA, ...) are ignored with a notice. An individual header wins over the same
field inside ``provenance``.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.header import decode_header, make_header
from typing import Any
from urllib.parse import unquote_to_bytes

from gateway.provenance import fields
from gateway.provenance.record import (VALUE_FIELDS, Generation, Notice, Source,
                                       record_field_names)
from gateway.wire.provenance_headers import HEADER_TO_FIELD, PROVENANCE_HEADER

MAX_PROVENANCE_JSON = 256 * 1024   # decoded bytes; the header itself is capped by the server

_PERCENT_ENCODED = re.compile(r"(?:[^%\s]|%[0-9A-Fa-f]{2})*")


@dataclass
class HeaderCapture:
    values: dict[str, Any] = field(default_factory=dict)   # record field -> canonical value
    custom: dict[str, str] = field(default_factory=dict)
    generation: Generation = field(default_factory=Generation)
    sources: list[Source] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)

    def note(self, code: str, message: str, field_name: str | None = None) -> None:
        self.notices.append(Notice(code=code, message=message, field=field_name))


def decode_value(raw: str) -> tuple[str, str | None]:
    """Decode one header value; returns (text, problem or None)."""
    value = _repair_surrogates(raw)
    problem = None
    if "=?" in value and "?=" in value:
        try:
            value = str(make_header(decode_header(value)))
        except Exception as exc:  # noqa: BLE001 - any malformed encoded word
            problem = f"malformed RFC 2047 encoded word ({exc}); kept as sent"
    else:
        value = _percent_decode(value)
    return value, problem


def _repair_surrogates(value: str) -> str:
    # aiohttp decodes raw header bytes as UTF-8 with surrogateescape; undecodable bytes
    # surface as lone surrogates, which cannot be stored. Re-decode them leniently.
    try:
        value.encode("utf-8")
        return value
    except UnicodeEncodeError:
        return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _percent_decode(value: str) -> str:
    if "%" not in value or not _PERCENT_ENCODED.fullmatch(value):
        return value
    try:
        return unquote_to_bytes(value).decode("utf-8")
    except UnicodeDecodeError:
        return value


def capture_headers(meta: Mapping[str, str]) -> HeaderCapture:
    """Validated provenance fields and custom fields from S3 user metadata."""
    capture = HeaderCapture()
    explicit: dict[str, Any] = {}
    provenance_raw = None
    for raw_name, raw_value in meta.items():
        name = raw_name.strip().lower()
        if name.startswith("x-amz-meta-"):
            name = name[len("x-amz-meta-"):]
        canonical = name.replace("_", "-")
        if canonical == PROVENANCE_HEADER:
            provenance_raw = raw_value
            continue
        record_field = HEADER_TO_FIELD.get(canonical)
        if record_field == "derived_from":
            # split first, decode each item: keys may contain %2C-encoded commas
            value, problem = raw_value, None
            if "=?" in raw_value:
                value, problem = decode_value(raw_value)
        else:
            value, problem = decode_value(raw_value)
        if problem:
            capture.note("header_encoding", f"x-amz-meta-{name}: {problem}", record_field)
        if record_field is None:
            capture.custom[name] = fields.clean_text(value)
            continue
        _set(capture, explicit, record_field, value, f"x-amz-meta-{canonical}")
    if provenance_raw is not None:
        _capture_provenance_json(capture, provenance_raw, explicit)
    capture.values.update(explicit)
    return capture


def _set(capture: HeaderCapture, target: dict[str, Any], record_field: str, value: Any,
         where: str) -> None:
    try:
        normalized = fields.normalize(record_field, value)
    except ValueError as exc:
        capture.note("header_invalid", f"{where}: {exc}; ignored", record_field)
        return
    if isinstance(normalized, fields.Truncated):
        capture.note("value_truncated", f"{where}: {normalized.original_length} characters, "
                     f"kept the first {len(normalized)}", record_field)
        normalized = str(normalized)
    target[record_field] = normalized


# Fields a writer may not set: they describe what provgate measured or decided.
_PROTECTED = set(record_field_names()) - set(VALUE_FIELDS) - {"custom", "generation", "sources"}


def _capture_provenance_json(capture: HeaderCapture, raw: str, explicit: dict[str, Any]) -> None:
    where = "x-amz-meta-provenance"
    data = _decode_provenance(capture, raw)
    if data is None:
        return
    for key, value in data.items():
        if key in explicit:
            continue                   # the individual header wins
        if key in VALUE_FIELDS:
            _set(capture, capture.values, key, value, f"{where} {key}")
        elif key == "custom":
            _custom_from_json(capture, value, where)
        elif key == "generation":
            _generation_from_json(capture, value, where)
        elif key == "sources":
            _sources_from_json(capture, value, where)
        elif key in _PROTECTED:
            capture.note("provenance_field_ignored",
                         f"{where}: {key} is set by provgate, not by the writer; ignored", key)
        else:
            capture.generation.extra[key] = value


def _decode_provenance(capture: HeaderCapture, raw: str) -> dict[str, Any] | None:
    where = "x-amz-meta-provenance"
    text = raw.strip()
    try:
        decoded = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        capture.note("provenance_invalid", f"{where}: not base64url; ignored")
        return None
    if len(decoded) > MAX_PROVENANCE_JSON:
        capture.note("provenance_invalid",
                     f"{where}: {len(decoded)} bytes of JSON, limit {MAX_PROVENANCE_JSON}; ignored")
        return None
    try:
        data = json.loads(decoded.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        capture.note("provenance_invalid", f"{where}: not UTF-8 JSON ({exc}); ignored")
        return None
    if not isinstance(data, dict):
        capture.note("provenance_invalid", f"{where}: JSON must be an object; ignored")
        return None
    return data


def _custom_from_json(capture: HeaderCapture, value: Any, where: str) -> None:
    if not isinstance(value, dict):
        capture.note("provenance_invalid", f"{where}: custom must be an object; ignored", "custom")
        return
    for name, item in value.items():
        if isinstance(item, (str, int, float)) and not isinstance(item, bool):
            capture.custom.setdefault(fields.clean_text(str(name)),
                                      fields.clean_text(str(item)))
        else:
            capture.note("provenance_invalid",
                         f"{where}: custom.{name} must be text; ignored", "custom")


def _generation_from_json(capture: HeaderCapture, value: Any, where: str) -> None:
    if not isinstance(value, dict):
        capture.note("provenance_invalid", f"{where}: generation must be an object; ignored",
                     "generation")
        return
    gen = capture.generation
    for key, item in value.items():
        try:
            if key in ("width", "height"):
                setattr(gen, key, fields.integer(item, lo=1, hi=1_000_000))
            elif key == "denoise":
                gen.denoise = fields.number(item, lo=0.0, hi=1.0)
            elif key in ("scheduler", "model_hash"):
                setattr(gen, key, fields.text(item, max_len=1024))
            elif key == "extra" and isinstance(item, dict):
                gen.extra.update(item)
            else:
                gen.extra[key] = item
        except ValueError as exc:
            capture.note("provenance_invalid", f"{where}: generation.{key}: {exc}; ignored",
                         "generation")


def _sources_from_json(capture: HeaderCapture, value: Any, where: str) -> None:
    if not isinstance(value, list):
        capture.note("provenance_invalid", f"{where}: sources must be a list; ignored", "sources")
        return
    for index, item in enumerate(value[:fields.MAX_LIST_ITEMS]):
        if not isinstance(item, dict):
            capture.note("provenance_invalid", f"{where}: sources[{index}] must be an object",
                         "sources")
            continue
        ref = None
        if item.get("ref") is not None:
            try:
                ref = fields.object_refs([item["ref"]])[0]
            except ValueError as exc:
                capture.note("provenance_invalid", f"{where}: sources[{index}].ref: {exc}",
                             "sources")
        details = item.get("details") if isinstance(item.get("details"), dict) else {}
        capture.sources.append(Source(
            role=_opt_text(item.get("role")) or "reference", origin="header",
            name=_opt_text(item.get("name")), relationship=_opt_text(item.get("relationship")),
            format=_opt_text(item.get("format")), instance_id=_opt_text(item.get("instance_id")),
            ref=ref, details=details))


def _opt_text(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    return value.strip()[:1024] or None
