"""Grants held through Entra groups, scanned the way a user would against the fake ARM and Microsoft Graph: an
identity's groups (transitively, twenty identities a batch) count as its own; without Graph's permission the
verdicts that depend on them are UNKNOWN naming it; only reads reach the servers (the batch holds GETs only)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from tools.build_cassettes import CRYPTO_OFFICER, CSEU, access_policy, role_assignment, role_definition_body
from tools.fakearm import (
    DATABRICKS_SP,
    TENANT,
    FakeArm,
    Faults,
    Tenant,
    _guid,
    generate_tenant,
    set_groups,
    set_members,
)

from cmkaudit.cli import Streams, run

from .conftest import NOW

KV_USERS, PLATFORM = "6a7b8c9d-0e1f-4a2b-8c3d-4e5f6a7b8c9d", "7b8c9d0e-1f2a-4b3c-9d4e-5f6a7b8c9d0e"
"""Two groups: the identities are in the platform group, which is in the kv-users group (nested)."""
DATA_ACTIONS = {
    CSEU: (
        "Key Vault Crypto Service Encryption User",
        [
            "Microsoft.KeyVault/vaults/keys/read",
            "Microsoft.KeyVault/vaults/keys/wrap/action",
            "Microsoft.KeyVault/vaults/keys/unwrap/action",
        ],
    ),
    CRYPTO_OFFICER: ("Key Vault Crypto Officer", ["Microsoft.KeyVault/vaults/keys/*"]),
}


def _vault(tenant: Tenant, s: int = 0, w: int = 0) -> tuple[str, dict[str, Any]]:
    sub = tenant.subscriptions[s]
    (listed,) = [
        v
        for v in tenant.lists[f"/subscriptions/{sub}/providers/microsoft.keyvault/vaults"]
        if v["name"] == f"kv-{s}-{w}"
    ]
    return listed["id"], listed


def _grant_to_group(tenant: Tenant, roles: list[str], s: int = 0, w: int = 0) -> None:
    """The vault on Azure RBAC, its roles assigned to the kv-users group only (no access policies)."""
    vault_id, listed = _vault(tenant, s, w)
    listed["properties"]["enableRbacAuthorization"] = True
    listed["properties"]["accessPolicies"] = []
    sub = tenant.subscriptions[s]
    assignments = []
    for n, role in enumerate(roles):
        definition = f"/subscriptions/{sub}/providers/Microsoft.Authorization/roleDefinitions/{role}"
        assignments.append(role_assignment(vault_id, KV_USERS, "Group", definition, _guid(0xB0, n)))
        name, actions = DATA_ACTIONS[role]
        tenant.add(definition, role_definition_body(definition, name, [], actions))
    tenant.extend(f"{vault_id}/providers/Microsoft.Authorization/roleAssignments", assignments)


def _in_groups(tenant: Tenant, s: int = 0, w: int = 0) -> None:
    identities = (DATABRICKS_SP, _guid(0xD, s, w), _guid(0xE, s, w))
    for principal in identities:
        set_groups(tenant, principal, [(PLATFORM, "platform"), (KV_USERS, "kv-users")])
    people = [(_guid(0xF, n), f"engineer {n}", "user") for n in range(6)]
    set_members(
        tenant,
        KV_USERS,
        [(PLATFORM, "platform", "group"), *people, *((i, None, "servicePrincipal") for i in identities)],
    )


def scan(arm: FakeArm, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *extra: str) -> tuple[int, dict[str, Any]]:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(arm.ca_file))
    monkeypatch.setenv("CMKAUDIT_ACCESS_TOKEN", "fake-arm-token")
    monkeypatch.setenv("CMKAUDIT_GRAPH_ACCESS_TOKEN", "fake-graph-token")
    argv = ["scan", *[a for sub in arm.tenant.subscriptions for a in ("--subscription", sub)]]
    argv += ["--arm-endpoint", arm.url, "--graph-endpoint", arm.url, "--format", "json", "--output-dir", str(tmp_path)]
    argv += extra
    code = run(argv, Streams(io.StringIO(), io.StringIO()), now=NOW)
    # Reads only: GETs, and Graph batches whose every request is a GET.
    assert {(m, p) for m, p, _ in arm.requests if m != "GET"} <= {("POST", "/v1.0/$batch")}
    assert {m for m, _, _ in arm.batched} <= {"GET"}
    return code, json.loads((tmp_path / "cmkaudit-results.json").read_text())


def statuses(document: dict[str, Any], control: str) -> dict[str, str]:
    return {
        f"{f['resource_name']}/{f['scope']}": f["status"] for f in document["findings"] if f["control_id"] == control
    }


def reasons(document: dict[str, Any], control: str) -> list[str]:
    return [f["reason"] for f in document["findings"] if f["control_id"] == control]


def test_a_role_held_through_a_nested_group_passes_iam_01(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tenant = generate_tenant(subscriptions=1, workspaces=1)
    _grant_to_group(tenant, [CSEU])
    _in_groups(tenant)
    with FakeArm(tenant) as arm:
        code, document = scan(arm, tmp_path, monkeypatch)
    assert code == 0 and document["coverage"]["errors"] == [], document["coverage"]["errors"]
    assert set(statuses(document, "IAM-01").values()) == {"PASS"}
    assert set(statuses(document, "IAM-02").values()) == {"PASS"}
    # The evidence shows the path: identity -> group -> role at the vault.
    evidence = [e for f in document["findings"] if f["control_id"] == "IAM-01" for e in f["evidence"]]
    held = [v for e in evidence if str(e.get("label", "")).startswith("roles of") for v in e["value"]]
    assert any(
        "Key Vault Crypto Service Encryption User at /subscriptions/" in v and "through group kv-users" in v
        for v in held
    )
    groups = [e["value"] for e in evidence if str(e.get("label", "")).startswith("groups of")]
    assert groups and all(f"kv-users ({KV_USERS})" in g for g in groups)


def test_an_over_broad_role_through_a_group_fails_iam_02(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tenant = generate_tenant(subscriptions=1, workspaces=1)
    _grant_to_group(tenant, [CSEU, CRYPTO_OFFICER])
    _in_groups(tenant)
    with FakeArm(tenant) as arm:
        code, document = scan(arm, tmp_path, monkeypatch)
    assert code == 1
    assert set(statuses(document, "IAM-02").values()) == {"FAIL"}
    assert all("Key Vault Crypto Officer" in r and "through group kv-users" in r for r in reasons(document, "IAM-02"))
    # IAM-03 names the group that administers keys with its members: all counted, the first five named.
    assert set(statuses(document, "IAM-03").values()) == {"FAIL"}
    assert all(
        f"group {KV_USERS} (10 members: platform, engineer 0, engineer 1, engineer 2, engineer 3 and 5 more)" in r
        for r in reasons(document, "IAM-03")
    )


def test_graph_refusing_memberships_leaves_the_verdict_unknown_naming_the_permission(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant = generate_tenant(subscriptions=1, workspaces=1)
    _grant_to_group(tenant, [CSEU])
    _in_groups(tenant)
    with FakeArm(tenant, Faults(forbid=["/transitivememberof"])) as arm:
        code, document = scan(arm, tmp_path, monkeypatch)
    assert code == 3
    assert set(statuses(document, "IAM-01").values()) == {"UNKNOWN"}
    assert all("GroupMember.Read.All" in r and "Directory.Read.All" in r for r in reasons(document, "IAM-01"))
    errors = document["coverage"]["errors"]
    assert errors and {e["status_code"] for e in errors} == {403}
    assert all("GroupMember.Read.All" in e["hint"] for e in errors)


def test_an_access_policy_naming_a_group_counts_for_its_members(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The AzureDatabricks principal has no access policy of its own; its group has get/wrapKey/unwrapKey."""
    tenant = generate_tenant(subscriptions=1, workspaces=1)
    _, listed = _vault(tenant)
    policies = listed["properties"]["accessPolicies"]
    policies[:] = [p for p in policies if p["objectId"] != DATABRICKS_SP]
    policies.append(access_policy(TENANT, KV_USERS, ["get", "wrapKey", "unwrapKey"]))
    _in_groups(tenant)
    with FakeArm(tenant) as arm:
        code, document = scan(arm, tmp_path, monkeypatch)
    assert code == 0 and document["coverage"]["errors"] == [], document["coverage"]["errors"]
    assert set(statuses(document, "IAM-01").values()) == {"PASS"}


