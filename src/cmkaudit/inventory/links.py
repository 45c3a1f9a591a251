"""Resolve the links between resources once, so rules stay simple.

For each workspace: its disk encryption set and its DBFS root storage account (`WorkspaceLinks`). For each
workspace scope: which key it uses (for managed disks, the disk encryption set's active key), which vault holds
it (matched by vault URI host, never by a guessed suffix), which version is in use, and which identities must be
able to use it. What cannot be resolved carries an `Unread` marker saying why, from the records themselves (a
key that could not be read, a list that failed), never from error messages.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from cmkaudit.ids import AZURE_DATABRICKS_APP_ID, ResourceId, id_key, parse_key_url, subscription_of, vault_host
from cmkaudit.inventory.index import InventoryIndex
from cmkaudit.inventory.model import (
    AZURE_SCOPES,
    DiskEncryptionSet,
    IdentityRole,
    Key,
    KeyUsage,
    ListedKind,
    PrincipalLookup,
    PrincipalSource,
    Scope,
    StorageAccount,
    Unlisted,
    Unread,
    UnreadWhy,
    UsingIdentity,
    Vault,
    Workspace,
    WorkspaceLinks,
)

Gaps = Mapping[tuple[str, ListedKind], Unread]
"""(lower-case subscription id, kind) -> why that subscription's list of that kind could not be read."""


def key_resource_id(vault_id: str, key_name: str) -> ResourceId:
    """The ARM id of a key inside a vault."""
    return ResourceId(f"{vault_id.rstrip('/')}/keys/{key_name}")


def find_vault(index: InventoryIndex, vault_uri: str) -> Vault | None:
    """The vault whose URI has the same host as `vault_uri`."""
    return index.vaults_by_host.get(vault_host(vault_uri))


def _dbfs_candidates(workspace: Workspace, index: InventoryIndex) -> StorageAccount | None:
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


def _missing(resource_id: str, kind: ListedKind, what: str, gaps: Gaps) -> Unread:
    """Why a resource a workspace names is not in the inventory: its subscription's list failed, or it was not
    among the resources listed."""
    gap = gaps.get(((subscription_of(resource_id) or "").lower(), kind))
    if gap is not None:
        return Unread(UnreadWhy.FAILED, f"the {what} could not be read: {gap.reason}", gap.hint, gap.error)
    return Unread(UnreadWhy.NOT_FOUND, f"the {what} was not among the resources listed in its subscription")


def _workspace_links(workspace: Workspace, index: InventoryIndex, gaps: Gaps) -> WorkspaceLinks:
    des_id = des_unread = None
    if workspace.disk_encryption_set_id:
        des = index.disk_encryption_sets.get(id_key(workspace.disk_encryption_set_id))
        if des is not None:
            des_id = des.id
        else:
            what = f"disk encryption set {workspace.disk_encryption_set_id}"
            des_unread = _missing(workspace.disk_encryption_set_id, ListedKind.DISK_ENCRYPTION_SETS, what, gaps)
    account = _dbfs_candidates(workspace, index)
    account_unread = None
    if account is None:
        where = workspace.managed_resource_group_id
        what = " ".join(filter(None, ("DBFS storage account", workspace.storage_account_name, "in", where)))
        account_unread = (
            _missing(where, ListedKind.STORAGE_ACCOUNTS, what, gaps)
            if where
            else Unread(UnreadWhy.NOT_FOUND, "the workspace does not report its managed resource group")
        )
    return WorkspaceLinks(workspace.id, des_id, account.id if account else None, des_unread, account_unread)


def resolve_workspace_links(
    workspaces: Sequence[Workspace], index: InventoryIndex, unlisted: Sequence[Unlisted] = ()
) -> tuple[WorkspaceLinks, ...]:
    """Each workspace's disk encryption set and DBFS storage account, or why they could not be found."""
    gaps = {(u.subscription_id.lower(), u.kind): u.unread for u in unlisted}
    return tuple(_workspace_links(w, index, gaps) for w in workspaces)


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
        case Scope.WORKSPACE_STORAGE:
            return (), ("workspace storage is a scope of Databricks on AWS, not of an Azure workspace",)


