"""Pure functions from ARM wire-shape JSON (as the REST API returns it) to inventory records.

Azure omits properties, returns `null` where an object is expected and varies key casing
(Databricks' DBFS encryption uses `KeyName`, `keyversion`, `keyvaulturi`). These functions
accept all of that: a missing value maps to None. Only a resource without an `id` cannot be
mapped; that raises `MappingError`, which the collector records as a collection error.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from cmkaudit.ids import (
    PrincipalId,
    ResourceId,
    SubscriptionId,
    parse_key_url,
    resource_group_of,
    subscription_of,
)
from cmkaudit.inventory.model import (
    AccessPolicy,
    DiagnosticSetting,
    DiskEncryptionSet,
    Key,
    KeyReference,
    KeyVersion,
    LifetimeAction,
    LogSetting,
    ManagedIdentity,
    RoleAssignment,
    RoleDefinition,
    RotationPolicy,
    Scope,
    ScopeEncryption,
    StorageAccount,
    Subscription,
    Vault,
    VaultKind,
    Workspace,
)

Json = Mapping[str, Any]


class MappingError(ValueError):
    """A resource payload lacks what is needed to identify it."""


def _get(obj: object, name: str) -> object:
    """Case-insensitive member lookup; None when `obj` is not an object or lacks `name`."""
    if not isinstance(obj, Mapping):
        return None
    if name in obj:
        return obj[name]
    lowered = name.lower()
    for key, value in obj.items():
        if isinstance(key, str) and key.lower() == lowered:
            return value
    return None


def _path(obj: object, *names: str) -> object:
    for name in names:
        obj = _get(obj, name)
    return obj


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _bool(value: object) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return None


def _int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def _strs(value: object) -> tuple[str, ...]:
    if not isinstance(value, list):
        return ()
    return tuple(v for v in value if isinstance(v, str))


def _tags(value: object) -> dict[str, str]:
    if not isinstance(value, Mapping):
        return {}
    return {str(k): v for k, v in value.items() if isinstance(v, str)}


def _epoch(value: object) -> datetime | None:
    """Key Vault management-plane timestamps are epoch seconds."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return datetime.fromtimestamp(value, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _required_id(payload: Json, kind: str) -> ResourceId:
    rid = _str(_get(payload, "id"))
    if not rid:
        raise MappingError(f"{kind} payload has no 'id'")
    return ResourceId(rid)


def _name(payload: Json, rid: str) -> str:
    return _str(_get(payload, "name")) or rid.rstrip("/").rsplit("/", 1)[-1]


def _identity(obj: object, source: str) -> ManagedIdentity | None:
    if not isinstance(obj, Mapping):
        return None
    principal = _str(_get(obj, "principalId"))
    return ManagedIdentity(
        principal_id=PrincipalId(principal) if principal else None,
        tenant_id=_str(_get(obj, "tenantId")),
        type=_str(_get(obj, "type")),
        source=source,
    )


def _identities(obj: object, source: str) -> tuple[ManagedIdentity, ...]:
    """System- and user-assigned identities of a resource's `identity` block."""
    found: list[ManagedIdentity] = []
    system = _identity(obj, source)
    if system is not None and system.principal_id:
        found.append(system)
    assigned = _get(obj, "userAssignedIdentities")
    if isinstance(assigned, Mapping):
        for uami_id, details in sorted(assigned.items()):
            principal = _str(_get(details, "principalId"))
            if principal:
                found.append(
                    ManagedIdentity(
                        principal_id=PrincipalId(principal),
                        tenant_id=None,
                        type=f"UserAssigned:{uami_id}",
                        source=f"{source}.userAssignedIdentities",
                    )
                )
    return tuple(found)


def _key_reference(obj: object, source: str, *, uri: str, name: str, version: str) -> KeyReference | None:
    vault_uri = _str(_get(obj, uri))
    key_name = _str(_get(obj, name))
    if not vault_uri or not key_name:
        return None
    return KeyReference(
        vault_uri=vault_uri, key_name=key_name, key_version=_str(_get(obj, version)) or None, source=source
    )


def _parameter_value(parameters: object, name: str) -> object:
    """Databricks custom parameters are `{name: {type, value}}`; `parameters` itself may be null."""
    return _get(_get(parameters, name), "value")