def test_memberships_take_one_graph_call_per_twenty_identities(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """25 workspaces: 25 disk encryption set identities, 25 storage identities and the AzureDatabricks principal,
    51 identities in 3 batches (at most one Graph call per 20 identities); a tenant whose vaults grant no group makes
    no Graph batch at all."""
    tenant = generate_tenant(subscriptions=1, workspaces=25)
    _grant_to_group(tenant, [CSEU])
    _in_groups(tenant)
    with FakeArm(tenant) as arm:
        scan(arm, tmp_path / "groups", monkeypatch)
        batches = [r for r in arm.requests if r[0] == "POST"]
        memberships = [path for _, path, _ in arm.batched if "/transitivememberof/" in path.lower()]
        members = [path for _, path, _ in arm.batched if "/transitivemembers" in path.lower()]
    # 3 batches of memberships (20 + 20 + 11), and 1 of the kv-users group's members (for IAM-03).
    assert (len(batches), len(memberships), len(members)) == (4, 51, 1)
    with FakeArm(generate_tenant(subscriptions=1, workspaces=25)) as arm:
        scan(arm, tmp_path / "none", monkeypatch)
        assert [r for r in arm.requests if r[0] == "POST"] == []


def test_the_generated_tenant_with_group_grants_passes_through_its_group(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """generate_tenant(group_grants=True), which the crawl benchmark measures: every key's use held through a group."""
    with FakeArm(generate_tenant(subscriptions=2, workspaces=2, group_grants=True)) as arm:
        code, document = scan(arm, tmp_path, monkeypatch)
    assert code == 0 and document["coverage"]["errors"] == [], document["coverage"]["errors"]
    assert set(statuses(document, "IAM-01").values()) == set(statuses(document, "IAM-02").values()) == {"PASS"}
    for finding in (f for f in document["findings"] if f["control_id"] == "IAM-01"):
        held = [v for e in finding["evidence"] if e["label"].startswith("roles of") for v in e["value"]]
        assert held and all(v.endswith(f"through group kv-users ({KV_USERS})") for v in held), held


def test_a_group_of_break_glass_principals_only_may_administer_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Key Vault Crypto Officer held by a group: a FAIL naming its members while one of them is not break-glass; a
    PASS once every member (the nested group aside, whose members are listed too) is in the break-glass list."""
    custodians = "8c9d0e1f-2a3b-4c4d-8e5f-6a7b8c9d0e1f"
    alice, bob = _guid(0xC, 1), _guid(0xC, 2)
    tenant = generate_tenant(subscriptions=1, workspaces=1)
    _grant_to_group(tenant, [CSEU])
    _in_groups(tenant)
    vault_id, _ = _vault(tenant)
    sub = tenant.subscriptions[0]
    officer = f"/subscriptions/{sub}/providers/Microsoft.Authorization/roleDefinitions/{CRYPTO_OFFICER}"
    _grant_to_group(tenant, [CRYPTO_OFFICER])  # defines the role (and assigns it to kv-users, replaced below)
    tenant.lists[f"{vault_id}/providers/microsoft.authorization/roleassignments".lower()] = [
        role_assignment(vault_id, KV_USERS, "Group", officer.replace(CRYPTO_OFFICER, CSEU), _guid(0xB2, 0)),
        role_assignment(vault_id, custodians, "Group", officer, _guid(0xB2, 1)),
    ]
    set_members(tenant, custodians, [(alice, "Alice", "user"), (PLATFORM, "platform", "group"), (bob, "Bob", "user")])
    with FakeArm(tenant) as arm:
        _, document = scan(arm, tmp_path / "one", monkeypatch, "--config", str(_config(tmp_path, [alice])))
    assert set(statuses(document, "IAM-03").values()) == {"FAIL"}
    assert all(f"group {custodians} (3 members: Alice, platform, Bob)" in r for r in reasons(document, "IAM-03"))
    with FakeArm(tenant) as arm:
        code, document = scan(arm, tmp_path / "both", monkeypatch, "--config", str(_config(tmp_path, [alice, bob])))
    assert code == 0, document["coverage"]["errors"]
    assert set(statuses(document, "IAM-03").values()) == {"PASS"}


def _config(tmp_path: Path, break_glass: list[str]) -> Path:
    config = tmp_path / f"cmkaudit-{len(break_glass)}.yaml"
    config.write_text("break_glass_principals:\n" + "".join(f"  - {p}\n" for p in break_glass))
    return config


def test_a_graph_error_that_echoes_the_token_never_reaches_a_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch item's error quoting the Authorization header: the token is scrubbed before it is kept anywhere."""
    tenant = generate_tenant(subscriptions=1, workspaces=1)
    _grant_to_group(tenant, [CSEU])
    _in_groups(tenant)
    echo = {"error": {"code": "Forbidden", "message": "refused request with Authorization: Bearer fake-graph-token"}}
    with FakeArm(tenant, Faults(answers={"/transitivememberof": (403, echo, {})})) as arm:
        code, document = scan(arm, tmp_path, monkeypatch, "--format", "json,sarif,html,console")
    assert code == 3
    assert set(statuses(document, "IAM-01").values()) == {"UNKNOWN"}
    assert any("[redacted]" in r for r in reasons(document, "IAM-01"))
    for path in tmp_path.iterdir():
        assert "fake-graph-token" not in path.read_text(), path.name
