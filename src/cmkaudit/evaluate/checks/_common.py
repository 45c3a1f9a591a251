"""Helpers shared by the checks: lookups in the inventory and the verdicts every key check starts with."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from cmkaudit.evaluate.model import Evidence, Settings, Status, Verdict
from cmkaudit.ids import id_key
from cmkaudit.inventory import Inventory
from cmkaudit.inventory.model import (
    Key,
    KeyUsage,
    KeyVersion,
    Scope,
    Subscription,
    Unread,
    UnreadWhy,
    Vault,
    Workspace,
)

CMK_KEY_SOURCE = "microsoft.keyvault"
REQUIRED_KEY_PERMISSIONS = frozenset({"get", "wrapkey", "unwrapkey"})
_PERMISSION_NAMES = {
    "wrapkey": "wrapKey",
    "unwrapkey": "unwrapKey",
    "getrotationpolicy": "getRotationPolicy",
    "setrotationpolicy": "setRotationPolicy",
    "managecontacts": "manageContacts",
}


def permission_names(permissions: Iterable[str]) -> str:
    """Permissions in the casing Azure documents them with."""
    return ", ".join(_PERMISSION_NAMES.get(p, p) for p in sorted(permissions))


SCOPE_CONTROL = {
    Scope.MANAGED_SERVICES: "DBX-02",
    Scope.MANAGED_DISK: "DBX-03",
    Scope.DBFS_ROOT: "DBX-05",
}


def workspace_by_id(inventory: Inventory, workspace_id: str) -> Workspace:
    return inventory.index.workspaces[id_key(workspace_id)]


def vault_of(inventory: Inventory, usage: KeyUsage) -> Vault | None:
    if usage.vault_id is None:
        return None
    return inventory.index.vaults.get(id_key(usage.vault_id))


def key_of(inventory: Inventory, usage: KeyUsage) -> Key | None:
    if usage.key_id is None:
        return None
    return inventory.index.keys.get(id_key(usage.key_id))


def key_ref_evidence(usage: KeyUsage) -> tuple[Evidence, ...]:
    ref = usage.key_ref
    if ref is None:
        return ()
    holder = usage.key_ref_from or usage.workspace_id
    return (
        Evidence("key vault URI", ref.vault_uri, holder, ref.source),
        Evidence("key name", ref.key_name, holder, ref.source),
    )


def not_applicable_or_unresolved(usage: KeyUsage, needs_key: bool = False) -> Verdict | None:
    """The verdict shared by every key check when the scope has no CMK or the key is not resolved."""
    if not usage.uses_cmk:
        return Verdict(
            Status.NOT_APPLICABLE,
            f"the {usage.scope.label} scope is not encrypted with a customer-managed key "
            f"(see {SCOPE_CONTROL[usage.scope]})",
        )
    if usage.vault_id is None or (needs_key and usage.key_id is None):
        why = unread_reason(usage.unread, "the key could not be resolved")
        return Verdict(Status.UNKNOWN, why, key_ref_evidence(usage))
    return None


def is_live_only(unread: Unread | None) -> bool:
    """Whether evidence is missing because only deployed resources hold it (planned configuration): checks say so
    as NOT_APPLICABLE, never as a pass."""
    return unread is not None and unread.why is UnreadWhy.LIVE_ONLY


def unread_reason(unread: Unread | None, otherwise: str) -> str:
    """The reason of an UNKNOWN verdict, from the marker of what could not be read (with what to do about it)."""
    if unread is None:
        return otherwise
    return f"{unread.reason}; {unread.hint}" if unread.hint else unread.reason


def subscription_of_workspace(inventory: Inventory, workspace: Workspace) -> Subscription | None:
    """What the collector read about the workspace's subscription (its tenant, name and state)."""
    return inventory.index.subscriptions.get(workspace.subscription_id.lower())


def version_in_use(inventory: Inventory, usage: KeyUsage) -> tuple[Key | None, KeyVersion | None, str | None]:
    """The key, and the version of it that encrypts the scope now; or the reason it is unknown."""
    key = key_of(inventory, usage)
    if key is None:
        return None, None, unread_reason(usage.unread, "the key could not be resolved")
    if key.versions is None and is_live_only(key.versions_unread):
        return key, None, unread_reason(key.versions_unread, "")
    if usage.version_in_use is None:
        return key, None, f"the version of key {key.name} in use is not reported"
    if key.versions is None:
        return key, None, unread_reason(key.versions_unread, f"the versions of key {key.name} were not read")
    found = next((v for v in key.versions if v.version.lower() == usage.version_in_use.lower()), None)
    if found is None:
        return key, None, f"version {usage.version_in_use} of key {key.name} is not among its listed versions"
    return key, found, None


def resolved_vault(usage: KeyUsage, inventory: Inventory) -> Verdict | Vault:
    """The vault holding the scope's key, or the verdict to return when there is none to judge.
    (Resolved links always name an inventoried vault; the last verdict stays honest if one does not.)"""
    return (
        not_applicable_or_unresolved(usage)
        or vault_of(inventory, usage)
        or Verdict(Status.UNKNOWN, f"the vault {usage.vault_id} is not in the inventory")
    )