def _unresolved_vault(vault_uri: str, vault_gaps: Sequence[Unread], hsm_gaps: Sequence[Unread]) -> Unread:
    host = vault_host(vault_uri)
    hsm = ".managedhsm." in host
    what, gaps = ("Managed HSM", hsm_gaps) if hsm else ("key vault", vault_gaps)
    if gaps:
        first = gaps[0]
        return Unread(
            UnreadWhy.FAILED,
            f"the {what} {host} is not among the {'pools' if hsm else 'vaults'} read, and {len(gaps)} "
            f"subscription(s) could not list theirs: {first.reason}",
            first.hint,
            first.error,
        )
    return Unread(
        UnreadWhy.OUTSIDE_SCOPE,
        f"the {what} {host} is not in the scanned subscriptions",
        "scan its subscription too (--subscription), or grant the scanner Reader on it",
    )


def resolve_key_usage(
    workspace: Workspace,
    links: WorkspaceLinks,
    scope: Scope,
    index: InventoryIndex,
    vault_gaps: Sequence[Unread] = (),
    hsm_gaps: Sequence[Unread] = (),
) -> KeyUsage:
    """Resolve one workspace scope to its vault, key, version in use and using identities."""
    encryption = workspace.scope(scope)
    if encryption.unread is not None:
        return KeyUsage(workspace.id, scope, True, None, None, None, None, None, (), encryption.unread, ())
    if not encryption.uses_cmk or encryption.key is None:
        return KeyUsage(workspace.id, scope, False, encryption.key, None, None, None, None, (), None, ())
    des = (
        index.disk_encryption_sets.get(id_key(links.disk_encryption_set_id))
        if scope is Scope.MANAGED_DISK and links.disk_encryption_set_id
        else None
    )
    account = (
        index.storage_accounts.get(id_key(links.storage_account_id))
        if scope is Scope.DBFS_ROOT and links.storage_account_id
        else None
    )
    # The disk encryption set is the truth for managed disks: its active key wraps them, whatever the workspace names.
    ref = des.active_key if des is not None and des.active_key is not None else encryption.key
    ref_from = des.id if des is not None and des.active_key is not None else None
    follows_latest = des.rotation_to_latest if ref_from is not None and des is not None else not ref.key_version
    vault = find_vault(index, ref.vault_uri)
    key: Key | None = None
    key_id: ResourceId | None = None
    unread: Unread | None = None
    if vault is None:
        unread = _unresolved_vault(ref.vault_uri, vault_gaps, hsm_gaps)
    else:
        key_id = key_resource_id(vault.id, ref.key_name)
        key = index.keys.get(id_key(key_id))
        if key is None:
            unread = Unread(
                UnreadWhy.NOT_FOUND,
                f"the key {ref.key_name} in {vault.label} could not be read: it was not returned",
            )
        elif key.unread is not None:
            unread = Unread(
                key.unread.why,
                f"the key {ref.key_name} in {vault.label} could not be read: {key.unread.reason}",
                key.unread.hint,
                key.unread.error,
            )
            key = None
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
        unread=unread,
        identity_problems=identity_problems,
        key_ref_from=ref_from,
        follows_latest=follows_latest,
    )


def resolve_key_usages(
    workspaces: Sequence[Workspace],
    links: Sequence[WorkspaceLinks],
    index: InventoryIndex,
    unlisted: Sequence[Unlisted] = (),
) -> tuple[KeyUsage, ...]:
    """Every (workspace, scope) pair resolved, in the workspaces' order then scope order (`links` in the same
    order as `workspaces`)."""
    vault_gaps = [u.unread for u in unlisted if u.kind is ListedKind.VAULTS]
    hsm_gaps = [u.unread for u in unlisted if u.kind is ListedKind.MANAGED_HSMS]
    return tuple(
        resolve_key_usage(w, link, scope, index, vault_gaps, hsm_gaps)
        for w, link in zip(workspaces, links, strict=True)
        for scope in AZURE_SCOPES
    )
