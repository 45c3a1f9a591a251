"""The console summary: a table per workspace, totals, waivers, and what could not be read.

A tenant with many workspaces gets a table per control and the findings to act on (failed, unknown),
at most `MAX_ROWS` of them, instead of a table per workspace: the files hold everything, the terminal
shows what needs doing.
"""

from __future__ import annotations

from collections import Counter
from operator import attrgetter
from typing import TextIO

from rich.console import Console
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from cmkaudit.evaluate.model import Finding, Severity, Status
from cmkaudit.ids import id_key
from cmkaudit.inventory.model import Scope
from cmkaudit.report.results import ResultsDocument
from cmkaudit.text import printable

STATUS_STYLE = {
    Status.PASS: "green",
    Status.FAIL: "bold red",
    Status.UNKNOWN: "yellow",
    Status.NOT_APPLICABLE: "dim",
    Status.SUPPRESSED: "magenta",
}

WORKSPACE_TABLES_UP_TO = 25
"""Above this many workspaces, the console shows a table per control and the findings to act on."""
MAX_ROWS = 100
"""The most findings to act on (or calls not read) listed in the console; the count of the rest is said."""

_TO_ACT_ON = frozenset({Status.FAIL, Status.UNKNOWN})
"""Named once: an enum member looked up inside a loop over a large tenant's findings costs more than the test."""
SCOPE_LABELS = {scope.value: scope.label for scope in Scope}


def clean(value: object) -> Text:
    """Text from Azure or a file, safe for a terminal: no markup is interpreted, and control characters, line
    breaks and bidirectional overrides are shown escaped (see `printable`)."""
    return Text(printable(value))


def _status(status: Status) -> Text:
    label = "N/A" if status is Status.NOT_APPLICABLE else status.value
    return Text(label, style=STATUS_STYLE[status])


def _scope(finding: Finding) -> Text:
    return Text(SCOPE_LABELS.get(finding.scope.value, finding.scope.value) if finding.scope else "workspace")


def _reason(finding: Finding) -> Text:
    text = clean(finding.reason)
    if finding.baseline == "new":
        text.append("  [new since the baseline]", style="bold")
    if finding.waiver is not None:
        w = finding.waiver
        text.append(f"\nwaived ({w.waived_status}) until {w.expires} by ", style="magenta")
        text.append_text(clean(w.owner))
        text.append(": ", style="magenta")
        text.append_text(clean(w.justification))
    return text


def _workspace_table(name: str, resource_id: str, findings: list[Finding]) -> Table:
    """One workspace's findings; NOT_APPLICABLE rows are counted in the caption, not listed."""
    title = clean(name)
    identifier = clean(resource_id)
    identifier.stylize("dim")
    title.append("  ")
    title.append_text(identifier)
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
            clean(f.control_id),
            _scope(f),
            _status(f.status),
            Text(f.severity.value),
            _reason(f),
        )
    return table


def _large_tenant(console: Console, results: ResultsDocument) -> None:
    """A table per control, then the findings to act on (most severe first), at most MAX_ROWS of them."""
    per_control = Table(title="Controls", title_justify="left")
    for column in ("Control", "Severity", "Title"):
        per_control.add_column(column, no_wrap=column != "Title")
    for status in Status:
        per_control.add_column("N/A" if status is Status.NOT_APPLICABLE else status.value, justify="right")
    for control in results.controls:
        counts = [control.counts.get(s) for s in Status]
        per_control.add_row(clean(control.id), control.severity.value, clean(control.title), *(str(n) for n in counts))
    console.print(per_control)
    to_act = sorted(
        (f for f in results.findings if f.status in _TO_ACT_ON),
        key=lambda f: (-f.severity.rank, f.status is not Status.FAIL, f.resource_name.lower(), f.control_id),
    )
    if not to_act:
        console.print(Text("Nothing failed and nothing is unknown.", style="green"))
        return
    table = Table(
        title=f"To act on: {len(to_act)} failed or unknown finding(s), most severe first", title_justify="left"
    )
    for column in ("Workspace", "Control", "Scope", "Status", "Severity"):
        table.add_column(column, no_wrap=True)
    table.add_column("Reason", ratio=1)
    for f in to_act[:MAX_ROWS]:
        table.add_row(
            clean(f.resource_name),
            clean(f.control_id),
            _scope(f),
            _status(f.status),
            Text(f.severity.value),
            _reason(f),
        )
    console.print(table)
    if len(to_act) > MAX_ROWS:
        more = len(to_act) - MAX_ROWS
        console.print(Text(f"... and {more} more: every finding is in the JSON and HTML reports", style="yellow"))


