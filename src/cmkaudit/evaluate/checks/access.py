"""Access controls: the identities that use a key can use it and nothing more; few can destroy it.

A vault grants access either through access policies or, when `enableRbacAuthorization` is on,
through Azure RBAC role assignments. For RBAC, what a role allows is read from its definition (data
actions with wildcards, minus not-data-actions), so custom roles are judged like built-in ones. Group
memberships are not expanded: a permission that only a group holds makes the verdict UNKNOWN.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass

from cmkaudit.evaluate.checks._common import (
    REQUIRED_KEY_PERMISSIONS,
    SubjectCheck,
    permission_names,
    resolved_vault,
    resolved_vault_and_key_id,
    the_vault_and_key,
)
from cmkaudit.evaluate.model import Evidence, Settings, Status, Verdict
from cmkaudit.ids import id_key
from cmkaudit.inventory.links import errors_about
from cmkaudit.inventory.model import (
    Inventory,
    KeyUsage,
    RoleAssignment,
    RoleDefinition,
    UsingIdentity,
    Vault,
)

REQUIRED_DATA_ACTIONS = {
    "get": "microsoft.keyvault/vaults/keys/read",
    "wrapKey": "microsoft.keyvault/vaults/keys/wrap/action",
    "unwrapKey": "microsoft.keyvault/vaults/keys/unwrap/action",
}
ADMIN_ROLE_IDS = {
    "00482a5a-887f-4fb3-b363-3b7fe8e74483": "Key Vault Administrator",
    "14b46e9e-c2b7-41b4-b07b-48a6ebf60603": "Key Vault Crypto Officer",
}
CRYPTO_SERVICE_ENCRYPTION_USER = "e147488a-f6f5-4113-8e2d-b22465e65bf6"
KEY_DESTROY_ACTIONS = ("microsoft.keyvault/vaults/keys/delete", "microsoft.keyvault/vaults/keys/purge/action")
"""IAM-03 counts a role that may delete or purge keys as key administration."""


@dataclass(frozen=True, slots=True)
class Grant:
    """A role assignment that applies to the key, with the definition of its role (None: not read)."""

    assignment: RoleAssignment
    definition: RoleDefinition | None

    @property
    def role(self) -> str:
        """A readable name for the role."""
        if self.definition and self.definition.role_name:
            return self.definition.role_name
        return ADMIN_ROLE_IDS.get(self.guid, self.guid)

    @property
    def guid(self) -> str:
        """The role definition's GUID (the last segment of its id)."""
        return self.assignment.role_definition_id.rstrip("/").rsplit("/", 1)[-1].lower()

    def allows(self, data_action: str) -> bool:
        """Whether the role's data actions cover `data_action` (wildcards honoured, exclusions applied)."""
        if self.definition is None:
            return False
        allowed = any(fnmatch.fnmatchcase(data_action, p.lower()) for p in self.definition.data_actions)
        excluded = any(fnmatch.fnmatchcase(data_action, p.lower()) for p in self.definition.not_data_actions)
        return allowed and not excluded


def _applies_to_key(assignment: RoleAssignment, vault: Vault, key_id: str | None) -> bool:
    """Assignments at or above the vault apply; below it, only those on this very key."""
    scope, vault_scope = id_key(assignment.scope), id_key(vault.id)
    if not scope.startswith(vault_scope + "/"):
        return True
    return key_id is not None and scope == id_key(key_id)


def _grants(
    assignments: Iterable[RoleAssignment], vault: Vault, inventory: Inventory, key_id: str | None
) -> list[Grant]:
    """Those of the vault's `assignments` that apply to the key, with their roles' definitions."""
    definitions = inventory.index.role_definitions
    return [
        Grant(a, definitions.get(id_key(a.role_definition_id)))
        for a in assignments
        if _applies_to_key(a, vault, key_id)
    ]


def _rbac_unread(vault: Vault, inventory: Inventory) -> Verdict:
    failed = errors_about(inventory.index, f"{vault.id}/providers/Microsoft.Authorization/roleAssignments")
    why = f": {failed[0].message}" if failed else ""
    return Verdict(Status.UNKNOWN, f"the role assignments of vault {vault.name} (Azure RBAC) could not be read{why}")


def _model_evidence(vault: Vault) -> Evidence:
    return Evidence("enableRbacAuthorization", vault.rbac_authorization, vault.id, "properties.enableRbacAuthorization")


