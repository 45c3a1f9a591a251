"""Governance controls: blast radius of shared keys, and data classification driving the scope controls."""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain, islice

from cmkaudit.evaluate.checks._common import SubjectCheck, not_applicable_or_unresolved, workspace_by_id
from cmkaudit.evaluate.checks.workspace import check_dbfs_root_cmk, check_managed_disk_cmk, check_managed_services_cmk
from cmkaudit.evaluate.model import Evidence, Settings, Status, Verdict
from cmkaudit.ids import id_key
from cmkaudit.inventory import Inventory
from cmkaudit.inventory.model import KeyUsage, Workspace


def tag_value(tags: Mapping[str, str], name: str) -> str | None:
    """A tag's value, with the tag name compared case-insensitively (Azure tag names are)."""
    return next((v for k, v in tags.items() if k.lower() == name.lower()), None)


LISTED_NEIGHBOURS = 5
"""GOV-01 names at most this many of the workspaces sharing a key or vault (those that make it fail first) and
counts the rest by environment: with a central vault, thousands of workspaces share one."""


@dataclass(frozen=True, slots=True)
class KeyPlace:
    """Where a scope's key lives (its key and vault ids) and the workspace it encrypts: all GOV-01 looks at,
    so the scopes of a workspace on one key are judged once."""

    workspace: Workspace
    key_id: str | None
    vault_id: str | None


def the_place(place: KeyPlace) -> Hashable:
    """Two places are the same when their workspace, key and vault are."""
    return (
        id(place.workspace),
        id_key(place.key_id) if place.key_id else None,
        id_key(place.vault_id) if place.vault_id else None,
    )


def key_place(usage: KeyUsage, inventory: Inventory) -> Verdict | KeyPlace:
    """The scope's workspace, key and vault, or the verdict for a scope without a resolved key."""
    early = not_applicable_or_unresolved(usage)
    if early:
        return early
    return KeyPlace(workspace_by_id(inventory, usage.workspace_id), usage.key_id, usage.vault_id)


@dataclass(frozen=True, slots=True)
class _Sharer:
    """A workspace on a vault (or key), and its environment."""

    workspace: Workspace
    environment: str | None


@dataclass(frozen=True, slots=True)
class _Sharing:
    """Every workspace whose scopes use one vault (or, if the vault is not known, one key), grouped by
    environment (lower case, in order; None, the untagged, last), each group in id order."""

    by_environment: dict[str | None, list[_Sharer]]
    members: frozenset[str]
    """The workspaces' comparable ids."""


def _sharing(usages: Iterable[KeyUsage], inventory: Inventory, tag: str) -> _Sharing:
    """The workspaces of `usages`, by environment."""
    workspaces = inventory.index.workspaces
    members = {id_key(usage.workspace_id) for usage in usages}
    groups: dict[str | None, list[_Sharer]] = {}
    for key in sorted(members):
        workspace = workspaces[key]
        environment = tag_value(workspace.tags, tag)
        groups.setdefault(environment.lower() if environment else None, []).append(_Sharer(workspace, environment))
    in_order = dict(sorted(groups.items(), key=lambda group: (group[0] is None, group[0] or "")))
    return _Sharing(in_order, frozenset(members))


def _named(sharers: list[_Sharer], total: int, on_key: frozenset[str]) -> str:
    shown = ", ".join(f"{s.workspace.name} ({s.environment}, same {_what(s, on_key)})" for s in sharers)
    return shown + (f" and {total - len(sharers)} more" if total > len(sharers) else "")


def _what(sharer: _Sharer, on_key: frozenset[str]) -> str:
    """What `sharer` shares with the workspace judged: its "key", or only its "vault"."""
    return "key" if id_key(sharer.workspace.id) in on_key else "vault"


