"""Key controls (KEY-01 to KEY-04): pass_, fail_ and unknown_ cases on small inventories."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from cmkaudit.evaluate.checks.key import (
    check_key_type_and_size,
    check_key_version_age,
    check_key_version_validity,
    check_rotation_policy,
)
from cmkaudit.evaluate.model import Settings, Status
from cmkaudit.inventory.model import (
    Key,
    KeyReference,
    KeyVersion,
    Scope,
    ScopeEncryption,
)

from ..conftest import (
    NOW,
    VAULT_URI,
    inventory,
    key,
    rotation,
    workspace,
)
from .helpers import usage_verdict

# --- KEY-03 -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "policy_actions",
    [
        [("Rotate", "P90D", None)],
        [("rotate", "P3M", None)],  # 90 days; action types compared case-insensitively
        [("Rotate", None, "P640D")],  # P2Y expiry - 640 days before expiry = rotation every 90 days
        [("Notify", None, "P30D"), ("Rotate", "P30D", None)],
    ],
)
def test_pass_rotation_policy(policy_actions: list[tuple[str, str | None, str | None]]) -> None:
    inv = inventory(keys=[key(rotation_policy=rotation(*policy_actions))])
    assert usage_verdict(check_rotation_policy, inv, Scope.MANAGED_SERVICES).status is Status.PASS


@pytest.mark.parametrize(
    "policy_actions",
    [[("Notify", None, "P30D")], [("Rotate", "P1Y", None)], [("Rotate", "P91D", None)], []],
)
def test_fail_rotation_policy(policy_actions: list[tuple[str, str | None, str | None]]) -> None:
    inv = inventory(keys=[key(rotation_policy=rotation(*policy_actions))])
    assert usage_verdict(check_rotation_policy, inv, Scope.MANAGED_SERVICES).status is Status.FAIL


def test_rotation_cadence_is_a_setting() -> None:
    inv = inventory(keys=[key(rotation_policy=rotation(("Rotate", "P1Y", None)))])
    yearly = Settings(rotation_max_days=365)
    assert usage_verdict(check_rotation_policy, inv, Scope.MANAGED_DISK, yearly).status is Status.PASS


def test_unknown_rotation_policy_not_returned_by_arm() -> None:
    verdict = usage_verdict(check_rotation_policy, inventory(keys=[key(rotation_policy=None)]), Scope.MANAGED_DISK)
    assert verdict.status is Status.UNKNOWN
    assert "data plane" in verdict.reason


def test_unknown_rotation_key_not_read() -> None:
    verdict = usage_verdict(check_rotation_policy, inventory(keys=[]), Scope.MANAGED_DISK)
    assert verdict.status is Status.UNKNOWN
    assert "could not be read" in verdict.reason


def test_unknown_rotation_trigger_unparseable() -> None:
    inv = inventory(keys=[key(rotation_policy=rotation(("Rotate", "ninety days", None)))])
    assert usage_verdict(check_rotation_policy, inv, Scope.MANAGED_DISK).status is Status.UNKNOWN


# --- KEY-01 -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("kty", "size"), [("RSA", 2048), ("RSA-HSM", 3072), ("rsa", 4096)])
def test_pass_key_type_and_size(kty: str, size: int) -> None:
    inv = inventory(keys=[key(kty=kty, key_size=size)])
    assert usage_verdict(check_key_type_and_size, inv, Scope.MANAGED_SERVICES).status is Status.PASS


@pytest.mark.parametrize(("kty", "size"), [("EC", None), ("EC-HSM", None), ("oct-HSM", 256), ("RSA", 1024)])
def test_fail_key_type_and_size(kty: str, size: int | None) -> None:
    inv = inventory(keys=[key(kty=kty, key_size=size)])
    assert usage_verdict(check_key_type_and_size, inv, Scope.MANAGED_SERVICES).status is Status.FAIL


def test_minimum_key_size_is_a_setting() -> None:
    inv = inventory(keys=[key(key_size=2048)])
    strict = Settings(min_key_size=3072)
    assert usage_verdict(check_key_type_and_size, inv, Scope.MANAGED_DISK, strict).status is Status.FAIL


@pytest.mark.parametrize("changes", [{"kty": None}, {"key_size": None}])
def test_unknown_key_type_or_size(changes: dict[str, object]) -> None:
    inv = inventory(keys=[key(**changes)])
    assert usage_verdict(check_key_type_and_size, inv, Scope.MANAGED_DISK).status is Status.UNKNOWN


# --- KEY-02 / KEY-04 ----------------------------------------------------------------------------------


def versioned_key(**changes: object) -> Key:
    """The key with version v2 (the one the DES and storage account use), created 30 days before NOW."""
    base = KeyVersion("v2", True, NOW - timedelta(days=30), NOW + timedelta(days=700), None)
    return key(versions=(replace(base, **changes),))


@pytest.mark.parametrize("scope", [Scope.MANAGED_DISK, Scope.DBFS_ROOT])
def test_pass_key_version_valid_and_young(scope: Scope) -> None:
    inv = inventory(keys=[versioned_key()])
    assert usage_verdict(check_key_version_validity, inv, scope).status is Status.PASS
    assert usage_verdict(check_key_version_age, inv, scope).status is Status.PASS


@pytest.mark.parametrize(
    "changes",
    [
        {"enabled": False},
        {"expires": NOW - timedelta(days=1)},
        {"expires": NOW + timedelta(days=29)},
    ],
)
def test_fail_key_version_validity(changes: dict[str, object]) -> None:
    inv = inventory(keys=[versioned_key(**changes)])
    assert usage_verdict(check_key_version_validity, inv, Scope.MANAGED_DISK).status is Status.FAIL


def test_expiry_warning_is_a_setting() -> None:
    inv = inventory(keys=[versioned_key(expires=NOW + timedelta(days=29))])
    relaxed = Settings(expiry_warning_days=7)
    assert usage_verdict(check_key_version_validity, inv, Scope.MANAGED_DISK, relaxed).status is Status.PASS


def test_fail_key_version_too_old_and_pinned() -> None:
    pinned = KeyReference(VAULT_URI, "cmk", "v2", "properties.encryption.entities.managedServices.keyVaultProperties")
    ws = workspace(managed_services=ScopeEncryption(Scope.MANAGED_SERVICES, "Microsoft.Keyvault", pinned))
    inv = inventory(workspaces=[ws], keys=[versioned_key(created=NOW - timedelta(days=200))])
    verdict = usage_verdict(check_key_version_age, inv, Scope.MANAGED_SERVICES)
    assert verdict.status is Status.FAIL
    assert "200 days old" in verdict.reason and "pins this version" in verdict.reason


@pytest.mark.parametrize("check", [check_key_version_validity, check_key_version_age])
@pytest.mark.parametrize(
    "keys",
    [
        [],  # the key could not be read
        [key(versions=None)],  # its versions could not be listed
        [key(versions=(KeyVersion("v9", True, NOW, None, None),))],  # the version in use is not among them
    ],
)
def test_unknown_key_version(check: object, keys: list[Key]) -> None:
    assert usage_verdict(check, inventory(keys=keys), Scope.MANAGED_DISK).status is Status.UNKNOWN


def test_unknown_key_version_age_without_creation_time() -> None:
    inv = inventory(keys=[versioned_key(created=None)])
    assert usage_verdict(check_key_version_age, inv, Scope.MANAGED_DISK).status is Status.UNKNOWN
