"""The one-hop baselines: an nginx reverse proxy and a bare aiohttp pass-through, each in
front of the same SeaweedFS as provgate.

Both forward every request unchanged (method, raw path and query, headers with ``Host``
as the client sent it, so SigV4 still verifies at SeaweedFS) and stream bodies both ways;
neither authenticates nor looks at a byte. They are what one hop costs on this machine:
the floor of any gateway (DESIGN, "Quality bars").
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import psutil

from tests.support.polling import wait_for
from tests.support.ports import free_port, port_free

NGINX = "/usr/sbin/nginx"

# nginx with request and response buffering off, upstream keep-alive, HTTP/1.1 to the
# upstream and no body limit. One worker: provgate is one process with one event loop, so
# both proxies get the same share of the two cores.
NGINX_CONF = """\
worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    upstream seaweedfs {{
        server 127.0.0.1:{upstream_port};
        keepalive 64;
    }}
    server {{
        listen 127.0.0.1:{port};
        client_max_body_size 0;
        merge_slashes off;
        underscores_in_headers on;
        location / {{
            proxy_pass http://seaweedfs;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_request_buffering off;
            proxy_buffering off;
            proxy_read_timeout 600s;
            proxy_send_timeout 600s;
        }}
    }}
}}
"""


class _Proxy:
    """A proxy process on a random loopback port; ``endpoint`` once started."""

    process: subprocess.Popen | None = None
    port: int = 0

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def pid(self) -> int:
        return self.process.pid

    def _wait_listening(self, timeout: float = 15.0) -> None:
        wait_for(lambda: self.process.poll() is not None or not port_free(self.port),
                 timeout=timeout, what=f"{type(self).__name__} listening on {self.port}")
        if self.process.poll() is not None:
            raise RuntimeError(f"{type(self).__name__} exited: {self._log()}")

    def _log(self) -> str:
        return ""

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class NginxProxy(_Proxy):
    """nginx (the Debian package) in front of ``upstream_port``, its configuration and
    temporary files in ``workdir``."""

    def __init__(self, workdir: Path, upstream_port: int) -> None:
        self.dir = workdir
        self.upstream_port = upstream_port

    def start(self) -> "NginxProxy":
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        conf = self.dir / "nginx.conf"
        conf.write_text(NGINX_CONF.format(dir=self.dir, port=self.port,
                                          upstream_port=self.upstream_port))
        self.process = subprocess.Popen(
            [NGINX, "-p", str(self.dir), "-e", str(self.dir / "error.log"), "-c", str(conf)],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        self._wait_listening()
        return self

    def _log(self) -> str:
        path = self.dir / "error.log"
        return path.read_text()[-2000:] if path.exists() else ""


class BareProxy(_Proxy):
    """``python -m bench.bare_proxy`` in front of ``upstream``."""

    def __init__(self, workdir: Path, upstream: str) -> None:
        self.dir = workdir
        self.upstream = upstream

    def start(self) -> "BareProxy":
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.log_path = self.dir / "bare.log"
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bench.bare_proxy", "--port", str(self.port),
                 "--upstream", self.upstream],
                stdout=log, stderr=subprocess.STDOUT,
                cwd=Path(__file__).resolve().parent.parent)
        self._wait_listening()
        return self

    def _log(self) -> str:
        return self.log_path.read_text()[-2000:]


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its descendants so far (nginx: master and
    worker; provgate: the gateway and its ExifTool and policy workers)."""
    try:
        process = psutil.Process(pid)
        members = [process, *process.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0.0
    for member in members:
        try:
            times = member.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total

