"""CPU per ARM call: the scanner process's CPU time (user + system, from rusage) per Resource Manager call, at
the margin between two tenant sizes, so that start-up, evaluation and reports cancel out.

    python benchmarks/cpu_per_call.py                     # 2 x 25 against 10 x 50 workspaces, 3 runs each
    python benchmarks/cpu_per_call.py --small 2x25 --large 20x50 --runs 3

Each tenant is served by tools/fakearm.py with no added latency, in a process of its own (so that its CPU is
not the scanner's, and is reported beside it); the scanner runs as a user runs it (benchmarks/_scan_child.py).
The figure: (CPU(large) - CPU(small)) / (calls(large) - calls(small)), each the median of its runs.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._scan_child import timed_run  # noqa: E402
from benchmarks._server import ServedTenant  # noqa: E402


def measure(subscriptions: int, workspaces: int, runs: int, concurrency: int) -> dict[str, float]:
    """Median scanner CPU, calls, wall time and peak RSS of `runs` scans of one tenant; the server's CPU."""
    cpus, calls, walls, rss = [], [], [], []
    with ServedTenant(subscriptions, workspaces) as served, tempfile.TemporaryDirectory() as out:
        for _ in range(runs):
            before = served.calls()
            argv = ["scan", *[a for sub in served.subscription_ids for a in ("--subscription", sub)]]
            argv += ["--arm-endpoint", served.url, "--graph-endpoint", served.url, "--format", "json"]
            argv += ["--output-dir", out, "--concurrency", str(concurrency), "--quiet"]
            run = timed_run(
                argv,
                {
                    "REQUESTS_CA_BUNDLE": served.ca_file,
                    "CMKAUDIT_ACCESS_TOKEN": "benchmark-arm-token",
                    "CMKAUDIT_GRAPH_ACCESS_TOKEN": "benchmark-graph-token",
                },
            )
            calls.append(served.calls() - before)
            cpus.append(run.cpu)
            walls.append(run.wall)
            rss.append(run.rss_mb)
        server_cpu = served.cpu()
    return {
        "workspaces": subscriptions * workspaces,
        "calls": statistics.median(calls),
        "cpu": statistics.median(cpus),
        "wall": statistics.median(walls),
        "rss_mb": max(rss),
        "server_cpu_per_run": server_cpu / runs,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", default="2x25", help="subscriptions x workspaces of the small tenant")
    parser.add_argument("--large", default="10x50", help="subscriptions x workspaces of the large tenant")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    sizes = [tuple(int(n) for n in spec.split("x")) for spec in (args.small, args.large)]
    small, large = (measure(s, w, args.runs, args.concurrency) for s, w in sizes)
    margin = (large["cpu"] - small["cpu"]) / (large["calls"] - small["calls"]) * 1000
    print(json.dumps({"small": small, "large": large, "cpu_ms_per_call": round(margin, 3)}, indent=1))
    print(
        f"CPU per ARM call at the margin: {margin:.2f} ms ({large['calls'] - small['calls']:.0f} calls, "
        f"{large['cpu'] - small['cpu']:.2f} s of scanner CPU)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
