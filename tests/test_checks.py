"""Every control: pass_*, fail_* and unknown_* cases on small inventories."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from cmkaudit.evaluate.catalog import Catalog
from cmkaudit.evaluate.checks import KEY_USAGE_CHECKS, WORKSPACE_CHECKS
from cmkaudit.evaluate.checks.access import (
    check_key_administrators,
    check_least_privilege,
    check_required_permissions,
)
from cmkaudit.evaluate.checks.governance import (
    check_key_not_shared_across_environments,
    check_sensitive_workspace_scopes,
)
from cmkaudit.evaluate.checks.key import (
    check_key_type_and_size,
    check_key_version_age,
    check_key_version_validity,
    check_rotation_policy,
)
from cmkaudit.evaluate.checks.vault import (
    check_purge_protection,
    check_soft_delete,
    check_vault_audit_logging,
    check_vault_network,
    check_vault_tenant_and_region,
)
from cmkaudit.evaluate.checks.workspace import (
    check_dbfs_infrastructure_encryption,
    check_dbfs_root_cmk,
    check_managed_disk_auto_rotation,
    check_managed_disk_cmk,
    check_managed_services_cmk,
    check_premium_sku,
)
from cmkaudit.evaluate.model import Settings, Status, Verdict
from cmkaudit.ids import PrincipalId, ResourceId
from cmkaudit.inventory.model import (
    CollectionError,
    DiagnosticSetting,
    Inventory,
    Key,
    KeyReference,
    KeyVersion,
    LogSetting,
    PrincipalLookup,
    RoleAssignment,
    RoleDefinition,
    Scope,
    ScopeEncryption,
    Workspace,
)

from .conftest import (
    DATABRICKS_SP,
    DES_PRINCIPAL,
    KEY_ID,
    NOW,
    STORAGE_PRINCIPAL,
    SUB,
    TENANT,
    VAULT_ID,
    VAULT_URI,
    WORKSPACE_ID,
    des,
    inventory,
    key,
    key_ref,
    policy,
    rotation,
    storage,
    vault,
    workspace,
)

SETTINGS = Settings()


def usage_verdict(check: object, inv: Inventory, scope: Scope, settings: Settings = SETTINGS) -> Verdict:
    usage = next(u for u in inv.key_usages if u.scope is scope)
    return check(usage, inv, settings)  # type: ignore[operator, no-any-return]


def workspace_verdict(check: object, inv: Inventory) -> Verdict:
    return check(inv.workspaces[0], inv, SETTINGS)  # type: ignore[operator, no-any-return]


# --- DBX-01 -----------------------------------------------------------------------------------------


def test_pass_premium() -> None:
    assert workspace_verdict(check_premium_sku, inventory()).status is Status.PASS


@pytest.mark.parametrize("sku", ["standard", "trial"])
def test_fail_not_premium(sku: str) -> None:
    verdict = workspace_verdict(check_premium_sku, inventory(workspaces=[workspace(sku=sku)]))
    assert verdict.status is Status.FAIL
    assert sku in verdict.reason


def test_unknown_sku_not_reported() -> None:
    assert workspace_verdict(check_premium_sku, inventory(workspaces=[workspace(sku=None)])).status is Status.UNKNOWN


# --- DBX-02 / DBX-03 --------------------------------------------------------------------------------


def test_pass_managed_services_and_disks() -> None:
    inv = inventory()
    assert workspace_verdict(check_managed_services_cmk, inv).status is Status.PASS
    assert workspace_verdict(check_managed_disk_cmk, inv).status is Status.PASS


@pytest.mark.parametrize("key_source", [None, "Default"])
def test_fail_managed_services_without_cmk(key_source: str | None) -> None:
    ws = workspace(managed_services=ScopeEncryption(Scope.MANAGED_SERVICES, key_source, None))
    verdict = workspace_verdict(check_managed_services_cmk, inventory(workspaces=[ws]))
    assert verdict.status is Status.FAIL


def test_fail_managed_disk_key_source_without_key() -> None:
    """keySource says Key Vault but no key is named: not a usable CMK configuration."""
    ws = workspace(managed_disk=ScopeEncryption(Scope.MANAGED_DISK, "Microsoft.Keyvault", None))
    assert workspace_verdict(check_managed_disk_cmk, inventory(workspaces=[ws])).status is Status.FAIL


def test_managed_disk_evidence_names_the_disk_encryption_set() -> None:
    verdict = workspace_verdict(check_managed_disk_cmk, inventory())
    assert ("encryptionType", "EncryptionAtRestWithCustomerKey") in [(e.label, e.value) for e in verdict.evidence]


# --- DBX-05 -----------------------------------------------------------------------------------------


def test_pass_dbfs_root_and_storage_agree() -> None:
    assert workspace_verdict(check_dbfs_root_cmk, inventory()).status is Status.PASS


def test_fail_dbfs_root_not_requested() -> None:
    ws = workspace(dbfs_root=ScopeEncryption(Scope.DBFS_ROOT, None, None, prepare_encryption=True))
    verdict = workspace_verdict(check_dbfs_root_cmk, inventory(workspaces=[ws]))
    assert verdict.status is Status.FAIL
    assert "prepareEncryption True" in verdict.reason


def test_fail_dbfs_root_storage_account_disagrees() -> None:
    """The workspace asks for CMK but the storage account still uses Microsoft-managed keys."""
    inv = inventory(accounts=[storage(key_source="Microsoft.Storage", key=None)])
    verdict = workspace_verdict(check_dbfs_root_cmk, inv)
    assert verdict.status is Status.FAIL
    assert "Microsoft.Storage" in verdict.reason


def test_fail_dbfs_root_storage_uses_another_key() -> None:
    other = KeyReference("https://kv-other.vault.azure.net", "cmk", None, "properties.encryption.keyvaultproperties")
    verdict = workspace_verdict(check_dbfs_root_cmk, inventory(accounts=[storage(key=other)]))
    assert verdict.status is Status.FAIL
    assert "kv-other.vault.azure.net" in verdict.reason


def test_unknown_dbfs_root_storage_account_not_read() -> None:
    verdict = workspace_verdict(check_dbfs_root_cmk, inventory(accounts=[]))
    assert verdict.status is Status.UNKNOWN
    assert "could not be read" in verdict.reason


# --- KV-01 ------------------------------------------------------------------------------------------


def test_pass_purge_protection() -> None:
    assert usage_verdict(check_purge_protection, inventory(), Scope.MANAGED_SERVICES).status is Status.PASS


@pytest.mark.parametrize("value", [False, None])
def test_fail_purge_protection(value: bool | None) -> None:
    inv = inventory(vaults=[vault(purge_protection_enabled=value)])
    assert usage_verdict(check_purge_protection, inv, Scope.MANAGED_DISK).status is Status.FAIL


def test_unknown_purge_protection_vault_not_visible() -> None:
    verdict = usage_verdict(check_purge_protection, inventory(vaults=[]), Scope.MANAGED_SERVICES)
    assert verdict.status is Status.UNKNOWN
    assert "not in the scanned subscriptions" in verdict.reason
    assert "--subscription" in verdict.reason


def test_not_applicable_without_cmk_on_the_scope() -> None:
    ws = workspace(dbfs_root=ScopeEncryption(Scope.DBFS_ROOT, None, None))
    verdict = usage_verdict(check_purge_protection, inventory(workspaces=[ws]), Scope.DBFS_ROOT)
    assert verdict.status is Status.NOT_APPLICABLE
    assert "DBX-05" in verdict.reason


# --- KV-02 ------------------------------------------------------------------------------------------


def test_pass_soft_delete() -> None:
    assert usage_verdict(check_soft_delete, inventory(), Scope.MANAGED_SERVICES).status is Status.PASS


def test_pass_soft_delete_retention_not_reported_uses_the_documented_default() -> None:
    verdict = usage_verdict(
        check_soft_delete, inventory(vaults=[vault(soft_delete_retention_days=None)]), Scope.DBFS_ROOT
    )
    assert verdict.status is Status.PASS
    assert "default of 90" in verdict.reason


@pytest.mark.parametrize(("enabled", "days"), [(False, 90), (None, 90), (True, 7), (True, 89)])
def test_fail_soft_delete(enabled: bool | None, days: int) -> None:
    inv = inventory(vaults=[vault(soft_delete_enabled=enabled, soft_delete_retention_days=days)])
    assert usage_verdict(check_soft_delete, inv, Scope.MANAGED_SERVICES).status is Status.FAIL


def test_soft_delete_threshold_is_a_setting() -> None:
    inv = inventory(vaults=[vault(soft_delete_retention_days=30)])
    assert usage_verdict(check_soft_delete, inv, Scope.MANAGED_SERVICES).status is Status.FAIL
    relaxed = Settings(soft_delete_min_retention_days=30)
    assert usage_verdict(check_soft_delete, inv, Scope.MANAGED_SERVICES, relaxed).status is Status.PASS


def test_unknown_soft_delete_vault_not_visible() -> None:
    assert usage_verdict(check_soft_delete, inventory(vaults=[]), Scope.MANAGED_DISK).status is Status.UNKNOWN


# --- KEY-03 -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "policy_actions",
    [
        [("Rotate", "P90D", None)],
        [("rotate", "P3M", None)],  # 90 days; action types compared case-insensitively
        [("Rotate", None, "P640D")],  # P2Y expiry - 640 days before expiry = rotation every 90 days
        [("Notify", None, "P30D"), ("Rotate", "P30D", None)],
    ],
)
def test_pass_rotation_policy(policy_actions: list[tuple[str, str | None, str | None]]) -> None:
    inv = inventory(keys=[key(rotation_policy=rotation(*policy_actions))])
    assert usage_verdict(check_rotation_policy, inv, Scope.MANAGED_SERVICES).status is Status.PASS


@pytest.mark.parametrize(
    "policy_actions",
    [[("Notify", None, "P30D")], [("Rotate", "P1Y", None)], [("Rotate", "P91D", None)], []],
)
def test_fail_rotation_policy(policy_actions: list[tuple[str, str | None, str | None]]) -> None:
    inv = inventory(keys=[key(rotation_policy=rotation(*policy_actions))])
    assert usage_verdict(check_rotation_policy, inv, Scope.MANAGED_SERVICES).status is Status.FAIL


def test_rotation_cadence_is_a_setting() -> None:
    inv = inventory(keys=[key(rotation_policy=rotation(("Rotate", "P1Y", None)))])
    yearly = Settings(rotation_max_days=365)
    assert usage_verdict(check_rotation_policy, inv, Scope.MANAGED_DISK, yearly).status is Status.PASS


def test_unknown_rotation_policy_not_returned_by_arm() -> None:
    verdict = usage_verdict(check_rotation_policy, inventory(keys=[key(rotation_policy=None)]), Scope.MANAGED_DISK)
    assert verdict.status is Status.UNKNOWN
    assert "data plane" in verdict.reason


def test_unknown_rotation_key_not_read() -> None:
    verdict = usage_verdict(check_rotation_policy, inventory(keys=[]), Scope.MANAGED_DISK)
    assert verdict.status is Status.UNKNOWN
    assert "could not be read" in verdict.reason


def test_unknown_rotation_trigger_unparseable() -> None:
    inv = inventory(keys=[key(rotation_policy=rotation(("Rotate", "ninety days", None)))])
    assert usage_verdict(check_rotation_policy, inv, Scope.MANAGED_DISK).status is Status.UNKNOWN


# --- IAM-01 / IAM-02 --------------------------------------------------------------------------------


@pytest.mark.parametrize("scope", list(Scope))
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


# --- DBX-04 -----------------------------------------------------------------------------------------


def test_pass_managed_disks_follow_the_latest_version() -> None:
    assert workspace_verdict(check_managed_disk_auto_rotation, inventory()).status is Status.PASS


@pytest.mark.parametrize(
    ("workspace_flag", "des_changes"),
    [
        (False, {}),
        (None, {}),
        (True, {"rotation_to_latest": False}),
        (True, {"auto_key_rotation_error": "ManagedServiceIdentityNotFound: the identity was deleted"}),
    ],
)
def test_fail_managed_disks_do_not_follow(workspace_flag: bool | None, des_changes: dict[str, object]) -> None:
    disk = ScopeEncryption(Scope.MANAGED_DISK, "Microsoft.Keyvault", key_ref(), rotation_to_latest=workspace_flag)
    inv = inventory(workspaces=[workspace(managed_disk=disk)], sets=[des(**des_changes)])
    assert workspace_verdict(check_managed_disk_auto_rotation, inv).status is Status.FAIL


def test_unknown_disk_encryption_set_not_read() -> None:
    assert workspace_verdict(check_managed_disk_auto_rotation, inventory(sets=[])).status is Status.UNKNOWN


def test_not_applicable_auto_rotation_without_disk_cmk() -> None:
    ws = workspace(managed_disk=ScopeEncryption(Scope.MANAGED_DISK, None, None))
    assert (
        workspace_verdict(check_managed_disk_auto_rotation, inventory(workspaces=[ws])).status is Status.NOT_APPLICABLE
    )


# --- DBX-06 -----------------------------------------------------------------------------------------


def test_pass_infrastructure_encryption() -> None:
    assert workspace_verdict(check_dbfs_infrastructure_encryption, inventory()).status is Status.PASS


def test_pass_infrastructure_encryption_from_the_workspace_parameter() -> None:
    verdict = workspace_verdict(check_dbfs_infrastructure_encryption, inventory(accounts=[]))
    assert verdict.status is Status.PASS
    assert "created its DBFS root" in verdict.reason


def test_fail_infrastructure_encryption_storage_account_decides() -> None:
    """The storage account's own flag wins over the workspace parameter."""
    inv = inventory(accounts=[storage(infrastructure_encryption=False)])
    assert workspace_verdict(check_dbfs_infrastructure_encryption, inv).status is Status.FAIL


