"""The services a benchmark run needs: SeaweedFS, and in front of it provgate and the
two one-hop baselines (nginx, a bare aiohttp proxy)."""

from __future__ import annotations

from pathlib import Path

import boto3
import psutil
from botocore.config import Config

from bench.proxies import BareProxy, NginxProxy, cpu_seconds
from tests.support.seaweedfs import SeaweedFS
from tests.support.server import ADMIN, ProvgateServer


TARGETS = ("direct", "nginx", "bare", "gateway")


class Services:
    """SeaweedFS, and over it provgate (s3 backend), nginx and the bare aiohttp proxy,
    all on loopback. ``targets`` are the names ``client`` takes: straight to SeaweedFS
    (``direct``) or through one of the three."""

    targets = TARGETS

    def __init__(self, workdir: Path, policy_dirs: list[Path] | None = None) -> None:
        """``policy_dirs``: the policy set provgate enforces (default: none, an empty
        set; ``python -m bench --policies policies`` uses the shipped one)."""
        self.workdir = workdir
        self.policy_dirs = policy_dirs
        self.weed = SeaweedFS(workdir / "seaweedfs")
        self.gateway: ProvgateServer | None = None
        self.nginx = NginxProxy(workdir / "nginx", 0)
        self.bare = BareProxy(workdir / "bare", "")

    def __enter__(self) -> "Services":
        self.weed.start()
        self.gateway = ProvgateServer(self.workdir / "provgate", {
            "kind": "s3", "endpoint": self.weed.endpoint, "region": self.weed.region,
            "access_key": self.weed.access_key, "secret": self.weed.secret,
            "spool_dir": str(self.workdir / "spool"), "bucket_prefix": "gw-"},
            policies={"dirs": [str(d.resolve()) for d in self.policy_dirs]}
            if self.policy_dirs else {})
        self.gateway.start()
        self.nginx.upstream_port = self.weed.ports["s3"]
        self.nginx.start()
        self.bare.upstream = self.weed.endpoint
        self.bare.start()
        return self

    def __exit__(self, *exc) -> None:
        self.bare.stop()
        self.nginx.stop()
        if self.gateway is not None:
            self.gateway.stop()
        self.weed.stop()

    def client(self, target: str, read_timeout: float = 60):
        """The same boto3 settings for every target; only endpoint and keys differ.
        ``read_timeout``: boto3's (60 s by default, which is kept for the small objects)."""
        if target == "gateway":
            endpoint, key, secret = self.gateway.endpoint, ADMIN["access_key"], ADMIN["secret"]
        else:
            endpoint = {"direct": self.weed.endpoint, "nginx": self.nginx.endpoint,
                        "bare": self.bare.endpoint}[target]
            key, secret = self.weed.access_key, self.weed.secret
        return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                            aws_access_key_id=key, aws_secret_access_key=secret,
                            config=Config(max_pool_connections=64, read_timeout=read_timeout,
                                          retries={"max_attempts": 1}))

    def gateway_process(self) -> psutil.Process:
        return psutil.Process(self.gateway.process.pid)

    def gateway_cpu_seconds(self) -> float:
        """User + system CPU of provgate and its worker processes (ExifTool) so far."""
        return cpu_seconds(self.gateway.process.pid)

    def cpu_seconds(self) -> dict[str, float]:
        """CPU so far of each process that serves requests: the hop of each target
        (provgate with its workers, nginx master and worker, the bare proxy) and
        SeaweedFS (``weed``)."""
        return {"gateway": self.gateway_cpu_seconds(), "nginx": cpu_seconds(self.nginx.pid()),
                "bare": cpu_seconds(self.bare.pid()), "weed": cpu_seconds(self.weed.pid)}

    def gateway_rss_mib(self) -> float:
        return self.gateway_process().memory_info().rss / 2 ** 20

    def gateway_file_backed_mib(self) -> float:
        """The part of provgate's RSS that maps files (the catalog's LMDB map, shared
        libraries): pages the kernel can drop, unlike the heap."""
        return self.gateway_process().memory_info().shared / 2 ** 20
