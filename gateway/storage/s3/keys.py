"""How S3 keys and buckets are named upstream.

Buckets keep their names, with ``bucket_prefix`` in front (so one upstream can serve
several installs); :class:`BucketNames` adds and strips it.

Keys cannot be stored verbatim on a filer-backed store such as SeaweedFS, which treats
``/`` as a directory separator:

* it lists in directory-walk order (``a/b`` before ``a-c``), not S3's UTF-8 byte order,
  and its start-after skips the children of a key that is also a directory;
* it folds ``a//b`` into ``a/b`` and ``\\`` into ``/``, rejects ``.`` and ``..``
  segments and segments over 255 bytes, and turns a key ending in ``/`` into an empty
  directory marker — silent aliasing or data loss for keys S3 accepts.

So every key is encoded, injectively and order-preservingly, into one the upstream stores
faithfully and lists in the right order. The encoding stays readable:

* a key is cut at each ``/``; every segment but the last ends with ``&`` (``a/b`` →
  ``a&/b``). ``&`` sorts after every ``%XX`` escape and before every raw character, just
  where ``/`` sorts among the characters a segment can hold, so the upstream's walk order
  is S3's byte order;
* characters below ``0`` (controls, space, ``!"#$%&'()*+,-./``) become ``%XX`` and
  ``[``, ``\\``, ``]`` become ``[XX``: uppercase hex, so escapes sort among themselves
  and against raw characters as the characters they stand for;
* a segment that grows past ``SEGMENT_BYTES`` is continued in a sub-directory whose name
  ends with ``!``; where it is cut depends only on the characters before the cut, so keys
  sharing a prefix are cut alike and order is kept;
* an empty last segment (a key ending in ``/``) is stored as ``$``, which sorts first.

``renders/cat 01.png`` is stored as ``renders&/cat%2001%2Epng``. An upstream key that is
not the encoding of any key (written there by something other than provgate) is not
shown.

Upstreams cap keys at 1024 bytes, and escapes and marks make an encoding longer than its
key. An encoding over the cap is cut to a readable prefix and ended with ``#`` and a
SHA-256 digest of the key (a *digest name*); the full key then travels in the object's
system metadata (see ``metadata``), which listings read for such names. Order is kept
except among keys sharing their first ~990 encoded bytes.

Provgate's own records live under ``!pg/`` in the same bucket: ``!`` is always escaped in
encoded keys, so that namespace never meets an object key and sorts before all of them.
"""

from __future__ import annotations

import hashlib
import re

SEGMENT_BYTES = 240          # a component stays under 245 bytes: filer stores cap names at 255
SEGMENT_END = "&"            # closes a segment that a "/" ended
CONTINUED = "!"              # closes a segment cut for length; the key goes on below it
EMPTY_LAST = "$"             # the empty segment after a trailing "/"
BRACKETS = "[\\]"
_FIRST_RAW = 0x30            # "0": everything below is escaped as %XX

UPSTREAM_KEY_BYTES = 1024    # S3's and SeaweedFS's cap on a whole key
NAME_BYTES = 250             # our budget per path component (filers cap names at 255)
DIGEST_MARK = "#"            # always escaped in content, so it marks a digest name
_DIGEST_HEX = 32
_DIGEST_ROOM = len(DIGEST_MARK) + _DIGEST_HEX
_DIGEST_NAME = re.compile(r"#[0-9a-f]{%d}$" % _DIGEST_HEX)
# Every digest name keeps at least this much of its key's encoding (the component that
# holds the cut starts at >= 1024 - 33 - 245 bytes), so listing prefixes and cursors up
# to this length still find digest names.
SAFE_PREFIX_BYTES = 700

INTERNAL_PREFIX = "!pg/"     # provgate's own records (uploads, staged objects)
# The record store: ``!pg/records/<digest of the key>/<hex of the version id>``, a name
# of fixed size whatever the key's length (so a 1024-byte key has a record too).
RECORDS_PREFIX = INTERNAL_PREFIX + "records/"
# The parts an object was assembled from, one JSON document per write: PART_LISTS + write id.
PART_LISTS = INTERNAL_PREFIX + "parts-of/"
LAYOUT_NAME = INTERNAL_PREFIX + "layout"   # the bucket's layout (see storage.base)
# The bucket's versioning state as clients set it (the upstream bucket itself stays
# versioned: see ``versioning``), and per key the upstream version that is its ``null``
# version: ``!pg/nulls/<digest of the key>``.
VERSIONING_NAME = INTERNAL_PREFIX + "versioning"
NULLS_PREFIX = INTERNAL_PREFIX + "nulls/"
OWNER_NAME = INTERNAL_PREFIX + "owner"     # who created the bucket (written once)
SETTINGS_PREFIX = INTERNAL_PREFIX + "settings/"   # one JSON note per bucket setting
# The order a version's tags were set in (upstreams such as SeaweedFS return a tag set
# sorted by key): ``!pg/tag-order/<digest of the key>/<hex of the version id>``.
TAG_ORDER_PREFIX = INTERNAL_PREFIX + "tag-order/"
# Upstream start-after that skips the internal namespace: "!pg/..." < "!~" < every
# encoded key (which starts with "%", "&", "[" or a character from "0" up).
LISTING_FLOOR = "!~"
# Sorts after anything that can follow an encoded prefix (the largest code point).
_AFTER_ALL = "\U0010ffff"


def _escape(char: str) -> str:
    code = ord(char)
    if code < _FIRST_RAW:
        return f"%{code:02X}"
    if char in BRACKETS:
        return f"[{code:02X}"
    return char