def workspace_from_arm(payload: Json) -> Workspace:
    """Map a `Microsoft.Databricks/workspaces` resource."""
    rid = _required_id(payload, "workspace")
    props = _get(payload, "properties")
    entities = _path(props, "encryption", "entities")
    services = _get(entities, "managedServices")
    disk = _get(entities, "managedDisk")
    parameters = _get(props, "parameters")
    dbfs_encryption = _parameter_value(parameters, "encryption")
    managed_rg = _str(_get(props, "managedResourceGroupId"))
    des_id = _str(_get(props, "diskEncryptionSetId"))
    return Workspace(
        id=rid,
        name=_name(payload, rid),
        subscription_id=SubscriptionId(subscription_of(rid) or ""),
        resource_group=resource_group_of(rid) or "",
        location=_str(_get(payload, "location")),
        sku=_str(_path(payload, "sku", "name")),
        tags=_tags(_get(payload, "tags")),
        managed_resource_group_id=ResourceId(managed_rg) if managed_rg else None,
        disk_encryption_set_id=ResourceId(des_id) if des_id else None,
        managed_disk_identity=_identity(_get(props, "managedDiskIdentity"), "properties.managedDiskIdentity"),
        storage_account_identity=_identity(_get(props, "storageAccountIdentity"), "properties.storageAccountIdentity"),
        storage_account_name=_str(_parameter_value(parameters, "storageAccountName")),
        require_infrastructure_encryption=_bool(_parameter_value(parameters, "requireInfrastructureEncryption")),
        managed_services=ScopeEncryption(
            scope=Scope.MANAGED_SERVICES,
            key_source=_str(_get(services, "keySource")),
            key=_key_reference(
                _get(services, "keyVaultProperties"),
                "properties.encryption.entities.managedServices.keyVaultProperties",
                uri="keyVaultUri",
                name="keyName",
                version="keyVersion",
            ),
        ),
        managed_disk=ScopeEncryption(
            scope=Scope.MANAGED_DISK,
            key_source=_str(_get(disk, "keySource")),
            key=_key_reference(
                _get(disk, "keyVaultProperties"),
                "properties.encryption.entities.managedDisk.keyVaultProperties",
                uri="keyVaultUri",
                name="keyName",
                version="keyVersion",
            ),
            rotation_to_latest=_bool(_get(disk, "rotationToLatestKeyVersionEnabled")),
        ),
        properties_reported=isinstance(props, Mapping),
        dbfs_root=ScopeEncryption(
            scope=Scope.DBFS_ROOT,
            key_source=_str(_get(dbfs_encryption, "keySource")),
            key=_key_reference(
                dbfs_encryption,
                "properties.parameters.encryption.value",
                uri="keyvaulturi",
                name="KeyName",
                version="keyversion",
            ),
            prepare_encryption=_bool(_parameter_value(parameters, "prepareEncryption")),
        ),
    )


def _access_policy(entry: object) -> AccessPolicy | None:
    object_id = _str(_get(entry, "objectId"))
    if not object_id:
        return None
    permissions = _get(entry, "permissions")
    return AccessPolicy(
        tenant_id=_str(_get(entry, "tenantId")),
        object_id=PrincipalId(object_id),
        application_id=_str(_get(entry, "applicationId")),
        keys=_strs(_get(permissions, "keys")),
        secrets=_strs(_get(permissions, "secrets")),
        certificates=_strs(_get(permissions, "certificates")),
        storage=_strs(_get(permissions, "storage")),
    )


