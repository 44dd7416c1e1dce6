"""Logging in to the UI with an identity's access key and secret, and out again.

    GET  /ui/login     the form (``?next=`` the page to go to afterwards)
    POST /ui/login     access_key, secret, csrf, next → the session cookie, 303 to next
    POST /ui/logout    csrf → the session ended, the cookie cleared, 303 to the form

The login form is protected against cross-site posting by a token that is both in a
cookie and in the form (a page elsewhere can read neither). The session cookie is
``HttpOnly`` (scripts never see it), ``SameSite=Strict`` (no other site's page sends
it), ``Secure`` when the page came over TLS, and lasts ``[admin] session_ttl`` seconds.
"""

from __future__ import annotations

import hmac
import secrets

from aiohttp import web

from gateway import errors
from gateway.admin.auth import AdminAuthenticator
from gateway.admin.sessions import CSRF_FIELD, SESSION_COOKIE, SessionStore
from gateway.admin.ui.render import page

LOGIN_COOKIE = "provgate_login"
HOME = "/ui/queue"
# Form fields are short; a bigger login body is not a login.
MAX_FORM_BYTES = 8192


def safe_next(target: str | None) -> str:
    """Where to go after logging in: a page of the UI, never another site."""
    if (not target or not target.startswith("/ui/") or "//" in target or "\\" in target
            or target.startswith("/ui/login")):
        return HOME
    return target


def _cookie_options(request: web.Request, max_age: int, path: str = "/") -> dict:
    return {"max_age": max_age, "path": path, "httponly": True, "samesite": "Strict",
            "secure": request.secure}


def _form(request: web.Request, *, error: str = "", next_page: str = "",
          status: int = 200) -> web.Response:
    token = secrets.token_urlsafe(32)
    reply = page("login.html", status=status, csrf=token, error=error,
                 error_class="error" if error else "error hidden",
                 next=safe_next(next_page or request.query.get("next")))
    reply.set_cookie(LOGIN_COOKIE, token, **_cookie_options(request, 3600, "/ui/login"))
    return reply


def add_routes(app: web.Application, *, authenticator: AdminAuthenticator,
               sessions: SessionStore) -> None:
    async def form(request: web.Request) -> web.Response:
        return _form(request)

    async def log_in(request: web.Request) -> web.Response:
        if request.content_length is not None and request.content_length > MAX_FORM_BYTES:
            raise errors.EntityTooLarge(f"a login form is at most {MAX_FORM_BYTES} bytes")
        fields = await request.post()
        expected = request.cookies.get(LOGIN_COOKIE, "")
        given = str(fields.get(CSRF_FIELD, ""))
        if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
            return _form(request, error="The form expired or came from another site: "
                                        "please log in again.", status=403)
        next_page = safe_next(str(fields.get("next", "")))
        try:
            identity = authenticator.check_secret(str(fields.get("access_key", "")).strip(),
                                                  str(fields.get("secret", "")))
        except errors.Unauthorized:
            return _form(request, error="Wrong access key or secret.", next_page=next_page,
                         status=401)
        cookie, _ = sessions.create(identity)
        reply = web.Response(status=303, headers={"Location": next_page})
        reply.set_cookie(SESSION_COOKIE, cookie,
                         **_cookie_options(request, int(sessions.ttl)))
        reply.del_cookie(LOGIN_COOKIE, path="/ui/login")
        return reply

    async def log_out(request: web.Request) -> web.Response:
        session = request.get("session")
        if session is not None:
            sessions.end(session)
        reply = web.Response(status=303, headers={"Location": "/ui/login"})
        reply.del_cookie(SESSION_COOKIE, path="/")
        return reply

    app.router.add_get("/ui/login", form)
    app.router.add_post("/ui/login", log_in)
    app.router.add_post("/ui/logout", log_out)
