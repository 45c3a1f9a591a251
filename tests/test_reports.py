"""SARIF, HTML and the results document: valid, stable, re-renderable, and safe with hostile names."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
from collections.abc import Callable
from html import unescape
from pathlib import Path

import jsonschema
import pytest

from cmkaudit.cli import Streams, run
from cmkaudit.evaluate.catalog import load_catalog
from cmkaudit.evaluate.engine import evaluate, outcome
from cmkaudit.evaluate.model import Settings, Severity
from cmkaudit.report import Report
from cmkaudit.report.html import render_html
from cmkaudit.report.results import ResultsDocument, build_results

from .conftest import NOW, ROOT, inventory, workspace

SARIF_SCHEMA = json.loads((ROOT / "tests" / "fixtures" / "sarif-schema-2.1.0.json").read_text())


def cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    return run(list(argv), Streams(out, err)), out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def demo_outputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    code, console, _ = cli("scan", "--demo", "--format", "console,json,sarif,html", "--output-dir", str(out))
    assert code == 1
    assert "Totals" in console  # all four formats from one run
    return out


def test_results_schema_is_generated_from_the_model() -> None:
    from tools.generate_docs import results_schema

    assert (ROOT / "reports" / "results.schema.json").read_text() == results_schema(), "run tools/generate_docs.py"


@pytest.mark.parametrize("chunk", [5000, 7, 1])
def test_json_report_is_the_document_with_one_finding_per_line(
    chunk: int, demo_outputs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Written piece by piece, the file is what json.dumps would write with an indent of 2, except that each
    finding is one compact line, whatever the piece size."""
    from cmkaudit.report import json_report

    monkeypatch.setattr(json_report, "CHUNK", chunk)
    document = ResultsDocument.model_validate_json((demo_outputs / "cmkaudit-results.json").read_text())
    assert len(document.findings) > 7
    for results in (document, document.model_copy(update={"findings": []})):
        written = json_report.write_json(results, tmp_path / "results.json").read_text(encoding="utf-8")
        expected = json_report.results_json(results)
        assert json.loads(written) == expected
        findings = ["    " + json.dumps(f, ensure_ascii=False, separators=(",", ":")) for f in expected["findings"]]
        placeholder = "FINDINGS-GO-HERE"
        expected["findings"] = [placeholder]  # in its place: the document's keys keep their order
        layout = json.dumps(expected, indent=2, ensure_ascii=False) + "\n"
        if findings:
            layout = layout.replace(f'    "{placeholder}"', ",\n".join(findings))
        else:
            layout = layout.replace(f'[\n    "{placeholder}"\n  ]', "[]")
        assert written == layout


def test_sarif_is_valid_against_the_official_schema(demo_outputs: Path) -> None:
    document = json.loads((demo_outputs / "cmkaudit.sarif").read_text())
    jsonschema.Draft4Validator(SARIF_SCHEMA, format_checker=jsonschema.FormatChecker()).validate(document)
    assert document["version"] == "2.1.0"


