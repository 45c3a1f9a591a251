"""`cmkaudit controls`: the benchmark as a document, generated from rules/ and kept in step with it."""

from __future__ import annotations

import io
import json

import pytest
import yaml

from cmkaudit.cli import Streams, run
from cmkaudit.evaluate.catalog import load_catalog
from cmkaudit.report.benchmark import benchmark_markdown

from .conftest import ROOT


def cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    return run(list(argv), Streams(out, err)), out.getvalue(), err.getvalue()


def test_the_benchmark_document_is_generated_from_the_rule_files() -> None:
    """docs/benchmark.md is exactly what `cmkaudit controls --format markdown` prints."""
    committed = (ROOT / "docs" / "benchmark.md").read_text()
    assert committed == benchmark_markdown(load_catalog()), "regenerate: cmkaudit controls --format markdown"
    code, out, _ = cli("controls", "--format", "markdown")
    assert code == 0 and out == committed


def test_json_listing_is_the_rule_files() -> None:
    code, out, _ = cli("controls", "--format", "json")
    assert code == 0
    listed = {c["id"]: c for c in json.loads(out)}
    for path in (ROOT / "rules").glob("*.yaml"):
        source = yaml.safe_load(path.read_text())
        shown = listed[source["id"]]
        assert shown["title"] == source["title"]
        assert shown["severity"] == source["severity"]
        assert shown["remediation"]["arm_path"] == source["remediation"]["arm_path"]
        assert {k: v for k, v in shown["frameworks"].items() if v} == source["frameworks"]


def test_console_listing_names_every_control() -> None:
    code, out, _ = cli("controls")
    assert code == 0
    for control in load_catalog():
        assert control.id in out


@pytest.mark.parametrize("words", [["show", "key-03"], ["KEY-03"]])
def test_show_one_control(words: list[str]) -> None:
    code, out, _ = cli("controls", *words)
    assert code == 0
    assert "KEY-03: The key rotates automatically" in out
    assert "az keyvault key rotation-policy show" in out


def test_show_one_control_as_markdown() -> None:
    code, out, _ = cli("controls", "show", "IAM-02", "--format", "markdown")
    assert code == 0 and out.startswith("## IAM-02: ")
    assert "| NIST SP 800-53 r5 | AC-6 |" in out


@pytest.mark.parametrize(
    ("words", "message"),
    [(["show", "NOPE-01"], "no control 'NOPE-01'"), (["show"], "needs a control id"), (["a", "b"], "unexpected")],
)
def test_bad_control_requests(words: list[str], message: str) -> None:
    code, _, err = cli("controls", *words)
    assert code == 2
    assert message in err and "Traceback" not in err
