"""Key vault controls: how well the vault that holds a customer-managed key protects it."""

from __future__ import annotations

from cmkaudit.evaluate.checks._common import not_applicable_or_unresolved, vault_of
from cmkaudit.evaluate.model import Evidence, Settings, Status, Verdict
from cmkaudit.inventory.model import Inventory, KeyUsage


def check_purge_protection(usage: KeyUsage, inventory: Inventory, settings: Settings) -> Verdict:
    """KV-01: the vault holding the key has purge protection."""
    early = not_applicable_or_unresolved(usage)
    if early:
        return early
    vault = vault_of(inventory, usage)
    assert vault is not None
    evidence = (
        Evidence(
            "enablePurgeProtection",
            vault.purge_protection_enabled,
            vault.id,
            "properties.enablePurgeProtection",
        ),
    )
    if vault.purge_protection_enabled is True:
        return Verdict(Status.PASS, f"vault {vault.name} has purge protection", evidence)
    if vault.purge_protection_enabled is None:
        return Verdict(
            Status.FAIL,
            f"vault {vault.name} does not report enablePurgeProtection; Azure treats that as disabled",
            evidence,
        )
    return Verdict(Status.FAIL, f"vault {vault.name} has purge protection disabled", evidence)


# The ARM API documents 90 days as the retention when softDeleteRetentionInDays is not set.
DEFAULT_SOFT_DELETE_RETENTION_DAYS = 90


def check_soft_delete(usage: KeyUsage, inventory: Inventory, settings: Settings) -> Verdict:
    """KV-02: the vault has soft delete with enough retention."""
    early = not_applicable_or_unresolved(usage)
    if early:
        return early
    vault = vault_of(inventory, usage)
    assert vault is not None
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
        return Verdict(Status.FAIL, f"vault {vault.name} {state}", evidence)
    retention = vault.soft_delete_retention_days
    shown = f"{retention} days"
    if retention is None:
        retention = DEFAULT_SOFT_DELETE_RETENTION_DAYS
        shown = f"not reported, so the API default of {retention} days"
    if retention < settings.soft_delete_min_retention_days:
        return Verdict(
            Status.FAIL,
            f"vault {vault.name} keeps deleted keys for {shown}, less than {settings.soft_delete_min_retention_days}",
            evidence,
        )
    return Verdict(Status.PASS, f"vault {vault.name} has soft delete with retention {shown}", evidence)
