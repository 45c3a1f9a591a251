"""Key vault controls: how well the vault that holds a customer-managed key protects it."""

from __future__ import annotations

from cmkaudit.evaluate.checks._common import (
    SubjectCheck,
    is_live_only,
    resolved_vault,
    resolved_vault_and_workspace,
    subscription_of_workspace,
    the_pair,
    unread_reason,
)
from cmkaudit.evaluate.model import Evidence, Settings, Status, Verdict
from cmkaudit.iac.model import is_symbolic
from cmkaudit.inventory import Inventory
from cmkaudit.inventory.model import Vault, Workspace


def _purge_protection(vault: Vault, inventory: Inventory, settings: Settings) -> Verdict:
    """KV-01: the vault holding the key has purge protection."""
    evidence = (
        Evidence(
            "enablePurgeProtection",
            vault.purge_protection_enabled,
            vault.id,
            "properties.enablePurgeProtection",
        ),
    )
    if vault.purge_protection_enabled is True:
        return Verdict(Status.PASS, f"{vault.label} has purge protection", evidence)
    if vault.purge_protection_enabled is None:
        return Verdict(
            Status.FAIL,
            f"{vault.label} does not report enablePurgeProtection; Azure treats that as disabled",
            evidence,
        )
    return Verdict(Status.FAIL, f"{vault.label} has purge protection disabled", evidence)


check_purge_protection = SubjectCheck(resolved_vault, _purge_protection)


# The ARM API documents 90 days as the retention when softDeleteRetentionInDays is not set.
DEFAULT_SOFT_DELETE_RETENTION_DAYS = 90


def _soft_delete(vault: Vault, inventory: Inventory, settings: Settings) -> Verdict:
    """KV-02: the vault has soft delete with enough retention."""
    evidence = (
        Evidence("enableSoftDelete", vault.soft_delete_enabled, vault.id, "properties.enableSoftDelete"),
        Evidence(
            "softDeleteRetentionInDays",
            vault.soft_delete_retention_days,
            vault.id,
            "properties.softDeleteRetentionInDays",
        ),
    )
    if vault.soft_delete_enabled is not True:
        state = "does not report enableSoftDelete" if vault.soft_delete_enabled is None else "has soft delete disabled"
        return Verdict(Status.FAIL, f"{vault.label} {state}", evidence)
    retention = vault.soft_delete_retention_days
    shown = f"{retention} days"
    if retention is None:
        retention = DEFAULT_SOFT_DELETE_RETENTION_DAYS
        shown = f"not reported, so the API default of {retention} days"
    if retention < settings.soft_delete_min_retention_days:
        return Verdict(
            Status.FAIL,
            f"{vault.label} keeps deleted keys for {shown}, less than {settings.soft_delete_min_retention_days}",
            evidence,
        )
    return Verdict(Status.PASS, f"{vault.label} has soft delete with retention {shown}", evidence)


check_soft_delete = SubjectCheck(resolved_vault, _soft_delete)


def _region(name: str | None) -> str | None:
    """ARM writes regions both as "East US 2" and "eastus2"."""
    return name.replace(" ", "").lower() if name else None


def _comparable(one: str, other: str) -> bool:
    """Whether two values can be told apart: both known, or one and the same value known only after apply (two
    different expressions may still give the same value)."""
    return not (is_symbolic(one) or is_symbolic(other)) or one.lower() == other.lower()


def _vault_tenant_and_region(resolved: tuple[Vault, Workspace], inventory: Inventory, settings: Settings) -> Verdict:
    """KV-03: the vault is in the workspace's tenant and region."""
    vault, workspace = resolved
    subscription = subscription_of_workspace(inventory, workspace)
    tenant = subscription.tenant_id if subscription else None
    evidence = (
        Evidence("vault tenantId", vault.tenant_id, vault.id, "properties.tenantId"),
        Evidence(
            "workspace tenant (its subscription's)", tenant, f"/subscriptions/{workspace.subscription_id}", "tenantId"
        ),
        Evidence("vault location", vault.location, vault.id, "location"),
        Evidence("workspace location", workspace.location, workspace.id, "location"),
    )
    problems = []
    if vault.tenant_id and tenant and not _comparable(vault.tenant_id, tenant):
        tenant = None
    if vault.tenant_id and tenant and vault.tenant_id.lower() != tenant.lower():
        problems.append(f"{vault.label} is in tenant {vault.tenant_id}, the workspace in {tenant}")
    if vault.location and workspace.location and _region(vault.location) != _region(workspace.location):
        problems.append(f"{vault.label} is in {vault.location}, the workspace in {workspace.location}")
    if problems:
        return Verdict(Status.FAIL, "; ".join(problems), evidence)
    if not (vault.tenant_id and tenant and vault.location and workspace.location):
        return Verdict(Status.UNKNOWN, "the tenant or region of the vault or the workspace is not reported", evidence)
    return Verdict(Status.PASS, f"{vault.label} is in the workspace's tenant and region", evidence)


