"""The review UI under ``/ui`` on the admin listener: one more door to the review API.

The pages are HTML shells shipped in this package (``templates/``) with plain
JavaScript and CSS (``static/``): no build step, nothing fetched from elsewhere. Every
figure on a page comes from ``/api/v1`` through the browser's ``fetch()``, authenticated
by the session cookie a login gives (:mod:`gateway.admin.sessions`), so the roles, bucket
scopes and review rules are exactly the API's; the UI adds none of its own. What a role
may not do is also not offered (a writer sees no approve button).

``login``    the login form, session cookie, logout
``pages``    the page shells: queue, asset, quarantine, prompt library, spend
``render``   templates filled with escaped values, and the security headers of a page
"""

from __future__ import annotations

from aiohttp import web

from gateway.admin.auth import AdminAuthenticator
from gateway.admin.sessions import SessionStore
from gateway.admin.ui import login, pages
from gateway.admin.ui.render import STATIC_DIR


def add_ui_routes(app: web.Application, *, authenticator: AdminAuthenticator,
                  sessions: SessionStore) -> None:
    """The ``/ui`` routes. ``authenticator`` checks the login form's access key and
    secret; ``sessions`` keeps the logins (the same store the authenticator reads
    cookies from)."""
    login.add_routes(app, authenticator=authenticator, sessions=sessions)
    pages.add_routes(app)
    app.router.add_static("/ui/static/", STATIC_DIR, append_version=False)
