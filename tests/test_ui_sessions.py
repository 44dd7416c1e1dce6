"""Logging in to the review UI, and what a session may do: a real Chromium against a real
``provgate serve`` on both backends. A wrong secret gets no session; the cookie is out
of scripts' reach and of other sites'; a change without the session's CSRF token is
refused; logging out or the session's end makes the cookie worthless.
"""

from __future__ import annotations

import urllib.error
import urllib.request
import uuid

import pytest

from gateway.config import ConfigError
from gateway.config import load as load_config
from tests.conftest import client, storage_section
from tests.support.admin import admin_call
from tests.support.browser import fetch, login, new_page, session_cookie
from tests.support.polling import wait_for
from tests.support.server import ADMIN, READER, WRITER, ProvgateServer

pytestmark = pytest.mark.timeout(300)

SESSION_TTL = 4          # seconds; the expiry test's server


@pytest.fixture(scope="module")
def server(backend_kind, tmp_path_factory, request):
    workdir = tmp_path_factory.mktemp(f"ui-sessions-{backend_kind}")
    instance = ProvgateServer(workdir, storage_section(backend_kind, workdir, request),
                              identities=[ADMIN, WRITER, READER])
    instance.start()
    yield instance
    instance.stop()


@pytest.fixture(scope="module")
def asset(server) -> tuple[str, str]:
    bucket, name = f"us-{uuid.uuid4().hex[:12]}", "a.txt"
    s3 = client(server.endpoint)
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key=name, Body=b"brief", ContentType="text/plain")
    return bucket, name


def with_cookie(server, path: str, cookie: str, method: str = "GET", data: bytes | None = None,
                headers: dict | None = None) -> int:
    """The status of a request that carries only this session cookie (no redirects)."""
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None
    request = urllib.request.Request(server.admin + path, data=data, method=method,
                                     headers={"Cookie": f"provgate_session={cookie}",
                                              **(headers or {})})
    try:
        with urllib.request.build_opener(NoRedirect).open(request, timeout=30) as reply:
            return reply.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_a_wrong_secret_gets_no_session(server, chromium):
    page = new_page(chromium, server.admin)
    page.goto("/ui/queue")
    assert "/ui/login" in page.url
    page.fill("#access_key", WRITER["access_key"])
    page.fill("#secret", "not-the-secret")
    page.click("#login")
    page.locator("#login-error", has_text="Wrong access key or secret").wait_for()
    assert "/ui/login" in page.url
    assert [c for c in page.context.cookies() if c["name"] == "provgate_session"] == []
    page.fill("#access_key", "AKIANOSUCHKEY")
    page.fill("#secret", WRITER["secret"])
    page.click("#login")
    page.locator("#login-error", has_text="Wrong access key or secret").wait_for()
    assert page.evaluate("fetch('/api/v1/reviews/queue').then(r => r.status)") == 401


def test_the_session_cookie_is_httponly_strict_and_names_the_caller(server, chromium):
    page = login(chromium, server, WRITER)
    cookie = session_cookie(page)
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Strict"
    assert cookie["expires"] > 0                               # not a forever cookie
    assert "provgate_session" not in page.evaluate("document.cookie")
    assert page.text_content("#who-user") == "writer"
    assert page.text_content("#who-role") == "writer"


def test_changes_without_the_csrf_token_are_refused(server, asset, chromium):
    bucket, name = asset
    page = login(chromium, server, ADMIN)
    path = f"/api/v1/reviews/{bucket}/{name}/comments"
    for token in (None, "", "forged-token"):
        refused = fetch(page, "POST", path, {"text": "sneaky"}, csrf=token)
        assert refused["status"] == 403, refused
        assert "CSRF" in refused["body"]["error"]["message"]
    refused = fetch(page, "PUT", f"/api/v1/reviews/{bucket}/{name}/rating", {"rating": 5},
                    csrf=None)
    assert refused["status"] == 403
    status, shown, _ = admin_call(server, "GET", f"/api/v1/reviews/{bucket}/{name}")
    assert shown["comments"] == [] and shown.get("rating") is None
    # Reading needs no token; the same change with the page's token goes through.
    assert fetch(page, "GET", f"/api/v1/reviews/{bucket}/{name}", csrf=None)["status"] == 200
    assert fetch(page, "POST", path, {"text": "fine"})["status"] == 201
    # A form post from another page (no token field) is refused too.
    cookie = session_cookie(page)["value"]
    assert with_cookie(server, "/ui/logout", cookie, "POST", b"",
                       {"Content-Type": "application/x-www-form-urlencoded"}) == 403
    assert fetch(page, "GET", "/api/v1/reviews/queue", csrf=None)["status"] == 200


