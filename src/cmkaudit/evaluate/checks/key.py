"""Key controls: the key itself, its versions and its rotation."""

from __future__ import annotations

from cmkaudit.evaluate.checks._common import key_of, not_applicable_or_unresolved
from cmkaudit.evaluate.durations import duration_days
from cmkaudit.evaluate.model import Evidence, Settings, Status, Verdict
from cmkaudit.inventory.model import Inventory, KeyUsage


def _rotation_interval_days(
    action_time_after_create: str | None, time_before_expiry: str | None, expiry: str | None
) -> float | None:
    """How often a `rotate` action fires, in days, or None when it cannot be worked out."""
    after_create = duration_days(action_time_after_create)
    if after_create is not None:
        return after_create
    before_expiry = duration_days(time_before_expiry)
    lifetime = duration_days(expiry)
    if before_expiry is not None and lifetime is not None and lifetime > before_expiry:
        return lifetime - before_expiry
    return None


def check_rotation_policy(usage: KeyUsage, inventory: Inventory, settings: Settings) -> Verdict:
    """KEY-03: the key rotates automatically within the cadence."""
    early = not_applicable_or_unresolved(usage, needs_key=True)
    if early:
        return early
    key = key_of(inventory, usage)
    assert key is not None
    policy = key.rotation_policy
    if policy is None:
        return Verdict(
            Status.UNKNOWN,
            f"Azure Resource Manager returned no rotation policy for key {key.name}; the policy must be read "
            "from the Key Vault data plane (keys/rotationpolicy, needs the 'Get Rotation Policy' key permission "
            "or Key Vault Reader)",
            (Evidence("properties.rotationPolicy", None, key.id, "properties.rotationPolicy"),),
        )
    actions = tuple(
        f"{a.action or '?'} after create {a.time_after_create or '-'} / before expiry {a.time_before_expiry or '-'}"
        for a in policy.lifetime_actions
    )
    evidence = (
        Evidence("lifetimeActions", actions, key.id, f"{policy.source}.lifetimeActions"),
        Evidence("expiryTime", policy.expiry_time, key.id, f"{policy.source}.attributes.expiryTime"),
    )
    rotations = [
        _rotation_interval_days(a.time_after_create, a.time_before_expiry, policy.expiry_time)
        for a in policy.lifetime_actions
        if (a.action or "").lower() == "rotate"
    ]
    if not rotations:
        return Verdict(Status.FAIL, f"key {key.name} has no automatic rotation (the policy only notifies)", evidence)
    known = [r for r in rotations if r is not None]
    if not known:
        return Verdict(
            Status.UNKNOWN,
            f"the rotation trigger of key {key.name} could not be read as an ISO-8601 duration",
            evidence,
        )
    interval = min(known)
    if interval <= settings.rotation_max_days:
        return Verdict(Status.PASS, f"key {key.name} rotates automatically every {interval:g} days", evidence)
    return Verdict(
        Status.FAIL,
        f"key {key.name} rotates every {interval:g} days, longer than the {settings.rotation_max_days}-day cadence",
        evidence,
    )
