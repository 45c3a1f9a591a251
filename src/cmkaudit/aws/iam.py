"""Who may destroy a KMS key through IAM, when its key policy delegates to its account (`arn:aws:iam::<id>:root`):
the account's users and roles whose identity policies (inline, attached managed, and their groups') allow
`kms:ScheduleKeyDeletion`, `kms:DisableKey` or `kms:PutKeyPolicy` on the key, an unconditional Deny winning.
Read from one `GetAccountAuthorizationDetails` listing per account (boto3 has decoded its policy documents).
Permissions boundaries and service control policies, which can only narrow, are not applied: a principal
named here may hold less, never more."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from cmkaudit.aws.policy import PolicyError, covers_action, covers_resource, parse_policy
from cmkaudit.inventory.aws import PolicyStatement

DESTRUCTIVE = ("kms:ScheduleKeyDeletion", "kms:DisableKey", "kms:PutKeyPolicy")


def _documents(entries: Iterable[Mapping[str, Any]], field: str) -> list[tuple[str, Any]]:
    return [(str(e.get("PolicyName")), e.get(field)) for e in entries or () if isinstance(e, Mapping)]


def _managed(details: Mapping[str, Any]) -> dict[str, Any]:
    """Each managed policy's default version document, by ARN."""
    found: dict[str, Any] = {}
    for policy in details.get("Policies") or ():
        default = policy.get("DefaultVersionId")
        for version in policy.get("PolicyVersionList") or ():
            if version.get("IsDefaultVersion") or version.get("VersionId") == default:
                found[str(policy.get("Arn"))] = version.get("Document")
    return found


def _statements(named: Sequence[tuple[str, Any]]) -> list[tuple[str, PolicyStatement]]:
    statements: list[tuple[str, PolicyStatement]] = []
    for name, document in named:
        if not isinstance(document, (dict, str)):
            continue
        try:
            statements.extend((name, s) for s in parse_policy(document, identity=True))
        except PolicyError:
            continue  # an identity policy IAM accepted but this reader cannot: it grants nothing counted here
    return statements


def destructive_holders(details: Mapping[str, Any], key_arn: str) -> tuple[str, ...]:
    """Each user and role of the account that may delete, disable or re-policy `key_arn`, as
    `<arn> (<actions> by <policy>)`."""
    managed = _managed(details)
    groups = {
        str(g.get("GroupName")): _documents(g.get("GroupPolicyList"), "PolicyDocument")
        + [
            (str(a.get("PolicyName")), managed.get(str(a.get("PolicyArn"))))
            for a in g.get("AttachedManagedPolicies") or ()
        ]
        for g in details.get("GroupDetailList") or ()
    }
    holders: list[str] = []
    principals = [(u, "UserPolicyList") for u in details.get("UserDetailList") or ()]
    principals += [(r, "RolePolicyList") for r in details.get("RoleDetailList") or ()]
    for entity, inline in principals:
        named = _documents(entity.get(inline), "PolicyDocument")
        named += [
            (str(a.get("PolicyName")), managed.get(str(a.get("PolicyArn"))))
            for a in entity.get("AttachedManagedPolicies") or ()
        ]
        for group in entity.get("GroupList") or ():
            named += groups.get(str(group), [])
        statements = _statements(named)
        denied = {
            action
            for _, s in statements
            if s.effect == "Deny" and not s.conditions
            for action in DESTRUCTIVE
            if covers_action(s, action) and covers_resource(s, key_arn)
        }
        allowed: dict[str, str] = {}
        for name, s in statements:
            if s.effect != "Allow" or not covers_resource(s, key_arn):
                continue
            for action in DESTRUCTIVE:
                if action not in denied and covers_action(s, action):
                    allowed.setdefault(action, name)
        if allowed:
            by = ", ".join(sorted(set(allowed.values())))
            holders.append(f"{entity.get('Arn')} ({', '.join(sorted(allowed))} by {by})")
    return tuple(sorted(holders))