def _key_holder(
    payload: Json,
    what: str,
    *,
    vault_uri: str | None,
    sku: str | None,
    rbac_authorization: bool | None,
    access_policies: tuple[AccessPolicy, ...],
    kind: VaultKind = VaultKind.KEY_VAULT,
) -> Vault:
    """What vaults and Managed HSM pools report alike (id, place, tenant, soft delete, purge protection, network
    rules), with the fields each reports its own way."""
    rid = _required_id(payload, what)
    props = _get(payload, "properties")
    return Vault(
        id=rid,
        name=_name(payload, rid),
        subscription_id=SubscriptionId(subscription_of(rid) or ""),
        resource_group=resource_group_of(rid) or "",
        location=_str(_get(payload, "location")),
        tenant_id=_str(_get(props, "tenantId")),
        soft_delete_enabled=_bool(_get(props, "enableSoftDelete")),
        soft_delete_retention_days=_int(_get(props, "softDeleteRetentionInDays")),
        purge_protection_enabled=_bool(_get(props, "enablePurgeProtection")),
        public_network_access=_str(_get(props, "publicNetworkAccess")),
        network_default_action=_str(_path(props, "networkAcls", "defaultAction")),
        network_bypass=_str(_path(props, "networkAcls", "bypass")),
        vault_uri=vault_uri,
        sku=sku,
        rbac_authorization=rbac_authorization,
        access_policies=access_policies,
        kind=kind,
    )


def vault_from_arm(payload: Json) -> Vault:
    """Map a `Microsoft.KeyVault/vaults` resource (from `vaults.list_by_subscription` or `get`)."""
    props = _get(payload, "properties")
    policies = _get(props, "accessPolicies")
    mapped = (_access_policy(p) for p in policies) if isinstance(policies, list) else iter(())
    return _key_holder(
        payload,
        "vault",
        vault_uri=_str(_get(props, "vaultUri")),
        sku=_str(_path(props, "sku", "name")),
        rbac_authorization=_bool(_get(props, "enableRbacAuthorization")),
        access_policies=tuple(p for p in mapped if p is not None),
    )


def rotation_policy_from_arm(obj: object, source: str) -> RotationPolicy | None:
    """Map a rotation policy (`properties.rotationPolicy` on ARM, same shape on the data plane)."""
    if not isinstance(obj, Mapping):
        return None
    actions = _get(obj, "lifetimeActions")
    mapped: list[LifetimeAction] = []
    if isinstance(actions, list):
        for entry in actions:
            trigger = _get(entry, "trigger")
            mapped.append(
                LifetimeAction(
                    action=_str(_path(entry, "action", "type")),
                    time_after_create=_str(_get(trigger, "timeAfterCreate")),
                    time_before_expiry=_str(_get(trigger, "timeBeforeExpiry")),
                )
            )
    return RotationPolicy(
        lifetime_actions=tuple(mapped),
        expiry_time=_str(_path(obj, "attributes", "expiryTime")),
        source=source,
    )


def rotation_policy_from_sdk(policy: Any, source: str) -> RotationPolicy:
    """Map the data plane's KeyRotationPolicy (azure-keyvault-keys) to the inventory's shape."""
    actions = getattr(policy, "lifetime_actions", None) or []
    return RotationPolicy(
        lifetime_actions=tuple(
            LifetimeAction(
                action=_str(str(getattr(a.action, "value", a.action))) if getattr(a, "action", None) else None,
                time_after_create=_str(getattr(a, "time_after_create", None)),
                time_before_expiry=_str(getattr(a, "time_before_expiry", None)),
            )
            for a in actions
        ),
        expiry_time=_str(getattr(policy, "expires_in", None)),
        source=source,
    )


def key_version_from_arm(payload: Json) -> KeyVersion | None:
    """Map one entry of `keys.list_versions` (or a `keys.get_version` answer, which has the same shape and reports
    the version's type and size); None when it names no version."""
    props = _get(payload, "properties")
    parsed = parse_key_url(_str(_get(props, "keyUriWithVersion")) or "")
    version = (parsed.version if parsed else None) or _str(_get(payload, "name"))
    if not version:
        return None
    attributes = _get(props, "attributes")
    return KeyVersion(
        version=version,
        enabled=_bool(_get(attributes, "enabled")),
        created=_epoch(_get(attributes, "created")),
        expires=_epoch(_get(attributes, "exp")),
        not_before=_epoch(_get(attributes, "nbf")),
        kty=_str(_get(props, "kty")),
        key_size=_int(_get(props, "keySize")),
    )


