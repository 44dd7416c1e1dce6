"""Browser sessions of the admin listener: what a login to ``/ui`` gives.

A session is kept in this process only (a restart logs everyone out; several gateways
behind one name need sticky routing for ``/ui``). The cookie holds the session's random
id and an HMAC of it under a key made at start, so a forged or altered cookie is refused
before any lookup. Each session has its own CSRF token: a request that changes something
(anything but GET, HEAD, OPTIONS) authenticated by the cookie must carry it, in the
``X-CSRF-Token`` header (fetch) or the ``csrf`` form field (HTML forms).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable

from gateway.identities import Identity

SESSION_COOKIE = "provgate_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Live sessions kept at most; past it the oldest is ended (a flood of logins cannot
# exhaust memory).
MAX_SESSIONS = 10_000


@dataclass
class Session:
    id: str
    identity: Identity
    csrf: str
    expires: float                 # epoch seconds


class SessionStore:
    """Sessions by id.

    ``ttl``       seconds a session lives from its login (no sliding renewal: a stolen
                  cookie is good for at most this long)
    ``clock``     the time source (epoch seconds)
    """

    def __init__(self, ttl: float, *, clock: Callable[[], float] = time.time) -> None:
        self.ttl = ttl
        self.clock = clock
        self._key = secrets.token_bytes(32)
        self._sessions: OrderedDict[str, Session] = OrderedDict()

    def _sign(self, session_id: str) -> str:
        return hmac.new(self._key, session_id.encode(), hashlib.sha256).hexdigest()

    def create(self, identity: Identity) -> tuple[str, Session]:
        """A new session for ``identity``: (cookie value, session)."""
        self._expire()
        while len(self._sessions) >= MAX_SESSIONS:
            self._sessions.popitem(last=False)
        session = Session(secrets.token_urlsafe(32), identity, secrets.token_urlsafe(32),
                          self.clock() + self.ttl)
        self._sessions[session.id] = session
        return f"{session.id}.{self._sign(session.id)}", session

    def lookup(self, cookie: str) -> Session | None:
        """The live session a cookie value names, or None (forged, ended or expired)."""
        session_id, _, signature = cookie.partition(".")
        if not session_id or not hmac.compare_digest(signature.encode(),
                                                     self._sign(session_id).encode()):
            return None
        session = self._sessions.get(session_id)
        if session is None:
            return None
        if session.expires <= self.clock():
            del self._sessions[session_id]
            return None
        return session

    def end(self, session: Session) -> None:
        self._sessions.pop(session.id, None)

    def _expire(self) -> None:
        now = self.clock()
        for session_id in [s.id for s in self._sessions.values() if s.expires <= now]:
            del self._sessions[session_id]


def csrf_ok(session: Session, method: str, headers, form_token: str | None) -> bool:
    """Whether a request on ``session`` may go ahead: safe methods always; others only
    with the session's token in the header or the form field."""
    if method in SAFE_METHODS:
        return True
    given = headers.get(CSRF_HEADER) or form_token or ""
    return hmac.compare_digest(given.encode(), session.csrf.encode())
