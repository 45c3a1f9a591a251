"""Identifier types and small parsers for ARM resource ids and Key Vault URLs."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import NewType
from urllib.parse import urlsplit

ResourceId = NewType("ResourceId", str)
"""A full ARM resource id, as Azure returned it (case preserved)."""

SubscriptionId = NewType("SubscriptionId", str)
ControlId = NewType("ControlId", str)
PrincipalId = NewType("PrincipalId", str)
"""An Entra ID object id (service principal, managed identity, user or group)."""

AZURE_DATABRICKS_APP_ID = "2ff814a6-3304-4ab8-85cb-cd0e6f879c1d"
"""The first-party AzureDatabricks application; its service principal unwraps the managed-services key."""

_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def is_guid(value: str) -> bool:
    """Whether `value` is a GUID in the 8-4-4-4-12 form Azure uses for subscription and object ids."""
    return bool(_GUID.match(value))


def id_key(resource_id: str) -> str:
    """The form used to compare ARM ids: ARM ids are case-insensitive and callers vary the casing."""
    return resource_id.strip().rstrip("/").lower()


@dataclass(frozen=True, slots=True)
class ArmId:
    """The parts of an ARM resource id that cmkaudit needs."""

    subscription_id: str
    resource_group: str
    provider: str
    type: str
    name: str


def parse_arm_id(resource_id: str) -> ArmId | None:
    """Split `/subscriptions/S/resourceGroups/G/providers/P/T/N` into its parts, or None if it is not one.

    Only the first resource type/name pair is kept (the parent resource), which is what the
    collector needs to call `get` operations.
    """
    parts = [p for p in resource_id.strip().split("/") if p]
    lowered = [p.lower() for p in parts]
    try:
        sub = parts[lowered.index("subscriptions") + 1]
        group = parts[lowered.index("resourcegroups") + 1]
        at = lowered.index("providers")
        provider, rtype, name = parts[at + 1], parts[at + 2], parts[at + 3]
    except (ValueError, IndexError):
        return None
    return ArmId(sub, group, provider, rtype, name)


def resource_group_of(resource_id: str) -> str | None:
    """The resource group named in an ARM id (also for a bare resource-group id), or None."""
    parts = [p for p in resource_id.strip().split("/") if p]
    lowered = [p.lower() for p in parts]
    if "resourcegroups" not in lowered:
        return None
    at = lowered.index("resourcegroups") + 1
    return parts[at] if at < len(parts) else None


def subscription_of(resource_id: str) -> str | None:
    """The subscription id named in an ARM id, or None."""
    parts = [p for p in resource_id.strip().split("/") if p]
    lowered = [p.lower() for p in parts]
    if "subscriptions" not in lowered:
        return None
    at = lowered.index("subscriptions") + 1
    return parts[at] if at < len(parts) else None


@dataclass(frozen=True, slots=True)
class KeyUrl:
    """A Key Vault key URL split into the vault host, key name and (optional) version."""

    vault_host: str
    name: str
    version: str | None


@lru_cache(maxsize=1 << 16)
def vault_host(uri: str) -> str:
    """The host of a vault URI, lower-cased and without port: the join key between vaults and keys.

    Vault URIs arrive as `https://name.vault.azure.net/`, with `:443`, without a trailing slash,
    or in other clouds' suffixes; never assume a suffix. (Remembered: a tenant has a few vault URIs, and the
    checks ask for their hosts hundreds of thousands of times.)
    """
    try:
        parsed = urlsplit(uri.strip() if "://" in uri else f"https://{uri.strip()}")
        return (parsed.hostname or "").lower()
    except ValueError:  # not a URL (brackets that are no IPv6 address, a bad port): no vault's host
        return ""


def rotation_policy_url(vault_uri: str, key_name: str) -> str:
    """Where a key's rotation policy lives on the data plane (the resource its collection errors name)."""
    return f"{vault_uri.rstrip('/')}/keys/{key_name}/rotationpolicy"


def parse_key_url(url: str) -> KeyUrl | None:
    """Parse `https://host[:port]/keys/<name>[/<version>]`, or None when it is not a key URL."""
    try:
        parsed = urlsplit(url.strip())
        hostname = parsed.hostname
    except ValueError:  # not a URL (brackets that are no IPv6 address, a bad port)
        return None
    segments = [s for s in parsed.path.split("/") if s]
    if not hostname or len(segments) < 2 or segments[0].lower() != "keys":
        return None
    version = segments[2] if len(segments) > 2 else None
    return KeyUrl(hostname.lower(), segments[1], version or None)
