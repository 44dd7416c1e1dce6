"""Benchmark provgate against the one-hop floor, all in front of one SeaweedFS, in one run.

    python -m bench                       # the full run (about 10-15 minutes on 2 cores)
    python -m bench --quick               # small counts, a 256 MiB "large" object
    PROVGATE_BENCH_QUICK=1 python -m bench  # the same
    python -m bench --big-gib 0 --count 200
    python -m bench --png-only --count 200  # 1 MiB PNG only: PUT with full intake, then GET
    python -m bench --sidecar             # the folder door (bench/sidecar.py)
    python -m bench --timings             # how long bounded things take (bench/timings.py)
    python -m bench --search              # catalog search among 10,000 assets (bench/search.py)
    python -m bench --ui                  # the review UI's queue page among 10,000 (bench/ui.py)
    python -m bench --distribution        # approve-to-COMPLETED, approvals drained

It starts a SeaweedFS and, in front of it, provgate (s3 backend), an nginx reverse proxy
and a bare aiohttp pass-through (``bench/proxies.py``), all on loopback. Each workload
runs with the same boto3 client settings against four targets — ``direct`` (SeaweedFS),
``nginx``, ``bare`` and ``gateway`` — in rounds (``--rounds``) that rotate the order of
the targets, so that all see the same load, and prints throughput, p50/p99 latency, the
ratios gateway/nginx (the bar in DESIGN), gateway/bare and gateway/direct. Machines here
are noisy, so only ratios measured in the same run mean anything.

Workloads: 1 MiB and 64 KiB PNGs carrying AUTOMATIC1111 parameters (PUT with full intake
through provgate, then GET of the same objects) at each ``--concurrency``; then one large
object (``--big-gib``) each way through each target, with provgate's peak RSS.

"hop CPU ms/op" is the CPU time (user + system, psutil) the process in the middle spent
per request during that target's rounds: provgate with its ExifTool and policy workers,
nginx's master and worker, the bare proxy. "weed CPU ms/op" is SeaweedFS's, per request
of the same rounds. CPU time is steadier than throughput on a shared machine, and it is
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

from bench.harness import TARGETS, Services
from bench.workloads import Result, big_object, object_workload, png_body

SIZES = {"1MiB": 1024 * 1024, "64KiB": 64 * 1024}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=400, help="objects per workload (default 400)")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--rounds", type=int, default=4,
                        help="split each workload into this many rounds, each running every "
                             "target in turn (the order rotates), so all see the same load "
                             "(default 4)")
    parser.add_argument("--big-gib", type=float, default=2.0,
                        help="size of the single large object in GiB; 0 skips it (default 2)")
    parser.add_argument("--quick", action="store_true",
                        default=os.environ.get("PROVGATE_BENCH_QUICK", "") not in ("", "0"),
                        help="--count 48 --big-gib 0.25 (also PROVGATE_BENCH_QUICK=1)")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="keep SeaweedFS data, spool and logs here (default: a temporary "
                             "directory, removed after the run)")
    parser.add_argument("--big-only", action="store_true",
                        help="only the large object (--big-gib), no small-object workloads")
    parser.add_argument("--policies", type=Path, nargs="+", default=None,
                        help="policy directories provgate enforces (default: none, an empty "
                             "set); e.g. --policies policies for the shipped set")
    parser.add_argument("--png-only", action="store_true",
                        help="only the 1 MiB PNG workloads (no 64 KiB, no large object)")
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
        args.count, args.big_gib = 48, 0.25

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
    with Services(workdir, args.policies) as services:
        print("| workload | target | ops/s | MiB/s | p50 ms | p99 ms | hop CPU ms/op |"
              " weed CPU ms/op | gw/nginx | gw/bare | gw/direct |")
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        sizes = {} if args.big_only else {"1MiB": SIZES["1MiB"]} if args.png_only else SIZES
        for size_name, size in sizes.items():
            body = png_body(size)
            for concurrency in args.concurrency:
                for op in ("PUT", "GET"):
                    _compare(services, f"{op} {size_name} PNG c={concurrency}", op, len(body),
                             args.count, concurrency, args.rounds, body)
        if args.big_gib > 0 and not args.png_only:
            _big(services, int(args.big_gib * 1024 ** 3), args.big_gib)
        print(f"\nprovgate RSS after the run: {services.gateway_rss_mib():.0f} MiB, of which "
              f"{services.gateway_file_backed_mib():.0f} MiB file-backed (LMDB map, libraries)")
    return 0


def _compare(services: Services, label: str, op: str, size: int, count: int, concurrency: int,
             rounds: int, body: bytes) -> None:
    """One workload against every target in rounds that rotate the targets' order;
    a table row for each target."""
    results: dict[str, Result] = {}
    hop_cpu = dict.fromkeys(TARGETS, 0.0)
    weed_cpu = dict.fromkeys(TARGETS, 0.0)
    per_round = max(1, count // rounds)
    for round_ in range(rounds):
        # Rotate which target goes first, so a change in load hits all alike.
        for target in TARGETS[round_ % 4:] + TARGETS[:round_ % 4]:
            before = services.cpu_seconds()
            result = object_workload(services.client(target), op, size, per_round,
                                     concurrency, target, body=body, round_=round_)
            after = services.cpu_seconds()
            if target != "direct":
                hop_cpu[target] += after[target] - before[target]
            weed_cpu[target] += after["weed"] - before["weed"]
            results[target] = results[target] + result if target in results else result
    _rows(label, results, hop_cpu, weed_cpu)


def _rows(label: str, results: dict[str, Result], hop_cpu: dict[str, float],
          weed_cpu: dict[str, float]) -> None:
    gateway = results["gateway"].mib_per_s
    for target in TARGETS:
        r = results[target]
        hop = f"{hop_cpu[target] * 1000 / r.ops:.2f}" if target != "direct" else ""
        ratios = ([f"{gateway / results[t].mib_per_s:.2f}" for t in ("nginx", "bare", "direct")]
                  if target == "gateway" else ["", "", ""])
        print(f"| {label} | {target} | {r.ops_per_s:.1f} | {r.mib_per_s:.1f} | {r.p50_ms:.1f} |"
              f" {r.p99_ms:.1f} | {hop} | {weed_cpu[target] * 1000 / r.ops:.2f} |"
              f" {' | '.join(ratios)} |")
    sys.stdout.flush()


def _big(services: Services, size: int, gib: float) -> None:
    """One large object PUT (multipart, boto3 ``upload_fileobj``) and then GET through
    each target; provgate's peak RSS while it streams."""
    print(f"\n## one {gib:g} GiB object (boto3 upload_fileobj / download_fileobj)\n")
    print("| op | target | MiB/s | seconds | hop CPU s | weed CPU s | provgate peak RSS MiB |"
          " gw/nginx | gw/bare | gw/direct |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    failed: dict[str, str] = {}
    for op in ("PUT", "GET"):
        results: dict[str, Result] = {}
        cpu: dict[str, tuple[float, float]] = {}
        for target in TARGETS:
            if target in failed:
                continue
            before = services.cpu_seconds()
            try:
                results[target] = big_object(services, target, op, size)
            except Exception as exc:  # noqa: BLE001 - a timeout is a result here
                failed[target] = f"{op} failed: {type(exc).__name__}: {str(exc)[:160]}"
                print(f"| {op} | {target} | {failed[target]} | | | | | | | |")
                continue
            after = services.cpu_seconds()
            hop = after[target] - before[target] if target != "direct" else 0.0
            cpu[target] = (hop, after["weed"] - before["weed"])
        gateway = results["gateway"].mib_per_s if "gateway" in results else None
        for target, r in results.items():
            rss = f"{r.peak_rss_mib:.0f}" if target == "gateway" else ""
            hop = f"{cpu[target][0]:.1f}" if target != "direct" else ""
            ratios = ([f"{gateway / results[t].mib_per_s:.2f}" if t in results else ""
                       for t in ("nginx", "bare", "direct")]
                      if target == "gateway" else ["", "", ""])
            print(f"| {op} | {target} | {r.mib_per_s:.1f} | {r.seconds:.1f} | {hop} |"
                  f" {cpu[target][1]:.1f} | {rss} | {' | '.join(ratios)} |")
            sys.stdout.flush()


def _cpus() -> int:
    return os.cpu_count() or 0


if __name__ == "__main__":
    sys.exit(main())