def _identity_evidence(identities: tuple[UsingIdentity, ...]) -> tuple[Evidence, ...]:
    return tuple(Evidence(f"{i.role.value}", str(i.principal_id), None, i.source) for i in identities)


def _granted(vault: Vault, identity: UsingIdentity, inventory: Inventory) -> tuple[set[str], set[str]]:
    """Key permissions, and other (secret/certificate/storage) permissions, granted by access policies."""
    keys: set[str] = set()
    others: set[str] = set()
    for policy in inventory.index.policies_by_principal.get((id_key(vault.id), identity.principal_id.lower()), ()):
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


def _roles_evidence(identity: UsingIdentity, grants: list[Grant]) -> Evidence:
    return Evidence(
        f"roles of {identity.role.value} {identity.principal_id}",
        tuple(sorted(f"{g.role} at {g.assignment.scope}" for g in grants)),
        None,
        "Microsoft.Authorization/roleAssignments",
    )


PolicyJudge = Callable[[AbstractSet[str], AbstractSet[str]], str | None]
RoleJudge = Callable[[Sequence[Grant], Sequence[Grant]], tuple[Status, str] | None]
"""(the identity's own grants, grants held by groups) -> (FAIL or UNKNOWN, why), or None when fine."""


@dataclass(frozen=True, slots=True)
class HeldAccess:
    """What one identity that uses the key holds on its vault: key and other permissions by access policy,
    or the role assignments that apply to the key (for a vault on Azure RBAC)."""

    who: str
    keys: frozenset[str] = frozenset()
    others: frozenset[str] = frozenset()
    own: tuple[Grant, ...] = ()


@dataclass(frozen=True, slots=True)
class IdentityAccess:
    """What every identity that uses a key holds on its vault, read once and judged by IAM-01 and IAM-02."""

    vault: Vault
    held: tuple[HeldAccess, ...]
    groups: tuple[Grant, ...]
    """Role assignments to groups that apply to the key (RBAC only): membership is not expanded."""
    evidence: tuple[Evidence, ...]


def identity_access(usage: KeyUsage, inventory: Inventory) -> Verdict | IdentityAccess:
    """The access of every identity that uses the scope's key, or the verdict when it cannot be known."""
    vault = resolved_vault(usage, inventory)
    if isinstance(vault, Verdict):
        return vault
    model = _model_evidence(vault)
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
    if vault.rbac_authorization and vault.role_assignments is None:
        return _rbac_unread(vault, inventory)
    evidence: list[Evidence] = [model, *_identity_evidence(usage.identities)]
    held: list[HeldAccess] = []
    index, vault_key = inventory.index, id_key(vault.id)
    for identity in usage.identities:
        who = f"{identity.role.value} {identity.principal_id}"
        if vault.rbac_authorization:
            assigned = index.assignments_by_principal.get((vault_key, identity.principal_id.lower()), ())
            own = _grants(assigned, vault, inventory, usage.key_id)
            evidence.append(_roles_evidence(identity, own))
            held.append(HeldAccess(who, own=tuple(own)))
        else:
            keys, others = _granted(vault, identity, inventory)
            evidence.append(_policy_evidence(vault, identity, keys, others))
            held.append(HeldAccess(who, frozenset(keys), frozenset(others)))
    to_groups = index.group_assignments.get(vault_key, ()) if vault.rbac_authorization else ()
    groups = tuple(_grants(to_groups, vault, inventory, usage.key_id))
    return IdentityAccess(vault, tuple(held), groups, tuple(evidence))


def _judge_identities(access: IdentityAccess, by_policy: PolicyJudge, by_role: RoleJudge, passed: str) -> Verdict:
    """Judge every identity that uses the key, by access policies or by role assignments."""
    vault = access.vault
    failures: list[str] = []
    unknowns: list[str] = []
    for held in access.held:
        if vault.rbac_authorization:
            judged = by_role(held.own, access.groups)
            if judged is not None:
                (failures if judged[0] is Status.FAIL else unknowns).append(f"{held.who} {judged[1]}")
        else:
            found = by_policy(held.keys, held.others)
            if found:
                failures.append(f"{held.who} {found}")
    if failures:
        return Verdict(Status.FAIL, f"on vault {vault.name}: " + "; ".join(failures), access.evidence)
    if unknowns:
        return Verdict(Status.UNKNOWN, f"on vault {vault.name}: " + "; ".join(unknowns), access.evidence)
    return Verdict(Status.PASS, f"{passed} on vault {vault.name}", access.evidence)


