"""The Databricks-on-AWS source: a Databricks account's workspaces and key configurations (account API) and the
AWS KMS keys they name, read live and read-only (aws/collect.py), or replayed from the recorded demo account."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from cmkaudit import __version__
from cmkaudit.aws.collect import AccountRead, AwsOptions
from cmkaudit.inventory import Inventory, assemble_inventory
from cmkaudit.inventory.model import Provenance, ScanScope


def account_inventory(read: AccountRead, account_id: str, now: datetime, provenance: Provenance) -> Inventory:
    """The inventory of what was read of one account."""
    return assemble_inventory(
        collected_at=now,
        tool_version=__version__,
        scope=ScanScope(subscriptions=(), arm_endpoint="", cloud="aws", sources=(provenance,), accounts=(account_id,)),
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


@dataclass(frozen=True, slots=True)
class DatabricksAwsSource:
    """One Databricks account on AWS."""

    options: AwsOptions
    now: datetime

    def inventory(self) -> Inventory:
        """Read the account and its keys; evidence that could not be read is marked on its record."""
        from cmkaudit.aws.collect import read_account

        read = read_account(self.options)
        return account_inventory(read, self.options.account_id, self.now, Provenance.DATABRICKS_ACCOUNT)


@dataclass(frozen=True, slots=True)
class DemoAwsSource:
    """The recorded demo account (cassettes/demo-aws-account.yaml), as of the time it was recorded."""

    def inventory(self) -> Inventory:
        """Replay the recording through the real SDK clients; nothing leaves the machine."""
        from cmkaudit.aws.demo import DEMO_AWS_ACCOUNT, DEMO_AWS_RECORDED_AT, demo_aws_read

        read = demo_aws_read()
        return account_inventory(read, DEMO_AWS_ACCOUNT, DEMO_AWS_RECORDED_AT, Provenance.DATABRICKS_ACCOUNT_RECORDING)