def _segments(key: str) -> tuple[list[str], str]:
    """The closed upstream path components of ``key`` (marks included) and the open tail."""
    closed: list[str] = []
    current: list[str] = []
    size = 0
    for char in key:
        if char == "/":
            closed.append("".join(current) + SEGMENT_END)
            current, size = [], 0
            continue
        unit = _escape(char)
        current.append(unit)
        size += len(unit.encode("utf-8", "surrogatepass"))
        if size >= SEGMENT_BYTES:
            closed.append("".join(current) + CONTINUED)
            current, size = [], 0
    return closed, "".join(current)


def encode_key(key: str) -> str:
    """The upstream key an S3 key is stored under."""
    closed, tail = _segments(key)
    name = "/".join(closed + [tail or EMPTY_LAST])
    if _size(name) <= UPSTREAM_KEY_BYTES:
        return name
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:_DIGEST_HEX]
    kept = cut(name, UPSTREAM_KEY_BYTES - _DIGEST_ROOM, last_component=NAME_BYTES - _DIGEST_ROOM)
    return kept + DIGEST_MARK + digest


def record_prefix(key: str) -> str:
    """The upstream prefix of every record of ``key``."""
    return f"{RECORDS_PREFIX}{_key_digest(key)}/"


def _key_digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:_DIGEST_HEX]


def null_name(key: str) -> str:
    """The upstream key naming the upstream version that is ``key``'s null version."""
    return NULLS_PREFIX + _key_digest(key)


def record_name(key: str, version_id: str) -> str:
    """The upstream key of the record of one object version of ``key``."""
    return record_prefix(key) + version_id.encode().hex()


def tag_order_name(key: str, version_id: str) -> str:
    """The upstream key of the tag order note of one object version of ``key``."""
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:_DIGEST_HEX]
    return f"{TAG_ORDER_PREFIX}{digest}/{version_id.encode().hex()}"


def is_digest_name(upstream: str) -> bool:
    """True for a name whose key must be read from the object's system metadata."""
    return bool(_DIGEST_NAME.search(upstream)) and upstream.count(DIGEST_MARK) == 1


def cut(name: str, limit: int, *, last_component: int = NAME_BYTES) -> str:
    """The longest prefix of an encoded name that ends between two characters (never
    inside an escape) and fits ``limit`` bytes, its last component ``last_component``."""
    size = component = kept = 0
    i = 0
    while i < len(name):
        step = 3 if name[i] in "%[" else 1
        unit = _size(name[i:i + step])
        if size + unit > limit:
            break
        component = 0 if name[i] == "/" else component + unit
        size += unit
        i += step
        if component <= last_component:  # only the component left open has the tighter cap
            kept = i
    return name[:kept]


def _size(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


def encode_prefix(prefix: str) -> str:
    """An upstream prefix matching exactly the encodings of keys that start with ``prefix``."""
    closed, tail = _segments(prefix)
    if tail:
        return "/".join(closed + [tail])
    if not closed:
        return ""
    if closed[-1].endswith(CONTINUED):
        # A key equal to the prefix is the file named like the cut segment, minus its
        # mark; longer keys are inside the directory with the mark.
        return "/".join(closed[:-1] + [closed[-1][:-len(CONTINUED)]])
    return "/".join(closed) + "/"


def listing_prefix(prefix: str) -> str:
    """An upstream prefix for listing keys that start with ``prefix``: exact, or shorter
    (then the caller filters) when a digest name may have cut it."""
    encoded = encode_prefix(prefix)
    return encoded if _size(encoded) <= SAFE_PREFIX_BYTES else cut(encoded, SAFE_PREFIX_BYTES)


def listing_cursor(start_after: str) -> str:
    """An upstream start-after at or before every key that sorts after ``start_after``."""
    encoded = encode_key(start_after)
    return encoded if _size(encoded) <= SAFE_PREFIX_BYTES else cut(encoded, SAFE_PREFIX_BYTES)


def after_prefix(prefix: str) -> str | None:
    """An upstream start-after past every key that starts with ``prefix``, or None when
    the prefix is too long to skip safely (digest names may sort inside it)."""
    encoded = encode_prefix(prefix)
    return encoded + _AFTER_ALL if _size(encoded) <= SAFE_PREFIX_BYTES else None


def decode_key(upstream: str) -> str | None:
    """The S3 key stored under ``upstream``, or None for a key provgate did not write and
    for digest names (whose key is in the object's metadata)."""
    components = upstream.split("/")
    pieces: list[str] = []
    for position, component in enumerate(components):
        if position == len(components) - 1:
            text = "" if component == EMPTY_LAST else component
        elif component.endswith(SEGMENT_END):
            text = component[:-len(SEGMENT_END)] + "/"
        elif component.endswith(CONTINUED):
            text = component[:-len(CONTINUED)]
        else:
            return None
        piece = _unescape(text)
        if piece is None:
            return None
        pieces.append(piece)
    key = "".join(pieces)
    # Only the canonical form counts: that keeps the mapping one-to-one.
    return key if key and encode_key(key) == upstream else None


def _unescape(text: str) -> str | None:
    out: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char in "%[":
            digits = text[i + 1:i + 3]
            if len(digits) != 2 or not all(d in "0123456789ABCDEF" for d in digits):
                return None
            out.append(chr(int(digits, 16)))
            i += 3
        else:
            out.append(char)
            i += 1
    return "".join(out)


class BucketNames:
    """Bucket names upstream: ``prefix + name``; buckets without the prefix are not ours."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def upstream(self, bucket: str) -> str:
        return self.prefix + bucket

    def local(self, upstream: str) -> str | None:
        if not upstream.startswith(self.prefix) or upstream == self.prefix:
            return None
        return upstream[len(self.prefix):]
