"""Files an attacker controls (a pull request's configuration, a template, a shard): only regular files inside the
scanned tree are read, no error quotes a file's content, and no input makes the work unbounded."""

from __future__ import annotations

import io
import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from cmkaudit.cli import Streams, run

from .conftest import NOW
from .iac_plans import DATABRICKS_SP
from .test_arm_template import template as arm_template
from .test_bad_input import assert_one_clear_line
from .test_terraform_dir import copy_module

SECRET = "cmkaudit-test-secret-6f1d2c"


def scan(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run(list(argv), Streams(out, err), now=NOW)
    return code, out.getvalue(), err.getvalue()


def scan_dir(tmp_path: Path, directory: Path, *extra: str) -> tuple[int, str]:
    code, out, err = scan("scan", "--terraform-dir", str(directory), "--output-dir", str(tmp_path / "out"), *extra)
    return code, out + err


def scan_arm(tmp_path: Path, document: dict[str, Any], *extra: str) -> tuple[int, list[dict[str, Any]], str]:
    """Scan `document` with the fixture's parameters; the findings and what was printed."""
    from .test_arm_template import scan_template

    return scan_template(tmp_path, document, "--databricks-principal-id", DATABRICKS_SP, *extra)


def results(tmp_path: Path) -> dict[str, object]:
    document = json.loads((tmp_path / "out" / "cmkaudit-results.json").read_text())
    assert isinstance(document, dict)
    return document


@pytest.fixture
def secret_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """A secret in this process's environment, as a CI job holds its credentials."""
    monkeypatch.setenv("CMKAUDIT_TEST_TOKEN", SECRET)


@pytest.mark.parametrize("name", ["evil.tf", "evil.auto.tfvars", "terraform.tfvars"])
def test_a_link_to_the_environment_is_refused_by_name(tmp_path: Path, secret_environment: None, name: str) -> None:
    directory = copy_module(tmp_path)
    (directory / name).unlink(missing_ok=True)
    (directory / name).symlink_to("/proc/self/environ")
    code, output = scan_dir(tmp_path, directory)
    assert_one_clear_line(code, output, name, "refused")
    assert SECRET not in output and "CMKAUDIT_TEST_TOKEN" not in output


def test_a_var_file_that_is_the_environment_is_refused(tmp_path: Path, secret_environment: None) -> None:
    directory = copy_module(tmp_path)
    code, output = scan_dir(tmp_path, directory, "--var-file", "/proc/self/environ")
    assert_one_clear_line(code, output, "/proc/self/environ", "not a regular file")
    assert SECRET not in output


def test_a_link_out_of_the_tree_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere" / "secret.tf"
    outside.parent.mkdir()
    outside.write_text(f'resource "azurerm_key_vault" "x" {{\n  name = "{SECRET}"\n}}\n')
    directory = copy_module(tmp_path)
    (directory / "linked.tf").symlink_to(outside)
    code, output = scan_dir(tmp_path, directory)
    assert_one_clear_line(code, output, "linked.tf", "leaves", "refused")
    assert SECRET not in output


def test_a_link_inside_the_tree_is_read(tmp_path: Path) -> None:
    directory = copy_module(tmp_path)
    (directory / "shared").mkdir()
    (directory / "variables.tf").rename(directory / "shared" / "variables.tf")
    (directory / "variables.tf").symlink_to(directory / "shared" / "variables.tf")
    code, output = scan_dir(tmp_path, directory)
    assert code == 0, output


@pytest.mark.parametrize("kind", ["fifo", "device", "directory"])
def test_special_files_are_refused_without_waiting(tmp_path: Path, kind: str) -> None:
    directory = copy_module(tmp_path)
    path = directory / "special.tf"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "device":
        path.symlink_to("/dev/zero")
    else:
        path.mkdir()  # Terraform reads files only: a directory named *.tf is passed over
    started = time.monotonic()
    code, output = scan_dir(tmp_path, directory)
    assert time.monotonic() - started < 30
    if kind == "directory":
        assert code == 0, output
    else:
        assert_one_clear_line(code, output, "special.tf", "refused")


def test_a_syntax_error_names_the_place_not_the_content(tmp_path: Path) -> None:
    directory = copy_module(tmp_path)
    (directory / "broken.tf").write_text(f'locals {{\n  x = \n  {SECRET} = "{SECRET}" {{{{\n}}\n')
    code, output = scan_dir(tmp_path, directory)
    assert_one_clear_line(code, output, "broken.tf is not valid HCL at line ", "column", "expected")
    assert SECRET not in output


def test_a_broken_variables_file_names_the_place_not_the_content(tmp_path: Path) -> None:
    directory = copy_module(tmp_path)
    (directory / "x.auto.tfvars").write_text(f"a = \n{SECRET} {{{{\n")
    code, output = scan_dir(tmp_path, directory)
    assert_one_clear_line(code, output, "x.auto.tfvars is not valid HCL at line")
    assert SECRET not in output


def test_a_huge_file_is_refused(tmp_path: Path) -> None:
    directory = copy_module(tmp_path)
    with (directory / "huge.tf").open("w") as handle:
        handle.write("# " + "x" * (17 * 1024 * 1024) + "\n")
    code, output = scan_dir(tmp_path, directory)
    assert_one_clear_line(code, output, "huge.tf", "larger than 16 MiB")


def _timed_scan(tmp_path: Path, directory: Path) -> tuple[int, str, float]:
    started = time.monotonic()
    code, output = scan_dir(tmp_path, directory, "--format", "json")
    return code, output, time.monotonic() - started


def _gaps(tmp_path: Path) -> list[dict[str, str]]:
    coverage = results(tmp_path)["coverage"]
    assert isinstance(coverage, dict)
    errors = coverage["errors"]
    assert isinstance(errors, list)
    return errors


def test_a_count_of_a_hundred_million_is_not_expanded(tmp_path: Path) -> None:
    directory = copy_module(tmp_path)
    (directory / "many.tf").write_text('resource "azurerm_resource_group" "many" {\n  count = 100000000\n}\n')
    code, output, seconds = _timed_scan(tmp_path, directory)
    assert seconds < 30, seconds
    gaps = _gaps(tmp_path)
    assert [g["resource_id"] for g in gaps] == ["azurerm_resource_group.many"], gaps
    assert "100,000,000 instances" in gaps[0]["message"]
    assert code == 3, output


def test_a_module_that_calls_itself_is_not_read_again(tmp_path: Path) -> None:
    directory = copy_module(tmp_path)
    (directory / "loop.tf").write_text('module "again" {\n  count  = 2\n  source = "./"\n}\n')
    code, output, seconds = _timed_scan(tmp_path, directory)
    assert seconds < 30, seconds
    gaps = _gaps(tmp_path)
    assert [g["resource_id"] for g in gaps] == ["module.again"] and "calls itself" in gaps[0]["message"], gaps
    assert code == 3, output


TAGGED = {"main.tf": ("environment         = var.environment", "environment         = local.top")}
"""The workspace's environment tag taken from a local the test defines."""


def test_locals_that_refer_to_each_other_many_times_are_worked_out_once(tmp_path: Path) -> None:
    directory = copy_module(tmp_path, TAGGED)
    levels = ["  l0 = 1"] + [f"  l{i} = [{', '.join([f'local.l{i - 1}'] * 8)}]" for i in range(1, 16)]
    levels.append("  top = local.l15" + "[7]" * 15 + ' == 1 ? "prod" : "dev"')
    (directory / "locals.tf").write_text("locals {\n" + "\n".join(levels) + "\n}\n")
    code, output, seconds = _timed_scan(tmp_path, directory)
    assert seconds < 30, seconds
    assert code == 0, output
    workspaces = results(tmp_path)["workspaces"]
    assert isinstance(workspaces, list) and workspaces[0]["tags"]["environment"] == "prod"


def test_a_string_that_doubles_at_every_level_is_cut(tmp_path: Path) -> None:
    directory = copy_module(tmp_path, TAGGED)
    levels = ['  s0 = "ab"'] + [f'  s{i} = "{f"${{local.s{i - 1}}}" * 10}"' for i in range(1, 12)]
    (directory / "locals.tf").write_text("locals {\n" + "\n".join(levels) + "\n  top = local.s11\n}\n")
    code, output, seconds = _timed_scan(tmp_path, directory)
    assert seconds < 30, seconds
    assert any("string over" in g["message"] for g in _gaps(tmp_path))
    assert code == 3, output


# --- ARM templates -----------------------------------------------------------------------------------------------


def _workspace(document: dict[str, Any]) -> dict[str, Any]:
    found = next(r for r in document["resources"] if r["type"] == "Microsoft.Databricks/workspaces")
    assert isinstance(found, dict)
    return found


def _standard_workspace_named(name: str, copy: dict[str, Any] | None = None) -> dict[str, Any]:
    document = arm_template()
    workspace = _workspace(document)
    workspace["name"] = name
    workspace["sku"] = {"name": "standard"}
    if copy is not None:
        workspace["copy"] = copy
    return document


@pytest.mark.parametrize(
    ("name", "copy", "parameters"),
    [
        ("[format('dbw-{0}', uniqueString(resourceGroup().id))]", None, {}),
        ("[guid(resourceGroup().id, 'databricks')]", None, {}),
        ("[parameters('names')[copyIndex()]]", {"name": "ws", "count": "[length(parameters('names'))]"}, {}),
        ("[concat('dbw-', parameters('unset'))]", None, {"unset": {"type": "string"}}),
    ],
    ids=["uniqueString", "guid", "bicep-loop-over-length", "parameter-without-value"],
)
def test_a_workspace_named_only_at_deployment_is_judged(
    tmp_path: Path, name: str, copy: dict[str, Any] | None, parameters: dict[str, Any]
) -> None:
    """A Standard-tier workspace must fail DBX-01 whatever its name: a name is a label, not a reason to skip it."""
    document = _standard_workspace_named(name, copy)
    document["parameters"]["names"] = {"type": "array", "defaultValue": ["dbw-a", "dbw-b"]}
    document["parameters"].update(parameters)
    code, findings, output = scan_arm(tmp_path, document)
    dbx01 = [f for f in findings if f["control_id"] == "DBX-01"]
    assert dbx01 and all(f["status"] == "FAIL" for f in dbx01), output
    if copy is not None:
        assert len(dbx01) == 2
    assert code == 1


def test_a_copy_count_past_the_cap_is_judged_once_and_incomplete(tmp_path: Path) -> None:
    document = _standard_workspace_named(
        "[concat('dbw-', copyIndex())]", {"name": "ws", "count": "[parameters('howMany')]"}
    )
    document["parameters"]["howMany"] = {"type": "int", "defaultValue": 100000}
    code, findings, output = scan_arm(tmp_path, document, "--fail-on", "none")
    dbx01 = [f for f in findings if f["control_id"] == "DBX-01"]
    assert len(dbx01) == 1 and dbx01[0]["status"] == "FAIL", output
    gaps = _gaps(tmp_path)
    assert any("copy" in g["message"] and "100,000" in g["message"] for g in gaps), gaps
    assert code == 3


def test_nested_copy_loops_are_bounded(tmp_path: Path) -> None:
    document = arm_template()
    vault = next(r for r in document["resources"] if r["type"] == "Microsoft.KeyVault/vaults")
    key = dict(vault["resources"][0])
    key["name"] = "[concat('k', copyIndex('keys'))]"
    key["copy"] = {"name": "keys", "count": 800}
    vault["copy"] = {"name": "vaults", "count": 800}
    vault["name"] = "[concat(variables('vaultName'), copyIndex('vaults'))]"
    vault["resources"] = [key]
    started = time.monotonic()
    code, _, output = scan_arm(tmp_path, document, "--fail-on", "none")
    assert time.monotonic() - started < 60
    assert any("not expanded" in g["message"] for g in _gaps(tmp_path)), output
    assert code == 3


def test_variables_that_refer_to_each_other_many_times_are_worked_out_once(tmp_path: Path) -> None:
    document = arm_template()
    variables = document["variables"]
    variables["v0"] = "a"
    for i in range(1, 30):
        variables[f"v{i}"] = "[createArray(" + ", ".join([f"variables('v{i - 1}')"] * 8) + ")]"
    variables["workspaceName"] = "[concat('dbw-', parameters('environment'), string(length(variables('v29'))))]"
    started = time.monotonic()
    _, findings, output = scan_arm(tmp_path, document)
    assert time.monotonic() - started < 30
    assert {f["resource_name"] for f in findings if f["control_id"] == "DBX-01"} == {"dbw-prod8"}, output


def test_line_numbers_of_a_large_template_take_linear_time(tmp_path: Path) -> None:
    document = arm_template()
    filler = [
        {
            "type": "Microsoft.Network/publicIPAddresses",
            "apiVersion": "2023-04-01",
            "name": f"ip{i}",
            "properties": {"description": "x" * 200},
        }
        for i in range(15_000)
    ]  # 4.9 MB: quadratic line counting took minutes
    document["resources"] = filler + document["resources"]
    started = time.monotonic()
    code, _, output = scan_arm(tmp_path, document)
    assert time.monotonic() - started < 10, output  # about 1 s; counting lines from the top each time took 15
    assert code == 0, output


def test_a_template_over_its_limit_is_refused(tmp_path: Path) -> None:
    document = arm_template()
    document["metadata"] = {"padding": "x" * (65 * 1024 * 1024)}
    code, _, output = scan_arm(tmp_path, document)
    assert_one_clear_line(code, output, "template.json", "larger than 64 MiB")
