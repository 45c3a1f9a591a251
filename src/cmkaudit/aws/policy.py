"""AWS KMS key policies, parsed and evaluated as AWS evaluates them, for the questions the controls ask.

`Principal` in all its forms ("*", `{"AWS": "*"}`, an account id, a root or role ARN, lists, `Service`),
`Action` / `NotAction` with wildcards (case-insensitive, as IAM matches actions), `Effect` Deny winning over
Allow, and conditions kept as evidence: a statement's conditions narrow who it applies to, so an Allow with a
condition is counted as granting (to those it names), and a Deny with a condition is not counted as removing
(it may not apply). A key policy names its key as `Resource: "*"`; other resources are kept as written.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase

from cmkaudit.inventory.aws import MAX_POLICY_ENTRIES as MAX_ENTRIES
from cmkaudit.inventory.aws import PolicyStatement

_ACCOUNT = re.compile(r"^\d{12}$")
_ROOT = re.compile(r"^arn:aws[a-z-]*:iam::(\d{12}):root$")
_IAM_ARN = re.compile(r"^arn:aws[a-z-]*:(?:iam|sts)::(\d{12}):")


class PolicyError(ValueError):
    """A key policy that is not a policy document."""


def _strings(value: object, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        if len(value) > MAX_ENTRIES:
            raise PolicyError(f"{where} holds {len(value):,} entries, more than any policy AWS accepts")
        return tuple(value)
    raise PolicyError(f"{where} is neither a string nor a list of strings")


def _statement(raw: object, number: int, identity: bool = False) -> PolicyStatement:
    if not isinstance(raw, dict):
        raise PolicyError(f"statement {number} is not an object")
    effect = raw.get("Effect")
    if effect not in ("Allow", "Deny"):
        raise PolicyError(f"statement {number} has no Effect Allow or Deny")
    if identity:
        raw = {**raw, "Principal": "*"}  # an identity policy's statements apply to the identity it is attached to
    if ("Principal" in raw) == ("NotPrincipal" in raw):
        raise PolicyError(f"statement {number} needs exactly one of Principal and NotPrincipal")
    if ("Action" in raw) == ("NotAction" in raw):
        raise PolicyError(f"statement {number} needs exactly one of Action and NotAction")
    principal = raw.get("Principal", raw.get("NotPrincipal"))
    aws: tuple[str, ...] = ()
    services: tuple[str, ...] = ()
    if principal == "*":
        aws = ("*",)
    elif isinstance(principal, dict):
        for kind, value in principal.items():
            names = _strings(value, f"statement {number} Principal.{kind}")
            if kind == "AWS":
                aws += names
            elif kind == "Service":
                services += names
            else:  # Federated, CanonicalUser: kept as written
                aws += tuple(f"{kind}:{n}" for n in names)
    else:
        raise PolicyError(f'statement {number} Principal is neither "*" nor an object')
    conditions: list[str] = []
    keys: list[str] = []
    condition = raw.get("Condition")
    condition = {} if condition is None else condition
    if not isinstance(condition, dict):
        raise PolicyError(f"statement {number} Condition is not an object")
    for operator, tests in sorted(condition.items()):
        if not isinstance(tests, dict):
            raise PolicyError(f"statement {number} Condition.{operator} is not an object")
        for key, values in sorted(tests.items()):
            shown = json.dumps(values) if not isinstance(values, str) else values
            conditions.append(f"{operator} {key} {shown}")
            keys.append(key.lower())
    return PolicyStatement(
        sid=raw.get("Sid") if isinstance(raw.get("Sid"), str) else None,
        effect=effect,
        principals=aws,
        not_principal="NotPrincipal" in raw,
        service_principals=services,
        actions=_strings(raw.get("Action", raw.get("NotAction")), f"statement {number} Action"),
        not_action="NotAction" in raw,
        resources=_strings(raw.get("Resource", raw.get("NotResource", "*")), f"statement {number} Resource"),
        conditions=tuple(conditions),
        condition_keys=tuple(keys),
        not_resource="NotResource" in raw,
    )


def parse_policy(text: str | dict[str, object], *, identity: bool = False) -> tuple[PolicyStatement, ...]:
    """A policy document as its statements: a key policy (GetKeyPolicy's `Policy`, a JSON string), or with
    `identity` an IAM identity policy (no Principal: it applies to whom it is attached to)."""
    if isinstance(text, dict):
        document: object = text
    else:
        try:
            document = json.loads(text)
        except (json.JSONDecodeError, RecursionError) as exc:
            raise PolicyError("the key policy is not JSON") from exc
    if not isinstance(document, dict):
        raise PolicyError("the key policy is not a JSON object")
    statements = document.get("Statement")
    if isinstance(statements, dict):
        statements = [statements]
    if not isinstance(statements, list):
        raise PolicyError("the key policy has no Statement list")
    if len(statements) > MAX_ENTRIES:
        raise PolicyError(f"the key policy holds {len(statements):,} statements, more than any policy AWS accepts")
    return tuple(_statement(s, i + 1, identity) for i, s in enumerate(statements))


def covers_resource(statement: PolicyStatement, arn: str) -> bool:
    """Whether the statement's Resource (as written: `*`, an ARN or an ARN pattern) covers `arn` (NotResource: the
    other way round)."""
    matched = any(fnmatchcase(arn.lower(), pattern.lower()) for pattern in statement.resources)
    return not matched if statement.not_resource else matched


def account_of(principal: str) -> str | None:
    """The AWS account a principal belongs to (an account id, or an IAM/STS ARN's account)."""
    if _ACCOUNT.match(principal):
        return principal
    found = _IAM_ARN.match(principal)
    return found.group(1) if found else None


def is_account_root(principal: str) -> bool:
    """Whether a principal is a whole account (`123456789012` or `arn:aws:iam::123456789012:root`): the key
    policy then delegates to that account's IAM policies."""
    return bool(_ACCOUNT.match(principal) or _ROOT.match(principal))


def names_principal(statement: PolicyStatement, principal: str) -> bool:
    """Whether the statement's Principal covers `principal` (an ARN): itself, its account, or everyone."""
    if statement.not_principal:
        return not any(_same_principal(p, principal) for p in statement.principals)
    return any(_same_principal(p, principal) for p in statement.principals)


def _same_principal(written: str, principal: str) -> bool:
    if written == "*":
        return True
    if written == principal:
        return True
    # An account id, or its root ARN, names every principal of the account.
    if is_account_root(written):
        return account_of(written) == account_of(principal)
    return False


def covers_action(statement: PolicyStatement, action: str) -> bool:
    """Whether the statement's Action (or NotAction) applies to `action` (IAM matches case-insensitively)."""
    matched = any(fnmatchcase(action.lower(), pattern.lower()) for pattern in statement.actions)
    return not matched if statement.not_action else matched


@dataclass(frozen=True, slots=True)
class Granted:
    """What a principal may do on the key by the key policy: each action with the statements that allow it, and
    the actions an unconditional Deny takes away."""

    allowed: dict[str, tuple[PolicyStatement, ...]]
    denied: frozenset[str]

    def may(self, action: str) -> bool:
        return action in self.allowed and action not in self.denied


def granted(statements: Sequence[PolicyStatement], principal: str, actions: Iterable[str]) -> Granted:
    """Which of `actions` the key policy lets `principal` perform (Deny without a condition winning)."""
    allowed: dict[str, tuple[PolicyStatement, ...]] = {}
    denied: set[str] = set()
    for action in actions:
        for statement in statements:
            if not (names_principal(statement, principal) and covers_action(statement, action)):
                continue
            if statement.effect == "Deny":
                if not statement.conditions:
                    denied.add(action)
            else:
                allowed[action] = (*allowed.get(action, ()), statement)
    return Granted(allowed, frozenset(denied))


def allowed_beyond(statements: Sequence[PolicyStatement], principal: str, needed: Iterable[str]) -> list[str]:
    """What Allow statements naming `principal` grant beyond `needed` (as written: `kms:*`, or actions)."""
    wanted = {a.lower() for a in needed}
    extra: list[str] = []
    for statement in statements:
        if statement.effect != "Allow" or not names_principal(statement, principal):
            continue
        if statement.not_action:
            extra.append(f"NotAction {', '.join(statement.actions)}")
            continue
        for pattern in statement.actions:
            lowered = pattern.lower()
            # Within what is needed: a needed action as written, or an action a needed wildcard covers
            # (`kms:ReEncryptFrom` under `kms:ReEncrypt*`). A wider wildcard (`kms:*`) is beyond.
            if lowered not in wanted and not any("*" in w and fnmatchcase(lowered, w) for w in wanted):
                extra.append(pattern)
    return sorted(set(extra))
