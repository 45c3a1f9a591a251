"""`cmkaudit scan --arm-template`: the CMK module as an ARM template (tests/fixtures/arm), compliant and broken,
with findings asserted exactly (the same verdicts as its Terraform forms)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from cmkaudit.cli import Streams, run

from .conftest import NOW
from .iac_plans import DATABRICKS_SP
from .iac_variants import ARM_VARIANTS
from .test_terraform_plan import CHANGED, COMPLIANT, SCOPES, exit_code, verdicts

FIXTURES = Path(__file__).parent / "fixtures" / "arm"
TEMPLATE = FIXTURES / "cmk-module.json"
PARAMETERS = FIXTURES / "cmk-module.parameters.json"
SCHEMA = "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#"


def template(edit: Any = None) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(TEMPLATE.read_text())
    if edit is not None:
        edit(document)
    return document


def resource(document: dict[str, Any], type_: str) -> dict[str, Any]:
    return next(r for r in document["resources"] if r["type"] == type_)


def scan_template(
    tmp_path: Path, document: dict[str, Any], *extra: str, parameters: dict[str, Any] | None = None
) -> tuple[int, list[dict[str, Any]], str]:
    path = tmp_path / "template.json"
    path.write_text(json.dumps(document, indent=2))
    given = json.loads(PARAMETERS.read_text())
    given["parameters"].update(parameters or {})
    (tmp_path / "parameters.json").write_text(json.dumps(given))
    out = tmp_path / "out"
    err = io.StringIO()
    argv = ["scan", "--arm-template", str(path), "--parameters", str(tmp_path / "parameters.json")]
    code = run(
        [*argv, "--format", "json,sarif", "--output-dir", str(out), *extra], Streams(io.StringIO(), err), now=NOW
    )
    if code == 2:
        return code, [], err.getvalue()
    return code, json.loads((out / "cmkaudit-results.json").read_text())["findings"], err.getvalue()


PRINCIPAL = ("--databricks-principal-id", DATABRICKS_SP)


def test_the_compliant_template_judges_as_the_terraform_module(tmp_path: Path) -> None:
    code, findings, err = scan_template(tmp_path, template(), *PRINCIPAL)
    assert verdicts(findings) == COMPLIANT, err
    assert code == 0


@pytest.mark.parametrize("variant", sorted(ARM_VARIANTS))
def test_each_defect_in_the_template_is_found(tmp_path: Path, variant: str) -> None:
    edit, parameters = ARM_VARIANTS[variant]
    code, findings, err = scan_template(tmp_path, template(edit), *PRINCIPAL, parameters=parameters)
    assert verdicts(findings) == {**COMPLIANT, **CHANGED[variant]}, err
    assert code == exit_code(CHANGED[variant])


def test_a_vault_without_diagnostic_settings_in_the_template_is_left_to_a_live_scan(tmp_path: Path) -> None:
    def no_diagnostics(document: dict[str, Any]) -> None:
        document["resources"] = [r for r in document["resources"] if "diagnosticSettings" not in r["type"]]

    code, findings, _ = scan_template(tmp_path, template(no_diagnostics), *PRINCIPAL)
    assert verdicts(findings) == {**COMPLIANT, **{("KV-04", s): "NOT_APPLICABLE" for s in SCOPES}}
    assert code == 0


def test_without_the_databricks_principal_its_grants_are_unknown(tmp_path: Path) -> None:
    code, findings, _ = scan_template(tmp_path, template())
    unknown = {("IAM-01", "managedServices"): "UNKNOWN", ("IAM-02", "managedServices"): "UNKNOWN"}
    assert verdicts(findings) == {**COMPLIANT, **unknown}
    reasons = [f["reason"] for f in findings if (f["control_id"], f["scope"]) in unknown]
    assert all("--databricks-principal-id" in r for r in reasons), reasons
    assert code == 3


def test_a_copy_loop_makes_one_workspace_per_index(tmp_path: Path) -> None:
    def two_workspaces(document: dict[str, Any]) -> None:
        workspace = resource(document, "Microsoft.Databricks/workspaces")
        workspace["copy"] = {"name": "workspaces", "count": 2}
        workspace["name"] = "[format('{0}-{1}', variables('workspaceName'), copyIndex())]"

    _, findings, err = scan_template(tmp_path, template(two_workspaces), *PRINCIPAL)
    assert {f["resource_name"] for f in findings} == {"dbw-prod-0", "dbw-prod-1"}
    # Both share one key and vault: GOV-01 judges sharing only across environments (the same here).
    assert verdicts(findings, "dbw-prod-1")[("DBX-02", None)] == "PASS", err


def test_sarif_points_at_the_resource_in_the_template(tmp_path: Path) -> None:
    scan_template(tmp_path, template(), *PRINCIPAL, parameters={"purgeProtection": {"value": False}})
    results = json.loads((tmp_path / "out" / "cmkaudit.sarif").read_text())["runs"][0]["results"]
    lines = TEMPLATE.read_text().splitlines()
    location = results[0]["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"] == "template.json"
    # The template written by the test is indented like the fixture: the vault's "type" line.
    written = (tmp_path / "template.json").read_text().splitlines()
    assert '"type": "Microsoft.KeyVault/vaults"' in written[location["region"]["startLine"] - 1]
    assert lines  # the fixture itself is read by every test above


@pytest.mark.parametrize(
    ("name", "content", "fragment"),
    [
        ("main.bicep", "resource kv 'Microsoft.KeyVault/vaults@2023-07-01' = {}", "az bicep build"),
        ("t.json", "{not json", "is not JSON"),
        ("t.json", json.dumps({"resources": []}), "not an ARM template"),
        ("p.json", PARAMETERS.read_text(), "a parameters file: pass it with --parameters"),
        ("t.json", json.dumps({"$schema": SCHEMA, "resources": "x"}), "resources: Input should be a valid list"),
        (
            "t.json",
            json.dumps(
                {"$schema": SCHEMA, "resources": [{"type": "Microsoft.Databricks/workspaces", "name": "w", "sku": "x"}]}
            ),
            "resources.0.sku: Input should be a valid dictionary",
        ),
    ],
    ids=["bicep", "not-json", "not-a-template", "parameters-as-template", "resources-not-list", "sku-not-object"],
)
def test_a_file_that_is_not_a_template_is_one_clear_line(
    tmp_path: Path, name: str, content: str, fragment: str
) -> None:
    path = tmp_path / name
    path.write_text(content)
    err = io.StringIO()
    code = run(["scan", "--arm-template", str(path)], Streams(io.StringIO(), err), now=NOW)
    lines = [line for line in err.getvalue().splitlines() if not line.startswith("cmkaudit: hint:")]
    assert code == 2 and "Traceback" not in err.getvalue()
    assert len(lines) == 1 and fragment in (lines[0] + err.getvalue()), err.getvalue()
