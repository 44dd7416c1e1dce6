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


def check_quarantine_access(identity: Identity, target: S3Target,
                            read_operations: set[str]) -> None:
    if target.operation == "CreateBucket":   # the name is taken, whoever asks
        raise errors.BucketAlreadyExists(resource=f"/{target.bucket}", BucketName=target.bucket)
    if not identity.has_role(QUARANTINE_ROLE):
        raise errors.NoSuchBucket(resource=f"/{target.bucket}", BucketName=target.bucket)
    if target.operation not in read_operations | _DISCARD_OPERATIONS:
        raise errors.AccessDenied(
            f"The quarantine bucket is written only by policy intake; {target.operation} "
            "is not allowed there", resource=f"/{target.bucket}")
