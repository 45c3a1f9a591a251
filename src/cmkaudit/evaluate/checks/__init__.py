"""The benchmark's check logic: one small pure function per control, grouped by area.

Workspace checks take a `Workspace`; key checks take a `KeyUsage` (one encryption scope of a
workspace, resolved to its vault, key and identities). Every check returns a `Verdict`. When the
evidence a check needs was not read, the verdict is UNKNOWN with the reason, never PASS.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from cmkaudit.evaluate.checks import access, aws, governance, key, vault, workspace
from cmkaudit.evaluate.checks._common import SubjectCheck, workspace_by_id
from cmkaudit.evaluate.model import Settings, Verdict
from cmkaudit.ids import ControlId
from cmkaudit.inventory import Inventory
from cmkaudit.inventory.aws import AwsKeyUsage, AwsWorkspace
from cmkaudit.inventory.model import KeyUsage, Workspace

WorkspaceCheck = Callable[[Workspace, Inventory, Settings], Verdict]
KeyUsageCheck = Callable[[KeyUsage, Inventory, Settings], Verdict]
"""A key-usage check; a `SubjectCheck` among them judges the vault, key or key version alone."""

__all__ = [
    "AWS_KEY_USAGE_CHECKS",
    "AWS_WORKSPACE_CHECKS",
    "KEY_USAGE_CHECKS",
    "SEVERITY_RAISED_FOR_SENSITIVE",
    "WORKSPACE_CHECKS",
    "KeyUsageCheck",
    "SubjectCheck",
    "WorkspaceCheck",
    "workspace_of",
]

WORKSPACE_CHECKS: Mapping[ControlId, WorkspaceCheck] = {
    ControlId("DBX-01"): workspace.check_premium_sku,
    ControlId("DBX-02"): workspace.check_managed_services_cmk,
    ControlId("DBX-03"): workspace.check_managed_disk_cmk,
    ControlId("DBX-04"): workspace.check_managed_disk_auto_rotation,
    ControlId("DBX-05"): workspace.check_dbfs_root_cmk,
    ControlId("DBX-06"): workspace.check_dbfs_infrastructure_encryption,
    ControlId("GOV-02"): governance.check_sensitive_workspace_scopes,
}

KEY_USAGE_CHECKS: Mapping[ControlId, KeyUsageCheck] = {
    ControlId("KV-01"): vault.check_purge_protection,
    ControlId("KV-02"): vault.check_soft_delete,
    ControlId("KV-03"): vault.check_vault_tenant_and_region,
    ControlId("KV-04"): vault.check_vault_audit_logging,
    ControlId("KV-05"): vault.check_vault_network,
    ControlId("KEY-01"): key.check_key_type_and_size,
    ControlId("KEY-02"): key.check_key_version_validity,
    ControlId("KEY-03"): key.check_rotation_policy,
    ControlId("KEY-04"): key.check_key_version_age,
    ControlId("GOV-01"): governance.check_key_not_shared_across_environments,
    ControlId("IAM-01"): access.check_required_permissions,
    ControlId("IAM-02"): access.check_least_privilege,
    ControlId("IAM-03"): access.check_key_administrators,
}


AwsWorkspaceCheck = Callable[[AwsWorkspace, Inventory, Settings], Verdict]
AwsKeyUsageCheck = Callable[[AwsKeyUsage, Inventory, Settings], Verdict]

AWS_WORKSPACE_CHECKS: Mapping[ControlId, AwsWorkspaceCheck] = {
    ControlId("AWS-01"): aws.check_enterprise_tier,
    ControlId("AWS-02"): aws.check_managed_services_key,
    ControlId("AWS-03"): aws.check_storage_key,
    ControlId("AWS-04"): aws.check_cluster_volumes,
    ControlId("AWS-12"): aws.check_sensitive_workspace,
}

AWS_KEY_USAGE_CHECKS: Mapping[ControlId, AwsKeyUsageCheck] = {
    ControlId("AWS-05"): aws.check_key_state,
    ControlId("AWS-06"): aws.check_key_kind,
    ControlId("AWS-07"): aws.check_rotation,
    ControlId("AWS-08"): aws.check_databricks_grants,
    ControlId("AWS-09"): aws.check_databricks_scoped,
    ControlId("AWS-10"): aws.check_key_administrators,
    ControlId("AWS-11"): aws.check_key_not_shared,
}


SEVERITY_RAISED_FOR_SENSITIVE = frozenset(ControlId(c) for c in governance.SCOPE_CONTROL_CHECKS)
"""GOV-02: findings of these controls on a sensitive workspace are reported as critical."""


def workspace_of(usage: KeyUsage, inventory: Inventory) -> Workspace:
    """The workspace a key usage belongs to."""
    return workspace_by_id(inventory, usage.workspace_id)
