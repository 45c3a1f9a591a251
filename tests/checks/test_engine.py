"""The engine gives each key usage the verdict its check gives alone (the judging of shared subjects)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from cmkaudit.evaluate.catalog import Catalog
from cmkaudit.evaluate.checks import KEY_USAGE_CHECKS
from cmkaudit.evaluate.model import Status
from cmkaudit.ids import ResourceId
from cmkaudit.inventory.model import (
    KeyReference,
    KeyVersion,
    Scope,
    ScopeEncryption,
    Workspace,
)

from ..conftest import (
    KEY_ID,
    NOW,
    VAULT_URI,
    WORKSPACE_ID,
    inventory,
    key,
    vault,
    workspace,
)
from .helpers import DEFINITIONS, EVERYONE_CSEU, OFFICER_ID, SETTINGS, assignment, second_workspace


@pytest.mark.parametrize("rbac", [False, True])
def test_engine_gives_each_usage_the_verdict_its_check_gives(catalog: Catalog, rbac: bool) -> None:
    """The engine judges a vault, key or key version once for all the usages that lead to it; each finding
    must still be what the check says of that usage alone. The tenant mixes usages that share a vault and a
    key, pin different versions of it, name a key or a vault that is not in the inventory, and use no CMK, in
    different environments (GOV-01 judges all the workspaces on a vault together); on Azure RBAC, a key
    administrator is assigned on one key of the shared vault only."""
    from cmkaudit.evaluate.engine import evaluate

    def on(vault_uri: str, name: str, version: str | None, environment: str | None = "prod") -> Workspace:
        ref = KeyReference(vault_uri, name, version, "test")
        ws = second_workspace(environment)
        suffix = f"{name}-{version}-{vault_uri.split('.')[0].rsplit('/', 1)[-1]}"
        return replace(
            ws,
            id=ResourceId(f"{WORKSPACE_ID}-{suffix}"),
            name=f"dbw-{suffix}",
            managed_services=ScopeEncryption(Scope.MANAGED_SERVICES, "Microsoft.Keyvault", ref),
            managed_disk=ScopeEncryption(Scope.MANAGED_DISK, None, None),
            dbfs_root=ScopeEncryption(Scope.DBFS_ROOT, "Microsoft.Keyvault", ref),
        )

    versions = (
        KeyVersion("v1", True, NOW - timedelta(days=400), NOW - timedelta(days=1), None),  # expired and old
        KeyVersion("v2", True, NOW - timedelta(days=30), NOW + timedelta(days=700), None),
    )
    workspaces = [
        workspace(),
        on(VAULT_URI, "cmk", "v1"),
        on(VAULT_URI, "cmk", "v2", "dev"),
        on(VAULT_URI, "missing-key", None, None),
        on("https://kv-elsewhere.vault.azure.net/", "cmk", None),
    ]
    inv = inventory(workspaces=workspaces, keys=[key(versions=versions)])
    if rbac:
        officer = assignment("eeeeeeee-0000-4000-8000-00000000000e", OFFICER_ID, scope=f"{KEY_ID}", kind="User")
        roles = (*EVERYONE_CSEU, officer)
        shared = vault(rbac_authorization=True, access_policies=(), role_assignments=roles)
        inv = replace(inventory(workspaces=workspaces, vaults=[shared], keys=inv.keys), role_definitions=DEFINITIONS)
    usages = {(u.workspace_id, u.scope): u for u in inv.key_usages}
    checked = 0
    statuses = set()
    for finding in evaluate(inv, catalog, SETTINGS):
        check = KEY_USAGE_CHECKS.get(finding.control_id)
        if check is None:
            continue
        alone = check(usages[finding.resource_id, finding.scope], inv, SETTINGS)
        assert (finding.status, finding.reason, finding.evidence) == (alone.status, alone.reason, alone.evidence)
        checked += 1
        statuses.add((finding.control_id, finding.status))
    assert checked == len(KEY_USAGE_CHECKS) * len(inv.key_usages)
    for control_id in ("KV-01", "KEY-02", "KEY-03"):  # judged once per subject, yet the verdicts differ by usage
        assert {(control_id, s) for s in (Status.PASS, Status.UNKNOWN)} <= statuses
    assert ("KEY-02", Status.FAIL) in statuses  # the pinned expired version, not its sibling's verdict
    assert ("KV-01", Status.NOT_APPLICABLE) in statuses  # the managed disks, on Microsoft-managed keys
    assert {("GOV-01", Status.FAIL), ("GOV-01", Status.UNKNOWN)} <= statuses  # prod and dev; untagged
    if rbac:  # the officer administers key cmk, not the other key of the same vault
        assert {("IAM-03", Status.FAIL), ("IAM-03", Status.PASS)} <= statuses