def render_console(results: ResultsDocument, stream: TextIO) -> None:
    """Print the summary to `stream`."""
    console = Console(file=stream, highlight=False, emoji=False, soft_wrap=False)
    scan, summary = results.scan, results.summary
    header = Text()
    header.append("cmkaudit ", style="bold")
    header.append(f"{printable(results.tool.version)}  ")
    header.append(f"evidence collected {scan.collected_at.isoformat()}  cloud {printable(scan.cloud)}")
    for provenance in scan.sources:
        header.append(f"  {provenance.label}")
    if scan.shards_merged:
        header.append(f"  ({scan.shards_merged} shards merged)")
    header.append("\n")
    lines = []
    if scan.subscriptions or not scan.accounts:
        lines.append("subscriptions: " + ", ".join(printable(s) for s in scan.subscriptions))
    if scan.accounts:
        lines.append("Databricks accounts on AWS: " + ", ".join(printable(a) for a in scan.accounts))
    header.append("\n".join(lines))
    for note in scan.skipped_subscriptions:
        header.append("\nskipped: ")
        header.append_text(clean(note))
    for note in results.coverage.notes:
        header.append("\nnote: ")
        header.append_text(clean(note))
    rate = summary.kpis.compliance_rate
    header.append(
        f"\nworkspaces: {scan.workspaces}  findings: {summary.findings}  "
        f"compliance: {'-' if rate is None else f'{rate:.0%}'}"
    )
    title = (
        "CMK benchmark for Databricks on AWS"
        if scan.accounts and not scan.subscriptions
        else ("CMK benchmark for Databricks" if scan.accounts else "CMK benchmark for Azure Databricks")
    )
    console.print(Panel(header, title=title, title_align="left"))

    if len(results.workspaces) > WORKSPACE_TABLES_UP_TO:
        _large_tenant(console, results)
    else:
        by_workspace: dict[str, list[Finding]] = {}
        for f in results.findings:
            by_workspace.setdefault(id_key(f.resource_id), []).append(f)
        order = {c.id: i for i, c in enumerate(results.controls)}
        for workspace in results.workspaces:
            rows = sorted(
                by_workspace.get(id_key(workspace.id), []),
                key=lambda f: (order.get(f.control_id, 99), f.scope.value if f.scope else ""),
            )
            console.print(_workspace_table(workspace.name, workspace.id, rows))
    if not results.workspaces:
        where = "account" if scan.accounts and not scan.subscriptions else "subscriptions"
        console.print(Text(f"No Databricks workspaces were found in the scanned {where}.", style="yellow"))

    totals = Table(title="Totals", title_justify="left")
    totals.add_column("Severity")
    for status in Status:
        totals.add_column(status.value if status is not Status.NOT_APPLICABLE else "N/A", justify="right")
    tally = Counter(map(attrgetter("severity", "status"), results.findings))
    for severity in Severity:
        row = [tally[(severity, s)] for s in Status]
        if any(row):
            totals.add_row(severity.value, *(str(n) for n in row))
    console.print(totals)

    if results.baseline is not None:
        b = results.baseline
        console.print(
            Text(
                f"Since the baseline of {b.collected_at.isoformat()}: {b.new} new, {b.unchanged} unchanged, "
                f"{len(b.resolved)} resolved failing or unknown finding(s)."
            )
        )

    if results.waivers:
        waivers = Table(title="Waivers", title_justify="left")
        for column in ("State", "Control", "Resource", "Owner", "Expires", "Findings"):
            waivers.add_column(column)
        for w in results.waivers:
            style = {"applied": "magenta", "expired": "bold yellow", "unused": "dim"}[w.state]
            waivers.add_row(
                Text(w.state, style=style),
                clean(w.control_id),
                clean(w.resource + (f" ({w.scope.value})" if w.scope else "")),
                clean(w.owner),
                Text(w.expires.isoformat()),
                Text(str(w.findings)),
            )
        console.print(waivers)

    if results.coverage.errors:
        coverage = Table(title="Not read (evidence missing: affected controls are UNKNOWN)", title_justify="left")
        coverage.add_column("Resource")
        coverage.add_column("Operation")
        coverage.add_column("Status")
        coverage.add_column("Message / hint", ratio=1)
        for e in results.coverage.errors[:MAX_ROWS]:
            message = clean(e.message)
            if e.hint:
                message.append("\nhint: " + printable(e.hint), style="dim")
            coverage.add_row(clean(e.resource_id), clean(e.operation), Text(str(e.status_code or "-")), message)
        console.print(coverage)
        if len(results.coverage.errors) > MAX_ROWS:
            more = len(results.coverage.errors) - MAX_ROWS
            console.print(Text(f"... and {more} more call(s) not read: see the JSON or HTML report", style="yellow"))
    else:
        console.print(Text("Coverage: every call succeeded.", style="green"))

    verdict = Text()
    threshold = results.settings.fail_on
    if summary.failed_at_or_above_threshold:
        level = threshold.value if threshold else "-"
        verdict.append(
            f"{summary.failed_at_or_above_threshold} failed finding(s) at or above {level}", style="bold red"
        )
    elif not summary.complete:
        verdict.append("Nothing failed at the threshold, but the scan is incomplete (see UNKNOWN)", style="yellow")
    else:
        verdict.append("No failed finding at or above the threshold", style="green")
    console.print(verdict)
