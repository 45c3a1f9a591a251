"""Access controls: the identities that use a key can use it and nothing more; few can destroy it.

A vault grants access either through access policies or, when `enableRbacAuthorization` is on,
through Azure RBAC role assignments. What a role allows is read from its definition (evaluate/checks/roles.py:
data actions with wildcards, minus not-data-actions), so custom roles are judged like built-in ones. Group
memberships are not expanded: a permission that only a group may hold makes the verdict UNKNOWN (on RBAC vaults
the assignment says it is a group; an access policy does not say, so an entry of a principal not known to be
anything else counts as a possible group). An access-policy entry with an `applicationId` (a compound
identity) grants that application acting for the principal, not the principal: it gives the identity nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from cmkaudit.evaluate.checks._common import (
    REQUIRED_KEY_PERMISSIONS,
    SubjectCheck,
    is_live_only,
    permission_names,
    resolved_vault,
    resolved_vault_and_key_id,
    the_vault_and_key,
    unread_reason,
)
from cmkaudit.evaluate.checks.roles import RolePermissions, permissions_of
from cmkaudit.evaluate.model import Evidence, Settings, Status, Verdict
from cmkaudit.ids import id_key
from cmkaudit.inventory import Inventory
from cmkaudit.inventory.model import (
    AccessPolicy,
    DirectoryObject,
    GroupMembership,
    KeyUsage,
    RoleAssignment,
    RoleDefinition,
    UsingIdentity,
    Vault,
    VaultKind,
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
MANAGED_HSM_ROLE_IDS = {
    "a290e904-7015-4bba-90c8-60543313cdb4": "Managed HSM Administrator",
    "515eb02d-2335-4d2d-92f2-b1cbdf9c3778": "Managed HSM Crypto Officer",
    "21dbd100-6940-42c2-9190-5d6cb909625b": "Managed HSM Crypto User",
    "4bd23610-cdcf-4971-bdee-bdc562cc28e4": "Managed HSM Policy Administrator",
    "2c18b078-7c48-4d3a-af88-5a3a1b3f82b3": "Managed HSM Crypto Auditor",
    "33413926-3206-4cdd-b39a-83574fe37a17": "Managed HSM Crypto Service Encryption User",
    "21dbd100-6940-42c2-9190-5d6cb909625c": "Managed HSM Crypto Service Release User",
    "7b127d3c-77bd-4e3e-bbe0-dbb8971fa7f8": "Managed HSM Backup",
    "6efe6056-5259-49d2-8b3d-d3d73544b20b": "Managed HSM Restore",
}
"""The built-in roles of a Managed HSM pool's local RBAC (their names, when a definition was not read)."""
CRYPTO_SERVICE_ENCRYPTION_USER = "e147488a-f6f5-4113-8e2d-b22465e65bf6"
MANAGED_HSM_SERVICE_ENCRYPTION_USER = "33413926-3206-4cdd-b39a-83574fe37a17"
SERVICE_ENCRYPTION_USERS = frozenset({CRYPTO_SERVICE_ENCRYPTION_USER, MANAGED_HSM_SERVICE_ENCRYPTION_USER})
"""The roles made for a service that wraps and unwraps with a key: acceptable by name to IAM-02."""
KEY_DESTROY_ACTIONS = ("microsoft.keyvault/vaults/keys/delete", "microsoft.keyvault/vaults/keys/purge/action")
"""IAM-03 counts a role that may delete or purge keys as key administration."""
ASSIGN_ROLES = "microsoft.authorization/roleassignments/write"
"""Who may assign roles at or above a vault may give themselves key administration (or, on an access-policy vault,
the right to write access policies)."""
WRITE_ACCESS_POLICIES = ("microsoft.keyvault/vaults/write", "microsoft.keyvault/vaults/accesspolicies/write")
"""On a vault using access policies, who may write the vault (or its access policies) may grant themselves purge."""


