"""Fixtures: small inventory builders, the demo tenant, and the catalogue."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from cmkaudit.evaluate.catalog import Catalog, load_catalog
from cmkaudit.ids import PrincipalId, ResourceId, SubscriptionId
from cmkaudit.inventory import Inventory, assemble_inventory
from cmkaudit.inventory.model import (
    AccessPolicy,
    CollectionError,
    DiagnosticSetting,
    DiskEncryptionSet,
    Key,
    KeyReference,
    LifetimeAction,
    LogSetting,
    ManagedIdentity,
    PrincipalLookup,
    PrincipalSource,
    RotationPolicy,
    ScanScope,
    Scope,
    ScopeEncryption,
    StorageAccount,
    Subscription,
    Unlisted,
    Vault,
    Workspace,
)

ROOT = Path(__file__).resolve().parent.parent
ARM_REFERENCE = Path(__file__).resolve().parent / "fixtures" / "arm-reference"
NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)

SUB = SubscriptionId("11111111-2222-4333-8444-555555555555")
TENANT = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"
DATABRICKS_SP = PrincipalId("dddddddd-0000-4000-8000-000000000001")
DES_PRINCIPAL = PrincipalId("dddddddd-0000-4000-8000-000000000002")
STORAGE_PRINCIPAL = PrincipalId("dddddddd-0000-4000-8000-000000000003")
VAULT_ID = ResourceId(f"/subscriptions/{SUB}/resourceGroups/rg-keys/providers/Microsoft.KeyVault/vaults/kv-test")
VAULT_URI = "https://kv-test.vault.azure.net/"
WORKSPACE_ID = ResourceId(f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Databricks/workspaces/dbw")
MANAGED_RG = f"/subscriptions/{SUB}/resourceGroups/rg-managed"
DES_ID = ResourceId(f"{MANAGED_RG}/providers/Microsoft.Compute/diskEncryptionSets/des")
STORAGE_ID = ResourceId(f"{MANAGED_RG}/providers/Microsoft.Storage/storageAccounts/dbstorage")
KEY_ID = ResourceId(f"{VAULT_ID}/keys/cmk")
GOOD_PERMISSIONS = ("get", "wrapKey", "unwrapKey")


def arm_example(name: str, code: str = "200") -> dict[str, Any]:
    """The response body of an official example."""
    body = json.loads((ARM_REFERENCE / name).read_text())["responses"][code]["body"]
    assert isinstance(body, dict)
    return body


def key_ref(source: str = "test") -> KeyReference:
    return KeyReference(VAULT_URI, "cmk", None, source)


def workspace(**changes: Any) -> Workspace:
    """A Premium workspace with all three scopes on key `cmk` in `kv-test`; override what a test needs."""
    base = Workspace(
        id=WORKSPACE_ID,
        name="dbw",
        subscription_id=SUB,
        resource_group="rg",
        location="westeurope",
        sku="premium",
        tags={},
        managed_resource_group_id=ResourceId(MANAGED_RG),
        disk_encryption_set_id=DES_ID,
        managed_disk_identity=ManagedIdentity(
            DES_PRINCIPAL, TENANT, "SystemAssigned", "properties.managedDiskIdentity"
        ),
        storage_account_identity=ManagedIdentity(
            STORAGE_PRINCIPAL, TENANT, "SystemAssigned", "properties.storageAccountIdentity"
        ),
        storage_account_name="dbstorage",
        require_infrastructure_encryption=True,
        managed_services=ScopeEncryption(Scope.MANAGED_SERVICES, "Microsoft.Keyvault", key_ref()),
        managed_disk=ScopeEncryption(Scope.MANAGED_DISK, "Microsoft.Keyvault", key_ref(), rotation_to_latest=True),
        dbfs_root=ScopeEncryption(Scope.DBFS_ROOT, "Microsoft.Keyvault", key_ref(), prepare_encryption=True),
    )
    return replace(base, **changes)


def policy(object_id: str, keys: Iterable[str] = GOOD_PERMISSIONS, secrets: Iterable[str] = ()) -> AccessPolicy:
    return AccessPolicy(TENANT, PrincipalId(object_id), None, tuple(keys), tuple(secrets), (), ())


def vault(**changes: Any) -> Vault:
    """A well-configured access-policy vault granting exactly get/wrapKey/unwrapKey to the three identities, with
    no role assignment that lets anyone write it (its role assignments were read and there are none)."""
    base = Vault(
        id=VAULT_ID,
        name="kv-test",
        subscription_id=SUB,
        resource_group="rg-keys",
        location="westeurope",
        tenant_id=TENANT,
        vault_uri=VAULT_URI,
        sku="premium",
        soft_delete_enabled=True,
        soft_delete_retention_days=90,
        purge_protection_enabled=True,
        rbac_authorization=False,
        public_network_access="Disabled",
        network_default_action="Deny",
        network_bypass="AzureServices",
        access_policies=(policy(DATABRICKS_SP), policy(DES_PRINCIPAL), policy(STORAGE_PRINCIPAL)),
        role_assignments=(),
        diagnostic_settings=(
            DiagnosticSetting(
                f"{VAULT_ID}/providers/microsoft.insights/diagnosticSettings/audit",
                "audit",
                ("/subscriptions/x/resourceGroups/m/providers/Microsoft.OperationalInsights/workspaces/law",),
                (LogSetting(None, "audit", True),),
            ),
        ),
    )
    return replace(base, **changes)


def rotation(*actions: tuple[str, str | None, str | None], expiry: str | None = "P2Y") -> RotationPolicy:
    return RotationPolicy(tuple(LifetimeAction(*a) for a in actions), expiry, "properties.rotationPolicy")


def key(**changes: Any) -> Key:
    base = Key(
        id=KEY_ID,
        vault_id=VAULT_ID,
        name="cmk",
        kty="RSA",
        key_size=3072,
        enabled=True,
        created=NOW,
        expires=None,
        current_version="v2",
        rotation_policy=rotation(("Rotate", "P90D", None), ("Notify", None, "P30D")),
        versions=(),
    )
    return replace(base, **changes)


def des(**changes: Any) -> DiskEncryptionSet:
    base = DiskEncryptionSet(
        id=DES_ID,
        name="des",
        location="westeurope",
        encryption_type="EncryptionAtRestWithCustomerKey",
        active_key=KeyReference(VAULT_URI, "cmk", "v2", "properties.activeKey.keyUrl"),
        source_vault_id=VAULT_ID,
        rotation_to_latest=True,
        auto_key_rotation_error=None,
        last_key_rotation=None,
        identities=(ManagedIdentity(DES_PRINCIPAL, TENANT, "SystemAssigned", "identity"),),
    )
    return replace(base, **changes)


def storage(**changes: Any) -> StorageAccount:
    base = StorageAccount(
        id=STORAGE_ID,
        name="dbstorage",
        resource_group="rg-managed",
        location="westeurope",
        key_source="Microsoft.Keyvault",
        key=KeyReference(VAULT_URI.rstrip("/"), "cmk", None, "properties.encryption.keyvaultproperties"),
        current_versioned_key_id=f"{VAULT_URI}keys/cmk/v2",
        infrastructure_encryption=True,
        encryption_identity=None,
        identities=(ManagedIdentity(STORAGE_PRINCIPAL, TENANT, "SystemAssigned", "identity"),),
    )
    return replace(base, **changes)


def inventory(
    *,
    workspaces: Iterable[Workspace] | None = None,
    vaults: Iterable[Vault] | None = None,
    keys: Iterable[Key] | None = None,
    sets: Iterable[DiskEncryptionSet] | None = None,
    accounts: Iterable[StorageAccount] | None = None,
    principals: Iterable[PrincipalLookup] | None = None,
    errors: Iterable[CollectionError] = (),
    unlisted: Iterable[Unlisted] = (),
) -> Inventory:
    """A compliant inventory by default; pass any part to replace it."""
    return assemble_inventory(
        collected_at=NOW,
        tool_version="test",
        scope=ScanScope((SUB,), "https://management.azure.com", "AzureCloud"),
        subscriptions=[Subscription(SUB, "Test", "Enabled", TENANT)],
        workspaces=list(workspaces if workspaces is not None else [workspace()]),
        vaults=list(vaults if vaults is not None else [vault()]),
        keys=list(keys if keys is not None else [key()]),
        disk_encryption_sets=list(sets if sets is not None else [des()]),
        storage_accounts=list(accounts if accounts is not None else [storage()]),
        principals=list(
            principals if principals is not None else [PrincipalLookup(TENANT, DATABRICKS_SP, PrincipalSource.GRAPH)]
        ),
        errors=list(errors),
        unlisted=list(unlisted),
    )


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return load_catalog()
