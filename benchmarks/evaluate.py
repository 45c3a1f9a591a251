"""Evaluation and report benchmark: one large snapshot, evaluated and rendered in all four formats.

    python benchmarks/evaluate.py                      # 10,000 workspaces
    python benchmarks/evaluate.py --workspaces 2000 --failing-every 0   # every workspace compliant
    python benchmarks/evaluate.py --central-vaults 20   # the keys in 20 vaults, 500 workspaces on each
    python benchmarks/evaluate.py --central-vaults 1 --rbac   # all on one vault, 20,001 role assignments
    python benchmarks/evaluate.py --central-vaults 1 --rbac --key-each   # and a key each: 10,000 keys

The snapshot holds the fake tenant of tools/fakearm.py (each workspace with its vault, a key with three
versions, a disk encryption set and a DBFS storage account), mapped with the collector's own mapping
functions; building it is not timed. What is timed is what a user runs:

    cmkaudit evaluate SNAPSHOT --format console,json,sarif,html

in a child process (snapshot loading, evaluation, the results document and the four reports, the console
one to a pipe), with its wall time and peak resident memory; three times by default (`--repeat`), since
a shared machine's speed varies from one run to the next, with the median and the range.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._scan_child import timed_run  # noqa: E402
from tools.fakearm import DATABRICKS_SP, TENANT, Tenant, generate_tenant  # noqa: E402

from cmkaudit.collect import mapping  # noqa: E402
from cmkaudit.ids import PrincipalId  # noqa: E402
from cmkaudit.inventory import Inventory, assemble_inventory  # noqa: E402
from cmkaudit.inventory.model import (  # noqa: E402
    PrincipalLookup,
    PrincipalSource,
    RoleAssignment,
    RoleDefinition,
    ScanScope,
    Vault,
)
from cmkaudit.inventory.snapshot import save_snapshot  # noqa: E402

CRYPTO_SERVICE_ENCRYPTION_USER = RoleDefinition(
    "/providers/Microsoft.Authorization/roleDefinitions/e147488a-f6f5-4113-8e2d-b22465e65bf6",
    "e147488a-f6f5-4113-8e2d-b22465e65bf6",
    "Key Vault Crypto Service Encryption User",
    ("Microsoft.EventGrid/eventSubscriptions/write", "Microsoft.EventGrid/eventSubscriptions/read"),
    (),
    (
        "Microsoft.KeyVault/vaults/keys/read",
        "Microsoft.KeyVault/vaults/keys/wrap/action",
        "Microsoft.KeyVault/vaults/keys/unwrap/action",
    ),
    (),
)


def on_rbac(vault: Vault) -> Vault:
    """The vault on Azure RBAC: each principal its access policies grant is assigned Key Vault Crypto Service
    Encryption User on the vault instead."""
    assignments = tuple(
        RoleAssignment(
            f"{vault.id}/providers/Microsoft.Authorization/roleAssignments/{policy.object_id}",
            policy.object_id,
            "ServicePrincipal",
            CRYPTO_SERVICE_ENCRYPTION_USER.id,
            vault.id,
        )
        for policy in vault.access_policies
    )
    return replace(vault, rbac_authorization=True, access_policies=(), role_assignments=assignments)


def inventory_of(tenant: Tenant, failing_every: int = 0, rbac: bool = False) -> Inventory:
    """The inventory a crawl of `tenant` collects, built from the same bodies with the same mapping.

    With `failing_every` N, every Nth workspace is on the Standard tier (DBX-01 fails) and every Nth vault
    has no purge protection (KV-01 fails for each scope keyed there), so the reports have findings to act on.
    With `rbac`, the vaults are on Azure RBAC (see `on_rbac`).
    """

    def listed(suffix: str) -> list[dict[str, object]]:
        return [item for path, items in tenant.lists.items() if path.endswith(suffix) for item in items]

    key_names: dict[str, list[str]] = {}  # vault id (lower case) -> its keys' names
    for path in tenant.resources:
        vault_path, _, key = path.rpartition("/keys/")
        if path.startswith("/subscriptions/") and vault_path and "/" not in key:
            key_names.setdefault(vault_path, []).append(key)
    vaults = []
    keys = []
    for body in listed("/providers/microsoft.keyvault/vaults"):
        vault = mapping.vault_from_arm(body)
        # The crawl reads every key-holding vault's role assignments; the fake tenant has none on access-policy vaults.
        vault = on_rbac(vault) if rbac else replace(vault, role_assignments=())
        if failing_every and len(vaults) % failing_every == 0:
            vault = replace(vault, purge_protection_enabled=False)
        settings = tenant.resources[f"{vault.id}/providers/Microsoft.Insights/diagnosticSettings".lower()]
        vaults.append(
            replace(vault, diagnostic_settings=tuple(mapping.diagnostic_setting_from_arm(s) for s in settings["value"]))
        )
        for name in key_names[vault.id.lower()]:
            versions = tenant.resources[f"{vault.id}/keys/{name}/versions".lower()]["value"]
            mapped = tuple(v for v in (mapping.key_version_from_arm(item) for item in versions) if v is not None)
            keys.append(mapping.key_from_arm(tenant.resources[f"{vault.id}/keys/{name}".lower()], vault.id, mapped))
    return assemble_inventory(
        collected_at=datetime(2026, 11, 1, 12, tzinfo=UTC),
        tool_version="benchmark",
        scope=ScanScope(tuple(tenant.subscriptions), "https://management.azure.com", "AzureCloud", ()),
        subscriptions=[
            mapping.subscription_from_arm(tenant.resources[f"/subscriptions/{s}"]) for s in tenant.subscriptions
        ],
        workspaces=[
            replace(w, sku="standard") if failing_every and i % failing_every == 0 else w
            for i, w in enumerate(
                mapping.workspace_from_arm(b) for b in listed("/providers/microsoft.databricks/workspaces")
            )
        ],
        vaults=vaults,
        keys=keys,
        disk_encryption_sets=[
            mapping.disk_encryption_set_from_arm(b) for b in listed("/providers/microsoft.compute/diskencryptionsets")
        ],
        storage_accounts=[
            mapping.storage_account_from_arm(b) for b in listed("/providers/microsoft.storage/storageaccounts")
        ],
        principals=[PrincipalLookup(TENANT, PrincipalId(DATABRICKS_SP), PrincipalSource.GRAPH)],
        errors=[],
        role_definitions=[CRYPTO_SERVICE_ENCRYPTION_USER] if rbac else [],
    )


def stages(snapshot: Path, out: Path) -> None:
    """The same work in this process, stage by stage (the cyclic collector paused as the CLI pauses it)."""
    import gc
    import io

    from cmkaudit.evaluate.catalog import load_catalog
    from cmkaudit.evaluate.engine import evaluate, outcome
    from cmkaudit.evaluate.model import Settings, Severity
    from cmkaudit.inventory.snapshot import load_snapshot
    from cmkaudit.report import Report, ReportFormat
    from cmkaudit.report.results import build_results

    clock = time.perf_counter()

    def lap(label: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        print(f"  {label}: {now - clock:.1f} s", flush=True)
        clock = now

    inventory = load_snapshot(snapshot)
    lap("load the snapshot")
    gc.disable()
    try:
        catalog, settings = load_catalog(), Settings()
        findings = evaluate(inventory, catalog, settings)
        lap(f"evaluate ({len(findings)} findings)")
        report = Report(inventory, findings, catalog, settings, outcome(findings, inventory, Severity.LOW))
        results = build_results(report)
        lap("results document")
        for name in ("json", "sarif", "html", "console"):
            ReportFormat(name).write(results, out, io.StringIO())
            lap(f"{name} report")
    finally:
        gc.enable()


def _cpu_reference_seconds(rounds: int = 3) -> float:
    """The fastest of `rounds` timings of a fixed pure-Python loop: this machine's speed at the time, so that
    runs on different days (or on a shared machine in a busy hour) can be compared."""
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        total = 0
        for i in range(10_000_000):
            total += i
        best = min(best, time.perf_counter() - started)
    return best


def _plain_write_seconds(path: Path, size: int, chunk: int = 6 << 20) -> float:
    """Seconds to write `size` bytes to a new file at `path` in pieces of `chunk` bytes (then removed).

    The reports' bytes cost the operating system this much whatever writes them: on a virtual machine whose
    memory the host has not backed yet, filling new file-cache pages can cost ten times what reusing freed
    ones does, so the figure varies with the machine's history and is printed beside the command's.
    """
    block = b"\0" * chunk
    started = time.perf_counter()
    with path.open("wb") as handle:
        for offset in range(0, size, chunk):
            handle.write(block[: min(chunk, size - offset)])
    seconds = time.perf_counter() - started
    path.unlink()
    return seconds


def reread(snapshot: Path, scratch: Path) -> None:
    """Time the two commands that read a results file back: a scheduled job comparing with its last run, and a
    saved results file rendered again."""
    previous = scratch / "previous-results.json"
    commands = {
        "cmkaudit evaluate --format json --baseline RESULTS": [
            *("evaluate", str(snapshot), "--format", "json", "--baseline", str(previous)),
            *("--output-dir", str(scratch / "with-baseline")),
        ],
        "cmkaudit report RESULTS --format console,json,sarif,html": [
            *("report", str(previous), "--format", "console,json,sarif,html"),
            *("--output-dir", str(scratch / "rerendered")),
        ],
    }
    for label, argv in commands.items():
        run = timed_run(argv, {"COLUMNS": "160"})
        print(f"{label} ({previous.stat().st_size / 1e6:.0f} MB): {run.wall:.1f} s wall, {run.rss_mb:.0f} MB peak RSS")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspaces", type=int, default=10_000)
    parser.add_argument(
        "--failing-every",
        type=int,
        default=5,
        metavar="N",
        help="every Nth workspace on the Standard tier and every Nth vault without purge protection (0: none)",
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="times to run the command (the figures of each, and their median)"
    )
    parser.add_argument("--stages", action="store_true", help="also time each stage in this process")
    parser.add_argument(
        "--central-vaults",
        type=int,
        default=0,
        metavar="N",
        help="keep the workspaces' keys in N vaults, taken in turn (0: a vault each; Key Vault allows 1,024 "
        "access policies, each workspace needs 2, so at least 20 vaults for 10,000 workspaces without --rbac)",
    )
    parser.add_argument(
        "--key-each",
        action="store_true",
        help="with --central-vaults, a key of its own for each workspace in its central vault (else they share one)",
    )
    parser.add_argument(
        "--rbac",
        action="store_true",
        help="vaults on Azure RBAC: each identity that uses a key holds Key Vault Crypto Service Encryption User "
        "on its vault (a role assignment each, with no limit on their number)",
    )
    parser.add_argument(
        "--reread",
        action="store_true",
        help="then time reading the first run's results file back: an evaluation with it as --baseline, and "
        "`cmkaudit report` rendering it in all four formats",
    )
    args = parser.parse_args()
    per_subscription = 25
    subscriptions = max(1, -(-args.workspaces // per_subscription))
    started = time.perf_counter()
    tenant = generate_tenant(
        subscriptions, per_subscription, central_vaults=args.central_vaults, key_each=args.key_each
    )
    inventory = inventory_of(tenant, args.failing_every, args.rbac)
    with tempfile.TemporaryDirectory() as scratch:
        snapshot = Path(scratch) / "snapshot.json"
        save_snapshot(inventory, snapshot)
        print(
            f"snapshot (every {args.failing_every}th workspace and vault failing a control): "
            f"{len(inventory.workspaces)} workspaces, {len(inventory.vaults)} vaults, {len(inventory.keys)} "
            f"keys, {snapshot.stat().st_size / 1e6:.0f} MB (built in {time.perf_counter() - started:.0f} s, not timed)"
        )
        del tenant, inventory
        print(f"machine speed reference (a fixed Python loop, fastest of 3): {_cpu_reference_seconds():.2f} s")
        walls, peaks = [], []
        for attempt in range(1, args.repeat + 1):
            out = Path(scratch) / f"out-{attempt}"
            argv = ["evaluate", str(snapshot), "--format", "console,json,sarif,html", "--output-dir", str(out)]
            run = timed_run(argv, {"COLUMNS": "160"})
            walls.append(run.wall)
            peaks.append(run.rss_mb)
            print(
                f"cmkaudit evaluate --format console,json,sarif,html, run {attempt} of {args.repeat}: "
                f"{run.wall:.1f} s wall, {run.rss_mb:.0f} MB peak RSS",
                flush=True,
            )
            if attempt == 1:
                sizes = {p.name: p.stat().st_size / 1e6 for p in sorted(out.iterdir())}
                print("files: " + ", ".join(f"{name} {size:.0f} MB" for name, size in sizes.items()))
                print(f"console output: {len(run.done.stdout.splitlines())} lines")
                (out / "cmkaudit-results.json").replace(Path(scratch) / "previous-results.json")
            shutil.rmtree(out)
        written = int(sum(sizes.values()) * 1e6)
        print(
            f"for reference, this machine writing {written / 1e6:.0f} MB (the files' size) to a new file in the same "
            f"directory: {_plain_write_seconds(Path(scratch) / 'reference', written):.1f} s"
        )
        if args.reread:
            reread(snapshot, Path(scratch))
        if args.repeat > 1:
            print(
                f"wall time over {args.repeat} runs: median {statistics.median(walls):.1f} s, fastest "
                f"{min(walls):.1f} s, slowest {max(walls):.1f} s; peak RSS at most {max(peaks):.0f} MB"
            )
        if args.stages:
            print("stage by stage, in this process:")
            stages(snapshot, Path(scratch) / "stages")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
