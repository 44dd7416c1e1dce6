"""AWS Signature Version 4 for S3: canonical request, string to sign, signing keys.

Shared by the verifier (incoming requests, see ``authenticator``), the aws-chunked
decoder (chunk and trailer signatures) and :func:`sign_request`, the outbound signer
the S3 storage backend uses towards an upstream S3.

S3 differs from other AWS services in two ways that matter here: the canonical URI is
the path exactly as sent (encoded once, never normalised), and the payload hash may be
one of the ``UNSIGNED-PAYLOAD`` / ``STREAMING-*`` markers instead of a SHA-256.
"""

from __future__ import annotations

import calendar
import datetime
import email.utils
import functools
import hashlib
import hmac
import math
import time
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping
from urllib.parse import quote, unquote_to_bytes, urlsplit

ALGORITHM = "AWS4-HMAC-SHA256"
TERMINATOR = "aws4_request"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
STREAMING_SIGNED = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
STREAMING_SIGNED_TRAILER = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
STREAMING_UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
STREAMING_MODES = (STREAMING_SIGNED, STREAMING_SIGNED_TRAILER, STREAMING_UNSIGNED_TRAILER)
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
TIMESTAMP_FORMAT = "%Y%m%dT%H%M%SZ"

# botocore never signs these (hop-by-hop or rewritten by proxies); mirror it so the
# outbound signer produces what an upstream expects from an SDK.
_UNSIGNABLE = frozenset({
    "authorization", "baggage", "connection", "expect", "keep-alive", "proxy-authenticate",
    "proxy-authorization", "te", "traceparent", "tracestate", "trailer", "transfer-encoding",
    "upgrade", "user-agent", "x-amzn-trace-id",
})


def uri_encode(data: bytes | str, safe: str = "") -> str:
    """AWS URI-encode: keep ``A-Za-z0-9-._~`` (and ``safe``), percent-encode the rest in
    uppercase hex, UTF-8 for text."""
    return quote(data, safe=safe + "~")


def _wire_bytes(text: str) -> bytes:
    # aiohttp decodes the request line and headers as UTF-8 with surrogateescape;
    # encoding the same way gives back the bytes the client sent.
    return text.encode("utf-8", "surrogateescape")


def split_target(raw_target: str) -> tuple[str, str]:
    """Split a raw request target (``request.raw_path``) into raw path and raw query.

    An absolute-form target (``http://host/path``, sent to proxies) is reduced to its path.
    """
    if raw_target.startswith(("http://", "https://")):
        parts = urlsplit(raw_target)
        return parts.path or "/", parts.query
    path, _, query = raw_target.partition("?")
    path, _, _ = path.partition("#")
    query, _, _ = query.partition("#")
    return path or "/", query


def canonical_uri_variants(raw_path: str) -> list[tuple[str, bool]]:
    """Canonical URIs a client may have signed for ``raw_path``, most likely first.

    Each item is ``(canonical_uri, plus_means_space)``.  SDKs sign the path exactly as
    sent; some clients send characters raw that they signed percent-encoded (so we also
    try the strict AWS re-encoding of the decoded path), and s3cmd sends ``+`` for a
    space it signed as ``%20``.
    """
    raw_path = raw_path or "/"
    variants = [(raw_path, False)]
    decoded = unquote_to_bytes(_wire_bytes(raw_path))
    normalized = uri_encode(decoded, safe="/")
    if normalized != raw_path:
        variants.append((normalized, False))
    if "+" in raw_path:
        spaced = uri_encode(unquote_to_bytes(_wire_bytes(raw_path.replace("+", "%20"))), safe="/")
        variants.append((spaced, True))
    return variants


def _query_pairs(raw_query: str) -> list[tuple[str, str]]:
    pairs = []
    for part in raw_query.split("&"):
        if part:
            name, _, value = part.partition("=")
            pairs.append((name, value))
    return pairs


def _normalize_component(component: str, plus: str) -> str:
    return uri_encode(unquote_to_bytes(_wire_bytes(component.replace("+", plus))))


def _decoded_name(name: str) -> str:
    return unquote_to_bytes(_wire_bytes(name)).decode("utf-8", "replace")


def canonical_query(raw_query: str, exclude: Iterable[str] = (), *, plus_as_space: bool = True) -> str:
    """The SigV4 canonical query string for a raw (as sent) query string.

    Every name and value is decoded and strictly re-encoded, so ``%2f``/``%2F``/raw
    characters all canonicalise alike, then pairs are sorted by encoded name, then
    value.  ``exclude`` drops parameters by decoded name (``X-Amz-Signature``).
    A raw ``+`` is a form-encoded space unless ``plus_as_space`` is false.
    """
    plus = "%20" if plus_as_space else "%2B"
    excluded = set(exclude)
    pairs = sorted(
        (_normalize_component(name, plus), _normalize_component(value, plus))
        for name, value in _query_pairs(raw_query)
        if _decoded_name(name) not in excluded
    )
    return "&".join(f"{name}={value}" for name, value in pairs)


