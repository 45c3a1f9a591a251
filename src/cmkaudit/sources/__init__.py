"""Sources: every input that yields an inventory, behind one small interface, chosen by an enum.

A source is a module of this package with a class that has `inventory()`. The command line picks one by
`SourceKind` (exhaustively matched, so a new kind cannot be forgotten), builds it from its options, and hands
the inventory to the provider-neutral stages: evaluation (with its catalogue and waivers) and the reports.
Each inventory carries its coverage (the collection errors on it) and its provenance (`ScanScope.sources`).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol

from cmkaudit.inventory import Inventory


class SourceKind(StrEnum):
    """The inputs the command line can evaluate."""

    AZURE = "azure"
    """A live, read-only crawl of Azure subscriptions (sources/azure.py)."""
    DEMO = "demo"
    """The bundled recorded tenant, replayed through the crawler (sources/demo.py)."""
    SNAPSHOTS = "snapshots"
    """Saved snapshots: one, or the shards of a large tenant merged into one (sources/snapshots.py)."""
    DATABRICKS_AWS = "databricks-aws"
    """A live, read-only read of a Databricks account on AWS and its KMS keys (sources/databricks_aws.py)."""
    TERRAFORM_PLAN = "terraform-plan"
    """A Terraform plan in JSON, judged before it is applied (sources/terraform.py)."""
    TERRAFORM_CONFIGURATION = "terraform-configuration"
    """A Terraform configuration directory (HCL), judged without a plan (sources/terraform.py)."""
    ARM_TEMPLATE = "arm-template"
    """An ARM template (Bicep compiled to one) and its parameters (sources/arm_template.py)."""


class InventorySource(Protocol):
    """What every source provides: the inventory it yields (its coverage and provenance recorded in it)."""

    def inventory(self) -> Inventory:
        """Read the input and return its inventory; raise a CmkauditError (one line, exit 2) when it cannot."""
        ...
