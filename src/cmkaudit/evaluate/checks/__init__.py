"""The benchmark's check logic: one small pure function per control, grouped by area.

Workspace checks take a `Workspace`; key checks take a `KeyUsage` (one encryption scope of a
workspace, resolved to its vault, key and identities). Every check returns a `Verdict`. When the
evidence a check needs was not read, the verdict is UNKNOWN with the reason, never PASS.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from cmkaudit.evaluate.checks import access, key, vault, workspace
from cmkaudit.evaluate.checks._common import workspace_by_id
from cmkaudit.evaluate.model import Settings, Verdict
from cmkaudit.ids import ControlId
from cmkaudit.inventory.model import Inventory, KeyUsage, Workspace

WorkspaceCheck = Callable[[Workspace, Inventory, Settings], Verdict]
KeyUsageCheck = Callable[[KeyUsage, Inventory, Settings], Verdict]

WORKSPACE_CHECKS: Mapping[ControlId, WorkspaceCheck] = {
    ControlId("DBX-01"): workspace.check_premium_sku,
    ControlId("DBX-02"): workspace.check_managed_services_cmk,
    ControlId("DBX-03"): workspace.check_managed_disk_cmk,
    ControlId("DBX-05"): workspace.check_dbfs_root_cmk,
}

KEY_USAGE_CHECKS: Mapping[ControlId, KeyUsageCheck] = {
    ControlId("KV-01"): vault.check_purge_protection,
    ControlId("KV-02"): vault.check_soft_delete,
    ControlId("KEY-03"): key.check_rotation_policy,
    ControlId("IAM-01"): access.check_required_permissions,
    ControlId("IAM-02"): access.check_least_privilege,
}


def workspace_of(usage: KeyUsage, inventory: Inventory) -> Workspace:
    """The workspace a key usage belongs to."""
    return workspace_by_id(inventory, usage.workspace_id)
