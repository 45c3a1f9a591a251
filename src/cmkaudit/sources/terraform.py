"""The Terraform sources: a plan (`terraform show -json plan.out`), or a configuration directory read without
`terraform init`; both judged before anything is deployed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from cmkaudit import __version__
from cmkaudit.iac.model import Value, config_address
from cmkaudit.inventory import Inventory
from cmkaudit.inventory.model import Provenance


def _environment(setting: Value) -> str:
    return setting if isinstance(setting, str) else "public"


@dataclass(frozen=True, slots=True)
class TerraformPlanSource:
    """A Terraform plan in JSON: planned values, resources in state, and the configuration's references. With
    the configuration's directory, each resource is also located in its `.tf` file."""

    path: Path
    now: datetime
    principal_ids: Mapping[str, str] = field(default_factory=dict)
    """The AzureDatabricks service principal's object id by tenant (lower-case; "*" for any)."""
    directory: Path | None = None
    var_files: Sequence[Path] = ()

    def inventory(self) -> Inventory:
        """Read the plan and map its azurerm resources; a file that is not a plan is one clear error."""
        from cmkaudit.iac.azurerm import inventory_from_terraform
        from cmkaudit.iac.hcl import read_directory
        from cmkaudit.iac.plan import read_plan

        plan = read_plan(self.path)
        if self.directory is not None:
            declared = read_directory(self.directory, self.var_files)
            plan.locate({config_address(r.address): r.span for r in declared.resources if r.span is not None})
        return inventory_from_terraform(
            plan,
            collected_at=self.now,
            tool_version=__version__,
            provenance=Provenance.TERRAFORM_PLAN,
            environment=_environment(plan.provider_setting("azurerm", "environment")),
            principal_ids=self.principal_ids,
        )


@dataclass(frozen=True, slots=True)
class TerraformDirectorySource:
    """A configuration directory (HCL), without a plan: values as the configuration alone fixes them."""

    directory: Path
    now: datetime
    principal_ids: Mapping[str, str] = field(default_factory=dict)
    var_files: Sequence[Path] = ()

    def inventory(self) -> Inventory:
        """Read the directory, its local modules and variables files, and map its azurerm resources."""
        from cmkaudit.iac.azurerm import inventory_from_terraform
        from cmkaudit.iac.hcl import read_directory

        configuration = read_directory(self.directory, self.var_files)
        return inventory_from_terraform(
            configuration,
            collected_at=self.now,
            tool_version=__version__,
            provenance=Provenance.TERRAFORM_CONFIGURATION,
            environment=_environment(configuration.provider_setting("azurerm", "environment")),
            principal_ids=self.principal_ids,
            notes=configuration.notes,
        )
