"""Access controls (IAM-01 to IAM-03), on access policies and on Azure RBAC: pass_, fail_ and unknown_ cases."""

from __future__ import annotations

from dataclasses import replace

import pytest

from cmkaudit.evaluate.checks.access import (
    check_key_administrators,
    check_least_privilege,
    check_required_permissions,
)
from cmkaudit.evaluate.checks.vault import (
    check_purge_protection,
)
from cmkaudit.evaluate.model import Settings, Status
from cmkaudit.inventory.model import (
    AZURE_SCOPES,
    KeyReference,
    PrincipalLookup,
    RoleDefinition,
    Scope,
    ScopeEncryption,
)

from ..conftest import (
    DATABRICKS_SP,
    DES_PRINCIPAL,
    STORAGE_PRINCIPAL,
    SUB,
    TENANT,
    VAULT_ID,
    des,
    inventory,
    policy,
    vault,
    workspace,
)
from .helpers import (
    CRYPTO_USER_ID,
    CSEU_ID,
    CUSTOM_ID,
    EVERYONE_CSEU,
    OFFICER_ID,
    ROLE_DEFINITIONS,
    WRAP,
    assignment,
    rbac_inventory,
    usage_verdict,
)

# --- IAM-01 / IAM-02 --------------------------------------------------------------------------------


@pytest.mark.parametrize("scope", list(AZURE_SCOPES))
def test_pass_exact_permissions(scope: Scope) -> None:
    inv = inventory()
    assert usage_verdict(check_required_permissions, inv, scope).status is Status.PASS
    assert usage_verdict(check_least_privilege, inv, scope).status is Status.PASS


def test_pass_permissions_compared_case_insensitively() -> None:
    policies = (policy(DATABRICKS_SP, ["Get", "WrapKey", "UnwrapKey"]),)
    inv = inventory(vaults=[vault(access_policies=policies)])
    assert usage_verdict(check_required_permissions, inv, Scope.MANAGED_SERVICES).status is Status.PASS


@pytest.mark.parametrize(
    ("scope", "principal"),
    [
        (Scope.MANAGED_SERVICES, DATABRICKS_SP),
        (Scope.MANAGED_DISK, DES_PRINCIPAL),
        (Scope.DBFS_ROOT, STORAGE_PRINCIPAL),
    ],
)
def test_fail_missing_wrap_key(scope: Scope, principal: str) -> None:
    others = [p for p in vault().access_policies if p.object_id != principal]
    inv = inventory(vaults=[vault(access_policies=(*others, policy(principal, ["get", "unwrapKey"])))])
    verdict = usage_verdict(check_required_permissions, inv, scope)
    assert verdict.status is Status.FAIL
    assert "lacks wrapKey" in verdict.reason
    assert principal in verdict.reason


def test_fail_identity_without_any_policy() -> None:
    inv = inventory(vaults=[vault(access_policies=(policy(DES_PRINCIPAL),))])
    assert usage_verdict(check_required_permissions, inv, Scope.DBFS_ROOT).status is Status.FAIL
    # ...while holding nothing at all is not excess privilege.
    assert usage_verdict(check_least_privilege, inv, Scope.DBFS_ROOT).status is Status.PASS


@pytest.mark.parametrize(
    ("keys", "secrets", "excess"),
    [
        (["get", "wrapKey", "unwrapKey", "decrypt"], [], "decrypt"),
        (["all"], [], "all"),
        (["get", "wrapKey", "unwrapKey"], ["get"], "secrets:get"),
        (["get", "wrapKey", "unwrapKey", "purge"], [], "purge"),
    ],
)
def test_fail_excess_permissions(keys: list[str], secrets: list[str], excess: str) -> None:
    policies = (policy(DATABRICKS_SP, keys, secrets), policy(DES_PRINCIPAL), policy(STORAGE_PRINCIPAL))
    inv = inventory(vaults=[vault(access_policies=policies)])
    verdict = usage_verdict(check_least_privilege, inv, Scope.MANAGED_SERVICES)
    assert verdict.status is Status.FAIL
    assert excess in verdict.reason


def test_all_permission_satisfies_the_required_set() -> None:
    policies = (policy(DATABRICKS_SP, ["all"]),)
    inv = inventory(vaults=[vault(access_policies=policies)])
    assert usage_verdict(check_required_permissions, inv, Scope.MANAGED_SERVICES).status is Status.PASS