@dataclass(frozen=True, slots=True)
class Grant:
    """A role assignment that applies to the key, with the definition of its role (None: not read)."""

    assignment: RoleAssignment
    definition: RoleDefinition | None
    via: str | None = None
    """The group through which the identity holds it (None: assigned to the identity itself)."""

    @property
    def held(self) -> str:
        """The role, where it is assigned, and the group it comes through."""
        through = f" through group {self.via}" if self.via else ""
        return f"{self.role} at {self.assignment.scope}{through}"

    @property
    def role(self) -> str:
        """A readable name for the role."""
        if self.definition and self.definition.role_name:
            return self.definition.role_name
        return ADMIN_ROLE_IDS.get(self.guid) or MANAGED_HSM_ROLE_IDS.get(self.guid, self.guid)

    @property
    def guid(self) -> str:
        """The role definition's GUID (the last segment of its id)."""
        return self.assignment.role_definition_id.rstrip("/").rsplit("/", 1)[-1].lower()

    @property
    def permissions(self) -> RolePermissions | None:
        """What the role allows, or None when its definition was not read."""
        return permissions_of(self.definition) if self.definition is not None else None

    def allows(self, data_action: str) -> bool:
        """Whether the role's effective data actions include `data_action`."""
        permissions = self.permissions
        return permissions is not None and permissions.allows_data(data_action)

    def allows_action(self, action: str) -> bool:
        """Whether the role's effective control-plane actions include `action`."""
        permissions = self.permissions
        return permissions is not None and permissions.allows(action)


def _applies_to_key(assignment: RoleAssignment, vault: Vault, key_id: str | None) -> bool:
    """Assignments at or above the vault apply; below it, only those on this very key."""
    scope, vault_scope = id_key(assignment.scope), id_key(vault.id)
    if not scope.startswith(vault_scope + "/"):
        return True
    return key_id is not None and scope == id_key(key_id)


def _grants(
    assignments: Iterable[RoleAssignment],
    vault: Vault,
    inventory: Inventory,
    key_id: str | None,
    via: str | None = None,
) -> list[Grant]:
    """Those of the vault's `assignments` that apply to the key, with their roles' definitions."""
    definitions = inventory.index.role_definitions
    return [
        Grant(a, definitions.get(id_key(a.role_definition_id)), via)
        for a in assignments
        if _applies_to_key(a, vault, key_id)
    ]


def _group_name(group: DirectoryObject) -> str:
    return f"{group.display_name} ({group.id})" if group.display_name else group.id


def _membership_problem(membership: GroupMembership | None) -> str:
    """Why an identity's groups are not known, for a verdict that depends on them."""
    if membership is None or membership.unread is None:
        return "group membership was not read"
    hint = f" ({membership.unread.hint})" if membership.unread.hint else ""
    return f"its group membership could not be read: {membership.unread.reason}{hint}"


def _rbac_unread(vault: Vault, inventory: Inventory) -> Verdict:
    unread = vault.role_assignments_unread
    why = f": {unread.reason}" if unread else ""
    if vault.kind is VaultKind.MANAGED_HSM:
        model = "its local RBAC"
    else:
        model = "Azure RBAC" if vault.rbac_authorization else "who may write its access policies"
    hint = f" ({unread.hint})" if unread and unread.hint and vault.kind is VaultKind.MANAGED_HSM else ""
    return Verdict(Status.UNKNOWN, f"the role assignments of {vault.label} ({model}) could not be read{why}{hint}")


def _model_evidence(vault: Vault) -> Evidence:
    if vault.kind is VaultKind.MANAGED_HSM:
        return Evidence("permission model", "Managed HSM local RBAC", vault.id, "the pool's role assignments")
    return Evidence("enableRbacAuthorization", vault.rbac_authorization, vault.id, "properties.enableRbacAuthorization")


def _service_role(vault: Vault) -> str:
    """The built-in role that grants a service exactly what it needs of a key there."""
    if vault.kind is VaultKind.MANAGED_HSM:
        return "Managed HSM Crypto Service Encryption User"
    return "Key Vault Crypto Service Encryption User"


def _identity_evidence(identities: tuple[UsingIdentity, ...]) -> tuple[Evidence, ...]:
    return tuple(Evidence(f"{i.role.value}", str(i.principal_id), None, i.source) for i in identities)


def _granted(vault: Vault, principal: str, inventory: Inventory) -> tuple[set[str], set[str], list[str]]:
    """Key permissions, and other (secret/certificate/storage) permissions, granted to the identity itself by access
    policies; and the applications of compound entries for it, which grant it nothing on its own."""
    keys: set[str] = set()
    others: set[str] = set()
    compound: list[str] = []
    for policy in inventory.index.policies_by_principal.get((id_key(vault.id), principal.lower()), ()):
        if policy.tenant_id and vault.tenant_id and policy.tenant_id.lower() != vault.tenant_id.lower():
            continue
        if policy.application_id:
            compound.append(policy.application_id)
            continue
        keys.update(p.lower() for p in policy.keys)
        others.update(f"secrets:{p.lower()}" for p in policy.secrets)
        others.update(f"certificates:{p.lower()}" for p in policy.certificates)
        others.update(f"storage:{p.lower()}" for p in policy.storage)
    return keys, others, compound


