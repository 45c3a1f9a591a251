"""The benchmark as a document: the control catalogue rendered for a terminal, as JSON and as Markdown."""

from __future__ import annotations

from typing import Any, TextIO

from rich.console import Console, Group
from rich.markdown import Markdown
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from cmkaudit.evaluate.catalog import AppliesTo, Catalog, ControlMeta

FRAMEWORK_NAMES = {
    "cis_azure": "CIS Microsoft Azure Foundations",
    "mcsb": "Microsoft cloud security benchmark",
    "nist_800_53": "NIST SP 800-53 r5",
    "pci_dss": "PCI DSS 4.0",
    "hipaa": "HIPAA (45 CFR)",
    "iso_27001": "ISO/IEC 27001:2022",
}

APPLIES_TO_TEXT = {
    AppliesTo.WORKSPACE: "each workspace",
    AppliesTo.KEY_USAGE: "each encryption scope of each workspace (managed services, managed disks, DBFS root)",
    AppliesTo.AWS_WORKSPACE: "each Databricks workspace on AWS",
    AppliesTo.AWS_KEY_USAGE: "each use case of each Databricks workspace on AWS (managed services, workspace storage)",
}


def catalog_json(catalog: Catalog) -> list[dict[str, Any]]:
    """Every control's metadata as JSON-ready dicts."""
    return [c.model_dump(mode="json") for c in catalog]


def _mappings(control: ControlMeta) -> list[tuple[str, str]]:
    frameworks = control.frameworks.model_dump()
    return [(FRAMEWORK_NAMES[k], ", ".join(v)) for k, v in frameworks.items() if v]


def control_markdown(control: ControlMeta) -> str:
    """One control as a Markdown section."""
    lines = [
        f"## {control.id}: {control.title}",
        "",
        f"**Severity:** {control.severity.value}. **Evaluated for:** {APPLIES_TO_TEXT[control.applies_to]}.",
        "",
        f"**Rationale.** {control.rationale}",
        "",
        f"**Impact.** {control.impact}",
        "",
    ]
    if control.decides:
        lines += ["**How it decides**", "", *(f"- {line}" for line in control.decides), ""]
    lines += [
        "**Audit**",
        "",
        f"- Portal: {control.audit.portal}",
        f"- Azure CLI: `{control.audit.cli}`",
        "",
        "**Remediation**",
        "",
        f"- ARM property: `{control.remediation.arm_path}`",
        f"- Portal: {control.remediation.portal}",
        f"- Azure CLI: `{control.remediation.cli}`",
    ]
    if control.remediation.terraform:
        lines.append(f"- Terraform (azurerm): `{control.remediation.terraform}`")
    mappings = _mappings(control)
    if mappings:
        lines += ["", "**Mappings**", "", "| framework | items |", "| --- | --- |"]
        lines += [f"| {name} | {items} |" for name, items in mappings]
    lines += ["", "**References**", ""]
    lines += [f"- <{url}>" for url in control.references]
    return "\n".join(lines) + "\n"


def benchmark_markdown(catalog: Catalog) -> str:
    """The whole benchmark document (docs/benchmark.md is generated from this)."""
    header = [
        "# The cmkaudit benchmark: customer-managed keys on Azure Databricks",
        "",
        "Generated from the control metadata under `rules/` by `cmkaudit controls --format markdown`;",
        "do not edit by hand.",
        "",
        "| id | control | severity | evaluated for |",
        "| --- | --- | --- | --- |",
    ]
    header += [
        f"| [{c.id}](#{c.id.lower()}-{_anchor(c.title)}) | {c.title} | {c.severity.value} | {c.applies_to.value} |"
        for c in catalog
    ]
    return "\n".join(header) + "\n\n" + "\n".join(control_markdown(c) for c in catalog)


def _anchor(title: str) -> str:
    """The anchor GitHub derives from a heading's text (after the id)."""
    kept = "".join(ch for ch in title.lower() if ch.isalnum() or ch in " -")
    return kept.replace(" ", "-")


def render_catalog_console(catalog: Catalog, stream: TextIO) -> None:
    """The catalogue as a table."""
    table = Table(title="cmkaudit benchmark", title_justify="left")
    table.add_column("Id", no_wrap=True)
    table.add_column("Severity", no_wrap=True)
    table.add_column("Evaluated for", no_wrap=True)
    table.add_column("Control")
    for c in catalog:
        table.add_row(c.id, c.severity.value, c.applies_to.value, Text(c.title))
    Console(file=stream, highlight=False).print(table)


def render_control_console(control: ControlMeta, stream: TextIO) -> None:
    """One control in full."""
    body = Group(Markdown(control_markdown(control).split("\n", 1)[1]))
    Console(file=stream, highlight=False).print(Panel(body, title=f"{control.id}: {control.title}", title_align="left"))