def test_unknown_infrastructure_encryption() -> None:
    inv = inventory(workspaces=[workspace(require_infrastructure_encryption=None)], accounts=[])
    assert workspace_verdict(check_dbfs_infrastructure_encryption, inv).status is Status.UNKNOWN


# --- KV-03 ------------------------------------------------------------------------------------------


def test_pass_vault_in_the_workspace_tenant_and_region() -> None:
    inv = inventory(vaults=[vault(location="West Europe")])  # "West Europe" and "westeurope" are one region
    assert usage_verdict(check_vault_tenant_and_region, inv, Scope.MANAGED_SERVICES).status is Status.PASS


@pytest.mark.parametrize(
    "changes", [{"location": "northeurope"}, {"tenant_id": "ffffffff-0000-4000-8000-000000000000"}]
)
def test_fail_vault_in_another_region_or_tenant(changes: dict[str, str]) -> None:
    inv = inventory(vaults=[vault(**changes)])
    assert usage_verdict(check_vault_tenant_and_region, inv, Scope.MANAGED_DISK).status is Status.FAIL


def test_unknown_workspace_tenant_not_read() -> None:
    inv = replace(inventory(), subscriptions=())
    verdict = usage_verdict(check_vault_tenant_and_region, inv, Scope.MANAGED_DISK)
    assert verdict.status is Status.UNKNOWN