def _policy_evidence(
    vault: Vault, identity: UsingIdentity, keys: set[str], others: set[str], compound: list[str]
) -> tuple[Evidence, ...]:
    granted = Evidence(
        f"access policy of {identity.role.value} {identity.principal_id}",
        tuple(sorted(keys)) + tuple(sorted(others)),
        vault.id,
        "properties.accessPolicies",
    )
    if not compound:
        return (granted,)
    return (
        granted,
        Evidence(
            f"compound entries for {identity.principal_id} (not counted: they grant the application acting for it)",
            tuple(sorted(compound)),
            vault.id,
            "properties.accessPolicies[].applicationId",
        ),
    )


def _roles_evidence(identity: UsingIdentity, grants: list[Grant]) -> Evidence:
    return Evidence(
        f"roles of {identity.role.value} {identity.principal_id}",
        tuple(sorted(g.held for g in grants)),
        None,
        "Microsoft.Authorization/roleAssignments",
    )


def _groups_evidence(identity: UsingIdentity, groups: tuple[DirectoryObject, ...]) -> Evidence:
    return Evidence(
        f"groups of {identity.role.value} {identity.principal_id}",
        tuple(sorted(_group_name(g) for g in groups)),
        None,
        "Microsoft Graph transitiveMemberOf",
    )


@dataclass(frozen=True, slots=True)
class HeldAccess:
    """What one identity that uses the key holds on its vault: key and other permissions by access policy,
    or the role assignments that apply to the key (for a vault on Azure RBAC)."""

    who: str
    keys: frozenset[str] = frozenset()
    others: frozenset[str] = frozenset()
    own: tuple[Grant, ...] = ()
    """Its roles: assigned to it, or to a group it belongs to (each saying which)."""
    groups: tuple[Grant, ...] = ()
    """When its groups are not known: the role assignments to groups (or to principals that may be groups) that
    apply to the key, which it may hold."""
    possible_groups: tuple[AccessPolicy, ...] = ()
    """When its groups are not known: access-policy entries of principals that may be groups."""
    membership: str = "group membership was not read"
    """Why its groups are not known (said in an UNKNOWN that depends on them)."""


@dataclass(frozen=True, slots=True)
class IdentityAccess:
    """What every identity that uses a key holds on its vault, read once and judged by IAM-01 and IAM-02."""

    vault: Vault
    held: tuple[HeldAccess, ...]
    evidence: tuple[Evidence, ...]


PolicyJudge = Callable[[HeldAccess, IdentityAccess], tuple[Status, str] | None]
RoleJudge = Callable[[HeldAccess, Vault], tuple[Status, str] | None]
"""(what the identity holds, the vault) -> (FAIL or UNKNOWN, why), or None when fine."""