def test_sarif_rules_and_results(demo_outputs: Path) -> None:
    run_ = json.loads((demo_outputs / "cmkaudit.sarif").read_text())["runs"][0]
    rules = run_["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == [c.id for c in load_catalog()]
    for rule in rules:
        assert rule["shortDescription"]["text"] and rule["fullDescription"]["text"]
        assert "**Remediation**" in rule["help"]["markdown"]
        assert float(rule["properties"]["security-severity"]) >= 0
    by_id = {r["id"]: r for r in rules}
    assert by_id["KEY-02"]["properties"]["security-severity"] == "9.5"  # critical
    assert by_id["DBX-06"]["defaultConfiguration"]["level"] == "note"  # low
    results = json.loads((demo_outputs / "cmkaudit-results.json").read_text())
    assert len(run_["results"]) == results["summary"]["by_status"]["FAIL"]  # no UNKNOWN or waived in the demo
    assert run_["invocations"][0]["executionSuccessful"] is results["summary"]["complete"] is True
    first = run_["results"][0]
    location = first["locations"][0]
    assert location["physicalLocation"]["artifactLocation"]["uri"].startswith("azure/subscriptions/")
    assert location["logicalLocations"][0]["fullyQualifiedName"].startswith("/subscriptions/")
    assert rules[first["ruleIndex"]]["id"] == first["ruleId"]


def test_sarif_fingerprints_are_stable_and_distinct(tmp_path: Path) -> None:
    for name in ("a", "b"):
        cli("scan", "--demo", "--format", "sarif", "--output-dir", str(tmp_path / name))
    prints = [
        [
            r["partialFingerprints"]["cmkaudit/v1"]
            for r in json.loads((tmp_path / n / "cmkaudit.sarif").read_text())["runs"][0]["results"]
        ]
        for n in ("a", "b")
    ]
    assert prints[0] == prints[1]
    assert len(set(prints[0])) == len(prints[0])


def test_sarif_suppressions_and_notifications(tmp_path: Path) -> None:
    """Waived findings carry suppressions; collection errors become tool execution notifications."""
    from cmkaudit.collect.demo import replay_scan
    from cmkaudit.inventory.snapshot import save_snapshot

    from .conftest import NOW

    snapshot = tmp_path / "snap.json"
    save_snapshot(
        replay_scan(ROOT / "cassettes" / "permission-denied.yaml", ["2c3d4e5f-6a7b-4c8d-9e0f-1a2b3c4d5e6f"], now=NOW),
        snapshot,
    )
    config = tmp_path / "c.yaml"
    config.write_text(
        "waivers:\n  - control: KEY-03\n    resource: '*'\n    justification: data-plane access is being arranged\n"
        "    owner: security\n    expires: 2027-01-31\n"
    )
    cli("evaluate", str(snapshot), "--config", str(config), "--format", "sarif", "--output-dir", str(tmp_path))
    document = json.loads((tmp_path / "cmkaudit.sarif").read_text())
    jsonschema.Draft4Validator(SARIF_SCHEMA).validate(document)
    run_ = document["runs"][0]
    suppressed = [r for r in run_["results"] if r.get("suppressions")]
    assert {r["ruleId"] for r in suppressed} == {"KEY-03"} and len(suppressed) == 3
    assert suppressed[0]["suppressions"][0]["justification"].startswith("data-plane access is being arranged")
    assert suppressed[0]["kind"] == "review"  # it was UNKNOWN
    notes = run_["invocations"][0]["toolExecutionNotifications"]
    assert len(notes) == 6 and all("HTTP 403" in n["message"]["text"] for n in notes)  # 2 of them: group memberships
    assert run_["invocations"][0]["executionSuccessful"] is False  # the scan was incomplete (exit 3 without waivers)


def test_report_command_re_renders_identically(demo_outputs: Path, tmp_path: Path) -> None:
    code, _, _ = cli(
        "report",
        str(demo_outputs / "cmkaudit-results.json"),
        "--format",
        "json,sarif,html",
        "--output-dir",
        str(tmp_path),
    )
    assert code == 1  # the demo's failures, at its threshold
    for name in ("cmkaudit-results.json", "cmkaudit.sarif", "cmkaudit-report.html"):
        assert (tmp_path / name).read_bytes() == (demo_outputs / name).read_bytes(), name


def test_report_command_threshold(demo_outputs: Path, tmp_path: Path) -> None:
    results = str(demo_outputs / "cmkaudit-results.json")
    assert cli("report", results, "--format", "json", "--output-dir", str(tmp_path), "--fail-on", "none")[0] == 0
    rerendered = json.loads((tmp_path / "cmkaudit-results.json").read_text())
    assert rerendered["settings"]["fail_on"] is None
    assert rerendered["summary"]["failed_at_or_above_threshold"] == 0


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{", "is not JSON"),
        ('{"kind": "cmkaudit.snapshot"}', "not a cmkaudit results file"),
        ('{"kind": "cmkaudit.results", "schema_version": 1}', "schema version 1"),
    ],
)
def test_report_command_bad_input(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "r.json"
    path.write_text(content)
    code, _, err = cli("report", str(path))
    assert code == 2 and message in err and "Traceback" not in err


def test_a_results_file_reads_back_as_pydantic_reads_it(demo_outputs: Path, tmp_path: Path) -> None:
    """`load_results` decodes the findings into records with msgspec; pydantic reading the whole file (the
    schema's own validation) gives the very same document, records and all: remediation, waivers and
    baseline marks included."""
    from cmkaudit.evaluate.model import Evidence, Finding
    from cmkaudit.report import load_results
    from cmkaudit.report.results import ResultsDocument

    config = tmp_path / "c.yaml"
    config.write_text(
        "waivers:\n  - control: KV-01\n    resource: '*'\n    justification: purge protection is being enabled\n"
        "    owner: security\n    expires: 2027-01-31\n"
    )
    baseline = str(demo_outputs / "cmkaudit-results.json")
    cli(
        "scan",
        "--demo",
        "--config",
        str(config),
        "--baseline",
        baseline,
        "--format",
        "json",
        "--output-dir",
        str(tmp_path),
    )
    path = tmp_path / "cmkaudit-results.json"
    quick, careful = load_results(path), ResultsDocument.model_validate_json(path.read_bytes())
    assert quick == careful
    assert quick.model_dump_json() == careful.model_dump_json()
    assert all(type(f) is Finding for f in quick.findings)
    assert all(type(e) is Evidence for f in quick.findings for e in f.evidence)
    assert any(f.evidence for f in quick.findings) and any(f.remediation for f in quick.findings)
    assert any(f.waiver for f in quick.findings) and any(f.baseline for f in quick.findings)


def _edited_results(demo_outputs: Path, path: Path, edit: Callable[[str], str]) -> Path:
    """The demo's results file, edited, written to `path`."""
    path.write_text(edit((demo_outputs / "cmkaudit-results.json").read_text()))
    return path


@pytest.mark.parametrize(
    ("edit", "where"),
    [
        (lambda d: d.replace('"status":"FAIL"', '"status":"BROKEN"', 1), "findings."),
        (lambda d: d.replace('{"control_id":', '{"extra":1,"control_id":', 1), "findings.0.extra"),
        (lambda d: d.replace('"label":', '"labels":', 1), "findings."),
        (lambda d: d.replace('"fail_on": "low"', '"fail_on": 3', 1), "settings.fail_on"),
        (lambda d: d.replace('"tool": {', '"tools": {', 1), "tool"),
    ],
)
def test_a_bad_results_file_is_named_by_pydantic(
    demo_outputs: Path, tmp_path: Path, edit: Callable[[str], str], where: str
) -> None:
    """A file the quick reader rejects is read whole by pydantic, whose message says where it is wrong."""
    from cmkaudit.errors import SnapshotError
    from cmkaudit.report import load_results

    path = _edited_results(demo_outputs, tmp_path / "r.json", edit)
    with pytest.raises(SnapshotError, match="is not a valid results file: " + re.escape(where)):
        load_results(path)


def test_a_baseline_is_read_as_the_whole_results_file_would_give_it(demo_outputs: Path) -> None:
    """`--baseline` reads only the parts of a results file a comparison needs (quickly, on a file of hundreds
    of megabytes); what it reads is what the whole document gives."""
    from cmkaudit.report import load_baseline, load_results
    from cmkaudit.report.results import Baseline

    path = demo_outputs / "cmkaudit-results.json"
    quick, whole = load_baseline(path), Baseline.of(load_results(path))
    assert quick == whole
    assert len(quick.problems) == sum(1 for f in load_results(path).findings if f.status in {"FAIL", "UNKNOWN"})


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: "{", "is not JSON"),
        (lambda d: '{"kind": "cmkaudit.snapshot", "schema_version": 1}', "not a cmkaudit results file"),
        (lambda d: d.replace('"schema_version": 3', '"schema_version": 1'), "schema version 1"),
        (lambda d: d.replace('"status":"FAIL"', '"status":"BROKEN"', 1), "not a valid results file"),
        (lambda d: d.replace('"findings": [', '"findings": 7, "_": [', 1), "not a valid results file"),
    ],
)
def test_a_bad_baseline_is_one_line_of_error(
    demo_outputs: Path, tmp_path: Path, edit: Callable[[str], str], message: str
) -> None:
    path = _edited_results(demo_outputs, tmp_path / "baseline.json", edit)
    code, _, err = cli("scan", "--demo", "--format", "json", "--output-dir", str(tmp_path), "--baseline", str(path))
    assert code == 2 and message in err and "Traceback" not in err, err
    assert len(err.strip().splitlines()) <= 2  # the error, and its hint when there is one


