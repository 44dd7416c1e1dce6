"""Start a real ``provgate serve`` process for tests, on free loopback ports."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.polling import wait_for
from tests.support.ports import port_free

ROOT = Path(__file__).resolve().parents[2]
BIND_ATTEMPTS = 3           # starts retried when a pinned port is taken
# Seconds for a process to announce it is ready. `make test` runs several workers on a
# small machine, each starting servers under coverage: a start can take far longer than
# alone, and only a process that never gets there should fail.
START_TIMEOUT = 60.0

ADMIN = {"name": "tester", "access_key": "AKIATESTADMIN", "secret": "test-admin-secret", "role": "admin"}
WRITER = {"name": "writer", "access_key": "AKIATESTWRITER", "secret": "test-writer-secret", "role": "writer"}
READER = {"name": "reader", "access_key": "AKIATESTREADER", "secret": "test-reader-secret", "role": "reader"}
SCOPED = {"name": "scoped", "access_key": "AKIATESTSCOPED", "secret": "test-scoped-secret",
          "role": "writer", "buckets": ["scoped-only"]}
# A DAM tool that syncs buckets to folders: it sees each object's XMP record in listings.
DAM = {"name": "dam", "access_key": "AKIATESTDAM", "secret": "test-dam-secret",
       "role": "admin", "xmp": "listed"}
IDENTITIES = [ADMIN, WRITER, READER, SCOPED, DAM]


def toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _table(name: str, values: dict, header: str) -> list[str]:
    """One TOML table: its plain keys, then sub-tables and arrays of tables."""
    lines = [header]
    nested = []
    for key, value in values.items():
        if isinstance(value, dict):
            nested += _table(f"{name}.{key}", value, f"[{name}.{key}]")
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            for item in value:
                nested += _table(f"{name}.{key}", item, f"[[{name}.{key}]]")
        else:
            lines.append(f"{key} = {toml_value(value)}")
    return lines + [""] + nested


def render_config(sections: dict[str, dict], identities: list[dict]) -> str:
    lines = []
    for name, values in sections.items():
        lines += _table(name, values, f"[{name}]")
    for identity in identities:
        lines += _table("identities", identity, "[[identities]]")
    return "\n".join(lines)


@dataclass
class ProvgateProcess:
    """A ``provgate`` command run for a test: its output kept, stopped by PID."""

    process: subprocess.Popen | None = field(default=None, kw_only=True)
    output: list[str] = field(default_factory=list, kw_only=True)
    returncode: int | None = field(default=None, kw_only=True)  # once stopped or failed

    def launch(self, args: list[str], on_line, env: dict | None = None,
               timeout: float = START_TIMEOUT) -> None:
        """Run ``provgate ARGS``; ``on_line(line)`` sees every output line and returns
        True once the process announced it is ready."""
        self.output = []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gateway.cli", *args], cwd=ROOT, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, env={**os.environ, **(env or {})})
        ready = threading.Event()
        settled = threading.Event()          # ready, or the output ended (it exited)

        def pump() -> None:
            for line in self.process.stdout:
                self.output.append(line)
                if on_line(line):
                    ready.set()
                    settled.set()
            settled.set()

        threading.Thread(target=pump, daemon=True).start()
        settled.wait(timeout)
        if not ready.is_set():
            self.stop()
            raise RuntimeError(f"provgate {args[0]} did not start:\n" + "".join(self.output))

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int | None:
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        code = self.process.returncode
        self.returncode = code
        self.process = None
        return code

    def log(self) -> str:
        return "".join(self.output)


@dataclass
class ProvgateServer(ProvgateProcess):
    """A provgate process; ``endpoint`` and ``admin`` are its base URLs once started."""

    workdir: Path
    storage: dict
    server: dict = field(default_factory=dict)
    identities: list[dict] = field(default_factory=lambda: list(IDENTITIES))
    env: dict = field(default_factory=dict)
    sections: dict = field(default_factory=dict)   # more config sections, e.g. sidecar
    # [policies] settings. Test servers default to an empty policy directory of their
    # own (``policy_dir``): tests that want guardrails write files there or point
    # ``dirs`` elsewhere (e.g. the shipped ``policies/``).
    policies: dict = field(default_factory=dict)
    endpoint: str = ""
    admin: str = ""
    admin_listen: str = "127.0.0.1:0"

    @property
    def config_path(self) -> Path:
        return self.workdir / "provgate.toml"

    @property
    def policy_dir(self) -> Path:
        return self.workdir / "policies"

    def write_config(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        sections = {"server": {"listen": "127.0.0.1:0", **self.server},
                    "admin": {"listen": self.admin_listen},
                    "storage": self.storage,
                    "catalog": {"path": str(self.workdir / "catalog")},
                    "policies": {"dirs": [str(self.policy_dir)], "workers": 1,
                                 "poll_interval": 2.0, **self.policies}, **self.sections}
        self.policy_dir.mkdir(exist_ok=True)
        self.config_path.write_text(render_config(sections, self.identities))

    def start(self, timeout: float = START_TIMEOUT) -> "ProvgateServer":
        self.write_config()

        def on_line(line: str) -> bool:
            if line.startswith("provgate: S3 endpoint "):
                self.endpoint = line.split()[-1]
            elif line.startswith("provgate: admin "):
                self.admin = line.split()[-1]
                return True
            return False

        # Ports given in the config (a restart on the port a client knows) can still be
        # held for a moment, or taken by another process: wait until they bind, retry.
        listens = (self.server.get("listen", ""), self.admin_listen)
        pinned = [int(port) for port in (listen.rpartition(":")[2] for listen in listens)
                  if port not in ("", "0")]
        for attempt in range(BIND_ATTEMPTS):
            if pinned:
                wait_for(lambda: all(port_free(p) for p in pinned), 30,
                         f"ports {pinned} to be free")
            try:
                self.launch(["serve", "--config", str(self.config_path)], on_line, self.env,
                            timeout)
                return self
            except RuntimeError:
                if "address already in use" not in self.log() or attempt == BIND_ATTEMPTS - 1:
                    raise
        return self

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int | None:
        # Imported here: the client module names this module's identities.
        from tests.support.clients import forget
        forget(self.endpoint)
        return super().stop(sig, timeout)

    def kill(self) -> None:
        self.stop(signal.SIGKILL)


def readiness(server) -> tuple[int, dict]:
    """``GET /readyz`` of a server's admin listener: (status, JSON body)."""
    try:
        with urllib.request.urlopen(server.admin + "/readyz", timeout=10) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())
