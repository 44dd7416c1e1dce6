"""Workloads: many small objects at a concurrency, and one large object."""

from __future__ import annotations

import io
import os
import statistics
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass


@dataclass
class Result:
    ops: int
    seconds: float
    bytes: int
    latencies: list[float]
    peak_rss_mib: float = 0.0

    def __add__(self, other: "Result") -> "Result":
        """Two runs of one workload as one (interleaved rounds)."""
        return Result(self.ops + other.ops, self.seconds + other.seconds,
                      self.bytes + other.bytes, self.latencies + other.latencies,
                      max(self.peak_rss_mib, other.peak_rss_mib))

    @property
    def ops_per_s(self) -> float:
        return self.ops / self.seconds

    @property
    def mib_per_s(self) -> float:
        return self.bytes / self.seconds / 2 ** 20

    def _quantile(self, q: float) -> float:
        if len(self.latencies) < 2:
            return (self.latencies or [0.0])[0] * 1000
        return statistics.quantiles(self.latencies, n=100, method="inclusive")[int(q * 100) - 1] * 1000

    @property
    def p50_ms(self) -> float:
        return self._quantile(0.50)

    @property
    def p99_ms(self) -> float:
        return self._quantile(0.99)


def _bucket(client, tag: str) -> str:
    name = f"bench-{tag}-{uuid.uuid4().hex[:8]}"
    client.create_bucket(Bucket=name)
    return name


_prepared: dict[tuple, tuple[str, list[str]]] = {}


def png_body(size: int) -> bytes:
    """A valid PNG of about ``size`` bytes with AUTOMATIC1111 parameters, as a generator
    writes it: what intake's extraction really has to read."""
    from PIL import Image, PngImagePlugin
    side = int((size / 3) ** 0.5)
    image = Image.frombytes("RGB", (side, side), os.urandom(side * side * 3))
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "a red fox in snow\nNegative prompt: blurry\nSteps: 28, "
                  "Sampler: DPM++ 2M, CFG scale: 6.5, Seed: 42, Size: 1024x1024, Model: sdxl")
    out = io.BytesIO()
    image.save(out, "PNG", pnginfo=info, compress_level=0)
    return out.getvalue()


def object_workload(client, op: str, size: int, count: int, concurrency: int,
                    target: str, body: bytes | None = None, round_: int = 0) -> Result:
    """PUT ``count`` objects of ``size`` bytes, or GET the ones the PUT run of the same
    round wrote."""
    body = body if body is not None else os.urandom(size)
    if op == "PUT":
        bucket = _bucket(client, target)
        keys = [f"o/{round_:02d}/{n:06d}" for n in range(count)]
        _prepared[(size, concurrency, target, round_)] = (bucket, keys)

        def one(key: str) -> None:
            client.put_object(Bucket=bucket, Key=key, Body=body)
    else:
        bucket, keys = _prepared[(size, concurrency, target, round_)]

        def one(key: str) -> None:
            client.get_object(Bucket=bucket, Key=key)["Body"].read()

    latencies: list[float] = []
    lock = threading.Lock()

    def timed(key: str) -> None:
        start = time.perf_counter()
        one(key)
        with lock:
            latencies.append(time.perf_counter() - start)

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(timed, keys))
    elapsed = time.perf_counter() - started
    return Result(len(keys), elapsed, len(keys) * size, latencies)


class _Generated(io.RawIOBase):
    """``size`` pseudo-random bytes produced on the fly, never held in memory."""

    def __init__(self, size: int) -> None:
        self.remaining = size
        self.block = os.urandom(1 << 20)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = min(len(buffer), self.remaining, len(self.block))
        buffer[:n] = self.block[:n]
        self.remaining -= n
        return n


class _Sink(io.RawIOBase):
    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        return len(data)


def big_object(services, target: str, op: str, size: int) -> Result:
    """One object of ``size`` bytes up (boto3 multipart) or down (ranged GETs). The read
    timeout is 10 minutes: provgate answers CompleteMultipartUpload only after intake has
    read the assembled object (the table reports how long that takes, not a timeout)."""
    client = services.client(target, read_timeout=600)
    key = (target, size)
    if op == "PUT":
        bucket = _bucket(client, f"big-{target}")
        _prepared[key] = (bucket, ["big.bin"])
    bucket, _ = _prepared[key]
    peak = [0.0]
    done = threading.Event()

    def sample() -> None:
        process = services.gateway_process()
        while not done.is_set():
            peak[0] = max(peak[0], process.memory_info().rss / 2 ** 20)
            done.wait(0.05)

    sampler = threading.Thread(target=sample)
    sampler.start()
    started = time.perf_counter()
    try:
        if op == "PUT":
            client.upload_fileobj(io.BufferedReader(_Generated(size), 1 << 20), bucket, "big.bin")
        else:
            client.download_fileobj(bucket, "big.bin", _Sink())
    finally:
        done.set()
        sampler.join()
    elapsed = time.perf_counter() - started
    return Result(1, elapsed, size, [elapsed], peak[0])
