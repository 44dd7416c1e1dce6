"""AWS Signature Version 2 for S3 (HMAC-SHA1), header and query-string forms.

Still produced by boto3's default ``generate_presigned_url`` (``AWSAccessKeyId``,
``Signature``, ``Expires``) and by older tools sending ``Authorization: AWS AK:sig``.
The string to sign is::

    VERB \\n Content-MD5 \\n Content-Type \\n Date-or-Expires \\n
    x-amz-* headers (lowercase, sorted, "name:value\\n") + canonical resource

where the canonical resource is ``/bucket/key`` plus the S3 sub-resources of the query.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Callable, Iterable, Mapping
from urllib.parse import unquote, unquote_to_bytes

from .sigv4 import uri_encode

# Query parameters that are part of the resource being signed (botocore's list, which
# also covers the classic S3 documentation list).
SUBRESOURCES = frozenset({
    "accelerate", "acl", "analytics", "cors", "defaultObjectAcl", "delete", "inventory",
    "lifecycle", "location", "logging", "metrics", "notification", "object-lock", "partNumber",
    "policy", "replication", "requestPayment", "response-cache-control",
    "response-content-disposition", "response-content-encoding", "response-content-language",
    "response-content-type", "response-expires", "restore", "select", "select-type",
    "storageClass", "tagging", "torrent", "uploadId", "uploads", "versionId", "versioning",
    "versions", "website",
})


def canonical_resource(path: str, raw_query: str) -> str:
    """``path`` (already ``/bucket/key``, as sent) plus the signed sub-resources.

    Sub-resources keep their arrival order among equal names and have their values
    percent-decoded, as botocore signs them.
    """
    selected = []
    for part in raw_query.split("&"):
        if not part:
            continue
        name, eq, value = part.partition("=")
        if name in SUBRESOURCES:
            selected.append((name, f"{name}={unquote(value)}" if eq else name))
    if not selected:
        return path
    selected.sort(key=lambda item: item[0])
    return path + "?" + "&".join(item for _, item in selected)


def resource_path_variants(raw_path: str) -> list[str]:
    """The path as sent, and its strict re-encoding for clients that signed that."""
    variants = [raw_path]
    normalized = uri_encode(unquote_to_bytes(raw_path.encode("utf-8", "surrogateescape")), safe="/")
    if normalized != raw_path:
        variants.append(normalized)
    return variants


def amz_headers(items: Iterable[tuple[str, str]]) -> str:
    """Canonical ``x-amz-*`` lines from (name, value) pairs; repeats comma-joined."""
    grouped: dict[str, list[str]] = {}
    for name, value in items:
        lname = name.lower()
        if lname.startswith("x-amz-"):
            grouped.setdefault(lname, []).append(value.strip())
    return "".join(f"{name}:{','.join(grouped[name])}\n" for name in sorted(grouped))


def string_to_sign(method: str, content_md5: str, content_type: str, date: str,
                   amz: str, resource: str) -> str:
    """Assemble the SigV2 string to sign from its parts (``amz`` from :func:`amz_headers`)."""
    return f"{method}\n{content_md5.strip()}\n{content_type.strip()}\n{date.strip()}\n{amz}{resource}"


def signature(secret: str, to_sign: str) -> str:
    """Base64 HMAC-SHA1 of the string to sign."""
    mac = hmac.new(secret.encode("utf-8"), to_sign.encode("utf-8", "surrogateescape"), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode("ascii")


def matches(secret: str, candidates: Iterable[str], provided: str) -> bool:
    """True when ``provided`` is the signature of any candidate string to sign."""
    provided_bytes = provided.encode("utf-8", "surrogateescape")
    found = False
    for to_sign in candidates:
        # No early exit: the time taken should not reveal which candidate matched.
        found |= hmac.compare_digest(signature(secret, to_sign).encode("ascii"), provided_bytes)
    return found


def candidates(method: str, header: Callable[[str], str], query_items: Mapping[str, str] | None,
               amz_items: Iterable[tuple[str, str]], date_options: Iterable[str],
               resource_paths: Iterable[str], raw_query: str) -> list[str]:
    """Every string to sign worth trying for one request.

    ``header(name)`` returns a header value or ``""``.  For the query form,
    ``query_items`` holds ``content-md5``/``content-type`` that presigners move into the
    query (they win over headers).  ``date_options`` are the Date line values to try.
    """
    query_items = query_items or {}
    content_md5 = query_items.get("content-md5", header("content-md5"))
    content_type = query_items.get("content-type", header("content-type"))
    amz = amz_headers(amz_items)
    out = []
    for date in date_options:
        for path in resource_paths:
            out.append(string_to_sign(method, content_md5, content_type, date, amz,
                                      canonical_resource(path, raw_query)))
    return list(dict.fromkeys(out))