def _missing_required(keys: AbstractSet[str], others: AbstractSet[str]) -> str | None:
    missing = set() if "all" in keys else REQUIRED_KEY_PERMISSIONS - keys
    return f"lacks {permission_names(missing)}" if missing else None


def _beyond_required(keys: AbstractSet[str], others: AbstractSet[str]) -> str | None:
    excess = (keys - REQUIRED_KEY_PERMISSIONS) | others
    return f"also holds {permission_names(excess)}" if excess else None


def _unread_definitions(grants: Iterable[Grant]) -> list[str]:
    return sorted({g.assignment.role_definition_id for g in grants if g.definition is None})


def _roles_missing_required(own: Sequence[Grant], groups: Sequence[Grant]) -> tuple[Status, str] | None:
    missing = [name for name, action in REQUIRED_DATA_ACTIONS.items() if not any(g.allows(action) for g in own)]
    if not missing:
        return None
    if _unread_definitions(own):
        return Status.UNKNOWN, f"holds roles whose definitions could not be read: {', '.join(_unread_definitions(own))}"
    via_groups = sorted(
        {
            g.role + " for group " + g.assignment.principal_id
            for g in groups
            if any(g.allows(REQUIRED_DATA_ACTIONS[m]) for m in missing)
        }
    )
    if via_groups:
        return Status.UNKNOWN, (
            f"has no role granting {', '.join(missing)} itself, but may hold it through a group "
            f"({'; '.join(via_groups)}); group membership is not evaluated"
        )
    return (
        Status.FAIL,
        f"has no role granting {', '.join(missing)} (Key Vault Crypto Service Encryption User grants them)",
    )


def _excessive(grant: Grant) -> list[str]:
    """What a role allows beyond Key Vault Crypto Service Encryption User (which is acceptable by name).

    Narrower means: data actions among get/wrapKey/unwrapKey on keys, and control-plane actions that only
    read, or manage Event Grid subscriptions (as Key Vault's built-in data roles do).
    """
    if grant.guid == CRYPTO_SERVICE_ENCRYPTION_USER or grant.definition is None:
        return []
    allowed = set(REQUIRED_DATA_ACTIONS.values())
    data = [a for a in grant.definition.data_actions if a.lower() not in allowed]
    control = [
        a
        for a in grant.definition.actions
        if not a.lower().endswith("/read") and not a.lower().startswith("microsoft.eventgrid/eventsubscriptions/")
    ]
    return data + control


def _roles_beyond_required(own: Sequence[Grant], groups: Sequence[Grant]) -> tuple[Status, str] | None:
    broad = sorted({f"{g.role} ({', '.join(_excessive(g))})" for g in own if g.definition and _excessive(g)})
    if broad:
        return Status.FAIL, f"also holds {'; '.join(broad)}"
    unread = _unread_definitions(own)
    if unread:
        return Status.UNKNOWN, f"holds roles whose definitions could not be read: {', '.join(unread)}"
    return None


def _required_permissions(access: IdentityAccess, inventory: Inventory, settings: Settings) -> Verdict:
    """IAM-01: every identity that uses the key holds get, wrapKey and unwrapKey."""
    return _judge_identities(
        access,
        _missing_required,
        _roles_missing_required,
        "every identity that uses the key holds get, wrapKey and unwrapKey",
    )


def _least_privilege(access: IdentityAccess, inventory: Inventory, settings: Settings) -> Verdict:
    """IAM-02: identities that use the key hold nothing beyond get, wrapKey and unwrapKey."""
    return _judge_identities(
        access,
        _beyond_required,
        _roles_beyond_required,
        "the identities that use the key hold no more than get, wrapKey and unwrapKey",
    )


check_required_permissions = SubjectCheck(identity_access, _required_permissions)
check_least_privilege = SubjectCheck(identity_access, _least_privilege)
"""IAM-01 and IAM-02 judge the same access: the engine reads it once per key usage for both."""


def _is_key_admin(grant: Grant) -> bool:
    return grant.guid in ADMIN_ROLE_IDS or any(grant.allows(action) for action in KEY_DESTROY_ACTIONS)