# --- KV-05 ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("public", "action", "bypass"),
    [("Disabled", None, None), ("Enabled", "Deny", "AzureServices"), (None, "Deny", "Logging, AzureServices")],
)
def test_pass_vault_network(public: str | None, action: str | None, bypass: str | None) -> None:
    inv = inventory(vaults=[vault(public_network_access=public, network_default_action=action, network_bypass=bypass)])
    assert usage_verdict(check_vault_network, inv, Scope.MANAGED_SERVICES).status is Status.PASS


@pytest.mark.parametrize(
    ("public", "action", "bypass"),
    [("Enabled", "Allow", "AzureServices"), (None, None, None), ("Enabled", "Deny", "None")],
)
def test_fail_vault_network(public: str | None, action: str | None, bypass: str | None) -> None:
    inv = inventory(vaults=[vault(public_network_access=public, network_default_action=action, network_bypass=bypass)])
    assert usage_verdict(check_vault_network, inv, Scope.MANAGED_SERVICES).status is Status.FAIL


def test_unknown_vault_network_vault_not_visible() -> None:
    assert usage_verdict(check_vault_network, inventory(vaults=[]), Scope.DBFS_ROOT).status is Status.UNKNOWN


# --- KV-04 ------------------------------------------------------------------------------------------


def diag(logs: tuple[LogSetting, ...], destinations: tuple[str, ...] = ("/workspaces/law",)) -> DiagnosticSetting:
    return DiagnosticSetting(f"{VAULT_ID}/providers/microsoft.insights/diagnosticSettings/s", "s", destinations, logs)