def identity_access(usage: KeyUsage, inventory: Inventory) -> Verdict | IdentityAccess:
    """The access of every identity that uses the scope's key, or the verdict when it cannot be known.

    An identity's grants include those of the groups it belongs to (transitively), when Microsoft Graph said
    which; otherwise a grant to a group (or to a principal that may be one) is something it may hold, and a verdict
    that depends on it is UNKNOWN saying why the membership is not known."""
    vault = resolved_vault(usage, inventory)
    if isinstance(vault, Verdict):
        return vault
    model = _model_evidence(vault)
    if vault.rbac_authorization is None:
        return Verdict(
            Status.UNKNOWN,
            f"{vault.label} does not report its permission model (enableRbacAuthorization)",
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
        membership = index.memberships.get(identity.principal_id.lower())
        groups = membership.groups if membership is not None else None
        if groups:
            evidence.append(_groups_evidence(identity, groups))
        if vault.rbac_authorization:
            assigned = index.assignments_by_principal.get((vault_key, identity.principal_id.lower()), ())
            own = _grants(assigned, vault, inventory, usage.key_id)
            for group in groups or ():
                through = index.assignments_by_principal.get((vault_key, group.id.lower()), ())
                own += _grants(through, vault, inventory, usage.key_id, _group_name(group))
            evidence.append(_roles_evidence(identity, own))
            maybe = () if groups is not None else _possible_group_grants(vault, inventory, usage.key_id)
            held.append(HeldAccess(who, own=tuple(own), groups=maybe, membership=_membership_problem(membership)))
        else:
            keys, others, compound = _granted(vault, identity.principal_id, inventory)
            evidence.extend(_policy_evidence(vault, identity, keys, others, compound))
            for group in groups or ():
                group_keys, group_others, _ = _granted(vault, group.id, inventory)
                if group_keys or group_others:
                    keys |= group_keys
                    others |= group_others
                    evidence.append(_group_policy_evidence(vault, identity, group, group_keys | group_others))
            possible = () if groups is not None else _possible_group_policies(vault, inventory)
            held.append(
                HeldAccess(
                    who,
                    frozenset(keys),
                    frozenset(others),
                    possible_groups=possible,
                    membership=_membership_problem(membership),
                )
            )
    return IdentityAccess(vault, tuple(held), tuple(evidence))


def _possible_group_grants(vault: Vault, inventory: Inventory, key_id: str | None) -> tuple[Grant, ...]:
    return tuple(_grants(inventory.index.group_assignments.get(id_key(vault.id), ()), vault, inventory, key_id))


def _possible_group_policies(vault: Vault, inventory: Inventory) -> tuple[AccessPolicy, ...]:
    return tuple(
        p
        for p in inventory.index.possible_group_policies.get(id_key(vault.id), ())
        if not (p.tenant_id and vault.tenant_id and p.tenant_id.lower() != vault.tenant_id.lower())
    )


def _group_policy_evidence(
    vault: Vault, identity: UsingIdentity, group: DirectoryObject, granted: set[str]
) -> Evidence:
    return Evidence(
        f"access policy of group {_group_name(group)}, of which {identity.role.value} {identity.principal_id} is a "
        "member",
        tuple(sorted(granted)),
        vault.id,
        "properties.accessPolicies",
    )


def _judge_identities(access: IdentityAccess, by_policy: PolicyJudge, by_role: RoleJudge, passed: str) -> Verdict:
    """Judge every identity that uses the key, by access policies or by role assignments."""
    vault = access.vault
    failures: list[str] = []
    unknowns: list[str] = []
    for held in access.held:
        judged = by_role(held, vault) if vault.rbac_authorization else by_policy(held, access)
        if judged is not None:
            (failures if judged[0] is Status.FAIL else unknowns).append(f"{held.who} {judged[1]}")
    if failures:
        return Verdict(Status.FAIL, f"on {vault.label}: " + "; ".join(failures), access.evidence)
    if unknowns:
        return Verdict(Status.UNKNOWN, f"on {vault.label}: " + "; ".join(unknowns), access.evidence)
    return Verdict(Status.PASS, f"{passed} on {vault.label}", access.evidence)


def _missing_required(held: HeldAccess, access: IdentityAccess) -> tuple[Status, str] | None:
    missing = set() if "all" in held.keys else REQUIRED_KEY_PERMISSIONS - held.keys
    if not missing:
        return None
    offers = [(p.object_id, {k.lower() for k in p.keys}) for p in held.possible_groups]
    through = sorted({who for who, keys in offers if "all" in keys or keys & missing})
    offered = {k for _, keys in offers for k in keys}
    if through and ("all" in offered or missing <= offered):
        return Status.UNKNOWN, (
            f"has no access policy granting {permission_names(missing)} itself, but may hold it through a group "
            f"(entries for {', '.join(through)}, which may be groups); {held.membership}"
        )
    return Status.FAIL, f"lacks {permission_names(missing)}"


def _beyond_required(held: HeldAccess, access: IdentityAccess) -> tuple[Status, str] | None:
    excess = (held.keys - REQUIRED_KEY_PERMISSIONS) | held.others
    return (Status.FAIL, f"also holds {permission_names(excess)}") if excess else None


def _unread_definitions(grants: Iterable[Grant]) -> list[str]:
    return sorted({g.assignment.role_definition_id for g in grants if g.definition is None})


def _roles_missing_required(held: HeldAccess, vault: Vault) -> tuple[Status, str] | None:
    own, groups = held.own, held.groups
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
            f"({'; '.join(via_groups)}); {held.membership}"
        )
    return (
        Status.FAIL,
        f"has no role granting {', '.join(missing)} ({_service_role(vault)} grants them)",
    )


_VAULT_DATA_PREFIX = "microsoft.keyvault/vaults/"


