"""Benchmark provgate against the SeaweedFS behind it, side by side in one run.

    python -m bench                       # the full run (about 5-10 minutes on 2 cores)
    python -m bench --quick               # small counts, no 2 GiB object
    python -m bench --big-gib 0 --count 200
    python -m bench --png-only --count 200  # 1 MiB PNG: PUT with full intake, then GET
    python -m bench --sidecar             # the folder door (bench/sidecar.py)
    python -m bench --timings             # how long bounded things take (bench/timings.py)
    python -m bench --search              # catalog search among 10,000 assets (bench/search.py)
    python -m bench --ui                  # the review UI's queue page among 10,000 (bench/ui.py)
    python -m bench --distribution        # approve-to-COMPLETED, approvals drained

It starts a SeaweedFS and a provgate (s3 backend over that SeaweedFS) on loopback, then
runs each workload with the same boto3 client settings straight to SeaweedFS and through
provgate, in rounds that alternate the two (``--rounds``) so that both see the same load,
and prints throughput, p50/p99 latency and the ratio. Machines here are noisy, so only
ratios measured in the same run mean anything.

"provgate CPU ms/op" is the CPU time the gateway process and its ExifTool workers spent
per request during the gateway rounds: steadier than throughput on a shared machine, and
what bounds throughput once the cores are busy.
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
from bench.workloads import Result, big_object, object_workload, png_body

SIZES = {"64KiB": 64 * 1024, "1MiB": 1024 * 1024}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=400, help="objects per workload (default 400)")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--rounds", type=int, default=4,
                        help="split each workload into this many rounds, alternating direct "
                             "and gateway, so both see the same load (default 4)")
    parser.add_argument("--big-gib", type=float, default=2.0,
                        help="size of the single large object in GiB; 0 skips it (default 2)")
    parser.add_argument("--quick", action="store_true", help="--count 60 --big-gib 0")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="keep SeaweedFS data, spool and logs here (default: a temporary "
                             "directory, removed after the run)")
    parser.add_argument("--png-only", action="store_true",
                        help="only PUT, then GET, a 1 MiB PNG with generator parameters at each "
                             "--concurrency: PUT with full intake (ExifTool extraction, XMP "
                             "sidecar, catalog)")
    parser.add_argument("--sidecar", action="store_true",
                        help="the folder door instead: drop-to-XMP latency (p50/p95) and the "
                             "wall time of --files dropped at once")
    parser.add_argument("--drops", type=int, default=50,
                        help="--sidecar: single drops timed one at a time (default 50)")
    parser.add_argument("--files", type=int, default=2000,
                        help="--sidecar: files dropped at once (default 2000)")
    parser.add_argument("--timings", action="store_true",
                        help="instead: how long the bounded things the tests only prove to "
                             "end take (policy reload and cut-off, a hung ExifTool, hostile "
                             "XML, the upstream away); see bench/timings.py")
    parser.add_argument("--repeat", type=int, default=5,
                        help="--timings: runs of each measurement (default 5)")
    parser.add_argument("--search", action="store_true",
                        help="catalog search and the review queue instead: p50/p95 of "
                             "searches among --assets catalogued assets, in-process and "
                             "through the admin API")
    parser.add_argument("--ui", action="store_true",
                        help="the review UI instead: server time of the queue page's first "
                             "page (shell and queue API) among --assets catalogued assets")
    parser.add_argument("--assets", type=int, default=10_000,
                        help="--search, --ui: assets to catalog (default 10000)")
    parser.add_argument("--queries", type=int, default=100,
                        help="--search: queries timed per kind; --ui: page loads (default 100)")
    parser.add_argument("--distribution", action="store_true",
                        help="distribution instead (bench/distribution.py): approve-to-"
                             "COMPLETED p50/p95 on an s3 target, then --drain approvals")
    parser.add_argument("--approvals", type=int, default=50,
                        help="--distribution: approvals timed one at a time (default 50)")
    parser.add_argument("--drain", type=int, default=1000,
                        help="--distribution: approvals queued at once and drained (default 1000)")
    parser.add_argument("--backend", choices=("fs", "s3"), default="fs",
                        help="--sidecar: the gateway's storage backend (default fs)")
    args = parser.parse_args(argv)
    if args.quick:
        args.count, args.big_gib = 60, 0

    if args.workdir is not None:
        return _run(args, args.workdir)
    # A full run leaves gigabytes of SeaweedFS volumes behind; on a shared disk that
    # starves every other SeaweedFS (it sizes its volume count by the free space).
    with tempfile.TemporaryDirectory(prefix="provgate-bench-") as workdir:
        return _run(args, Path(workdir))


def _run(args: argparse.Namespace, workdir: Path) -> int:
    print(f"# provgate bench — {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print(f"# machine: {platform.machine()}, {_cpus()} cores, Python {platform.python_version()},"
          f" {platform.system()} {platform.release()}")
    print(f"# workdir: {workdir}\n")
    if args.timings:
        from bench.timings import run
        run(workdir, args.repeat)
    if args.distribution:
        from bench.distribution import run
        run(workdir, args.approvals, args.drain)
        return 0
    if args.sidecar:
        from bench.sidecar import run
        run(workdir, args.drops, args.files, args.backend)
        return 0
    if args.search:
        from bench.search import run
        run(workdir, args.assets, args.queries)
        return 0
    if args.ui:
        from bench.ui import run
        run(workdir, args.assets, args.queries)
        return 0
    with Services(workdir) as services:
        print("| workload | target | ops/s | MiB/s | p50 ms | p99 ms | ratio (gw/direct) |"
              " provgate CPU ms/op |")
        print("|---|---|---|---|---|---|---|---|")
        if args.png_only:
            body = png_body(1 << 20)
            for concurrency in args.concurrency:
                for op in ("PUT", "GET"):
                    _compare(services, f"{op} 1MiB PNG c={concurrency}", op, len(body),
                             args.count, concurrency, args.rounds, body)
            return 0
        for size_name, size in SIZES.items():
            for concurrency in args.concurrency:
                for op in ("PUT", "GET"):
                    _compare(services, f"{op} {size_name} c={concurrency}", op, size,
                             args.count, concurrency, args.rounds)
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


def _compare(services: Services, label: str, op: str, size: int, count: int, concurrency: int,
             rounds: int, body: bytes | None = None) -> None:
    """One workload straight to SeaweedFS and through provgate in interleaved rounds;
    a table row for each target."""
    results: dict[str, Result] = {}
    cpu_seconds = 0.0
    per_round = max(1, count // rounds)
    for round_ in range(rounds):
        # Alternate which target goes first, so a change in load hits both alike.
        for target in ("direct", "gateway") if round_ % 2 == 0 else ("gateway", "direct"):
            cpu_before = services.gateway_cpu_seconds()
            result = object_workload(services.client(target), op, size, per_round,
                                     concurrency, target, body=body, round_=round_)
            if target == "gateway":
                cpu_seconds += services.gateway_cpu_seconds() - cpu_before
            results[target] = results[target] + result if target in results else result
    cpu_ms = cpu_seconds * 1000 / results["gateway"].ops
    ratio = results["gateway"].mib_per_s / results["direct"].mib_per_s
    for target, r in results.items():
        shown = f"{ratio:.2f}" if target == "gateway" else ""
        cpu = f"{cpu_ms:.1f}" if target == "gateway" else ""
        print(f"| {label} | {target} | {r.ops_per_s:.1f} | {r.mib_per_s:.1f} | {r.p50_ms:.1f} |"
              f" {r.p99_ms:.1f} | {shown} | {cpu} |")
    sys.stdout.flush()


def _cpus() -> int:
    return os.cpu_count() or 0


if __name__ == "__main__":
    sys.exit(main())
