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


def _argv(kind: str, target: Path, documents: dict[str, Any], tmp_path: Path) -> list[str]:
    """The command that reads a file of `kind` (`target`), the other files it needs written beside it."""
    out = ["--output-dir", str(tmp_path / "out")]
    template, parameters = tmp_path / "t.json", tmp_path / "p.json"
    match kind:
        case "plan":
            principal = ["--databricks-principal-id", DATABRICKS_SP]
            return ["scan", "--terraform-plan", str(target), *principal, "--format", "json,sarif,html", *out]
        case "template":
            parameters.write_text(json.dumps(documents["parameters"]))
            return [
                "scan",
                "--arm-template",
                str(target),
                "--parameters",
                str(parameters),
                "--format",
                "json,sarif",
                *out,
            ]
        case "parameters":
            template.write_text(json.dumps(documents["template"]))
            return ["scan", "--arm-template", str(template), "--parameters", str(target), "--format", "json", *out]
        case "snapshot":
            return ["evaluate", str(target), "--format", "json,sarif,html", *out]
        case "results":
            return ["report", str(target), "--format", "console,sarif,html", *out]
        case "baseline":
            return ["scan", "--demo", "--baseline", str(target), "--format", "json", *out]
        case _:
            return ["scan", "--demo", "--config", str(target), "--format", "json", *out]


KINDS = ["plan", "template", "parameters", "snapshot", "results", "baseline", "config"]


@pytest.mark.parametrize("kind", KINDS)
@FUZZ
@given(data=st.data())
def test_a_mutated_file_is_read_or_refused(
    data: st.DataObject, documents: dict[str, Any], tmp_path: Path, kind: str
) -> None:
    document = documents["results" if kind == "baseline" else kind]
    path = data.draw(st.sampled_from(list(_paths(document))), label="path")
    value = data.draw(st.sampled_from(OTHER_VALUES), label="value")
    target = tmp_path / f"{kind}.json"
    mutated = _mutated(document, path, value)
    target.write_text(yaml.safe_dump(mutated) if kind == "config" else json.dumps(mutated))
    _check(_argv(kind, target, documents, tmp_path))


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
    if kind == "template":
        documents = {**documents, "parameters": {**documents["parameters"], "parameters": {}}}
    _check(_argv(kind, target, documents, tmp_path))
