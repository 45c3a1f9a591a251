"""Property-based: whatever JSON Azure returns, the mapping never crashes and evaluation never guesses.

Payloads are drawn from the official examples with values replaced, keys dropped, nulls and wrong
types where objects are expected, and truncated structures.
"""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cmkaudit.collect.mapping import (
    MappingError,
    disk_encryption_set_from_arm,
    key_from_arm,
    role_assignment_from_arm,
    storage_account_from_arm,
    vault_from_arm,
    workspace_from_arm,
)
from cmkaudit.evaluate.catalog import load_catalog
from cmkaudit.evaluate.engine import evaluate
from cmkaudit.evaluate.model import Settings, Status
from cmkaudit.ids import ResourceId

from .conftest import arm_example, inventory

JSON_SCALARS = (
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats(allow_nan=False) | st.text(max_size=20)
)
JSON = st.recursive(
    JSON_SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            found += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found += _paths(v, (*prefix, i))
    return found


@st.composite
def mutated(draw: st.DrawFn, example: str) -> dict[str, Any]:
    """An official example with a few of its values replaced by arbitrary JSON (or removed)."""
    body = copy.deepcopy(arm_example(example))
    paths = [p for p in _paths(body) if p]
    for _ in range(draw(st.integers(1, 4))):
        path = draw(st.sampled_from(paths))
        parent: Any = body
        for step in path[:-1]:
            try:
                parent = parent[step]
            except (KeyError, IndexError, TypeError):
                break
        else:
            try:
                if draw(st.booleans()) and isinstance(parent, dict):
                    parent.pop(path[-1], None)
                else:
                    parent[path[-1]] = draw(JSON)
            except (IndexError, TypeError):
                pass
    return body


MAPPERS = [
    (workspace_from_arm, "EnableEncryption.json"),
    (workspace_from_arm, "WorkspaceManagedDiskEncryptionGet.json"),
    (vault_from_arm, "getVault.json"),
    (disk_encryption_set_from_arm, "DiskEncryptionSet_Get_WithAutoKeyRotationError.json"),
    (storage_account_from_arm, "StorageAccountGetPropertiesCMKEnabled.json"),
    (role_assignment_from_arm, "RoleAssignments_ListForScope.json"),
]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_mapping_never_crashes(data: st.DataObject) -> None:
    mapper, example = data.draw(st.sampled_from(MAPPERS))
    if example == "RoleAssignments_ListForScope.json":
        body = copy.deepcopy(arm_example(example)["value"][0])
        body["properties"] = data.draw(JSON | st.just(body["properties"]))
    else:
        body = data.draw(mutated(example))
    try:
        record = mapper(body)
    except MappingError:
        # The only refusal allowed: a resource that cannot be identified. The crawl keeps it as evidence that is
        # missing: a collection error, and the list it came from marked as not read in full (its consumers say
        # UNKNOWN rather than "not there").
        from cmkaudit.collect.azure import AzureCollector, _Collected
        from cmkaudit.ids import SubscriptionId
        from cmkaudit.inventory.model import ListedKind

        got, kept = _Collected(), []  # type: ignore[var-annotated]
        sub = SubscriptionId("11111111-2222-4333-8444-555555555555")
        AzureCollector._list(got, sub, ListedKind.STORAGE_ACCOUNTS, "list", [body], mapper, kept)
        assert kept == [] and [e.code for e in got.errors] == ["MalformedResource"]
        assert [(u.subscription_id, u.kind) for u in got.unlisted] == [(sub, ListedKind.STORAGE_ACCOUNTS)]
        return
    assert record.id == body["id"]  # a mapped record is always the resource it came from


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(workspace=mutated("EnableEncryption.json"), key=mutated("getKey.json"))
def test_evaluating_mangled_resources_never_crashes_or_passes_blindly(
    workspace: dict[str, Any], key: dict[str, Any]
) -> None:
    try:
        mapped = workspace_from_arm(workspace)
    except MappingError:
        return
    try:
        key_record = key_from_arm(
            key, ResourceId("/subscriptions/s/resourceGroups/g/providers/Microsoft.KeyVault/vaults/v"), None
        )
    except MappingError:
        key_record = None
    inv = inventory(workspaces=[mapped], keys=[key_record] if key_record else [])
    findings = evaluate(inv, load_catalog(), Settings())
    assert findings
    if not mapped.properties_reported:
        scope_findings = [f for f in findings if f.control_id in ("DBX-02", "DBX-03", "DBX-05")]
        assert {f.status for f in scope_findings} == {Status.UNKNOWN}
