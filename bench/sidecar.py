"""The folder door: drop-to-XMP latency, and many files dropped at once.

    python -m bench --sidecar                      # 50 single drops, then 2,000 at once
    python -m bench --sidecar --files 10000        # DESIGN's bar: 10,000 at once
    python -m bench --sidecar --backend s3         # the gateway over SeaweedFS

One ``provgate serve`` with a share watched in-process (the configuration `make run`
uses, stability window 1 s). Latency: a 1 MiB PNG with AUTOMATIC1111 parameters is
copied into the share (written to a temporary name, then renamed, as downloaders and
sync tools do) and the clock runs until its ``.xmp`` appears beside it; one drop at a
time. Batch: N small files written into the share at once; the clock runs from the first
write until the gateway's metrics count all N ingested; then every object is checked to
have exactly one version.
"""

from __future__ import annotations

import os
import statistics
import time
import uuid
from pathlib import Path

import boto3

from bench.workloads import png_body
from tests.support.metrics import metric, scrape
from tests.support.seaweedfs import SeaweedFS
from tests.support.server import ADMIN, ProvgateServer

INGESTED = "provgate_sidecar_files_ingested_total"


def run(workdir: Path, drops: int, files: int, backend: str) -> None:
    weed = None
    if backend == "s3":
        weed = SeaweedFS(workdir / "seaweedfs")
        weed.start()
        storage = {"kind": "s3", "endpoint": weed.endpoint, "region": weed.region,
                   "access_key": weed.access_key, "secret": weed.secret,
                   "spool_dir": str(workdir / "spool"), "bucket_prefix": "sc-"}
    else:
        storage = {"kind": "fs", "path": str(workdir / "data")}
    share = workdir / "share"
    share.mkdir(parents=True)
    bucket = f"drops-{uuid.uuid4().hex[:8]}"
    server = ProvgateServer(workdir / "provgate", storage, sections={"sidecar": {
        "state_dir": str(workdir / "state"), "stable_seconds": 1.0, "workers": 8,
        "shares": [{"path": str(share), "bucket": bucket, "identity": ADMIN["name"],
                    "quarantine": str(workdir / "quarantine"), "name": "bench"}]}})
    server.start()
    try:
        print(f"backend {backend}, stability window 1.0 s, 8 upload workers\n")
        latencies = _drop_latency(share, drops)
        q = statistics.quantiles(latencies, n=100, method="inclusive")
        print("| drop-to-XMP (1 MiB A1111 PNG, one at a time) | n | p50 s | p95 s | max s |")
        print("|---|---|---|---|---|")
        print(f"| | {len(latencies)} | {q[49]:.2f} | {q[94]:.2f} | {max(latencies):.2f} |\n")
        seconds, versions, once = _batch(server, share, bucket, files, drops)
        print("| files dropped at once | wall time s | files/s | objects | each exactly once |")
        print("|---|---|---|---|---|")
        print(f"| {files} | {seconds:.1f} | {files / seconds:.1f} | {versions} | {once} |")
    finally:
        server.stop()
        if weed is not None:
            weed.stop()


def _drop_latency(share: Path, drops: int) -> list[float]:
    body = png_body(1 << 20)
    latencies = []
    for n in range(drops):
        name = f"drop-{n:04d}.png"
        temp = share / (name + ".part")
        temp.write_bytes(body[:-16] + os.urandom(16))   # distinct content every time
        started = time.perf_counter()
        os.rename(temp, share / name)
        xmp = share / (name + ".xmp")
        while not xmp.exists():
            time.sleep(0.005)
        latencies.append(time.perf_counter() - started)
    return latencies


def _batch(server: ProvgateServer, share: Path, bucket: str, files: int,
           already: int) -> tuple[float, int, bool]:
    folder = share / "batch"
    started = time.perf_counter()
    for n in range(files):
        if n % 1000 == 0:
            (folder / f"{n // 1000:03d}").mkdir(parents=True, exist_ok=True)
        (folder / f"{n // 1000:03d}" / f"f{n:06d}.bin").write_bytes(
            n.to_bytes(8, "big") + os.urandom(1024))
    while metric(scrape(server.admin), INGESTED, share="bench") < already + files:
        time.sleep(0.25)
    seconds = time.perf_counter() - started
    s3 = boto3.client("s3", endpoint_url=server.endpoint, region_name="us-east-1",
                      aws_access_key_id=ADMIN["access_key"],
                      aws_secret_access_key=ADMIN["secret"])
    counts: dict[str, int] = {}
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix="batch/"):
        for v in page.get("Versions", []):
            counts[v["Key"]] = counts.get(v["Key"], 0) + 1
    objects = counts        # records are not listed: every entry is a dropped file
    once = len(objects) == files and set(objects.values()) == {1}
    return seconds, len(objects), once
