"""Terraform plans as `terraform show -json plan.out` writes them (JSON output format 1.2), for the CMK module of
the design notes: a root module with the workspace, its DBFS key, the access policies of the identities Azure
creates with the workspace and the vault's diagnostic setting; a `key_vault` module with the vault, the key and
the access policies of the deployer and of the AzureDatabricks service principal.

`cmk_module_plan()` is the compliant configuration; its keyword arguments make the broken variants.
"""

from __future__ import annotations

import copy
from typing import Any

Json = dict[str, Any]

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
SUBSCRIPTION = "9b2c7e51-3f4a-4d6b-8c1e-2a3b4c5d6e7f"
DEPLOYER = "5a1d2c3b-4e5f-4a6b-9c7d-8e9f0a1b2c3d"
DATABRICKS_SP = "b7c8d9e0-f1a2-4b3c-8d4e-5f6a7b8c9d0e"
AZURE_DATABRICKS_APP = "2ff814a6-3304-4ab8-85cb-cd0e6f879c1d"
LOG_WORKSPACE = (
    f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-logs/providers/Microsoft.OperationalInsights/workspaces/law-sec"
)


def ref(reference: str) -> Json:
    """A configuration expression that refers to another object: Terraform lists the reference, then each shorter
    prefix of it down to the object itself."""
    parts = reference.split(".")
    shortest = 3 if parts[0] == "data" else 2
    return {"references": [".".join(parts[:end]) for end in range(len(parts), shortest - 1, -1)]}


def const(value: Any) -> Json:
    return {"constant_value": value}


def _instance(module: str, type_: str, name: str, values: Json, mode: str = "managed", index: Any = None) -> Json:
    prefix = f"{module}." if module else ""
    own = f"{'data.' if mode == 'data' else ''}{type_}.{name}"
    address = f"{prefix}{own}" + ("" if index is None else f"[{index}]" if isinstance(index, int) else f'["{index}"]')
    body: Json = {
        "address": address,
        "mode": mode,
        "type": type_,
        "name": name,
        "provider_name": "registry.terraform.io/hashicorp/" + ("azuread" if type_.startswith("azuread") else "azurerm"),
        "schema_version": 0,
        "values": values,
        "sensitive_values": {},
    }
    if index is not None:
        body["index"] = index
    return body


class PlanBuilder:
    """Collects resources (planned values, changes and configuration) and writes the plan document."""

    def __init__(self, terraform_version: str = "1.9.8") -> None:
        self.terraform_version = terraform_version
        self.planned: dict[str, list[Json]] = {}
        self.prior: dict[str, list[Json]] = {}
        self.changes: list[Json] = []
        self.config: Json = {
            "provider_config": {
                "azurerm": {
                    "name": "azurerm",
                    "full_name": "registry.terraform.io/hashicorp/azurerm",
                    "expressions": {"features": [{}]},
                }
            },
            "root_module": {},
        }
        self.variables: Json = {}

    def module_config(self, module_path: list[str]) -> Json:
        node = self.config["root_module"]
        for call in module_path:
            node = node.setdefault("module_calls", {}).setdefault(call, {"source": f"./modules/{call}", "module": {}})[
                "module"
            ]
        return node

    def resource(
        self,
        module: str,
        type_: str,
        name: str,
        values: Json,
        *,
        unknown: Json | None = None,
        expressions: Json | None = None,
        module_path: list[str] | None = None,
        index: Any = None,
    ) -> None:
        """A managed resource to be created: its known values, which are unknown, and its configuration."""
        instance = _instance(module, type_, name, values, index=index)
        self.planned.setdefault(module, []).append(instance)
        after_unknown = {"id": True, **(unknown or {})}
        change: Json = {
            "address": instance["address"],
            "mode": "managed",
            "type": type_,
            "name": name,
            "provider_name": instance["provider_name"],
            "change": {
                "actions": ["create"],
                "before": None,
                "after": values,
                "after_unknown": after_unknown,
                "before_sensitive": False,
                "after_sensitive": {},
            },
        }
        if module:
            change["module_address"] = module
        if index is not None:
            change["index"] = index
        self.changes.append(change)
        config = self.module_config(module_path or [])
        wanted = f"{type_}.{name}"
        if not any(r["address"] == wanted for r in config.get("resources", [])):
            config.setdefault("resources", []).append(
                {
                    "address": wanted,
                    "mode": "managed",
                    "type": type_,
                    "name": name,
                    "provider_config_key": "azurerm",
                    "expressions": expressions or {},
                    "schema_version": 0,
                }
            )

    def data(self, module: str, type_: str, name: str, values: Json, module_path: list[str] | None = None) -> None:
        """A data source read while planning: in prior_state, with its values."""
        instance = _instance(module, type_, name, values, mode="data")
        self.prior.setdefault(module, []).append(instance)
        config = self.module_config(module_path or [])
        config.setdefault("resources", []).append(
            {
                "address": f"data.{type_}.{name}",
                "mode": "data",
                "type": type_,
                "name": name,
                "provider_config_key": "azuread" if type_.startswith("azuread") else "azurerm",
                "expressions": {},
                "schema_version": 0,
            }
        )

    def module_call(self, module_path: list[str], inputs: Json, outputs: Json) -> None:
        parent = self.module_config(module_path[:-1])
        call = parent.setdefault("module_calls", {}).setdefault(
            module_path[-1], {"source": f"./modules/{module_path[-1]}", "module": {}}
        )
        call["expressions"] = inputs
        call["module"]["outputs"] = {name: {"expression": expression} for name, expression in outputs.items()}

    def _tree(self, by_module: dict[str, list[Json]]) -> Json:
        root: Json = {"resources": by_module.get("", [])}
        children = [{"address": m, "resources": r} for m, r in sorted(by_module.items()) if m]
        if children:
            root["child_modules"] = children
        return root

    def document(self) -> Json:
        return {
            "format_version": "1.2",
            "terraform_version": self.terraform_version,
            "variables": self.variables,
            "planned_values": {"root_module": self._tree(self.planned)},
            "resource_changes": self.changes,
            "prior_state": {
                "format_version": "1.0",
                "terraform_version": self.terraform_version,
                "values": {"root_module": self._tree(self.prior)},
            },
            "configuration": self.config,
            "timestamp": "2026-11-30T09:15:02Z",
            "applyable": True,
            "complete": True,
            "errored": False,
        }


