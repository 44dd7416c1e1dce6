"""Where a copy goes on its target: ``key_template`` filled from the record and the key."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import PurePosixPath

from gateway.distribution.targets import DeliveryError

_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


def key_parts(bucket: str, key: str, version_id: str) -> dict[str, str]:
    name = PurePosixPath(key).name
    stem, dot, ext = name.rpartition(".")
    if not stem:                       # "README" or ".hidden": no extension
        stem, ext = name, ""
    return {"key": key, "basename": name, "stem": stem, "ext": ext, "bucket": bucket,
            "version_id": version_id}


def render_key(template: str, record: dict, bucket: str, key: str, version_id: str) -> str:
    """The target key; a placeholder whose value is empty fails for good (naming it),
    because a copy under ``//hero.png`` or a guessed folder is worse than none."""
    parts = key_parts(bucket, key, version_id)

    def value(match: re.Match) -> str:
        name = match.group(1)
        found = parts[name] if name in parts else record.get(name)
        if isinstance(found, list):
            found = ",".join(str(v) for v in found)
        text = "" if found is None else str(found).strip()
        if not text:
            raise DeliveryError(f"key_template {template!r}: {{{name}}} is empty for "
                                f"{bucket}/{key}", permanent=True)
        return text

    out = _PLACEHOLDER.sub(value, template)
    if len(out.encode("utf-8")) > 1024:
        raise DeliveryError(f"key_template {template!r} makes a key longer than 1024 bytes",
                            permanent=True)
    return out


def licence_expired(record: dict, now: dt.datetime | None = None) -> bool:
    """Whether ``license_expires`` has passed: a date expires at the end of that day
    (UTC), a date-time at that moment. No date (or an unreadable one): never."""
    text = record.get("license_expires")
    if not text:
        return False
    now = now or dt.datetime.now(dt.timezone.utc)
    try:
        if len(text) == 10:
            return dt.date.fromisoformat(text) < now.date()
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return False
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return moment <= now
