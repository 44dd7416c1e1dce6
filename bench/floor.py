"""What the upstream itself charges for each request a provgate write or read makes.

    python -m bench.floor                  # 40 of each, 3 interleaved rounds
    python -m bench.floor --count 80 --rounds 5 --copy-mib 64

No gateway runs here: provgate's own S3 client (``gateway.wire.client``) sends, straight
to a SeaweedFS on loopback, the requests the gateway sends for one 1 MiB PNG PUT (the
object from its spool file with Content-MD5, then the record, then the read-back HEAD)
and for one GET, plus the alternatives that come up when the write path is redesigned:

- the record written with and without ``If-None-Match: *`` (what a replacement needs
  and a new version's first record does not);
- the object streamed as a one-part multipart upload (CreateMultipartUpload, UploadPart,
  CompleteMultipartUpload), which would let the body go upstream while it arrives and
  still become visible only once intake has judged it;
- a server-side CopyObject next to a PUT of the same size (``--copy-mib``): how an
  assembled upload reaches the client's key after intake.

Each operation runs ``--count`` times per round; rounds rotate the order. The table has
p50 latency and SeaweedFS's CPU per request (user + system of all its processes), the
floor under anything provgate adds: a PUT through provgate can be no faster than the
sum of its serial upstream requests, plus receiving the body.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import re
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

from bench.proxies import cpu_seconds
from bench.workloads import png_body
from gateway.wire import xmldoc
from gateway.wire.client import FileSection, S3Client
from tests.support.seaweedfs import SeaweedFS

RECORD = b"<x:xmpmeta xmlns:x='adobe:ns:meta/'>" + b" " * 3000 + b"</x:xmpmeta>"
_UPLOAD_ID = re.compile(rb"<UploadId>(.*?)</UploadId>")

Operation = Callable[[int], Awaitable[None]]


class Floor:
    """The operations, against one versioned bucket (provgate keeps upstream buckets
    versioned), with the files they send."""

    def __init__(self, client: S3Client, workdir: Path, copy_mib: int, readable: int) -> None:
        """``readable``: how many objects ``prepare`` writes for HEAD and GET to read."""
        self.client = client
        self.readable = readable
        self.bucket = f"floor-{uuid.uuid4().hex[:8]}"
        body = png_body(1 << 20)
        self.object = workdir / "object.png"
        self.object.write_bytes(body)
        self.md5 = base64.b64encode(hashlib.md5(body).digest()).decode()
        self.big = workdir / "big.bin"
        with open(self.big, "wb") as fh:
            fh.truncate(copy_mib << 20)   # a sparse file: the bytes are not the point
        self.big_size = copy_mib << 20

    async def prepare(self) -> None:
        await self.client.send("PUT", self.bucket)
        await self.client.send("PUT", self.bucket, query={"versioning": ""},
                               body=xmldoc.versioning_document())
        if self.big_size:
            await self.client.send("PUT", self.bucket, "copy-source",
                                   body=FileSection(self.big, 0, self.big_size), resend=False)
        for i in range(self.readable):
            await self.put_object(i, name="read")

    def operations(self) -> dict[str, Operation]:
        """The single requests, by the name the table shows (the one-part upload is
        ``multipart``)."""
        return {
            "PUT object 1 MiB (spool file, Content-MD5)": self.put_object,
            "PUT record 3 KiB": self.put_record,
            "PUT record 3 KiB, If-None-Match: *": self.put_record_if_none_match,
            "HEAD object (read-back)": self.head,
            "GET object 1 MiB": self.get,
        }

    def big_operations(self) -> dict[str, Operation]:
        mib = self.big_size >> 20
        return {f"PUT {mib} MiB": self.put_big,
                f"CopyObject {mib} MiB to another key": self.copy_big}

    async def put_object(self, i: int, name: str = "object") -> None:
        await self.client.send("PUT", self.bucket, f"{name}-{i}",
                               headers={"Content-MD5": self.md5},
                               body=FileSection(self.object, 0, self.object.stat().st_size),
                               resend=False)

    async def put_record(self, i: int) -> None:
        await self.client.send("PUT", self.bucket, f"!pg/records/{uuid.uuid4().hex}/{i}",
                               body=RECORD)

    async def put_record_if_none_match(self, i: int) -> None:
        await self.client.send("PUT", self.bucket, f"!pg/records/{uuid.uuid4().hex}/{i}",
                               body=RECORD, headers={"If-None-Match": "*"})

    async def head(self, i: int) -> None:
        await self.client.send("HEAD", self.bucket, f"read-{i % self.readable}")

    async def get(self, i: int) -> None:
        await self.client.send("GET", self.bucket, f"read-{i % self.readable}")

    async def put_big(self, i: int) -> None:
        await self.client.send("PUT", self.bucket, f"big-{i}",
                               body=FileSection(self.big, 0, self.big_size), resend=False)

    async def copy_big(self, i: int) -> None:
        await self.client.send("PUT", self.bucket, f"copy-{i}", headers={
            "x-amz-copy-source": f"/{self.bucket}/copy-source"})

    async def multipart(self, i: int) -> tuple[float, float, float]:
        """One object as a one-part upload: the seconds of each of the three requests."""
        key = f"multipart-{i}"
        started = time.perf_counter()
        reply = await self.client.send("POST", self.bucket, key, query={"uploads": ""})
        upload_id = _UPLOAD_ID.search(reply.body).group(1).decode()
        created = time.perf_counter()
        part = await self.client.send(
            "PUT", self.bucket, key, query={"partNumber": "1", "uploadId": upload_id},
            body=FileSection(self.object, 0, self.object.stat().st_size), resend=False)
        sent = time.perf_counter()
        document = ("<CompleteMultipartUpload><Part><PartNumber>1</PartNumber>"
                    f'<ETag>"{part.etag}"</ETag></Part></CompleteMultipartUpload>').encode()
        await self.client.send("POST", self.bucket, key, query={"uploadId": upload_id},
                               body=document)
        return created - started, sent - created, time.perf_counter() - sent


MULTIPART_STEPS = ("Create", "UploadPart", "Complete")


async def run(weed: SeaweedFS, workdir: Path, count: int, rounds: int,
              copy_mib: int) -> dict[str, tuple[list[float], float, int]]:
    """Per operation: latencies (ms), SeaweedFS CPU seconds, requests."""
    client = S3Client(weed.endpoint, weed.region, weed.access_key, weed.secret, 60.0)
    await client.start()
    floor = Floor(client, workdir, copy_mib, readable=count)
    await floor.prepare()
    single = floor.operations()
    big = floor.big_operations() if copy_mib else {}
    results: dict[str, tuple[list[float], float, int]] = {
        name: ([], 0.0, 0) for name in [*single, *(f"one-part multipart 1 MiB: {step}"
                                                   for step in MULTIPART_STEPS), *big]}
    names = [*single, "multipart", *big]
    try:
        for r in range(rounds):
            for name in names[r % len(names):] + names[:r % len(names)]:
                # The big ones are few: they are there to show how the cost grows.
                n = max(2, count // 10) if name in big else count
                cpu_before = cpu_seconds(weed.process.pid)
                if name == "multipart":
                    phases = [await floor.multipart(r * count + i) for i in range(n)]
                    # SeaweedFS's CPU is known for the three together only: split evenly.
                    cpu = (cpu_seconds(weed.process.pid) - cpu_before) / len(MULTIPART_STEPS)
                    for index, step in enumerate(MULTIPART_STEPS):
                        key = f"one-part multipart 1 MiB: {step}"
                        times, total, done = results[key]
                        times += [p[index] * 1000 for p in phases]
                        results[key] = (times, total + cpu, done + n)
                    continue
                operation = single.get(name) or big[name]
                times, total, done = results[name]
                for i in range(n):
                    started = time.perf_counter()
                    await operation(r * count + i)
                    times.append((time.perf_counter() - started) * 1000)
                results[name] = (times, total + cpu_seconds(weed.process.pid) - cpu_before,
                                 done + n)
    finally:
        await client.close()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.floor",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=40, help="requests per operation and round (40)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (3)")
    parser.add_argument("--copy-mib", type=int, default=64,
                        help="size of the PUT / CopyObject pair in MiB (64; 0: skip it)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="provgate-floor-") as tmp:
        workdir = Path(tmp)
        weed = SeaweedFS(workdir / "seaweedfs")
        weed.start()
        try:
            results = asyncio.run(run(weed, workdir, args.count, args.rounds, args.copy_mib))
        finally:
            weed.stop()
    print(f"# upstream floor — {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
          f"SeaweedFS straight, {args.rounds} rounds of {args.count}\n")
    print("| request | p50 ms | SeaweedFS CPU ms/request |")
    print("|---|---|---|")
    for name, (times, cpu, done) in results.items():
        if done:
            print(f"| {name} | {statistics.median(times):.2f} | {cpu * 1000 / done:.2f} |")
    print("\n(one-part multipart: SeaweedFS CPU is measured for the three requests together "
          "and shown split evenly)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