def _judge_place(place: KeyPlace, sharing: _Sharing, on_key: frozenset[str], settings: Settings) -> Verdict:
    """GOV-01 for one workspace, given every workspace on its vault (itself included) and those on its key. It
    looks at no more of the others than it names, so a vault shared by thousands costs little per workspace."""
    workspace, tag = place.workspace, settings.environment_tag
    mine = tag_value(workspace.tags, tag)
    own = mine.lower() if mine else None
    myself = id_key(workspace.id) in sharing.members
    others = len(sharing.members) - myself
    evidence = [Evidence(f"tag {tag}", mine, workspace.id, "tags")]
    if not others:
        return Verdict(Status.PASS, "no other scanned workspace uses this key or its vault", tuple(evidence))
    groups = sharing.by_environment
    counts = {env: len(group) - (myself and env == own) for env, group in groups.items()}

    def besides_me(env: str | None) -> Iterator[_Sharer]:
        return (s for s in groups.get(env, ()) if s.workspace is not workspace)

    crossing = [env for env in groups if env is not None and env != own]
    crossing_count = sum(counts[env] for env in crossing)
    first_crossing = list(islice(chain.from_iterable(groups[env] for env in crossing), LISTED_NEIGHBOURS))
    first_untagged = list(islice(besides_me(None), LISTED_NEIGHBOURS))
    alike = besides_me(own) if own else iter(())
    for sharer in islice(chain(first_crossing, first_untagged, alike), LISTED_NEIGHBOURS):
        evidence.append(
            Evidence(f"shares the {_what(sharer, on_key)} with", sharer.environment, sharer.workspace.id, "tags")
        )
    evidence.append(
        Evidence(
            f"other workspaces on the key or vault, by tag {tag}",
            tuple(f"{groups[env][0].environment or '(no tag)'}: {n}" for env, n in counts.items() if n),
            None,
            "tags",
        )
    )
    if mine is None:
        return Verdict(
            Status.UNKNOWN,
            f"the workspace has no '{tag}' tag, and {others} other workspace(s) share its key or vault",
            tuple(evidence),
        )
    if crossing:
        return Verdict(
            Status.FAIL,
            f"this {mine} workspace shares its key or vault with {crossing_count} workspace(s) of another "
            f"environment: {_named(first_crossing, crossing_count, on_key)}",
            tuple(evidence),
        )
    if first_untagged:
        untagged = counts.get(None, 0)
        names = ", ".join(s.workspace.name for s in first_untagged)
        more = f" and {untagged - len(first_untagged)} more" if untagged > len(first_untagged) else ""
        return Verdict(
            Status.UNKNOWN, f"shared with workspace(s) without an '{tag}' tag: {names}{more}", tuple(evidence)
        )
    return Verdict(Status.PASS, f"shared only with {others} other {mine} workspace(s)", tuple(evidence))


def _judge_places(places: Sequence[KeyPlace], inventory: Inventory, settings: Settings) -> list[Verdict]:
    """GOV-01 for many workspaces: the workspaces on each vault, and on each key, are gathered once for all
    the workspaces there (a central vault's thousands are not walked once per workspace, nor once per key)."""
    index, tag = inventory.index, settings.environment_tag
    on_vaults: dict[str, _Sharing] = {}
    on_keys: dict[str, frozenset[str]] = {}
    verdicts = []
    for place in places:
        key = id_key(place.key_id) if place.key_id else ""
        on_key = on_keys.get(key)
        if on_key is None:
            on_key = on_keys[key] = frozenset(id_key(u.workspace_id) for u in index.usages_by_key.get(key, ()))
        # Every usage of a key names the key's vault; a place without a known vault is judged on its key alone.
        where = f"vault {id_key(place.vault_id)}" if place.vault_id else f"key {key}"
        sharing = on_vaults.get(where)
        if sharing is None:
            usages = (
                index.usages_by_vault.get(id_key(place.vault_id), ())
                if place.vault_id
                else index.usages_by_key.get(key, ())
            )
            sharing = on_vaults[where] = _sharing(usages, inventory, tag)
        verdicts.append(_judge_place(place, sharing, on_key, settings))
    return verdicts


def _key_not_shared_across_environments(place: KeyPlace, inventory: Inventory, settings: Settings) -> Verdict:
    """GOV-01: the key (or its vault) is not shared with workspaces of another environment."""
    return _judge_places([place], inventory, settings)[0]


check_key_not_shared_across_environments = SubjectCheck(
    key_place, _key_not_shared_across_environments, the_place, together=_judge_places
)


SCOPE_CONTROL_CHECKS = {
    "DBX-02": check_managed_services_cmk,
    "DBX-03": check_managed_disk_cmk,
    "DBX-05": check_dbfs_root_cmk,
}
"""The scope controls that a sensitive workspace must pass (and whose severity GOV-02 raises)."""


def check_sensitive_workspace_scopes(workspace: Workspace, inventory: Inventory, settings: Settings) -> Verdict:
    """GOV-02: a workspace tagged as sensitive passes every scope control."""
    label = tag_value(workspace.tags, settings.sensitivity_tag)
    evidence = [Evidence(f"tag {settings.sensitivity_tag}", label, workspace.id, "tags")]
    if not settings.is_sensitive(workspace.tags):
        return Verdict(
            Status.NOT_APPLICABLE,
            f"the workspace is not tagged {settings.sensitivity_tag} = {' or '.join(settings.sensitive_values)}",
            tuple(evidence),
        )
    verdicts = {control: check(workspace, inventory, settings) for control, check in SCOPE_CONTROL_CHECKS.items()}
    evidence += [Evidence(control, verdict.status.value) for control, verdict in verdicts.items()]
    failed = [c for c, v in verdicts.items() if v.status is Status.FAIL]
    unknown = [c for c, v in verdicts.items() if v.status is Status.UNKNOWN]
    if failed:
        return Verdict(
            Status.FAIL, f"this {label} workspace fails scope control(s) {', '.join(failed)}", tuple(evidence)
        )
    if unknown:
        return Verdict(
            Status.UNKNOWN,
            f"scope control(s) {', '.join(unknown)} of this {label} workspace are UNKNOWN",
            tuple(evidence),
        )
    return Verdict(Status.PASS, f"this {label} workspace uses customer-managed keys on every scope", tuple(evidence))
