"""Who sees the quarantine bucket, where intake keeps writes a policy quarantined.

For readers and writers it does not exist (404 NoSuchBucket, absent from ListBuckets), so
a quarantined object is invisible to them under any name. Reviewers and admins read it
through S3 like any bucket (``<quarantine bucket>/<bucket>/<key>``) and may delete from
it (discard); nobody writes into it but intake.
"""

from __future__ import annotations

from gateway import errors
from gateway.identities import Identity
from gateway.s3.routing import S3Target

QUARANTINE_ROLE = "reviewer"
_DISCARD_OPERATIONS = {"DeleteObject", "DeleteObjects"}


def quarantine_hidden(identity: Identity, bucket: str, quarantine_bucket: str) -> bool:
    """True when ``bucket`` is the quarantine bucket and ``identity`` may not see it."""
    return bool(quarantine_bucket) and bucket == quarantine_bucket and not identity.has_role(
        QUARANTINE_ROLE)


def check_quarantine_read(identity: Identity, bucket: str, quarantine_bucket: str) -> None:
    """The one rule for every read of stored data, whichever path it takes: GET, HEAD,
    listings, tags, the source of CopyObject and UploadPartCopy (and their
    ``x-amz-copy-source-if-*`` conditions, evaluated only after this passed).

    ``bucket`` is the bucket read; ``quarantine_bucket`` the configured quarantine
    bucket ("" when none). For an identity below the reviewer role the quarantine
    bucket does not exist: NoSuchBucket, whether or not the key exists, so no answer
    tells a non-reviewer what is kept there.
    """
    if quarantine_hidden(identity, bucket, quarantine_bucket):
        raise errors.NoSuchBucket(resource=f"/{bucket}", BucketName=bucket)


def check_quarantine_access(identity: Identity, target: S3Target,
                            read_operations: set[str]) -> None:
    """A request addressed to the quarantine bucket itself (``target.bucket``)."""
    if target.operation == "CreateBucket":   # the name is taken, whoever asks
        raise errors.BucketAlreadyExists(resource=f"/{target.bucket}", BucketName=target.bucket)
    check_quarantine_read(identity, target.bucket, target.bucket)
    if target.operation not in read_operations | _DISCARD_OPERATIONS:
        raise errors.AccessDenied(
            f"The quarantine bucket is written only by policy intake; {target.operation} "
            "is not allowed there", resource=f"/{target.bucket}")