def _excessive(grant: Grant) -> list[str]:
    """What a role allows beyond Key Vault Crypto Service Encryption User (which is acceptable by name).

    Narrower means: effective data actions among get/wrapKey/unwrapKey on keys (after not-data-actions), and
    control-plane actions that only read, or manage Event Grid subscriptions (as Key Vault's built-in data roles
    do).
    """
    permissions = grant.permissions
    if grant.guid in SERVICE_ENCRYPTION_USERS or permissions is None:
        return []
    allowed = set(REQUIRED_DATA_ACTIONS.values())
    data = sorted(a.removeprefix(_VAULT_DATA_PREFIX) for a in permissions.data_actions - allowed)
    return (
        data
        + list(permissions.other_data_actions)
        + list(permissions.unknown_data_actions)
        + permissions.control_beyond_reading()
    )


def _roles_beyond_required(held: HeldAccess, vault: Vault) -> tuple[Status, str] | None:
    own = held.own
    broad = sorted(
        {
            f"{g.role} ({', '.join(_excessive(g))}){f' through group {g.via}' if g.via else ''}"
            for g in own
            if g.definition and _excessive(g)
        }
    )
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
    verdict = _judge_identities(
        access,
        _beyond_required,
        _roles_beyond_required,
        "the identities that use the key hold no more than get, wrapKey and unwrapKey",
    )
    return _as_far_as_planned(verdict, access.vault) if access.vault.rbac_authorization else verdict


def _as_far_as_planned(verdict: Verdict, vault: Vault) -> Verdict:
    """A pass judged on planned configuration, whose role assignments made elsewhere (inherited from the resource
    group, subscription or management group) are unseen, is not a pass: NOT_APPLICABLE, saying so."""
    unread = vault.role_assignments_unread
    if verdict.status is not Status.PASS or not is_live_only(unread):
        return verdict
    return Verdict(
        Status.NOT_APPLICABLE,
        f"{verdict.reason} as far as this configuration goes; {unread_reason(unread, '')}",
        verdict.evidence,
    )


check_required_permissions = SubjectCheck(identity_access, _required_permissions)
check_least_privilege = SubjectCheck(identity_access, _least_privilege)
"""IAM-01 and IAM-02 judge the same access: the engine reads it once per key usage for both."""


def _is_key_admin(grant: Grant) -> bool:
    return grant.guid in ADMIN_ROLE_IDS or any(grant.allows(action) for action in KEY_DESTROY_ACTIONS)


def _way_to_key_administration(grant: Grant, vault: Vault) -> str | None:
    """How a role assigned at or above `vault` lets its holder destroy keys, directly or by granting itself the
    right to; None when it does not. (A role whose definition was not read is judged elsewhere.)"""
    if _is_key_admin(grant) and vault.rbac_authorization:
        return "administers keys"
    if grant.allows_action(ASSIGN_ROLES):
        return "may assign itself key administration (Microsoft.Authorization/roleAssignments/write)"
    if grant.permissions is not None and grant.permissions.manages_roles:
        return "may grant itself key administration (writes the Managed HSM's role assignments or definitions)"
    if not vault.rbac_authorization:
        written = next((a for a in WRITE_ACCESS_POLICIES if grant.allows_action(a)), None)
        if written:
            return f"may write itself an access policy with purge ({written})"
    return None


@dataclass(frozen=True, slots=True)
class _Administration:
    """Who may destroy or administer keys on a vault, read once for all its keys: the entries whose access policies
    allow purging; the role grants at or above the vault (on every key) that administer keys or lead to it, or whose
    role could not be read; and on an RBAC vault, those on one key (by its id)."""

    purgers: tuple[str, ...]
    vault_wide: tuple[tuple[Grant, str | None], ...]
    on_key: dict[str, list[tuple[Grant, str | None]]]


def _purger(policy: AccessPolicy) -> str:
    if policy.application_id:
        return f"{policy.object_id} (through application {policy.application_id})"
    return policy.object_id


def _administration(vault: Vault, inventory: Inventory) -> _Administration:
    purgers = tuple(_purger(p) for p in vault.access_policies if {"purge", "all"} & {k.lower() for k in p.keys})
    definitions = inventory.index.role_definitions
    vault_wide: list[tuple[Grant, str | None]] = []
    on_key: dict[str, list[tuple[Grant, str | None]]] = {}
    for assignment in vault.role_assignments or ():
        grant = Grant(assignment, definitions.get(id_key(assignment.role_definition_id)))
        above = _applies_to_key(assignment, vault, None)
        if grant.definition is None:
            way = None  # unread: the verdict says so
        elif above:
            way = _way_to_key_administration(grant, vault)
            if way is None:
                continue
        elif vault.rbac_authorization and _is_key_admin(grant):
            way = "administers keys"
        else:
            continue
        if above:  # at or above the vault: on every key
            vault_wide.append((grant, way))
        else:  # below it: on the key it names only
            on_key.setdefault(id_key(assignment.scope), []).append((grant, way))
    return _Administration(purgers, tuple(vault_wide), on_key)


