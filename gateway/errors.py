"""Typed errors, and the one place they map to S3 error codes and HTTP statuses.

Every layer (S3 protocol, intake, storage backends, policy) raises these; only
``gateway.s3`` turns them into an S3 ``<Error>`` document.  A new failure mode gets a
subclass here, never an ad-hoc status code somewhere else.
"""

from __future__ import annotations

import errno
import os


class GatewayError(Exception):
    """Base class: ``code`` is the S3 error code, ``status`` the HTTP status."""

    code = "InternalError"
    status = 500
    default_message = "We encountered an internal error. Please try again."

    def __init__(self, message: str | None = None, *, resource: str | None = None,
                 headers: dict[str, str] | None = None, **fields: str) -> None:
        self.message = message or self.default_message
        self.resource = resource
        # Extra response headers (e.g. x-provgate-policy) and extra XML fields
        # (e.g. <BucketName>, <Key>, <ArgumentName>) that S3 clients read.
        self.headers = dict(headers or {})
        self.fields = fields
        super().__init__(self.message)


def _error(name: str, status: int, message: str) -> type[GatewayError]:
    return type(name, (GatewayError,), {"code": name, "status": status,
                                        "default_message": message, "__module__": __name__})


# --- 400 --------------------------------------------------------------------------
BadDigest = _error("BadDigest", 400, "The Content-MD5 or checksum you specified did not match what we received.")
EntityTooSmall = _error("EntityTooSmall", 400, "Your proposed upload is smaller than the minimum allowed object size.")
EntityTooLarge = _error("EntityTooLarge", 400, "Your proposed upload exceeds the maximum allowed object size.")
IncompleteBody = _error("IncompleteBody", 400, "You did not provide the number of bytes specified by the Content-Length HTTP header.")
InvalidArgument = _error("InvalidArgument", 400, "Invalid Argument")
InvalidBucketName = _error("InvalidBucketName", 400, "The specified bucket is not valid.")
InvalidDigest = _error("InvalidDigest", 400, "The Content-MD5 you specified is not valid.")
InvalidPart = _error("InvalidPart", 400, "One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not match the part's entity tag.")
InvalidPartOrder = _error("InvalidPartOrder", 400, "The list of parts was not in ascending order. Parts must be ordered by part number.")
InvalidRequest = _error("InvalidRequest", 400, "Invalid Request")
InvalidTag = _error("InvalidTag", 400, "The TagValue you have provided is invalid")
KeyTooLongError = _error("KeyTooLongError", 400, "Your key is too long.")
IllegalVersioningConfigurationException = _error("IllegalVersioningConfigurationException", 400, "The Versioning element must be specified")
MalformedXML = _error("MalformedXML", 400, "The XML you provided was not well-formed or did not validate against our published schema.")
MetadataTooLarge = _error("MetadataTooLarge", 400, "Your metadata headers exceed the maximum allowed metadata size.")
AuthorizationHeaderMalformed = _error("AuthorizationHeaderMalformed", 400, "The authorization header is malformed.")
AuthorizationQueryParametersError = _error("AuthorizationQueryParametersError", 400, "Error parsing the X-Amz-Credential parameter.")
XAmzContentSHA256Mismatch = _error("XAmzContentSHA256Mismatch", 400, "The provided 'x-amz-content-sha256' header does not match what was computed.")
InvalidChunkSizeError = _error("InvalidChunkSizeError", 400, "Only the last chunk is allowed to have a size less than 8192 bytes")
InvalidEncryptionAlgorithmError = _error("InvalidEncryptionAlgorithmError", 400, "The encryption request you specified is not valid.")
RequestHeaderSectionTooLarge = _error("RequestHeaderSectionTooLarge", 400, "Your request header section exceeds the maximum allowed size.")
InvalidURI = _error("InvalidURI", 400, "Couldn't parse the specified URI.")
InvalidPolicyDocument = _error("InvalidPolicyDocument", 400, "The content of the form does not meet the conditions specified in the policy document.")
MalformedPOSTRequest = _error("MalformedPOSTRequest", 400, "The body of your POST request is not well-formed multipart/form-data.")
IncorrectNumberOfFilesInPostRequest = _error("IncorrectNumberOfFilesInPostRequest", 400, "POST requires exactly one file upload per request.")
MaxPostPreDataLengthExceeded = _error("MaxPostPreDataLengthExceeded", 400, "Your POST request fields preceding the upload file were too large.")
CORSPreflightMalformed = type("CORSPreflightMalformed", (GatewayError,), {
    "code": "BadRequest", "status": 400, "__module__": __name__,
    "default_message": "Insufficient information. Origin request header needed."})
NoSuchUpload = _error("NoSuchUpload", 404, "The specified multipart upload does not exist. The upload ID might be invalid, or the multipart upload might have been aborted or completed.")
RequestTimeout = _error("RequestTimeout", 400, "Your socket connection to the server was not read from or written to within the timeout period.")
# --- 401 (admin listener only: S3 answers unauthenticated requests with 403) ---------
Unauthorized = _error("Unauthorized", 401, "Authentication required: HTTP Basic (access key : secret) or a SigV4 signature.")
# --- 403 --------------------------------------------------------------------------
AccessDenied = _error("AccessDenied", 403, "Access Denied")
InvalidAccessKeyId = _error("InvalidAccessKeyId", 403, "The AWS Access Key Id you provided does not exist in our records.")
SignatureDoesNotMatch = _error("SignatureDoesNotMatch", 403, "The request signature we calculated does not match the signature you provided. Check your key and signing method.")
# S3 refuses X-Amz-Expires outside 1..604800 with this code and 403, unlike the other
# malformed query authentication (400).
PresignedExpiryOutOfRange = type("PresignedExpiryOutOfRange", (AuthorizationQueryParametersError,), {
    "status": 403, "__module__": __name__,
    "default_message": "X-Amz-Expires must be less than a week (in seconds) that is 604800"})
