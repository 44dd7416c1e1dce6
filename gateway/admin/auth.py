"""Authentication of the admin listener: who is calling ``/api/v1`` (and ``/ui``).

The admin API uses the same ``[[identities]]`` as the S3 door and the same checks:

- **HTTP Basic** with the access key as user name and the secret as password
  (``curl -u AKIA...:secret``; over anything but loopback, put TLS in front), or
- **SigV4**, exactly as an S3 request is signed (header or presigned query; service
  ``s3``, the S3 listener's region). The signature is verified by the S3 door's own
  :class:`gateway.s3.auth.Authenticator`, and a signed payload hash is checked against
  the body, or
- a **session cookie** from a login to ``/ui`` (:mod:`gateway.admin.sessions`), with
  the session's CSRF token on every request that changes something (else ``403``).

``/ui/login`` and ``/ui/static/`` are open (:data:`OPEN_PREFIXES`); a browser that asks
for another ``/ui`` page without a live session is sent to the login page.

:func:`admin_auth_middleware` sets ``request["identity"]`` (a
:class:`gateway.identities.Identity`) and ``request["body"]`` (the request body, read
once and at most :data:`MAX_BODY_BYTES`) for every path under :data:`PROTECTED_PREFIXES`;
``/metrics``, ``/healthz`` and ``/readyz`` stay open. A missing or wrong credential
answers ``401`` with ``WWW-Authenticate: Basic realm="provgate"``; an identity whose
role or bucket scope does not cover the request answers ``403`` (:func:`require`).

Every error on the admin listener is JSON of one shape
(``{"error": {"code": "...", "message": "..."}}``, see :func:`error_response`), built
from the typed errors of :mod:`gateway.errors`.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import logging
from urllib.parse import parse_qs, quote

from aiohttp import web

from gateway import errors
from gateway.admin.sessions import (CSRF_FIELD, SAFE_METHODS, SESSION_COOKIE, SessionStore,
                                    csrf_ok)
from gateway.catalog.search import invalid
from gateway.identities import Identity, IdentityStore
from gateway.s3.auth import Authenticator, verified_body
from gateway.wire import sigv4

log = logging.getLogger("provgate.admin")

# Paths that need an identity; everything else on the admin listener is open.
PROTECTED_PREFIXES = ("/api/v1/", "/ui/")
# Under the protected prefixes, what a browser needs before it has a session.
OPEN_PREFIXES = ("/ui/login", "/ui/static/")
UI_PREFIX = "/ui/"
LOGIN_PATH = "/ui/login"
# The largest request body the admin API reads (decisions, comments: small JSON).
MAX_BODY_BYTES = 1 << 20
REALM = 'Basic realm="provgate"'


def error_response(exc: errors.GatewayError) -> web.Response:
    """The JSON answer for a typed error: its HTTP status, code and message."""
    body = {"error": {"code": exc.code, "message": exc.message}}
    rule = getattr(exc, "rule_id", None)
    if rule is not None:
        body["error"]["rule"] = rule
    headers = dict(exc.headers)
    if exc.status == 401:
        headers["WWW-Authenticate"] = REALM
    return web.json_response(body, status=exc.status, headers=headers)


def require(request: web.Request, *, role: str | None = None,
            bucket: str | None = None) -> Identity:
    """The caller's identity, once it is known to have ``role`` (or a higher one) and
    ``bucket`` in its scope; otherwise ``AccessDenied`` (403)."""
    identity: Identity | None = request.get("identity")
    if identity is None:                       # a route outside the protected prefixes
        raise errors.Unauthorized()
    if role is not None and not identity.has_role(role):
        raise errors.AccessDenied(f"'{identity.name}' has role {identity.role}; "
                                  f"this needs {role}")
    if bucket is not None and not identity.may_access_bucket(bucket):
        raise errors.AccessDenied(f"bucket '{bucket}' is outside the scope of "
                                  f"'{identity.name}'")
    return identity


def request_json(request: web.Request) -> dict:
    """The body as a JSON object (empty body: ``{}``); InvalidArgument otherwise."""
    raw = request.get("body", b"")
    if not raw.strip():
        return {}
    try:
        doc = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        raise errors.InvalidArgument(f"the body is not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise errors.InvalidArgument("the body must be a JSON object")
    return doc


def query_values(request: web.Request, allowed: tuple[str, ...]) -> dict[str, str]:
    """Each query parameter's one value; an unknown or repeated name is refused."""
    out = {}
    for name in dict.fromkeys(request.query):
        if name not in allowed:
            raise invalid(name, f"unknown parameter (parameters: {', '.join(allowed)})")
        values = request.query.getall(name)
        if len(values) > 1:
            raise invalid(name, "given more than once")
        out[name] = values[0]
    return out


