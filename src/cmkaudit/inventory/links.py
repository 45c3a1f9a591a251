"""Resolve the links between resources once, so rules stay simple.

For each workspace scope: which key it names, which vault holds it (matched by vault URI host,
never by a guessed suffix), which version is in use, and which identities must be able to use
it. What cannot be resolved is said in words, for the UNKNOWN findings that follow.
"""

from __future__ import annotations

from collections.abc import Sequence

from cmkaudit.ids import AZURE_DATABRICKS_APP_ID, ResourceId, id_key, parse_key_url, vault_host
from cmkaudit.inventory.index import InventoryIndex, build_index
from cmkaudit.inventory.model import (
    CollectionError,
    DiskEncryptionSet,
    IdentityRole,
    Key,
    KeyUsage,
    PrincipalLookup,
    PrincipalSource,
    Scope,
    StorageAccount,
    UsingIdentity,
    Vault,
    Workspace,
)


def key_resource_id(vault_id: str, key_name: str) -> ResourceId:
    """The ARM id of a key inside a vault."""
    return ResourceId(f"{vault_id.rstrip('/')}/keys/{key_name}")


def find_vault(index: InventoryIndex, vault_uri: str) -> Vault | None:
    """The vault whose URI has the same host as `vault_uri`."""
    return index.vaults_by_host.get(vault_host(vault_uri))


def find_disk_encryption_set(workspace: Workspace, index: InventoryIndex) -> DiskEncryptionSet | None:
    """The disk encryption set the workspace names in `diskEncryptionSetId`."""
    if not workspace.disk_encryption_set_id:
        return None
    return index.disk_encryption_sets.get(id_key(workspace.disk_encryption_set_id))


def find_dbfs_storage_account(workspace: Workspace, index: InventoryIndex) -> StorageAccount | None:
    """The DBFS root storage account: in the managed resource group, named by `storageAccountName`.

    When the workspace does not report the name, the managed resource group's only storage
    account is taken; with several candidates and no name, nothing is guessed.
    """
    if not workspace.managed_resource_group_id:
        return None
    candidates = index.storage_by_group.get(id_key(workspace.managed_resource_group_id), [])
    if workspace.storage_account_name:
        wanted = workspace.storage_account_name.lower()
        return next((a for a in candidates if a.name.lower() == wanted), None)
    return candidates[0] if len(candidates) == 1 else None


def errors_about(index: InventoryIndex, resource_id: str) -> list[CollectionError]:
    """The collection errors recorded against `resource_id`."""
    return index.errors.get(id_key(resource_id), [])


def _describe(errors: Sequence[CollectionError]) -> str:
    first = errors[0]
    status = f"HTTP {first.status_code}" if first.status_code else "no response"
    code = f" {first.code}" if first.code else ""
    return f"{first.operation} failed ({status}{code}): {first.message}"


def _principal_for(tenant_id: str | None, index: InventoryIndex) -> PrincipalLookup | None:
    return index.principals.get(tenant_id.lower()) if tenant_id else None


def _version_in_use(
    workspace: Workspace,
    scope: Scope,
    key: Key | None,
    des: DiskEncryptionSet | None,
    account: StorageAccount | None,
) -> tuple[str | None, str | None]:
    """Which key version encrypts the scope now, and where that was read."""
    configured = workspace.scope(scope).key
    if scope is Scope.MANAGED_DISK and des and des.active_key and des.active_key.key_version:
        return des.active_key.key_version, f"{des.id} properties.activeKey.keyUrl"
    if scope is Scope.DBFS_ROOT and account and account.current_versioned_key_id:
        parsed = parse_key_url(account.current_versioned_key_id)
        if parsed and parsed.version:
            return (
                parsed.version,
                f"{account.id} properties.encryption.keyvaultproperties.currentVersionedKeyIdentifier",
            )
    if configured and configured.key_version:
        return configured.key_version, f"{workspace.id} {configured.source} (key version)"
    if key and key.current_version:
        return (
            key.current_version,
            f"{key.id} properties.keyUriWithVersion (latest; the scope follows the latest version)",
        )
    return None, None