def canonical_query_variants(raw_query: str, exclude: Iterable[str] = ()) -> list[str]:
    """Canonical query strings a client may have signed for ``raw_query``.

    The normalised form (``+`` as space) is what AWS documents; ``+`` as a literal and
    the as-sent sorted form cover clients that sign their own unusual encodings.
    """
    excluded = set(exclude)
    variants = [canonical_query(raw_query, excluded)]
    if "+" in raw_query:
        variants.append(canonical_query(raw_query, excluded, plus_as_space=False))
    as_sent = "&".join(
        f"{name}={value}" for name, value in sorted(_query_pairs(raw_query))
        if _decoded_name(name) not in excluded
    )
    variants.append(as_sent)
    return list(dict.fromkeys(variants))


def canonical_headers(get_all: Callable[[str], list[str]], names: Iterable[str]) -> str:
    """``name:value\\n`` lines for the signed header ``names`` (lowercase, sorted).

    Repeated headers are comma-joined in arrival order; each value is trimmed and its
    inner whitespace runs collapsed to one space (botocore's Trimall).
    """
    lines = []
    for name in names:
        value = ",".join(" ".join(v.split()) for v in get_all(name))
        lines.append(f"{name}:{value}\n")
    return "".join(lines)


def canonical_request(method: str, uri: str, query: str, headers_block: str,
                      signed_headers: str, payload_hash: str) -> str:
    """Join the six canonical-request parts (``headers_block`` ends with a newline)."""
    return f"{method}\n{uri}\n{query}\n{headers_block}\n{signed_headers}\n{payload_hash}"


def string_to_sign(timestamp: str, scope: str, canonical: str) -> str:
    """``AWS4-HMAC-SHA256`` string to sign for a canonical request."""
    digest = hashlib.sha256(_wire_bytes(canonical)).hexdigest()
    return f"{ALGORITHM}\n{timestamp}\n{scope}\n{digest}"


def chunk_string_to_sign(timestamp: str, scope: str, previous_signature: str,
                         chunk_sha256_hex: str) -> str:
    """String to sign for one ``STREAMING-AWS4-HMAC-SHA256-PAYLOAD`` chunk."""
    return (f"{ALGORITHM}-PAYLOAD\n{timestamp}\n{scope}\n{previous_signature}\n"
            f"{EMPTY_SHA256}\n{chunk_sha256_hex}")


def trailer_string_to_sign(timestamp: str, scope: str, previous_signature: str,
                           trailer: bytes) -> str:
    """String to sign for the trailer chunk; ``trailer`` is ``name:value\\n`` per header."""
    return (f"{ALGORITHM}-TRAILER\n{timestamp}\n{scope}\n{previous_signature}\n"
            f"{hashlib.sha256(trailer).hexdigest()}")


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).digest()


@functools.lru_cache(maxsize=512)
def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    """The derived SigV4 key; cached because it changes once a day per credential scope."""
    key = _hmac(("AWS4" + secret).encode("utf-8"), date)
    key = _hmac(key, region)
    key = _hmac(key, service)
    return _hmac(key, TERMINATOR)


def signature(key: bytes, to_sign: str) -> str:
    """Hex HMAC-SHA256 of a string to sign."""
    return hmac.new(key, _wire_bytes(to_sign), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Credential:
    """The parsed ``Credential=AK/date/region/service/aws4_request`` value."""

    access_key: str
    date: str
    region: str
    service: str

    @property
    def scope(self) -> str:
        return f"{self.date}/{self.region}/{self.service}/{TERMINATOR}"


def parse_credential(value: str) -> Credential | None:
    """Parse a credential string; None when it does not have the five parts."""
    # rsplit: the scope has a fixed shape, whatever is left of it is the access key.
    parts = value.strip().rsplit("/", 4)
    if len(parts) != 5 or not all(parts) or parts[4] != TERMINATOR:
        return None
    return Credential(*parts[:4])


# Cached: strptime is slow, and the requests of one second share their timestamp.
@functools.lru_cache(maxsize=256)
def parse_timestamp(value: str) -> float | None:
    """Epoch seconds of an ISO 8601 basic timestamp (``20130524T000000Z``), or None."""
    try:
        parsed = datetime.datetime.strptime(value.strip(), TIMESTAMP_FORMAT)
    except ValueError:
        return None
    return float(calendar.timegm(parsed.timetuple()))


def parse_http_date(value: str) -> float | None:
    """Epoch seconds of an RFC 7231 ``Date`` header value, or None."""
    try:
        parsed = email.utils.parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError):
        return None
    if parsed is None:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.timezone.utc)
    return parsed.timestamp()


