"""Map planned azurerm (and azuread) resources to the inventory's records, so that the live controls judge them.

Covered: azurerm 3.x, 4.x and 5.x names (`enable_rbac_authorization` became `rbac_authorization_enabled`; the
3.x `azurerm_databricks_workspace_customer_managed_key` was replaced by
`azurerm_databricks_workspace_root_dbfs_customer_managed_key`; the `*_cmk_key_vault_id` inputs of 3.x and 4.x
for vaults in another subscription), with defaults as the provider documents them. A record's id is its Azure
id when the plan knows it (a resource in state), else its Terraform address; `locations` says where each is
declared. What a plan cannot hold (key versions, a vault's settings made outside the configuration, the
disk encryption set and storage account Azure creates for a workspace) is marked live-only, so that the
checks say so instead of passing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from cmkaudit.iac.model import IacResource, Resolver, Symbol, Value, path_text
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
from cmkaudit.ids import AZURE_DATABRICKS_APP_ID, PrincipalId, ResourceId, SubscriptionId, id_key, parse_key_url
from cmkaudit.inventory import Inventory, assemble_inventory
from cmkaudit.inventory.links import key_resource_id
from cmkaudit.inventory.model import (
    AccessPolicy,
    DiagnosticSetting,
    Key,
    KeyReference,
    LifetimeAction,
    LogSetting,
    ManagedIdentity,
    Provenance,
    RoleAssignment,
    RotationPolicy,
    ScanScope,
    Scope,
    ScopeEncryption,
    SourceLocation,
    Subscription,
    Unread,
    UnreadWhy,
    Vault,
    Workspace,
    WorkspaceLinks,
)

VAULT_SUFFIXES = {"public": "vault.azure.net", "usgovernment": "vault.usgovcloudapi.net", "china": "vault.azure.cn"}
"""The Key Vault DNS suffix of each azurerm `environment`: a planned vault's URI is `https://<name>.<suffix>/`."""

CMK_SOURCE = "Microsoft.Keyvault"
DATABRICKS_PRINCIPAL = Symbol("data.azuread_service_principal(AzureDatabricks).object_id")
_KEY_RESOURCE_ID = re.compile(
    r"/providers/Microsoft\.KeyVault/vaults/(?P<vault>[^/]+)/keys/(?P<key>[^/]+)(?:/versions/(?P<version>[^/]+))?/?$",
    re.IGNORECASE,
)
KV_DEFAULT_RETENTION_DAYS = 90
"""azurerm's default `soft_delete_retention_days`."""

_PROVIDER_CONTEXT = re.compile(r"(?:^|\.)data\.azurerm_client_config\.[^.]+\.(tenant_id|subscription_id)$")


def _text(value: Value) -> str | None:
    """A string value, a symbol as `${...}`, or None. Every module's `data.azurerm_client_config` names the
    same deploying tenant and subscription: their symbols are one."""
    if isinstance(value, Symbol):
        provider = _PROVIDER_CONTEXT.search(value.expr)
        return Symbol(f"provider.azurerm.{provider.group(1)}").text if provider else value.text
    if isinstance(value, str):
        return value
    return None


def _setting(value: Value) -> str | None:
    """A setting that checks compare with known words (a SKU, a firewall action, a region): None when it is
    known only after apply, so that it is judged UNKNOWN, never matched by its expression's text."""
    return value if isinstance(value, str) else None


def _bool(value: Value, default: bool | None = None) -> bool | None:
    """A boolean value; the provider's default when not set; None when known only after apply."""
    if isinstance(value, bool):
        return value
    return default if value is None else None


def _int(value: Value, default: int | None = None) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return default if value is None else None


def _strings(value: Value) -> tuple[str, ...]:
    return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list) else ()


def _blocks(resolver: Resolver, resource: IacResource, name: str) -> int:
    """How many `name` blocks the resource has."""
    value = resolver.get(resource, name)
    return len(value) if isinstance(value, list) else 0


