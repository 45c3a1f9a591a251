"""Databricks on AWS: the workspace's tier and key configurations, and the KMS key each use case names.

Workspace checks take an `AwsWorkspace`; key checks an `AwsKeyUsage` (one use case of a workspace resolved to
its key configuration and KMS key). Evidence that was not read gives UNKNOWN with its reason, never PASS.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime

from cmkaudit.aws.policy import allowed_beyond, covers_action, granted, is_account_root, names_principal
from cmkaudit.evaluate.checks._common import unread_reason
from cmkaudit.evaluate.model import Evidence, Settings, Status, Verdict
from cmkaudit.inventory import Inventory
from cmkaudit.inventory.aws import AwsKeyUsage, AwsWorkspace, KeyConfiguration, KmsKey, PolicyStatement, UseCase

DATABRICKS_PRINCIPALS = {"aws": "arn:aws:iam::414351767826:root"}
"""Databricks' AWS principal, by partition, as Databricks documents it for key policies (commercial). Other
partitions' principals are not built in: the key-policy controls are UNKNOWN there, saying so."""

ACCOUNT_TAG_KEY = "aws:principaltag/databricksaccountid"

NEEDED: dict[UseCase, tuple[str, ...]] = {
    UseCase.MANAGED_SERVICES: ("kms:Encrypt", "kms:Decrypt"),
    UseCase.STORAGE: ("kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"),
}
GRANTS = ("kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant")
"""What the storage use case also needs when the key encrypts cluster EBS volumes (with kms:GrantIsForAWSResource)."""
_CONCRETE = {
    "kms:ReEncrypt*": ("kms:ReEncryptFrom", "kms:ReEncryptTo"),
    "kms:GenerateDataKey*": ("kms:GenerateDataKey", "kms:GenerateDataKeyWithoutPlaintext"),
}
DESTRUCTIVE = ("kms:ScheduleKeyDeletion", "kms:DisableKey", "kms:PutKeyPolicy")
BROKEN_STATES = frozenset({"PendingDeletion", "Disabled", "PendingImport", "Unavailable", "PendingReplicaDeletion"})


# --- workspace controls ----------------------------------------------------------------------------------------


def _tier(workspace: AwsWorkspace) -> Evidence:
    return Evidence("pricing_tier", workspace.pricing_tier, workspace.id, "pricing_tier")


def check_enterprise_tier(workspace: AwsWorkspace, inventory: Inventory, settings: Settings) -> Verdict:
    """AWS-01: the workspace is on the Enterprise tier (customer-managed keys need it)."""
    if workspace.pricing_tier is None or workspace.pricing_tier.upper() == "UNKNOWN":
        # databricks-sdk's PricingTier.UNKNOWN: the tier could not be told, which is no evidence either way.
        return Verdict(
            Status.UNKNOWN, "the account API did not report the workspace's pricing tier", (_tier(workspace),)
        )
    if workspace.pricing_tier.upper() == "ENTERPRISE":
        return Verdict(Status.PASS, "the workspace is on the Enterprise tier", (_tier(workspace),))
    return Verdict(
        Status.FAIL,
        f"the workspace is on the {workspace.pricing_tier} tier; customer-managed keys need Enterprise",
        (_tier(workspace),),
    )


def _configuration(inventory: Inventory, workspace: AwsWorkspace, use_case: UseCase) -> AwsKeyUsage | None:
    return inventory.aws.usages.get((workspace.id, use_case))


def _use_case_check(workspace: AwsWorkspace, inventory: Inventory, use_case: UseCase, field: str) -> Verdict:
    usage = _configuration(inventory, workspace, use_case)
    named = usage.configuration_id if usage else None
    evidence: tuple[Evidence, ...] = (Evidence(field, named, workspace.id, field),)
    label = use_case.scope.label
    if named is None:
        return Verdict(Status.FAIL, f"no customer-managed key configuration is set for {label} ({field})", evidence)
    configuration = inventory.aws.configurations.get(named)
    if configuration is None:
        return Verdict(
            Status.UNKNOWN,
            unread_reason(usage.unread if usage else None, f"key configuration {named} was not read"),
            evidence,
        )
    evidence += (
        Evidence("use_cases", tuple(c.value for c in configuration.use_cases), named, "use_cases"),
        Evidence("key_arn", configuration.key_arn, named, "aws_key_info.key_arn"),
    )
    if use_case not in configuration.use_cases:
        return Verdict(
            Status.FAIL,
            f"key configuration {named} is set for {label} but its use_cases do not include {use_case.value}",
            evidence,
        )
    return Verdict(Status.PASS, f"{label} use key configuration {named} ({configuration.key_arn})", evidence)


