"""The Terraform sources: a plan (`terraform show -json plan.out`), judged before anything is deployed."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from cmkaudit import __version__
from cmkaudit.inventory import Inventory
from cmkaudit.inventory.model import Provenance


@dataclass(frozen=True, slots=True)
class TerraformPlanSource:
    """A Terraform plan in JSON: planned values, resources in state, and the configuration's references."""

    path: Path
    now: datetime
    principal_ids: Mapping[str, str] = field(default_factory=dict)
    """The AzureDatabricks service principal's object id by tenant (lower-case; "*" for any)."""

    def inventory(self) -> Inventory:
        """Read the plan and map its azurerm resources; a file that is not a plan is one clear error."""
        from cmkaudit.iac.azurerm import inventory_from_terraform
        from cmkaudit.iac.plan import read_plan

        plan = read_plan(self.path)
        environment = plan.provider_setting("azurerm", "environment")
        return inventory_from_terraform(
            plan,
            collected_at=self.now,
            tool_version=__version__,
            provenance=Provenance.TERRAFORM_PLAN,
            environment=environment if isinstance(environment, str) else "public",
            principal_ids=self.principal_ids,
        )
