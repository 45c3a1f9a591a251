"""Shards merged into one inventory: a large tenant scanned as a matrix of jobs, evaluated as one scan.

Each shard is an inventory saved by `cmkaudit scan ... --save-snapshot`. Records are merged by id: a record
seen by several shards (a central vault every shard lists, a key two shards read) is kept once when the copies
agree; copies that disagree are reported, never silently picked. Collection errors of every shard are kept, and
the links between records (a workspace in one shard, its key's vault in another) are resolved again over the
whole, so cross-subscription links and sharing across environments are judged as if one scan had seen it all.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, fields, is_dataclass, replace
from typing import Protocol, TypeVar

from cmkaudit.errors import SnapshotError
from cmkaudit.ids import id_key
from cmkaudit.inventory import Inventory, assemble_inventory
from cmkaudit.inventory.aws import KmsKey
from cmkaudit.inventory.model import GroupMembers, GroupMembership, Key, PrincipalLookup, ScanScope, Vault
from cmkaudit.text import printable

T = TypeVar("T")

AWS_CLOUD = "aws"
"""The cloud of an inventory of a Databricks account on AWS (sources/databricks_aws.py)."""

MAX_CONFLICTS_SHOWN = 3


@dataclass(frozen=True, slots=True)
class Shard:
    """One inventory to merge, and where it came from (a file name, for messages)."""

    origin: str
    inventory: Inventory


class _Record(Protocol):
    """What the merge needs of a record: an id (records are frozen dataclasses)."""

    @property
    def id(self) -> str: ...


def _by_id(record: _Record) -> Hashable:
    return id_key(record.id)


_GAPS: dict[type, dict[str, str]] = {
    Vault: {"diagnostic_settings": "diagnostic_settings_unread", "role_assignments": "role_assignments_unread"},
    Key: {"rotation_policy": "rotation_policy_unread", "versions": "versions_unread"},
    KmsKey: {
        "policy": "policy_unread",
        "rotation_enabled": "rotation_unread",
        "rotation_period_days": "rotation_unread",
        "rotations": "rotations_unread",
        "iam_holders": "iam_unread",
    },
}
"""The fields whose None means "not read" (each with the field that says why), by record type. Everywhere else
None is a value (a vault without purge protection has none), and a copy that says None where another says True
contradicts it."""


def _combined(first: T, second: T) -> T | None:
    """One record from two copies of it: the same, or each telling what the other did not read (a vault listed by
    one shard, and also read in detail by another that uses its key; a key one shard could not read at all); None
    when they contradict each other in any field, null included."""
    if first == second:
        return first
    if not is_dataclass(first) or isinstance(first, type):
        return None
    whole = "unread" if any(f.name == "unread" for f in fields(first)) else None
    if whole is not None and (getattr(first, whole) is None) != (getattr(second, whole) is None):
        return first if getattr(first, whole) is None else second  # the copy that was read
    gaps = _GAPS.get(type(first), {})
    reasons = set(gaps.values())
    changes = {}
    for field in fields(first):
        mine, theirs = getattr(first, field.name), getattr(second, field.name)
        if mine == theirs or field.name in reasons:
            continue
        if field.name not in gaps:
            return None
        if mine is None:
            changes[field.name] = theirs
            changes[gaps[field.name]] = getattr(second, gaps[field.name])
        elif theirs is not None:
            return None
    return replace(first, **changes)


def _merged(
    shards: Sequence[Shard], records: Callable[[Inventory], Iterable[T]], key: Callable[[T], Hashable], what: str
) -> tuple[list[T], list[str]]:
    """The distinct records of every shard, first seen first; and the conflicts (same id, contradictory content)."""
    kept: dict[Hashable, tuple[T, str]] = {}
    conflicts: list[str] = []
    for shard in shards:
        for record in records(shard.inventory):
            seen = kept.get(key(record))
            if seen is None:
                kept[key(record)] = (record, shard.origin)
                continue
            combined = _combined(seen[0], record)
            if combined is None:
                conflicts.append(f"{what} {printable(key(record))} differs between {seen[1]} and {shard.origin}")
            else:
                kept[key(record)] = (combined, seen[1])
    return [record for record, _ in kept.values()], conflicts


def _lookups(inventories: Sequence[Inventory], conflicts: list[str]) -> list[PrincipalLookup]:
    """The AzureDatabricks service principal per tenant: a lookup that found it wins over one that could not look
    (a shard without Graph access); two that found different ones contradict each other."""
    chosen: dict[str, PrincipalLookup] = {}
    for lookup in (p for i in inventories for p in i.principals):
        tenant = lookup.tenant_id.lower()
        seen = chosen.get(tenant)
        if seen is None or (seen.object_id is None and lookup.object_id):
            chosen[tenant] = lookup
        elif lookup.object_id and seen.object_id and lookup.object_id.lower() != seen.object_id.lower():
            conflicts.append(f"the AzureDatabricks service principal of tenant {printable(tenant)} differs")
    return list(chosen.values())


def _one(values: Iterable[str], what: str, shards: Sequence[Shard]) -> str:
    distinct = sorted(set(values))
    if len(distinct) != 1:
        origins = ", ".join(s.origin for s in shards)
        raise SnapshotError(
            f"the snapshots {origins} were not taken of the same {what}: {', '.join(map(printable, distinct))}",
            "merge only shards of one scan (the same cloud and Resource Manager endpoint)",
        )
    return distinct[0]


def _memberships(inventories: Sequence[Inventory], conflicts: list[str]) -> list[GroupMembership]:
    """Each identity's groups across the shards: what a shard read wins over what another could not; shards that
    read different groups contradict each other."""
    found: dict[str, list[GroupMembership]] = {}
    for membership in (m for i in inventories for m in i.memberships):
        found.setdefault(membership.principal_id.lower(), []).append(membership)
    merged = []
    for principal, copies in found.items():
        read = {m.groups for m in copies if m.groups is not None}
        if len(read) > 1:
            conflicts.append(f"the groups of identity {printable(principal)} differ between shards")
        merged.append(next((m for m in copies if m.groups is not None), copies[0]))
    return merged


def _group_members(inventories: Sequence[Inventory], conflicts: list[str]) -> list[GroupMembers]:
    """Each group's members across the shards: a shard that read them wins over one that could not; shards that
    read different members contradict each other."""
    found: dict[str, GroupMembers] = {}
    for members in (g for i in inventories for g in i.group_members):
        key = members.group_id.lower()
        kept = found.get(key)
        if kept is None or (kept.is_group is None and members.is_group is not None):
            found[key] = members
        elif members.is_group is not None and (members.is_group, members.members) != (kept.is_group, kept.members):
            conflicts.append(f"the members of group {printable(members.group_id)} differ between shards")
    return list(found.values())


def merge_inventories(shards: Sequence[Shard]) -> Inventory:
    """One inventory from several shards (one shard is returned as it is).

    Raises SnapshotError when the shards come from different clouds or endpoints, or hold contradictory copies
    of a record. The merged inventory is as of the latest shard's collection time (key ages and expiries are
    then judged no more leniently than any shard would be).
    """
    if len(shards) == 1:
        return shards[0].inventory
    inventories = [s.inventory for s in shards]
    # A Databricks account on AWS may be evaluated with Azure shards (a company with both): the Azure shards must
    # agree on their cloud and endpoint; the AWS ones bring their accounts.
    azure = [s for s in shards if s.inventory.scope.cloud != AWS_CLOUD] or list(shards)
    cloud = _one((s.inventory.scope.cloud for s in azure), "cloud", azure)
    endpoint = _one((s.inventory.scope.arm_endpoint for s in azure), "Resource Manager endpoint", azure)
    if cloud != AWS_CLOUD and any(i.scope.cloud == AWS_CLOUD for i in inventories):
        cloud = f"{cloud} + {AWS_CLOUD}"
    conflicts: list[str] = []

    def merged(records: Callable[[Inventory], Iterable[T]], key: Callable[[T], Hashable], what: str) -> list[T]:
        kept, found = _merged(shards, records, key, what)
        conflicts.extend(found)
        return kept

    subscriptions = merged(lambda i: i.subscriptions, lambda s: s.id.lower(), "subscription")
    workspaces = merged(lambda i: i.workspaces, _by_id, "workspace")
    vaults = merged(lambda i: i.vaults, _by_id, "key vault")
    keys = merged(lambda i: i.keys, _by_id, "key")
    sets = merged(lambda i: i.disk_encryption_sets, _by_id, "disk encryption set")
    accounts = merged(lambda i: i.storage_accounts, _by_id, "storage account")
    principals = _lookups(inventories, conflicts)
    definitions = merged(lambda i: i.role_definitions, _by_id, "role definition")
    aws_workspaces = merged(lambda i: i.aws_workspaces, lambda w: w.id, "workspace on AWS")
    configurations = merged(lambda i: i.key_configurations, lambda c: f"{c.account_id}/{c.id}", "key configuration")
    kms_keys = merged(lambda i: i.kms_keys, lambda k: k.arn.lower(), "KMS key")
    memberships = _memberships(inventories, conflicts)
    group_members = _group_members(inventories, conflicts)
    if conflicts:
        more = len(conflicts) - MAX_CONFLICTS_SHOWN
        shown = "; ".join(conflicts[:MAX_CONFLICTS_SHOWN]) + (f"; and {more} more" if more > 0 else "")
        raise SnapshotError(
            f"the shards disagree: {shown}",
            "the same resource was read twice with different results (a change between the shards' scans, or "
            "shards that overlap): re-run the shards that overlap, or scan each subscription in one shard only",
        )
    errors = {(id_key(e.resource_id), e.operation, e.message): e for i in inventories for e in i.errors}
    scope = ScanScope(
        subscriptions=tuple(dict.fromkeys(s for i in inventories for s in i.scope.subscriptions)),
        arm_endpoint=endpoint,
        cloud=cloud,
        skipped=tuple(dict.fromkeys(s for i in inventories for s in i.scope.skipped)),
        sources=tuple(dict.fromkeys(p for i in inventories for p in i.scope.sources)),
        notes=tuple(dict.fromkeys(n for i in inventories for n in i.scope.notes)),
        accounts=tuple(dict.fromkeys(a for i in inventories for a in i.scope.accounts)),
    )
    return assemble_inventory(
        collected_at=max(i.collected_at for i in inventories),
        tool_version=", ".join(dict.fromkeys(i.tool_version for i in inventories)),
        scope=scope,
        subscriptions=subscriptions,
        workspaces=workspaces,
        vaults=vaults,
        keys=keys,
        disk_encryption_sets=sets,
        storage_accounts=accounts,
        principals=principals,
        errors=list(errors.values()),
        role_definitions=definitions,
        unlisted=list({(u.subscription_id.lower(), u.kind): u for i in inventories for u in i.unlisted}.values()),
        aws_workspaces=aws_workspaces,
        key_configurations=configurations,
        kms_keys=kms_keys,
        memberships=memberships,
        group_members=group_members,
    )