@pytest.mark.parametrize(
    "log",
    [LogSetting("AuditEvent", None, True), LogSetting(None, "audit", True), LogSetting(None, "allLogs", True)],
)
def test_pass_vault_audit_logging(log: LogSetting) -> None:
    inv = inventory(vaults=[vault(diagnostic_settings=(diag((log,)),))])
    assert usage_verdict(check_vault_audit_logging, inv, Scope.MANAGED_SERVICES).status is Status.PASS


@pytest.mark.parametrize(
    "settings",
    [
        (),
        (diag((LogSetting("AuditEvent", None, False),)),),
        (diag((LogSetting("AzurePolicyEvaluationDetails", None, True),)),),
        (diag((LogSetting(None, "audit", True),), destinations=()),),
    ],
)
def test_fail_vault_audit_logging(settings: tuple[DiagnosticSetting, ...]) -> None:
    inv = inventory(vaults=[vault(diagnostic_settings=settings)])
    assert usage_verdict(check_vault_audit_logging, inv, Scope.MANAGED_SERVICES).status is Status.FAIL


def test_unknown_vault_audit_logging_not_read() -> None:
    error = CollectionError(
        f"{VAULT_ID}/providers/Microsoft.Insights/diagnosticSettings",
        "list diagnostic settings",
        403,
        "AuthorizationFailed",
        "no",
    )
    inv = inventory(vaults=[vault(diagnostic_settings=None)], errors=[error])
    verdict = usage_verdict(check_vault_audit_logging, inv, Scope.MANAGED_SERVICES)
    assert verdict.status is Status.UNKNOWN
    assert verdict.reason.endswith(": no")


