"""ARM wire JSON to inventory, on the official REST API examples (placeholders and odd casing included)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from cmkaudit.collect.mapping import (
    MappingError,
    diagnostic_setting_from_arm,
    disk_encryption_set_from_arm,
    key_from_arm,
    key_version_from_arm,
    rotation_policy_from_arm,
    storage_account_from_arm,
    vault_from_arm,
    workspace_from_arm,
)
from cmkaudit.ids import ResourceId
from cmkaudit.inventory.model import AZURE_SCOPES

from .conftest import arm_example

VAULT_ID = ResourceId(
    "/subscriptions/x/resourceGroups/sample-group/providers/Microsoft.KeyVault/vaults/sample-vault-name"
)


def test_workspace_without_encryption_has_no_cmk_on_any_scope() -> None:
    ws = workspace_from_arm(arm_example("WorkspaceGet.json"))
    assert ws.sku == "premium"
    assert not any(ws.scope(s).uses_cmk for s in AZURE_SCOPES)
    assert ws.dbfs_root.prepare_encryption is None  # parameters: null


def test_workspace_managed_disk_encryption() -> None:
    ws = workspace_from_arm(arm_example("WorkspaceManagedDiskEncryptionGet.json"))
    disk = ws.managed_disk
    assert disk.uses_cmk and disk.rotation_to_latest is True
    assert disk.key is not None
    assert (disk.key.vault_uri, disk.key.key_name, disk.key.key_version) == (
        "https://test-vault-name.vault.azure.net/",
        "test-cmk-key",
        "00000000000000000000000000000000",
    )
    assert ws.disk_encryption_set_id and ws.disk_encryption_set_id.endswith("/myDiskEncryptionSet")
    assert ws.managed_disk_identity and ws.managed_disk_identity.principal_id == "22222222-2222-2222-2222-222222222222"
    assert not ws.managed_services.uses_cmk


def test_workspace_dbfs_encryption_with_odd_wire_casing() -> None:
    ws = workspace_from_arm(arm_example("EnableEncryption.json"))
    dbfs = ws.dbfs_root
    assert dbfs.prepare_encryption is True and dbfs.uses_cmk
    assert dbfs.key is not None
    assert (dbfs.key.vault_uri, dbfs.key.key_name) == ("https://myKeyVault.vault.azure.net/", "myKeyName")
    assert (
        ws.storage_account_identity
        and ws.storage_account_identity.principal_id == "55555555-5555-5555-5555-555555555555"
    )


def test_workspace_dbfs_encryption_disabled() -> None:
    ws = workspace_from_arm(arm_example("DisableEncryption.json"))
    assert ws.dbfs_root.key_source == "Default"
    assert not ws.dbfs_root.uses_cmk


def test_workspace_prepared_but_no_key_yet() -> None:
    ws = workspace_from_arm(arm_example("PrepareEncryption.json"))
    assert not ws.dbfs_root.uses_cmk
    assert ws.storage_account_identity is not None


def test_workspace_list_with_null_tags() -> None:
    items = arm_example("WorkspacesListBySubscription.json")["value"]
    workspaces = [workspace_from_arm(i) for i in items]
    assert [w.name for w in workspaces] == ["myWorkspace1", "myWorkspace2"]
    assert all(w.tags == {} for w in workspaces)


def test_vault_without_protection_properties_maps_them_to_none() -> None:
    vault = vault_from_arm(arm_example("getVault.json"))
    assert vault.purge_protection_enabled is None
    assert vault.soft_delete_enabled is None
    assert vault.rbac_authorization is None
    policy = vault.access_policies[0]
    assert {"get", "wrapKey", "unwrapKey"} <= set(policy.keys)


def test_vault_from_subscription_listing() -> None:
    vault = vault_from_arm(arm_example("listVaultBySubscription.json")["value"][0])
    assert vault.soft_delete_enabled is True
    assert vault.vault_uri == "https://sample-vault.vault.azure.net/"
    assert "purge" in vault.access_policies[0].keys
    assert "purge" in vault.access_policies[0].secrets


def test_key_and_versions() -> None:
    versions = tuple(v for v in (key_version_from_arm(i) for i in arm_example("listKeyVersions.json")["value"]) if v)
    key = key_from_arm(arm_example("getKey.json"), VAULT_ID, versions)
    assert (key.kty, key.key_size, key.enabled) == ("RSA", 2048, True)
    assert key.current_version == "fd618d9519b74f9aae94ade66b876acc"
    assert key.created is not None and key.created.year == 2020
    assert key.rotation_policy is None  # the official example carries none
    assert [v.version for v in versions] == ["c2296aa24acf4daf86942bff5aca73dd", "d5a04667b6f44b0ca62825f5eae93da6"]


def test_rotation_policy_in_the_official_shape() -> None:
    document = arm_example("GetKeyRotationPolicy-example.json")
    policy = rotation_policy_from_arm(document, "keys/rotationpolicy")
    assert policy is not None
    assert [(a.action, a.time_after_create, a.time_before_expiry) for a in policy.lifetime_actions] == [
        ("Rotate", "P90D", None),
        ("Notify", None, "P30D"),
    ]
    assert policy.expiry_time == "P2Y"


def test_disk_encryption_set() -> None:
    des = disk_encryption_set_from_arm(arm_example("DiskEncryptionSet_Get.json"))
    assert des.encryption_type == "EncryptionAtRestWithCustomerKey"
    assert des.active_key is not None and des.active_key.key_name == "{key}"
    assert des.active_key.vault_uri == "https://myvmvault.vault-int.azure-int.net/"  # no suffix assumed
    assert des.identities == ()  # SystemAssigned without a principalId in the example


def test_disk_encryption_set_rotation_error() -> None:
    des = disk_encryption_set_from_arm(arm_example("DiskEncryptionSet_Get_WithAutoKeyRotationError.json"))
    assert des.rotation_to_latest is True
    assert des.auto_key_rotation_error and des.auto_key_rotation_error.startswith("ManagedServiceIdentityNotFound")


def test_disk_encryption_set_vault_in_another_subscription() -> None:
    body = arm_example("DiskEncryptionSet_Create_WithKeyVaultFromADifferentSubscription.json")
    des = disk_encryption_set_from_arm(body)
    assert des.source_vault_id is None
    assert des.active_key is not None
    assert des.active_key.vault_uri == "https://myvaultdifferentsub.vault-int.azure-int.net/"


def test_storage_account_with_cmk() -> None:
    account = storage_account_from_arm(arm_example("StorageAccountGetPropertiesCMKEnabled.json"))
    assert account.key_source == "Microsoft.Keyvault"
    assert account.key is not None and account.key.key_name == "wrappingKey"
    assert account.key.key_version is None  # "" means: follow the latest version
    assert account.identities[0].principal_id == "911871cc-ffd1-4fc4-ac11-7a316433ea66"


def test_storage_account_platform_managed() -> None:
    account = storage_account_from_arm(arm_example("StorageAccountGetProperties.json"))
    assert account.key_source == "Microsoft.Storage"
    assert account.key is None


def test_storage_account_user_assigned_encryption_identity() -> None:
    account = storage_account_from_arm(arm_example("StorageAccountUpdateUserAssignedEncryptionIdentityWithCMK.json"))
    assert account.encryption_identity is not None
    assert next(i.type for i in account.identities).startswith("UserAssigned:")


def test_diagnostic_settings_with_an_empty_destination() -> None:
    setting = diagnostic_setting_from_arm(arm_example("listDiagnosticSettings.json")["value"][0])
    assert setting.name == "mysetting"
    assert len(setting.destinations) == 3  # workspaceId is "": not a destination
    assert [(log.category_group, log.enabled) for log in setting.logs] == [("allLogs", True)]


def _null_everything(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: (None if k != "id" else v) for k, v in value.items()}
    return value


@pytest.mark.parametrize(
    ("mapper", "example"),
    [
        (workspace_from_arm, "EnableEncryption.json"),
        (vault_from_arm, "getVault.json"),
        (disk_encryption_set_from_arm, "DiskEncryptionSet_Get.json"),
        (storage_account_from_arm, "StorageAccountGetPropertiesCMKEnabled.json"),
    ],
)
def test_nulls_and_wrong_types_never_crash(mapper: Any, example: str) -> None:
    body = arm_example(example)
    mapper(_null_everything(copy.deepcopy(body)))
    mangled = copy.deepcopy(body)
    mangled["properties"] = ["not", "an", "object"]
    mapper(mangled)


def test_workspace_without_properties_is_marked_as_such() -> None:
    body = arm_example("WorkspaceGet.json")
    assert workspace_from_arm(body).properties_reported is True
    body["properties"] = None
    assert workspace_from_arm(body).properties_reported is False


def test_a_resource_without_id_is_a_mapping_error() -> None:
    body = arm_example("WorkspaceGet.json")
    del body["id"]
    with pytest.raises(MappingError, match="no 'id'"):
        workspace_from_arm(body)
