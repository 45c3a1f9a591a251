"""The inventory stage: one typed, serialisable snapshot with the links resolved.

The records are in `model.py`; this module holds the inventory itself and builds it (`assemble_inventory`):
every collection sorted by id, and the links between records resolved once (`links.py`), so that checks and
reports read them instead of searching.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property

from cmkaudit.ids import id_key
from cmkaudit.inventory.aws import (
    AwsIndex,
    AwsKeyUsage,
    AwsWorkspace,
    KeyConfiguration,
    KmsKey,
    build_aws_index,
    resolve_aws_key_usages,
)
from cmkaudit.inventory.index import InventoryIndex, build_index
from cmkaudit.inventory.links import resolve_key_usages, resolve_workspace_links
from cmkaudit.inventory.model import (
    SNAPSHOT_SCHEMA_VERSION,
    CollectionError,
    DiskEncryptionSet,
    GroupMembers,
    GroupMembership,
    Key,
    KeyUsage,
    PrincipalLookup,
    RoleDefinition,
    ScanScope,
    SourceLocation,
    StorageAccount,
    Subscription,
    Unlisted,
    Vault,
    Workspace,
    WorkspaceLinks,
)


@dataclass(frozen=True)
class Inventory:
    """Everything collected in one scan, with the links resolved. Saved as a versioned snapshot.

    `index` (built on first use, not saved) answers lookups by id in constant time.
    """

    collected_at: datetime
    tool_version: str
    scope: ScanScope
    subscriptions: tuple[Subscription, ...]
    workspaces: tuple[Workspace, ...]
    vaults: tuple[Vault, ...]
    keys: tuple[Key, ...]
    disk_encryption_sets: tuple[DiskEncryptionSet, ...]
    storage_accounts: tuple[StorageAccount, ...]
    principals: tuple[PrincipalLookup, ...]
    key_usages: tuple[KeyUsage, ...]
    errors: tuple[CollectionError, ...]
    role_definitions: tuple[RoleDefinition, ...] = ()
    """The definitions of the roles assigned on the vaults, as Azure returned them."""
    workspace_links: tuple[WorkspaceLinks, ...] = ()
    """Each workspace's disk encryption set and DBFS storage account, resolved (or why not)."""
    unlisted: tuple[Unlisted, ...] = ()
    """The per-subscription lists that could not be read in full."""
    locations: tuple[SourceLocation, ...] = ()
    """Planned configuration only: where each record is declared (address, file and lines)."""
    aws_workspaces: tuple[AwsWorkspace, ...] = ()
    """Databricks on AWS: the account's workspaces (inventory/aws.py)."""
    key_configurations: tuple[KeyConfiguration, ...] = ()
    kms_keys: tuple[KmsKey, ...] = ()
    aws_key_usages: tuple[AwsKeyUsage, ...] = ()
    memberships: tuple[GroupMembership, ...] = ()
    """The groups of the identities that use keys where a group holds a grant (Microsoft Graph), or why unknown."""
    group_members: tuple[GroupMembers, ...] = ()
    """The members of the groups (or principals that may be groups) granted roles on vaults holding keys."""
    schema_version: int = field(default=SNAPSHOT_SCHEMA_VERSION)

    @cached_property
    def aws(self) -> AwsIndex:
        """Lookups by id over the Databricks-on-AWS records."""
        return build_aws_index(self.aws_workspaces, self.key_configurations, self.kms_keys, self.aws_key_usages)

    @cached_property
    def index(self) -> InventoryIndex:
        """Lookups by id over this inventory."""
        return build_index(
            workspaces=self.workspaces,
            vaults=self.vaults,
            keys=self.keys,
            disk_encryption_sets=self.disk_encryption_sets,
            storage_accounts=self.storage_accounts,
            errors=self.errors,
            principals=self.principals,
            subscriptions=self.subscriptions,
            role_definitions=self.role_definitions,
            key_usages=self.key_usages,
            workspace_links=self.workspace_links,
            memberships=self.memberships,
            group_members=self.group_members,
        )


