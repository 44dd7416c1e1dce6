"""Search and the review queue over the catalog's indexes (``provgate asset search``,
``GET /api/v1/assets``, ``GET /api/v1/reviews/queue``).

A query is an AND of terms (``index.py``): each term's posting list is a sorted range of
``ix_post``, and the lists are intersected by leapfrogging — every list seeks straight to
the candidate the others agree on, so the cost follows the rarest term, not the catalog.
A date range bounds the ids themselves (they sort by commit time). Results come newest
first (search) or oldest first (queue), one page at a time: the page token is opaque to
clients, names the last document returned and the query it belongs to, and a token of
another query is refused.

Doors hand the user's strings to ``parse_params``; every limit below answers a clear
``InvalidArgument`` (HTTP 400), never a crash or a scan of the whole catalog.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field

from gateway import errors
from gateway.catalog import index as ix

MAX_PROMPT_CHARS = 2048       # a prompt query longer than this is refused
MAX_PROMPT_WORDS = 32         # and one with more distinct words
MAX_VALUE_CHARS = 1024        # any other filter value (a key prefix is at most a key)
MAX_TOKEN_CHARS = 512         # a page token is far shorter; longer is not one of ours
DEFAULT_LIMIT = 50
MAX_LIMIT = 1000
# Candidates a page may look at while a key-prefix filter rejects them (a prefix deeper
# than the indexed folders); past it the page ends early with a token to go on.
SCAN_BUDGET = 20_000

# Filters and what they mean; doors show these names to users.
FILTERS = {
    "prompt": "words of the prompt (all of them, any order, case-insensitive)",
    "model": "model name, exact (case-insensitive)",
    "generator": "generator (tool), exact (case-insensitive)",
    "campaign": "campaign, exact (case-insensitive)",
    "brand": "brand, exact (case-insensitive)",
    "sku": "SKU, exact (case-insensitive)",
    "review": "review state: " + " | ".join(ix.REVIEW_STATES),
    "identity": "identity that wrote the version",
    "door": "door it came in by: s3 | sidecar",
    "bucket": "bucket",
    "prefix": "key prefix (needs bucket)",
    "from": "committed at or after: YYYY-MM-DD or ISO 8601 time (UTC unless it says)",
    "to": "committed at or before: YYYY-MM-DD (the whole day) or ISO 8601 time",
    "warned": "true: only versions intake policy warned about; false: only the others",
    "all_versions": "true: every stored version, not only current ones",
}
QUEUE_FILTERS = ("bucket", "prefix", "campaign", "brand", "model", "door", "warned")


@dataclass(frozen=True)
class Query:
    """What to look for; every field set must hold (AND)."""

    words: tuple[str, ...] = ()
    exact: tuple[tuple[str, str], ...] = ()       # (index.EXACT_FIELDS name, value)
    review: str | None = None
    bucket: str | None = None
    prefix: str | None = None
    since: float | None = None                   # epoch seconds, inclusive
    until: float | None = None
    warned: bool | None = None
    all_versions: bool = False
    oldest_first: bool = False
    skip_buckets: tuple[str, ...] = ()            # never in the results

    def fingerprint(self) -> str:
        """Identifies the query inside a page token (a token of another query is refused)."""
        raw = json.dumps(asdict(self), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(raw.encode()).hexdigest()[:16]


@dataclass
class Page:
    items: list[dict] = field(default_factory=list)
    next: str | None = None      # token of the next page; None: nothing more

    def to_json(self) -> dict:
        return {"items": self.items, "next": self.next}


def invalid(name: str, message: str) -> errors.GatewayError:
    return errors.InvalidArgument(f"{name}: {message}", ArgumentName=name)


def _bounded(name: str, value, limit: int = MAX_VALUE_CHARS) -> str:
    text = str(value)
    if len(text) > limit:
        raise invalid(name, f"longer than {limit} characters")
    if not text.strip():
        raise invalid(name, "empty")
    return text


def parse_time(name: str, value, *, end_of_day: bool = False) -> float:
    """Epoch seconds from a number, a datetime, ``YYYY-MM-DD`` or an ISO 8601 time.

    A bare date means the start of that day (UTC), or with ``end_of_day`` its last
    microsecond, so ``to=2026-05-31`` includes all of May 31st.
    """
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, dt.datetime):
        moment = value
    else:
        text = _bounded(name, value, 64).strip()
        try:
            if len(text) == 10:
                day = dt.date.fromisoformat(text)
                moment = dt.datetime.combine(day, dt.time.max if end_of_day else dt.time.min)
            else:
                moment = dt.datetime.fromisoformat(text.upper().replace("Z", "+00:00"))
        except ValueError:
            raise invalid(name, f"{text!r} is not a date (YYYY-MM-DD) or ISO 8601 time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return moment.timestamp()


def _flag(name: str, value) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes"):
        return True
    if text in ("0", "false", "no"):
        return False
    raise invalid(name, f"{str(value)[:40]!r} is not true or false")


def build_query(*, prompt: str | None = None, model: str | None = None,
                generator: str | None = None, campaign: str | None = None,
                brand: str | None = None, sku: str | None = None, review: str | None = None,
                identity: str | None = None, door: str | None = None,
                bucket: str | None = None, prefix: str | None = None,
                date_from=None, date_to=None, warned=None, all_versions=False,
                oldest_first: bool = False, skip_buckets: tuple[str, ...] = ()) -> Query:
    """A validated query from filter values (None: not filtered); see FILTERS."""
    words: tuple[str, ...] = ()
    if prompt is not None:
        words = tuple(ix.words(_bounded("prompt", prompt, MAX_PROMPT_CHARS)))
        if not words:
            raise invalid("prompt", "has no words to look for")
        if len(words) > MAX_PROMPT_WORDS:
            raise invalid("prompt", f"more than {MAX_PROMPT_WORDS} words")
    exact = []
    for name, value in (("model", model), ("generator", generator), ("campaign", campaign),
                        ("brand", brand), ("sku", sku), ("identity", identity),
                        ("door", door)):
        if value is not None:
            exact.append((name, ix.normalise(_bounded(name, value))))
    if review is not None:
        review = _bounded("review", review).strip().lower()
        if review not in ix.REVIEW_STATES:
            raise invalid("review", f"{review[:40]!r} is not one of {', '.join(ix.REVIEW_STATES)}")
    if bucket is not None:
        bucket = _bounded("bucket", bucket)
    if prefix is not None:
        if len(str(prefix).encode("utf-8", "surrogatepass")) > MAX_VALUE_CHARS:
            raise invalid("prefix", f"longer than {MAX_VALUE_CHARS} bytes")
        if bucket is None:
            raise invalid("prefix", "needs a bucket (prefixes are of keys in one bucket)")
        prefix = str(prefix) or None
    since = None if date_from is None else parse_time("from", date_from)
    until = None if date_to is None else parse_time("to", date_to, end_of_day=True)
    if since is not None and until is not None and since > until:
        raise invalid("to", "is before from")
    return Query(words=words, exact=tuple(exact), review=review, bucket=bucket,
                 prefix=prefix, since=since, until=until,
                 warned=None if warned is None else _flag("warned", warned),
                 all_versions=_flag("all_versions", all_versions), oldest_first=oldest_first,
                 skip_buckets=tuple(skip_buckets))


def parse_params(params: Mapping[str, str], *, allowed=tuple(FILTERS)) -> dict:
    """Keyword arguments of ``build_query`` from a door's strings (``from``/``to`` →
    ``date_from``/``date_to``); an unknown name is refused, naming the known ones."""
    out = {}
    for name, value in params.items():
        if name not in allowed:
            raise invalid(name, f"unknown filter (filters: {', '.join(allowed)})")
        out[{"from": "date_from", "to": "date_to"}.get(name, name)] = value
    return out


def parse_limit(value, default: int = DEFAULT_LIMIT) -> int:
    if value is None:
        return default
    text = str(value).strip()
    if not text.isdigit() or len(text) > 6 or int(text) < 1:
        raise invalid("limit", f"must be a whole number from 1 to {MAX_LIMIT}")
    return min(int(text), MAX_LIMIT)


def encode_token(query: Query, after: bytes) -> str:
    raw = json.dumps({"q": query.fingerprint(), "after": after.hex()}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_token(query: Query, token: str) -> bytes:
    """The document a page token continues after; InvalidArgument for anything else."""
    if len(token) > MAX_TOKEN_CHARS:
        raise invalid("page", "not a page token of this server")
    try:
        doc = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        after = bytes.fromhex(doc["after"])
        fingerprint = doc["q"]
    except (ValueError, TypeError, KeyError, binascii.Error, UnicodeDecodeError):
        raise invalid("page", "not a page token of this server") from None
    if len(after) != 16 or not isinstance(fingerprint, str):
        raise invalid("page", "not a page token of this server")
    if fingerprint != query.fingerprint():
        raise invalid("page", "the token belongs to another query (filters changed)")
    return after


# -- evaluation ---------------------------------------------------------------------------
TOP = (1 << 128) - 1        # the highest document id (16 bytes)


class Postings:
    """One term's posting list: seek to the first doc id at/after (or at/before) one."""

    def __init__(self, txn, db, prefix: bytes) -> None:
        self.cursor = txn.cursor(db=db)
        self.prefix = prefix
        self.width = len(prefix) + 16

    def _doc(self) -> int | None:
        key = self.cursor.key()
        if len(key) != self.width or not key.startswith(self.prefix):
            return None
        return int.from_bytes(key[-16:], "big")

    def seek(self, doc: int, reverse: bool) -> int | None:
        target = self.prefix + doc.to_bytes(16, "big")
        cursor = self.cursor
        if not reverse:
            return self._doc() if cursor.set_range(target) else None
        if cursor.set_range(target):
            if cursor.key() == target:
                return doc
            if not cursor.prev():
                return None
        elif not cursor.last():
            return None
        return self._doc()


