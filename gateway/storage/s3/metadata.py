"""Object attributes to upstream headers and back, and provgate's system metadata.

User metadata goes upstream as ``x-amz-meta-*`` (so other tools see it), content headers
as themselves, tags as ``x-amz-tagging`` on the same request that writes the bytes (one
atomic write, no window without tags).

What provgate must remember beyond that — the client-visible ETag when the upstream's
differs (an object assembled from parts, then copied), the client's checksums, the part
count, the writing identity, and the full key under a digest name — goes into one
reserved metadata entry,
``x-amz-meta-~provgate``, as compact JSON. It cannot collide with a user's entry: a
user name starting with ``~`` is stored with one more ``~`` in front (``~x`` →
``~~x``), so no user name is ever stored as ``~provgate``; reading undoes that and never
returns the reserved entry as user metadata.

Header values must be ASCII and lose surrounding whitespace in transit, so a value that
is not plain printable ASCII (or is empty, or starts with ``=?``) is sent RFC 2047-encoded
(``=?UTF-8?B?...?=``, as AWS SDKs do) and decoded on the way back; a plain value never
starts with ``=?``, so decoding is unambiguous.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import quote

from gateway.storage.base import CONTENT_HEADERS, DEFAULT_CONTENT_TYPE, ObjectAttributes

META_PREFIX = "x-amz-meta-"
ESCAPE = "~"
SYSTEM_NAME = "~provgate"
SYSTEM_HEADER = META_PREFIX + SYSTEM_NAME
SYSTEM_VERSION = 1
_ENCODED_WORD = re.compile(r"^=\?UTF-8\?B\?([A-Za-z0-9+/=]*)\?=$")


@dataclass
class SystemFields:
    """What provgate keeps about an object that S3 attributes have no place for."""

    etag: str | None = None                  # only when the upstream's ETag is not it
    checksums: dict[str, str] = field(default_factory=dict)
    parts_count: int | None = None
    owner: str = ""
    key: str | None = None                   # only under a digest name (see keys)
    write_id: str | None = None              # names the write that made this version, so a
    #                                          write whose answer was lost can be recognised

    def to_header(self) -> str:
        doc: dict = {"v": SYSTEM_VERSION}
        if self.etag:
            doc["etag"] = self.etag
        if self.checksums:
            doc["checksums"] = self.checksums
        if self.parts_count is not None:
            doc["parts"] = self.parts_count
        if self.owner:
            doc["owner"] = self.owner
        if self.key is not None:  # base64: a third longer than UTF-8, where JSON's \u is 2x
            raw = self.key.encode("utf-8", "surrogatepass")
            doc["key64"] = base64.urlsafe_b64encode(raw).decode()
        if self.write_id:
            doc["write"] = self.write_id
        return json.dumps(doc, separators=(",", ":"), sort_keys=True)  # ASCII: ensure_ascii

    @classmethod
    def from_header(cls, value: str | None) -> SystemFields:
        if not value:
            return cls()
        etag, checksums, parts_count, owner, key, write_id = _parse_system(value)
        return cls(etag=etag, checksums=dict(checksums), parts_count=parts_count, owner=owner,
                   key=key, write_id=write_id)


@functools.lru_cache(maxsize=4096)
def _parse_system(value: str) -> tuple:
    """The fields of a system header value. Cached: every GET and HEAD of an object
    reads the same value again, and decoding it was most of reading an upstream answer.
    The checksums come back as a tuple of pairs, so no caller can change a cached entry."""
    try:
        doc = json.loads(value)
    except ValueError:
        return None, (), None, "", None, None
    if not isinstance(doc, dict):
        return None, (), None, "", None, None
    parts = doc.get("parts")
    return (doc.get("etag") or None, tuple(dict(doc.get("checksums") or {}).items()),
            parts if isinstance(parts, int) else None, str(doc.get("owner") or ""),
            _key(doc.get("key64")), str(doc.get("write") or "") or None)


def _key(encoded: object) -> str | None:
    if not isinstance(encoded, str):
        return None
    try:
        return base64.urlsafe_b64decode(encoded).decode("utf-8", "surrogatepass")
    except (binascii.Error, ValueError):
        return None


def encode_value(value: str) -> str:
    # An empty header value may be dropped on the way, so it is encoded too.
    if value and value.isascii() and value.isprintable() and value == value.strip() \
            and not value.startswith("=?"):
        return value
    raw = value.encode("utf-8", "surrogateescape")
    return f"=?UTF-8?B?{base64.b64encode(raw).decode()}?="


def decode_value(value: str) -> str:
    match = _ENCODED_WORD.match(value)
    if not match:
        return value
    try:
        return base64.b64decode(match.group(1), validate=True).decode("utf-8", "surrogateescape")
    except (binascii.Error, ValueError):
        return value


def upstream_name(name: str) -> str:
    return ESCAPE + name if name.startswith(ESCAPE) else name


def user_name(stored: str) -> str | None:
    """The user's metadata name for a stored one, or None for provgate's own entries."""
    if stored.startswith(ESCAPE + ESCAPE):
        return stored[1:]
    if stored.startswith(ESCAPE):
        return None
    return stored


def tagging_header(tags: Mapping[str, str]) -> str:
    """Tags as the ``x-amz-tagging`` query string (strictly encoded: ``+`` is ``%2B``)."""
    return "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in tags.items())


def write_headers(attributes: ObjectAttributes, system: SystemFields) -> dict[str, str]:
    """Headers that store ``attributes`` and ``system`` with an object (PUT, Copy, Create)."""
    headers = {"Content-Type": attributes.content_type or DEFAULT_CONTENT_TYPE}
    for name in CONTENT_HEADERS:
        if name in attributes.content_headers:
            headers[name] = encode_value(attributes.content_headers[name])
    for name, value in attributes.user_metadata.items():
        headers[META_PREFIX + upstream_name(name.lower())] = encode_value(value)
    headers[SYSTEM_HEADER] = system.to_header()
    if attributes.tags:
        headers["x-amz-tagging"] = tagging_header(attributes.tags)
    return headers


def read_headers(headers: Mapping[str, str]) -> tuple[ObjectAttributes, SystemFields]:
    """Attributes (tags excepted: HEAD/GET only count them) and system fields of an object."""
    lowered = {k.lower(): v for k, v in headers.items()}
    content = {name: decode_value(lowered[name.lower()]) for name in CONTENT_HEADERS
               if name.lower() in lowered}
    metadata: dict[str, str] = {}
    for name, value in lowered.items():
        if name.startswith(META_PREFIX):
            user = user_name(name[len(META_PREFIX):])
            if user is not None:
                metadata[user] = decode_value(value)
    system = SystemFields.from_header(lowered.get(SYSTEM_HEADER))
    attributes = ObjectAttributes(
        content_type=lowered.get("content-type", DEFAULT_CONTENT_TYPE),
        content_headers=content, user_metadata=metadata, owner=system.owner)
    return attributes, system
