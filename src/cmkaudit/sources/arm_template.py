"""The ARM template source: a template (Bicep compiled to one) and its parameters, judged before deployment."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from cmkaudit import __version__
from cmkaudit.inventory import Inventory


@dataclass(frozen=True, slots=True)
class ArmTemplateSource:
    """An ARM deployment template, with its parameters file when given."""

    path: Path
    now: datetime
    parameters: Path | None = None
    principal_ids: Mapping[str, str] = field(default_factory=dict)

    def inventory(self) -> Inventory:
        """Read and evaluate the template; a file that is not one (a .bicep file, say) is one clear error."""
        from cmkaudit.iac.arm import read_template
        from cmkaudit.iac.arm_mapping import inventory_from_template

        template = read_template(self.path, self.parameters)
        return inventory_from_template(
            template, collected_at=self.now, tool_version=__version__, principal_ids=self.principal_ids
        )