class AdminAuthenticator:
    """Finds the identity of an admin request (Basic, SigV4 or a UI session).

    ``sessions``: the UI's session store (None: no cookie is accepted).
    """

    def __init__(self, identities: IdentityStore, s3_authenticator: Authenticator,
                 sessions: SessionStore | None = None) -> None:
        self.identities = identities
        self.s3 = s3_authenticator
        self.sessions = sessions

    async def identify(self, request: web.Request) -> tuple[Identity, bytes]:
        """(identity, body) or a raised ``Unauthorized``/``AccessDenied``/``InvalidArgument``."""
        authorization = request.headers.getall("Authorization", [])
        if len(authorization) > 1:
            raise errors.Unauthorized("only one Authorization header is allowed")
        value = authorization[0].strip() if authorization else ""
        if value[:6].lower() == "basic ":
            identity = self._basic(value[6:].strip())
            return identity, await _read_limited(request)
        signed_query = "X-Amz-Signature" in request.query or "X-Amz-Credential" in request.query
        if value.startswith(sigv4.ALGORITHM + " ") or (not value and signed_query):
            return await self._sigv4(request)
        if value:
            raise errors.Unauthorized("unsupported Authorization scheme: use Basic "
                                      "(access key : secret) or AWS4-HMAC-SHA256")
        cookie = request.cookies.get(SESSION_COOKIE)
        if cookie and self.sessions is not None:
            return await self._session(request, cookie)
        raise errors.Unauthorized()

    async def _session(self, request: web.Request, cookie: str) -> tuple[Identity, bytes]:
        session = self.sessions.lookup(cookie)
        if session is None:
            raise errors.Unauthorized("the session has ended: log in again")
        body = await _read_limited(request)
        form_token = None
        if request.method not in SAFE_METHODS and request.content_type == \
                "application/x-www-form-urlencoded":
            form_token = (parse_qs(body.decode("utf-8", "replace")).get(CSRF_FIELD) or [None])[0]
        if not csrf_ok(session, request.method, request.headers, form_token):
            raise errors.AccessDenied("this request needs the session's CSRF token "
                                      "(header X-CSRF-Token or form field csrf)")
        request["session"] = session
        return session.identity, body

    def check_secret(self, access_key: str, secret: str) -> Identity:
        """The identity whose access key and secret these are; Unauthorized otherwise."""
        identity = self.identities.lookup(access_key)
        # Compare even for an unknown key, so the answer time does not tell keys apart.
        expected = identity.secret if identity is not None else "\0unknown"
        if not hmac.compare_digest(secret.encode(), expected.encode()) or identity is None:
            raise errors.Unauthorized("wrong access key or secret")
        return identity

    def _basic(self, encoded: str) -> Identity:
        try:
            decoded = base64.b64decode(encoded, validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            raise errors.Unauthorized("malformed Basic credentials") from None
        access_key, sep, secret = decoded.partition(":")
        return self.check_secret(access_key if sep else "", secret)

    async def _sigv4(self, request: web.Request) -> tuple[Identity, bytes]:
        try:
            ctx = self.s3.authenticate(request)
            body = verified_body(request, ctx)
            pieces, size = [], 0
            async for piece in body:
                size += len(piece)
                if size > MAX_BODY_BYTES:
                    raise errors.EntityTooLarge(f"the admin API reads at most "
                                                f"{MAX_BODY_BYTES} bytes")
                pieces.append(piece)
        except (errors.SignatureDoesNotMatch, errors.InvalidAccessKeyId,
                errors.RequestTimeTooSkewed, errors.AuthorizationHeaderMalformed,
                errors.AuthorizationQueryParametersError,
                errors.XAmzContentSHA256Mismatch) as exc:
            raise errors.Unauthorized(f"{exc.code}: {exc.message}") from None
        except errors.AccessDenied as exc:         # expired presigned URL, no date
            raise errors.Unauthorized(exc.message) from None
        return ctx.identity, b"".join(pieces)


async def _read_limited(request: web.Request) -> bytes:
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise errors.EntityTooLarge(f"the admin API reads at most {MAX_BODY_BYTES} bytes")
    pieces, size = [], 0
    async for piece in request.content.iter_chunked(1 << 16):
        size += len(piece)
        if size > MAX_BODY_BYTES:
            raise errors.EntityTooLarge(f"the admin API reads at most {MAX_BODY_BYTES} bytes")
        pieces.append(piece)
    return b"".join(pieces)


def admin_auth_middleware(authenticator: AdminAuthenticator):
    """aiohttp middleware: identity for protected paths, JSON for every typed error."""

    @web.middleware
    async def middleware(request: web.Request, handler):
        try:
            if (request.path.startswith(PROTECTED_PREFIXES)
                    and not request.path.startswith(OPEN_PREFIXES)):
                try:
                    identity, body = await authenticator.identify(request)
                except errors.Unauthorized:
                    # A page (or "Log out" after the session ended): to the login form.
                    if request.path.startswith(UI_PREFIX):
                        back = request.path_qs if request.method in SAFE_METHODS else ""
                        raise web.HTTPSeeOther(f"{LOGIN_PATH}?next="
                                               + quote(back, safe="")) from None
                    raise
                request["identity"] = identity
                request["body"] = body
            return await handler(request)
        except web.HTTPException as exc:
            if (exc.status < 400 or not request.path.startswith(PROTECTED_PREFIXES)
                    or request.path.startswith(UI_PREFIX)):
                raise
            return web.json_response({"error": {"code": exc.reason.replace(" ", ""),
                                                "message": f"{request.method} {request.path}: "
                                                           f"{exc.reason}"}},
                                     status=exc.status)
        except errors.GatewayError as exc:
            if exc.status >= 500:
                log.warning("admin %s %s: %s", request.method, request.path, exc.message)
            reply = error_response(exc)
            if request.headers.get("Sec-Fetch-Mode", "navigate") != "navigate":
                # A page's fetch(): a Basic challenge would make the browser ask for a
                # password in a dialog instead of letting the page go to its login form.
                reply.headers.popall("WWW-Authenticate", None)
            return reply
        except Exception:
            if not request.path.startswith(PROTECTED_PREFIXES):
                raise
            # A bug, not the caller's fault: logged with its traceback, answered in the
            # API's shape without internals.
            log.exception("admin %s %s failed", request.method, request.path)
            return error_response(errors.InternalError())

    return middleware
