"""Workspace controls (DBX-01 to DBX-06): pass_, fail_ and unknown_ cases on small inventories."""

from __future__ import annotations

import pytest

from cmkaudit.evaluate.checks.workspace import (
    check_dbfs_infrastructure_encryption,
    check_dbfs_root_cmk,
    check_managed_disk_auto_rotation,
    check_managed_disk_cmk,
    check_managed_services_cmk,
    check_premium_sku,
)
from cmkaudit.evaluate.model import Status
from cmkaudit.inventory.model import (
    CollectionError,
    KeyReference,
    ListedKind,
    Scope,
    ScopeEncryption,
    Unlisted,
    Unread,
)

from ..conftest import (
    SUB,
    des,
    inventory,
    key_ref,
    storage,
    workspace,
)
from .helpers import workspace_verdict

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
    assert "was not among the resources listed in its subscription" in verdict.reason
    failed = CollectionError(f"/subscriptions/{SUB}", "list storage accounts", 403, "AuthorizationFailed", "denied")
    gap = Unlisted(SUB, ListedKind.STORAGE_ACCOUNTS, Unread.failed(failed))
    verdict = workspace_verdict(check_dbfs_root_cmk, inventory(accounts=[], unlisted=[gap]))
    assert verdict.status is Status.UNKNOWN
    assert "could not be read: list storage accounts failed (HTTP 403 AuthorizationFailed): denied" in verdict.reason


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


@pytest.mark.parametrize(
    "check", [check_managed_services_cmk, check_managed_disk_cmk, check_managed_disk_auto_rotation, check_dbfs_root_cmk]
)
def test_unknown_scope_when_the_workspace_came_without_properties(check: object) -> None:
    """A truncated payload is not evidence that CMK is off."""
    verdict = workspace_verdict(check, inventory(workspaces=[workspace(properties_reported=False)]))
    assert verdict.status is Status.UNKNOWN
    assert "without its properties" in verdict.reason