def key_from_arm(payload: Json, vault_id: ResourceId, versions: tuple[KeyVersion, ...] | None) -> Key:
    """Map a `Microsoft.KeyVault/vaults/keys` resource from `keys.get`."""
    rid = _required_id(payload, "key")
    props = _get(payload, "properties")
    attributes = _get(props, "attributes")
    current = parse_key_url(_str(_get(props, "keyUriWithVersion")) or "")
    return Key(
        id=rid,
        vault_id=vault_id,
        name=_name(payload, rid),
        kty=_str(_get(props, "kty")),
        key_size=_int(_get(props, "keySize")),
        enabled=_bool(_get(attributes, "enabled")),
        created=_epoch(_get(attributes, "created")),
        expires=_epoch(_get(attributes, "exp")),
        current_version=current.version if current else None,
        rotation_policy=rotation_policy_from_arm(_get(props, "rotationPolicy"), "properties.rotationPolicy"),
        versions=versions,
    )


def _key_from_url(url: str | None, source: str) -> KeyReference | None:
    parsed = parse_key_url(url or "")
    if parsed is None:
        return None
    return KeyReference(
        vault_uri=f"https://{parsed.vault_host}/",
        key_name=parsed.name,
        key_version=parsed.version,
        source=source,
    )


def disk_encryption_set_from_arm(payload: Json) -> DiskEncryptionSet:
    """Map a `Microsoft.Compute/diskEncryptionSets` resource."""
    rid = _required_id(payload, "disk encryption set")
    props = _get(payload, "properties")
    active = _get(props, "activeKey")
    source_vault = _str(_path(active, "sourceVault", "id"))
    error = _get(props, "autoKeyRotationError")
    error_text = None
    if isinstance(error, Mapping):
        error_text = ": ".join(p for p in (_str(_get(error, "code")), _str(_get(error, "message"))) if p)
    return DiskEncryptionSet(
        id=rid,
        name=_name(payload, rid),
        location=_str(_get(payload, "location")),
        encryption_type=_str(_get(props, "encryptionType")),
        active_key=_key_from_url(_str(_get(active, "keyUrl")), "properties.activeKey.keyUrl"),
        source_vault_id=ResourceId(source_vault) if source_vault else None,
        rotation_to_latest=_bool(_get(props, "rotationToLatestKeyVersionEnabled")),
        auto_key_rotation_error=error_text or None,
        last_key_rotation=_str(_get(props, "lastKeyRotationTimestamp")),
        identities=_identities(_get(payload, "identity"), "identity"),
    )


def storage_account_from_arm(payload: Json) -> StorageAccount:
    """Map a `Microsoft.Storage/storageAccounts` resource."""
    rid = _required_id(payload, "storage account")
    encryption = _path(payload, "properties", "encryption")
    kv = _get(encryption, "keyvaultproperties")
    return StorageAccount(
        id=rid,
        name=_name(payload, rid),
        resource_group=resource_group_of(rid) or "",
        location=_str(_get(payload, "location")),
        key_source=_str(_get(encryption, "keySource")),
        key=_key_reference(
            kv,
            "properties.encryption.keyvaultproperties",
            uri="keyvaulturi",
            name="keyname",
            version="keyversion",
        ),
        current_versioned_key_id=_str(_get(kv, "currentVersionedKeyIdentifier")),
        infrastructure_encryption=_bool(_get(encryption, "requireInfrastructureEncryption")),
        encryption_identity=_str(_path(encryption, "identity", "userAssignedIdentity")),
        identities=_identities(_get(payload, "identity"), "identity"),
    )


_DESTINATIONS = ("workspaceId", "storageAccountId", "eventHubAuthorizationRuleId", "marketplacePartnerId")


def diagnostic_setting_from_arm(payload: Json) -> DiagnosticSetting:
    """Map one diagnostic setting (DiagnosticSettings_List, 2021-05-01-preview); empty destinations are unset."""
    rid = _required_id(payload, "diagnostic setting")
    props = _get(payload, "properties")
    logs = _get(props, "logs")
    return DiagnosticSetting(
        id=rid,
        name=_name(payload, rid),
        destinations=tuple(v for v in (_str(_get(props, k)) for k in _DESTINATIONS) if v and v.strip()),
        logs=tuple(
            LogSetting(
                category=_str(_get(entry, "category")),
                category_group=_str(_get(entry, "categoryGroup")),
                enabled=_bool(_get(entry, "enabled")),
            )
            for entry in (logs if isinstance(logs, list) else [])
        ),
    )