# A CORS preflight no rule allows (S3's code is AccessForbidden, not AccessDenied).
CORSForbidden = _error("AccessForbidden", 403, "CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's CORS spec.")
RequestTimeTooSkewed = _error("RequestTimeTooSkewed", 403, "The difference between the request time and the server's time is too large.")
# --- 404 --------------------------------------------------------------------------
NoSuchBucket = _error("NoSuchBucket", 404, "The specified bucket does not exist")
NoSuchKey = _error("NoSuchKey", 404, "The specified key does not exist.")
NoSuchVersion = _error("NoSuchVersion", 404, "The specified version does not exist.")
NoSuchCORSConfiguration = _error("NoSuchCORSConfiguration", 404, "The CORS configuration does not exist")
NoSuchTagSet = _error("NoSuchTagSet", 404, "The TagSet does not exist")
NoSuchReviewItem = _error("NoSuchReviewItem", 404, "The comment or review item does not exist.")
# Admin API only: the object exists, but no thumbnail is made of its type (audio, PDF, ...).
NoThumbnail = _error("NoThumbnail", 404, "No thumbnail is made of this object.")
# --- 405 / 409 / 411 / 412 / 415 / 416 -------------------------------------------
MethodNotAllowed = _error("MethodNotAllowed", 405, "The specified method is not allowed against this resource.")
BucketAlreadyOwnedByYou = _error("BucketAlreadyOwnedByYou", 409, "Your previous request to create the named bucket succeeded and you already own it.")
BucketAlreadyExists = _error("BucketAlreadyExists", 409, "The requested bucket name is not available.")
BucketNotEmpty = _error("BucketNotEmpty", 409, "The bucket you tried to delete is not empty")
InvalidBucketState = _error("InvalidBucketState", 409, "The request is not valid with the current state of the bucket.")
ConditionalRequestConflict = _error("ConditionalRequestConflict", 409, "A conflicting operation occurred.")
MissingContentLength = _error("MissingContentLength", 411, "You must provide the Content-Length HTTP header.")
PreconditionFailed = _error("PreconditionFailed", 412, "At least one of the pre-conditions you specified did not hold")
# Admin API only: the object's bytes cannot be decoded as the type it claims (thumbnails).
UnsupportedMediaType = _error("UnsupportedMediaType", 415, "The object's bytes cannot be read as the media type it claims.")
InvalidRange = _error("InvalidRange", 416, "The requested range is not satisfiable")
InvalidPartNumber = _error("InvalidPartNumber", 416, "The requested partnumber is not satisfiable")
# --- 5xx --------------------------------------------------------------------------
InternalError = GatewayError
NotImplementedOperation = _error("NotImplemented", 501, "A header or query you provided requested a function that is not implemented.")
ServiceUnavailable = _error("ServiceUnavailable", 503, "Service is unable to handle request.")
SlowDown = _error("SlowDown", 503, "Please reduce your request rate.")
# 507 Insufficient Storage, as MinIO's XMinioStorageFull: a full disk is the operator's
# to fix, and the client's write was not stored (retrying later may succeed).
StorageFull = _error("XProvgateStorageFull", 507, "The gateway's storage is full; nothing of this write was stored. Try again once space is freed.")

_NO_SPACE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
_NO_SPACE_TEXTS = tuple(os.strerror(n) for n in sorted(_NO_SPACE_ERRNOS))


def is_storage_full(exc: BaseException | None) -> bool:
    """True when ``exc`` (or what caused it) is the disk running out of space: an
    ``OSError`` with ENOSPC/EDQUOT, or a library error (LMDB) that reports one by text."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in _NO_SPACE_ERRNOS:
            return True
        if not isinstance(exc, GatewayError) and any(t in str(exc) for t in _NO_SPACE_TEXTS):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


class AnswerLost(ServiceUnavailable):
    """The storage backend's connection was cut after a request went out and before its
    answer came: the request may or may not have taken effect, so a caller that must not
    repeat a write looks before it sends again. Clients see ServiceUnavailable."""


class NotModified(GatewayError):
    """Conditional GET/HEAD answered 304: no body, no error document."""

    code = "NotModified"
    status = 304
    default_message = "Not Modified"


class PolicyDenied(GatewayError):
    """A policy rule denied the write; S3 sees AccessDenied naming the rule."""

    code = "AccessDenied"
    status = 403

    def __init__(self, rule_id: str, message: str, subject: str = "object") -> None:
        # x-provgate-policy-subject: "provenance" when the rule checks the record (the
        # writer can add what is missing), "object" when it checks the bytes, type or name.
        super().__init__(f"Denied by policy rule '{rule_id}': {message}",
                         headers={"x-provgate-policy": rule_id,
                                  "x-provgate-policy-subject": subject})
        self.rule_id = rule_id
        self.rule_message = message