def test_logging_out_ends_the_session(server, chromium):
    page = login(chromium, server, READER)
    cookie = session_cookie(page)["value"]
    assert with_cookie(server, "/api/v1/reviews/queue", cookie) == 200
    page.click("#logout")
    page.wait_for_url("**/ui/login*")
    assert with_cookie(server, "/api/v1/reviews/queue", cookie) == 401
    assert with_cookie(server, "/ui/queue", cookie) == 303           # to the login form
    assert with_cookie(server, "/ui/logout", cookie, "POST", b"csrf=x",
                       {"Content-Type": "application/x-www-form-urlencoded"}) == 303
    page.goto("/ui/queue")
    assert "/ui/login" in page.url


def test_a_forged_cookie_is_refused(server, chromium):
    page = login(chromium, server, READER)
    value = session_cookie(page)["value"]
    session_id, _, signature = value.partition(".")
    assert with_cookie(server, "/api/v1/reviews/queue", f"{session_id}.{'0' * len(signature)}") == 401
    assert with_cookie(server, "/api/v1/reviews/queue", f"x{session_id}.{signature}") == 401
    assert with_cookie(server, "/api/v1/reviews/queue", "") == 401


def test_login_goes_back_to_the_page_asked_for_and_never_off_site(server, chromium):
    page = new_page(chromium, server.admin)
    page.goto("/ui/spend?by=model")
    assert "next=" in page.url
    page.fill("#access_key", READER["access_key"])
    page.fill("#secret", READER["secret"])
    page.click("#login")
    page.wait_for_url("**/ui/spend?by=model")
    for target in ("//evil.example/ui/", "https://evil.example/", "/ui/..//evil"):
        other = new_page(chromium, server.admin)
        other.goto("/ui/login?next=" + urllib.request.quote(target, safe=""))
        other.fill("#access_key", READER["access_key"])
        other.fill("#secret", READER["secret"])
        other.click("#login")
        other.wait_for_url("**/ui/queue")
        assert other.url.startswith(server.admin)


def test_a_login_form_from_elsewhere_is_refused(server):
    body = (f"access_key={READER['access_key']}&secret={READER['secret']}&csrf=made-up"
            "&next=/ui/queue").encode()
    request = urllib.request.Request(server.admin + "/ui/login", data=body, method="POST",
                                     headers={"Content-Type": "application/x-www-form-urlencoded",
                                              "Cookie": "provgate_login=other"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=30)
    assert refused.value.code == 403
    assert "provgate_session" not in (refused.value.headers.get("Set-Cookie") or "")


def test_a_session_ends_when_its_time_is_up(make_server, chromium):
    short = make_server(sections={"admin": {"listen": "127.0.0.1:0",
                                            "session_ttl": SESSION_TTL}},
                        identities=[READER])
    page = login(chromium, short, READER)
    cookie = session_cookie(page)["value"]
    assert with_cookie(short, "/api/v1/reviews/queue", cookie) == 200
    wait_for(lambda: with_cookie(short, "/api/v1/reviews/queue", cookie) == 401,
             timeout=SESSION_TTL + 30, what="the session to expire", interval=0.5)
    page.goto("/ui/queue")
    assert "/ui/login" in page.url


@pytest.mark.parametrize("ttl", [0, -5, "forever"])
def test_a_session_lifetime_that_is_not_a_positive_number_is_refused(tmp_path, ttl):
    config = tmp_path / "provgate.toml"
    value = f'"{ttl}"' if isinstance(ttl, str) else ttl
    config.write_text(f"[admin]\nsession_ttl = {value}\n")
    with pytest.raises(ConfigError, match="session_ttl"):
        load_config(config)
