"""A small client of the admin API, for the command line (``provgate review``).

It sends HTTP Basic credentials (the identity's access key and secret) and returns
the parsed JSON answer, or raises :class:`ApiError` with the API's error code and
message. Only the standard library: the CLI starts fast and needs no event loop.
"""

from __future__ import annotations

import base64
import os
import json
import sys
import urllib.error
import urllib.request
from urllib.parse import quote, urlencode


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, rule: str | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.status, self.code, self.message, self.rule = status, code, message, rule


class AdminClient:
    """``endpoint``: base URL of the admin listener, e.g. ``http://127.0.0.1:9001``."""

    def __init__(self, endpoint: str, access_key: str, secret: str,
                 timeout: float = 60.0) -> None:
        self.endpoint = endpoint.rstrip("/")
        token = base64.b64encode(f"{access_key}:{secret}".encode()).decode()
        self.authorization = f"Basic {token}"
        self.timeout = timeout

    def call(self, method: str, path: str, body: dict | None = None,
             query: dict | None = None):
        url = self.endpoint + quote(path, safe="/")
        if query:
            url += "?" + urlencode({k: v for k, v in query.items() if v is not None})
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(url, data=data, method=method, headers={
            "Authorization": self.authorization, "Content-Type": "application/json",
            "Accept": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as reply:
                return json.loads(reply.read() or b"null")
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                error = json.loads(raw)["error"]
                raise ApiError(exc.code, error["code"], error["message"],
                               error.get("rule")) from None
            except (ValueError, KeyError, TypeError):
                raise ApiError(exc.code, "HTTP", f"{exc.code} {exc.reason}") from None
        except urllib.error.URLError as exc:
            raise ApiError(0, "Unreachable", f"{self.endpoint}: {exc.reason}") from None


def add_credential_options(parser) -> None:
    """The options a command that acts through the admin API takes (argparse)."""
    parser.add_argument("--endpoint", default=os.environ.get("PROVGATE_ADMIN_ENDPOINT"),
                        help="admin listener URL (env PROVGATE_ADMIN_ENDPOINT; default: the "
                             "config's [admin] listen)")
    parser.add_argument("--access-key", default=os.environ.get("PROVGATE_ACCESS_KEY"),
                        help="access key of your identity (env PROVGATE_ACCESS_KEY)")
    parser.add_argument("--secret-key", default=os.environ.get("PROVGATE_SECRET_KEY"),
                        help="its secret (env PROVGATE_SECRET_KEY)")


def client_for(args, admin_listen: str) -> AdminClient:
    """An admin API client from the options of ``add_credential_options`` (``admin_listen``:
    the config's [admin] listen, used when no --endpoint is given); SystemExit(2) with a
    message when the credentials are missing."""
    if not args.access_key or not args.secret_key:
        print("provgate: credentials needed: --access-key/--secret-key or "
              "PROVGATE_ACCESS_KEY/PROVGATE_SECRET_KEY", file=sys.stderr)
        raise SystemExit(2)
    if not args.endpoint and admin_listen.endswith(":0"):
        print(f"provgate: the config's [admin] listen ({admin_listen}) picks a free port at "
              "start: say which with --endpoint or PROVGATE_ADMIN_ENDPOINT", file=sys.stderr)
        raise SystemExit(2)
    return AdminClient(args.endpoint or f"http://{admin_listen}", args.access_key,
                       args.secret_key)
