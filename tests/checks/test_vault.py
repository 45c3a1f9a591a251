"""Key vault controls (KV-01 to KV-05): pass_, fail_ and unknown_ cases on small inventories."""

from __future__ import annotations

from dataclasses import replace

import pytest

from cmkaudit.evaluate.checks.vault import (
    check_purge_protection,
    check_soft_delete,
    check_vault_audit_logging,
    check_vault_network,
    check_vault_tenant_and_region,
)
from cmkaudit.evaluate.model import Settings, Status
from cmkaudit.inventory.model import (
    CollectionError,
    DiagnosticSetting,
    LogSetting,
    Scope,
    ScopeEncryption,
    Unread,
)

from ..conftest import (
    VAULT_ID,
    inventory,
    vault,
    workspace,
)
from .helpers import usage_verdict

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
    # The check reads the marker on the vault (not the inventory's list of errors).
    unread = vault(diagnostic_settings=None, diagnostic_settings_unread=Unread.failed(error))
    verdict = usage_verdict(
        check_vault_audit_logging, inventory(vaults=[unread], errors=[error]), Scope.MANAGED_SERVICES
    )
    assert verdict.status is Status.UNKNOWN
    assert verdict.reason.endswith(": list diagnostic settings failed (HTTP 403 AuthorizationFailed): no")
    never_asked = usage_verdict(
        check_vault_audit_logging, inventory(vaults=[vault(diagnostic_settings=None)]), Scope.MANAGED_SERVICES
    )
    assert never_asked.status is Status.UNKNOWN and never_asked.reason.endswith("could not be read")
