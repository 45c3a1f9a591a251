"""The console summary: a table per workspace, totals, and what could not be read."""

from __future__ import annotations

import re
from collections import Counter
from typing import TYPE_CHECKING, TextIO

from rich.console import Console
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from cmkaudit.evaluate.model import Finding, Severity, Status
from cmkaudit.ids import id_key

if TYPE_CHECKING:
    from cmkaudit.report import Report

_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")

STATUS_STYLE = {
    Status.PASS: "green",
    Status.FAIL: "bold red",
    Status.UNKNOWN: "yellow",
    Status.NOT_APPLICABLE: "dim",
    Status.SUPPRESSED: "magenta",
}


def clean(value: object) -> Text:
    """Text from Azure, safe for a terminal: no markup is interpreted and control characters are dropped."""
    return Text(_CONTROL_CHARS.sub("", str(value)))


def _status(status: Status) -> Text:
    label = "N/A" if status is Status.NOT_APPLICABLE else status.value
    return Text(label, style=STATUS_STYLE[status])


def _reason(finding: Finding) -> Text:
    text = clean(finding.reason)
    if finding.waiver is not None:
        w = finding.waiver
        text.append(
            f"\nwaived ({w.waived_status.value}) until {w.expires} by {_CONTROL_CHARS.sub('', w.owner)}: ",
            style="magenta",
        )
        text.append_text(clean(w.justification))
    return text


def _workspace_table(name: str, resource_id: str, findings: list[Finding]) -> Table:
    """One workspace's findings; NOT_APPLICABLE rows are counted in the caption, not listed."""
    title = clean(name)
    title.append(f"  {resource_id}", style="dim")
    hidden = sum(1 for f in findings if f.status is Status.NOT_APPLICABLE)
    caption = (
        f"{hidden} not-applicable finding(s) not shown (scopes without a customer-managed key)" if hidden else None
    )
    table = Table(title=title, title_justify="left", caption=caption, caption_justify="left", expand=True)
    table.add_column("Control", no_wrap=True)
    table.add_column("Scope", no_wrap=True)
    table.add_column("Status", no_wrap=True)
    table.add_column("Severity", no_wrap=True)
    table.add_column("Reason", ratio=1)
    for f in findings:
        if f.status is Status.NOT_APPLICABLE:
            continue
        table.add_row(
            Text(f.control_id),
            Text(f.scope.label if f.scope else "workspace"),
            _status(f.status),
            Text(f.severity.value),
            _reason(f),
        )
    return table


def render_console(report: Report, stream: TextIO) -> None:
    """Print the summary to `stream`."""
    console = Console(file=stream, highlight=False, emoji=False, soft_wrap=False)
    inventory = report.inventory
    header = Text()
    header.append("cmkaudit ", style="bold")
    header.append(f"{inventory.tool_version}  ")
    header.append(f"collected {inventory.collected_at.isoformat()}  cloud {inventory.scope.cloud}\n")
    header.append("subscriptions: " + ", ".join(inventory.scope.subscriptions))
    header.append(f"\nworkspaces: {len(inventory.workspaces)}  findings: {len(report.findings)}")
    console.print(Panel(header, title="CMK benchmark for Azure Databricks", title_align="left"))

    by_workspace: dict[str, list[Finding]] = {}
    for f in report.findings:
        by_workspace.setdefault(id_key(f.resource_id), []).append(f)
    order = {c.id: i for i, c in enumerate(report.catalog)}
    for workspace in inventory.workspaces:
        rows = sorted(
            by_workspace.get(id_key(workspace.id), []),
            key=lambda f: (order.get(f.control_id, 99), f.scope.value if f.scope else ""),
        )
        console.print(_workspace_table(workspace.name, workspace.id, rows))
    if not inventory.workspaces:
        console.print(Text("No Databricks workspaces were found in the scanned subscriptions.", style="yellow"))

    totals = Table(title="Totals", title_justify="left")
    totals.add_column("Severity")
    for status in Status:
        totals.add_column(status.value if status is not Status.NOT_APPLICABLE else "N/A", justify="right")
    counts = Counter((f.severity, f.status) for f in report.findings)
    for severity in Severity:
        if any(counts[(severity, s)] for s in Status):
            totals.add_row(severity.value, *(str(counts[(severity, s)]) for s in Status))
    console.print(totals)

    if report.waivers:
        waivers = Table(title="Waivers", title_justify="left")
        for column in ("State", "Control", "Resource", "Owner", "Expires", "Findings"):
            waivers.add_column(column)
        for entry in report.waivers:
            w = entry.waiver
            style = {"applied": "magenta", "expired": "bold yellow", "unused": "dim"}[entry.state.value]
            waivers.add_row(
                Text(entry.state.value, style=style),
                Text(w.control_id),
                clean(w.resource + (f" ({w.scope.value})" if w.scope else "")),
                clean(w.owner),
                Text(w.expires.isoformat()),
                Text(str(entry.findings)),
            )
        console.print(waivers)

    if inventory.errors:
        coverage = Table(title="Not read (evidence missing: affected controls are UNKNOWN)", title_justify="left")
        coverage.add_column("Resource")
        coverage.add_column("Operation")
        coverage.add_column("Status")
        coverage.add_column("Message / hint", ratio=1)
        for e in inventory.errors:
            message = clean(e.message)
            if e.hint:
                message.append("\nhint: " + e.hint, style="dim")
            coverage.add_row(clean(e.resource_id), clean(e.operation), Text(str(e.status_code or "-")), message)
        console.print(coverage)
    else:
        console.print(Text("Coverage: every call succeeded.", style="green"))

    outcome = report.outcome
    verdict = Text()
    if outcome.failed_at_or_above_threshold:
        verdict.append(
            f"{outcome.failed_at_or_above_threshold} failed finding(s) at or above "
            f"{outcome.threshold.value if outcome.threshold else '-'}",
            style="bold red",
        )
    elif outcome.incomplete:
        verdict.append("Nothing failed at the threshold, but the scan is incomplete (see UNKNOWN)", style="yellow")
    else:
        verdict.append("No failed finding at or above the threshold", style="green")
    console.print(verdict)