def check_managed_services_key(workspace: AwsWorkspace, inventory: Inventory, settings: Settings) -> Verdict:
    """AWS-02: managed services use a customer-managed key."""
    return _use_case_check(workspace, inventory, UseCase.MANAGED_SERVICES, "managed_services_customer_managed_key_id")


def check_storage_key(workspace: AwsWorkspace, inventory: Inventory, settings: Settings) -> Verdict:
    """AWS-03: workspace storage (the root S3 bucket) uses a customer-managed key."""
    return _use_case_check(workspace, inventory, UseCase.STORAGE, "storage_customer_managed_key_id")


def check_cluster_volumes(workspace: AwsWorkspace, inventory: Inventory, settings: Settings) -> Verdict:
    """AWS-04: cluster EBS volumes are encrypted with the storage key (`reuse_key_for_cluster_volumes`)."""
    usage = _configuration(inventory, workspace, UseCase.STORAGE)
    if usage is None or usage.configuration_id is None:
        return Verdict(
            Status.FAIL,
            "the workspace has no storage key configuration, so cluster EBS volumes are not encrypted with a "
            "customer-managed key (see AWS-03)",
            (Evidence("storage_customer_managed_key_id", None, workspace.id, "storage_customer_managed_key_id"),),
        )
    configuration = inventory.aws.configurations.get(usage.configuration_id)
    if configuration is None:
        return Verdict(Status.UNKNOWN, unread_reason(usage.unread, "the storage key configuration was not read"))
    evidence = (
        Evidence(
            "reuse_key_for_cluster_volumes",
            configuration.reuse_key_for_cluster_volumes,
            configuration.id,
            "aws_key_info.reuse_key_for_cluster_volumes",
        ),
    )
    if configuration.reuse_key_for_cluster_volumes is False:
        return Verdict(
            Status.FAIL,
            f"key configuration {configuration.id} does not reuse its key for cluster volumes: EBS volumes are "
            "encrypted with AWS's default EBS key, or with the account's EBS-by-default key if one is set, not with "
            "this customer-managed key",
            evidence,
        )
    note = "" if configuration.reuse_key_for_cluster_volumes else " (not set: the account API's default is true)"
    return Verdict(
        Status.PASS, f"cluster EBS volumes are encrypted with the storage key {configuration.key_arn}{note}", evidence
    )


AWS_SCOPE_CHECKS: dict[str, Callable[[AwsWorkspace, Inventory, Settings], Verdict]] = {
    "AWS-02": check_managed_services_key,
    "AWS-03": check_storage_key,
    "AWS-04": check_cluster_volumes,
}


def check_sensitive_workspace(workspace: AwsWorkspace, inventory: Inventory, settings: Settings) -> Verdict:
    """AWS-12: a workspace tagged sensitive (custom_tags) has customer-managed keys on every use case."""
    evidence = (
        Evidence(
            "custom_tags",
            tuple(f"{k}={v}" for k, v in sorted(workspace.custom_tags.items())),
            workspace.id,
            "custom_tags",
        ),
    )
    if not settings.is_sensitive(workspace.custom_tags):
        return Verdict(Status.NOT_APPLICABLE, "the workspace is not tagged as holding sensitive data", evidence)
    verdicts = {cid: check(workspace, inventory, settings) for cid, check in AWS_SCOPE_CHECKS.items()}
    failing = sorted(cid for cid, v in verdicts.items() if v.status is Status.FAIL)
    if failing:
        return Verdict(Status.FAIL, f"this sensitive workspace fails {', '.join(failing)}", evidence)
    unknown = sorted(cid for cid, v in verdicts.items() if v.status is Status.UNKNOWN)
    if unknown:
        return Verdict(
            Status.UNKNOWN, f"{', '.join(unknown)} could not be decided for this sensitive workspace", evidence
        )
    return Verdict(Status.PASS, "this sensitive workspace uses customer-managed keys on every use case", evidence)


# --- key controls ------------------------------------------------------------------------------------------------