def test_remediation_is_filled_in_for_the_resource(demo_outputs: Path) -> None:
    findings = json.loads((demo_outputs / "cmkaudit-results.json").read_text())["findings"]
    kv01 = next(f for f in findings if f["control_id"] == "KV-01" and f["status"] == "FAIL")
    assert kv01["remediation"]["cli"] == "az keyvault update --name kv-analytics-dev --enable-purge-protection true"
    iam01 = next(f for f in findings if f["control_id"] == "IAM-01" and f["status"] == "FAIL")
    assert "--object-id 5e6f7081-9203-44b5-86c7-d8e9fa0b1c23" in iam01["remediation"]["cli"]
    assert all(f["remediation"] is None for f in findings if f["status"] == "PASS")
    html = (demo_outputs / "cmkaudit-report.html").read_text()
    assert "az keyvault update --name kv-analytics-dev --enable-purge-protection true" in html


def test_baseline_marks_new_unchanged_and_resolved(demo_outputs: Path, tmp_path: Path) -> None:
    """Against the demo's own results, a waiver and a relaxed threshold resolve some findings."""
    baseline = str(demo_outputs / "cmkaudit-results.json")
    config = tmp_path / "c.yaml"
    config.write_text("thresholds:\n  soft_delete_min_retention_days: 7\n")
    cli(
        "scan",
        "--demo",
        "--config",
        str(config),
        "--baseline",
        baseline,
        "--format",
        "json,html",
        "--output-dir",
        str(tmp_path),
    )
    document = json.loads((tmp_path / "cmkaudit-results.json").read_text())
    info = document["baseline"]
    assert info["new"] == 0
    assert info["unchanged"] == document["summary"]["by_status"]["FAIL"]
    assert sorted((r["control_id"], r["resource_name"], r["scope"]) for r in info["resolved"]) == [
        ("KV-02", "dbw-analytics-dev", "managedDisk"),
        ("KV-02", "dbw-analytics-dev", "managedServices"),
        ("KV-02", "dbw-analytics-test", "managedServices"),
    ]
    assert {f["baseline"] for f in document["findings"] if f["status"] == "FAIL"} == {"unchanged"}
    assert 'data-baseline="new">0<' in (tmp_path / "cmkaudit-report.html").read_text()


