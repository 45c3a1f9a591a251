"""Throttle-bound crawl: a tenant against ARM's per-subscription read bucket, with and without pacing.

    python benchmarks/throttle.py                       # 2 x 150 workspaces, bucket 250 refilled at 25/s
    python benchmarks/throttle.py --subscriptions 5 --workspaces 1000

The fake ARM (tools/fakearm.py, in this process's threads) throttles like ARM: a bucket of `--bucket` reads per
subscription refilled at `--refill` per second, 429 with Retry-After when empty, and every answer saying how many
reads remain. The floor of the crawl is the busiest subscription's reads beyond its first bucket, at the refill
rate. Reported: wall time of the crawl (as the scanner logs it), the floor, their ratio, and the 429 answers.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._scan_child import timed_run  # noqa: E402
from tools.fakearm import FakeArm, Faults, generate_tenant  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscriptions", type=int, default=2)
    parser.add_argument("--workspaces", type=int, default=150, help="per subscription")
    parser.add_argument("--bucket", type=int, default=250)
    parser.add_argument("--refill", type=float, default=25.0)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    tenant = generate_tenant(args.subscriptions, args.workspaces)
    faults = Faults(bucket=args.bucket, refill_per_second=args.refill)
    with FakeArm(tenant, faults) as arm, tempfile.TemporaryDirectory() as out:
        argv = ["scan", *[a for s in tenant.subscriptions for a in ("--subscription", s)]]
        argv += ["--arm-endpoint", arm.url, "--graph-endpoint", arm.url, "--format", "json", "--output-dir", out]
        argv += ["--concurrency", str(args.concurrency), "--log-format", "json"]
        run = timed_run(
            argv,
            {
                "REQUESTS_CA_BUNDLE": str(arm.ca_file),
                "CMKAUDIT_ACCESS_TOKEN": "benchmark-arm-token",
                "CMKAUDIT_GRAPH_ACCESS_TOKEN": "benchmark-graph-token",
            },
        )
        requests = list(arm.requests)
    logged = [json.loads(line) for line in run.done.stderr.splitlines() if line.startswith("{")]
    crawl = float(next(r["seconds"] for r in logged if r.get("event") == "crawl_finished"))
    per_sub = Counter(
        path.split("/")[2] for _, path, status in requests if path.startswith("/subscriptions/") and status != 429
    )
    busiest = max(per_sub.values())
    floor = max(0, busiest - args.bucket) / args.refill
    throttled = sum(1 for _, _, status in requests if status == 429)
    result = {
        "reads": sum(per_sub.values()),
        "busiest_subscription_reads": busiest,
        "floor_s": round(floor, 1),
        "crawl_s": round(crawl, 1),
        "crawl_over_floor": round(crawl / floor, 2) if floor else None,
        "answered_429": throttled,
        "wall_s": round(run.wall, 1),
    }
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
