"""The records of Databricks on AWS: workspaces and key configurations of a Databricks account, and the AWS KMS
keys they name, with their policies parsed. Links are resolved once (`AwsKeyUsage`): workspace, use case, key
configuration, KMS key. What could not be read is an `Unread` marker on the record it concerns."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from cmkaudit.inventory.model import Scope, Unread, UnreadWhy


class UseCase(StrEnum):
    """The use cases of a Databricks key configuration (the account API's `use_cases`)."""

    MANAGED_SERVICES = "MANAGED_SERVICES"
    STORAGE = "STORAGE"

    @property
    def scope(self) -> Scope:
        """The scope findings name for it."""
        return Scope.MANAGED_SERVICES if self is UseCase.MANAGED_SERVICES else Scope.WORKSPACE_STORAGE


@dataclass(frozen=True, slots=True)
class AwsWorkspace:
    """A Databricks workspace on AWS, as the account API lists it."""

    id: str
    """`accounts/<account id>/workspaces/<workspace id>`: unique across accounts."""
    account_id: str
    workspace_id: int | None
    name: str
    region: str | None
    pricing_tier: str | None
    status: str | None
    managed_services_key_id: str | None
    """`managed_services_customer_managed_key_id`: the key configuration for managed services, if any."""
    storage_key_id: str | None
    """`storage_customer_managed_key_id`: the key configuration for workspace storage, if any."""
    custom_tags: dict[str, str]
    deployment_name: str | None = None


@dataclass(frozen=True, slots=True)
class KeyConfiguration:
    """A customer-managed key configuration of the account (`/customer-managed-keys`)."""

    id: str
    account_id: str
    key_arn: str | None
    key_alias: str | None
    key_region: str | None
    use_cases: tuple[UseCase, ...]
    reuse_key_for_cluster_volumes: bool | None
    created: datetime | None


MAX_POLICY_ENTRIES = 4096
"""The most principals, actions, resources, conditions or statements one policy document may hold. AWS caps a key
policy at 32 KB and an IAM managed policy at 6,144 characters, so a real document stays far below; a larger one (a
snapshot made by hand) is refused rather than matched pattern by pattern for minutes."""


def oversized(statements: tuple[PolicyStatement, ...]) -> bool:
    """Whether statements (read back from a snapshot) hold more than a policy AWS accepts (MAX_POLICY_ENTRIES)."""
    return len(statements) > MAX_POLICY_ENTRIES or any(
        max(len(s.principals), len(s.actions), len(s.resources), len(s.conditions)) > MAX_POLICY_ENTRIES
        for s in statements
    )


@dataclass(frozen=True, slots=True)
class PolicyStatement:
    """One statement of a key policy, as written (principals and actions normalised to lists)."""

    sid: str | None
    effect: str
    principals: tuple[str, ...]
    """AWS principals: "*" for everyone, account ids, ARNs; `Principal: "*"` and `{"AWS": "*"}` are both "*"."""
    not_principal: bool
    service_principals: tuple[str, ...]
    actions: tuple[str, ...]
    not_action: bool
    resources: tuple[str, ...]
    conditions: tuple[str, ...]
    """Each condition as `Operator key values`, kept as evidence."""
    condition_keys: tuple[str, ...]
    """The condition keys the statement tests (lower-case), e.g. `aws:principaltag/databricksaccountid`."""
    not_resource: bool = False


@dataclass(frozen=True, slots=True)
class KeyRotation:
    """One rotation of a key's material (ListKeyRotations)."""

    rotation_date: datetime
    rotation_type: str | None


@dataclass(frozen=True, slots=True)
class KmsKey:
    """An AWS KMS key named by a key configuration (no key material is ever read)."""

    arn: str
    account_id: str | None
    region: str | None
    key_id: str | None
    enabled: bool | None = None
    key_state: str | None = None
    key_manager: str | None = None
    key_spec: str | None = None
    key_usage: str | None = None
    origin: str | None = None
    multi_region: bool | None = None
    created: datetime | None = None
    deletion_date: datetime | None = None
    rotation_enabled: bool | None = None
    rotation_period_days: int | None = None
    rotations: tuple[KeyRotation, ...] | None = None
    policy: tuple[PolicyStatement, ...] | None = None
    aliases: tuple[str, ...] = ()
    tags: dict[str, str] = field(default_factory=dict)
    unread: Unread | None = None
    """Set when the key itself could not be described: the record then holds its ARN only."""
    policy_unread: Unread | None = None
    rotation_unread: Unread | None = None
    rotations_unread: Unread | None = None
    iam_holders: tuple[str, ...] | None = None
    """When the key policy delegates to its account's IAM: the account's users and roles whose IAM policies let them
    delete, disable or re-policy the key (each with the policy that does). None: not read (`iam_unread` says why)
    or not needed."""
    iam_unread: Unread | None = None


@dataclass(frozen=True, slots=True)
class AwsKeyUsage:
    """One use case of a workspace resolved to its key configuration and KMS key."""

    workspace_id: str
    use_case: UseCase
    configuration_id: str | None
    """None: the workspace names no key configuration for this use case."""
    key_arn: str | None
    unread: Unread | None = None
    """Why the configuration or the key could not be resolved, when it could not."""


@dataclass(frozen=True, slots=True)
class AwsIndex:
    """Lookups by id over an inventory's Databricks-on-AWS records."""

    workspaces: dict[str, AwsWorkspace]
    configurations: dict[str, KeyConfiguration]
    keys: dict[str, KmsKey]
    """By ARN, lower-case."""
    usages: dict[tuple[str, UseCase], AwsKeyUsage]


def build_aws_index(
    workspaces: tuple[AwsWorkspace, ...],
    configurations: tuple[KeyConfiguration, ...],
    keys: tuple[KmsKey, ...],
    usages: tuple[AwsKeyUsage, ...],
) -> AwsIndex:
    return AwsIndex(
        {w.id: w for w in workspaces},
        {c.id: c for c in configurations},
        {k.arn.lower(): k for k in keys},
        {(u.workspace_id, u.use_case): u for u in usages},
    )


def resolve_aws_key_usages(
    workspaces: tuple[AwsWorkspace, ...],
    configurations: tuple[KeyConfiguration, ...],
    keys: tuple[KmsKey, ...],
    configurations_unread: Unread | None = None,
) -> tuple[AwsKeyUsage, ...]:
    """Each workspace's two use cases resolved to their key configuration and KMS key (or why not)."""
    by_id = {c.id: c for c in configurations}
    by_arn = {k.arn.lower(): k for k in keys}
    usages = []
    for workspace in workspaces:
        for use_case, named in (
            (UseCase.MANAGED_SERVICES, workspace.managed_services_key_id),
            (UseCase.STORAGE, workspace.storage_key_id),
        ):
            if not named:
                usages.append(AwsKeyUsage(workspace.id, use_case, None, None))
                continue
            configuration = by_id.get(named)
            if configuration is None:
                unread = configurations_unread or Unread(
                    UnreadWhy.NOT_FOUND,
                    f"key configuration {named} is not among the account's customer-managed keys",
                )
                usages.append(AwsKeyUsage(workspace.id, use_case, named, None, unread))
                continue
            key = by_arn.get((configuration.key_arn or "").lower())
            missing: Unread | None = None
            if configuration.key_arn is None:
                missing = Unread(UnreadWhy.NOT_FOUND, f"key configuration {named} names no AWS KMS key")
            elif key is None:
                missing = Unread(UnreadWhy.NOT_FOUND, f"the KMS key {configuration.key_arn} was not read")
            elif key.unread is not None:
                missing = key.unread
            usages.append(AwsKeyUsage(workspace.id, use_case, named, configuration.key_arn, missing))
    return tuple(usages)
