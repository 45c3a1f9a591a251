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
_KEY_VAULT_DATA = "microsoft.keyvault/"


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


@lru_cache(maxsize=4096)
def permissions_of(definition: RoleDefinition) -> RolePermissions:
    """The effective permissions of a role definition (memoised: a central vault's thousands of assignments
    share a handful of roles)."""
    allowed = frozenset(
        action
        for action in KEY_VAULT_DATA_ACTIONS
        if _matches(action, definition.data_actions) and not _matches(action, definition.not_data_actions)
    )
    unknown = tuple(
        pattern
        for pattern in definition.data_actions
        if pattern.lower().startswith(_KEY_VAULT_DATA)
        and not any(fnmatch.fnmatchcase(action, pattern.lower()) for action in KEY_VAULT_DATA_ACTIONS)
        and not _matches(pattern.lower(), definition.not_data_actions)
    )
    return RolePermissions(allowed, unknown, definition.actions, definition.not_actions)