@dataclass(frozen=True, slots=True)
class _Administration:
    """Who may destroy or administer keys on a vault, read once for all its keys: the principals whose access
    policies allow purging; or the role grants that administer keys or whose role could not be read, those
    at or above the vault (on every key) and those on one key (by its id)."""

    purgers: tuple[str, ...]
    vault_wide: tuple[Grant, ...]
    on_key: dict[str, list[Grant]]


def _administration(vault: Vault, inventory: Inventory) -> _Administration:
    purgers = tuple(p.object_id for p in vault.access_policies if {"purge", "all"} & {k.lower() for k in p.keys})
    definitions = inventory.index.role_definitions
    vault_wide: list[Grant] = []
    on_key: dict[str, list[Grant]] = {}
    for assignment in vault.role_assignments or ():
        grant = Grant(assignment, definitions.get(id_key(assignment.role_definition_id)))
        if grant.definition is not None and not _is_key_admin(grant):
            continue
        if _applies_to_key(assignment, vault, None):  # at or above the vault: on every key
            vault_wide.append(grant)
        else:  # below it: on the key it names only
            on_key.setdefault(id_key(assignment.scope), []).append(grant)
    return _Administration(purgers, tuple(vault_wide), on_key)


def _judge_administration(
    vault: Vault, key_id: str | None, administration: _Administration, inventory: Inventory, settings: Settings
) -> Verdict:
    """IAM-03: nobody outside the break-glass list can purge the key or administer the vault's keys."""
    model = _model_evidence(vault)
    allowed = {p.lower() for p in settings.break_glass_principals}
    evidence = [model, Evidence("break-glass principals", tuple(sorted(allowed)), None, "configuration")]
    if vault.rbac_authorization is None:
        return Verdict(
            Status.UNKNOWN,
            f"vault {vault.name} does not report its permission model (enableRbacAuthorization)",
            (model,),
        )
    if not vault.rbac_authorization:
        holders = sorted(p for p in administration.purgers if p.lower() not in allowed)
        evidence.append(Evidence("principals with key purge", tuple(holders), vault.id, "properties.accessPolicies"))
        if holders:
            return Verdict(
                Status.FAIL,
                f"on vault {vault.name}, {', '.join(holders)} may purge keys (access policy)",
                tuple(evidence),
            )
        return Verdict(
            Status.PASS, f"on vault {vault.name}, only break-glass principals may purge keys", tuple(evidence)
        )
    if vault.role_assignments is None:
        return _rbac_unread(vault, inventory)
    grants = [*administration.vault_wide, *(administration.on_key.get(id_key(key_id), ()) if key_id else ())]
    admins = sorted(
        f"{g.assignment.principal_id} ({g.role} at {g.assignment.scope})"
        for g in grants
        if _is_key_admin(g) and g.assignment.principal_id.lower() not in allowed
    )
    evidence.append(Evidence("key administrators", tuple(admins), vault.id, "Microsoft.Authorization/roleAssignments"))
    if admins:
        return Verdict(Status.FAIL, f"on vault {vault.name}, key administrators: {'; '.join(admins)}", tuple(evidence))
    unread = _unread_definitions(grants)
    if unread:
        return Verdict(
            Status.UNKNOWN,
            f"roles whose definitions could not be read are assigned: {', '.join(unread)}",
            tuple(evidence),
        )
    return Verdict(
        Status.PASS,
        f"on vault {vault.name}, no principal outside the break-glass list administers keys",
        tuple(evidence),
    )


def _key_administrators_of(
    subjects: Sequence[tuple[Vault, str | None]], inventory: Inventory, settings: Settings
) -> list[Verdict]:
    """IAM-03 on many keys: each vault's administration is read once for all its keys (a central vault may hold
    a key per workspace, and a role assignment or two per workspace)."""
    read: dict[int, _Administration] = {}
    verdicts = []
    for vault, key_id in subjects:
        administration = read.get(id(vault))
        if administration is None:
            administration = read[id(vault)] = _administration(vault, inventory)
        verdicts.append(_judge_administration(vault, key_id, administration, inventory, settings))
    return verdicts


def _key_administrators(resolved: tuple[Vault, str | None], inventory: Inventory, settings: Settings) -> Verdict:
    """IAM-03 on one key."""
    return _key_administrators_of([resolved], inventory, settings)[0]


check_key_administrators = SubjectCheck(
    resolved_vault_and_key_id, _key_administrators, the_vault_and_key, together=_key_administrators_of
)
