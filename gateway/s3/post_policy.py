"""The POST policy of a browser-form upload (S3's POST Object), as S3 checks it.

The policy is a base64 JSON document the signer wrote::

    {"expiration": "2026-12-01T12:00:00.000Z",
     "conditions": [{"bucket": "b"}, ["starts-with", "$key", "user/"],
                    ["content-length-range", 0, 1048576], {"x-amz-meta-prompt": "a fox"}]}

Each condition is ``{"field": "value"}`` (exact match), ``["eq", "$field", "value"]``,
``["starts-with", "$field", "prefix"]`` (an empty prefix allows anything) or
``["content-length-range", min, max]`` (the file's size, inclusive). Operator and field
names are case-insensitive, values are not. Every form field must be named by some
condition, except the signature's own, ``policy``, ``file`` and ``x-ignore-*`` fields;
the bucket counts as a field. A malformed document is InvalidPolicyDocument (400); a
document that does not allow the upload is AccessDenied (403), as on S3.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime, timezone

from gateway import errors

# Fields a policy need not name: the signature and the policy itself, the file.
EXEMPT_FIELDS = frozenset({"policy", "x-amz-signature", "signature", "awsaccesskeyid",
                           "file"})
IGNORED_PREFIX = "x-ignore-"


@dataclass(frozen=True)
class Condition:
    operator: str                  # "eq" | "starts-with" | "content-length-range"
    field: str                     # lowercase, without "$" ("" for content-length-range)
    value: str = ""
    low: int = 0
    high: int = 0

    def shown(self) -> str:
        if self.operator == "content-length-range":
            return f'["content-length-range", {self.low}, {self.high}]'
        return json.dumps([self.operator, "$" + self.field, self.value])


@dataclass(frozen=True)
class PostPolicy:
    expiration: float              # epoch seconds
    conditions: tuple[Condition, ...]

    def size_range(self) -> tuple[int, int] | None:
        """The allowed file size (inclusive), when the policy bounds it."""
        ranges = [c for c in self.conditions if c.operator == "content-length-range"]
        if not ranges:
            return None
        return max(c.low for c in ranges), min(c.high for c in ranges)

    def check_fields(self, fields: dict[str, str], now: float) -> None:
        """AccessDenied unless the policy is in force and allows exactly these fields
        (names lowercase; ``bucket`` and ``key`` included, the key with ``${filename}``
        already replaced)."""
        if now > self.expiration:
            raise errors.AccessDenied("Invalid according to Policy: Policy expired.")
        for condition in self.conditions:
            if condition.operator == "content-length-range":
                continue
            value = fields.get(condition.field, "")
            ok = (value == condition.value if condition.operator == "eq"
                  else value.startswith(condition.value))
            if not ok:
                raise errors.AccessDenied(
                    f"Invalid according to Policy: Policy Condition failed: {condition.shown()}")
        named = {c.field for c in self.conditions}
        extra = sorted(name for name in fields
                       if name not in named and name not in EXEMPT_FIELDS
                       and not name.startswith(IGNORED_PREFIX))
        if extra:
            raise errors.AccessDenied(
                f"Invalid according to Policy: Extra input fields: {', '.join(extra)}")


def decode(policy_b64: str) -> PostPolicy:
    """The policy a form's ``policy`` field carries; InvalidPolicyDocument when it is
    not base64 JSON of S3's form."""
    try:
        document = json.loads(base64.b64decode(policy_b64.encode("ascii"), validate=True))
    except (binascii.Error, ValueError, UnicodeError):
        raise errors.InvalidPolicyDocument(
            "Invalid Policy: Invalid JSON (the policy must be base64-encoded JSON).") from None
    if not isinstance(document, dict):
        raise errors.InvalidPolicyDocument("Invalid Policy: the policy must be a JSON object.")
    if "expiration" not in document:
        raise errors.InvalidPolicyDocument("Invalid Policy: Policy missing expiration.")
    if not isinstance(document.get("conditions"), list):
        raise errors.InvalidPolicyDocument("Invalid Policy: Policy missing conditions.")
    return PostPolicy(_expiration(document["expiration"]),
                      tuple(_condition(c) for c in document["conditions"]))


def _expiration(value) -> float:
    if isinstance(value, str):
        for form in ("%Y-%m-%dT%H:%M:%S.%fZ", "%Y-%m-%dT%H:%M:%SZ"):
            try:
                return datetime.strptime(value, form).replace(tzinfo=timezone.utc).timestamp()
            except ValueError:
                continue
    raise errors.InvalidPolicyDocument(
        f"Invalid Policy: Invalid 'expiration' value: '{str(value)[:64]}' "
        "(expected ISO 8601 UTC, e.g. 2026-12-01T12:00:00.000Z).")


def _condition(item) -> Condition:
    if isinstance(item, dict):
        if len(item) != 1:
            raise errors.InvalidPolicyDocument(
                "Invalid Policy: Invalid Simple-Condition: Simple-Conditions must have "
                "exactly one property specified.")
        (field, value), = item.items()
        if not isinstance(value, str):
            raise errors.InvalidPolicyDocument(
                f"Invalid Policy: Invalid Simple-Condition: the value of '{field}' must be a string.")
        return Condition("eq", field.lower().lstrip("$"), value)
    if not isinstance(item, list) or not item or not isinstance(item[0], str):
        raise errors.InvalidPolicyDocument("Invalid Policy: Invalid condition: " + json.dumps(item)[:128])
    operator = item[0].lower()
    if operator == "content-length-range":
        if (len(item) != 3 or not all(isinstance(n, int) and not isinstance(n, bool)
                                      for n in item[1:]) or item[1] < 0 or item[2] < item[1]):
            raise errors.InvalidPolicyDocument(
                "Invalid Policy: Invalid content-length-range: expected "
                '["content-length-range", min, max] with 0 <= min <= max.')
        return Condition(operator, "", low=item[1], high=item[2])
    if operator not in ("eq", "starts-with") or len(item) != 3 \
            or not isinstance(item[1], str) or not item[1].startswith("$") \
            or not isinstance(item[2], str):
        raise errors.InvalidPolicyDocument(
            "Invalid Policy: Invalid condition: " + json.dumps(item)[:128])
    return Condition(operator, item[1][1:].lower(), item[2])
