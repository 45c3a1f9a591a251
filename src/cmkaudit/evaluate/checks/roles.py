"""What an Azure role really allows on a key vault: its data actions with wildcards expanded and its
not-data-actions taken away, and its control-plane actions likewise. IAM-01, IAM-02 and IAM-03 all judge a
role by these, so a custom role is judged as its definition reads, not by its raw patterns."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from cmkaudit.inventory.model import RoleDefinition

KEY_VAULT_DATA_ACTIONS = frozenset(
    f"microsoft.keyvault/vaults/{action}".lower()
    for action in (
        "certificatecas/delete",
        "certificatecas/read",
        "certificatecas/write",
        "certificatecontacts/write",
        "certificates/delete",
        "certificates/read",
        "certificates/backup/action",
        "certificates/purge/action",
        "certificates/update/action",
        "certificates/create/action",
        "certificates/import/action",
        "certificates/recover/action",
        "certificates/restore/action",
        "keyrotationpolicies/read",
        "keyrotationpolicies/write",
        "keys/read",
        "keys/update/action",
        "keys/create/action",
        "keys/import/action",
        "keys/recover/action",
        "keys/restore/action",
        "keys/delete",
        "keys/backup/action",
        "keys/purge/action",
        "keys/encrypt/action",
        "keys/decrypt/action",
        "keys/wrap/action",
        "keys/unwrap/action",
        "keys/sign/action",
        "keys/verify/action",
        "keys/release/action",
        "keys/rotate/action",
        "secrets/delete",
        "secrets/backup/action",
        "secrets/purge/action",
        "secrets/update/action",
        "secrets/recover/action",
        "secrets/restore/action",
        "secrets/readMetadata/action",
        "secrets/getSecret/action",
        "secrets/setSecret/action",
        "storageaccounts/read",
        "storageaccounts/set/action",
        "storageaccounts/delete",
        "storageaccounts/backup/action",
        "storageaccounts/purge/action",
        "storageaccounts/regeneratekey/action",
        "storageaccounts/recover/action",
        "storageaccounts/restore/action",
        "storageaccounts/sas/set/action",
        "storageaccounts/sas/delete",
        "storageaccounts/sas/read",
    )
)
"""Every data action of Microsoft.KeyVault/vaults, as Azure's resource provider operations list them
(lower case: actions compare case-insensitively)."""
_KEY_VAULT_DATA_ROOT = "microsoft.keyvault/"
_MANAGED_HSM_DATA = "microsoft.keyvault/managedhsm/"

_VAULT = "microsoft.keyvault/vaults/"
MANAGED_HSM_DATA_ACTIONS: dict[str, str | None] = {
    f"{_MANAGED_HSM_DATA}{action}".lower(): (f"{_VAULT}{same}".lower() if same else None)
    for action, same in (
        ("keys/read/action", "keys/read"),
        ("keys/write/action", "keys/update/action"),
        ("keys/create", "keys/create/action"),
        ("keys/import/action", "keys/import/action"),
        ("keys/delete", "keys/delete"),
        ("keys/deletedKeys/delete", "keys/purge/action"),
        ("keys/deletedKeys/read/action", None),
        ("keys/deletedKeys/recover/action", "keys/recover/action"),
        ("keys/backup/action", "keys/backup/action"),
        ("keys/restore/action", "keys/restore/action"),
        ("keys/encrypt/action", "keys/encrypt/action"),
        ("keys/decrypt/action", "keys/decrypt/action"),
        ("keys/wrap/action", "keys/wrap/action"),
        ("keys/unwrap/action", "keys/unwrap/action"),
        ("keys/sign/action", "keys/sign/action"),
        ("keys/verify/action", "keys/verify/action"),
        ("keys/release/action", "keys/release/action"),
        ("keys/export/action", None),
        ("roleAssignments/read/action", None),
        ("roleAssignments/write/action", None),
        ("roleAssignments/delete/action", None),
        ("roleDefinitions/read/action", None),
        ("roleDefinitions/write/action", None),
        ("roleDefinitions/delete/action", None),
        ("securitydomain/download/action", None),
        ("securitydomain/download/read", None),
        ("securitydomain/upload/action", None),
        ("securitydomain/upload/read", None),
        ("securitydomain/transferkey/read", None),
        ("backup/start/action", None),
        ("backup/status/action", None),
        ("restore/start/action", None),
        ("restore/status/action", None),
        ("rng/action", None),
    )
}
"""Every data action of a Managed HSM pool's local RBAC (azure-keyvault-administration's KeyVaultDataAction), each
with the Key Vault data action that does the same to a key, or None when a vault has none (those are kept by their
own name, and count as beyond what a key's user needs)."""
MANAGED_HSM_ROLE_MANAGEMENT = frozenset(
    f"{_MANAGED_HSM_DATA}{action}".lower()
    for action in ("roleAssignments/write/action", "roleDefinitions/write/action")
)
"""A Managed HSM principal that may write role assignments or role definitions may give itself any key right."""


def _matches(action: str, patterns: Iterable[str]) -> bool:
    return any(fnmatch.fnmatchcase(action, pattern.lower()) for pattern in patterns)


@dataclass(frozen=True, slots=True)
class RolePermissions:
    """What one role definition allows on a key vault."""

    data_actions: frozenset[str]
    """The vault data actions (lower case) its data actions cover and its not-data-actions leave in place."""
    unknown_data_actions: tuple[str, ...]
    """Key Vault data-action patterns that match none of the known actions (kept as written): a newer action,
    or a typing error, counted as beyond what is needed."""
    actions: tuple[str, ...]
    not_actions: tuple[str, ...]
    other_data_actions: tuple[str, ...] = ()
    """Managed HSM data actions with no Key Vault equivalent (role management, security domain, full backup and
    restore, key export...), by their own names."""
    manages_roles: bool = False
    """Managed HSM: it may write the pool's role assignments or role definitions (so grant itself anything)."""

    def allows_data(self, action: str) -> bool:
        """Whether the role allows this vault data action."""
        return action.lower() in self.data_actions

    def allows(self, action: str) -> bool:
        """Whether the role allows this control-plane action (wildcards honoured, not-actions applied)."""
        action = action.lower()
        return _matches(action, self.actions) and not _matches(action, self.not_actions)

    def control_beyond_reading(self) -> list[str]:
        """Its control-plane action patterns that do more than read (or manage Event Grid subscriptions, as Key
        Vault's built-in data roles do), less those its not-actions take away whole."""
        return [
            action
            for action in self.actions
            if not action.lower().endswith("/read")
            and not action.lower().startswith("microsoft.eventgrid/eventsubscriptions/")
            and not _matches(action.lower(), self.not_actions)
        ]


def _effective(definition: RoleDefinition, known: Iterable[str], prefix: str) -> tuple[list[str], tuple[str, ...]]:
    """The known data actions the role's data actions cover and its not-data-actions leave in place; and its data
    action patterns under `prefix` that match no known action (kept as written)."""
    granted = [
        action
        for action in known
        if _matches(action, definition.data_actions) and not _matches(action, definition.not_data_actions)
    ]
    unknown = tuple(
        pattern
        for pattern in definition.data_actions
        if pattern.lower().startswith(prefix)
        and not any(fnmatch.fnmatchcase(action, pattern.lower()) for action in known)
        and not _matches(pattern.lower(), definition.not_data_actions)
    )
    return granted, unknown


def _hsm_permissions(definition: RoleDefinition) -> RolePermissions:
    """A Managed HSM local role: its data actions on the pool, those that act on keys given Key Vault's names."""
    granted, unknown = _effective(definition, MANAGED_HSM_DATA_ACTIONS, "")
    same = frozenset(v for a in granted if (v := MANAGED_HSM_DATA_ACTIONS[a]) is not None)
    others = tuple(a.removeprefix(_MANAGED_HSM_DATA) for a in granted if MANAGED_HSM_DATA_ACTIONS[a] is None)
    manages = any(a in MANAGED_HSM_ROLE_MANAGEMENT for a in granted)
    return RolePermissions(same, unknown, definition.actions, definition.not_actions, others, manages)


@lru_cache(maxsize=4096)
def permissions_of(definition: RoleDefinition) -> RolePermissions:
    """The effective permissions of a role definition (memoised: a central vault's thousands of assignments
    share a handful of roles). A Managed HSM local role is read with the pool's own data actions."""
    if definition.managed_hsm:
        return _hsm_permissions(definition)
    allowed, unknown = _effective(definition, KEY_VAULT_DATA_ACTIONS, _KEY_VAULT_DATA_ROOT)
    return RolePermissions(frozenset(allowed), unknown, definition.actions, definition.not_actions)
