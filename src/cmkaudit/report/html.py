"""The auditor's report: one self-contained HTML file (no network, printable), rendered with Jinja2.

Every string from Azure is autoescaped; the page's only style and script are inline, and its
Content-Security-Policy allows exactly those two blocks (by hash) and nothing else: no remote load,
no inline handler, no injected script can run. The report reads completely without the script, which
only adds filters.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from operator import attrgetter
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from cmkaudit._data import data_path
from cmkaudit.evaluate.model import Status
from cmkaudit.files import write_text_atomic
from cmkaudit.ids import id_key
from cmkaudit.inventory.model import Scope
from cmkaudit.report.results import ResultsDocument
from cmkaudit.text import printable_in_page

STATUS_ORDER = (Status.FAIL, Status.UNKNOWN, Status.SUPPRESSED, Status.PASS, Status.NOT_APPLICABLE)
STATUS_TEXT = {
    Status.PASS: "PASS",
    Status.FAIL: "FAIL",
    Status.UNKNOWN: "UNKNOWN",
    Status.SUPPRESSED: "WAIVED",
    Status.NOT_APPLICABLE: "N/A",
}
LIST_EVERY_FINDING_UP_TO = 5000
"""Above this many findings the page does not list them one by one (the JSON file does), so it stays usable."""
SCOPE_LABELS = {scope.value: scope.label for scope in Scope}


@dataclass(frozen=True, slots=True)
class Bar:
    """One control's bar in the chart: segments of (status, count, x, width) in chart units."""

    control_id: str
    title: str
    segments: tuple[tuple[str, int, float, float], ...]
    total: int


def _bars(results: ResultsDocument, width: float) -> list[Bar]:
    bars = []
    for control in results.controls:
        counts = [(s, control.counts.get(s)) for s in (Status.PASS, Status.FAIL, Status.UNKNOWN, Status.SUPPRESSED)]
        total = sum(n for _, n in counts)
        x, segments = 0.0, []
        for status, n in counts:
            if n and total:
                w = width * n / total
                segments.append((status.value, n, round(x, 2), round(w, 2)))
                x += w
        bars.append(Bar(control.id, control.title, tuple(segments), total))
    return bars


_LISTED = frozenset({Status.FAIL, Status.UNKNOWN, Status.SUPPRESSED})
"""The findings the page lists one by one, whatever the tenant's size."""
_CELL_OF = attrgetter("resource_id", "control_id", "status")
_RANK = {s: i for i, s in enumerate(STATUS_ORDER)}  # worst first
_NO_FINDING = len(STATUS_ORDER)
_CELLS: list[str] = [
    *(f'<td class="cell cell-{s.value}">{STATUS_TEXT[s]}</td>' for s in STATUS_ORDER),
    '<td class="cell cell-NOT_APPLICABLE">&ndash;</td>',
]
"""A matrix cell for each rank of status, then one for a control with no finding on the workspace: markup of
constants only, nothing from Azure. They are written here rather than in the template, because a large
tenant's matrix has hundreds of thousands of cells."""


def _matrix(results: ResultsDocument) -> list[tuple[str, str, Markup]]:
    """Rows of (workspace name, workspace id, its cells: the worst status of each control on it)."""
    worst: dict[tuple[str, str], int] = {}  # (workspace, control) -> rank of the worst status
    keys: dict[str, str] = {}  # each resource id normalised once, not once per finding
    rank = _RANK
    for resource_id, control_id, status in map(_CELL_OF, results.findings):
        key = keys.get(resource_id)
        if key is None:
            key = keys[resource_id] = id_key(resource_id)
        cell = (key, control_id)
        if rank[status] < worst.get(cell, _NO_FINDING):
            worst[cell] = rank[status]
    controls = [c.id for c in results.controls]
    rows = []
    for workspace in results.workspaces:
        key = id_key(workspace.id)
        cells = Markup("".join([_CELLS[worst.get((key, c), _NO_FINDING)] for c in controls]))
        rows.append((workspace.name, workspace.id, cells))
    return rows


def _csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def _shown(value: object) -> object:
    """What every `{{ ... }}` of the template writes: a string from outside with its control characters escaped
    (`printable_in_page`), before Jinja escapes it for HTML; the page's own markup (Markup) as it is."""
    return printable_in_page(value) if isinstance(value, str) and not isinstance(value, Markup) else value


def _environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(str(data_path("reports"))),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=_shown,
    )


def render_html(results: ResultsDocument) -> str:
    """The report as one HTML document."""
    env = _environment()
    style = data_path("reports", "report.css").read_text(encoding="utf-8")
    script = data_path("reports", "report.js").read_text(encoding="utf-8")
    csp = (
        "default-src 'none'; "
        f"style-src {_csp_hash(style)}; script-src {_csp_hash(script)}; "
        "img-src 'none'; base-uri 'none'; form-action 'none'"
    )
    problems = [f for f in results.findings if f.status in _LISTED]
    order = {c.id: i for i, c in enumerate(results.controls)}
    problems.sort(key=lambda f: (-f.severity.rank, order.get(f.control_id, 99), f.resource_name))
    return env.get_template("report.html.j2").render(
        r=results,
        style=style,
        script=script,
        csp=csp,
        bars=_bars(results, 420.0),
        matrix=_matrix(results),
        problems=problems,
        list_every_finding=len(results.findings) <= LIST_EVERY_FINDING_UP_TO,
        status_text={s.value: t for s, t in STATUS_TEXT.items()},
        scope_labels=SCOPE_LABELS,
        statuses=[s.value for s in STATUS_ORDER],
        severities=["critical", "high", "medium", "low", "info"],
        controls={c.id: c for c in results.controls},
    )


def write_html(results: ResultsDocument, path: Path) -> Path:
    """Write the report atomically and return its path."""
    write_text_atomic(path, render_html(results))
    return path