def format_timestamp(epoch: float) -> str:
    """ISO 8601 basic form of epoch seconds, as SigV4 uses in ``x-amz-date``."""
    return _format_second(math.floor(epoch))


# Cached: every upstream request is signed with the current second's timestamp.
@functools.lru_cache(maxsize=64)
def _format_second(second: int) -> str:
    return time.strftime(TIMESTAMP_FORMAT, time.gmtime(second))


def sign_request(method: str, url: str, headers: Mapping[str, str], payload_hash: str,
                 access_key: str, secret: str, region: str, service: str = "s3",
                 now: float | datetime.datetime | None = None) -> dict[str, str]:
    """Sign an outbound request; returns the headers to add (``Authorization``,
    ``x-amz-date``, ``x-amz-content-sha256``).

    ``url`` must already be percent-encoded exactly as it will go on the wire (with
    aiohttp, pass ``yarl.URL(url, encoded=True)``), because S3 signs the path as sent.
    ``headers`` are the other headers that will be sent; all of them are signed except
    hop-by-hop ones.  ``payload_hash`` is the hex SHA-256 of the body or
    ``UNSIGNED-PAYLOAD``.  A ``Host`` header is derived from ``url`` when absent.
    """
    if now is None:
        now = time.time()
    if isinstance(now, datetime.datetime):
        if now.tzinfo is None:
            now = now.replace(tzinfo=datetime.timezone.utc)
        now = now.timestamp()
    timestamp = format_timestamp(now)
    credential = Credential(access_key, timestamp[:8], region, service)

    parts = urlsplit(url)
    to_sign: dict[str, list[str]] = {}
    for name, value in headers.items():
        lname = name.lower()
        if lname not in _UNSIGNABLE and lname not in ("x-amz-date", "x-amz-content-sha256"):
            to_sign.setdefault(lname, []).append(str(value))
    if "host" not in to_sign:
        to_sign["host"] = [host_header(parts)]
    to_sign["x-amz-date"] = [timestamp]
    to_sign["x-amz-content-sha256"] = [payload_hash]
    names = sorted(to_sign)
    signed = ";".join(names)
    canonical = canonical_request(
        method.upper(), parts.path or "/", canonical_query(parts.query),
        canonical_headers(lambda n: to_sign[n], names), signed, payload_hash)
    key = signing_key(secret, credential.date, region, service)
    sig = signature(key, string_to_sign(timestamp, credential.scope, canonical))
    return {
        "Authorization": (f"{ALGORITHM} Credential={access_key}/{credential.scope}, "
                          f"SignedHeaders={signed}, Signature={sig}"),
        "x-amz-date": timestamp,
        "x-amz-content-sha256": payload_hash,
    }


def host_header(parts) -> str:
    """The ``Host`` header for the ``urlsplit`` result ``parts``, as HTTP clients send
    it: the port only when it is not the scheme's default."""
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = parts.port
    default = {"http": 80, "https": 443}.get(parts.scheme)
    return host if port is None or port == default else f"{host}:{port}"


def presign_url(method: str, url: str, access_key: str, secret: str, region: str,
                expires: int, service: str = "s3", now: float | None = None) -> str:
    """A SigV4 query-signed URL (``X-Amz-Signature``), valid ``expires`` seconds.

    ``url`` must be percent-encoded as it will be sent (see ``sign_request``); only the
    ``host`` header is signed, so any client can fetch it with a plain GET.
    """
    timestamp = format_timestamp(time.time() if now is None else now)
    credential = Credential(access_key, timestamp[:8], region, service)
    parts = urlsplit(url)
    params = {"X-Amz-Algorithm": ALGORITHM,
              "X-Amz-Credential": f"{access_key}/{credential.scope}",
              "X-Amz-Date": timestamp, "X-Amz-Expires": str(int(expires)),
              "X-Amz-SignedHeaders": "host"}
    query = "&".join(p for p in [parts.query] + [f"{uri_encode(k)}={uri_encode(v)}"
                                                 for k, v in params.items()] if p)
    canonical = canonical_request(method.upper(), parts.path or "/", canonical_query(query),
                                  canonical_headers(lambda n: [host_header(parts)], ["host"]),
                                  "host", UNSIGNED_PAYLOAD)
    key = signing_key(secret, credential.date, region, service)
    sig = signature(key, string_to_sign(timestamp, credential.scope, canonical))
    return f"{parts.scheme}://{parts.netloc}{parts.path}?{query}&X-Amz-Signature={sig}"