def resolved_key(usage: KeyUsage, inventory: Inventory) -> Verdict | Key:
    """The scope's key, or the verdict to return when there is none to judge (as for the vault)."""
    return (
        not_applicable_or_unresolved(usage, needs_key=True)
        or key_of(inventory, usage)
        or Verdict(Status.UNKNOWN, f"the key {usage.key_id} is not in the inventory")
    )


def resolved_version(usage: KeyUsage, inventory: Inventory) -> Verdict | tuple[Key, KeyVersion]:
    """The key and the version of it in use, or the verdict to return when they are not known."""
    early = not_applicable_or_unresolved(usage, needs_key=True)
    if early:
        return early
    key, version, why = version_in_use(inventory, usage)
    if key is not None and key.versions is None and is_live_only(key.versions_unread):
        return Verdict(Status.NOT_APPLICABLE, why or "the key's versions are seen only by a live scan")
    if version is None or key is None:
        return Verdict(Status.UNKNOWN, why or "the key version in use is not known")
    return key, version


KeyAndVersion = tuple[Key, KeyVersion | None, str | None]
"""A scope's key, the record of its version in use (None: not listed) and that version's name (None: unknown)."""


def resolved_key_and_version(usage: KeyUsage, inventory: Inventory) -> Verdict | KeyAndVersion:
    """The scope's key with its version in use, or the verdict when there is no key to judge."""
    key = resolved_key(usage, inventory)
    if isinstance(key, Verdict):
        return key
    in_use = usage.version_in_use
    found = (
        next((v for v in key.versions if v.version.lower() == in_use.lower()), None)
        if in_use and key.versions
        else None
    )
    return key, found, in_use


def the_key_and_version(resolved: KeyAndVersion) -> Hashable:
    """What makes two resolved (key, version in use) the same: the key's record and the version's name."""
    return id(resolved[0]), resolved[2].lower() if resolved[2] else None


def resolved_vault_and_workspace(usage: KeyUsage, inventory: Inventory) -> Verdict | tuple[Vault, Workspace]:
    """The vault holding the scope's key and the workspace of the scope, or the verdict when there is no vault."""
    vault = resolved_vault(usage, inventory)
    return vault if isinstance(vault, Verdict) else (vault, workspace_by_id(inventory, usage.workspace_id))


def resolved_vault_and_key_id(usage: KeyUsage, inventory: Inventory) -> Verdict | tuple[Vault, str | None]:
    """The vault holding the scope's key and the key's id, or the verdict when there is no vault."""
    vault = resolved_vault(usage, inventory)
    return vault if isinstance(vault, Verdict) else (vault, usage.key_id)


def the_pair(resolved: tuple[object, object]) -> Hashable:
    """What makes two resolved (vault, workspace) pairs the same: the very same two inventory records."""
    return id(resolved[0]), id(resolved[1])


def the_vault_and_key(resolved: tuple[Vault, str | None]) -> Hashable:
    """What makes two resolved (vault, key id) pairs the same: the vault's record and the key's id."""
    return id(resolved[0]), id_key(resolved[1]) if resolved[1] else None


def the_version(resolved: tuple[Key, KeyVersion]) -> Hashable:
    """What makes two resolved key versions the same: the inventory's record of the version."""
    return id(resolved[1])


Subject = TypeVar("Subject")


@dataclass(frozen=True, slots=True)
class SubjectCheck(Generic[Subject]):
    """A key-usage check whose verdict depends on one thing the usage leads to (its vault, its key or the key
    version in use) and on nothing else about the usage, once that thing is found.

    Called on a usage like any key-usage check: `resolve` finds the subject (or returns the verdict for a
    usage that has none, such as NOT_APPLICABLE or UNKNOWN), and `judge` judges it. Because nothing else goes
    in, the engine judges each subject once and gives every usage that leads to it the same verdict: the three
    scopes of a workspace, and all workspaces sharing a central vault, are judged together. `same` says
    which resolved subjects are one (by default, the very same inventory record).
    """

    resolve: Callable[[KeyUsage, Inventory], Verdict | Subject]
    judge: Callable[[Subject, Inventory, Settings], Verdict]
    same: Callable[[Subject], Hashable] = id
    together: Callable[[Sequence[Subject], Inventory, Settings], list[Verdict]] | None = None
    """Judges many subjects in one pass, each as `judge` would alone, for a check whose subjects have much in
    common to look at (GOV-01: every workspace on a central vault looks at all the others; IAM-03: every key
    of a vault, at all of the vault's role assignments). The engine always judges through `judge_all`."""

    def judge_all(self, subjects: Sequence[Subject], inventory: Inventory, settings: Settings) -> list[Verdict]:
        """The verdict on each subject, in order."""
        if self.together is not None:
            return self.together(subjects, inventory, settings)
        return [self.judge(subject, inventory, settings) for subject in subjects]

    def __call__(self, usage: KeyUsage, inventory: Inventory, settings: Settings) -> Verdict:
        subject = self.resolve(usage, inventory)
        return subject if isinstance(subject, Verdict) else self.judge(subject, inventory, settings)
