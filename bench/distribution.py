"""Distribution: approve-to-COMPLETED latency, and 1,000 approvals drained.

    python -m bench --distribution                     # 50 timed approvals, 1,000 drained
    python -m bench --distribution --approvals 200 --drain 2000

Two SeaweedFS on loopback: the storage behind provgate (s3 backend) and a second one as
the CDN origin target (``kind = "s3"``, key template ``{brand}/{sku}/{channel}/{basename}``,
no embedding: the copy is the stored bytes). Objects are 1 MiB PNGs with generator
parameters, written through provgate (full intake) before any clock runs.

Latency: one approval at a time — a reviewer's ``POST
/api/v1/reviews/{bucket}/{key}/decisions`` (the review stage records the decision in the
record, then hands the version to the distributor) — and the clock runs until HEAD of the
version answers ``x-amz-replication-status: COMPLETED`` (polled every 5 ms).
Drain: N versions approved through the same API, 8 reviewers' calls at a time; the clock
runs from the first approval until the status API counts every job done ("approved in s"
is how long the N decisions took to record and queue).
"""

from __future__ import annotations

import statistics
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
from botocore.config import Config

from bench.workloads import png_body
from tests.support.seaweedfs import SeaweedFS
from tests.support.admin import admin_call
from tests.support.server import ADMIN, IDENTITIES, ProvgateServer

# The reviewer whose approvals are timed (the server's other identities are the tests').
REVIEWER = {"name": "bench-reviewer", "access_key": "AKIABENCHREVIEWER",
            "secret": "bench-reviewer-secret", "role": "reviewer"}
META = {"brand": "acme", "channel": "web", "prompt": "a red fox in snow",
        "source-type": "trainedAlgorithmicMedia"}


def _client(endpoint: str, access_key: str, secret: str):
    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id=access_key, aws_secret_access_key=secret,
                        config=Config(retries={"max_attempts": 2}, max_pool_connections=16))


def _approve(server: ProvgateServer, bucket: str, key: str, version_id: str) -> None:
    """A reviewer's approval through the admin API; returns once it is recorded and the
    version's deliveries are queued."""
    code, answer, _ = admin_call(server, "POST", f"/api/v1/reviews/{bucket}/{key}/decisions",
                                 {"decision": "approve", "version_id": version_id},
                                 identity=REVIEWER)
    if code != 200 or answer["status"] != "approved":
        raise RuntimeError(f"{key}: approval answered {code} {answer}")


def _get(server: ProvgateServer, path: str) -> dict:
    code, answer, _ = admin_call(server, "GET", path)
    if code != 200:
        raise RuntimeError(f"GET {path} answered {code} {answer}")
    return answer


def _upload(s3, bucket: str, body: bytes, count: int, prefix: str) -> dict[str, str]:
    def put(n: int) -> tuple[str, str]:
        key = f"{prefix}/img{n:05d}.png"
        return key, s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="image/png",
                                  Metadata={**META, "sku": f"SKU-{n}"})["VersionId"]
    with ThreadPoolExecutor(8) as pool:
        return dict(pool.map(put, range(count)))


def run(workdir: Path, approvals: int, drain: int) -> None:
    origin = SeaweedFS(workdir / "storage")
    cdn = SeaweedFS(workdir / "cdn")
    origin.start()
    cdn.start()
    policies = workdir / "policies"
    policies.mkdir(parents=True)
    (policies / "routes.toml").write_text(
        "[[route]]\nid = \"cdn\"\nwhen = 'review.status == \"approved\" && has(asset.sku)'\n"
        "targets = [\"cdn\"]\n")
    server = ProvgateServer(workdir / "provgate", {
        "kind": "s3", "endpoint": origin.endpoint, "region": origin.region,
        "access_key": origin.access_key, "secret": origin.secret,
        "spool_dir": str(workdir / "spool"), "bucket_prefix": "bd-"},
        policies={"dirs": [str(policies)]}, identities=[*IDENTITIES, REVIEWER], sections={
            "distribution": {"workers": 8, "poll_interval": 0.5},
            "targets": {"cdn": {"kind": "s3", "endpoint": cdn.endpoint,
                                "access_key": cdn.access_key, "secret": cdn.secret,
                                "bucket": f"cdn-{uuid.uuid4().hex[:8]}",
                                "key_template": "{brand}/{sku}/{channel}/{basename}"}}})
    server.start()
    try:
        s3 = _client(server.endpoint, ADMIN["access_key"], ADMIN["secret"])
        bucket = f"dist-{uuid.uuid4().hex[:8]}"
        s3.create_bucket(Bucket=bucket)
        body = png_body(1 << 20)

        print(f"\n## approve to COMPLETED, one at a time ({approvals} approvals, "
              f"{len(body) / 2**20:.2f} MiB PNG, s3 target)\n")
        timed = _upload(s3, bucket, body, approvals, "timed")
        latencies = []
        for key, version in timed.items():
            started = time.perf_counter()
            _approve(server, bucket, key, version)
            while True:
                head = s3.head_object(Bucket=bucket, Key=key, VersionId=version)
                status = head["ResponseMetadata"]["HTTPHeaders"].get("x-amz-replication-status")
                if status == "COMPLETED":
                    break
                if status == "FAILED":
                    raise RuntimeError(f"{key}: delivery failed")
                time.sleep(0.005)
            latencies.append((time.perf_counter() - started) * 1000)
        latencies.sort()
        p95 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.95))]
        print("| approvals | p50 ms | p95 ms | max ms |")
        print("|---|---|---|---|")
        print(f"| {approvals} | {statistics.median(latencies):.0f} | {p95:.0f} | "
              f"{latencies[-1]:.0f} |")

        print(f"\n## {drain} approvals drained (1 MiB PNGs, s3 target, 8 workers)\n")
        started = time.perf_counter()
        batch = _upload(s3, bucket, body, drain, "drain")
        print(f"(uploaded {drain} through intake in {time.perf_counter() - started:.0f} s)")
        started = time.perf_counter()
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda item: _approve(server, bucket, *item), batch.items()))
        queued = time.perf_counter() - started
        while True:
            done = _get(server, "/api/v1/distribution/status?target=cdn")["targets"]["cdn"][
                "states"].get("done", 0)
            if done >= approvals + drain:
                break
            time.sleep(0.25)
        seconds = time.perf_counter() - started
        print("| approvals | approved in s | drained in s | deliveries/s | MiB/s |")
        print("|---|---|---|---|---|")
        print(f"| {drain} | {queued:.1f} | {seconds:.1f} | {drain / seconds:.1f} | "
              f"{drain * len(body) / 2**20 / seconds:.1f} |")
    finally:
        server.stop()
        cdn.stop()
        origin.stop()
