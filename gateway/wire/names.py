"""S3's rules for bucket names and object keys, as every S3 service applies them.

Used wherever a name enters provgate: the S3 door (each request target), the config
(``policies.quarantine_bucket``) and the gatekeeper (a quarantined key must itself fit
in a key).
"""

from __future__ import annotations

import re

from gateway import errors

MAX_KEY_BYTES = 1024                 # UTF-8 bytes of a whole key
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_IP_RE = re.compile(r"^\d+\.\d+\.\d+\.\d+$")


def validate_bucket_name(bucket: str) -> None:
    """S3's bucket naming rules (general purpose buckets); ``InvalidBucketName`` if not."""
    if (not _BUCKET_RE.match(bucket) or ".." in bucket or ".-" in bucket or "-." in bucket
            or _IP_RE.match(bucket) or bucket.startswith("xn--") or bucket.endswith("-s3alias")):
        raise errors.InvalidBucketName(resource=f"/{bucket}", BucketName=bucket)


def validate_key(key: str) -> None:
    """At most ``MAX_KEY_BYTES`` of UTF-8 (``KeyTooLongError``) and no NUL character
    (``InvalidArgument``)."""
    size = len(key.encode("utf-8", "surrogatepass"))
    if size > MAX_KEY_BYTES:
        raise errors.KeyTooLongError(Size=str(size),
                                     MaxSizeAllowed=str(MAX_KEY_BYTES))
    if "\x00" in key:
        raise errors.InvalidArgument("Object keys may not contain the NUL character",
                                     ArgumentName="key")
