"""What every source of planned configuration shares: the markers of what only deployed resources show, the
AzureDatabricks service principal as configuration names it, and the built-in roles role assignments name."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from functools import cache
from importlib import resources

from cmkaudit.ids import AZURE_DATABRICKS_APP_ID, PrincipalId
from cmkaudit.inventory.model import PrincipalLookup, PrincipalSource, RoleDefinition, Unread, UnreadWhy

LIVE_SCAN = "scan the deployed subscription (cmkaudit scan --subscription ...)"

LIVE_ONLY_VERSIONS = Unread(
    UnreadWhy.LIVE_ONLY,
    "the key's versions exist only once it is created: their age and validity are judged by a live scan",
    LIVE_SCAN,
)
CREATED_WITH_WORKSPACE = Unread(
    UnreadWhy.LIVE_ONLY,
    "Azure creates it with the workspace, as the workspace's settings ask",
    "scan the deployed workspace to see it",
)
NO_DIAGNOSTICS = Unread(
    UnreadWhy.LIVE_ONLY,
    "no diagnostic setting of this configuration targets the vault; one made outside it (by Azure Policy, say) is "
    "seen only by a live scan",
    "add a diagnostic setting sending the AuditEvent category (or the audit group) to a destination",
)
ASSIGNMENTS_ELSEWHERE = Unread(
    UnreadWhy.LIVE_ONLY,
    "role assignments made outside this configuration (inherited from the resource group, the subscription or a "
    "management group) are seen only by a live scan",
)

NO_WORKSPACE = "the configuration declares no Azure Databricks workspace: there was nothing to judge"
"""The note of a configuration without a workspace (so that a pull request gate passing on it says why)."""

BUILTIN_ROLE_GUIDS = {
    "key vault administrator": "00482a5a-887f-4fb3-b363-3b7fe8e74483",
    "key vault crypto officer": "14b46e9e-c2b7-41b4-b07b-48a6ebf60603",
    "key vault crypto service encryption user": "e147488a-f6f5-4113-8e2d-b22465e65bf6",
    "key vault crypto user": "12338af0-0e69-4776-bea7-57ae8d297424",
    "key vault reader": "21090545-7ca7-4776-b22c-e363652d74d2",
    "owner": "8e3af657-a8ff-443c-a75c-2fe8c4bcb635",
    "contributor": "b24988ac-6180-42a0-ab88-20f7382dd24c",
}
"""Built-in roles by name; their definitions, as Azure lists them, are in role_definitions.json beside this
module."""

_DEFINITION = "/providers/Microsoft.Authorization/roleDefinitions/"


def builtin_role_id(name_or_id: str) -> str:
    """The definition id a role assignment names: a built-in role by name (Terraform's `role_definition_name`),
    or an id, with its subscription prefix dropped for a built-in role (`subscriptionResourceId(...)`)."""
    guid = BUILTIN_ROLE_GUIDS.get(name_or_id.lower())
    if guid:
        return f"{_DEFINITION}{guid}"
    lowered = name_or_id.lower()
    if _DEFINITION.lower() in lowered:
        tail = name_or_id[lowered.index(_DEFINITION.lower()) + len(_DEFINITION) :]
        if tail.lower() in BUILTIN_ROLE_GUIDS.values():
            return f"{_DEFINITION}{tail.lower()}"
        return name_or_id
    if lowered in BUILTIN_ROLE_GUIDS.values():
        return f"{_DEFINITION}{lowered}"
    return name_or_id if name_or_id.startswith("/") else f"role:{name_or_id}"


@cache
def _builtin_roles() -> tuple[RoleDefinition, ...]:
    raw = json.loads(resources.files(__package__).joinpath("role_definitions.json").read_text("utf-8"))
    definitions = []
    for entry in raw["value"]:
        permissions = entry["properties"]["permissions"][0]
        definitions.append(
            RoleDefinition(
                id=entry["id"],
                name=entry["name"],
                role_name=entry["properties"]["roleName"],
                actions=tuple(permissions.get("actions", ())),
                not_actions=tuple(permissions.get("notActions", ())),
                data_actions=tuple(permissions.get("dataActions", ())),
                not_data_actions=tuple(permissions.get("notDataActions", ())),
            )
        )
    return tuple(definitions)


def load_builtin_roles() -> list[RoleDefinition]:
    """The built-in role definitions that planned role assignments may name (role_definitions.json)."""
    return list(_builtin_roles())


def principal_lookups(
    principal_ids: Mapping[str, str], tenants: Iterable[str], found: str | None, why_not: str
) -> list[PrincipalLookup]:
    """The AzureDatabricks service principal in each tenant: from the command line or configuration
    (`principal_ids`, by lower-case tenant or "*"), else `found` in the configuration, else unknown, saying why."""
    configured = {tenant.lower(): oid for tenant, oid in principal_ids.items()}
    lookups = []
    for tenant in sorted(set(tenants)):
        given = configured.get(tenant.lower()) or configured.get("*")
        if given:
            lookups.append(PrincipalLookup(tenant, PrincipalId(given), PrincipalSource.CONFIG))
        elif found:
            lookups.append(PrincipalLookup(tenant, PrincipalId(found), PrincipalSource.CONFIG))
        else:
            lookups.append(
                PrincipalLookup(
                    tenant,
                    None,
                    None,
                    f"the AzureDatabricks application ({AZURE_DATABRICKS_APP_ID}) is not resolved here: {why_not}",
                )
            )
    return lookups
