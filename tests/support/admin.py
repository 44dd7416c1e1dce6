"""Calls to the admin API (``/api/v1``) as one of the test identities."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from urllib.parse import quote

from tests.support.server import ADMIN


def basic_auth(identity: dict) -> str:
    token = f"{identity['access_key']}:{identity['secret']}".encode()
    return "Basic " + base64.b64encode(token).decode()


def admin_call(server, method: str, path: str, body=None, *, identity: dict | None = ADMIN,
               headers: dict | None = None, raw: bytes | None = None):
    """(status, parsed JSON or None, response headers). ``identity`` None: no credentials;
    ``raw``: send these bytes as the body instead of ``body`` as JSON."""
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    request = urllib.request.Request(f"{server.admin}{quote(path, safe='/?=&')}", data=data,
                                     method=method, headers=dict(headers or {}))
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if identity is not None:
        request.add_header("Authorization", basic_auth(identity))
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            text = reply.read()
            return reply.status, json.loads(text) if text else None, dict(reply.headers)
    except urllib.error.HTTPError as exc:
        text = exc.read()
        try:
            parsed = json.loads(text) if text else None
        except ValueError:
            parsed = text.decode(errors="replace")
        return exc.code, parsed, dict(exc.headers)


def admin_json(server, path: str, identity: dict | None = ADMIN):
    """GET ``path`` as ``identity``: (status, parsed JSON)."""
    status, body, _ = admin_call(server, "GET", path, identity=identity)
    return status, body
