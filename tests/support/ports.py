"""Free loopback ports for test servers.

A port chosen free can be taken by another process before the server binds it; every
caller that binds a chosen port therefore retries on "address already in use" (see
``SeaweedFS.start`` and ``ProvgateServer.start``), and a server restarted on the same
port first waits until ``port_free`` says the old one is released.
"""

from __future__ import annotations

import socket


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now (the OS picks it)."""
    return free_ports(1, host)[0]


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """``count`` distinct free ports: all sockets stay bound until every port is chosen."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((host, 0))
            sockets.append(sock)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for sock in sockets:
            sock.close()


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    """True if ``port`` can be bound right now (e.g. a stopped server's port is released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True