# --- KEY-01 -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("kty", "size"), [("RSA", 2048), ("RSA-HSM", 3072), ("rsa", 4096)])
def test_pass_key_type_and_size(kty: str, size: int) -> None:
    inv = inventory(keys=[key(kty=kty, key_size=size)])
    assert usage_verdict(check_key_type_and_size, inv, Scope.MANAGED_SERVICES).status is Status.PASS


@pytest.mark.parametrize(("kty", "size"), [("EC", None), ("EC-HSM", None), ("oct-HSM", 256), ("RSA", 1024)])
def test_fail_key_type_and_size(kty: str, size: int | None) -> None:
    inv = inventory(keys=[key(kty=kty, key_size=size)])
    assert usage_verdict(check_key_type_and_size, inv, Scope.MANAGED_SERVICES).status is Status.FAIL


def test_minimum_key_size_is_a_setting() -> None:
    inv = inventory(keys=[key(key_size=2048)])
    strict = Settings(min_key_size=3072)
    assert usage_verdict(check_key_type_and_size, inv, Scope.MANAGED_DISK, strict).status is Status.FAIL


@pytest.mark.parametrize("changes", [{"kty": None}, {"key_size": None}])
def test_unknown_key_type_or_size(changes: dict[str, object]) -> None:
    inv = inventory(keys=[key(**changes)])
    assert usage_verdict(check_key_type_and_size, inv, Scope.MANAGED_DISK).status is Status.UNKNOWN


# --- KEY-02 / KEY-04 ----------------------------------------------------------------------------------


def versioned_key(**changes: object) -> Key:
    """The key with version v2 (the one the DES and storage account use), created 30 days before NOW."""
    base = KeyVersion("v2", True, NOW - timedelta(days=30), NOW + timedelta(days=700), None)
    return key(versions=(replace(base, **changes),))


@pytest.mark.parametrize("scope", [Scope.MANAGED_DISK, Scope.DBFS_ROOT])
def test_pass_key_version_valid_and_young(scope: Scope) -> None:
    inv = inventory(keys=[versioned_key()])
    assert usage_verdict(check_key_version_validity, inv, scope).status is Status.PASS
    assert usage_verdict(check_key_version_age, inv, scope).status is Status.PASS


@pytest.mark.parametrize(
    "changes",
    [
        {"enabled": False},
        {"expires": NOW - timedelta(days=1)},
        {"expires": NOW + timedelta(days=29)},
    ],
)
def test_fail_key_version_validity(changes: dict[str, object]) -> None:
    inv = inventory(keys=[versioned_key(**changes)])
    assert usage_verdict(check_key_version_validity, inv, Scope.MANAGED_DISK).status is Status.FAIL


def test_expiry_warning_is_a_setting() -> None:
    inv = inventory(keys=[versioned_key(expires=NOW + timedelta(days=29))])
    relaxed = Settings(expiry_warning_days=7)
    assert usage_verdict(check_key_version_validity, inv, Scope.MANAGED_DISK, relaxed).status is Status.PASS


