"""Who sent this request: SigV4 (header or presigned query) and SigV2 (header or query).

:meth:`Authenticator.authenticate` reads only the request line and headers, so it can
run in an aiohttp ``expect_handler`` before ``100 Continue`` is sent; the body is
checked later by :class:`~gateway.s3.auth.body.VerifiedBody`.
"""

from __future__ import annotations

import hmac
import re
import time
from dataclasses import dataclass, field
from typing import Callable, Mapping
from urllib.parse import unquote

from aiohttp import web

from gateway import errors
from gateway.identities import Identity, IdentityStore

from gateway.wire import sigv2, sigv4
from .body import UNREAD_PAYLOAD, PayloadSpec, parse_payload
from .chunked import ChunkSigner

MAX_PRESIGNED_EXPIRES = 7 * 24 * 3600
_V4_QUERY_PARAMS = ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature", "X-Amz-Date",
                    "X-Amz-SignedHeaders", "X-Amz-Expires")
_V2_QUERY_PARAMS = ("AWSAccessKeyId", "Signature", "Expires")
_HEX64 = re.compile(r"[0-9a-fA-F]{64}")
_INTEGER = re.compile(r"-?[0-9]{1,18}")
_FIELD_SEPARATOR = re.compile(r"\s*,\s*")     # between the Authorization header's fields
_NO_DATE = "AWS authentication requires a valid Date or x-amz-date header"
# Header families a signature must cover when present: S3 refuses unsigned x-amz-*
# headers, and x-provgate-* headers steer intake (the door) just as much.
_MUST_SIGN_PREFIXES = ("x-amz-", "x-provgate-")
# Bound by the signature even when not listed: the payload hash is a line of the
# canonical request (header-signed) or checked against the body (presigned).
_SIGNED_BY_PAYLOAD = frozenset({"x-amz-content-sha256"})
HEADERS_NOT_SIGNED = "There were headers present in the request which were not signed"


@dataclass(frozen=True)
class AuthContext:
    """The outcome of authenticating one request.

    ``scheme`` is ``"sigv4"``, ``"sigv4-presigned"``, ``"sigv2"`` or ``"sigv2-presigned"``.
    ``signed_headers`` names (lowercase) the headers the signature covers.
    ``plus_means_space`` is set when the signature only matched with a raw ``+`` in the
    path read as a space (s3cmd): the router should decode the key the same way.
    ``payload`` tells :func:`~gateway.s3.auth.verified_body` how to decode and check
    the body.
    """

    identity: Identity
    scheme: str
    signed_headers: frozenset[str]
    payload: PayloadSpec = field(repr=False)
    plus_means_space: bool = False


def _query_params(raw_query: str) -> dict[str, list[str]]:
    params: dict[str, list[str]] = {}
    for part in raw_query.split("&"):
        if part:
            name, _, value = part.partition("=")
            # Plain unquote: a raw '+' in a signature or credential is a literal '+'.
            params.setdefault(unquote(name), []).append(unquote(value))
    return params


def unsigned_headers(names, signed: frozenset[str] | set[str]) -> list[str]:
    """The request header ``names`` that must be signed and are not, lowercase, sorted.

    A signature covers only what it lists, so any ``x-amz-*`` / ``x-provgate-*`` header
    outside that list could have been added by whoever holds the request (a presigned
    URL, a replayed request), and ``host`` must always be listed (S3 alike).
    """
    missing = {name.lower() for name in names
               if name.lower().startswith(_MUST_SIGN_PREFIXES)} - _SIGNED_BY_PAYLOAD
    if "host" not in signed:
        missing.add("host")
    return sorted(missing - set(signed))


def refuse_unsigned(names, signed: frozenset[str] | set[str]) -> None:
    """Raise S3's ``403 AccessDenied`` with ``<HeadersNotSigned>`` (comma-separated, as
    S3 lists them) when :func:`unsigned_headers` finds any."""
    missing = unsigned_headers(names, signed)
    if missing:
        raise errors.AccessDenied(HEADERS_NOT_SIGNED, HeadersNotSigned=", ".join(missing))