check_vault_tenant_and_region = SubjectCheck(resolved_vault_and_workspace, _vault_tenant_and_region, the_pair)


def _vault_network(vault: Vault, inventory: Inventory, settings: Settings) -> Verdict:
    """KV-05: the vault is not open to all networks."""
    evidence = (
        Evidence("publicNetworkAccess", vault.public_network_access, vault.id, "properties.publicNetworkAccess"),
        Evidence(
            "networkAcls.defaultAction", vault.network_default_action, vault.id, "properties.networkAcls.defaultAction"
        ),
        Evidence("networkAcls.bypass", vault.network_bypass, vault.id, "properties.networkAcls.bypass"),
    )
    if (vault.public_network_access or "").lower() == "disabled":
        return Verdict(Status.PASS, f"{vault.label} has public network access disabled", evidence)
    if (vault.network_default_action or "").lower() == "deny":
        if vault.network_bypass is None:
            # Key Vault's REST specification: "If not specified the default is 'AzureServices'".
            return Verdict(
                Status.PASS,
                f"{vault.label} denies by default and lets trusted Azure services through (bypass not set: "
                "AzureServices is Key Vault's default)",
                evidence,
            )
        if "azureservices" in vault.network_bypass.lower():
            return Verdict(
                Status.PASS, f"{vault.label} denies by default and lets trusted Azure services through", evidence
            )
        return Verdict(
            Status.FAIL,
            f"{vault.label} denies by default but does not let trusted Azure services through "
            "(bypass AzureServices), which the services that unwrap the key need",
            evidence,
        )
    return Verdict(
        Status.FAIL,
        f"{vault.label} is open to all networks (public network access "
        f"{vault.public_network_access or 'not set'}, "
        f"firewall default action {vault.network_default_action or 'not set'})",
        evidence,
    )


check_vault_network = SubjectCheck(resolved_vault, _vault_network)


AUDIT_CATEGORY = "auditevent"
AUDIT_GROUPS = frozenset({"audit", "alllogs"})


def _vault_audit_logging(vault: Vault, inventory: Inventory, settings: Settings) -> Verdict:
    """KV-04: the vault sends its AuditEvent logs (or the audit/allLogs group) somewhere."""
    if vault.diagnostic_settings is None and is_live_only(vault.diagnostic_settings_unread):
        return Verdict(Status.NOT_APPLICABLE, unread_reason(vault.diagnostic_settings_unread, ""))
    if vault.diagnostic_settings is None:
        unread = vault.diagnostic_settings_unread
        why = f": {unread_reason(unread, '')}" if unread else ""
        return Verdict(Status.UNKNOWN, f"the diagnostic settings of {vault.label} could not be read{why}")
    evidence = tuple(
        Evidence(
            f"diagnostic setting {s.name}",
            tuple(f"{log.category or log.category_group}: {'on' if log.enabled else 'off'}" for log in s.logs)
            + tuple(f"to {d}" for d in s.destinations),
            s.id,
            "properties.logs, destinations",
        )
        for s in vault.diagnostic_settings
    )
    for setting in vault.diagnostic_settings:
        audited = any(
            log.enabled
            and ((log.category or "").lower() == AUDIT_CATEGORY or (log.category_group or "").lower() in AUDIT_GROUPS)
            for log in setting.logs
        )
        if audited and setting.destinations:
            return Verdict(Status.PASS, f"{vault.label} sends its audit events to {setting.destinations[0]}", evidence)
    if not vault.diagnostic_settings:
        return Verdict(Status.FAIL, f"{vault.label} has no diagnostic settings: key use is not logged", evidence)
    return Verdict(
        Status.FAIL,
        f"no diagnostic setting of {vault.label} sends AuditEvent (or the audit/allLogs group) to a destination",
        evidence,
    )


check_vault_audit_logging = SubjectCheck(resolved_vault, _vault_audit_logging)