@dataclass
class _Mapped:
    """The records made so far, by the address of the resource they come from."""

    vaults: dict[str, IacResource] = field(default_factory=dict)
    vault_ids: dict[str, ResourceId] = field(default_factory=dict)
    policies: dict[str, list[AccessPolicy]] = field(default_factory=dict)
    diagnostics: dict[str, list[DiagnosticSetting]] = field(default_factory=dict)
    assignments: dict[str, list[RoleAssignment]] = field(default_factory=dict)
    dbfs_keys: dict[str, IacResource] = field(default_factory=dict)
    """The DBFS root key resource of each workspace, by the workspace's address."""
    locations: list[SourceLocation] = field(default_factory=list)


class AzurermMapper:
    """Turns the resources of one configuration into an inventory."""

    def __init__(self, resolver: Resolver, *, environment: str) -> None:
        self.resolver = resolver
        self.suffix = VAULT_SUFFIXES.get(environment.lower(), VAULT_SUFFIXES["public"])
        self.mapped = _Mapped()
        self.databricks_data = {
            f"{r.address}.object_id"
            for r in resolver.resources
            if r.type == "azuread_service_principal"
            and str(self.get(r, "client_id") or self.get(r, "application_id") or "").lower() == AZURE_DATABRICKS_APP_ID
        }
        """The object_id of every azuread_service_principal (data source, or resource with `use_existing`) naming the
        AzureDatabricks application (one per module instance, say): all the one service principal."""

    def principal(self, value: Value) -> str | None:
        """A principal id as text; the AzureDatabricks service principal's, from whichever data source, as one."""
        if isinstance(value, Symbol) and value.expr in self.databricks_data:
            return DATABRICKS_PRINCIPAL.text
        return _text(value)

    def get(self, resource: IacResource, *path: str | int) -> Value:
        return self.resolver.get(resource, *path)

    # -- links --------------------------------------------------------------------------------------------------

    def _referenced(self, resource: IacResource, *path: str | int) -> IacResource | None:
        """The resource an attribute refers to (by its id), when it refers to one of this configuration."""
        target = self.resolver.target(resource, *path)
        if target is not None:
            return target[0]
        value = self.get(resource, *path)
        if isinstance(value, str):
            # A known id: the resource in state with that id.
            return next(
                (r for r in self.resolver.resources if id_key(str(r.values.get("id") or "")) == id_key(value)), None
            )
        return None

    def record_id(self, resource: IacResource) -> ResourceId:
        """The Azure id when the plan knows it, else the Terraform address."""
        known = resource.values.get("id")
        return ResourceId(known if isinstance(known, str) and known.startswith("/") else resource.address)

    def _locate(self, resource: IacResource, record_id: str) -> None:
        span = resource.span
        self.mapped.locations.append(
            SourceLocation(
                ResourceId(record_id),
                resource.address,
                span.file if span else None,
                span.start_line if span else None,
                span.end_line if span else None,
            )
        )

    # -- key references ------------------------------------------------------------------------------------------

    def vault_uri(self, vault: IacResource) -> str | None:
        known = vault.values.get("vault_uri")
        if isinstance(known, str):
            return known
        name = self.get(vault, "name")
        return f"https://{name.lower()}.{self.suffix}/" if isinstance(name, str) else None

    def key_reference(self, holder: IacResource, attribute: str) -> KeyReference | Unread | None:
        """The key an attribute names: a key of this configuration, a key URL, or why it cannot be told."""
        value = self.get(holder, attribute)
        if value is None:
            return None
        if isinstance(value, str):
            parsed = parse_key_url(value)
            if parsed is not None:
                return KeyReference(f"https://{parsed.vault_host}/", parsed.name, parsed.version, attribute)
            # The key's Resource Manager id (azurerm's `resource_id`): .../vaults/<vault>/keys/<key>[/versions/<v>].
            found = _KEY_RESOURCE_ID.search(value)
            if found is not None:
                host = f"https://{found['vault'].lower()}.{self.suffix}/"
                return KeyReference(host, found["key"], found["version"], attribute)
            return Unread(UnreadWhy.NOT_FOUND, f"{attribute} = {value!r} is not a Key Vault key URL or id")
        target = self.resolver.target(holder, attribute)
        if target is not None and target[0].type == "azurerm_key_vault_key" and target[0].mode == "managed":
            key, used = target
            vault = self._referenced(key, "key_vault_id")
            name = self.get(key, "name")
            uri = self.vault_uri(vault) if vault is not None else None
            if uri is None or not isinstance(name, str):
                return Unread(
                    UnreadWhy.NOT_FOUND,
                    f"{attribute} names key {key.address}, whose vault or name is not known before apply",
                )
            versionless = path_text(used) in ("versionless_id", "resource_versionless_id")
            version = None if versionless else Symbol(f"{key.address}.version").text
            return KeyReference(uri, name, version, attribute)
        if target is not None and target[0].type == "azurerm_key_vault_key" and target[0].mode == "data":
            return Unread(
                UnreadWhy.OUTSIDE_SCOPE,
                f"{attribute} names an existing key ({target[0].address}) that is not created by this configuration",
                "scan the subscription of its vault (cmkaudit scan --subscription ...) to judge the key and vault",
            )
        return Unread(
            UnreadWhy.NOT_FOUND,
            f"{attribute} is known only after apply ({value.text if isinstance(value, Symbol) else value!r}) and "
            "does not name a key of this configuration",
            "scan the deployed workspace to judge it",
        )

    # -- resources -----------------------------------------------------------------------------------------------

    def _scope(
        self,
        scope: Scope,
        reference: KeyReference | Unread | None,
        rotation_to_latest: bool | None = None,
        prepare_encryption: bool | None = None,
    ) -> ScopeEncryption:
        if isinstance(reference, Unread):
            return ScopeEncryption(scope, CMK_SOURCE, None, rotation_to_latest, prepare_encryption, reference)
        source = CMK_SOURCE if reference else None
        return ScopeEncryption(scope, source, reference, rotation_to_latest, prepare_encryption)

    def _identity(self, resource: IacResource, block: str, enabled: bool) -> ManagedIdentity | None:
        if not enabled:
            return None
        principal = self.get(resource, block, 0, "principal_id")
        text = _text(principal) or Symbol(f"{resource.address}.{block}[0].principal_id").text
        return ManagedIdentity(PrincipalId(text), None, "SystemAssigned", f"{block}[0].principal_id")

    def workspace(self, resource: IacResource, subscription: str) -> tuple[Workspace, WorkspaceLinks]:
        cmk_enabled = _bool(self.get(resource, "customer_managed_key_enabled"), False)
        dbfs = self.mapped.dbfs_keys.get(resource.address)
        dbfs_ref = self.key_reference(dbfs, "key_vault_key_id") if dbfs is not None else None
        record_id = self.record_id(resource)
        self._locate(resource, record_id)
        tags = self.get(resource, "tags")
        workspace = Workspace(
            id=record_id,
            name=_text(self.get(resource, "name")) or resource.address,
            subscription_id=SubscriptionId(subscription),
            resource_group=_text(self.get(resource, "resource_group_name")) or "",
            location=_setting(self.get(resource, "location")),
            sku=_setting(self.get(resource, "sku")),
            tags=_tags(tags),
            managed_resource_group_id=None,
            disk_encryption_set_id=None,
            managed_disk_identity=self._identity(resource, "managed_disk_identity", True),
            storage_account_identity=self._identity(resource, "storage_account_identity", cmk_enabled is not False),
            storage_account_name=_text(self.get(resource, "custom_parameters", 0, "storage_account_name")),
            require_infrastructure_encryption=_bool(self.get(resource, "infrastructure_encryption_enabled"), False),
            managed_services=self._scope(
                Scope.MANAGED_SERVICES, self.key_reference(resource, "managed_services_cmk_key_vault_key_id")
            ),
            managed_disk=self._scope(
                Scope.MANAGED_DISK,
                self.key_reference(resource, "managed_disk_cmk_key_vault_key_id"),
                rotation_to_latest=_bool(
                    self.get(resource, "managed_disk_cmk_rotation_to_latest_version_enabled"), False
                ),
            ),
            dbfs_root=self._scope(Scope.DBFS_ROOT, dbfs_ref, prepare_encryption=cmk_enabled),
        )
        links = WorkspaceLinks(record_id, None, None, CREATED_WITH_WORKSPACE, CREATED_WITH_WORKSPACE)
        return workspace, links

    def access_policy(self, source: IacResource, *block: str | int) -> AccessPolicy | None:
        object_id = self.principal(self.get(source, *block, "object_id"))
        if object_id is None:
            return None
        return AccessPolicy(
            tenant_id=_text(self.get(source, *block, "tenant_id")),
            object_id=PrincipalId(object_id),
            application_id=_text(self.get(source, *block, "application_id")),
            keys=_strings(self.get(source, *block, "key_permissions")),
            secrets=_strings(self.get(source, *block, "secret_permissions")),
            certificates=_strings(self.get(source, *block, "certificate_permissions")),
            storage=_strings(self.get(source, *block, "storage_permissions")),
        )

    def vault(self, resource: IacResource, subscription: str) -> Vault:
        record_id = self.record_id(resource)
        self._locate(resource, record_id)
        inline = [
            self.access_policy(resource, "access_policy", i)
            for i in range(_blocks(self.resolver, resource, "access_policy"))
        ]
        policies = [p for p in inline if p is not None] + self.mapped.policies.get(resource.address, [])
        rbac = self.get(resource, "rbac_authorization_enabled")
        if rbac is None:
            rbac = self.get(resource, "enable_rbac_authorization")
        public = _bool(self.get(resource, "public_network_access_enabled"), True)
        acls = _blocks(self.resolver, resource, "network_acls")
        diagnostics = self.mapped.diagnostics.get(resource.address)
        return Vault(
            id=record_id,
            name=_text(self.get(resource, "name")) or resource.address,
            subscription_id=SubscriptionId(subscription),
            resource_group=_text(self.get(resource, "resource_group_name")) or "",
            location=_setting(self.get(resource, "location")),
            tenant_id=_text(self.get(resource, "tenant_id")),
            vault_uri=self.vault_uri(resource),
            sku=_setting(self.get(resource, "sku_name")),
            soft_delete_enabled=_bool(self.get(resource, "soft_delete_enabled"), True),
            soft_delete_retention_days=_int(
                self.get(resource, "soft_delete_retention_days"), KV_DEFAULT_RETENTION_DAYS
            ),
            purge_protection_enabled=_bool(self.get(resource, "purge_protection_enabled"), False),
            rbac_authorization=_bool(rbac, False),
            public_network_access=None if public is None else "Enabled" if public else "Disabled",
            network_default_action=_setting(self.get(resource, "network_acls", 0, "default_action")) if acls else None,
            network_bypass=_setting(self.get(resource, "network_acls", 0, "bypass")) if acls else None,
            access_policies=tuple(policies),
            diagnostic_settings=tuple(diagnostics) if diagnostics else None,
            diagnostic_settings_unread=None if diagnostics else NO_DIAGNOSTICS,
            role_assignments=tuple(self.mapped.assignments.get(resource.address, [])),
            role_assignments_unread=ASSIGNMENTS_ELSEWHERE,
        )

    def key(self, resource: IacResource) -> Key | None:
        vault = self._referenced(resource, "key_vault_id")
        name = self.get(resource, "name")
        if vault is None or not isinstance(name, str):
            return None
        vault_id = self.mapped.vault_ids.get(vault.address) or self.record_id(vault)
        record_id = key_resource_id(vault_id, name)
        self._locate(resource, record_id)
        actions: list[LifetimeAction] = []
        policy: RotationPolicy | None
        if _blocks(self.resolver, resource, "rotation_policy"):
            after = _text(self.get(resource, "rotation_policy", 0, "automatic", 0, "time_after_creation"))
            before = _text(self.get(resource, "rotation_policy", 0, "automatic", 0, "time_before_expiry"))
            if after or before:
                actions.append(LifetimeAction("Rotate", after, before))
            notify = _text(self.get(resource, "rotation_policy", 0, "notify_before_expiry"))
            if notify:
                actions.append(LifetimeAction("Notify", None, notify))
            policy = RotationPolicy(
                tuple(actions), _text(self.get(resource, "rotation_policy", 0, "expire_after")), "rotation_policy"
            )
        else:
            # No rotation_policy block: Key Vault's default policy only notifies, 30 days before expiry.
            policy = RotationPolicy((LifetimeAction("Notify", None, "P30D"),), None, "rotation_policy (not set)")
        return Key(
            id=record_id,
            vault_id=vault_id,
            name=name,
            kty=_setting(self.get(resource, "key_type")),
            key_size=_int(self.get(resource, "key_size")),
            enabled=True,
            created=None,
            expires=None,
            current_version=None,
            rotation_policy=policy,
            versions=None,
            versions_unread=LIVE_ONLY_VERSIONS,
        )

    def diagnostic_setting(self, resource: IacResource) -> tuple[str, DiagnosticSetting] | None:
        target = self._referenced(resource, "target_resource_id")
        if target is None or target.type != "azurerm_key_vault":
            return None
        logs: list[LogSetting] = []
        for block, enabled_default in (("enabled_log", True), ("log", True)):
            for i in range(_blocks(self.resolver, resource, block)):
                logs.append(
                    LogSetting(
                        _text(self.get(resource, block, i, "category")),
                        _text(self.get(resource, block, i, "category_group")),
                        _bool(self.get(resource, block, i, "enabled"), enabled_default),
                    )
                )
        destinations = tuple(
            text
            for attribute in (
                "log_analytics_workspace_id",
                "storage_account_id",
                "eventhub_authorization_rule_id",
                "partner_solution_id",
            )
            if (text := _text(self.get(resource, attribute)))
        )
        record_id = self.record_id(resource)
        self._locate(resource, record_id)
        name = _text(self.get(resource, "name")) or resource.address
        return target.address, DiagnosticSetting(record_id, name, destinations, tuple(logs))

    def role_assignment(self, resource: IacResource) -> tuple[str, RoleAssignment] | None:
        target = self._referenced(resource, "scope")
        if target is not None and target.type == "azurerm_key_vault_key":
            target = self._referenced(target, "key_vault_id")
        if target is None or target.type != "azurerm_key_vault":
            return None
        principal = self.principal(self.get(resource, "principal_id"))
        role = _text(self.get(resource, "role_definition_name")) or _text(self.get(resource, "role_definition_id"))
        if principal is None or role is None:
            return None
        record_id = self.record_id(resource)
        self._locate(resource, record_id)
        scope = _text(self.get(resource, "scope")) or target.address
        return target.address, RoleAssignment(
            record_id,
            PrincipalId(principal),
            _text(self.get(resource, "principal_type")),
            builtin_role_id(role),
            scope,
        )


