"""CORS as S3 does it: the ``CORSConfiguration`` document, and which rule allows a request.

A bucket's rules are kept (by the gatekeeper, with the bucket's settings) as a list of
plain dicts, one per ``<CORSRule>``::

    {"ID": "..." | None, "AllowedOrigins": [...], "AllowedMethods": [...],
     "AllowedHeaders": [...], "ExposeHeaders": [...], "MaxAgeSeconds": int | None}

Matching follows S3: the first rule whose origin pattern matches the request's Origin
(``*`` matches any run of characters, at most one per pattern), whose methods hold the
method asked for, and — for a preflight — whose header patterns cover every header in
``Access-Control-Request-Headers`` (case-insensitively) is the one that answers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from gateway import errors
from gateway.wire import xml

CORS_METHODS = ("GET", "PUT", "HEAD", "POST", "DELETE")
MAX_RULES = 100
MAX_CONFIGURATION_BYTES = 64 * 1024
# What S3 sends on every CORS answer: caches must key on these request headers.
VARY = "Origin, Access-Control-Request-Headers, Access-Control-Request-Method"


def parse_configuration(body: bytes) -> list[dict]:
    """The rules of a ``PutBucketCors`` document, validated as S3 validates them:
    MalformedXML for a missing or malformed element, InvalidRequest for a method S3
    does not allow or a pattern with more than one ``*``."""
    root = xml.parse(body, "CORSConfiguration")
    found = xml.children(root, "CORSRule")
    if not found:
        raise errors.MalformedXML("<CORSConfiguration> needs at least one <CORSRule>")
    if len(found) > MAX_RULES:
        raise errors.MalformedXML(f"A CORS configuration holds at most {MAX_RULES} rules")
    return [_rule(element) for element in found]


def _rule(element) -> dict:
    origins = _texts(element, "AllowedOrigin")
    methods = _texts(element, "AllowedMethod")
    if not origins or not methods:
        raise errors.MalformedXML(
            "Each <CORSRule> needs at least one <AllowedOrigin> and one <AllowedMethod>")
    for method in methods:
        if method not in CORS_METHODS:
            raise errors.InvalidRequest(
                f"Found unsupported HTTP method in CORS config. Unsupported method is {method}")
    headers = _texts(element, "AllowedHeader")
    for pattern in origins + headers:
        if pattern.count("*") > 1:
            raise errors.InvalidRequest(
                f'AllowedOrigin "{pattern}" can not have more than one wildcard.'
                if pattern in origins else
                f'AllowedHeader "{pattern}" can not have more than one wildcard.')
    max_age = xml.child_text(element, "MaxAgeSeconds")
    if max_age is not None and not re.fullmatch(r"[0-9]{1,10}", max_age.strip()):
        raise errors.MalformedXML("<MaxAgeSeconds> must be a whole number of seconds")
    rule_id = xml.child_text(element, "ID")
    if rule_id is not None and len(rule_id) > 255:
        raise errors.InvalidArgument("The ID of a CORS rule is at most 255 characters",
                                     ArgumentName="ID")
    return {"ID": rule_id, "AllowedOrigins": origins, "AllowedMethods": methods,
            "AllowedHeaders": headers, "ExposeHeaders": _texts(element, "ExposeHeader"),
            "MaxAgeSeconds": int(max_age) if max_age is not None else None}


def _texts(element, name: str) -> list[str]:
    return [(child.text or "").strip() for child in xml.children(element, name)]


def configuration_body(rules: list[dict]) -> dict:
    """The ``GetBucketCors`` document for stored rules."""
    return {"CORSRule": [{
        "ID": rule.get("ID"),
        "AllowedHeader": rule.get("AllowedHeaders") or None,
        "AllowedMethod": rule["AllowedMethods"],
        "AllowedOrigin": rule["AllowedOrigins"],
        "ExposeHeader": rule.get("ExposeHeaders") or None,
        "MaxAgeSeconds": rule.get("MaxAgeSeconds"),
    } for rule in rules]}


@dataclass(frozen=True)
class Preflight:
    """What a browser asks before a cross-origin request."""

    origin: str
    method: str
    headers: tuple[str, ...]       # as listed in Access-Control-Request-Headers


def preflight_of(headers) -> Preflight:
    """The preflight an OPTIONS request makes; 400 BadRequest without an Origin or an
    Access-Control-Request-Method (S3 alike)."""
    origin = headers.get("Origin")
    if not origin:
        raise errors.CORSPreflightMalformed()
    method = headers.get("Access-Control-Request-Method")
    if not method:
        raise errors.CORSPreflightMalformed("Invalid Access-Control-Request-Method: null")
    requested = tuple(h.strip() for h in headers.get("Access-Control-Request-Headers", "")
                      .split(",") if h.strip())
    return Preflight(origin, method.strip(), requested)


def _matches(pattern: str, value: str, *, case_sensitive: bool) -> bool:
    if not case_sensitive:
        pattern, value = pattern.lower(), value.lower()
    if "*" not in pattern:
        return pattern == value
    head, _, tail = pattern.partition("*")
    return len(value) >= len(head) + len(tail) and value.startswith(head) and value.endswith(tail)


def _origin_pattern(rule: dict, origin: str) -> str | None:
    for pattern in rule["AllowedOrigins"]:
        if _matches(pattern, origin, case_sensitive=True):
            return pattern
    return None


def allowing_rule(rules: list[dict], origin: str, method: str,
                  headers: tuple[str, ...] = ()) -> tuple[dict, str] | None:
    """The first rule that allows ``method`` from ``origin`` with ``headers``, with the
    origin pattern that matched; None when no rule does."""
    for rule in rules:
        pattern = _origin_pattern(rule, origin)
        if pattern is None or method not in rule["AllowedMethods"]:
            continue
        allowed = rule.get("AllowedHeaders") or []
        if all(any(_matches(p, h, case_sensitive=False) for p in allowed) for h in headers):
            return rule, pattern
    return None


def answer_headers(rule: dict, pattern: str, origin: str, *,
                   requested_headers: tuple[str, ...] = (), preflight: bool) -> dict[str, str]:
    """The ``Access-Control-*`` headers for a request ``rule`` allows: the origin (``*``
    when the rule allows any origin, the caller's otherwise, with credentials allowed),
    the rule's methods and exposed headers; a preflight also gets the headers it asked
    for and the rule's max age."""
    out = {"Access-Control-Allow-Origin": "*" if pattern == "*" else origin,
           "Access-Control-Allow-Methods": ", ".join(rule["AllowedMethods"]),
           "Vary": VARY}
    if pattern != "*":
        out["Access-Control-Allow-Credentials"] = "true"
    if rule.get("ExposeHeaders"):
        out["Access-Control-Expose-Headers"] = ", ".join(rule["ExposeHeaders"])
    if preflight:
        if requested_headers:
            out["Access-Control-Allow-Headers"] = ", ".join(requested_headers)
        if rule.get("MaxAgeSeconds") is not None:
            out["Access-Control-Max-Age"] = str(rule["MaxAgeSeconds"])
    return out