def test_policies_of_another_tenant_do_not_count() -> None:
    foreign = replace(policy(DATABRICKS_SP), tenant_id="ffffffff-0000-4000-8000-000000000000")
    inv = inventory(vaults=[vault(access_policies=(foreign,))])
    assert usage_verdict(check_required_permissions, inv, Scope.MANAGED_SERVICES).status is Status.FAIL


@pytest.mark.parametrize("check", [check_required_permissions, check_least_privilege])
def test_unknown_databricks_principal_not_resolved(check: object) -> None:
    failed = PrincipalLookup(TENANT, None, None, "Microsoft Graph answered HTTP 403")
    verdict = usage_verdict(check, inventory(principals=[failed]), Scope.MANAGED_SERVICES)
    assert verdict.status is Status.UNKNOWN
    assert "--databricks-principal-id" in verdict.reason
    assert "HTTP 403" in verdict.reason


@pytest.mark.parametrize("check", [check_required_permissions, check_least_privilege])
def test_unknown_rbac_vault(check: object) -> None:
    unread = vault(rbac_authorization=True, role_assignments=None)
    verdict = usage_verdict(check, inventory(vaults=[unread]), Scope.MANAGED_DISK)
    assert verdict.status is Status.UNKNOWN
    assert "Azure RBAC" in verdict.reason


@pytest.mark.parametrize("check", [check_required_permissions, check_least_privilege])
def test_unknown_permission_model_not_reported(check: object) -> None:
    verdict = usage_verdict(check, inventory(vaults=[vault(rbac_authorization=None)]), Scope.DBFS_ROOT)
    assert verdict.status is Status.UNKNOWN


def test_unknown_managed_disk_identity_not_reported() -> None:
    inv = inventory(workspaces=[workspace(managed_disk_identity=None)], sets=[des(identities=())])
    verdict = usage_verdict(check_required_permissions, inv, Scope.MANAGED_DISK)
    assert verdict.status is Status.UNKNOWN


def test_configured_databricks_principal_is_used(catalog: object) -> None:
    from cmkaudit.inventory.model import PrincipalSource

    configured = PrincipalLookup(TENANT, DATABRICKS_SP, PrincipalSource.CONFIG)
    verdict = usage_verdict(check_required_permissions, inventory(principals=[configured]), Scope.MANAGED_SERVICES)
    assert verdict.status is Status.PASS
    assert any("configuration" in (e.source or "") for e in verdict.evidence)


def test_unknown_key_in_managed_hsm_is_named_as_such() -> None:
    hsm = KeyReference("https://contoso-hsm.managedhsm.azure.net/", "cmk", None, "test")
    ws = workspace(managed_services=ScopeEncryption(Scope.MANAGED_SERVICES, "Microsoft.Keyvault", hsm))
    verdict = usage_verdict(check_purge_protection, inventory(workspaces=[ws]), Scope.MANAGED_SERVICES)
    assert verdict.status is Status.UNKNOWN
    assert "Managed HSM contoso-hsm.managedhsm.azure.net" in verdict.reason


@pytest.mark.parametrize("scope", list(AZURE_SCOPES))
def test_pass_rbac_crypto_service_encryption_user(scope: Scope) -> None:
    inv = rbac_inventory(*EVERYONE_CSEU)
    assert usage_verdict(check_required_permissions, inv, scope).status is Status.PASS
    assert usage_verdict(check_least_privilege, inv, scope).status is Status.PASS
    assert usage_verdict(check_key_administrators, inv, scope).status is Status.PASS


def test_pass_rbac_narrower_custom_role_with_key_read_elsewhere() -> None:
    """A custom wrap/unwrap role plus the key read from CSEU: enough, and nothing beyond."""
    inv = rbac_inventory(assignment(DATABRICKS_SP, CUSTOM_ID), assignment(DATABRICKS_SP, CSEU_ID))
    assert usage_verdict(check_required_permissions, inv, Scope.MANAGED_SERVICES).status is Status.PASS
    assert usage_verdict(check_least_privilege, inv, Scope.MANAGED_SERVICES).status is Status.PASS


