"""The inventory stage: one typed, serialisable snapshot with the links resolved."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from cmkaudit.ids import id_key
from cmkaudit.inventory.links import resolve_key_usages
from cmkaudit.inventory.model import (
    CollectionError,
    DiskEncryptionSet,
    Inventory,
    Key,
    PrincipalLookup,
    RoleDefinition,
    ScanScope,
    StorageAccount,
    Subscription,
    Vault,
    Workspace,
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
) -> Inventory:
    """Build the inventory: every collection sorted by resource id, and the key links resolved."""
    sorted_errors = tuple(sorted(errors, key=lambda e: (id_key(e.resource_id), e.operation, e.message)))
    return Inventory(
        collected_at=collected_at,
        tool_version=tool_version,
        scope=scope,
        subscriptions=tuple(sorted(subscriptions, key=lambda s: s.id.lower())),
        workspaces=tuple(sorted(workspaces, key=lambda r: id_key(r.id))),
        vaults=tuple(sorted(vaults, key=lambda r: id_key(r.id))),
        keys=tuple(sorted(keys, key=lambda r: id_key(r.id))),
        disk_encryption_sets=tuple(sorted(disk_encryption_sets, key=lambda r: id_key(r.id))),
        storage_accounts=tuple(sorted(storage_accounts, key=lambda r: id_key(r.id))),
        principals=tuple(sorted(principals, key=lambda p: p.tenant_id.lower())),
        key_usages=resolve_key_usages(
            workspaces,
            vaults=vaults,
            keys=keys,
            disk_encryption_sets=disk_encryption_sets,
            storage_accounts=storage_accounts,
            principals=principals,
            errors=errors,
        ),
        errors=sorted_errors,
        role_definitions=tuple(sorted(role_definitions, key=lambda d: id_key(d.id))),
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
    )
