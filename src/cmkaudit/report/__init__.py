"""The report stage: one module per output format, all rendering one `ResultsDocument`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TextIO, assert_never

from pydantic import ValidationError

from cmkaudit.errors import SnapshotError
from cmkaudit.evaluate.catalog import Catalog
from cmkaudit.evaluate.engine import Outcome
from cmkaudit.evaluate.model import Finding, Settings
from cmkaudit.evaluate.waivers import WaiverOutcome
from cmkaudit.inventory.model import Inventory
from cmkaudit.report.results import RESULTS_KIND, RESULTS_SCHEMA_VERSION, ResultsDocument


@dataclass(frozen=True, slots=True)
class Report:
    """An evaluation, before it becomes a results document."""

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
    SARIF = "sarif"
    HTML = "html"

    def write(self, results: ResultsDocument, output_dir: Path, stdout: TextIO) -> Path | None:
        """Render `results` in this format; returns the file written, if any."""
        match self:
            case ReportFormat.CONSOLE:
                from cmkaudit.report.console import render_console

                render_console(results, stdout)
                return None
            case ReportFormat.JSON:
                from cmkaudit.report.json_report import write_json

                return write_json(results, output_dir / "cmkaudit-results.json")
            case ReportFormat.SARIF:
                from cmkaudit.report.sarif import write_sarif

                return write_sarif(results, output_dir / "cmkaudit.sarif")
            case ReportFormat.HTML:
                from cmkaudit.report.html import write_html

                return write_html(results, output_dir / "cmkaudit-report.html")
            case _:
                assert_never(self)


def load_results(path: Path) -> ResultsDocument:
    """Read a results file written by `--format json`, or raise SnapshotError naming the problem."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SnapshotError(f"cannot read results file {path}: {exc.strerror or exc}") from exc
    except json.JSONDecodeError as exc:
        raise SnapshotError(f"{path} is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from exc
    if not isinstance(document, dict) or document.get("kind") != RESULTS_KIND:
        raise SnapshotError(
            f'{path} is not a cmkaudit results file (no "kind": "{RESULTS_KIND}")',
            "write one with: cmkaudit scan ... --format json",
        )
    if document.get("schema_version") != RESULTS_SCHEMA_VERSION:
        raise SnapshotError(
            f"{path} has results schema version {document.get('schema_version')!r}; "
            f"this cmkaudit reads version {RESULTS_SCHEMA_VERSION}",
            "re-run the scan, or re-evaluate its snapshot, with this version of cmkaudit",
        )
    try:
        return ResultsDocument.model_validate(document)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise SnapshotError(f"{path} is not a valid results file: {where}: {first['msg']}") from exc
