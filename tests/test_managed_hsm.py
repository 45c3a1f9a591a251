"""Managed HSM pools, scanned the way a user would against the fake ARM and the pools' data plane: keys on a pool in
every scope, its protections from Resource Manager, its local RBAC from its data plane; refusals are UNKNOWN with
the role to grant, never PASS; only reads reach the servers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tools.build_cassettes import BREAK_GLASS
from tools.fakearm import DATABRICKS_SP, FakeArm, Faults, generate_tenant

from .test_faults import reach_the_data_plane, scan, statuses

HSM_TENANT = generate_tenant(subscriptions=1, workspaces=2, managed_hsm=True)
VAULT_TENANT = generate_tenant(subscriptions=1, workspaces=2)
HSM_CONTROLS = (
    "KV-01",
    "KV-02",
    "KV-03",
    "KV-04",
    "KEY-01",
    "KEY-02",
    "KEY-03",
    "KEY-04",
    "IAM-01",
    "IAM-02",
    "IAM-03",
)


def hsm_scan(
    arm: FakeArm,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    token: str | None = "fake-hsm-token",
    extra: tuple[str, ...] = (),
) -> tuple[int, dict[str, Any]]:
    """A scan with the pools' hosts reached through the fake server's proxy and break-glass configured."""
    reach_the_data_plane(arm, monkeypatch, token, "CMKAUDIT_MANAGEDHSM_ACCESS_TOKEN")
    tmp_path.mkdir(parents=True, exist_ok=True)
    config = tmp_path / "cmkaudit.yaml"
    config.write_text(f"break_glass_principals:\n  - {BREAK_GLASS}\n")
    return scan(arm, tmp_path, monkeypatch, "--config", str(config), *extra)


def by_control(document: dict[str, Any]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for finding in document["findings"]:
        found.setdefault(finding["control_id"], set()).add(finding["status"])
    return found


def findings_of(document: dict[str, Any], control: str) -> list[dict[str, Any]]:
    return [f for f in document["findings"] if f["control_id"] == control]


def test_keys_on_a_managed_hsm_are_evaluated_in_every_scope_like_vault_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with FakeArm(VAULT_TENANT) as arm:
        _, on_vaults = hsm_scan(arm, tmp_path / "vaults", monkeypatch)
    with FakeArm(HSM_TENANT) as arm:
        code, document = hsm_scan(arm, tmp_path / "pools", monkeypatch)
        data_plane = [(path, status) for _, path, status in arm.requests if ".managedhsm.azure.net" in path]
    assert code == 0 and document["coverage"]["errors"] == [], document["coverage"]["errors"]
    # Same verdicts as the same tenant on vaults, for every control and scope; nothing UNKNOWN.
    assert statuses(document) == statuses(on_vaults)
    assert "UNKNOWN" not in {f["status"] for f in document["findings"]}
    for control in HSM_CONTROLS:
        assert by_control(document)[control] == {"PASS"}, control
    iam_01 = findings_of(document, "IAM-01")
    assert {f["scope"] for f in iam_01} == {"managedServices", "managedDisk", "dbfsRoot"}
    assert all("Managed HSM hsm-0-" in f["reason"] for f in iam_01)
    # The local RBAC was read on the data plane (after its 401 challenge), at /, /keys and the key in use.
    read = {path.split(".net", 1)[1] for path, status in data_plane if status == 200}
    assert {
        "/providers/Microsoft.Authorization/roleAssignments",
        "/keys/providers/Microsoft.Authorization/roleAssignments",
        "/keys/cmk/providers/Microsoft.Authorization/roleAssignments",
        "/providers/Microsoft.Authorization/roleDefinitions",
    } <= read


def test_a_pool_without_purge_protection_fails_kv_01(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The official ManagedHsm_Get example's pool: purge protection off."""
    tenant = generate_tenant(subscriptions=1, workspaces=1, managed_hsm=True)
    (listed,) = [v for k, v in tenant.lists.items() if k.endswith("/managedhsms")]
    listed[0]["properties"]["enablePurgeProtection"] = False
    with FakeArm(tenant) as arm:
        code, document = hsm_scan(arm, tmp_path, monkeypatch)
    assert code == 1
    kv01 = findings_of(document, "KV-01")
    assert kv01 and all(
        f["status"] == "FAIL" and "Managed HSM hsm-0-0 has purge protection disabled" in f["reason"] for f in kv01
    )