def resolved_key(usage: AwsKeyUsage, inventory: Inventory) -> Verdict | tuple[KmsKey, KeyConfiguration]:
    """The use case's KMS key and configuration, or the verdict when there is none to judge."""
    if usage.configuration_id is None:
        return Verdict(
            Status.NOT_APPLICABLE,
            f"the {usage.use_case.scope.label} use case has no customer-managed key (see "
            f"{'AWS-02' if usage.use_case is UseCase.MANAGED_SERVICES else 'AWS-03'})",
        )
    configuration = inventory.aws.configurations.get(usage.configuration_id)
    key = inventory.aws.keys.get((usage.key_arn or "").lower())
    if configuration is None or key is None or key.unread is not None:
        return Verdict(
            Status.UNKNOWN,
            unread_reason(usage.unread, f"the KMS key of configuration {usage.configuration_id} was not read"),
            (Evidence("key_arn", usage.key_arn, usage.configuration_id, "aws_key_info.key_arn"),),
        )
    return key, configuration


def _key_check(
    judge: Callable[[AwsKeyUsage, KmsKey, KeyConfiguration, Inventory, Settings], Verdict],
) -> Callable[[AwsKeyUsage, Inventory, Settings], Verdict]:
    def check(usage: AwsKeyUsage, inventory: Inventory, settings: Settings) -> Verdict:
        resolved = resolved_key(usage, inventory)
        if isinstance(resolved, Verdict):
            return resolved
        return judge(usage, resolved[0], resolved[1], inventory, settings)

    check.__doc__ = judge.__doc__
    return check


def _workspace(inventory: Inventory, usage: AwsKeyUsage) -> AwsWorkspace:
    return inventory.aws.workspaces[usage.workspace_id]


def _key_state(usage: AwsKeyUsage, key: KmsKey, _: KeyConfiguration, inventory: Inventory, s: Settings) -> Verdict:
    """AWS-05: the KMS key is enabled (not pending deletion, disabled or unavailable), in the workspace's region."""
    workspace = _workspace(inventory, usage)
    evidence = (
        Evidence("KeyState", key.key_state, key.arn, "DescribeKey KeyMetadata.KeyState"),
        Evidence(
            "DeletionDate",
            key.deletion_date.isoformat() if key.deletion_date else None,
            key.arn,
            "DescribeKey KeyMetadata.DeletionDate",
        ),
        Evidence("key region", key.region, key.arn, "ARN"),
        Evidence("workspace region", workspace.region, workspace.id, "aws_region"),
    )
    if key.key_state in BROKEN_STATES:
        when = f", deletion on {key.deletion_date:%Y-%m-%d}" if key.deletion_date else ""
        return Verdict(
            Status.FAIL,
            f"KMS key {key.arn} is {key.key_state}{when}: Databricks can no longer use it, and the data it protects "
            "becomes unreadable",
            evidence,
        )
    if key.key_state is None:
        return Verdict(Status.UNKNOWN, f"KMS key {key.arn} did not report its state", evidence)
    if key.region and workspace.region and key.region != workspace.region:
        return Verdict(
            Status.FAIL, f"KMS key {key.arn} is in {key.region}, the workspace in {workspace.region}", evidence
        )
    if key.key_state != "Enabled":
        return Verdict(Status.UNKNOWN, f"KMS key {key.arn} is in state {key.key_state}", evidence)
    if not workspace.region:
        return Verdict(Status.UNKNOWN, "the account API did not report the workspace's region", evidence)
    return Verdict(Status.PASS, f"KMS key {key.arn} is enabled, in the workspace's region {key.region}", evidence)


def _key_kind(usage: AwsKeyUsage, key: KmsKey, _: KeyConfiguration, inventory: Inventory, s: Settings) -> Verdict:
    """AWS-06: a symmetric (SYMMETRIC_DEFAULT, ENCRYPT_DECRYPT) customer-managed key."""
    evidence = (
        Evidence("KeySpec", key.key_spec, key.arn, "DescribeKey KeyMetadata.KeySpec"),
        Evidence("KeyManager", key.key_manager, key.arn, "DescribeKey KeyMetadata.KeyManager"),
        Evidence("KeyUsage", key.key_usage, key.arn, "DescribeKey KeyMetadata.KeyUsage"),
    )
    problems = []
    if key.key_spec and key.key_spec != "SYMMETRIC_DEFAULT":
        problems.append(f"its key spec is {key.key_spec}, not SYMMETRIC_DEFAULT")
    if key.key_manager and key.key_manager != "CUSTOMER":
        problems.append(f"it is managed by {key.key_manager}, not by the customer")
    if key.key_usage and key.key_usage != "ENCRYPT_DECRYPT":
        problems.append(f"its usage is {key.key_usage}")
    if problems:
        return Verdict(Status.FAIL, f"KMS key {key.arn}: " + "; ".join(problems), evidence)
    if not (key.key_spec and key.key_manager and key.key_usage):
        return Verdict(Status.UNKNOWN, f"KMS key {key.arn} did not report its spec, manager and usage", evidence)
    return Verdict(Status.PASS, f"KMS key {key.arn} is a symmetric customer-managed key", evidence)


