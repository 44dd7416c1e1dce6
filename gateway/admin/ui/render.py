"""Pages from the templates in ``templates/``: every value escaped, security headers set."""

from __future__ import annotations

import functools
import html
from pathlib import Path
from string import Template

from aiohttp import web

HERE = Path(__file__).resolve().parent
TEMPLATE_DIR = HERE / "templates"
STATIC_DIR = HERE / "static"

# Pages run only the package's own scripts and styles; user content (thumbnails, media)
# comes from the same origin's API, never from elsewhere; no page may be framed.
PAGE_HEADERS = {
    "Content-Security-Policy": ("default-src 'self'; img-src 'self' data: blob:; "
                                "media-src 'self'; script-src 'self'; style-src 'self'; "
                                "object-src 'none'; base-uri 'none'; form-action 'self'; "
                                "frame-ancestors 'none'"),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


@functools.cache
def template(name: str) -> Template:
    return Template((TEMPLATE_DIR / name).read_text(encoding="utf-8"))


def fill(name: str, **values: str) -> str:
    """The template ``name`` with each ``$value`` replaced by its HTML-escaped text."""
    return template(name).substitute({k: html.escape(str(v), quote=True)
                                      for k, v in values.items()})


def page(name: str, status: int = 200, **values: str) -> web.Response:
    return web.Response(text=fill(name, **values), status=status, content_type="text/html",
                        charset="utf-8", headers=PAGE_HEADERS)


def shell(request: web.Request, title: str, body: str, page_id: str, **values: str) -> web.Response:
    """A signed-in page: the navigation shell around the template ``body`` (filled with
    ``values``). The caller's name, role and the session's CSRF token are handed to the
    scripts in ``<meta>`` tags (no inline script runs under the page's policy)."""
    identity = request["identity"]
    session = request.get("session")
    inner = fill(body, **values)
    outer = template("shell.html").substitute(
        {k: html.escape(str(v), quote=True) for k, v in {
            "title": title, "user": identity.name, "role": identity.role,
            "csrf": session.csrf if session is not None else "", "page": page_id}.items()},
        body=inner)
    return web.Response(text=outer, content_type="text/html", charset="utf-8",
                        headers=PAGE_HEADERS)
