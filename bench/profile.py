"""Where provgate's CPU goes on the hot paths: py-spy on the gateway while a workload runs.

    python -m bench.profile                     # 1 MiB generator PNGs: PUT, then GET
    python -m bench.profile --count 300 --concurrency 8 --out /tmp/prof

(``make profile`` installs py-spy and runs this.) It starts the same services as
``python -m bench``, then for each operation runs ``py-spy record`` on the gateway's PID
(``--format raw``: folded stacks; ``--idle`` off, so only samples of threads on a CPU or
holding the GIL count) while the workload runs through provgate only, and prints the
functions with the most samples: "self" where the CPU was spent, "total" with everything
they called. The folded stacks stay in ``--out`` for flame graphs.
"""

from __future__ import annotations

import argparse
import collections
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from bench.harness import Services
from bench.workloads import object_workload, png_body


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=200, help="requests per operation (200)")
    parser.add_argument("--concurrency", type=int, default=1, help="client threads (1)")
    parser.add_argument("--size", type=int, default=1 << 20, help="PNG size in bytes (1 MiB)")
    parser.add_argument("--rate", type=int, default=250, help="py-spy samples per second (250)")
    parser.add_argument("--top", type=int, default=25, help="functions listed per table (25)")
    parser.add_argument("--policies", type=Path, nargs="+", default=None,
                        help="policy directories provgate enforces (default: none, an empty "
                             "set); e.g. --policies policies for the shipped set")
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "provgate-profile",
                        help="directory for the folded stacks (default: $TMPDIR/provgate-profile)")
    args = parser.parse_args(argv)
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    args.out.mkdir(parents=True, exist_ok=True)
    body = png_body(args.size)
    with tempfile.TemporaryDirectory(prefix="provgate-profile-") as workdir, \
            Services(Path(workdir), args.policies) as services:
        client = services.client("gateway")
        object_workload(client, "PUT", len(body), 10, 1, "warm-up", body=body)
        for op in ("PUT", "GET"):
            folded = args.out / f"{op.lower()}.folded"
            cpu_before = services.gateway_cpu_seconds()
            own_before = _own_cpu(services.gateway.process.pid)
            spy = subprocess.Popen([py_spy, "record", "--pid", str(services.gateway.process.pid),
                                    "--rate", str(args.rate), "--format", "raw", "--output",
                                    str(folded), "--nonblocking"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            time.sleep(1.0)      # py-spy attaches before the first request
            result = object_workload(client, op, len(body), args.count, args.concurrency,
                                     "gateway", body=body)
            spy.send_signal(signal.SIGINT)
            spy.wait(30)
            cpu_ms = (services.gateway_cpu_seconds() - cpu_before) * 1000 / result.ops
            own_ms = (_own_cpu(services.gateway.process.pid) - own_before) * 1000 / result.ops
            print(f"\n## {op} {args.size // 1024} KiB PNG, c={args.concurrency}, "
                  f"{result.ops} requests: {result.ops_per_s:.1f}/s, provgate CPU "
                  f"{cpu_ms:.2f} ms/op, of which the gateway process {own_ms:.2f} and its "
                  f"workers (ExifTool, policy) {cpu_ms - own_ms:.2f}\n")
            summarise(folded, args.top)
        print(f"\nprovgate RSS after the run: {services.gateway_rss_mib():.0f} MiB, of which "
              f"{services.gateway_file_backed_mib():.0f} MiB file-backed")
    return 0


def _own_cpu(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


def summarise(folded: Path, top: int) -> None:
    """Print the ``top`` functions by self and by total samples from py-spy's raw
    output (one ``frame;frame;... count`` line per distinct stack)."""
    own: collections.Counter[str] = collections.Counter()
    total: collections.Counter[str] = collections.Counter()
    samples = 0
    for line in folded.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = [_short(f) for f in stack.split(";")[1:]]   # [0] is the thread
        samples += n
        if frames:
            own[frames[-1]] += n
        for frame in set(frames):
            total[frame] += n
    print(f"{samples} samples\n")
    print("| self % | total % | function |")
    print("|---|---|---|")
    for frame, n in own.most_common(top):
        print(f"| {100 * n / samples:.1f} | {100 * total[frame] / samples:.1f} | `{frame}` |")
    print("\n| total % | function (gateway code) |")
    print("|---|---|")
    shown = 0
    for frame, n in total.most_common():
        if frame.split(" (")[-1].startswith(("gateway/", "sidecar/")) and shown < top:
            print(f"| {100 * n / samples:.1f} | `{frame}` |")
            shown += 1
    sys.stdout.flush()


def _short(frame: str) -> str:
    """``func (/abs/path/pkg/module.py:12)`` → ``func (pkg/module.py)``, from ``gateway/``
    down for provgate's own code: one entry per function, not per line."""
    name, _, where = frame.partition(" (")
    parts = Path(where.rstrip(")").rsplit(":", 1)[0]).parts
    for root in ("gateway", "sidecar"):
        if root in parts:
            return f"{name} ({'/'.join(parts[parts.index(root):])})"
    return f"{name} ({'/'.join(parts[-2:])})"


if __name__ == "__main__":
    sys.exit(main())
