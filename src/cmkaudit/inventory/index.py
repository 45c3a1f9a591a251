"""Lookups over an inventory, built once: link resolution and every check use these, not linear scans.

A tenant of 10,000 workspaces has some 600,000 (control, scope) findings; each needs its workspace,
vault, key and errors, so the lookups must not depend on the inventory's size.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from cmkaudit.ids import id_key, vault_host
from cmkaudit.inventory.model import (
    AccessPolicy,
    CollectionError,
    DiskEncryptionSet,
    GroupMembers,
    GroupMembership,
    Key,
    KeyUsage,
    PrincipalLookup,
    RoleAssignment,
    RoleDefinition,
    Scope,
    StorageAccount,
    Subscription,
    Vault,
    Workspace,
    WorkspaceLinks,
)


def resource_group_key(resource_id: str) -> str:
    """The comparable id of the resource group a resource lives in ("" when it has none)."""
    lowered = id_key(resource_id)
    return lowered.split("/providers/", 1)[0] if "/resourcegroups/" in lowered else ""


@dataclass(frozen=True, slots=True)
class InventoryIndex:
    """Dictionaries keyed by comparable ARM ids (lower case, no trailing slash) or vault hosts."""

    workspaces: dict[str, Workspace] = field(default_factory=dict)
    vaults: dict[str, Vault] = field(default_factory=dict)
    vaults_by_host: dict[str, Vault] = field(default_factory=dict)
    keys: dict[str, Key] = field(default_factory=dict)
    disk_encryption_sets: dict[str, DiskEncryptionSet] = field(default_factory=dict)
    storage_by_group: dict[str, list[StorageAccount]] = field(default_factory=dict)
    storage_accounts: dict[str, StorageAccount] = field(default_factory=dict)
    links: dict[str, WorkspaceLinks] = field(default_factory=dict)
    """Workspace id -> its resolved disk encryption set and DBFS storage account."""
    errors: dict[str, list[CollectionError]] = field(default_factory=dict)
    principals: dict[str, PrincipalLookup] = field(default_factory=dict)
    subscriptions: dict[str, Subscription] = field(default_factory=dict)
    role_definitions: dict[str, RoleDefinition] = field(default_factory=dict)
    usages: dict[tuple[str, Scope], KeyUsage] = field(default_factory=dict)
    usages_by_key: dict[str, list[KeyUsage]] = field(default_factory=dict)
    usages_by_vault: dict[str, list[KeyUsage]] = field(default_factory=dict)
    policies_by_principal: dict[tuple[str, str], list[AccessPolicy]] = field(default_factory=dict)
    """(vault id, lower-case object id) -> the vault's access policies for that principal."""
    assignments_by_principal: dict[tuple[str, str], list[RoleAssignment]] = field(default_factory=dict)
    """(vault id, lower-case principal id) -> the vault's role assignments to that principal."""
    group_assignments: dict[str, list[RoleAssignment]] = field(default_factory=dict)
    """Vault id -> the vault's role assignments to groups.

    A central vault serves thousands of workspaces, and grants each of their identities: what one identity
    holds is looked up, not searched for among them all."""
    possible_group_policies: dict[str, list[AccessPolicy]] = field(default_factory=dict)
    """Vault id -> its access-policy entries (not compound) for principals that may be groups: an access policy
    does not say what its principal is, so any principal not known to be a managed identity of a workspace, disk
    encryption set or storage account, the AzureDatabricks service principal, or a user or service principal
    named by a role assignment."""

    memberships: dict[str, GroupMembership] = field(default_factory=dict)
    """Lower-case principal id -> the groups it belongs to (or why they are not known), when they were read."""
    group_members: dict[str, GroupMembers] = field(default_factory=dict)
    """Lower-case group id -> its members (or that it is not a group, or why unknown), when they were read."""

    def links_of(self, workspace: Workspace) -> WorkspaceLinks:
        """The workspace's resolved links (an inventory resolves every workspace's)."""
        return self.links[id_key(workspace.id)]

    def disk_encryption_set_of(self, workspace: Workspace) -> DiskEncryptionSet | None:
        """The workspace's disk encryption set, as resolved (None: it names none, or it was not found)."""
        found = self.links_of(workspace).disk_encryption_set_id
        return self.disk_encryption_sets.get(id_key(found)) if found else None

    def storage_account_of(self, workspace: Workspace) -> StorageAccount | None:
        """The workspace's DBFS root storage account, as resolved (None: it was not found)."""
        found = self.links_of(workspace).storage_account_id
        return self.storage_accounts.get(id_key(found)) if found else None


