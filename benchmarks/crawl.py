"""Crawl benchmark: the same fake tenant, crawled one call at a time and at cmkaudit's concurrency.

    python benchmarks/crawl.py                 # 20 subscriptions x 25 workspaces, 100 ms per call
    python benchmarks/crawl.py --subscriptions 2 --workspaces 5 --latency 0.05
    python benchmarks/crawl.py --central-vaults 5  # the keys in 5 vaults of one subscription
    python benchmarks/crawl.py --managed-hsm       # the keys in Managed HSM pools (their local RBAC read too)
    python benchmarks/crawl.py --group-grants      # key use granted to a group: the identities' groups are read

The tenant is served by tools/fakearm.py on 127.0.0.1 over TLS; the scanner runs in a child process,
exactly as a user would run it (--arm-endpoint, CMKAUDIT_ACCESS_TOKEN, REQUESTS_CA_BUNDLE). For each
run: wall time, ARM calls (counted by the server), calls per workspace, peak RSS of the scanner, and
the lower bound calls x latency / concurrency.
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
from tools.fakearm import FakeArm, Faults, generate_tenant  # noqa: E402


def crawl(arm: FakeArm, concurrency: int, out: Path, source: str = "arm") -> dict[str, float]:
    before = len(arm.requests)
    env = {
        "REQUESTS_CA_BUNDLE": str(arm.ca_file),
        "CMKAUDIT_ACCESS_TOKEN": "benchmark-arm-token",
        "CMKAUDIT_GRAPH_ACCESS_TOKEN": "benchmark-graph-token",
        # Managed HSM pools' data plane (their local RBAC), through the fake server's proxy; ARM directly.
        "CMKAUDIT_MANAGEDHSM_ACCESS_TOKEN": "benchmark-hsm-token",
        "HTTPS_PROXY": arm.proxy_url,
        "NO_PROXY": "127.0.0.1",
    }
    subscriptions = [arg for sub in arm.tenant.subscriptions for arg in ("--subscription", sub)]
    argv = ["scan", *subscriptions, "--arm-endpoint", arm.url, "--graph-endpoint", arm.url, "--format", "json"]
    argv += ["--output-dir", str(out), "--concurrency", str(concurrency), "--source", source]
    argv += ["--log-format", "json"]
    run = timed_run(argv, env)
    calls = len(arm.requests) - before
    # The scanner's own figure for the crawl alone (from its first call to its last; its JSON log).
    logged = [json.loads(line) for line in run.done.stderr.splitlines() if line.startswith("{")]
    crawl_seconds = next(r["seconds"] for r in logged if r.get("event") == "crawl_finished")
    return {"wall": run.wall, "crawl": float(crawl_seconds), "calls": calls, "rss_mb": run.rss_mb}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscriptions", type=int, default=20)
    parser.add_argument("--workspaces", type=int, default=25, help="per subscription")
    parser.add_argument("--latency", type=float, default=0.1, help="seconds added to every answer")
    parser.add_argument("--concurrency", type=int, default=16, help="cmkaudit's concurrency (its default is 16)")
    parser.add_argument(
        "--central-vaults",
        type=int,
        default=0,
        metavar="N",
        help="keep the workspaces' keys in N vaults of the first subscription, taken in turn (0: a vault each)",
    )
    parser.add_argument(
        "--managed-hsm", action="store_true", help="the keys in Managed HSM pools instead of vaults (local RBAC)"
    )
    parser.add_argument(
        "--group-grants", action="store_true", help="vaults on Azure RBAC granting key use to a group (Graph reads)"
    )
    args = parser.parse_args()
    tenant = generate_tenant(
        args.subscriptions,
        args.workspaces,
        central_vaults=args.central_vaults,
        managed_hsm=args.managed_hsm,
        group_grants=args.group_grants,
    )
    keys = f"keys in {args.central_vaults} central vaults" if args.central_vaults else "each with its vault"
    keys += " (Managed HSM pools)" if args.managed_hsm else ""
    keys += " (granted to a group)" if args.group_grants else ""
    print(
        f"fake tenant: {args.subscriptions} subscriptions x {args.workspaces} workspaces = {tenant.workspaces} "
        f"workspaces ({keys}, a 3-version key, DES and storage), {args.latency * 1000:.0f} ms per call"
    )
    rows = []
    with FakeArm(tenant, Faults(latency=args.latency)) as arm, tempfile.TemporaryDirectory() as scratch:
        for label, concurrency, source in (
            ("sequential crawl (--concurrency 1)", 1, "arm"),
            (f"cmkaudit ARM crawl (--concurrency {args.concurrency})", args.concurrency, "arm"),
            (
                f"cmkaudit --source resource-graph (--concurrency {args.concurrency})",
                args.concurrency,
                "resource-graph",
            ),
        ):
            result = crawl(arm, concurrency, Path(scratch) / f"{source}-{concurrency}", source)
            bound = result["calls"] * args.latency / concurrency
            rows.append((label, result, bound))
            print(f"  done: {label}: {result['wall']:.1f} s", flush=True)
    print()
    print(
        "| run | wall time (whole command) | crawl time | calls | calls per workspace | peak RSS | lower bound "
        "| crawl / bound | wall / bound |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for label, r, bound in rows:
        print(
            f"| {label} | {r['wall']:.1f} s | {r['crawl']:.1f} s | {r['calls']:.0f} | "
            f"{r['calls'] / tenant.workspaces:.2f} | {r['rss_mb']:.0f} MB | {bound:.1f} s | "
            f"{r['crawl'] / bound:.2f} | {r['wall'] / bound:.2f} |"
        )
    print("(lower bound: calls x latency / concurrency; the whole command also starts Python, evaluates and writes")
    print(" the JSON report; the crawl time is the scanner's own, from its log)")
    speedup = rows[0][1]["wall"] / rows[1][1]["wall"]
    crawl_speedup = rows[0][1]["crawl"] / rows[1][1]["crawl"]
    print(
        f"\nspeed-up of the concurrent crawl over the sequential one: {speedup:.1f}x (whole command), "
        f"{crawl_speedup:.1f}x (crawl)"
    )
    graph_calls, arm_calls = rows[2][1]["calls"], rows[1][1]["calls"]
    share = graph_calls / arm_calls
    print(f"Resource Graph mode's calls over the ARM crawl's: {share:.2f} ({graph_calls:.0f} / {arm_calls:.0f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
