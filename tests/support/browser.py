"""A real headless Chromium (Debian's ``chromium``) driven by Playwright, and the UI's
login as a user does it.

The browser is Debian's, not one Playwright downloads: ``make tools`` installs the
``chromium`` package. Without it the UI tests skip on a developer's machine and fail
under ``CI=true`` (tests/conftest.py).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
VIEWPORT = {"width": 1400, "height": 900}


# Module scope, not session: Playwright's sync API runs an event loop on the main thread
# while it is open, and tests elsewhere that run asyncio themselves (or check that no loop
# runs before an LMDB write) must not find one. One module's browser is closed before the
# next module starts.
@pytest.fixture(scope="module")
def chromium():
    """One headless Chromium per test module (each test opens its own contexts)."""
    if not CHROMIUM.exists() and shutil.which("chromium") is None:
        pytest.skip("Debian chromium is not installed (make tools installs it)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        # Root (CI, containers) cannot use Chromium's user-namespace sandbox.
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM if CHROMIUM.exists() else shutil.which("chromium")),
            args=["--no-sandbox"])
        yield browser
        browser.close()


def new_page(browser, base_url: str):
    """A fresh browser profile (no cookies) with the screenshot viewport; JavaScript
    errors on the page fail the test that reads ``page.errors``."""
    context = browser.new_context(viewport=VIEWPORT, base_url=base_url)
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    return page


def login(browser, server, identity: dict, path: str = "/ui/queue"):
    """A page signed in as ``identity`` through the login form, showing ``path``."""
    page = new_page(browser, server.admin)
    page.goto(path)
    page.fill("#access_key", identity["access_key"])
    page.fill("#secret", identity["secret"])
    page.click("#login")
    page.wait_for_url(f"**{path.split('?')[0]}*")
    return page


def session_cookie(page) -> dict:
    return next(c for c in page.context.cookies() if c["name"] == "provgate_session")


def fetch(page, method: str, path: str, body=None, *, csrf: str | None = "page") -> dict:
    """``fetch()`` from the page, as a script on it would (the session cookie rides
    along): {status, body}. ``csrf``: "page" sends the page's token, None none, any
    other text that text."""
    return page.evaluate("""async ([method, path, body, csrf]) => {
        const headers = {"Content-Type": "application/json"};
        if (csrf === "page") headers["X-CSRF-Token"] = PG.csrf;
        else if (csrf !== null) headers["X-CSRF-Token"] = csrf;
        const reply = await fetch(path, {method, headers, credentials: "same-origin",
            body: body === null ? undefined : JSON.stringify(body)});
        const text = await reply.text();
        let parsed = null;
        try { parsed = JSON.parse(text); } catch (e) { parsed = text; }
        return {status: reply.status, body: parsed};
    }""", [method, path, body, csrf])
