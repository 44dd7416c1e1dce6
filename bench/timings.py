"""How long the bounded things take: measured here, never asserted by the tests.

    python -m bench --timings [--repeat N]

The tests prove each of these ends and how (the error a client sees, nothing stored);
how soon is a property of the machine, so it is measured and kept in bench/RESULTS.md:

- policy reload: a policy file changed on disk until the new set is in force (default
  debounce), as the watcher of a running store sees it;
- a pathological CEL expression: the evaluation cut off at the time limit (0.5 s here),
  the next evaluation (a fresh worker), and the longest stall of another thread of the
  evaluating process meanwhile (the GIL is not held for the evaluation);
- a hung ExifTool: the read that times out (0.5 s limit) and the replaced process's
  first answer;
- hostile XML: a billion-laughs and a quadratic-blowup document refused by a provgate
  server (fs backend) — wall time of the refusal;
- the upstream away: a PUT through provgate (s3 backend, 3 s upstream timeout) while
  SeaweedFS is stopped, and while it is frozen (SIGSTOP) — wall time of the 503.

Each figure is the median and the maximum of ``--repeat`` runs, in milliseconds.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable

POLICY_TIMEOUT = 0.5
EXIFTOOL_TIMEOUT = 0.5
UPSTREAM_TIMEOUT = 3.0


def _row(label: str, samples: list[float]) -> None:
    ms = [s * 1000 for s in samples]
    print(f"| {label} | {statistics.median(ms):.0f} | {max(ms):.0f} | {len(ms)} |", flush=True)


def _timed(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def policy_reload(workdir: Path, repeat: int) -> None:
    from gateway.policy import PolicyStore, Sandbox
    from tests.support.policies import rule, write

    async def scenario(sandbox) -> list[float]:
        write(workdir, "a.toml", rule("r0"))
        store = PolicyStore([workdir], sandbox=sandbox)
        store.load_initial()
        store.start()
        samples = []
        try:
            await asyncio.sleep(1.0)                  # the watcher is in place
            for n in range(1, repeat + 1):
                started = time.perf_counter()
                write(workdir, "a.toml", rule(f"r{n}"))
                while [r.id for r in store.current.rules] != [f"r{n}"]:
                    await asyncio.sleep(0.005)
                samples.append(time.perf_counter() - started)
        finally:
            await store.close()
        return samples

    with Sandbox(workers=1, timeout=2.0) as sandbox:
        _row("policy change on disk → in force (default debounce)",
             asyncio.run(scenario(sandbox)))


def pathological_policy(workdir: Path, repeat: int) -> None:
    from gateway.policy import Sandbox, load_policies
    from tests.support.policies import context, rule, write

    slow = ("asset.keywords.map(a, asset.keywords.map(b, asset.keywords.map(c, "
            "asset.keywords.map(d, a + b + c + d)))).size() > 0")
    write(workdir, "slow.toml", rule("slow", validate=slow))
    cut, after, stalls = [], [], []
    with Sandbox(workers=1, timeout=POLICY_TIMEOUT) as sandbox:
        policies = load_policies([workdir], sandbox=sandbox)
        keywords = [f"k{i}" for i in range(300)]
        for _ in range(repeat):
            ticks: list[float] = []
            stop = threading.Event()

            def tick() -> None:
                while not stop.is_set():
                    ticks.append(time.perf_counter())
                    time.sleep(0.005)

            thread = threading.Thread(target=tick)
            thread.start()
            cut.append(_timed(lambda: policies.evaluate("intake", context(keywords=keywords))))
            stop.set()
            thread.join()
            stalls.append(max(b - a for a, b in zip(ticks, ticks[1:])))
            after.append(_timed(lambda: policies.evaluate("intake", context(keywords=["x"]))))
    _row(f"pathological CEL expression cut off ({POLICY_TIMEOUT} s limit)", cut)
    _row("next evaluation (fresh worker)", after)
    _row("longest stall of another thread meanwhile", stalls)


def hung_exiftool(workdir: Path, repeat: int) -> None:
    from PIL import Image

    from gateway.provenance import ExifToolPool, ExifToolTimeout

    image = workdir / "ok.png"
    Image.new("RGB", (8, 8), "red").save(image)
    master, slave = os.openpty()                   # reading a tty blocks: a hung ExifTool
    hung, replaced = [], []
    try:
        with ExifToolPool(size=1, timeout=EXIFTOOL_TIMEOUT) as pool:
            for _ in range(repeat):
                def read_hung() -> None:
                    try:
                        pool.read_sync(os.ttyname(slave))
                    except ExifToolTimeout:
                        return
                    raise RuntimeError("the hung read did not time out")
                hung.append(_timed(read_hung))
                replaced.append(_timed(lambda: pool.read_sync(image)))
    finally:
        os.close(slave)
        os.close(master)
    _row(f"hung ExifTool read ends ({EXIFTOOL_TIMEOUT} s limit)", hung)
    _row("first read on the replaced process", replaced)


def hostile_xml(workdir: Path, repeat: int) -> None:
    from tests.conftest import client
    from tests.support.hostile import send, sign_v4
    from tests.support.server import ProvgateServer
    from tests.test_hostile_xml import BILLION_LAUGHS

    delete = b"<Delete><Object><Key>%s</Key></Object></Delete>"
    documents = {
        "billion laughs": BILLION_LAUGHS + delete % b"&lol9;",
        "quadratic blowup": (b'<?xml version="1.0"?>\n<!DOCTYPE Delete [<!ENTITY a "'
                             + b"A" * 100_000 + b'">]>\n' + delete % (b"&a;" * 20_000)),
    }
    server = ProvgateServer(workdir / "provgate", {"kind": "fs", "path": str(workdir / "data")})
    server.start()
    try:
        client(server.endpoint).create_bucket(Bucket="xml")
        target = "/xml?delete="
        for label, document in documents.items():
            headers = sign_v4(server.endpoint, "POST", target, body=document, headers={
                "Content-MD5": base64.b64encode(hashlib.md5(document).digest()).decode()})
            samples = []

            def refused() -> None:
                reply = send(server, "POST", target, headers=headers, body=document)
                if reply.status != 400:
                    raise RuntimeError(f"{label}: not refused as malformed: {reply}")

            for _ in range(repeat):
                samples.append(_timed(refused))
            _row(f"{label}: DeleteObjects refused", samples)
    finally:
        server.stop()


def upstream_away(workdir: Path, repeat: int) -> None:
    from botocore.exceptions import ClientError

    from tests.conftest import client
    from tests.support.seaweedfs import SeaweedFS
    from tests.support.server import ProvgateServer

    weed = SeaweedFS(workdir / "seaweedfs")
    weed.start()
    server = ProvgateServer(workdir / "gateway", {
        "kind": "s3", "endpoint": weed.endpoint, "region": weed.region,
        "access_key": weed.access_key, "secret": weed.secret, "bucket_prefix": "tm-",
        "timeout": UPSTREAM_TIMEOUT, "spool_dir": str(workdir / "spool")})
    server.start()
    s3 = client(server.endpoint, read_timeout=120)
    s3.create_bucket(Bucket="away")

    def refused_put() -> None:
        try:
            s3.put_object(Bucket="away", Key="k", Body=b"x" * 1000)
        except ClientError:
            return
        raise RuntimeError("the PUT was not refused")

    try:
        stopped, frozen = [], []
        weed.stop()
        for _ in range(repeat):
            stopped.append(_timed(refused_put))
        weed.start()
        weed.pause()
        try:
            for _ in range(repeat):
                frozen.append(_timed(refused_put))
        finally:
            weed.resume()
        _row(f"PUT with SeaweedFS stopped → 503 ({UPSTREAM_TIMEOUT:g} s upstream timeout)", stopped)
        _row(f"PUT with SeaweedFS frozen → 503 ({UPSTREAM_TIMEOUT:g} s upstream timeout)", frozen)
    finally:
        server.stop()
        weed.stop()


def run(workdir: Path, repeat: int) -> None:
    print("| what | median ms | max ms | runs |")
    print("|---|---|---|---|")
    for measure in (policy_reload, pathological_policy, hung_exiftool, hostile_xml,
                    upstream_away):
        folder = Path(tempfile.mkdtemp(prefix=measure.__name__ + "-", dir=workdir))
        measure(folder, repeat)