def assemble_inventory(
    *,
    collected_at: datetime,
    tool_version: str,
    scope: ScanScope,
    subscriptions: Sequence[Subscription],
    workspaces: Sequence[Workspace],
    vaults: Sequence[Vault],
    keys: Sequence[Key],
    disk_encryption_sets: Sequence[DiskEncryptionSet],
    storage_accounts: Sequence[StorageAccount],
    principals: Sequence[PrincipalLookup],
    errors: Sequence[CollectionError],
    role_definitions: Sequence[RoleDefinition] = (),
    unlisted: Sequence[Unlisted] = (),
    locations: Sequence[SourceLocation] = (),
    workspace_links: Sequence[WorkspaceLinks] | None = None,
    aws_workspaces: Sequence[AwsWorkspace] = (),
    key_configurations: Sequence[KeyConfiguration] = (),
    kms_keys: Sequence[KmsKey] = (),
    memberships: Sequence[GroupMembership] = (),
    group_members: Sequence[GroupMembers] = (),
) -> Inventory:
    """Build the inventory: every collection sorted by resource id, and the links resolved (a source of planned
    configuration gives the links it knows, `workspace_links`, as the workspaces' own resources do not exist
    yet)."""
    sorted_errors = tuple(sorted(errors, key=lambda e: (id_key(e.resource_id), e.operation, e.message)))
    sorted_workspaces = tuple(sorted(workspaces, key=lambda r: id_key(r.id)))
    index = build_index(
        vaults=vaults,
        keys=keys,
        disk_encryption_sets=disk_encryption_sets,
        storage_accounts=storage_accounts,
        principals=principals,
        subscriptions=subscriptions,
    )
    links = (
        resolve_workspace_links(sorted_workspaces, index, unlisted)
        if workspace_links is None
        else tuple(sorted(workspace_links, key=lambda link: id_key(link.workspace_id)))
    )
    return Inventory(
        collected_at=collected_at,
        tool_version=tool_version,
        scope=scope,
        subscriptions=tuple(sorted(subscriptions, key=lambda s: s.id.lower())),
        workspaces=sorted_workspaces,
        vaults=tuple(sorted(vaults, key=lambda r: id_key(r.id))),
        keys=tuple(sorted(keys, key=lambda r: id_key(r.id))),
        disk_encryption_sets=tuple(sorted(disk_encryption_sets, key=lambda r: id_key(r.id))),
        storage_accounts=tuple(sorted(storage_accounts, key=lambda r: id_key(r.id))),
        principals=tuple(sorted(principals, key=lambda p: p.tenant_id.lower())),
        key_usages=resolve_key_usages(sorted_workspaces, links, index, unlisted),
        errors=sorted_errors,
        role_definitions=tuple(sorted(role_definitions, key=lambda d: id_key(d.id))),
        workspace_links=links,
        unlisted=tuple(sorted(unlisted, key=lambda u: (u.subscription_id.lower(), u.kind.value))),
        locations=tuple(sorted(locations, key=lambda loc: id_key(loc.resource_id))),
        aws_workspaces=(aws := tuple(sorted(aws_workspaces, key=lambda w: w.id))),
        key_configurations=(configs := tuple(sorted(key_configurations, key=lambda c: (c.account_id, c.id)))),
        kms_keys=(keys_aws := tuple(sorted(kms_keys, key=lambda k: k.arn))),
        aws_key_usages=resolve_aws_key_usages(aws, configs, keys_aws),
        memberships=tuple(sorted(memberships, key=lambda m: m.principal_id.lower())),
        group_members=tuple(sorted(group_members, key=lambda m: m.group_id.lower())),
    )


def relinked(inventory: Inventory) -> Inventory:
    """The same records with their links resolved again (after a snapshot's conversion, or a merge)."""
    return assemble_inventory(
        collected_at=inventory.collected_at,
        tool_version=inventory.tool_version,
        scope=inventory.scope,
        subscriptions=inventory.subscriptions,
        workspaces=inventory.workspaces,
        vaults=inventory.vaults,
        keys=inventory.keys,
        disk_encryption_sets=inventory.disk_encryption_sets,
        storage_accounts=inventory.storage_accounts,
        principals=inventory.principals,
        errors=inventory.errors,
        role_definitions=inventory.role_definitions,
        unlisted=inventory.unlisted,
        locations=inventory.locations,
        workspace_links=inventory.workspace_links if inventory.locations else None,
        aws_workspaces=inventory.aws_workspaces,
        key_configurations=inventory.key_configurations,
        kms_keys=inventory.kms_keys,
        memberships=inventory.memberships,
        group_members=inventory.group_members,
    )


__all__ = ["Inventory", "assemble_inventory", "relinked"]
