"""The report stage: one module per output format, chosen through `ReportFormat`."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TextIO, assert_never

from cmkaudit.evaluate.catalog import Catalog
from cmkaudit.evaluate.engine import Outcome
from cmkaudit.evaluate.model import Finding, Settings
from cmkaudit.evaluate.waivers import WaiverOutcome
from cmkaudit.inventory.model import Inventory


@dataclass(frozen=True, slots=True)
class Report:
    """Everything a reporter may render."""

    inventory: Inventory
    findings: tuple[Finding, ...]
    catalog: Catalog
    settings: Settings
    outcome: Outcome
    waivers: tuple[WaiverOutcome, ...] = ()
    disabled_controls: tuple[str, ...] = ()


class ReportFormat(StrEnum):
    """The output formats `--format` accepts."""

    CONSOLE = "console"
    JSON = "json"

    def write(self, report: Report, output_dir: Path, stdout: TextIO) -> Path | None:
        """Render `report` in this format; returns the file written, if any."""
        match self:
            case ReportFormat.CONSOLE:
                from cmkaudit.report.console import render_console

                render_console(report, stdout)
                return None
            case ReportFormat.JSON:
                from cmkaudit.report.json_report import write_json

                return write_json(report, output_dir / "cmkaudit-results.json")
            case _:
                assert_never(self)
