"""One S3 call as handlers see it: the request, its target, who made it, and services."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from aiohttp import web
from multidict import CIMultiDict

from gateway import errors
from gateway.identities import Identity
from gateway.gatekeeper.gatekeeper import Gatekeeper
from gateway.provenance.record import DOORS
from gateway.s3.auth import AuthContext, Authenticator, verified_body
from gateway.s3.routing import S3Target


# S3's largest single PUT, POST upload and part: 5 GiB.
MAX_UPLOAD_BYTES = 5 * 1024 ** 3

# Not "expires": in a SigV2 presigned URL that parameter is the URL's own expiry.
_QUERY_OBJECT_FIELDS = {"content-type", "cache-control", "content-disposition",
                        "content-encoding", "content-language", "x-amz-tagging"}


@dataclass
class Services:
    """What the S3 layer talks to; built once by the server."""

    gatekeeper: Gatekeeper           # every read and every change of stored data
    region: str


@dataclass
class S3Call:
    """``auth`` is None until the request is authenticated: at once from its headers or
    query, or — for a POST form, whose signature is in its fields — by the handler,
    through ``authenticated``; a CORS preflight is never authenticated."""

    request: web.Request
    target: S3Target
    auth: AuthContext | None
    services: Services
    # Authorization of the call once authenticated (role, bucket scope, visibility).
    authorize: Callable[[S3Call], None] | None = None
    authenticator: Authenticator | None = None

    def authenticate_form(self, fields: Mapping[str, str]) -> None:
        """Authenticate a POST form by the policy signature in its ``fields`` (names
        lowercase), then authorize it."""
        if self.authenticator is None:
            raise errors.AccessDenied("Form uploads are not accepted here.")
        self.authenticated(self.authenticator.authenticate_post(fields))

    def authenticated(self, auth: AuthContext) -> None:
        """Take ``auth`` as who sent the call, then authorize it (raises as S3 would)."""
        self.auth = auth
        if self.authorize is not None:
            self.authorize(self)

    @property
    def identity(self) -> Identity:
        if self.auth is None:
            raise errors.AccessDenied("Anonymous access is not allowed; sign the request.")
        return self.auth.identity

    @property
    def bucket(self) -> str:
        return self.target.bucket

    @property
    def key(self) -> str:
        return self.target.key

    @property
    def query(self) -> dict[str, str]:
        return self.target.query

    @property
    def headers(self):
        return self.request.headers

    @property
    def version_id(self) -> str | None:
        """The object version a request names (``?versionId=``); None: the current one.
        Backends refuse a malformed id (InvalidArgument)."""
        return self.query.get("versionId")

    @property
    def door(self) -> str:
        """Which door the write came through: the folder sidecar says
        ``x-provgate-door: sidecar``; anything else but ``s3`` is refused."""
        door = self.headers.get("x-provgate-door", "s3").strip().lower()
        if door not in DOORS:
            raise errors.InvalidArgument(
                f"x-provgate-door must be one of {', '.join(DOORS)}",
                ArgumentName="x-provgate-door", ArgumentValue=door[:64])
        return door

    def object_fields(self) -> CIMultiDict:
        """Headers that describe the object being written.

        Presigned URLs (SigV2 especially, as botocore makes them) carry ``x-amz-meta-*``
        and content headers in the query string, where the signature covers them.
        """
        fields = CIMultiDict(self.request.headers)
        if self.auth.scheme.endswith("presigned"):
            for name, value in self.query.items():
                lower = name.lower()
                if lower.startswith("x-amz-meta-") or lower in _QUERY_OBJECT_FIELDS:
                    fields[name] = value
        return fields

    @property
    def gatekeeper(self) -> Gatekeeper:
        return self.services.gatekeeper

    def body(self, also: tuple[str, ...] = (), *, sha256: bool = True):
        """The request body, decoded from its transfer framing and verified as read;
        ``also``: checksum algorithms to compute besides the client's; ``sha256``: see
        ``gateway.s3.auth.verified_body``."""
        return verified_body(self.request, self.auth, also, sha256=sha256)

    async def small_body(self, limit: int, *, object_checksum_headers: bool = False) -> bytes:
        """A whole (small, XML) request body, verified; over ``limit`` is MalformedXML.
        ``object_checksum_headers``: see ``gateway.s3.auth.verified_body``."""
        data = bytearray()
        async for chunk in verified_body(self.request, self.auth,
                                         object_checksum_headers=object_checksum_headers):
            data += chunk
            if len(data) > limit:
                raise errors.MalformedXML("The XML you provided was larger than the maximum allowed size")
        return bytes(data)