def test_fail_rbac_missing_role() -> None:
    inv = rbac_inventory(*EVERYONE_CSEU[1:])
    verdict = usage_verdict(check_required_permissions, inv, Scope.MANAGED_SERVICES)
    assert verdict.status is Status.FAIL
    assert "has no role granting get, wrapKey, unwrapKey" in verdict.reason


def test_fail_rbac_role_on_another_key_does_not_count() -> None:
    inv = rbac_inventory(assignment(DES_PRINCIPAL, CSEU_ID, scope=f"{VAULT_ID}/keys/other"))
    assert usage_verdict(check_required_permissions, inv, Scope.MANAGED_DISK).status is Status.FAIL


def test_fail_rbac_not_data_actions_are_honoured() -> None:
    """A role allowing keys/* minus wrap does not grant wrapKey."""
    minus_wrap = RoleDefinition(
        CUSTOM_ID, "c", "keys but not wrap", (), (), ("Microsoft.KeyVault/vaults/keys/*",), (WRAP,)
    )
    inv = rbac_inventory(assignment(DATABRICKS_SP, CUSTOM_ID), definitions=(minus_wrap,))
    verdict = usage_verdict(check_required_permissions, inv, Scope.MANAGED_SERVICES)
    assert verdict.status is Status.FAIL
    assert "has no role granting wrapKey (" in verdict.reason  # get and unwrapKey are granted


@pytest.mark.parametrize("broad", [CRYPTO_USER_ID, OFFICER_ID])
def test_fail_rbac_broader_than_needed(broad: str) -> None:
    inv = rbac_inventory(*EVERYONE_CSEU, assignment(DATABRICKS_SP, broad))
    verdict = usage_verdict(check_least_privilege, inv, Scope.MANAGED_SERVICES)
    assert verdict.status is Status.FAIL
    assert "keys/sign/action" in verdict.reason  # the role's data actions, expanded: keys/* covers sign
    assert ("keys/delete" in verdict.reason) is (broad == OFFICER_ID)  # Crypto User's notDataActions take it away


def test_fail_rbac_key_administrator_outside_break_glass() -> None:
    officer = assignment("eeeeeeee-0000-4000-8000-00000000000e", OFFICER_ID, scope=f"/subscriptions/{SUB}", kind="User")
    inv = rbac_inventory(*EVERYONE_CSEU, officer)
    verdict = usage_verdict(check_key_administrators, inv, Scope.DBFS_ROOT)
    assert verdict.status is Status.FAIL
    assert "Key Vault Crypto Officer" in verdict.reason
    allowed = Settings(break_glass_principals=("EEEEEEEE-0000-4000-8000-00000000000E",))
    assert usage_verdict(check_key_administrators, inv, Scope.DBFS_ROOT, allowed).status is Status.PASS


def test_unknown_rbac_grant_only_through_a_group() -> None:
    group = assignment("aaaaaaaa-0000-4000-8000-0000000000aa", CSEU_ID, kind="Group")
    inv = rbac_inventory(group)
    verdict = usage_verdict(check_required_permissions, inv, Scope.MANAGED_SERVICES)
    assert verdict.status is Status.UNKNOWN
    assert "through a group" in verdict.reason


@pytest.mark.parametrize("check", [check_required_permissions, check_least_privilege, check_key_administrators])
def test_unknown_rbac_role_definition_not_read(check: object) -> None:
    inv = rbac_inventory(assignment(DATABRICKS_SP, f"{ROLE_DEFINITIONS}/99999999-0000-4000-8000-000000000099"))
    assert usage_verdict(check, inv, Scope.MANAGED_SERVICES).status is Status.UNKNOWN


def test_access_policy_purge_outside_break_glass() -> None:
    admin = policy("eeeeeeee-0000-4000-8000-00000000000e", ["get", "list", "delete", "purge"])
    inv = inventory(vaults=[vault(access_policies=(*vault().access_policies, admin))])
    assert usage_verdict(check_key_administrators, inv, Scope.MANAGED_SERVICES).status is Status.FAIL
    allowed = Settings(break_glass_principals=("eeeeeeee-0000-4000-8000-00000000000e",))
    assert usage_verdict(check_key_administrators, inv, Scope.MANAGED_SERVICES, allowed).status is Status.PASS
    assert usage_verdict(check_key_administrators, inventory(), Scope.MANAGED_SERVICES).status is Status.PASS
