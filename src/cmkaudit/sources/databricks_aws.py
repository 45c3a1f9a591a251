"""The Databricks-on-AWS source: a Databricks account's workspaces and key configurations (account API) and the
AWS KMS keys they name, read live and read-only (aws/collect.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from cmkaudit import __version__
from cmkaudit.aws.collect import AwsOptions
from cmkaudit.inventory import Inventory
from cmkaudit.inventory.model import Provenance


@dataclass(frozen=True, slots=True)
class DatabricksAwsSource:
    """One Databricks account on AWS."""

    options: AwsOptions
    now: datetime
    provenance: Provenance = Provenance.DATABRICKS_ACCOUNT

    def inventory(self) -> Inventory:
        """Read the account and its keys; evidence that could not be read is marked on its record."""
        from cmkaudit.aws.collect import read_account
        from cmkaudit.inventory import assemble_inventory
        from cmkaudit.inventory.model import ScanScope

        read = read_account(self.options)
        return assemble_inventory(
            collected_at=self.now,
            tool_version=__version__,
            scope=ScanScope(
                subscriptions=(),
                arm_endpoint="",
                cloud="aws",
                sources=(self.provenance,),
                accounts=(self.options.account_id,),
            ),
            subscriptions=[],
            workspaces=[],
            vaults=[],
            keys=[],
            disk_encryption_sets=[],
            storage_accounts=[],
            principals=[],
            errors=read.errors,
            aws_workspaces=read.workspaces,
            key_configurations=read.configurations,
            kms_keys=read.keys,
        )