def _age_days(now: datetime, then: datetime) -> int:
    return (now - then).days


def _rotation(
    usage: AwsKeyUsage, key: KmsKey, _: KeyConfiguration, inventory: Inventory, settings: Settings
) -> Verdict:
    """AWS-07: automatic rotation is on, at most every `rotation_max_days`, and the current material is not older."""
    cadence = settings.rotation_max_days
    evidence = [
        Evidence("KeyRotationEnabled", key.rotation_enabled, key.arn, "GetKeyRotationStatus"),
        Evidence("RotationPeriodInDays", key.rotation_period_days, key.arn, "GetKeyRotationStatus"),
        Evidence("Origin", key.origin, key.arn, "DescribeKey KeyMetadata.Origin"),
    ]
    if key.origin and key.origin != "AWS_KMS":
        return Verdict(
            Status.FAIL,
            f"KMS key {key.arn} has key material of origin {key.origin}: KMS cannot rotate it automatically",
            tuple(evidence),
        )
    if key.rotation_enabled is None:
        return Verdict(
            Status.UNKNOWN, unread_reason(key.rotation_unread, "the rotation status was not read"), tuple(evidence)
        )
    if not key.rotation_enabled:
        return Verdict(Status.FAIL, f"KMS key {key.arn} does not rotate automatically", tuple(evidence))
    period = key.rotation_period_days if key.rotation_period_days is not None else 365
    assumed = "" if key.rotation_period_days is not None else " (no period reported: KMS's default, 365 days)"
    if period > cadence:
        return Verdict(
            Status.FAIL,
            f"KMS key {key.arn} rotates every {period} days{assumed}, longer than the {cadence}-day cadence "
            "(KMS allows 90 to 2560)",
            tuple(evidence),
        )
    if key.rotations is None:
        return Verdict(
            Status.UNKNOWN, unread_reason(key.rotations_unread, "the key's rotations were not read"), tuple(evidence)
        )
    latest = max((r.rotation_date for r in key.rotations), default=key.created)
    if latest is None:
        return Verdict(
            Status.UNKNOWN, f"neither a rotation nor the creation date of {key.arn} is known", tuple(evidence)
        )
    age = _age_days(inventory.collected_at, latest)
    evidence.append(
        Evidence("current key material since", latest.isoformat(), key.arn, "ListKeyRotations / CreationDate")
    )
    if age > cadence:
        return Verdict(
            Status.FAIL,
            f"the current key material of {key.arn} is {age} days old, older than the {cadence}-day cadence",
            tuple(evidence),
        )
    return Verdict(
        Status.PASS,
        f"KMS key {key.arn} rotates every {period} days; its current material is {age} days old",
        tuple(evidence),
    )


def _principal(key: KmsKey, settings: Settings) -> str | None:
    partition = key.arn.split(":", 2)[1] if key.arn.count(":") >= 2 else ""
    return dict(settings.databricks_aws_principals).get(partition) or DATABRICKS_PRINCIPALS.get(partition)


def _policy_or_verdict(key: KmsKey, settings: Settings) -> tuple[tuple[PolicyStatement, ...], str] | Verdict:
    if key.policy is None:
        return Verdict(Status.UNKNOWN, unread_reason(key.policy_unread, f"the key policy of {key.arn} was not read"))
    principal = _principal(key, settings)
    if principal is None:
        return Verdict(
            Status.UNKNOWN,
            f"Databricks' principal in the partition of {key.arn} is not built into cmkaudit (only the commercial "
            "partition's, arn:aws:iam::414351767826:root); give it in the configuration's databricks_aws_principals",
        )
    return key.policy, principal