def _databricks_principal(mapper: AzurermMapper) -> str | None:
    """The AzureDatabricks service principal's object id, from an azuread_service_principal data source that names
    its application: its value when the plan read it, else the one symbol every such data source shares."""
    for resource in mapper.resolver.resources:
        if f"{resource.address}.object_id" in mapper.databricks_data:
            return mapper.principal(mapper.get(resource, "object_id") or Symbol(f"{resource.address}.object_id"))
    return None


def _client_config(mapper: AzurermMapper) -> tuple[str, str]:
    """The deploying subscription and tenant: from data.azurerm_client_config when there is one."""
    for resource in mapper.resolver.resources:
        if resource.mode == "data" and resource.type == "azurerm_client_config":
            subscription = _text(
                mapper.get(resource, "subscription_id") or Symbol(f"{resource.address}.subscription_id")
            )
            tenant = _text(mapper.get(resource, "tenant_id") or Symbol(f"{resource.address}.tenant_id"))
            if subscription and tenant:
                return subscription, tenant
    return Symbol("provider.azurerm.subscription_id").text, Symbol("provider.azurerm.tenant_id").text


def _tags(tags: Value) -> dict[str, str]:
    """Tags as the inventory keeps them: a value known only after apply as its symbol's text, never its repr."""
    if not isinstance(tags, dict):
        return {}
    return {str(k): v.text if isinstance(v, Symbol) else str(v) for k, v in tags.items()}


