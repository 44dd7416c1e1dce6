"""What the catalog's search indexes hold for one version: its terms and its place in time.

Every version in the catalog is a *document* with a 16-byte id that sorts by the time it
was committed (``doc_id``: committed microseconds, then a catalog-wide counter), so a
posting list — the ids of the documents that carry one term — is already in time order:
a date range is a range of ids and the review queue's "oldest first" is the list's own
order. Terms are tuples of strings:

    ("word", w)                    a word of the prompt (``words``)
    ("model", v), ("generator", v), ("campaign", v), ("brand", v), ("sku", v),
    ("identity", v), ("door", v)   the record's field, normalised (``normalise``)
    ("review", status)             pending unless a review says otherwise (``review_status``)
    ("bucket", b)                  the bucket
    ("dir", b, folder)             every folder prefix of the key ("a/", "a/b/"), for prefixes
    ("warned",)                    intake policy answered with warnings
    ("current",)                   the key's current version (maintained by the catalog)
"""

from __future__ import annotations

import re
import struct
import unicodedata

# Record fields indexed for exact (case-insensitive) match.
EXACT_FIELDS = ("model", "generator", "campaign", "brand", "sku", "identity", "door")

# Review states a version can be in (DESIGN "Review and distribution").
REVIEW_STATES = ("pending", "approved", "changes_requested", "rejected", "published",
                 "taken_down", "expired")

# A prompt of many thousand distinct words (a pasted workflow) is indexed by its first
# this many, so one write never turns into an unbounded number of index entries.
MAX_WORDS_PER_VERSION = 4096

# Folder levels of a key indexed for prefix queries; deeper levels fall back to a filter.
MAX_FOLDER_LEVELS = 16

CURRENT = ("current",)
WARNED = ("warned",)

_DOC = struct.Struct(">QQ")
_WORD = re.compile(r"\w+")
_SPACE = re.compile(r"\s+")


def doc_id(committed: float, serial: int) -> bytes:
    """A document id that sorts by commit time (microseconds), ties by catalog serial."""
    return _DOC.pack(max(0, int(committed * 1_000_000)), serial)


def doc_time_bound(moment: float, *, upper: bool) -> bytes:
    """The lowest (or highest) possible document id of a commit time."""
    return _DOC.pack(max(0, int(moment * 1_000_000)), (1 << 64) - 1 if upper else 0)


def normalise(value) -> str:
    """How values are compared: NFKC, case-folded, runs of space as one, no NUL."""
    text = unicodedata.normalize("NFKC", str(value)).casefold().replace("\x00", "")
    return _SPACE.sub(" ", text).strip()


def words(text: str | None) -> list[str]:
    """The distinct words of a text in first-seen order (Unicode word characters)."""
    if not text:
        return []
    return list(dict.fromkeys(_WORD.findall(normalise(text))))


def review_status(entry: dict) -> str:
    """A version's review state: the catalog's review field, else the record's (as
    read back from an XMP record by a reindex), else pending."""
    review = entry.get("review") or (entry.get("record") or {}).get("review") or {}
    return review.get("status") or "pending"


def folders(key: str) -> list[str]:
    """Folder prefixes of a key, shortest first: "a/b/c.png" -> ["a/", "a/b/"]."""
    parts = key.split("/")[:-1][:MAX_FOLDER_LEVELS]
    out, prefix = [], ""
    for part in parts:
        prefix += part + "/"
        out.append(prefix)
    return out


def version_terms(bucket: str, key: str, entry: dict, *, current: bool) -> list[tuple[str, ...]]:
    """Every term a version's catalog entry is found by."""
    record = entry.get("record") or {}
    terms: list[tuple[str, ...]] = [("word", w) for w in
                                    words(record.get("prompt"))[:MAX_WORDS_PER_VERSION]]
    for name in EXACT_FIELDS:
        value = record.get(name)
        if value not in (None, ""):
            normal = normalise(value)
            if normal:
                terms.append((name, normal))
    terms.append(("review", review_status(entry)))
    terms.append(("bucket", bucket))
    terms.extend(("dir", bucket, folder) for folder in folders(key))
    if entry.get("policy_warnings"):
        terms.append(WARNED)
    if current:
        terms.append(CURRENT)
    return terms
