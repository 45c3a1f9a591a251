"""Governance controls: blast radius of shared keys, and data classification driving the scope controls."""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass

from cmkaudit.evaluate.checks._common import SubjectCheck, not_applicable_or_unresolved, workspace_by_id
from cmkaudit.evaluate.checks.workspace import check_dbfs_root_cmk, check_managed_disk_cmk, check_managed_services_cmk
from cmkaudit.evaluate.model import Evidence, Settings, Status, Verdict
from cmkaudit.ids import id_key
from cmkaudit.inventory.model import Inventory, KeyUsage, Workspace


def tag_value(tags: Mapping[str, str], name: str) -> str | None:
    """A tag's value, with the tag name compared case-insensitively (Azure tag names are)."""
    return next((v for k, v in tags.items() if k.lower() == name.lower()), None)


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


def _shares(place: KeyPlace, other: KeyUsage) -> str | None:
    """ "key" or "vault" when `other` uses the same key or vault as `place`."""
    if place.key_id and other.key_id and id_key(place.key_id) == id_key(other.key_id):
        return "key"
    if place.vault_id and other.vault_id and id_key(place.vault_id) == id_key(other.vault_id):
        return "vault"
    return None


def _key_not_shared_across_environments(place: KeyPlace, inventory: Inventory, settings: Settings) -> Verdict:
    """GOV-01: the key (or its vault) is not shared with workspaces of another environment."""
    workspace = place.workspace
    mine = tag_value(workspace.tags, settings.environment_tag)
    sharing: dict[str, tuple[Workspace, str]] = {}
    index = inventory.index
    neighbours = [
        *(index.usages_by_key.get(id_key(place.key_id), []) if place.key_id else []),
        *(index.usages_by_vault.get(id_key(place.vault_id), []) if place.vault_id else []),
    ]
    for other in neighbours:
        if id_key(other.workspace_id) == id_key(workspace.id):
            continue
        shared = _shares(place, other)
        if shared:
            neighbour = workspace_by_id(inventory, other.workspace_id)
            previous = sharing.get(id_key(neighbour.id))
            if previous is None or shared == "key":
                sharing[id_key(neighbour.id)] = (neighbour, shared)
    evidence = [Evidence(f"tag {settings.environment_tag}", mine, workspace.id, "tags")]
    for neighbour, shared in sorted(sharing.values(), key=lambda pair: id_key(pair[0].id)):
        evidence.append(
            Evidence(
                f"shares the {shared} with", tag_value(neighbour.tags, settings.environment_tag), neighbour.id, "tags"
            )
        )
    if not sharing:
        return Verdict(Status.PASS, "no other scanned workspace uses this key or its vault", tuple(evidence))
    if mine is None:
        return Verdict(
            Status.UNKNOWN,
            f"the workspace has no '{settings.environment_tag}' tag, and {len(sharing)} other workspace(s) share "
            "its key or vault",
            tuple(evidence),
        )
    others = [(w, shared, tag_value(w.tags, settings.environment_tag)) for w, shared in sharing.values()]
    crossing = sorted(
        f"{w.name} ({env}, same {shared})" for w, shared, env in others if env and env.lower() != mine.lower()
    )
    if crossing:
        return Verdict(
            Status.FAIL,
            f"this {mine} workspace shares its key or vault with another environment: {', '.join(crossing)}",
            tuple(evidence),
        )
    untagged = sorted(w.name for w, _, env in others if env is None)
    if untagged:
        return Verdict(
            Status.UNKNOWN,
            f"shared with workspace(s) without an '{settings.environment_tag}' tag: {', '.join(untagged)}",
            tuple(evidence),
        )
    return Verdict(Status.PASS, f"shared only with other {mine} workspaces", tuple(evidence))


check_key_not_shared_across_environments = SubjectCheck(key_place, _key_not_shared_across_environments, the_place)


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