def inventory_from_terraform(
    resolver: Resolver,
    *,
    collected_at: datetime,
    tool_version: str,
    provenance: Provenance,
    environment: str,
    principal_ids: Mapping[str, str],
    notes: Iterable[str] = (),
) -> Inventory:
    """The inventory of a configuration's azurerm resources."""
    mapper = AzurermMapper(resolver, environment=environment)
    managed = [r for r in resolver.resources if r.mode == "managed"]
    subscription, tenant = _client_config(mapper)
    # The resources that attach to others first: access policies, diagnostic settings, role assignments, DBFS keys.
    for resource in managed:
        match resource.type:
            case "azurerm_key_vault_access_policy":
                holder = mapper._referenced(resource, "key_vault_id")
                policy = mapper.access_policy(resource)
                if holder is not None and policy is not None:
                    mapper.mapped.policies.setdefault(holder.address, []).append(policy)
                    mapper._locate(resource, mapper.record_id(resource))
            case "azurerm_monitor_diagnostic_setting":
                setting = mapper.diagnostic_setting(resource)
                if setting is not None:
                    mapper.mapped.diagnostics.setdefault(setting[0], []).append(setting[1])
            case "azurerm_role_assignment":
                assigned = mapper.role_assignment(resource)
                if assigned is not None:
                    mapper.mapped.assignments.setdefault(assigned[0], []).append(assigned[1])
            case (
                "azurerm_databricks_workspace_root_dbfs_customer_managed_key"
                | "azurerm_databricks_workspace_customer_managed_key"
            ):
                consumer = mapper._referenced(resource, "workspace_id")
                if consumer is not None:
                    mapper.mapped.dbfs_keys[consumer.address] = resource
                    mapper._locate(resource, mapper.record_id(resource))
    vaults = []
    for resource in managed:
        if resource.type == "azurerm_key_vault":
            vault = mapper.vault(resource, subscription)
            mapper.mapped.vault_ids[resource.address] = vault.id
            vaults.append(vault)
    keys = [k for r in managed if r.type == "azurerm_key_vault_key" and (k := mapper.key(r)) is not None]
    made = [mapper.workspace(r, subscription) for r in managed if r.type == "azurerm_databricks_workspace"]
    workspaces = [w for w, _ in made]
    tenants = {v.tenant_id for v in vaults if v.tenant_id} | {tenant}
    definitions = load_builtin_roles()
    used = {a.role_definition_id.lower() for v in vaults for a in v.role_assignments or ()}
    principals = principal_lookups(
        principal_ids,
        tenants,
        _databricks_principal(mapper),
        "no azuread_service_principal data source in this configuration names it",
    )
    return assemble_inventory(
        collected_at=collected_at,
        tool_version=tool_version,
        scope=ScanScope(
            subscriptions=(SubscriptionId(subscription),),
            arm_endpoint="",
            cloud=f"terraform ({environment})",
            sources=(provenance,),
            notes=tuple(notes) + (() if workspaces else (NO_WORKSPACE,)),
        ),
        subscriptions=[Subscription(SubscriptionId(subscription), None, None, tenant)],
        workspaces=workspaces,
        vaults=vaults,
        keys=keys,
        disk_encryption_sets=[],
        storage_accounts=[],
        principals=principals,
        errors=list(resolver.gaps),  # after the mapping, which found the gaps of what it evaluated
        role_definitions=[d for d in definitions if d.id.lower() in used],
        locations=mapper.mapped.locations,
        workspace_links=[link for _, link in made],
    )