MEMBERS_NAMED = 5
"""How many members of a group that administers keys IAM-03 names (all are counted)."""


def _who(principal: str, inventory: Inventory) -> str:
    """A principal as IAM-03 names it: a group with its members counted and the first few named."""
    members = inventory.index.group_members.get(principal.split(" ", 1)[0].lower())
    if members is None or members.is_group is False:
        return principal
    if members.members is None:
        why = members.unread.reason if members.unread else "not read"
        return f"{principal} (a group? its members could not be read: {why})"
    named = [m.display_name or m.id for m in members.members[:MEMBERS_NAMED]]
    more = len(members.members) - len(named)
    listed = ", ".join(named) + (f" and {more} more" if more > 0 else "")
    return f"group {principal} ({len(members.members)} members{': ' + listed if named else ''})"


def _break_glass(principal: str, allowed: set[str], inventory: Inventory) -> bool:
    """Whether `principal` is break-glass: listed itself, or a group whose every member (transitively, as Microsoft
    Graph lists them; the groups among them, whose members are listed too, aside) is listed."""
    if principal.lower() in allowed:
        return True
    members = inventory.index.group_members.get(principal.lower())
    if members is None or not members.is_group or not members.members:
        return False
    principals = [m for m in members.members if m.kind != "group"]
    return bool(principals) and all(m.id.lower() in allowed for m in principals)


def _judge_administration(
    vault: Vault, key_id: str | None, administration: _Administration, inventory: Inventory, settings: Settings
) -> Verdict:
    """IAM-03: nobody outside the break-glass list can purge the key or administer the vault's keys, nor give
    themselves the right to."""
    model = _model_evidence(vault)
    allowed = {p.lower() for p in settings.break_glass_principals}
    evidence = [model, Evidence("break-glass principals", tuple(sorted(allowed)), None, "configuration")]
    if vault.rbac_authorization is None:
        return Verdict(
            Status.UNKNOWN,
            f"{vault.label} does not report its permission model (enableRbacAuthorization)",
            (model,),
        )
    if vault.role_assignments is None:
        return _rbac_unread(vault, inventory)
    purgers: list[str] = []
    if not vault.rbac_authorization:
        purgers = sorted(
            _who(p, inventory)
            for p in administration.purgers
            if not _break_glass(p.split(" ", 1)[0], allowed, inventory)
        )
        evidence.append(Evidence("principals with key purge", tuple(purgers), vault.id, "properties.accessPolicies"))
    grants = [*administration.vault_wide, *(administration.on_key.get(id_key(key_id), ()) if key_id else ())]
    admins = sorted(
        f"{_who(g.assignment.principal_id, inventory)} ({g.role} at {g.assignment.scope}: {way})"
        for g, way in grants
        if way is not None and not _break_glass(g.assignment.principal_id, allowed, inventory)
    )
    evidence.append(Evidence("key administrators", tuple(admins), vault.id, "Microsoft.Authorization/roleAssignments"))
    problems = [f"{', '.join(purgers)} may purge keys (access policy)"] if purgers else []
    if admins:
        problems.append(f"key administrators, or able to make themselves one: {'; '.join(admins)}")
    if problems:
        return Verdict(Status.FAIL, f"on {vault.label}, " + "; ".join(problems), tuple(evidence))
    unread = _unread_definitions(g for g, _ in grants)
    if unread:
        return Verdict(
            Status.UNKNOWN,
            f"roles whose definitions could not be read are assigned: {', '.join(unread)}",
            tuple(evidence),
        )
    if not vault.rbac_authorization:
        return _as_far_as_planned(
            Verdict(
                Status.PASS,
                f"on {vault.label}, only break-glass principals may purge keys or write access policies",
                tuple(evidence),
            ),
            vault,
        )
    return _as_far_as_planned(
        Verdict(
            Status.PASS,
            f"on {vault.label}, no principal outside the break-glass list administers keys",
            tuple(evidence),
        ),
        vault,
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