def test_a_refusing_data_plane_leaves_iam_unknown_naming_the_role(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    faults = Faults(forbid=["managedhsm.azure.net/providers/microsoft.authorization/roleassignments"])
    with FakeArm(HSM_TENANT, faults) as arm:
        code, document = hsm_scan(arm, tmp_path, monkeypatch)
    assert code == 3
    for control in ("IAM-01", "IAM-02", "IAM-03"):
        assert by_control(document)[control] == {"UNKNOWN"}, control
        assert all("Managed HSM Crypto Auditor" in f["reason"] for f in findings_of(document, control))
    errors = document["coverage"]["errors"]
    assert {e["operation"] for e in errors} == {"list Managed HSM role assignments (data plane)"}
    assert all(e["status_code"] == 403 for e in errors)
    # The pool's own protections still come from Resource Manager.
    assert by_control(document)["KV-01"] == {"PASS"}


def test_without_a_managed_hsm_token_the_hint_says_how_to_get_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with FakeArm(HSM_TENANT) as arm:
        code, document = hsm_scan(arm, tmp_path, monkeypatch, token=None)
    assert code == 3
    hints = {e["hint"] for e in document["coverage"]["errors"]}
    assert hints and all("CMKAUDIT_MANAGEDHSM_ACCESS_TOKEN" in h for h in hints)
    assert by_control(document)["IAM-01"] == {"UNKNOWN"}


def test_an_over_broad_local_role_fails_iam_02_and_a_purger_fails_iam_03(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tools.build_cassettes import hsm_role_assignment

    tenant = generate_tenant(subscriptions=1, workspaces=1, managed_hsm=True)
    path = "hsm-0-0.managedhsm.azure.net/keys/providers/microsoft.authorization/roleassignments"
    crypto_user, crypto_officer = "21dbd100-6940-42c2-9190-5d6cb909625b", "515eb02d-2335-4d2d-92f2-b1cbdf9c3778"
    outsider = "0a0b0c0d-0e0f-4a1b-8c2d-3e4f5a6b7c8d"
    tenant.resources[path] = {
        "value": [
            hsm_role_assignment("/keys", "over-broad", crypto_user, DATABRICKS_SP),
            hsm_role_assignment("/keys", "purger", crypto_officer, outsider),
        ]
    }
    with FakeArm(tenant) as arm:
        code, document = hsm_scan(arm, tmp_path, monkeypatch)
    assert code == 1
    iam02 = {f["scope"]: f for f in findings_of(document, "IAM-02")}
    # The AzureDatabricks principal (managed services) holds Crypto User on the keys: more than it needs.
    assert iam02["managedServices"]["status"] == "FAIL"
    assert "Managed HSM Crypto User" in iam02["managedServices"]["reason"]
    assert "keys/delete" in iam02["managedServices"]["reason"]
    # The disk encryption set's and storage account's identities hold Crypto Service Encryption User only.
    assert iam02["managedDisk"]["status"] == iam02["dbfsRoot"]["status"] == "PASS"
    assert {f["status"] for f in findings_of(document, "IAM-01")} == {"PASS"}
    iam03 = findings_of(document, "IAM-03")
    assert iam03 and all(f["status"] == "FAIL" and outsider in f["reason"] for f in iam03)
    assert all(BREAK_GLASS not in f["reason"] for f in iam03)


def test_resource_graph_mode_reads_the_pools_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeArm(HSM_TENANT) as arm:
        _, by_arm = hsm_scan(arm, tmp_path / "arm", monkeypatch)
        listed_by_arm = [path for _, path, _ in arm.requests if path.lower().endswith("/managedhsms")]
    with FakeArm(HSM_TENANT) as arm:
        code, by_graph = hsm_scan(arm, tmp_path / "graph", monkeypatch, extra=("--source", "resource-graph"))
        listed_by_graph = [path for _, path, _ in arm.requests if path.lower().endswith("/managedhsms")]
    assert code == 0 and by_graph["coverage"]["errors"] == [], by_graph["coverage"]["errors"]
    assert statuses(by_graph) == statuses(by_arm)
    # The ARM crawl lists the pools per subscription; Resource Graph's query returns them with the rest.
    assert len(listed_by_arm) == 1 and listed_by_graph == []
