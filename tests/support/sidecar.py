"""A real ``provgate watch`` process for tests, and helpers to watch it work."""

from __future__ import annotations

import signal
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.metrics import metric, scrape
from tests.support.polling import wait_for
from tests.support.server import IDENTITIES, START_TIMEOUT, ProvgateProcess, render_config


def share(root: Path, bucket: str, identity: str = "tester", **extra) -> dict:
    """A ``[[sidecar.shares]]`` table whose folders live under ``root``."""
    (root / "share").mkdir(parents=True, exist_ok=True)
    return {"path": str(root / "share"), "bucket": bucket, "identity": identity,
            "quarantine": str(root / "quarantine"), **extra}


def sidecar_section(root: Path, shares: list[dict], **settings) -> dict:
    return {"state_dir": str(root / "state"), "stable_seconds": 0.5,
            "retry_max_seconds": 1.0, **settings, "shares": shares}


@dataclass
class WatchProcess(ProvgateProcess):
    """``provgate watch`` with its own config; ``metrics_url`` once started."""

    workdir: Path
    sidecar: dict
    identities: list[dict] = field(default_factory=lambda: list(IDENTITIES))
    metrics_url: str = ""

    @property
    def config_path(self) -> Path:
        return self.workdir / "watch.toml"

    def write_config(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        sections = {"storage": {"kind": "fs", "path": str(self.workdir / "unused")},
                    "sidecar": {"metrics_listen": "127.0.0.1:0", **self.sidecar}}
        self.config_path.write_text(render_config(sections, self.identities))

    def start(self, timeout: float = START_TIMEOUT) -> "WatchProcess":
        self.write_config()

        def on_line(line: str) -> bool:
            if line.startswith("provgate: sidecar metrics "):
                self.metrics_url = line.split()[-1]
            return line.startswith("provgate: sidecar watching ")

        self.launch(["watch", "--config", str(self.config_path)], on_line, timeout=timeout)
        return self

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 45.0) -> int | None:
        return super().stop(sig, timeout)

    def counter(self, name: str, **labels) -> float:
        return metric(scrape(self.metrics_url), name, **labels)


def wait_for_metric(url: str, name: str, at_least: float, timeout: float = 60.0, log=None,
                    **labels) -> None:
    wait_for(lambda: metric(scrape(url), name, **labels) >= at_least, timeout,
               f"{name}{labels} >= {at_least}", log)


def versions(s3, bucket: str) -> dict[str, int]:
    """Key -> number of versions (delete markers not counted)."""
    counts: dict[str, int] = {}
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        for v in page.get("Versions", []):
            counts[v["Key"]] = counts.get(v["Key"], 0) + 1
    return counts


def objects(s3, bucket: str) -> dict[str, int]:
    """Current keys of a bucket (an empty dict when it does not exist yet)."""
    try:
        pages = list(s3.get_paginator("list_objects_v2").paginate(Bucket=bucket))
    except s3.exceptions.NoSuchBucket:
        return {}
    return {o["Key"]: o["Size"] for p in pages for o in p.get("Contents", [])}