def _needed(usage: AwsKeyUsage, configuration: KeyConfiguration) -> tuple[str, ...]:
    needed = NEEDED[usage.use_case]
    if usage.use_case is UseCase.STORAGE and configuration.reuse_key_for_cluster_volumes is not False:
        needed += GRANTS
    return needed


def _statements_evidence(key: KmsKey, statements: tuple[PolicyStatement, ...], principal: str) -> Evidence:
    shown = tuple(
        f"{s.sid or '(no Sid)'}: {s.effect} {', '.join(s.actions)}"
        + (f" if {'; '.join(s.conditions)}" if s.conditions else "")
        for s in statements
        if names_principal(s, principal)
    )
    return Evidence(f"statements naming {principal}", shown, key.arn, "GetKeyPolicy Policy.Statement")


def _databricks_grants(
    usage: AwsKeyUsage, key: KmsKey, configuration: KeyConfiguration, inventory: Inventory, s: Settings
) -> Verdict:
    """AWS-08: the key policy lets Databricks' principal do what the use case needs."""
    found = _policy_or_verdict(key, s)
    if isinstance(found, Verdict):
        return found
    statements, principal = found
    needed = _needed(usage, configuration)
    concrete = [c for action in needed for c in _CONCRETE.get(action, (action,))]
    result = granted(statements, principal, concrete)
    missing = sorted({a for a in needed if not all(result.may(c) for c in _CONCRETE.get(a, (a,)))})
    evidence = (_statements_evidence(key, statements, principal),)
    if missing:
        statement = json.dumps(
            {
                "Sid": f"Allow Databricks {usage.use_case.value}",
                "Effect": "Allow",
                "Principal": {"AWS": principal},
                "Action": missing,
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:PrincipalTag/DatabricksAccountId": [_account(inventory, usage)]}},
            }
        )
        return Verdict(
            Status.FAIL,
            f"the key policy of {key.arn} does not let Databricks ({principal}) {', '.join(missing)} for "
            f"{usage.use_case.scope.label}; add: {statement}",
            evidence,
        )
    return Verdict(
        Status.PASS,
        f"the key policy lets Databricks ({principal}) {', '.join(needed)} for {usage.use_case.scope.label}",
        evidence,
    )


def _account(inventory: Inventory, usage: AwsKeyUsage) -> str:
    return _workspace(inventory, usage).account_id


def _databricks_scoped(
    usage: AwsKeyUsage, key: KmsKey, configuration: KeyConfiguration, inventory: Inventory, s: Settings
) -> Verdict:
    """AWS-09: Databricks' grants are no broader than needed, and only for your Databricks account."""
    found = _policy_or_verdict(key, s)
    if isinstance(found, Verdict):
        return found
    statements, principal = found
    account = _account(inventory, usage)
    needed = NEEDED[UseCase.STORAGE] + GRANTS  # a key shared by both use cases may grant all of these
    evidence = (_statements_evidence(key, statements, principal),)
    beyond = allowed_beyond(statements, principal, needed)
    unscoped = [
        st.sid or "(no Sid)"
        for st in statements
        if st.effect == "Allow"
        and names_principal(st, principal)
        and not any(
            key_name == ACCOUNT_TAG_KEY and account in condition
            for key_name, condition in zip(st.condition_keys, st.conditions, strict=True)
        )
    ]
    problems = []
    if beyond:
        problems.append(f"Databricks ({principal}) is also allowed {', '.join(beyond)}")
    if unscoped:
        problems.append(
            f"statement(s) {', '.join(unscoped)} grant Databricks' principal without the condition "
            f"aws:PrincipalTag/DatabricksAccountId = {account}: any Databricks account could use the key (confused "
            "deputy)"
        )
    if problems:
        return Verdict(Status.FAIL, f"key policy of {key.arn}: " + "; ".join(problems), evidence)
    if not any(st.effect == "Allow" and names_principal(st, principal) for st in statements):
        return Verdict(Status.NOT_APPLICABLE, "the key policy grants Databricks nothing (see AWS-08)", evidence)
    return Verdict(
        Status.PASS,
        f"Databricks' grants on {key.arn} are limited to what the use cases need and to account {account}",
        evidence,
    )


