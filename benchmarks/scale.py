"""Tenant-scale crawl: 100 subscriptions x 50 workspaces at 100 ms per call and `--concurrency 64`.

    python benchmarks/scale.py
    python benchmarks/scale.py --subscriptions 100 --workspaces 50 --latency 0.1 --concurrency 64

The tenant is served by tools/fakearm.py in a process of its own (benchmarks/_server.py), whose CPU time is
reported beside the scanner's, so that it is seen not to be what limits the run. The scanner runs as a user runs
it (benchmarks/_scan_child.py). Reported: calls (counted by the server), the floor calls x latency / concurrency,
the crawl's own time from the scanner's log (`crawl_finished`) and the whole command's, the scanner's CPU and
peak RSS, and the server's CPU during the run.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._scan_child import timed_run  # noqa: E402
from benchmarks._server import ServedTenant  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscriptions", type=int, default=100)
    parser.add_argument("--workspaces", type=int, default=50, help="per subscription")
    parser.add_argument("--latency", type=float, default=0.1, help="seconds added to every answer")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    served = ServedTenant(args.subscriptions, args.workspaces, latency=args.latency)
    print(
        f"{args.subscriptions} x {args.workspaces} workspaces, {args.latency * 1000:.0f} ms per call, "
        f"--concurrency {args.concurrency}",
        flush=True,
    )
    print("| run | calls | floor | crawl | crawl / floor | whole command | scanner CPU | peak RSS | server CPU |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    with served, tempfile.TemporaryDirectory() as out:
        for number in range(1, args.runs + 1):
            calls_before, server_before = served.calls(), served.cpu()
            argv = ["scan", *[a for sub in served.subscription_ids for a in ("--subscription", sub)]]
            argv += ["--arm-endpoint", served.url, "--graph-endpoint", served.url, "--format", "json"]
            argv += ["--output-dir", out, "--concurrency", str(args.concurrency), "--log-format", "json"]
            run = timed_run(
                argv,
                {
                    "REQUESTS_CA_BUNDLE": served.ca_file,
                    "CMKAUDIT_ACCESS_TOKEN": "benchmark-arm-token",
                    "CMKAUDIT_GRAPH_ACCESS_TOKEN": "benchmark-graph-token",
                },
            )
            calls = served.calls() - calls_before
            server_cpu = served.cpu() - server_before
            logged = [json.loads(line) for line in run.done.stderr.splitlines() if line.startswith("{")]
            crawl = float(next(r["seconds"] for r in logged if r.get("event") == "crawl_finished"))
            floor = calls * args.latency / args.concurrency
            print(
                f"| {number} | {calls} | {floor:.1f} s | {crawl:.1f} s | **{crawl / floor:.2f}** | {run.wall:.1f} s "
                f"| {run.cpu:.1f} s | {run.rss_mb:.0f} MB | {server_cpu:.1f} s |",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
