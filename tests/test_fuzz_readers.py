"""Every reader of a file, fuzzed: a valid input of each kind (Terraform plan, ARM template and parameters,
snapshot, results file, baseline, configuration) with one node replaced by a value of another type is either read
(exit 0, 1 or 3) or refused in one clear line (exit 2), never a traceback."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cmkaudit.cli import Streams, run

from .conftest import NOW, inventory
from .iac_plans import DATABRICKS_SP, cmk_module_plan
from .test_arm_template import PARAMETERS, TEMPLATE

OTHER_VALUES: list[Any] = [None, 0, -1, 2**70, 1.5, True, False, "", "x", "[", [], [1], {}, {"a": 1}]
FUZZ = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)


def _paths(node: Any, at: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield at
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*at, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _paths(value, (*at, index))


def _mutated(document: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    copy = json.loads(json.dumps(document))
    node = copy
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return copy


def _check(argv: list[str]) -> None:
    err = io.StringIO()
    code = run(argv, Streams(io.StringIO(), err), now=NOW)  # an exception here is the failure
    text = err.getvalue()
    assert code in (0, 1, 2, 3), (code, text)
    assert "Traceback" not in text
    if code == 2:
        errors = [line for line in text.splitlines() if line.startswith("cmkaudit: error:")]
        assert len(errors) == 1, text


def _documents(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("valid")
    from cmkaudit.inventory.snapshot import save_snapshot

    save_snapshot(inventory(), out / "snapshot.json")
    run(["scan", "--demo", "--format", "json", "--output-dir", str(out)], Streams(io.StringIO(), io.StringIO()))
    return {
        "plan": cmk_module_plan(),
        "template": json.loads(TEMPLATE.read_text()),
        "parameters": json.loads(PARAMETERS.read_text()),
        "snapshot": json.loads((out / "snapshot.json").read_text()),
        "results": json.loads((out / "cmkaudit-results.json").read_text()),
        "config": {
            "thresholds": {"rotation_max_days": 60},
            "break_glass_principals": ["00000000-0000-4000-8000-0000000000aa"],
            "waivers": [
                {
                    "control": "KV-01",
                    "resource": "*",
                    "justification": "a quarter",
                    "owner": "me",
                    "expires": "2027-01-01",
                }
            ],
        },
    }


@pytest.fixture(scope="module")
def documents(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return _documents(tmp_path_factory)


def _fuzz(data: st.DataObject, documents: dict[str, Any], kind: str, tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    document = documents[kind]
    path = data.draw(st.sampled_from(list(_paths(document))), label="path")
    value = data.draw(st.sampled_from(OTHER_VALUES), label="value")
    target = tmp_path / f"{kind}.json"
    mutated = _mutated(document, path, value)
    target.write_text(yaml.safe_dump(mutated) if kind == "config" else json.dumps(mutated))
    return target, documents


@FUZZ
@given(data=st.data())
def test_a_mutated_plan_is_read_or_refused(data: st.DataObject, documents: dict[str, Any], tmp_path: Path) -> None:
    path, _ = _fuzz(data, documents, "plan", tmp_path)
    _check(
        [
            "scan",
            "--terraform-plan",
            str(path),
            "--databricks-principal-id",
            DATABRICKS_SP,
            "--format",
            "json,sarif,html",
            "--output-dir",
            str(tmp_path / "out"),
        ]
    )


@FUZZ
@given(data=st.data())
def test_a_mutated_template_is_read_or_refused(data: st.DataObject, documents: dict[str, Any], tmp_path: Path) -> None:
    path, _ = _fuzz(data, documents, "template", tmp_path)
    (tmp_path / "p.json").write_text(json.dumps(documents["parameters"]))
    _check(
        [
            "scan",
            "--arm-template",
            str(path),
            "--parameters",
            str(tmp_path / "p.json"),
            "--format",
            "json,sarif",
            "--output-dir",
            str(tmp_path / "out"),
        ]
    )


@FUZZ
@given(data=st.data())
def test_mutated_parameters_are_read_or_refused(data: st.DataObject, documents: dict[str, Any], tmp_path: Path) -> None:
    path, _ = _fuzz(data, documents, "parameters", tmp_path)
    (tmp_path / "t.json").write_text(json.dumps(documents["template"]))
    _check(
        [
            "scan",
            "--arm-template",
            str(tmp_path / "t.json"),
            "--parameters",
            str(path),
            "--format",
            "json",
            "--output-dir",
            str(tmp_path / "out"),
        ]
    )


@FUZZ
@given(data=st.data())
def test_a_mutated_snapshot_is_read_or_refused(data: st.DataObject, documents: dict[str, Any], tmp_path: Path) -> None:
    path, _ = _fuzz(data, documents, "snapshot", tmp_path)
    _check(["evaluate", str(path), "--format", "json,sarif,html", "--output-dir", str(tmp_path / "out")])


@FUZZ
@given(data=st.data())
def test_a_mutated_results_file_is_read_or_refused(
    data: st.DataObject, documents: dict[str, Any], tmp_path: Path
) -> None:
    path, _ = _fuzz(data, documents, "results", tmp_path)
    _check(["report", str(path), "--format", "console,sarif,html", "--output-dir", str(tmp_path / "out")])


@FUZZ
@given(data=st.data())
def test_a_mutated_baseline_is_read_or_refused(data: st.DataObject, documents: dict[str, Any], tmp_path: Path) -> None:
    path, _ = _fuzz(data, documents, "results", tmp_path)
    _check(["scan", "--demo", "--baseline", str(path), "--format", "json", "--output-dir", str(tmp_path / "out")])


@FUZZ
@given(data=st.data())
def test_a_mutated_configuration_is_read_or_refused(
    data: st.DataObject, documents: dict[str, Any], tmp_path: Path
) -> None:
    path, _ = _fuzz(data, documents, "config", tmp_path)
    _check(["scan", "--demo", "--config", str(path), "--format", "json", "--output-dir", str(tmp_path / "out")])


@pytest.mark.parametrize(
    ("kind", "path", "value"),
    [
        ("plan", ("configuration", "root_module", "resources", 4, "expressions", "object_id", "references"), 7),
        ("results", ("controls", 0, "references"), []),
        ("results", ("findings", 0, "control_id"), "XX-99"),
        ("snapshot", ("workspaces",), []),
        ("template", ("parameters", "environment", "defaultValue"), []),
    ],
    ids=["plan-references-integer", "results-no-references", "results-stray-control", "snapshot-cut", "bracket-host"],
)
def test_mutations_that_raised_tracebacks(
    documents: dict[str, Any], tmp_path: Path, kind: str, path: tuple[Any, ...], value: Any
) -> None:
    target = tmp_path / f"{kind}.json"
    target.write_text(json.dumps(_mutated(documents[kind], path, value)))
    out = ["--output-dir", str(tmp_path / "out")]
    match kind:
        case "plan":
            _check(["scan", "--terraform-plan", str(target), "--format", "json,sarif", *out])
        case "results":
            _check(["report", str(target), "--format", "console,sarif,html", *out])
        case "snapshot":
            _check(["evaluate", str(target), *out])
        case _:
            (tmp_path / "p.json").write_text(json.dumps({**documents["parameters"], "parameters": {}}))
            _check(["scan", "--arm-template", str(target), "--parameters", str(tmp_path / "p.json"), *out])
