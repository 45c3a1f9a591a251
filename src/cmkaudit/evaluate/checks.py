"""The benchmark's check logic: one small pure function per control.

Workspace checks take a `Workspace`; key checks take a `KeyUsage` (one encryption scope of a
workspace, resolved to its vault, key and identities). Every check returns a `Verdict`. When the
evidence a check needs was not read, the verdict is UNKNOWN with the reason, never PASS.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from cmkaudit.evaluate.durations import duration_days
from cmkaudit.evaluate.model import Evidence, Settings, Status, Verdict
from cmkaudit.ids import ControlId, id_key, vault_host
from cmkaudit.inventory.links import find_dbfs_storage_account, find_disk_encryption_set
from cmkaudit.inventory.model import Inventory, Key, KeyUsage, Scope, UsingIdentity, Vault, Workspace

WorkspaceCheck = Callable[[Workspace, Inventory, Settings], Verdict]
KeyUsageCheck = Callable[[KeyUsage, Inventory, Settings], Verdict]

CMK_KEY_SOURCE = "microsoft.keyvault"
REQUIRED_KEY_PERMISSIONS = frozenset({"get", "wrapkey", "unwrapkey"})
_PERMISSION_NAMES = {
    "wrapkey": "wrapKey",
    "unwrapkey": "unwrapKey",
    "getrotationpolicy": "getRotationPolicy",
    "setrotationpolicy": "setRotationPolicy",
    "managecontacts": "manageContacts",
}


def _names(permissions: Iterable[str]) -> str:
    """Permissions in the casing Azure documents them with."""
    return ", ".join(_PERMISSION_NAMES.get(p, p) for p in sorted(permissions))


_SCOPE_CONTROL = {
    Scope.MANAGED_SERVICES: "DBX-02",
    Scope.MANAGED_DISK: "DBX-03",
    Scope.DBFS_ROOT: "DBX-05",
}


def _workspace_by_id(inventory: Inventory, workspace_id: str) -> Workspace:
    wanted = id_key(workspace_id)
    return next(w for w in inventory.workspaces if id_key(w.id) == wanted)


def _vault(inventory: Inventory, usage: KeyUsage) -> Vault | None:
    if usage.vault_id is None:
        return None
    wanted = id_key(usage.vault_id)
    return next((v for v in inventory.vaults if id_key(v.id) == wanted), None)


def _key(inventory: Inventory, usage: KeyUsage) -> Key | None:
    if usage.key_id is None:
        return None
    wanted = id_key(usage.key_id)
    return next((k for k in inventory.keys if id_key(k.id) == wanted), None)


def _key_ref_evidence(usage: KeyUsage) -> tuple[Evidence, ...]:
    ref = usage.key_ref
    if ref is None:
        return ()
    return (
        Evidence("key vault URI", ref.vault_uri, usage.workspace_id, ref.source),
        Evidence("key name", ref.key_name, usage.workspace_id, ref.source),
    )


def _not_applicable_or_unresolved(usage: KeyUsage, needs_key: bool = False) -> Verdict | None:
    """The verdict shared by every key check when the scope has no CMK or the key is not resolved."""
    if not usage.uses_cmk:
        return Verdict(
            Status.NOT_APPLICABLE,
            f"the {usage.scope.label} scope is not encrypted with a customer-managed key "
            f"(see {_SCOPE_CONTROL[usage.scope]})",
        )
    if usage.vault_id is None or (needs_key and usage.key_id is None):
        return Verdict(
            Status.UNKNOWN,
            "; ".join(usage.problems) or "the key could not be resolved",
            _key_ref_evidence(usage),
        )
    return None


# --- workspace controls ---------------------------------------------------------------------------


def check_premium_sku(workspace: Workspace, inventory: Inventory, settings: Settings) -> Verdict:
    """DBX-01: the workspace SKU is Premium (customer-managed keys need it)."""
    evidence = (Evidence("sku.name", workspace.sku, workspace.id, "sku.name"),)
    if workspace.sku is None:
        return Verdict(Status.UNKNOWN, "the workspace did not report its SKU", evidence)
    if workspace.sku.lower() == "premium":
        return Verdict(Status.PASS, "the workspace is on the Premium tier", evidence)
    return Verdict(Status.FAIL, f"the workspace is on the {workspace.sku} tier; CMK needs Premium", evidence)


def _scope_evidence(workspace: Workspace, scope: Scope) -> tuple[Evidence, ...]:
    enc = workspace.scope(scope)
    items = [Evidence("keySource", enc.key_source, workspace.id, _KEY_SOURCE_PATH[scope])]
    if enc.key is not None:
        items.append(Evidence("key vault URI", enc.key.vault_uri, workspace.id, enc.key.source))
        items.append(Evidence("key name", enc.key.key_name, workspace.id, enc.key.source))
        items.append(Evidence("key version", enc.key.key_version or "(latest)", workspace.id, enc.key.source))
    return tuple(items)


_KEY_SOURCE_PATH = {
    Scope.MANAGED_SERVICES: "properties.encryption.entities.managedServices.keySource",
    Scope.MANAGED_DISK: "properties.encryption.entities.managedDisk.keySource",
    Scope.DBFS_ROOT: "properties.parameters.encryption.value.keySource",
}


def _scope_check(workspace: Workspace, scope: Scope) -> Verdict:
    enc = workspace.scope(scope)
    evidence = _scope_evidence(workspace, scope)
    if enc.uses_cmk:
        assert enc.key is not None
        return Verdict(
            Status.PASS,
            f"{scope.label} use key {enc.key.key_name} from {vault_host(enc.key.vault_uri)}",
            evidence,
        )
    if enc.key_source is None:
        return Verdict(Status.FAIL, f"no customer-managed key is configured for {scope.label}", evidence)
    return Verdict(
        Status.FAIL,
        f"{scope.label} use keySource {enc.key_source}, not a customer-managed key (Microsoft.Keyvault)",
        evidence,
    )


def check_managed_services_cmk(workspace: Workspace, inventory: Inventory, settings: Settings) -> Verdict:
    """DBX-02: managed services (notebooks, secrets, queries) are encrypted with a customer-managed key."""
    return _scope_check(workspace, Scope.MANAGED_SERVICES)


def check_managed_disk_cmk(workspace: Workspace, inventory: Inventory, settings: Settings) -> Verdict:
    """DBX-03: managed disks of cluster VMs are encrypted with a customer-managed key."""
    verdict = _scope_check(workspace, Scope.MANAGED_DISK)
    des = find_disk_encryption_set(workspace, inventory.disk_encryption_sets)
    extra: list[Evidence] = [
        Evidence(
            "diskEncryptionSetId",
            workspace.disk_encryption_set_id,
            workspace.id,
            "properties.diskEncryptionSetId",
        )
    ]
    if des is not None:
        extra.append(Evidence("encryptionType", des.encryption_type, des.id, "properties.encryptionType"))
    return Verdict(verdict.status, verdict.reason, verdict.evidence + tuple(extra))


def check_dbfs_root_cmk(workspace: Workspace, inventory: Inventory, settings: Settings) -> Verdict:
    """DBX-05: the DBFS root uses a customer-managed key, and its storage account agrees."""
    enc = workspace.dbfs_root
    evidence = (
        Evidence(
            "prepareEncryption",
            enc.prepare_encryption,
            workspace.id,
            "properties.parameters.prepareEncryption.value",
        ),
        *_scope_evidence(workspace, Scope.DBFS_ROOT),
    )
    if not enc.uses_cmk or enc.key is None:
        source = enc.key_source or "not set"
        return Verdict(
            Status.FAIL,
            f"the workspace does not encrypt the DBFS root with a customer-managed key "
            f"(prepareEncryption {enc.prepare_encryption}, encryption keySource {source})",
            evidence,
        )
    account = find_dbfs_storage_account(workspace, inventory.storage_accounts)
    if account is None:
        where = workspace.managed_resource_group_id or "(the managed resource group is not reported)"
        failed = [e for e in inventory.errors if e.operation == "list storage accounts"]
        why = f": {failed[0].message}" if failed else ""
        return Verdict(
            Status.UNKNOWN,
            f"the workspace names a customer-managed key, but its DBFS storage account "
            f"{workspace.storage_account_name or ''} in {where} could not be read{why}",
            evidence,
        )
    evidence = (
        *evidence,
        Evidence("storage keySource", account.key_source, account.id, "properties.encryption.keySource"),
    )
    if (account.key_source or "").lower() != CMK_KEY_SOURCE or account.key is None:
        return Verdict(
            Status.FAIL,
            f"the workspace names a customer-managed key, but storage account {account.name} reports "
            f"keySource {account.key_source or 'not set'}",
            evidence,
        )
    evidence = (
        *evidence,
        Evidence("storage key vault URI", account.key.vault_uri, account.id, account.key.source),
        Evidence("storage key name", account.key.key_name, account.id, account.key.source),
    )
    same_vault = vault_host(account.key.vault_uri) == vault_host(enc.key.vault_uri)
    if not same_vault or account.key.key_name.lower() != enc.key.key_name.lower():
        return Verdict(
            Status.FAIL,
            f"the workspace names key {enc.key.key_name} in {vault_host(enc.key.vault_uri)}, but storage account "
            f"{account.name} uses {account.key.key_name} in {vault_host(account.key.vault_uri)}",
            evidence,
        )
    return Verdict(
        Status.PASS,
        f"the DBFS root and storage account {account.name} use key {enc.key.key_name} "
        f"from {vault_host(enc.key.vault_uri)}",
        evidence,
    )


# --- key vault and key controls ------------------------------------------------------------------


def check_purge_protection(usage: KeyUsage, inventory: Inventory, settings: Settings) -> Verdict:
    """KV-01: the vault holding the key has purge protection."""
    early = _not_applicable_or_unresolved(usage)
    if early:
        return early
    vault = _vault(inventory, usage)
    assert vault is not None
    evidence = (
        Evidence(
            "enablePurgeProtection",
            vault.purge_protection_enabled,
            vault.id,
            "properties.enablePurgeProtection",
        ),
    )
    if vault.purge_protection_enabled is True:
        return Verdict(Status.PASS, f"vault {vault.name} has purge protection", evidence)
    if vault.purge_protection_enabled is None:
        return Verdict(
            Status.FAIL,
            f"vault {vault.name} does not report enablePurgeProtection; Azure treats that as disabled",
            evidence,
        )
    return Verdict(Status.FAIL, f"vault {vault.name} has purge protection disabled", evidence)


# The ARM API documents 90 days as the retention when softDeleteRetentionInDays is not set.
DEFAULT_SOFT_DELETE_RETENTION_DAYS = 90


def check_soft_delete(usage: KeyUsage, inventory: Inventory, settings: Settings) -> Verdict:
    """KV-02: the vault has soft delete with enough retention."""
    early = _not_applicable_or_unresolved(usage)
    if early:
        return early
    vault = _vault(inventory, usage)
    assert vault is not None
    evidence = (
        Evidence("enableSoftDelete", vault.soft_delete_enabled, vault.id, "properties.enableSoftDelete"),
        Evidence(
            "softDeleteRetentionInDays",
            vault.soft_delete_retention_days,
            vault.id,
            "properties.softDeleteRetentionInDays",
        ),
    )
    if vault.soft_delete_enabled is not True:
        state = "does not report enableSoftDelete" if vault.soft_delete_enabled is None else "has soft delete disabled"
        return Verdict(Status.FAIL, f"vault {vault.name} {state}", evidence)
    retention = vault.soft_delete_retention_days
    shown = f"{retention} days"
    if retention is None:
        retention = DEFAULT_SOFT_DELETE_RETENTION_DAYS
        shown = f"not reported, so the API default of {retention} days"
    if retention < settings.soft_delete_min_retention_days:
        return Verdict(
            Status.FAIL,
            f"vault {vault.name} keeps deleted keys for {shown}, less than {settings.soft_delete_min_retention_days}",
            evidence,
        )
    return Verdict(Status.PASS, f"vault {vault.name} has soft delete with retention {shown}", evidence)


def _rotation_interval_days(
    action_time_after_create: str | None, time_before_expiry: str | None, expiry: str | None
) -> float | None:
    """How often a `rotate` action fires, in days, or None when it cannot be worked out."""
    after_create = duration_days(action_time_after_create)
    if after_create is not None:
        return after_create
    before_expiry = duration_days(time_before_expiry)
    lifetime = duration_days(expiry)
    if before_expiry is not None and lifetime is not None and lifetime > before_expiry:
        return lifetime - before_expiry
    return None


def check_rotation_policy(usage: KeyUsage, inventory: Inventory, settings: Settings) -> Verdict:
    """KEY-03: the key rotates automatically within the cadence."""
    early = _not_applicable_or_unresolved(usage, needs_key=True)
    if early:
        return early
    key = _key(inventory, usage)
    assert key is not None
    policy = key.rotation_policy
    if policy is None:
        return Verdict(
            Status.UNKNOWN,
            f"Azure Resource Manager returned no rotation policy for key {key.name}; the policy must be read "
            "from the Key Vault data plane (keys/rotationpolicy, needs the 'Get Rotation Policy' key permission "
            "or Key Vault Reader)",
            (Evidence("properties.rotationPolicy", None, key.id, "properties.rotationPolicy"),),
        )
    actions = tuple(
        f"{a.action or '?'} after create {a.time_after_create or '-'} / before expiry {a.time_before_expiry or '-'}"
        for a in policy.lifetime_actions
    )
    evidence = (
        Evidence("lifetimeActions", actions, key.id, f"{policy.source}.lifetimeActions"),
        Evidence("expiryTime", policy.expiry_time, key.id, f"{policy.source}.attributes.expiryTime"),
    )
    rotations = [
        _rotation_interval_days(a.time_after_create, a.time_before_expiry, policy.expiry_time)
        for a in policy.lifetime_actions
        if (a.action or "").lower() == "rotate"
    ]
    if not rotations:
        return Verdict(Status.FAIL, f"key {key.name} has no automatic rotation (the policy only notifies)", evidence)
    known = [r for r in rotations if r is not None]
    if not known:
        return Verdict(
            Status.UNKNOWN,
            f"the rotation trigger of key {key.name} could not be read as an ISO-8601 duration",
            evidence,
        )
    interval = min(known)
    if interval <= settings.rotation_max_days:
        return Verdict(Status.PASS, f"key {key.name} rotates automatically every {interval:g} days", evidence)
    return Verdict(
        Status.FAIL,
        f"key {key.name} rotates every {interval:g} days, longer than the {settings.rotation_max_days}-day cadence",
        evidence,
    )


# --- access controls --------------------------------------------------------------------------------


def _access_preconditions(usage: KeyUsage, inventory: Inventory) -> Verdict | Vault:
    early = _not_applicable_or_unresolved(usage)
    if early:
        return early
    vault = _vault(inventory, usage)
    assert vault is not None
    model = Evidence(
        "enableRbacAuthorization", vault.rbac_authorization, vault.id, "properties.enableRbacAuthorization"
    )
    if vault.rbac_authorization is True:
        return Verdict(
            Status.UNKNOWN,
            f"vault {vault.name} uses Azure RBAC; this control reads access policies, so the role assignments "
            "on the vault and key must be reviewed for the identities listed",
            (model, *_identity_evidence(usage.identities)),
        )
    if vault.rbac_authorization is None:
        return Verdict(
            Status.UNKNOWN,
            f"vault {vault.name} does not report its permission model (enableRbacAuthorization)",
            (model,),
        )
    if usage.identity_problems:
        return Verdict(Status.UNKNOWN, "; ".join(usage.identity_problems), (model,))
    if not usage.identities:
        return Verdict(Status.UNKNOWN, "no identity that uses the key could be determined", (model,))
    return vault


def _identity_evidence(identities: tuple[UsingIdentity, ...]) -> tuple[Evidence, ...]:
    return tuple(Evidence(f"{i.role.value}", str(i.principal_id), None, i.source) for i in identities)


def _granted(vault: Vault, identity: UsingIdentity) -> tuple[set[str], set[str]]:
    """Key permissions, and other (secret/certificate/storage) permissions, granted to the identity."""
    keys: set[str] = set()
    others: set[str] = set()
    for policy in vault.access_policies:
        if policy.object_id.lower() != identity.principal_id.lower():
            continue
        if policy.tenant_id and vault.tenant_id and policy.tenant_id.lower() != vault.tenant_id.lower():
            continue
        keys.update(p.lower() for p in policy.keys)
        others.update(f"secrets:{p.lower()}" for p in policy.secrets)
        others.update(f"certificates:{p.lower()}" for p in policy.certificates)
        others.update(f"storage:{p.lower()}" for p in policy.storage)
    return keys, others


def _policy_evidence(vault: Vault, identity: UsingIdentity, keys: set[str], others: set[str]) -> Evidence:
    return Evidence(
        f"access policy of {identity.role.value} {identity.principal_id}",
        tuple(sorted(keys)) + tuple(sorted(others)),
        vault.id,
        "properties.accessPolicies",
    )


def _judge_identities(
    usage: KeyUsage,
    inventory: Inventory,
    problem: Callable[[set[str], set[str]], str | None],
    passed: str,
) -> Verdict:
    """Apply `problem(key permissions, other permissions)` to every identity that uses the key.

    FAIL lists each identity with a problem; PASS says `passed` (followed by the vault name).
    """
    pre = _access_preconditions(usage, inventory)
    if isinstance(pre, Verdict):
        return pre
    vault = pre
    evidence: list[Evidence] = list(_identity_evidence(usage.identities))
    problems: list[str] = []
    for identity in usage.identities:
        keys, others = _granted(vault, identity)
        evidence.append(_policy_evidence(vault, identity, keys, others))
        found = problem(keys, others)
        if found:
            problems.append(f"{identity.role.value} {identity.principal_id} {found}")
    if problems:
        return Verdict(Status.FAIL, f"on vault {vault.name}: " + "; ".join(problems), tuple(evidence))
    return Verdict(Status.PASS, f"{passed} on vault {vault.name}", tuple(evidence))


def _missing_required(keys: set[str], others: set[str]) -> str | None:
    missing = set() if "all" in keys else REQUIRED_KEY_PERMISSIONS - keys
    return f"lacks {_names(missing)}" if missing else None


def _beyond_required(keys: set[str], others: set[str]) -> str | None:
    excess = (keys - REQUIRED_KEY_PERMISSIONS) | others
    return f"also holds {_names(excess)}" if excess else None


def check_required_permissions(usage: KeyUsage, inventory: Inventory, settings: Settings) -> Verdict:
    """IAM-01: every identity that uses the key holds get, wrapKey and unwrapKey."""
    return _judge_identities(
        usage, inventory, _missing_required, "every identity that uses the key holds get, wrapKey and unwrapKey"
    )


def check_least_privilege(usage: KeyUsage, inventory: Inventory, settings: Settings) -> Verdict:
    """IAM-02: identities that use the key hold nothing beyond get, wrapKey and unwrapKey."""
    return _judge_identities(
        usage,
        inventory,
        _beyond_required,
        "the identities that use the key hold no more than get, wrapKey and unwrapKey",
    )


WORKSPACE_CHECKS: Mapping[ControlId, WorkspaceCheck] = {
    ControlId("DBX-01"): check_premium_sku,
    ControlId("DBX-02"): check_managed_services_cmk,
    ControlId("DBX-03"): check_managed_disk_cmk,
    ControlId("DBX-05"): check_dbfs_root_cmk,
}

KEY_USAGE_CHECKS: Mapping[ControlId, KeyUsageCheck] = {
    ControlId("KV-01"): check_purge_protection,
    ControlId("KV-02"): check_soft_delete,
    ControlId("KEY-03"): check_rotation_policy,
    ControlId("IAM-01"): check_required_permissions,
    ControlId("IAM-02"): check_least_privilege,
}


def workspace_of(usage: KeyUsage, inventory: Inventory) -> Workspace:
    """The workspace a key usage belongs to."""
    return _workspace_by_id(inventory, usage.workspace_id)
