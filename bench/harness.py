"""The services a benchmark run needs: SeaweedFS, and provgate in front of it."""

from __future__ import annotations

from pathlib import Path

import boto3
import psutil
from botocore.config import Config

from tests.support.seaweedfs import SeaweedFS
from tests.support.server import ADMIN, ProvgateServer


class Services:
    """SeaweedFS plus a provgate process (s3 backend) over it, both on loopback."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.weed = SeaweedFS(workdir / "seaweedfs")
        self.gateway: ProvgateServer | None = None

    def __enter__(self) -> "Services":
        self.weed.start()
        self.gateway = ProvgateServer(self.workdir / "provgate", {
            "kind": "s3", "endpoint": self.weed.endpoint, "region": self.weed.region,
            "access_key": self.weed.access_key, "secret": self.weed.secret,
            "spool_dir": str(self.workdir / "spool"), "bucket_prefix": "gw-"})
        self.gateway.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.gateway is not None:
            self.gateway.stop()
        self.weed.stop()

    def client(self, target: str):
        """The same boto3 settings for both targets; only endpoint and keys differ."""
        if target == "direct":
            endpoint, key, secret = self.weed.endpoint, self.weed.access_key, self.weed.secret
        else:
            endpoint, key, secret = self.gateway.endpoint, ADMIN["access_key"], ADMIN["secret"]
        return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                            aws_access_key_id=key, aws_secret_access_key=secret,
                            config=Config(max_pool_connections=64,
                                          retries={"max_attempts": 1}))

    def gateway_process(self) -> psutil.Process:
        return psutil.Process(self.gateway.process.pid)

    def gateway_cpu_seconds(self) -> float:
        """User + system CPU of provgate and its worker processes (ExifTool) so far."""
        process = self.gateway_process()
        total = 0.0
        for member in [process, *process.children(recursive=True)]:
            try:
                times = member.cpu_times()
            except psutil.NoSuchProcess:
                continue
            total += times.user + times.system
        return total

    def gateway_rss_mib(self) -> float:
        return self.gateway_process().memory_info().rss / 2 ** 20
