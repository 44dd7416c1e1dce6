"""The review UI's queue page among many catalogued assets.

    python -m bench --ui                       # 10,000 assets, 100 page loads
    python -m bench --ui --assets 50000 --queries 200

The catalog is filled as ``bench/search.py`` fills it (10,000 assets, 30 % approved,
so about 7,000 wait for review). A ``provgate serve`` (fs backend) is started on it and a
browser's login is replayed over HTTP (the login form, its cookie and token), then the
queue page is loaded the way Chromium loads it, timed on loopback with keep-alive:

- ``GET /ui/queue``: the page shell (HTML; no catalog read), and
- ``GET /api/v1/reviews/queue?limit=50``: the first page of pending versions, oldest
  first, which the page's script fetches with the session cookie
  (``Catalog.queue``: the ``review=pending`` posting list walked in commit order).

"Server time" is their sum: what the gateway spends before the page can draw its rows
(thumbnails are separate requests, cached after the first view). The goal is < 300 ms.
"""

from __future__ import annotations

import http.client
import json
import random
import re
import time
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from bench.search import fill_catalog, percentile
from gateway.catalog import Catalog
from tests.support.server import ADMIN, ProvgateServer

GOAL_MS = 300.0


class _Browser:
    """One keep-alive connection carrying a UI session, as a browser tab holds one."""

    def __init__(self, base: str) -> None:
        parts = urlsplit(base)
        self.conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict | None = None) -> tuple[int, bytes]:
        cookie = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        self.conn.request(method, path, body=body,
                          headers={**({"Cookie": cookie} if cookie else {}), **(headers or {})})
        reply = self.conn.getresponse()
        data = reply.read()
        for header in reply.headers.get_all("Set-Cookie") or []:
            name, _, rest = header.partition("=")
            self.cookies[name.strip()] = rest.split(";")[0]
        return reply.status, data

    def log_in(self, identity: dict) -> None:
        status, page = self.request("GET", "/ui/login")
        token = re.search(rb'name="csrf" value="([^"]+)"', page).group(1).decode()
        form = urlencode({"access_key": identity["access_key"], "secret": identity["secret"],
                          "csrf": token, "next": "/ui/queue"}).encode()
        status, _ = self.request("POST", "/ui/login", form,
                                 {"Content-Type": "application/x-www-form-urlencoded"})
        if status != 303 or "provgate_session" not in self.cookies:
            raise RuntimeError(f"login failed: {status}")


def run(workdir: Path, assets: int, loads: int) -> None:
    rng = random.Random(20261206)
    server = ProvgateServer(workdir / "provgate", {"kind": "fs", "path": str(workdir / "data")})
    catalog_path = workdir / "provgate" / "catalog"
    _, write_ms, versions = fill_catalog(Catalog(catalog_path), assets, rng)
    print(f"catalogued {assets} assets ({versions} versions); add_version p50 "
          f"{percentile(write_ms, 50):.2f} ms\n")
    server.start()
    try:
        tab = _Browser(server.admin)
        tab.log_in(ADMIN)
        shell, api, total, rows = [], [], [], 0
        for _ in range(loads):
            started = time.perf_counter()
            status, _ = tab.request("GET", "/ui/queue")
            middle = time.perf_counter()
            assert status == 200, status
            status, body = tab.request("GET", "/api/v1/reviews/queue?limit=50")
            ended = time.perf_counter()
            assert status == 200, body[:200]
            rows = len(json.loads(body)["items"])
            shell.append((middle - started) * 1000)
            api.append((ended - middle) * 1000)
            total.append((ended - started) * 1000)
        pending = Catalog(catalog_path)
        try:
            count = pending.queue_summary()["count"]
        finally:
            pending.close()
        print(f"{count} versions pending; first page {rows} rows; {loads} loads\n")
        print("| request | p50 ms | p95 ms |")
        print("|---|---|---|")
        for label, values in (("GET /ui/queue (page shell)", shell),
                              ("GET /api/v1/reviews/queue?limit=50 (session cookie)", api),
                              ("queue page, server time (both)", total)):
            print(f"| {label} | {percentile(values, 50):.2f} | {percentile(values, 95):.2f} |")
        worst = percentile(total, 95)
        print(f"\ngoal: first page < {GOAL_MS:.0f} ms server time — p95 {worst:.1f} ms: "
              f"{'met' if worst < GOAL_MS else 'NOT MET'}")
    finally:
        server.stop()