def _index_grants(index: InventoryIndex, vault: Vault) -> None:
    """The vault's access policies and role assignments, by principal."""
    vault_key = id_key(vault.id)
    for policy in vault.access_policies:
        index.policies_by_principal.setdefault((vault_key, policy.object_id.lower()), []).append(policy)
    for assignment in vault.role_assignments or ():
        index.assignments_by_principal.setdefault((vault_key, assignment.principal_id.lower()), []).append(assignment)
        if (assignment.principal_type or "").lower() == "group":
            index.group_assignments.setdefault(vault_key, []).append(assignment)


def build_index(
    *,
    workspaces: Iterable[Workspace] = (),
    vaults: Iterable[Vault] = (),
    keys: Iterable[Key] = (),
    disk_encryption_sets: Iterable[DiskEncryptionSet] = (),
    storage_accounts: Iterable[StorageAccount] = (),
    errors: Iterable[CollectionError] = (),
    principals: Iterable[PrincipalLookup] = (),
    subscriptions: Iterable[Subscription] = (),
    role_definitions: Iterable[RoleDefinition] = (),
    key_usages: Iterable[KeyUsage] = (),
    workspace_links: Iterable[WorkspaceLinks] = (),
    memberships: Iterable[GroupMembership] = (),
    group_members: Iterable[GroupMembers] = (),
) -> InventoryIndex:
    """The index of these records (the first of duplicates wins, as a linear search would find it)."""
    index = InventoryIndex()
    for w in workspaces:
        index.workspaces.setdefault(id_key(w.id), w)
    for v in vaults:
        if index.vaults.setdefault(id_key(v.id), v) is v:
            _index_grants(index, v)
        if v.vault_uri:
            index.vaults_by_host.setdefault(vault_host(v.vault_uri), v)
    for k in keys:
        index.keys.setdefault(id_key(k.id), k)
    for d in disk_encryption_sets:
        index.disk_encryption_sets.setdefault(id_key(d.id), d)
    for a in storage_accounts:
        index.storage_by_group.setdefault(resource_group_key(a.id), []).append(a)
        index.storage_accounts.setdefault(id_key(a.id), a)
    for e in errors:
        index.errors.setdefault(id_key(e.resource_id), []).append(e)
    for p in principals:
        index.principals.setdefault(p.tenant_id.lower(), p)
    for s in subscriptions:
        index.subscriptions.setdefault(s.id.lower(), s)
    for r in role_definitions:
        index.role_definitions.setdefault(id_key(r.id), r)
    for link in workspace_links:
        index.links.setdefault(id_key(link.workspace_id), link)
    for u in key_usages:
        index.usages.setdefault((id_key(u.workspace_id), u.scope), u)
        if u.uses_cmk and u.key_id:
            index.usages_by_key.setdefault(id_key(u.key_id), []).append(u)
        if u.uses_cmk and u.vault_id:
            index.usages_by_vault.setdefault(id_key(u.vault_id), []).append(u)
    for m in memberships:
        index.memberships.setdefault(m.principal_id.lower(), m)
    for g in group_members:
        index.group_members.setdefault(g.group_id.lower(), g)
    _index_possible_groups(index)
    return index


def _index_possible_groups(index: InventoryIndex) -> None:
    """The access-policy entries whose principal may be a group (see `possible_group_policies`)."""
    known = {p.object_id.lower() for p in index.principals.values() if p.object_id}
    known.update(i.principal_id.lower() for u in index.usages.values() for i in u.identities)
    managed = [
        *(i for d in index.disk_encryption_sets.values() for i in d.identities),
        *(i for accounts in index.storage_by_group.values() for a in accounts for i in a.identities),
        *(i for w in index.workspaces.values() for i in (w.managed_disk_identity, w.storage_account_identity) if i),
    ]
    known.update(i.principal_id.lower() for i in managed if i.principal_id)
    known.update(
        a.principal_id.lower()
        for v in index.vaults.values()
        for a in v.role_assignments or ()
        if a.principal_type and "group" not in a.principal_type.lower()
    )
    for vault_key, vault in index.vaults.items():
        possible = [p for p in vault.access_policies if not p.application_id and p.object_id.lower() not in known]
        if possible:
            index.possible_group_policies[vault_key] = possible
        # A Managed HSM's local role assignments do not say what their principal is: one that is not known to be
        # an identity may be a group.
        untyped = [
            a for a in vault.role_assignments or () if not a.principal_type and a.principal_id.lower() not in known
        ]
        if untyped:
            index.group_assignments.setdefault(vault_key, []).extend(untyped)
