"""``host:port`` listen addresses, as the configuration gives them.

Apart from ``listen`` (which serves on them) so that reading a configuration, as every
``provgate`` command does, does not load the HTTP server.
"""

from __future__ import annotations


def parse_listen(listen: str, label: str = "listen") -> tuple[str, int]:
    """``host:port`` (``[::1]:9000`` for IPv6) to (host, port); ``ValueError`` naming
    ``label`` when it is not one."""
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ValueError(f"{label} must be host:port, got {listen!r}")
    return host.strip("[]") or "127.0.0.1", int(port)
