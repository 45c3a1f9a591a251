"""Shards merged: copies of one record that contradict each other in any field (null is a value) are an error
naming them, whatever the order of the shards; copies that only tell what the other did not read combine."""

from __future__ import annotations

from dataclasses import fields, replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cmkaudit.errors import SnapshotError
from cmkaudit.inventory import Inventory
from cmkaudit.inventory.merge import _GAPS, Shard, merge_inventories
from cmkaudit.inventory.model import GroupMembers, Key, PrincipalId, Unread, UnreadWhy, Vault

from .conftest import inventory, key, vault

NOT_READ = Unread(UnreadWhy.FAILED, "HTTP 403")


def _merge(*inventories: Inventory) -> Inventory:
    return merge_inventories([Shard(f"shard-{n}.json", i) for n, i in enumerate(inventories)])


def _other(value: Any) -> list[Any]:
    """Values that differ from `value`, null among them."""
    if isinstance(value, bool):
        return [not value, None]
    if isinstance(value, int):
        return [value + 1, None]
    if isinstance(value, str):
        return [value + "-other", None]
    if value is None:
        return [True, "x", 7]
    if isinstance(value, tuple):
        return [value[:-1]] if value else []
    return [None]


def _changes(record: Any, skip: set[str]) -> list[tuple[str, Any]]:
    return [
        (f.name, other)
        for f in fields(record)
        if f.name not in skip and f.name != "id"
        for other in _other(getattr(record, f.name))
    ]


VAULT_CHANGES = _changes(vault(), set(_GAPS[Vault]) | set(_GAPS[Vault].values()))
KEY_CHANGES = _changes(key(), set(_GAPS[Key]) | set(_GAPS[Key].values()) | {"unread", "vault_id", "name"})


@settings(max_examples=60, deadline=None)
@given(change=st.sampled_from(VAULT_CHANGES), reverse=st.booleans())
def test_a_vault_that_differs_in_any_field_is_a_conflict_in_either_order(
    change: tuple[str, Any], reverse: bool
) -> None:
    name, value = change
    a, b = inventory(), inventory(vaults=[replace(vault(), **{name: value})])
    with pytest.raises(SnapshotError, match="differs between"):
        _merge(*((b, a) if reverse else (a, b)))


@settings(max_examples=60, deadline=None)
@given(change=st.sampled_from(KEY_CHANGES), reverse=st.booleans())
def test_a_key_that_differs_in_any_field_is_a_conflict_in_either_order(change: tuple[str, Any], reverse: bool) -> None:
    name, value = change
    a, b = inventory(), inventory(keys=[replace(key(), **{name: value})])
    with pytest.raises(SnapshotError, match="differs between"):
        _merge(*((b, a) if reverse else (a, b)))


@pytest.mark.parametrize("reverse", [False, True])
def test_what_one_shard_could_not_read_is_taken_from_the_other(reverse: bool) -> None:
    listed = replace(vault(), diagnostic_settings=None, role_assignments=None, role_assignments_unread=NOT_READ)
    a, b = inventory(vaults=[listed]), inventory()
    merged = _merge(*((b, a) if reverse else (a, b)))
    (kept,) = merged.vaults
    assert kept == vault()
    unread_key = replace(key(), rotation_policy=None, rotation_policy_unread=NOT_READ)
    merged = _merge(
        *((inventory(), inventory(keys=[unread_key])) if reverse else (inventory(keys=[unread_key]), inventory()))
    )
    assert merged.keys[0].rotation_policy == key().rotation_policy


@pytest.mark.parametrize("reverse", [False, True])
def test_members_read_differently_are_a_conflict(reverse: bool) -> None:
    from cmkaudit.inventory.model import DirectoryObject

    group = PrincipalId("6a7b8c9d-0e1f-4a2b-8c3d-4e5f6a7b8c9d")
    one = GroupMembers(group, True, (DirectoryObject(PrincipalId("00000000-0000-4000-8000-000000000001"), "a"),))
    two = GroupMembers(group, True, ())
    a, b = replace(inventory(), group_members=(one,)), replace(inventory(), group_members=(two,))
    with pytest.raises(SnapshotError, match="members of group"):
        _merge(*((b, a) if reverse else (a, b)))
