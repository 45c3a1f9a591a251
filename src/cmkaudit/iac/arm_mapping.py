"""Map an ARM template's resources to the inventory's records, through the live crawl's own mapping.

Each resource's evaluated properties are a payload in the REST shape the template writes (values known only at
deployment as `${...}` text), with what Azure would fill in and the template fixes (a vault's URI, the
identities of a workspace's storage account and disk encryption set, named by the reference that reads them)
and Key Vault's documented defaults (soft delete on, 90 days). `collect/mapping.py` turns them into records,
as it does for the deployed resources.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from cmkaudit.collect.mapping import (
    diagnostic_setting_from_arm,
    key_from_arm,
    role_assignment_from_arm,
    vault_from_arm,
    workspace_from_arm,
)
from cmkaudit.iac.arm import TENANT, ArmResource, ArmTemplate, Ref
from cmkaudit.iac.model import Symbol, walk
from cmkaudit.iac.planned import (
    ASSIGNMENTS_ELSEWHERE,
    CREATED_WITH_WORKSPACE,
    LIVE_ONLY_VERSIONS,
    NO_DIAGNOSTICS,
    NO_WORKSPACE,
    builtin_role_id,
    load_builtin_roles,
    principal_lookups,
)
from cmkaudit.ids import ResourceId, SubscriptionId, id_key
from cmkaudit.inventory import Inventory, assemble_inventory
from cmkaudit.inventory.links import key_resource_id
from cmkaudit.inventory.model import (
    AccessPolicy,
    DiagnosticSetting,
    Key,
    Provenance,
    RoleAssignment,
    ScanScope,
    SourceLocation,
    Subscription,
    Vault,
    Workspace,
    WorkspaceLinks,
)

WORKSPACES = "microsoft.databricks/workspaces"
VAULTS = "microsoft.keyvault/vaults"
KEYS = "microsoft.keyvault/vaults/keys"
ACCESS_POLICIES = "microsoft.keyvault/vaults/accesspolicies"
ROLE_ASSIGNMENTS = "microsoft.authorization/roleassignments"
DIAGNOSTIC_SETTINGS = "microsoft.insights/diagnosticsettings"


def _rendered(template: ArmTemplate, value: Any) -> Any:
    """A value ready for the live mapping: references followed, symbols as `${...}` text."""
    value = template.concrete(value)
    if isinstance(value, Symbol):
        return value.text
    if isinstance(value, list):
        return [_rendered(template, v) for v in value]
    if isinstance(value, dict):
        return {k: _rendered(template, v) for k, v in value.items()}
    return value


def _payload(template: ArmTemplate, resource: ArmResource) -> dict[str, Any]:
    body = {k: v for k, v in resource.body.items() if k not in ("resources", "copy", "dependsOn", "condition")}
    payload = _rendered(template, template.evaluate(body, resource.copy_index))
    payload["id"] = resource.id
    payload["name"] = resource.name.rsplit("/", 1)[-1]
    if not isinstance(payload.get("properties"), dict):
        payload["properties"] = {}
    return dict(payload)


def _scope_target(template: ArmTemplate, resource: ArmResource) -> ArmResource | None:
    """The resource an extension resource (role assignment, diagnostic setting) is scoped to."""
    scope = template.concrete(template.evaluate(resource.body.get("scope"), resource.copy_index))
    if isinstance(scope, Ref):
        return scope.resource
    if not isinstance(scope, str):
        return None
    found = template.find(scope)
    if found is not None:
        return found
    # The short form Bicep writes: "Microsoft.KeyVault/vaults/kv-name".
    parts = scope.strip("/").split("/")
    if len(parts) >= 3:
        return next(
            (r for r in template.resources if r.type.lower() == "/".join(parts[:2]).lower() and r.name == parts[2]),
            None,
        )
    return None


def _deployed(template: ArmTemplate, resource: ArmResource) -> bool:
    condition = resource.body.get("condition")
    if condition is None:
        return True
    decided = template.concrete(template.evaluate(condition, resource.copy_index))
    return decided is not False


def inventory_from_template(
    template: ArmTemplate, *, collected_at: datetime, tool_version: str, principal_ids: Mapping[str, str]
) -> Inventory:
    """The inventory of a template's Databricks workspaces, vaults, keys and what grants and logs them."""
    resources = [r for r in template.resources if _deployed(template, r)]
    by_type: dict[str, list[ArmResource]] = {}
    for resource in resources:
        by_type.setdefault(resource.type.lower(), []).append(resource)
    locations = [
        SourceLocation(
            ResourceId(r.id),
            r.id,
            r.span.file if r.span else None,
            r.span.start_line if r.span else None,
            r.span.end_line if r.span else None,
        )
        for r in resources
    ]
    extra_policies: dict[str, list[AccessPolicy]] = {}
    for resource in by_type.get(ACCESS_POLICIES, []):
        vault_id = resource.id.rsplit("/accessPolicies/", 1)[0]
        added = vault_from_arm({**_payload(template, resource), "id": vault_id}).access_policies
        extra_policies.setdefault(id_key(vault_id), []).extend(added)
    diagnostics: dict[str, list[DiagnosticSetting]] = {}
    for resource in by_type.get(DIAGNOSTIC_SETTINGS, []):
        target = _scope_target(template, resource)
        if target is not None:
            diagnostics.setdefault(id_key(target.id), []).append(
                diagnostic_setting_from_arm(_payload(template, resource))
            )
    assignments: dict[str, list[RoleAssignment]] = {}
    for resource in by_type.get(ROLE_ASSIGNMENTS, []):
        target = _scope_target(template, resource)
        if target is not None and target.type.lower() == KEYS:
            target = template.find(target.id.rsplit("/keys/", 1)[0])
        payload = _payload(template, resource)
        properties = payload["properties"]
        if target is None or not properties.get("principalId") or not properties.get("roleDefinitionId"):
            continue
        properties["roleDefinitionId"] = builtin_role_id(str(properties["roleDefinitionId"]))
        properties.setdefault("scope", target.id)
        assignments.setdefault(id_key(target.id), []).append(role_assignment_from_arm(payload))
    vaults: list[Vault] = []
    for resource in by_type.get(VAULTS, []):
        payload = _payload(template, resource)
        properties = payload["properties"]
        properties.setdefault("vaultUri", template.computed(resource, ("properties", "vaultUri")))
        properties.setdefault("enableSoftDelete", True)
        properties.setdefault("softDeleteRetentionInDays", 90)
        vault = vault_from_arm(payload)
        diagnostics_of = diagnostics.get(id_key(vault.id))
        vaults.append(
            replace(
                vault,
                access_policies=vault.access_policies + tuple(extra_policies.get(id_key(vault.id), [])),
                diagnostic_settings=tuple(diagnostics_of) if diagnostics_of else None,
                diagnostic_settings_unread=None if diagnostics_of else NO_DIAGNOSTICS,
                role_assignments=tuple(assignments.get(id_key(vault.id), [])),
                role_assignments_unread=ASSIGNMENTS_ELSEWHERE,
            )
        )
    keys: list[Key] = []
    for resource in by_type.get(KEYS, []):
        key_name = resource.name.partition("/")[2]
        vault_id = ResourceId(resource.id.rsplit("/keys/", 1)[0])
        key = key_from_arm({**_payload(template, resource), "id": key_resource_id(vault_id, key_name)}, vault_id, None)
        keys.append(replace(key, enabled=True, versions_unread=LIVE_ONLY_VERSIONS))
    workspaces: list[Workspace] = []
    for resource in by_type.get(WORKSPACES, []):
        payload = _payload(template, resource)
        properties = payload["properties"]
        prepared = walk(properties, ("parameters", "prepareEncryption", "value"))[1]
        # Azure gives the DBFS storage account an identity only when the workspace is prepared for a key.
        identities = (
            ("managedDiskIdentity",) if prepared is False else ("storageAccountIdentity", "managedDiskIdentity")
        )
        for identity in identities:
            properties.setdefault(
                identity, {"principalId": Symbol(f"{resource.id}.properties.{identity}.principalId").text}
            )
        properties.pop("diskEncryptionSetId", None)
        properties.pop("managedResourceGroupId", None)
        workspaces.append(workspace_from_arm(payload))
    tenants = {v.tenant_id for v in vaults if v.tenant_id} | {TENANT}
    used = {a.role_definition_id.lower() for v in vaults for a in v.role_assignments or ()}
    subscription = SubscriptionId(Symbol("subscription().subscriptionId").text)
    return assemble_inventory(
        collected_at=collected_at,
        tool_version=tool_version,
        scope=ScanScope(
            subscriptions=(subscription,),
            arm_endpoint="",
            cloud="arm template",
            sources=(Provenance.ARM_TEMPLATE,),
            notes=tuple(template.notes) + (() if workspaces else (NO_WORKSPACE,)),
        ),
        subscriptions=[Subscription(subscription, None, None, TENANT)],
        workspaces=workspaces,
        vaults=vaults,
        keys=keys,
        disk_encryption_sets=[],
        storage_accounts=[],
        principals=principal_lookups(principal_ids, tenants, None, "a template names it only as a parameter"),
        errors=template.budget.errors(),  # after the mapping, which found the gaps of what it evaluated
        role_definitions=[d for d in load_builtin_roles() if d.id.lower() in used],
        locations=locations,
        workspace_links=[
            WorkspaceLinks(w.id, None, None, CREATED_WITH_WORKSPACE, CREATED_WITH_WORKSPACE) for w in workspaces
        ],
    )
