"""Validation and normalisation of record field values, whatever layer they come from.

Headers, the ``provenance`` JSON header, embedded metadata, policy defaults and DAM edits
all pass their values through ``normalize(field, value)``. It returns the canonical value
or raises ``ValueError`` with a message that names the problem; callers turn that into a
``Notice`` and drop the value, so a bad value never stops a write.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from decimal import Decimal
from typing import Any, Callable
from urllib.parse import unquote, urlsplit

from gateway.provenance import vocab
from gateway.provenance.record import ObjectRef

# Longest text kept in one field. Prompts of tens of kilobytes exist (wildcard lists),
# but a 5 MB text chunk is not a prompt: longer values are cut and a notice says so.
MAX_TEXT = 64 * 1024
MAX_LIST_ITEMS = 1000

SEED_MIN = -(2 ** 63)          # some tools print signed 64-bit seeds
SEED_MAX = 2 ** 64 - 1         # ComfyUI seeds go up to 2**64 - 1


# Characters XML 1.0 cannot carry (C0 controls other than tab/newline/return, lone
# surrogates, U+FFFE/U+FFFF). Text is cleaned on the way in, so that what the record holds
# is exactly what the sidecar can hold.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def clean_text(value: str) -> str:
    """``value`` with characters XML cannot carry replaced by U+FFFD."""
    return _NOT_XML.sub("\ufffd", value)


class Truncated(str):
    """A text value that was cut to MAX_TEXT; callers add a notice."""

    original_length: int


def text(value: Any, *, max_len: int = MAX_TEXT) -> str:
    if isinstance(value, Decimal):
        value = str(value)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        value = _number_text(value)
    if not isinstance(value, str):
        raise ValueError(f"expected text, got {type(value).__name__}")
    value = clean_text(value).strip()
    if not value:
        raise ValueError("empty value")
    if len(value) > max_len:
        cut = Truncated(value[:max_len])
        cut.original_length = len(value)
        return cut
    return value


def _number_text(value: int | float) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def integer(value: Any, *, lo: int, hi: int) -> int:
    if isinstance(value, Decimal):
        value = float(value)
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not an integer")
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError(f"{value!r} is not an integer")
        value = int(value)
    elif isinstance(value, str):
        stripped = value.strip()
        if not re.fullmatch(r"[+-]?\d+", stripped):
            raise ValueError(f"{value!r} is not an integer")
        value = int(stripped)
    elif not isinstance(value, int):
        raise ValueError(f"{value!r} is not an integer")
    if not lo <= value <= hi:
        raise ValueError(f"{value} is outside {lo}..{hi}")
    return value


def number(value: Any, *, lo: float, hi: float) -> float:
    if isinstance(value, Decimal):
        value = float(value)
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a number")
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise ValueError(f"{value!r} is not a number") from None
    elif not isinstance(value, (int, float)):
        raise ValueError(f"{value!r} is not a number")
    value = float(value)
    if math.isnan(value) or not lo <= value <= hi:
        raise ValueError(f"{value} is outside {lo:g}..{hi:g}")
    return value


def iso_date(value: Any) -> str:
    """An ISO 8601 date or date-time, also accepting ExifTool's ``YYYY:MM:DD`` form."""
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not an ISO 8601 date")
    candidate = exiftool_date_to_iso(value.strip())
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", candidate):
            return dt.date.fromisoformat(candidate).isoformat()
        parsed = dt.datetime.fromisoformat(candidate.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{value!r} is not an ISO 8601 date (expected e.g. 2026-12-31)") from None
    text_form = parsed.isoformat()
    return text_form[:-6] + "Z" if text_form.endswith("+00:00") else text_form


_EXIFTOOL_DATE = re.compile(
    r"(\d{4}):(\d{2}):(\d{2})(?:[ T](\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)(.*))?")


def exiftool_date_to_iso(value: str) -> str:
    """ExifTool prints dates as ``2024:01:02 03:04:05+01:00``; turn that into ISO 8601."""
    m = _EXIFTOOL_DATE.fullmatch(value)
    if not m:
        return value
    date = f"{m.group(1)}-{m.group(2)}-{m.group(3)}"
    if m.group(4) is None:
        return date
    clock = m.group(4) if m.group(4).count(":") == 2 else m.group(4) + ":00"
    return f"{date}T{clock}{m.group(5) or ''}"


def url(value: Any) -> str:
    value = text(value)
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{value!r} is not an http(s) URL")
    return value


def text_list(value: Any) -> list[str]:
    """A list of names: a JSON list, or one string separated by commas or semicolons."""
    if isinstance(value, str):
        items = re.split(r"[;,]", value)
    elif isinstance(value, (list, tuple)):
        items = list(value)
    else:
        raise ValueError(f"expected a list, got {type(value).__name__}")
    out: list[str] = []
    for item in items[:MAX_LIST_ITEMS]:
        if isinstance(item, (int, float)) and not isinstance(item, bool):
            item = _number_text(item)
        if not isinstance(item, str):
            raise ValueError(f"list item {item!r} is not text")
        item = clean_text(item).strip()
        if item and item not in out:
            out.append(item[:1024])
    if not out:
        raise ValueError("empty list")
    return out


def object_refs(value: Any) -> list[ObjectRef]:
    """Parents: ``bucket/key`` or ``bucket/key?versionId=V`` items, or {bucket,key,version_id}."""
    if isinstance(value, str):
        items: list[Any] = [v for v in value.split(",") if v.strip()]
    elif isinstance(value, (list, tuple)):
        items = list(value)
    else:
        raise ValueError(f"expected a list of bucket/key, got {type(value).__name__}")
    refs: list[ObjectRef] = []
    for item in items[:MAX_LIST_ITEMS]:
        ref = _object_ref(item)
        if ref not in refs:
            refs.append(ref)
    if not refs:
        raise ValueError("empty list")
    return refs


def _object_ref(item: Any) -> ObjectRef:
    if isinstance(item, ObjectRef):
        return item
    if isinstance(item, dict):
        bucket, key = item.get("bucket"), item.get("key")
        version = item.get("version_id") or item.get("versionId")
        if not isinstance(bucket, str) or not isinstance(key, str) or not bucket or not key:
            raise ValueError(f"{item!r} needs text bucket and key")
        if version is not None and not isinstance(version, str):
            raise ValueError(f"{item!r}: version_id must be text")
        return ObjectRef(bucket, key, version or None)
    if not isinstance(item, str):
        raise ValueError(f"{item!r} is not bucket/key")
    raw = item.strip()
    if raw.startswith("s3://"):
        raw = raw[5:]
    version = None
    if "?" in raw:
        raw, _, query = raw.partition("?")
        for pair in query.split("&"):
            name, _, val = pair.partition("=")
            if name == "versionId" and val:
                version = unquote(val)
    bucket, sep, key = raw.partition("/")
    bucket, key = unquote(bucket), unquote(key)
    if not sep or not bucket or not key:
        raise ValueError(f"{item.strip()!r} is not bucket/key or bucket/key?versionId=V")
    return ObjectRef(bucket, key, version)


def source_type(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not an IPTC Digital Source Type")
    return vocab.normalize_source_type(value)


def data_mining(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a PLUS DataMining value")
    return vocab.normalize_data_mining(value)


def model_release(value: Any) -> str:
    value = text(value, max_len=1024)
    return vocab.model_release_status(value) or value


def _short(value: Any) -> str:
    return text(value, max_len=1024)


_VALIDATORS: dict[str, Callable[[Any], Any]] = {
    "prompt": text,
    "negative_prompt": text,
    "prompt_author": _short,
    "generator": _short,
    "model": _short,
    "model_version": _short,
    "seed": lambda v: integer(v, lo=SEED_MIN, hi=SEED_MAX),
    "steps": lambda v: integer(v, lo=1, hi=100_000),
    "sampler": _short,
    "cfg_scale": lambda v: number(v, lo=0.0, hi=1000.0),
    "source_type": source_type,
    "derived_from": object_refs,
    "job_id": _short,
    "cost": lambda v: number(v, lo=0.0, hi=1e15),
    "creator": _short,
    "copyright": text,
    "owner": _short,
    "credit": _short,
    "license": _short,
    "license_url": url,
    "usage_terms": text,
    "licensor": _short,
    "license_expires": iso_date,
    "model_release": model_release,
    "people": text_list,
    "data_mining": data_mining,
    "campaign": _short,
    "brand": _short,
    "sku": _short,
    "channel": _short,
    "title": _short,
    "description": text,
    "keywords": text_list,
    "rating": lambda v: integer(v, lo=-1, hi=5),
    "created_at": iso_date,
}


def normalize(field_name: str, value: Any) -> Any:
    """The canonical value of ``field_name``; ValueError (with the reason) if unusable."""
    validator = _VALIDATORS.get(field_name)
    if validator is None:
        raise ValueError(f"{field_name} is not a settable field")
    return validator(value)


def is_settable(field_name: str) -> bool:
    return field_name in _VALIDATORS
