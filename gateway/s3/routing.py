"""From an HTTP request to an S3 operation: bucket, key and operation name.

Path style (``/bucket/key``) always works; virtual-host style (``bucket.<domain>``)
when ``[server] domain`` is set. The key is taken from the raw, undecoded path and
decoded once, as S3 does: ``%XX`` escapes become bytes and ``+`` becomes a space (AWS
treats ``+`` in a path as an encoded space; every SDK sends a literal plus as ``%2B``).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote_to_bytes

from gateway import errors
from gateway.storage.base import RECORD_SUFFIX
from gateway.wire.names import MAX_KEY_BYTES, validate_bucket_name, validate_key

# What may be done to the record served at ``<key>.xmp`` (read, edit, refused deletion).
RECORD_OPERATIONS = ("GetObject", "HeadObject", "PutObject", "DeleteObject")

# Sub-resources that select an operation. Any other sub-resource names an S3 feature
# provgate does not offer, answered 501 NotImplemented rather than mistaken for a GET.
_OPERATION_SUBRESOURCES = {"location", "uploads", "uploadId", "delete", "tagging",
                           "list-type", "partNumber", "versioning", "versions", "versionId",
                           "attributes", "cors", "acl"}
_UNSUPPORTED_SUBRESOURCES = {
    "policy", "policyStatus", "lifecycle", "website", "logging", "notification",
    "replication", "encryption", "object-lock", "legal-hold", "retention", "accelerate",
    "requestPayment", "analytics", "inventory", "metrics", "intelligent-tiering",
    "ownershipControls", "publicAccessBlock", "restore", "select", "torrent",
    "renameObject", "session", "metadataTable", "abac",
}


@dataclass
class S3Target:
    bucket: str
    key: str
    query: dict[str, str]
    operation: str


def _decode_path_segment(raw: str) -> str:
    try:
        return unquote_to_bytes(raw.replace("+", " ")).decode("utf-8")
    except UnicodeDecodeError:
        raise errors.InvalidURI("Object keys must be valid UTF-8") from None


def parse_target(method: str, raw_path: str, host: str, domain: str) -> S3Target:
    path, _, raw_query = raw_path.partition("?")
    query = dict(parse_qsl(raw_query, keep_blank_values=True))
    bucket = ""
    host = host.rsplit(":", 1)[0].lower() if host and not host.startswith("[") else host
    if domain and host and host.endswith("." + domain.lower()):
        bucket = host[: -len(domain) - 1]
        key_part = path[1:]
    else:
        bucket_part, _, key_part = path[1:].partition("/")
        bucket = _decode_path_segment(bucket_part)
    key = _decode_path_segment(key_part) if key_part else ""
    if bucket:
        validate_bucket_name(bucket)
    operation = _operation(method, bucket, key, query)
    size = len(key.encode("utf-8", "surrogatepass"))
    if (MAX_KEY_BYTES < size <= MAX_KEY_BYTES + len(RECORD_SUFFIX)
            and key.endswith(RECORD_SUFFIX) and operation in RECORD_OPERATIONS):
        # The record of a key of the full 1024 bytes is served at a longer name: such a
        # name may be read, edited (PUT) or refused deletion, and is never an object.
        validate_key(key[: -len(RECORD_SUFFIX)])
    else:
        validate_key(key)
    return S3Target(bucket, key, query, operation)


def _operation(method: str, bucket: str, key: str, query: dict[str, str]) -> str:
    unsupported = _UNSUPPORTED_SUBRESOURCES.intersection(query)
    if unsupported:
        raise errors.NotImplementedOperation(
            f"provgate does not implement the '{sorted(unsupported)[0]}' sub-resource")
    q = query.keys() & _OPERATION_SUBRESOURCES
    if method == "OPTIONS":
        # A CORS preflight names a resource; what it may do there is the rules' answer.
        if not bucket:
            raise errors.MethodNotAllowed()
        return "PreflightRequest"
    if "acl" in q and method != "GET":
        raise errors.NotImplementedOperation("provgate keeps no ACLs: access is decided by "
                                             "identities' roles and bucket scopes")
    if not bucket:
        if method == "GET":
            return "ListBuckets"
        raise errors.MethodNotAllowed()
    if not key:
        table = {
            ("GET", "acl"): "GetBucketAcl",
            ("GET", "cors"): "GetBucketCors",
            ("PUT", "cors"): "PutBucketCors",
            ("DELETE", "cors"): "DeleteBucketCors",
            ("GET", "location"): "GetBucketLocation",
            ("GET", "uploads"): "ListMultipartUploads",
            ("GET", "versioning"): "GetBucketVersioning",
            ("GET", "versions"): "ListObjectVersions",
            ("PUT", "versioning"): "PutBucketVersioning",
            ("POST", "delete"): "DeleteObjects",
        }
        for sub in q:
            if (method, sub) in table:
                return table[(method, sub)]
        if q - {"list-type"}:
            raise errors.NotImplementedOperation(f"{method} with ?{sorted(q)[0]} is not implemented")
        plain = {"GET": "ListObjectsV2" if query.get("list-type") == "2" else "ListObjects",
                 "PUT": "CreateBucket", "HEAD": "HeadBucket", "DELETE": "DeleteBucket",
                 "POST": "PostObject"}
        if method in plain:
            return plain[method]
        raise errors.MethodNotAllowed()
    if "acl" in q:
        ops = {"GET": "GetObjectAcl"}
    elif "tagging" in q:
        ops = {"GET": "GetObjectTagging", "PUT": "PutObjectTagging", "DELETE": "DeleteObjectTagging"}
    elif "attributes" in q:
        ops = {"GET": "GetObjectAttributes"}
    elif "uploads" in q:
        ops = {"POST": "CreateMultipartUpload"}
    elif "uploadId" in q:
        ops = {"PUT": "UploadPart", "GET": "ListParts", "POST": "CompleteMultipartUpload",
               "DELETE": "AbortMultipartUpload"}
    else:
        ops = {"GET": "GetObject", "HEAD": "HeadObject", "PUT": "PutObject",
               "DELETE": "DeleteObject"}
    if method not in ops:
        raise errors.MethodNotAllowed()
    return ops[method]