class AnyOf:
    """The union of several posting lists (a caller's visible buckets)."""

    def __init__(self, lists: list[Postings]) -> None:
        self.lists = lists

    def seek(self, doc: int, reverse: bool) -> int | None:
        found = [d for d in (p.seek(doc, reverse) for p in self.lists) if d is not None]
        if not found:
            return None
        return max(found) if reverse else min(found)


def matching(clauses: list, start: int, low: int, high: int, reverse: bool) -> Iterator[int]:
    """Doc ids in every clause, from ``start`` on, within [low, high] (leapfrog join)."""
    candidate = start
    count = len(clauses)
    while low <= candidate <= high:
        agreed, i = 0, 0
        while agreed < count:
            found = clauses[i].seek(candidate, reverse)
            if found is None or not low <= found <= high:
                return
            if found == candidate:
                agreed += 1
            else:
                candidate, agreed = found, 1
            i = (i + 1) % count
        yield candidate
        candidate += -1 if reverse else 1


def terms_of(query: Query) -> list[tuple[str, ...]]:
    """The query's terms, those likely rarest first (the join's pace follows the first)."""
    terms = [("word", w) for w in query.words]
    terms += [(name, value) for name, value in query.exact]
    if query.prefix:
        folder = query.prefix.rsplit("/", 1)[0] + "/" if "/" in query.prefix else None
        if folder and folder.count("/") <= ix.MAX_FOLDER_LEVELS:
            terms.append(("dir", query.bucket, folder))
    if query.bucket is not None:
        terms.append(("bucket", query.bucket))
    if query.review is not None:
        terms.append(("review", query.review))
    if query.warned:
        terms.append(ix.WARNED)
    if not query.all_versions:
        terms.append(ix.CURRENT)
    return terms


def bounds(query: Query) -> tuple[int, int]:
    """The lowest and highest document id the query's date range admits."""
    low, high = 0, TOP
    if query.since is not None:
        low = int.from_bytes(ix.doc_time_bound(query.since, upper=False), "big")
    if query.until is not None:
        high = int.from_bytes(ix.doc_time_bound(query.until, upper=True), "big")
    return low, high
