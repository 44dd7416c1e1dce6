"""Benchmark provgate against the SeaweedFS behind it, side by side in one run.

    python -m bench                       # the full run (about 5-10 minutes on 2 cores)
    python -m bench --quick               # small counts, no 2 GiB object
    python -m bench --big-gib 0 --count 200
    python -m bench --sidecar             # the folder door (bench/sidecar.py)

It starts a SeaweedFS and a provgate (s3 backend over that SeaweedFS) on loopback, then
runs each workload twice with the same boto3 client settings — once straight to SeaweedFS,
once through provgate — and prints throughput, p50/p99 latency and the ratio. Machines
here are noisy, so only ratios measured in the same run mean anything.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

from bench.harness import Services
from bench.workloads import big_object, object_workload, png_body

SIZES = {"64KiB": 64 * 1024, "1MiB": 1024 * 1024}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=400, help="objects per workload (default 400)")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--big-gib", type=float, default=2.0,
                        help="size of the single large object in GiB; 0 skips it (default 2)")
    parser.add_argument("--quick", action="store_true", help="--count 60 --big-gib 0")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--png-only", action="store_true",
                        help="only PUT a 1 MiB PNG at concurrency 1 (the cost of intake: "
                             "compare the gateway's p50 with and without provenance)")
    parser.add_argument("--sidecar", action="store_true",
                        help="the folder door instead: drop-to-XMP latency (p50/p95) and the "
                             "wall time of --files dropped at once")
    parser.add_argument("--drops", type=int, default=50,
                        help="--sidecar: single drops timed one at a time (default 50)")
    parser.add_argument("--files", type=int, default=2000,
                        help="--sidecar: files dropped at once (default 2000)")
    parser.add_argument("--backend", choices=("fs", "s3"), default="fs",
                        help="--sidecar: the gateway's storage backend (default fs)")
    args = parser.parse_args(argv)
    if args.quick:
        args.count, args.big_gib = 60, 0

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="provgate-bench-"))
    print(f"# provgate bench — {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print(f"# machine: {platform.machine()}, {_cpus()} cores, Python {platform.python_version()},"
          f" {platform.system()} {platform.release()}")
    print(f"# workdir: {workdir}\n")
    if args.sidecar:
        from bench.sidecar import run
        run(workdir, args.drops, args.files, args.backend)
        return 0
    with Services(workdir) as services:
        print("| workload | target | ops/s | MiB/s | p50 ms | p99 ms | ratio (gw/direct) |")
        print("|---|---|---|---|---|---|---|")
        if args.png_only:
            body = png_body(1 << 20)
            for target in ("direct", "gateway"):
                r = object_workload(services.client(target), "PUT", len(body), args.count, 1,
                                    target, body=body)
                print(f"| PUT 1MiB PNG c=1 | {target} | {r.ops_per_s:.1f} | {r.mib_per_s:.1f} |"
                      f" {r.p50_ms:.1f} | {r.p99_ms:.1f} | |")
            return 0
        for size_name, size in SIZES.items():
            for concurrency in args.concurrency:
                for op in ("PUT", "GET"):
                    results = {}
                    for target in ("direct", "gateway"):
                        results[target] = object_workload(services.client(target), op, size,
                                                          args.count, concurrency, target)
                    ratio = results["gateway"].mib_per_s / results["direct"].mib_per_s
                    for target, r in results.items():
                        shown = f"{ratio:.2f}" if target == "gateway" else ""
                        print(f"| {op} {size_name} c={concurrency} | {target} | {r.ops_per_s:.1f} |"
                              f" {r.mib_per_s:.1f} | {r.p50_ms:.1f} | {r.p99_ms:.1f} | {shown} |")
                    sys.stdout.flush()
        if args.big_gib > 0:
            size = int(args.big_gib * 1024 ** 3)
            print(f"\n## one {args.big_gib:g} GiB object (multipart via upload_fileobj)\n")
            print("| op | target | MiB/s | seconds | provgate peak RSS MiB |")
            print("|---|---|---|---|---|")
            for op in ("PUT", "GET"):
                for target in ("direct", "gateway"):
                    r = big_object(services, target, op, size)
                    rss = f"{r.peak_rss_mib:.0f}" if target == "gateway" else ""
                    print(f"| {op} | {target} | {r.mib_per_s:.1f} | {r.seconds:.1f} | {rss} |")
                    sys.stdout.flush()
        print(f"\nprovgate baseline RSS after the run: {services.gateway_rss_mib():.0f} MiB")
    return 0


def _cpus() -> int:
    return os.cpu_count() or 0


if __name__ == "__main__":
    sys.exit(main())