def test_fail_key_version_too_old_and_pinned() -> None:
    pinned = KeyReference(VAULT_URI, "cmk", "v2", "properties.encryption.entities.managedServices.keyVaultProperties")
    ws = workspace(managed_services=ScopeEncryption(Scope.MANAGED_SERVICES, "Microsoft.Keyvault", pinned))
    inv = inventory(workspaces=[ws], keys=[versioned_key(created=NOW - timedelta(days=200))])
    verdict = usage_verdict(check_key_version_age, inv, Scope.MANAGED_SERVICES)
    assert verdict.status is Status.FAIL
    assert "200 days old" in verdict.reason and "pins this version" in verdict.reason


@pytest.mark.parametrize("check", [check_key_version_validity, check_key_version_age])
@pytest.mark.parametrize(
    "keys",
    [
        [],  # the key could not be read
        [key(versions=None)],  # its versions could not be listed
        [key(versions=(KeyVersion("v9", True, NOW, None, None),))],  # the version in use is not among them
    ],
)
def test_unknown_key_version(check: object, keys: list[Key]) -> None:
    assert usage_verdict(check, inventory(keys=keys), Scope.MANAGED_DISK).status is Status.UNKNOWN


def test_unknown_key_version_age_without_creation_time() -> None:
    inv = inventory(keys=[versioned_key(created=None)])
    assert usage_verdict(check_key_version_age, inv, Scope.MANAGED_DISK).status is Status.UNKNOWN


# --- GOV-01 -----------------------------------------------------------------------------------------


def second_workspace(environment: str | None, *, same_key: bool = True) -> Workspace:
    """Another workspace on the same key (or only the same vault), with the given environment tag."""
    ref = key_ref() if same_key else KeyReference(VAULT_URI, "other-key", None, "test")
    name = "dbw-two"
    return workspace(
        id=ResourceId(WORKSPACE_ID.replace("/dbw", f"/{name}")),
        name=name,
        tags={"environment": environment} if environment else {},
        managed_services=ScopeEncryption(Scope.MANAGED_SERVICES, "Microsoft.Keyvault", ref),
        managed_disk=ScopeEncryption(Scope.MANAGED_DISK, "Microsoft.Keyvault", ref),
        dbfs_root=ScopeEncryption(Scope.DBFS_ROOT, "Microsoft.Keyvault", ref),
        disk_encryption_set_id=None,
        managed_resource_group_id=None,
    )


def test_pass_key_not_shared() -> None:
    inv = inventory(workspaces=[workspace(tags={"environment": "prod"})])
    assert usage_verdict(check_key_not_shared_across_environments, inv, Scope.MANAGED_SERVICES).status is Status.PASS


def test_pass_key_shared_within_one_environment() -> None:
    inv = inventory(workspaces=[workspace(tags={"Environment": "Prod"}), second_workspace("prod")])
    assert usage_verdict(check_key_not_shared_across_environments, inv, Scope.MANAGED_SERVICES).status is Status.PASS


@pytest.mark.parametrize("same_key", [True, False])
def test_fail_key_or_vault_shared_across_environments(same_key: bool) -> None:
    inv = inventory(workspaces=[workspace(tags={"environment": "prod"}), second_workspace("dev", same_key=same_key)])
    verdict = usage_verdict(check_key_not_shared_across_environments, inv, Scope.MANAGED_SERVICES)
    assert verdict.status is Status.FAIL
    assert f"dbw-two (dev, same {'key' if same_key else 'vault'})" in verdict.reason


@pytest.mark.parametrize(("mine", "theirs"), [(None, "dev"), ("prod", None)])
def test_unknown_environment_not_tagged(mine: str | None, theirs: str | None) -> None:
    first = workspace(tags={"environment": mine} if mine else {})
    inv = inventory(workspaces=[first, second_workspace(theirs)])
    verdict = usage_verdict(check_key_not_shared_across_environments, inv, Scope.MANAGED_SERVICES)
    assert verdict.status is Status.UNKNOWN


def test_environment_tag_is_a_setting() -> None:
    first = workspace(tags={"stage": "prod"})
    second = replace(second_workspace(None), tags={"stage": "dev"})
    inv = inventory(workspaces=[first, second])
    settings = Settings(environment_tag="stage")
    verdict = usage_verdict(check_key_not_shared_across_environments, inv, Scope.MANAGED_SERVICES, settings)
    assert verdict.status is Status.FAIL