def _key_administrators(
    usage: AwsKeyUsage, key: KmsKey, _: KeyConfiguration, inventory: Inventory, settings: Settings
) -> Verdict:
    """AWS-10: only break-glass principals may delete, disable or re-policy the key; no unconditioned "*"."""
    if key.policy is None:
        return Verdict(Status.UNKNOWN, unread_reason(key.policy_unread, f"the key policy of {key.arn} was not read"))
    allowed = {p.lower() for p in settings.break_glass_principals}
    problems: list[str] = []
    delegated: list[str] = []
    holders: list[str] = []
    for statement in key.policy:
        if statement.effect != "Allow":
            continue
        actions = [a for a in DESTRUCTIVE if covers_action(statement, a)]
        if not actions:
            continue
        for principal in statement.principals or ("(service)",):
            if principal == "*":
                if not statement.conditions:
                    problems.append(f'everyone ("*", statement {statement.sid or "(no Sid)"}) may {", ".join(actions)}')
                else:
                    holders.append(f"* if {'; '.join(statement.conditions)}")
                continue
            if is_account_root(principal):
                delegated.append(principal)
                continue
            holders.append(principal)
            if principal.lower() not in allowed:
                problems.append(f"{principal} may {', '.join(actions)}")
    evidence: tuple[Evidence, ...] = (
        Evidence("may delete, disable or re-policy the key", tuple(sorted(set(holders))), key.arn, "GetKeyPolicy"),
        Evidence("break-glass principals", tuple(sorted(allowed)), None, "configuration"),
    )
    if problems:
        return Verdict(Status.FAIL, f"on {key.arn}: " + "; ".join(sorted(set(problems))), evidence)
    if delegated and key.iam_holders is not None:
        through_iam = [h for h in key.iam_holders if h.split(" ", 1)[0].lower() not in allowed]
        evidence += (Evidence("may by IAM", key.iam_holders, key.arn, "GetAccountAuthorizationDetails"),)
        if through_iam:
            return Verdict(
                Status.FAIL,
                f"the key policy of {key.arn} delegates to its account's IAM, where these may delete, disable or "
                f"re-policy it: {'; '.join(through_iam)}",
                evidence,
            )
    elif delegated:
        accounts = ", ".join(sorted(set(delegated)))
        why = unread_reason(
            key.iam_unread, "its IAM policies were not read (the scanner needs iam:GetAccountAuthorizationDetails)"
        )
        return Verdict(
            Status.UNKNOWN,
            f"the key policy of {key.arn} delegates these actions to the IAM policies of {accounts}, which were not "
            f"evaluated: {why}",
            evidence,
        )
    return Verdict(Status.PASS, f"only break-glass principals may delete, disable or re-policy {key.arn}", evidence)


def _environment(tags: dict[str, str], tag: str) -> str | None:
    return next((v for k, v in tags.items() if k.lower() == tag.lower()), None)


def check_key_not_shared(usage: AwsKeyUsage, inventory: Inventory, settings: Settings) -> Verdict:
    """AWS-11: the key is not shared by workspaces of different environments."""
    resolved = resolved_key(usage, inventory)
    if isinstance(resolved, Verdict):
        return resolved
    key = resolved[0]
    workspace = _workspace(inventory, usage)
    mine = _environment(workspace.custom_tags, settings.environment_tag)
    others = sorted(
        {
            (w.name, _environment(w.custom_tags, settings.environment_tag) or "(untagged)")
            for u in inventory.aws_key_usages
            if u.key_arn and u.key_arn.lower() == key.arn.lower() and u.workspace_id != workspace.id
            for w in (inventory.aws.workspaces[u.workspace_id],)
        }
    )
    evidence = (
        Evidence("workspaces sharing the key", tuple(f"{n} ({e})" for n, e in others), key.arn, "key configurations"),
    )
    if mine is None:
        return Verdict(Status.UNKNOWN, f"the workspace has no {settings.environment_tag} tag", evidence)
    different = [f"{n} ({e})" for n, e in others if e.lower() != mine.lower()]
    if different:
        return Verdict(
            Status.FAIL,
            f"KMS key {key.arn} is also used by workspaces of other environments: {', '.join(different)}",
            evidence,
        )
    return Verdict(Status.PASS, f"no workspace of another environment uses {key.arn}", evidence)


check_key_state = _key_check(_key_state)
check_key_kind = _key_check(_key_kind)
check_rotation = _key_check(_rotation)
check_databricks_grants = _key_check(_databricks_grants)
check_databricks_scoped = _key_check(_databricks_scoped)
check_key_administrators = _key_check(_key_administrators)