HOSTILE_NAME = '<script>alert("name")</script>'
HOSTILE_TAG = '"><img src=x onerror=alert(1)>'


def hostile_results() -> ResultsDocument:
    ws = workspace(name=HOSTILE_NAME, tags={"environment": HOSTILE_TAG, HOSTILE_TAG: "x"}, sku="standard")
    inv = inventory(workspaces=[ws])
    findings = evaluate(inv, load_catalog(), Settings())
    return build_results(Report(inv, findings, load_catalog(), Settings(), outcome(findings, inv, Severity.LOW)))


def test_sarif_uris_are_uri_references_even_for_hostile_ids() -> None:
    """A resource id with characters a URI cannot hold (a space, quotes, angle brackets, a line break, an escape,
    non-ASCII) becomes a percent-encoded artifact URI: the document validates with format checking on."""
    from cmkaudit.report.sarif import artifact_uri, sarif_document

    base = str(workspace().id).rsplit("/", 1)[0]
    hostile_id = f'{base}/dbw <x> "q"\n\x1b[31m%zz ünï#?'
    ws = workspace(id=hostile_id, name=HOSTILE_NAME, sku="standard")
    inv = inventory(workspaces=[ws])
    findings = evaluate(inv, load_catalog(), Settings())
    results = build_results(Report(inv, findings, load_catalog(), Settings(), outcome(findings, inv, Severity.LOW)))
    document = sarif_document(results)
    checker = jsonschema.FormatChecker()
    assert "uri-reference" in checker.checkers  # rfc3986-validator is installed: the format is really checked
    jsonschema.Draft4Validator(SARIF_SCHEMA, format_checker=checker).validate(document)
    uris = {
        location["physicalLocation"]["artifactLocation"]["uri"]
        for result in document["runs"][0]["results"]
        for location in result["locations"]
    }
    assert uris == {artifact_uri(hostile_id)}
    assert artifact_uri(hostile_id).endswith("/dbw%20%3Cx%3E%20%22q%22%0A%1B%5B31m%25zz%20%C3%BCn%C3%AF%23%3F")
    assert artifact_uri(str(workspace().id)) == "azure/" + str(workspace().id).strip("/").lower()  # unchanged


def test_html_escapes_every_string_from_azure() -> None:
    html = render_html(hostile_results())
    assert HOSTILE_NAME not in html and "<img" not in html
    assert "&lt;script&gt;alert(&#34;name&#34;)&lt;/script&gt;" in html
    assert html.count("<script>") == 1  # only the report's own