def test_a_vault_shared_by_many_is_named_in_part_and_counted_in_full() -> None:
    """A central vault: GOV-01 names five of the workspaces sharing it (those of another environment first)
    and counts all of them by environment, so a finding stays small however many share the vault."""
    from cmkaudit.evaluate.checks.governance import LISTED_NEIGHBOURS

    def sharing(i: int, environment: str) -> Workspace:
        return replace(second_workspace(environment), id=ResourceId(f"{WORKSPACE_ID}-{i:02d}"), name=f"dbw-{i:02d}")

    many = [workspace(tags={"environment": "Prod"}), *(sharing(i, "dev" if i % 2 else "prod") for i in range(30))]
    verdict = usage_verdict(check_key_not_shared_across_environments, inventory(workspaces=many), Scope.DBFS_ROOT)
    assert verdict.status is Status.FAIL
    assert verdict.reason.startswith("this Prod workspace shares its key or vault with 15 workspace(s) of another")
    assert verdict.reason.endswith("dbw-09 (dev, same key) and 10 more")
    named = [e for e in verdict.evidence if e.label == "shares the key with"]
    assert [e.value for e in named] == ["dev"] * LISTED_NEIGHBOURS
    assert verdict.evidence[-1].value == ("dev: 15", "Prod: 15")  # case-insensitive, spelled as the first

    alike = [workspace(tags={"environment": "prod"}), *(sharing(i, "prod") for i in range(30))]
    verdict = usage_verdict(check_key_not_shared_across_environments, inventory(workspaces=alike), Scope.DBFS_ROOT)
    assert (verdict.status, verdict.reason) == (Status.PASS, "shared only with 30 other prod workspace(s)")
    assert len(verdict.evidence) == 1 + LISTED_NEIGHBOURS + 1
    assert verdict.evidence[-1].value == ("prod: 30",)


# --- GOV-02 -----------------------------------------------------------------------------------------

SENSITIVE = {"data-classification": "Restricted"}


def test_pass_sensitive_workspace_with_every_scope_on_cmk() -> None:
    inv = inventory(workspaces=[workspace(tags=SENSITIVE)])
    assert workspace_verdict(check_sensitive_workspace_scopes, inv).status is Status.PASS


def test_fail_sensitive_workspace_missing_a_scope() -> None:
    ws = workspace(tags=SENSITIVE, dbfs_root=ScopeEncryption(Scope.DBFS_ROOT, None, None))
    verdict = workspace_verdict(check_sensitive_workspace_scopes, inventory(workspaces=[ws]))
    assert verdict.status is Status.FAIL
    assert "DBX-05" in verdict.reason


def test_unknown_sensitive_workspace_scope_not_verifiable() -> None:
    verdict = workspace_verdict(
        check_sensitive_workspace_scopes, inventory(workspaces=[workspace(tags=SENSITIVE)], accounts=[])
    )
    assert verdict.status is Status.UNKNOWN


def test_not_applicable_when_not_sensitive() -> None:
    ws = workspace(tags={"data-classification": "public"})
    assert (
        workspace_verdict(check_sensitive_workspace_scopes, inventory(workspaces=[ws])).status is Status.NOT_APPLICABLE
    )


def test_sensitive_workspace_raises_scope_severities(catalog: Catalog) -> None:
    from cmkaudit.evaluate.engine import evaluate

    severities = {
        f.control_id: f.severity.value
        for f in evaluate(inventory(workspaces=[workspace(tags=SENSITIVE)]), catalog, SETTINGS)
    }
    assert [severities[c] for c in ("DBX-02", "DBX-03", "DBX-05")] == ["critical"] * 3
    assert severities["DBX-01"] == "high"
    plain = {f.control_id: f.severity.value for f in evaluate(inventory(), catalog, SETTINGS)}
    assert plain["DBX-02"] == "high"


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


def test_every_check_is_covered_here() -> None:
    """This module tests each registered check; a new check must add its cases."""
    tested = {
        check_premium_sku,
        check_managed_services_cmk,
        check_managed_disk_cmk,
        check_managed_disk_auto_rotation,
        check_dbfs_root_cmk,
        check_dbfs_infrastructure_encryption,
        check_purge_protection,
        check_soft_delete,
        check_vault_tenant_and_region,
        check_vault_network,
        check_vault_audit_logging,
        check_key_type_and_size,
        check_key_version_validity,
        check_rotation_policy,
        check_key_version_age,
        check_required_permissions,
        check_least_privilege,
        check_key_administrators,
        check_key_not_shared_across_environments,
        check_sensitive_workspace_scopes,
    }
    assert set(WORKSPACE_CHECKS.values()) | set(KEY_USAGE_CHECKS.values()) == tested