def _require_field(fields: Mapping[str, str], name: str) -> None:
    if not fields.get(name):
        shown = {"awsaccesskeyid": "AWSAccessKeyId", "signature": "Signature",
                 "policy": "Policy"}.get(name, name)
        raise errors.InvalidArgument(f"Bucket POST must contain a field named '{shown}'.  "
                                     "If it is specified, please check the order of the "
                                     "fields.", ArgumentName=shown, ArgumentValue="")


def _has_body(request: web.BaseRequest) -> bool:
    """Whether the request declares a body (a length above 0, or chunked transfer)."""
    if "chunked" in request.headers.get("Transfer-Encoding", "").lower():
        return True
    return bool(request.content_length)


def _valid_content_sha256(value: str) -> bool:
    return (value == sigv4.UNSIGNED_PAYLOAD or value in sigv4.STREAMING_MODES
            or _HEX64.fullmatch(value) is not None)


class Authenticator:
    """Verifies request signatures against an :class:`IdentityStore`.

    ``region``: the region SigV4 credential scopes must name (None accepts any).
    ``clock``: epoch-seconds source.  ``max_skew_seconds``: allowed request-time drift.
    ``domain``: the virtual-host base domain (``[server] domain``); SigV2 signs the
    bucket of ``bucket.domain`` requests into the resource.  ``trust_forwarded_host``:
    verify against ``X-Forwarded-Host`` (set only behind a trusted reverse proxy).
    """

    def __init__(self, identities: IdentityStore, region: str | None = "us-east-1",
                 clock: Callable[[], float] = time.time, max_skew_seconds: float = 900, *,
                 domain: str | None = None, trust_forwarded_host: bool = False) -> None:
        self.identities = identities
        self.region = region
        self.clock = clock
        self.max_skew_seconds = max_skew_seconds
        self.domain = domain.lower().strip(".") if domain else None
        self.trust_forwarded_host = trust_forwarded_host

    def authenticate(self, request: web.BaseRequest) -> AuthContext:
        """Authenticate from the request line and headers only (never reads the body).

        Raises the S3 error to answer: AccessDenied (anonymous, expired presigned URL),
        InvalidAccessKeyId, SignatureDoesNotMatch, RequestTimeTooSkewed,
        AuthorizationHeaderMalformed, AuthorizationQueryParametersError, and
        InvalidArgument/InvalidRequest/InvalidDigest for malformed body headers.
        """
        raw_path, raw_query = sigv4.split_target(request.raw_path)
        params = _query_params(raw_query)
        authorization = request.headers.getall("Authorization", [])
        v4_query = any(p in params for p in ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature"))
        v2_query = "AWSAccessKeyId" in params or ("Signature" in params and "Expires" in params)
        if len(authorization) > 1:
            raise errors.InvalidArgument("Only one Authorization header is allowed.")
        if authorization and (v4_query or v2_query) or (v4_query and v2_query):
            raise errors.InvalidArgument(
                "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, "
                "Signature query string parameter or the Authorization header should be specified")
        if authorization:
            value = authorization[0].strip()
            if value.startswith(sigv4.ALGORITHM + " "):
                return self._sigv4_header(request, value, raw_path, raw_query)
            if value.startswith("AWS "):
                return self._sigv2(request, raw_path, raw_query, params, header=value)
            raise errors.InvalidArgument("Unsupported Authorization Type")
        if v4_query:
            return self._sigv4_query(request, raw_path, raw_query, params)
        if v2_query:
            return self._sigv2(request, raw_path, raw_query, params, header=None)
        raise errors.AccessDenied("Anonymous access is not allowed; sign the request.")

    # --- helpers ------------------------------------------------------------------

    def _identity(self, access_key: str) -> Identity:
        identity = self.identities.lookup(access_key)
        if identity is None:
            raise errors.InvalidAccessKeyId(AWSAccessKeyId=access_key)
        return identity

    def _header_values(self, request: web.BaseRequest, name: str) -> list[str]:
        if name == "host" and self.trust_forwarded_host:
            forwarded = request.headers.get("X-Forwarded-Host")
            if forwarded:
                return [forwarded.split(",")[0].strip()]
        return request.headers.getall(name, [])

    def _check_skew(self, request_time: float, shown: str) -> None:
        now = self.clock()
        if abs(now - request_time) > self.max_skew_seconds:
            raise errors.RequestTimeTooSkewed(
                RequestTime=shown, ServerTime=sigv4.format_timestamp(now),
                MaxAllowedSkewMilliseconds=str(int(self.max_skew_seconds * 1000)))

    def _check_scope(self, credential: sigv4.Credential, timestamp: str, error) -> None:
        if credential.date != timestamp[:8]:
            raise error("Invalid credential date. Date is not the same as X-Amz-Date.")
        if self.region is not None and credential.region != self.region:
            raise error(f"The region '{credential.region}' is wrong; expecting '{self.region}'",
                        Region=self.region)
        if credential.service != "s3":
            raise error(f"The service '{credential.service}' is wrong; expecting 's3'")

    def _verify_sigv4(self, request: web.BaseRequest, identity: Identity,
                      credential: sigv4.Credential, timestamp: str, signed_names: list[str],
                      provided: str, payload_hash: str, raw_path: str, raw_query: str,
                      exclude: tuple[str, ...] = ()) -> tuple[bytes, str, bool]:
        """Returns (signing key, signature, plus_means_space) or raises SignatureDoesNotMatch."""
        key = sigv4.signing_key(identity.secret, credential.date, credential.region,
                                credential.service)
        headers_block = sigv4.canonical_headers(
            lambda name: self._header_values(request, name), signed_names)
        signed = ";".join(signed_names)
        provided_bytes = provided.lower().encode("ascii", "replace")
        matched = None
        for uri, plus_means_space in sigv4.canonical_uri_variants(raw_path):
            for query in sigv4.canonical_query_variants(raw_query, exclude):
                canonical = sigv4.canonical_request(request.method, uri, query, headers_block,
                                                    signed, payload_hash)
                computed = sigv4.signature(key, sigv4.string_to_sign(timestamp, credential.scope,
                                                                     canonical))
                if hmac.compare_digest(computed.encode("ascii"), provided_bytes) and matched is None:
                    matched = (computed, plus_means_space)
        if matched is None:
            raise errors.SignatureDoesNotMatch(AWSAccessKeyId=credential.access_key)
        return key, matched[0], matched[1]

    def _body_sha256(self, request: web.BaseRequest, value: str | None) -> str | None:
        if value is None:
            value = request.headers.get("x-amz-content-sha256")
        if value is not None and not _valid_content_sha256(value.strip()):
            raise errors.InvalidArgument(
                "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, "
                "STREAMING-AWS4-HMAC-SHA256-PAYLOAD(-TRAILER), or a valid sha256 value.")
        return value.strip() if value is not None else None

    # --- SigV4, Authorization header -----------------------------------------------

    def _sigv4_header(self, request: web.BaseRequest, value: str, raw_path: str,
                      raw_query: str) -> AuthContext:
        fields: dict[str, str] = {}
        for part in _FIELD_SEPARATOR.split(value[len(sigv4.ALGORITHM):].strip()):
            name, sep, field_value = part.partition("=")
            if sep:
                fields[name.strip()] = field_value.strip()
        missing = [n for n in ("Credential", "SignedHeaders", "Signature") if not fields.get(n)]
        if missing:
            raise errors.AuthorizationHeaderMalformed(
                f"The authorization header is malformed; missing {missing[0]}.")
        credential = sigv4.parse_credential(fields["Credential"])
        if credential is None:
            raise errors.AuthorizationHeaderMalformed(
                "The authorization header is malformed; the Credential is mal-formed; expecting "
                '"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".')
        identity = self._identity(credential.access_key)

        amz_date = request.headers.get("x-amz-date")
        if amz_date is not None:
            request_time = sigv4.parse_timestamp(amz_date)
            timestamp = amz_date.strip()
        else:
            date = request.headers.get("Date")
            request_time = sigv4.parse_http_date(date) if date else None
            timestamp = sigv4.format_timestamp(request_time) if request_time is not None else ""
        if request_time is None:
            raise errors.AccessDenied(_NO_DATE)
        self._check_scope(credential, timestamp, errors.AuthorizationHeaderMalformed)
        self._check_skew(request_time, timestamp)

        content_sha256 = self._body_sha256(request, None)
        if content_sha256 is None and _has_body(request):
            # S3 answers this; without it a body-carrying request would fail as a signature
            # mismatch, which sends users looking at their keys (curl --aws-sigv4 omits it).
            raise errors.InvalidRequest(
                "Missing required header for this request: x-amz-content-sha256 "
                "(the hex SHA-256 of the body, or UNSIGNED-PAYLOAD; with curl: "
                "-H 'x-amz-content-sha256: UNSIGNED-PAYLOAD')")
        # S3 requires the header; tolerate signers that omit it on empty-body requests.
        payload_hash = content_sha256 if content_sha256 is not None else sigv4.EMPTY_SHA256
        signed_names = [n.strip().lower() for n in fields["SignedHeaders"].split(";") if n.strip()]
        key, seed, plus_means_space = self._verify_sigv4(
            request, identity, credential, timestamp, signed_names, fields["Signature"],
            payload_hash, raw_path, raw_query)
        refuse_unsigned(request.headers.keys(), set(signed_names))
        signer = None
        if payload_hash in (sigv4.STREAMING_SIGNED, sigv4.STREAMING_SIGNED_TRAILER):
            signer = ChunkSigner(key, timestamp, credential.scope, seed)
        return AuthContext(identity, "sigv4", frozenset(signed_names),
                           parse_payload(request, payload_hash, signer), plus_means_space)

    # --- SigV4, presigned query ----------------------------------------------------

    def _sigv4_query(self, request: web.BaseRequest, raw_path: str, raw_query: str,
                     params: dict[str, list[str]]) -> AuthContext:
        bad = errors.AuthorizationQueryParametersError
        if params.get("X-Amz-Algorithm", [sigv4.ALGORITHM]) != [sigv4.ALGORITHM]:
            raise bad('X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"')
        if any(len(params.get(p, ())) != 1 or not params[p][0] for p in _V4_QUERY_PARAMS):
            raise bad("Query-string authentication version 4 requires the X-Amz-Algorithm, "
                      "X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, "
                      "and X-Amz-Expires parameters.")
        credential = sigv4.parse_credential(params["X-Amz-Credential"][0])
        if credential is None:
            raise bad("Error parsing the X-Amz-Credential parameter; the Credential is mal-formed; "
                      'expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".')
        identity = self._identity(credential.access_key)
        timestamp = params["X-Amz-Date"][0]
        request_time = sigv4.parse_timestamp(timestamp)
        if request_time is None:
            raise bad("X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"")
        expires_value = params["X-Amz-Expires"][0]
        if not _INTEGER.fullmatch(expires_value):
            raise bad("X-Amz-Expires should be a number")
        expires = int(expires_value)
        if expires < 1:
            raise errors.PresignedExpiryOutOfRange("X-Amz-Expires must be non-negative")
        if expires > MAX_PRESIGNED_EXPIRES:
            raise errors.PresignedExpiryOutOfRange()
        self._check_scope(credential, timestamp, bad)

        now = self.clock()
        if request_time - now > self.max_skew_seconds:
            raise errors.AccessDenied("Request is not valid yet")
        if now > request_time + expires:
            raise errors.AccessDenied(
                "Request has expired", **{"X-Amz-Expires": expires_value,
                                          "Expires": sigv4.format_timestamp(request_time + expires),
                                          "ServerTime": sigv4.format_timestamp(now)})

        signed_payload = params.get("X-Amz-Content-Sha256", [None])[0]
        payload_hash = self._body_sha256(request, signed_payload) if signed_payload else None
        signed_names = [n.strip().lower() for n in params["X-Amz-SignedHeaders"][0].split(";")
                        if n.strip()]
        _, _, plus_means_space = self._verify_sigv4(
            request, identity, credential, timestamp, signed_names, params["X-Amz-Signature"][0],
            payload_hash or sigv4.UNSIGNED_PAYLOAD, raw_path, raw_query,
            exclude=("X-Amz-Signature",))
        refuse_unsigned(request.headers.keys(), set(signed_names))
        body_sha256 = payload_hash or self._body_sha256(request, None)
        return AuthContext(identity, "sigv4-presigned", frozenset(signed_names),
                           parse_payload(request, body_sha256, None), plus_means_space)

    # --- POST Object: a signed policy in form fields ---------------------------------

    def authenticate_post(self, fields: Mapping[str, str]) -> AuthContext:
        """Who signed a browser-form upload: ``fields`` are the form fields before the
        file, names lowercase. SigV4 (``x-amz-algorithm``, ``x-amz-credential``,
        ``x-amz-date``, ``x-amz-signature`` over the base64 ``policy``) or SigV2
        (``AWSAccessKeyId`` and ``signature``: base64 HMAC-SHA1 of the policy).

        Raises InvalidArgument (a field missing), InvalidAccessKeyId,
        SignatureDoesNotMatch, AccessDenied (nothing signed: anonymous uploads are not
        offered). The policy's content is checked by the caller.
        """
        policy = fields.get("policy")
        if "x-amz-signature" in fields or "x-amz-credential" in fields \
                or "x-amz-algorithm" in fields:
            for name in ("x-amz-algorithm", "x-amz-credential", "x-amz-date",
                         "x-amz-signature", "policy"):
                _require_field(fields, name)
            if fields["x-amz-algorithm"] != sigv4.ALGORITHM:
                raise errors.InvalidArgument('X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"',
                                             ArgumentName="x-amz-algorithm",
                                             ArgumentValue=fields["x-amz-algorithm"][:64])
            credential = sigv4.parse_credential(fields["x-amz-credential"])
            if credential is None:
                raise errors.InvalidArgument(
                    'The Credential is mal-formed; expecting '
                    '"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".',
                    ArgumentName="x-amz-credential")
            identity = self._identity(credential.access_key)
            timestamp = fields["x-amz-date"]
            if sigv4.parse_timestamp(timestamp) is None:
                raise errors.InvalidArgument(
                    "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"",
                    ArgumentName="x-amz-date")
            self._check_scope(credential, timestamp, errors.InvalidArgument)
            key = sigv4.signing_key(identity.secret, credential.date, credential.region,
                                    credential.service)
            expected = sigv4.signature(key, policy).encode("ascii")
            provided = fields["x-amz-signature"].lower().encode("ascii", "replace")
            if not hmac.compare_digest(expected, provided):
                raise errors.SignatureDoesNotMatch(AWSAccessKeyId=credential.access_key)
            scheme = "sigv4-post"
        elif "awsaccesskeyid" in fields or "signature" in fields:
            for name in ("awsaccesskeyid", "signature", "policy"):
                _require_field(fields, name)
            identity = self._identity(fields["awsaccesskeyid"])
            if not sigv2.matches(identity.secret, [policy], fields["signature"]):
                raise errors.SignatureDoesNotMatch(AWSAccessKeyId=identity.access_key)
            scheme = "sigv2-post"
        else:
            raise errors.AccessDenied("Anonymous access is not allowed; sign the POST policy.")
        return AuthContext(identity, scheme, frozenset(), UNREAD_PAYLOAD)

    # --- SigV2, header or query ----------------------------------------------------

    def _vhost_prefix(self, request: web.BaseRequest) -> str:
        if not self.domain:
            return ""
        host = self._header_values(request, "host")
        host = host[0].strip().lower() if host else ""
        if host.startswith("["):
            return ""
        host = host.rsplit(":", 1)[0].rstrip(".")
        suffix = "." + self.domain
        return "/" + host[:-len(suffix)] if host.endswith(suffix) else ""

    def _sigv2(self, request: web.BaseRequest, raw_path: str, raw_query: str,
               params: dict[str, list[str]], header: str | None) -> AuthContext:
        headers = request.headers
        amz_items = [(k, v) for k, v in headers.items() if k.lower().startswith("x-amz-")]
        query_items: dict[str, str] = {}
        if header is not None:
            access_key, sep, provided = header[4:].strip().rpartition(":")
            if not sep or not access_key or not provided:
                raise errors.AuthorizationHeaderMalformed(
                    "AWS authorization header is invalid. Expected AwsAccessKeyId:signature")
            identity = self._identity(access_key.strip())
            amz_date = headers.get("x-amz-date")
            shown = amz_date if amz_date is not None else headers.get("Date", "")
            # x-amz-date in SigV2 is normally an HTTP date, but some tools send ISO 8601.
            request_time = sigv4.parse_http_date(shown) if shown else None
            if request_time is None and shown:
                request_time = sigv4.parse_timestamp(shown)
            if request_time is None:
                raise errors.AccessDenied(_NO_DATE)
            self._check_skew(request_time, shown)
            # With x-amz-date the Date line is empty by the spec; some clients still fill it.
            date_options = [headers.get("Date", "")] + ([""] if amz_date is not None else [])
            scheme = "sigv2"
        else:
            if any(len(params.get(p, ())) != 1 for p in _V2_QUERY_PARAMS):
                raise errors.AccessDenied("Query-string authentication requires the Signature, "
                                          "Expires and AWSAccessKeyId parameters")
            access_key, provided = params["AWSAccessKeyId"][0], params["Signature"][0]
            identity = self._identity(access_key)
            expires = params["Expires"][0]
            if not expires.isdigit():
                raise errors.AccessDenied("Invalid date (should be seconds since epoch): " + expires)
            now = self.clock()
            if now > int(expires):
                raise errors.AccessDenied("Request has expired", Expires=expires)
            if int(expires) - now > MAX_PRESIGNED_EXPIRES:
                # The bound SigV4 puts on X-Amz-Expires, applied to SigV2's absolute
                # Expires: a query-signed URL is a bearer credential for a week at most.
                raise errors.PresignedExpiryOutOfRange(
                    "Expires must be less than a week (in seconds) from now, that is "
                    "604800", Expires=expires)
            date_options = [expires]
            # Presigners move Content-Type/MD5 and x-amz-* headers into the query.
            for name, values in params.items():
                lname = name.lower()
                if lname in ("content-md5", "content-type"):
                    query_items[lname] = values[0]
                elif lname.startswith("x-amz-"):
                    amz_items = [(k, v) for k, v in amz_items if k.lower() != lname]
                    amz_items.extend((lname, v) for v in values)
            scheme = "sigv2-presigned"

        prefix = self._vhost_prefix(request)
        candidates = sigv2.candidates(
            request.method, lambda name: headers.get(name, ""), query_items, amz_items,
            dict.fromkeys(date_options),
            [prefix + p for p in sigv2.resource_path_variants(raw_path)], raw_query)
        if not sigv2.matches(identity.secret, candidates, provided):
            raise errors.SignatureDoesNotMatch(AWSAccessKeyId=identity.access_key)
        signed = {k.lower() for k, _ in amz_items}
        signed.update(n for n in ("content-md5", "content-type", "date") if n in headers)
        # SigV2 signs every x-amz-* header and the resource, never the host or any
        # x-provgate-* header: those cannot be trusted from a V2 request.
        refuse_unsigned([n for n in headers.keys() if n.lower().startswith("x-provgate-")],
                        signed | {"host"})
        return AuthContext(identity, scheme, frozenset(signed),
                           parse_payload(request, self._body_sha256(request, None), None))