def test_html_is_self_contained_and_locked_down() -> None:
    page = render_html(hostile_results())
    policy = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page)
    assert policy is not None
    csp = unescape(policy.group(1))  # the browser decodes attribute entities before parsing the policy
    assert "default-src 'none'" in csp and "unsafe-inline" not in csp
    script = re.search(r"<script>(.*)</script>", page, re.S)
    style = re.search(r"<style>(.*)</style>", page, re.S)
    assert script is not None and style is not None
    for block in (script.group(1), style.group(1)):
        digest = base64.b64encode(hashlib.sha256(block.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in csp
    assert not re.search(r'(src|href)="(https?:)?//', page)  # nothing remote to load
    assert not re.search(r"<[a-z]+[^>]*\son[a-z]+=", page)  # no inline event handler in any tag


def large_tenant_results(count: int = 30) -> ResultsDocument:
    """`count` workspaces, every third on the Standard tier (DBX-01 fails there)."""
    base = str(workspace().id).rsplit("/", 1)[0]
    spaces = [
        workspace(id=f"{base}/dbw{i:02d}", name=f"dbw{i:02d}", sku="standard" if i % 3 == 0 else "premium")
        for i in range(count)
    ]
    inv = inventory(workspaces=spaces)
    findings = evaluate(inv, load_catalog(), Settings())
    return build_results(Report(inv, findings, load_catalog(), Settings(), outcome(findings, inv, Severity.LOW)))


def test_a_large_tenant_gets_control_totals_and_what_to_act_on_in_the_console(monkeypatch: pytest.MonkeyPatch) -> None:
    from cmkaudit.report import console

    monkeypatch.setattr(console, "MAX_ROWS", 4)
    results = large_tenant_results()
    out = io.StringIO()
    console.render_console(results, out)
    text = out.getvalue()
    to_act = [f for f in results.findings if f.status.value in ("FAIL", "UNKNOWN")]
    assert "Controls" in text and f"To act on: {len(to_act)} failed or unknown finding(s)" in text
    assert f"... and {len(to_act) - 4} more" in text
    assert "  " + str(workspace().id).rsplit("/", 1)[0] not in text  # no table per workspace
    dbx01 = next(c for c in results.controls if c.id == "DBX-01")
    assert (dbx01.counts.PASS, dbx01.counts.FAIL) == (20, 10)
    first = text.split("To act on")[1].splitlines()[4]  # the first row: the most severe finding
    worst = min(to_act, key=lambda f: list(Severity).index(f.severity))
    assert worst.severity.value in first


def test_a_large_tenant_html_says_where_every_finding_is(monkeypatch: pytest.MonkeyPatch) -> None:
    from cmkaudit.report import html

    results = large_tenant_results()
    assert "data-findings-not-listed" not in render_html(results)
    monkeypatch.setattr(html, "LIST_EVERY_FINDING_UP_TO", 100)
    page = render_html(results)
    assert "data-findings-not-listed" in page and "<tr data-finding data-status=" not in page
    assert f"This scan has {results.summary.findings} findings" in page
    assert page.count('class="cell cell-FAIL"') == 10  # the matrix still shows every workspace


def quiet_streams() -> Streams:
    return Streams(io.StringIO(), io.StringIO())


def test_a_report_directory_holds_one_runs_files(tmp_path: Path) -> None:
    """A second run asking for fewer formats leaves no file of the first beside its own."""
    out = tmp_path / "out"
    first = run(["scan", "--demo", "--format", "json,sarif,html", "--output-dir", str(out)], quiet_streams(), now=NOW)
    assert first == 1
    assert {p.name for p in out.iterdir()} == {"cmkaudit-results.json", "cmkaudit.sarif", "cmkaudit-report.html"}
    run(["scan", "--demo", "--format", "json", "--output-dir", str(out)], quiet_streams(), now=NOW)
    assert {p.name for p in out.iterdir()} == {"cmkaudit-results.json"}


def test_an_interrupted_report_set_leaves_the_last_set_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    run(["scan", "--demo", "--format", "json,html", "--output-dir", str(out)], quiet_streams(), now=NOW)
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def interrupted(*_: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("cmkaudit.report.html.write_html", interrupted)
    argv = ["scan", "--demo", "--rotation-days", "30", "--format", "json,html", "--output-dir", str(out)]
    code = run(argv, quiet_streams(), now=NOW)  # its JSON would differ from the first run's
    assert code == 130
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # the new JSON was not moved in, nothing left


def test_two_runs_into_one_directory_take_turns(tmp_path: Path) -> None:
    import fcntl
    import os
    import threading

    from cmkaudit.report import ReportFormat, load_results, write_report_set

    out = tmp_path / "out"
    run(["scan", "--demo", "--format", "json", "--output-dir", str(out)], quiet_streams(), now=NOW)
    results = load_results(out / "cmkaudit-results.json")
    fd = os.open(out, os.O_RDONLY | os.O_DIRECTORY)
    fcntl.flock(fd, fcntl.LOCK_EX)  # another run is writing its set
    done = threading.Event()
    writer = threading.Thread(
        target=lambda: (write_report_set(results, [ReportFormat.SARIF], out, io.StringIO()), done.set())
    )
    writer.start()
    assert not done.wait(0.5)  # waits for the other run
    assert {p.name for p in out.iterdir()} == {"cmkaudit-results.json"}
    os.close(fd)
    assert done.wait(30)
    writer.join()
    assert {p.name for p in out.iterdir()} == {"cmkaudit.sarif"}