# --- IAM-01 / IAM-02 / IAM-03 on Azure RBAC vaults ------------------------------------------------------

ROLE_DEFINITIONS = f"/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions"
CSEU_ID = f"{ROLE_DEFINITIONS}/e147488a-f6f5-4113-8e2d-b22465e65bf6"
CRYPTO_USER_ID = f"{ROLE_DEFINITIONS}/12338af0-0e69-4776-bea7-57ae8d297424"
OFFICER_ID = f"{ROLE_DEFINITIONS}/14b46e9e-c2b7-41b4-b07b-48a6ebf60603"
CUSTOM_ID = f"{ROLE_DEFINITIONS}/0c0c0c0c-1111-4222-8333-444444444444"
KEY_READ, WRAP, UNWRAP = (
    "Microsoft.KeyVault/vaults/keys/read",
    "Microsoft.KeyVault/vaults/keys/wrap/action",
    "Microsoft.KeyVault/vaults/keys/unwrap/action",
)
DEFINITIONS = (
    RoleDefinition(
        CSEU_ID,
        "e147488a-f6f5-4113-8e2d-b22465e65bf6",
        "Key Vault Crypto Service Encryption User",
        ("Microsoft.EventGrid/eventSubscriptions/write",),
        (),
        (KEY_READ, WRAP, UNWRAP),
        (),
    ),
    RoleDefinition(
        CRYPTO_USER_ID,
        "12338af0-0e69-4776-bea7-57ae8d297424",
        "Key Vault Crypto User",
        ("Microsoft.KeyVault/vaults/*/read",),
        (),
        ("Microsoft.KeyVault/vaults/keys/*",),
        ("Microsoft.KeyVault/vaults/keys/delete",),
    ),
    RoleDefinition(
        OFFICER_ID,
        "14b46e9e-c2b7-41b4-b07b-48a6ebf60603",
        "Key Vault Crypto Officer",
        ("Microsoft.KeyVault/vaults/*/read",),
        (),
        ("Microsoft.KeyVault/vaults/keys/*",),
        (),
    ),
    RoleDefinition(CUSTOM_ID, "0c0c0c0c-1111-4222-8333-444444444444", "wrap only", (), (), (WRAP, UNWRAP), ()),
)


def assignment(
    principal: str, definition: str, scope: str = VAULT_ID, kind: str = "ServicePrincipal"
) -> RoleAssignment:
    return RoleAssignment(
        f"{scope}/providers/Microsoft.Authorization/roleAssignments/{principal}",
        PrincipalId(principal),
        kind,
        definition,
        scope,
    )


def rbac_inventory(
    *assignments: RoleAssignment,
    definitions: tuple[RoleDefinition, ...] = DEFINITIONS,
) -> Inventory:
    rbac_vault = vault(rbac_authorization=True, access_policies=(), role_assignments=assignments)
    return replace(inventory(vaults=[rbac_vault]), role_definitions=definitions)


EVERYONE_CSEU = (
    assignment(DATABRICKS_SP, CSEU_ID),
    assignment(DES_PRINCIPAL, CSEU_ID, scope=f"{VAULT_ID}/keys/cmk"),  # at the key's own scope
    assignment(STORAGE_PRINCIPAL, CSEU_ID, scope=f"/subscriptions/{SUB}/resourceGroups/rg-keys"),  # inherited
)


@pytest.mark.parametrize("scope", list(Scope))
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


@pytest.mark.parametrize(
    "check", [check_managed_services_cmk, check_managed_disk_cmk, check_managed_disk_auto_rotation, check_dbfs_root_cmk]
)
def test_unknown_scope_when_the_workspace_came_without_properties(check: object) -> None:
    """A truncated payload is not evidence that CMK is off."""
    verdict = workspace_verdict(check, inventory(workspaces=[workspace(properties_reported=False)]))
    assert verdict.status is Status.UNKNOWN
    assert "without its properties" in verdict.reason
