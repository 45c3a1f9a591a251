"""Key controls: the key itself, its versions and its rotation."""

from __future__ import annotations

from datetime import timedelta

from cmkaudit.evaluate.checks._common import (
    KeyAndVersion,
    SubjectCheck,
    is_live_only,
    resolved_key,
    resolved_key_and_version,
    resolved_version,
    the_key_and_version,
    the_version,
)
from cmkaudit.evaluate.durations import duration_days
from cmkaudit.evaluate.model import Evidence, Settings, Status, Verdict
from cmkaudit.inventory import Inventory
from cmkaudit.inventory.model import Key, KeyUsage, KeyVersion


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


def _rotation_policy(key: Key, inventory: Inventory, settings: Settings) -> Verdict:
    """KEY-03: the key rotates automatically within the cadence."""
    policy = key.rotation_policy
    if policy is None:
        unread = key.rotation_policy_unread
        why = f": {unread.reason}" if unread else ""
        needs = (
            unread.hint
            if unread and unread.hint
            else "it needs the 'Get Rotation Policy' key permission or Key Vault Reader"
        )
        return Verdict(
            Status.UNKNOWN,
            f"Azure Resource Manager returned no rotation policy for key {key.name}, and the vault's data plane "
            f"could not be read{why} ({needs})",
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


check_rotation_policy = SubjectCheck(resolved_key, _rotation_policy)


RSA_KEY_TYPES = frozenset({"rsa", "rsa-hsm"})
RECOMMENDED_KEY_SIZE = 3072


def _key_type_and_size(resolved: KeyAndVersion, inventory: Inventory, settings: Settings) -> Verdict:
    """KEY-01: the key version the scope uses is RSA or RSA-HSM and at least the minimum size.

    The key's own `kty` and `keySize` are its latest version's; a scope pinned to an older version is judged on
    that version's, which may differ (a key re-created under the same name gets versions with new parameters).
    """
    key, version, in_use = resolved
    # A planned key (its versions exist only once it is created) gets its first version with the key's parameters.
    latest = (in_use is not None and in_use.lower() == (key.current_version or "").lower()) or (
        key.versions is None and is_live_only(key.versions_unread)
    )
    kty: str | None
    if version is not None and version.kty is not None:
        kty, size, source = version.kty, version.key_size, f"versions/{version.version} properties"
        name = f"version {version.version} of key {key.name}"
    elif latest:
        kty, size, source = key.kty, key.key_size, "properties"
        name = f"key {key.name}"
    else:
        why = (
            f"version {in_use} of key {key.name} is in use, not the latest ({key.current_version or 'not reported'}), "
            "and its type and size were not read"
            if in_use
            else f"the version of key {key.name} in use is not known, so neither is its type and size"
        )
        return Verdict(Status.UNKNOWN, why, (Evidence("version in use", in_use, key.id, "versions"),))
    evidence = (
        Evidence("kty", kty, key.id, f"{source}.kty"),
        Evidence("keySize", size, key.id, f"{source}.keySize"),
        Evidence("version in use", in_use, key.id, "versions"),
    )
    if kty is None:
        return Verdict(Status.UNKNOWN, f"{name} does not report its type", evidence)
    if kty.lower() not in RSA_KEY_TYPES:
        return Verdict(
            Status.FAIL,
            f"{name} is {kty}; Databricks customer-managed keys must be RSA or RSA-HSM",
            evidence,
        )
    if size is None:
        return Verdict(Status.UNKNOWN, f"{name} does not report its size", evidence)
    if size < settings.min_key_size:
        return Verdict(Status.FAIL, f"{name} is {kty} {size}, smaller than {settings.min_key_size}", evidence)
    advice = "" if size >= RECOMMENDED_KEY_SIZE else f" ({RECOMMENDED_KEY_SIZE} or more is recommended)"
    return Verdict(Status.PASS, f"{name} is {kty} {size}{advice}", evidence)


check_key_type_and_size = SubjectCheck(resolved_key_and_version, _key_type_and_size, the_key_and_version)


def _version_evidence(key_id: str, version: KeyVersion) -> tuple[Evidence, ...]:
    source = f"versions/{version.version} properties.attributes"
    return (
        Evidence("version in use", version.version, key_id, source),
        Evidence("enabled", version.enabled, key_id, f"{source}.enabled"),
        Evidence("created", version.created.isoformat() if version.created else None, key_id, f"{source}.created"),
        Evidence("expires", version.expires.isoformat() if version.expires else None, key_id, f"{source}.exp"),
        Evidence("not before", version.not_before.isoformat() if version.not_before else None, key_id, f"{source}.nbf"),
    )


def _key_version_validity(resolved: tuple[Key, KeyVersion], inventory: Inventory, settings: Settings) -> Verdict:
    """KEY-02: the key version in use is enabled, within its validity window (not before `nbf`, not expired),
    and not expiring soon. Outside the window Key Vault refuses to wrap (and encrypt) with the version, so the
    scope can no longer protect new data keys."""
    key, version = resolved
    evidence = _version_evidence(key.id, version)
    now = inventory.collected_at
    if version.enabled is False:
        return Verdict(Status.FAIL, f"version {version.version} of key {key.name} is disabled", evidence)
    if version.not_before is not None and version.not_before > now:
        return Verdict(
            Status.FAIL,
            f"version {version.version} of key {key.name} is not valid before {version.not_before:%Y-%m-%d %H:%M} "
            "UTC (nbf): Key Vault refuses to wrap with it until then",
            evidence,
        )
    if version.expires is not None and version.expires <= now:
        return Verdict(
            Status.FAIL, f"version {version.version} of key {key.name} expired on {version.expires:%Y-%m-%d}", evidence
        )
    if version.expires is not None and version.expires <= now + timedelta(days=settings.expiry_warning_days):
        return Verdict(
            Status.FAIL,
            f"version {version.version} of key {key.name} expires on {version.expires:%Y-%m-%d}, within "
            f"{settings.expiry_warning_days} days",
            evidence,
        )
    if version.enabled is None:
        return Verdict(
            Status.UNKNOWN,
            f"version {version.version} of key {key.name} does not report whether it is enabled",
            evidence,
        )
    until = f"until {version.expires:%Y-%m-%d}" if version.expires else "with no expiry date"
    return Verdict(Status.PASS, f"version {version.version} of key {key.name} is enabled {until}", evidence)


check_key_version_validity = SubjectCheck(resolved_version, _key_version_validity, the_version)


def check_key_version_age(usage: KeyUsage, inventory: Inventory, settings: Settings) -> Verdict:
    """KEY-04: the key version in use is not older than the rotation cadence."""
    resolved = resolved_version(usage, inventory)
    if isinstance(resolved, Verdict):
        return resolved
    key, version = resolved
    evidence = (*_version_evidence(key.id, version), Evidence("version in use read from", usage.version_source))
    if version.created is None:
        return Verdict(
            Status.UNKNOWN, f"version {version.version} of key {key.name} does not report its creation time", evidence
        )
    age = (inventory.collected_at - version.created).days
    pinned = " (the scope pins this version, so rotation does not reach it)" if _pinned(usage) else ""
    if age > settings.rotation_max_days:
        return Verdict(
            Status.FAIL,
            f"version {version.version} of key {key.name} in use is {age} days old, older than the "
            f"{settings.rotation_max_days}-day cadence{pinned}",
            evidence,
        )
    return Verdict(Status.PASS, f"version {version.version} of key {key.name} in use is {age} days old", evidence)


def _pinned(usage: KeyUsage) -> bool:
    if usage.follows_latest is not None:
        return not usage.follows_latest
    return bool(usage.key_ref and usage.key_ref.key_version)
