"""Access controls: the identities that use a key can use it, and can do nothing more."""

from __future__ import annotations

from collections.abc import Callable

from cmkaudit.evaluate.checks._common import (
    REQUIRED_KEY_PERMISSIONS,
    not_applicable_or_unresolved,
    permission_names,
    vault_of,
)
from cmkaudit.evaluate.model import Evidence, Settings, Status, Verdict
from cmkaudit.inventory.model import Inventory, KeyUsage, UsingIdentity, Vault


def _access_preconditions(usage: KeyUsage, inventory: Inventory) -> Verdict | Vault:
    early = not_applicable_or_unresolved(usage)
    if early:
        return early
    vault = vault_of(inventory, usage)
    assert vault is not None
    model = Evidence(
        "enableRbacAuthorization", vault.rbac_authorization, vault.id, "properties.enableRbacAuthorization"
    )
    if vault.rbac_authorization is True:
        return Verdict(
            Status.UNKNOWN,
            f"vault {vault.name} uses Azure RBAC; this control reads access policies, so the role assignments "
            "on the vault and key must be reviewed for the identities listed",
            (model, *_identity_evidence(usage.identities)),
        )
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
    return vault


def _identity_evidence(identities: tuple[UsingIdentity, ...]) -> tuple[Evidence, ...]:
    return tuple(Evidence(f"{i.role.value}", str(i.principal_id), None, i.source) for i in identities)


def _granted(vault: Vault, identity: UsingIdentity) -> tuple[set[str], set[str]]:
    """Key permissions, and other (secret/certificate/storage) permissions, granted to the identity."""
    keys: set[str] = set()
    others: set[str] = set()
    for policy in vault.access_policies:
        if policy.object_id.lower() != identity.principal_id.lower():
            continue
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


def _judge_identities(
    usage: KeyUsage,
    inventory: Inventory,
    problem: Callable[[set[str], set[str]], str | None],
    passed: str,
) -> Verdict:
    """Apply `problem(key permissions, other permissions)` to every identity that uses the key.

    FAIL lists each identity with a problem; PASS says `passed` (followed by the vault name).
    """
    pre = _access_preconditions(usage, inventory)
    if isinstance(pre, Verdict):
        return pre
    vault = pre
    evidence: list[Evidence] = list(_identity_evidence(usage.identities))
    problems: list[str] = []
    for identity in usage.identities:
        keys, others = _granted(vault, identity)
        evidence.append(_policy_evidence(vault, identity, keys, others))
        found = problem(keys, others)
        if found:
            problems.append(f"{identity.role.value} {identity.principal_id} {found}")
    if problems:
        return Verdict(Status.FAIL, f"on vault {vault.name}: " + "; ".join(problems), tuple(evidence))
    return Verdict(Status.PASS, f"{passed} on vault {vault.name}", tuple(evidence))


def _missing_required(keys: set[str], others: set[str]) -> str | None:
    missing = set() if "all" in keys else REQUIRED_KEY_PERMISSIONS - keys
    return f"lacks {permission_names(missing)}" if missing else None


def _beyond_required(keys: set[str], others: set[str]) -> str | None:
    excess = (keys - REQUIRED_KEY_PERMISSIONS) | others
    return f"also holds {permission_names(excess)}" if excess else None


def check_required_permissions(usage: KeyUsage, inventory: Inventory, settings: Settings) -> Verdict:
    """IAM-01: every identity that uses the key holds get, wrapKey and unwrapKey."""
    return _judge_identities(
        usage, inventory, _missing_required, "every identity that uses the key holds get, wrapKey and unwrapKey"
    )


def check_least_privilege(usage: KeyUsage, inventory: Inventory, settings: Settings) -> Verdict:
    """IAM-02: identities that use the key hold nothing beyond get, wrapKey and unwrapKey."""
    return _judge_identities(
        usage,
        inventory,
        _beyond_required,
        "the identities that use the key hold no more than get, wrapKey and unwrapKey",
    )