def cmk_module_plan(
    *,
    sku: str = "premium",
    purge_protection: bool = True,
    retention_days: int = 90,
    rotation: Json | None = None,
    databricks_permissions: tuple[str, ...] = ("Get", "WrapKey", "UnwrapKey"),
    cmk_enabled: bool = True,
    rbac_flag: str = "enable_rbac_authorization",
    key_output: str = "id",
    diagnostics: bool = True,
    workspaces: tuple[str, ...] = ("",),
) -> Json:
    """The plan of the CMK module configuration (compliant with the defaults); `workspaces` other than ("",) puts
    the whole configuration in a module called once per key with `for_each`."""
    plan = PlanBuilder()
    plan.data(
        "",
        "azurerm_client_config",
        "current",
        {
            "client_id": "04b07795-8ddb-461a-bbee-02f9e1bf7b46",
            "id": "Y2xpZW50Q29uZmlncy9jbGllbnRJZD0",
            "object_id": DEPLOYER,
            "subscription_id": SUBSCRIPTION,
            "tenant_id": TENANT,
            "timeouts": None,
        },
    )
    plan.data(
        "",
        "azuread_service_principal",
        "azuredatabricks",
        {
            "account_enabled": True,
            "client_id": AZURE_DATABRICKS_APP,
            "application_id": AZURE_DATABRICKS_APP,
            "display_name": "AzureDatabricks",
            "id": f"/servicePrincipals/{DATABRICKS_SP}",
            "object_id": DATABRICKS_SP,
            "type": "Application",
        },
    )
    rotation_policy = (
        rotation
        if rotation is not None
        else {
            "automatic": [{"time_after_creation": "P90D", "time_before_expiry": None}],
            "expire_after": "P2Y",
            "notify_before_expiry": "P29D",
        }
    )
    for each in workspaces:
        env = each or "prod"
        outer = f'module.env["{each}"]' if each else ""
        outer_path = ["env"] if each else []
        kv_module = f"{outer + '.' if outer else ''}module.key_vault"
        kv_path = [*outer_path, "key_vault"]
        vault_values: Json = {
            "name": f"kv-dbx-{env}-01",
            "location": "westeurope",
            "resource_group_name": f"rg-dbx-{env}",
            "tenant_id": TENANT,
            "sku_name": "premium",
            "purge_protection_enabled": purge_protection,
            "soft_delete_retention_days": retention_days,
            rbac_flag: False,
            "public_network_access_enabled": True,
            "enabled_for_disk_encryption": False,
            "network_acls": [
                {"bypass": "AzureServices", "default_action": "Deny", "ip_rules": [], "virtual_network_subnet_ids": []}
            ],
            "access_policy": [],
            "tags": {"environment": env},
        }
        plan.resource(
            kv_module,
            "azurerm_key_vault",
            "this",
            vault_values,
            unknown={"vault_uri": True, "access_policy": []},
            module_path=kv_path,
            expressions={"tenant_id": ref("var.tenant_id"), "name": ref("var.name")},
        )
        key_values: Json = {
            "name": "databricks-cmk",
            "key_type": "RSA",
            "key_size": 3072,
            "key_opts": ["unwrapKey", "wrapKey"],
            "expiration_date": None,
            "not_before_date": None,
            "rotation_policy": [rotation_policy] if rotation_policy else [],
            "tags": None,
        }
        plan.resource(
            kv_module,
            "azurerm_key_vault_key",
            "cmk",
            key_values,
            module_path=kv_path,
            unknown={
                "key_vault_id": True,
                "version": True,
                "versionless_id": True,
                "resource_id": True,
                "resource_versionless_id": True,
                "n": True,
                "e": True,
            },
            expressions={"key_vault_id": ref("azurerm_key_vault.this.id"), "name": const("databricks-cmk")},
        )
        for policy, object_id, permissions in (
            (
                "terraform",
                DEPLOYER,
                ["Get", "List", "Create", "Delete", "Update", "Recover", "GetRotationPolicy", "SetRotationPolicy"],
            ),
            ("databricks", DATABRICKS_SP, list(databricks_permissions)),
        ):
            plan.resource(
                kv_module,
                "azurerm_key_vault_access_policy",
                policy,
                {
                    "tenant_id": TENANT,
                    "object_id": object_id,
                    "key_permissions": permissions,
                    "secret_permissions": None,
                    "certificate_permissions": None,
                    "storage_permissions": None,
                    "application_id": None,
                },
                unknown={"key_vault_id": True},
                module_path=kv_path,
                expressions={
                    "key_vault_id": ref("azurerm_key_vault.this.id"),
                    "object_id": ref("var.databricks_sp_object_id")
                    if policy == "databricks"
                    else ref("var.deployer_object_id"),
                },
            )
        plan.module_call(
            kv_path,
            {
                "name": const(f"kv-dbx-{env}-01"),
                "tenant_id": ref("data.azurerm_client_config.current.tenant_id") if not each else ref("var.tenant_id"),
                "deployer_object_id": ref("data.azurerm_client_config.current.object_id")
                if not each
                else ref("var.deployer_object_id"),
                "databricks_sp_object_id": ref("data.azuread_service_principal.azuredatabricks.object_id")
                if not each
                else ref("var.databricks_sp_object_id"),
            },
            {
                "key_id": ref(f"azurerm_key_vault_key.cmk.{key_output}"),
                "key_vault_id": ref("azurerm_key_vault.this.id"),
            },
        )
        ws_values: Json = {
            "name": f"dbw-{env}",
            "location": "westeurope",
            "resource_group_name": f"rg-dbx-{env}",
            "sku": sku,
            "customer_managed_key_enabled": cmk_enabled,
            "infrastructure_encryption_enabled": True,
            "managed_disk_cmk_rotation_to_latest_version_enabled": True,
            "managed_services_cmk_key_vault_id": None,
            "managed_disk_cmk_key_vault_id": None,
            "public_network_access_enabled": True,
            "custom_parameters": [],
            "tags": {"environment": env, "data-classification": "confidential"},
        }
        ws_unknown = {
            "managed_services_cmk_key_vault_key_id": True,
            "managed_disk_cmk_key_vault_key_id": True,
            "storage_account_identity": True,
            "managed_disk_identity": True,
            "disk_encryption_set_id": True,
            "managed_resource_group_id": True,
            "workspace_url": True,
            "workspace_id": True,
        }
        key_from = "module.key_vault.key_id"
        plan.resource(
            outer,
            "azurerm_databricks_workspace",
            "this",
            ws_values,
            unknown=ws_unknown,
            module_path=outer_path,
            expressions={
                "managed_services_cmk_key_vault_key_id": ref(key_from),
                "managed_disk_cmk_key_vault_key_id": ref(key_from),
            },
        )
        plan.resource(
            outer,
            "azurerm_databricks_workspace_root_dbfs_customer_managed_key",
            "this",
            {},
            unknown={"workspace_id": True, "key_vault_key_id": True},
            module_path=outer_path,
            expressions={
                "workspace_id": ref("azurerm_databricks_workspace.this.id"),
                "key_vault_key_id": ref(key_from),
            },
        )
        for policy, identity in (
            ("dbfs_storage", "storage_account_identity"),
            ("managed_disk", "managed_disk_identity"),
        ):
            plan.resource(
                outer,
                "azurerm_key_vault_access_policy",
                policy,
                {
                    "tenant_id": TENANT,
                    "key_permissions": ["Get", "WrapKey", "UnwrapKey"],
                    "secret_permissions": None,
                    "certificate_permissions": None,
                    "storage_permissions": None,
                    "application_id": None,
                },
                unknown={"key_vault_id": True, "object_id": True},
                module_path=outer_path,
                expressions={
                    "key_vault_id": ref("module.key_vault.key_vault_id"),
                    "object_id": ref(f"azurerm_databricks_workspace.this.{identity}[0].principal_id"),
                },
            )
        if diagnostics:
            plan.resource(
                outer,
                "azurerm_monitor_diagnostic_setting",
                "key_vault",
                {
                    "name": "kv-audit",
                    "log_analytics_workspace_id": LOG_WORKSPACE,
                    "enabled_log": [{"category": None, "category_group": "audit"}],
                    "storage_account_id": None,
                    "eventhub_authorization_rule_id": None,
                    "partner_solution_id": None,
                },
                unknown={"target_resource_id": True},
                module_path=outer_path,
                expressions={"target_resource_id": ref("module.key_vault.key_vault_id")},
            )
        if each:
            plan.module_call(
                ["env"],
                {
                    "tenant_id": ref("data.azurerm_client_config.current.tenant_id"),
                    "deployer_object_id": ref("data.azurerm_client_config.current.object_id"),
                    "databricks_sp_object_id": ref("data.azuread_service_principal.azuredatabricks.object_id"),
                },
                {},
            )
    return copy.deepcopy(plan.document())