def _identities(
    workspace: Workspace,
    scope: Scope,
    vault: Vault | None,
    des: DiskEncryptionSet | None,
    account: StorageAccount | None,
    index: InventoryIndex,
) -> tuple[tuple[UsingIdentity, ...], tuple[str, ...]]:
    """The identities that must be able to use the scope's key, and what could not be resolved."""
    match scope:
        case Scope.MANAGED_SERVICES:
            tenant = vault.tenant_id if vault else None
            lookup = _principal_for(tenant, index)
            if lookup and lookup.object_id:
                where = (
                    f"Microsoft Graph servicePrincipals(appId='{AZURE_DATABRICKS_APP_ID}') in tenant {tenant}"
                    if lookup.source is PrincipalSource.GRAPH
                    else f"configuration (tenant {tenant})"
                )
                return (UsingIdentity(lookup.object_id, IdentityRole.AZURE_DATABRICKS, where),), ()
            why = lookup.error if lookup and lookup.error else "it was not looked up"
            return (), (
                f"the AzureDatabricks service principal's object id in tenant {tenant or '(unknown)'} "
                f"is not known: {why}. Grant the scanner Microsoft Graph read access "
                "(Application.Read.All) or pass --databricks-principal-id TENANT=OBJECT_ID",
            )
        case Scope.MANAGED_DISK:
            if des and des.identities:
                return tuple(
                    UsingIdentity(i.principal_id, IdentityRole.DISK_ENCRYPTION_SET, f"{des.id} {i.source}")
                    for i in des.identities
                    if i.principal_id
                ), ()
            ident = workspace.managed_disk_identity
            if ident and ident.principal_id:
                return (
                    UsingIdentity(
                        ident.principal_id, IdentityRole.DISK_ENCRYPTION_SET, f"{workspace.id} {ident.source}"
                    ),
                ), ()
            return (), ("neither the disk encryption set nor the workspace reports the managed-disk identity",)
        case Scope.DBFS_ROOT:
            if account and account.identities:
                # The identity that unwraps the key is the one `encryption.identity` names; with none named, it is
                # the account's system-assigned identity (never a user-assigned one it merely carries).
                chosen = [
                    i
                    for i in account.identities
                    if (
                        not (i.type or "").lower().startswith("userassigned:")
                        if account.encryption_identity is None
                        else (i.type or "").lower() == f"userassigned:{account.encryption_identity}".lower()
                    )
                ]
                if chosen:
                    return tuple(
                        UsingIdentity(i.principal_id, IdentityRole.STORAGE_ACCOUNT, f"{account.id} {i.source}")
                        for i in chosen
                        if i.principal_id
                    ), ()
            ident = workspace.storage_account_identity
            if ident and ident.principal_id:
                return (
                    UsingIdentity(ident.principal_id, IdentityRole.STORAGE_ACCOUNT, f"{workspace.id} {ident.source}"),
                ), ()
            return (), ("neither the DBFS storage account nor the workspace reports the storage identity",)


def resolve_key_usage(workspace: Workspace, scope: Scope, index: InventoryIndex) -> KeyUsage:
    """Resolve one workspace scope to its vault, key, version in use and using identities."""
    encryption = workspace.scope(scope)
    if not encryption.uses_cmk or encryption.key is None:
        return KeyUsage(workspace.id, scope, False, encryption.key, None, None, None, None, (), (), ())
    des = find_disk_encryption_set(workspace, index) if scope is Scope.MANAGED_DISK else None
    account = find_dbfs_storage_account(workspace, index) if scope is Scope.DBFS_ROOT else None
    # The disk encryption set is the truth for managed disks: its active key wraps them, whatever the workspace names.
    ref = des.active_key if des is not None and des.active_key is not None else encryption.key
    ref_from = des.id if des is not None and des.active_key is not None else None
    follows_latest = des.rotation_to_latest if ref_from is not None and des is not None else not ref.key_version
    problems: list[str] = []
    vault = find_vault(index, ref.vault_uri)
    key: Key | None = None
    key_id: ResourceId | None = None
    if vault is None and ".managedhsm." in vault_host(ref.vault_uri):
        problems.append(
            f"the key is in Managed HSM {vault_host(ref.vault_uri)}; Managed HSM pools are not evaluated yet"
        )
    elif vault is None:
        problems.append(
            f"the key vault {vault_host(ref.vault_uri)} is not in the scanned subscriptions: scan its "
            "subscription too (--subscription), or grant the scanner Reader on it"
        )
    else:
        key_id = key_resource_id(vault.id, ref.key_name)
        key = index.keys.get(id_key(key_id))
        if key is None:
            failed = errors_about(index, key_id)
            problems.append(
                f"the key {ref.key_name} in vault {vault.name} could not be read: "
                + (_describe(failed) if failed else "it was not returned")
            )
    version, version_source = _version_in_use(workspace, scope, key, des, account)
    identities, identity_problems = _identities(workspace, scope, vault, des, account, index)
    return KeyUsage(
        workspace_id=workspace.id,
        scope=scope,
        uses_cmk=True,
        key_ref=ref,
        vault_id=vault.id if vault else None,
        key_id=key_id if key is not None else None,
        version_in_use=version,
        version_source=version_source,
        identities=identities,
        problems=tuple(problems),
        identity_problems=identity_problems,
        key_ref_from=ref_from,
        follows_latest=follows_latest,
    )


def resolve_key_usages(
    workspaces: Sequence[Workspace],
    *,
    vaults: Sequence[Vault],
    keys: Sequence[Key],
    disk_encryption_sets: Sequence[DiskEncryptionSet],
    storage_accounts: Sequence[StorageAccount],
    principals: Sequence[PrincipalLookup],
    errors: Sequence[CollectionError],
) -> tuple[KeyUsage, ...]:
    """Every (workspace, scope) pair resolved, in workspace-id then scope order."""
    index = build_index(
        vaults=vaults,
        keys=keys,
        disk_encryption_sets=disk_encryption_sets,
        storage_accounts=storage_accounts,
        principals=principals,
        errors=errors,
    )
    return tuple(
        resolve_key_usage(w, scope, index) for w in sorted(workspaces, key=lambda w: id_key(w.id)) for scope in Scope
    )