def role_assignment_from_arm(payload: Json) -> RoleAssignment:
    """Map a role assignment (RoleAssignments_ListForScope, 2022-04-01)."""
    rid = _required_id(payload, "role assignment")
    props = _get(payload, "properties")
    principal = _str(_get(props, "principalId"))
    definition = _str(_get(props, "roleDefinitionId"))
    if not principal or not definition:
        raise MappingError(f"role assignment {rid} has no principalId or roleDefinitionId")
    return RoleAssignment(
        id=rid,
        principal_id=PrincipalId(principal),
        principal_type=_str(_get(props, "principalType")),
        role_definition_id=definition,
        scope=_str(_get(props, "scope")) or "",
    )


def managed_hsm_from_arm(payload: Json) -> Vault:
    """Map a `Microsoft.KeyVault/managedHSMs` pool (ManagedHsms_ListBySubscription, ManagedHsms_Get) to the record
    vaults have: its permissions are its local RBAC (always on), read from its data plane."""
    return _key_holder(
        payload,
        "Managed HSM",
        vault_uri=_str(_path(payload, "properties", "hsmUri")),
        sku=_str(_path(payload, "sku", "name")),
        rbac_authorization=True,
        access_policies=(),
        kind=VaultKind.MANAGED_HSM,
    )


def local_role_assignment_from_hsm(payload: Json, pool_id: str) -> RoleAssignment:
    """Map a Managed HSM local role assignment (RoleAssignments_ListForScope of the pool's data plane). Its scope
    (`/`, `/keys` or `/keys/{name}`) is recorded as the pool's id for the first two (every key) and the key's
    resource id for the last, as vault role assignments are."""
    rid = _str(_get(payload, "id")) or _str(_get(payload, "name"))
    props = _get(payload, "properties")
    principal = _str(_get(props, "principalId"))
    definition = _str(_get(props, "roleDefinitionId"))
    if not rid or not principal or not definition:
        raise MappingError(f"a role assignment of {pool_id} has no id, principalId or roleDefinitionId")
    local = (_str(_get(props, "scope")) or "/").strip()
    parts = [p for p in local.split("/") if p]
    if not parts or parts == ["keys"]:
        scope = pool_id
    elif len(parts) == 2 and parts[0].lower() == "keys":
        scope = f"{pool_id.rstrip('/')}/keys/{parts[1]}"
    else:
        raise MappingError(f"a role assignment of {pool_id} has a scope cmkaudit does not know: {local}")
    return RoleAssignment(
        id=f"{pool_id}{rid if rid.startswith('/') else '/' + rid}",
        principal_id=PrincipalId(principal),
        principal_type=_str(_get(props, "principalType")),
        role_definition_id=definition,
        scope=scope,
    )


def local_role_definition_from_hsm(payload: Json) -> RoleDefinition:
    """Map a Managed HSM local role definition (RoleDefinitions_List of the pool's data plane)."""
    return replace(role_definition_from_arm(payload), managed_hsm=True)


def role_definition_from_arm(payload: Json) -> RoleDefinition:
    """Map a role definition (RoleDefinitions_Get); the permission entries are merged."""
    rid = _required_id(payload, "role definition")
    props = _get(payload, "properties")
    entries = _get(props, "permissions")
    permissions = entries if isinstance(entries, list) else []

    def merged(name: str) -> tuple[str, ...]:
        return tuple(dict.fromkeys(a for p in permissions for a in _strs(_get(p, name))))

    return RoleDefinition(
        id=rid,
        name=_name(payload, rid),
        role_name=_str(_get(props, "roleName")),
        actions=merged("actions"),
        not_actions=merged("notActions"),
        data_actions=merged("dataActions"),
        not_data_actions=merged("notDataActions"),
    )


def subscription_from_arm(payload: Json) -> Subscription:
    """Map `GET /subscriptions/{id}` (Subscriptions_Get)."""
    sub = _str(_get(payload, "subscriptionId")) or subscription_of(_str(_get(payload, "id")) or "")
    if not sub:
        raise MappingError("subscription payload has no 'subscriptionId'")
    return Subscription(
        id=SubscriptionId(sub),
        display_name=_str(_get(payload, "displayName")),
        state=_str(_get(payload, "state")),
        tenant_id=_str(_get(payload, "tenantId")),
    )
