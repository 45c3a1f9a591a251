"""`cmkaudit scan --terraform-plan`: the CMK module of the design notes, compliant and broken, judged before apply.

Each variant's findings are asserted exactly: the compliant plan's verdicts, and for a variant, every verdict
that differs from them.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from cmkaudit.cli import Streams, run
from cmkaudit.iac.model import split_reference

from .conftest import NOW
from .iac_plans import DATABRICKS_SP, SUBSCRIPTION, cmk_module_plan
from .iac_variants import PLAN_VARIANTS, ROTATION_NOTIFY_ONLY

Verdicts = dict[tuple[str, str | None], str]

LIVE_ONLY = "NOT_APPLICABLE"
SCOPES = ("managedServices", "managedDisk", "dbfsRoot")
PER_KEY = ("GOV-01", "IAM-01", "IAM-02", "IAM-03", "KEY-01", "KEY-02", "KEY-03", "KEY-04", "KV-01", "KV-02", "KV-03")
PER_KEY += ("KV-04", "KV-05")
COMPLIANT: Verdicts = {
    **{(f"DBX-0{i}", None): "PASS" for i in range(1, 7)},
    ("GOV-02", None): "PASS",
    **{(c, s): "PASS" for c in PER_KEY for s in SCOPES},
    # Only a live scan sees key versions, and role assignments made outside the configuration.
    **{(c, s): LIVE_ONLY for c in ("KEY-02", "KEY-04", "IAM-03") for s in SCOPES},
}


def scan(tmp_path: Path, plan: dict[str, Any], *extra: str) -> tuple[int, list[dict[str, Any]], str]:
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan))
    out = tmp_path / "out"
    err = io.StringIO()
    code = run(
        ["scan", "--terraform-plan", str(path), "--format", "json,sarif", "--output-dir", str(out), *extra],
        Streams(io.StringIO(), err),
        now=NOW,
    )
    if code == 2:
        return code, [], err.getvalue()
    results = json.loads((out / "cmkaudit-results.json").read_text())
    return code, results["findings"], err.getvalue()


def verdicts(findings: list[dict[str, Any]], workspace: str = "dbw-prod") -> Verdicts:
    return {(f["control_id"], f["scope"]): f["status"] for f in findings if f["resource_name"] == workspace}


def test_compliant_module_passes_every_control_a_plan_can_judge(tmp_path: Path) -> None:
    code, findings, err = scan(tmp_path, cmk_module_plan())
    assert verdicts(findings) == COMPLIANT, err
    assert code == 0
    not_applicable = {f["reason"] for f in findings if f["status"] == "NOT_APPLICABLE"}
    assert all("live scan" in reason for reason in not_applicable), not_applicable


def test_findings_name_the_terraform_address_and_the_planned_vault(tmp_path: Path) -> None:
    _, findings, _ = scan(tmp_path, cmk_module_plan())
    assert {f["resource_id"] for f in findings} == {"azurerm_databricks_workspace.this"}
    kv01 = next(f for f in findings if f["control_id"] == "KV-01")
    # The vault is the module's, named by its address (it has no Azure id before apply).
    assert {e["resource_id"] for e in kv01["evidence"]} == {"module.key_vault.azurerm_key_vault.this"}
    dbx02 = next(f for f in findings if f["control_id"] == "DBX-02")
    assert "kv-dbx-prod-01.vault.azure.net" in dbx02["reason"]


CHANGED: dict[str, Verdicts] = {
    "standard-sku": {("DBX-01", None): "FAIL"},
    "no-purge-protection": {("KV-01", s): "FAIL" for s in SCOPES},
    "retention-7": {("KV-02", s): "FAIL" for s in SCOPES},
    "notify-only": {("KEY-03", s): "FAIL" for s in SCOPES},
    "expiry-rotation": {("KEY-03", s): "FAIL" for s in SCOPES},
    # The AzureDatabricks service principal uses the key for managed services only; purge is vault-wide.
    "over-broad": {("IAM-02", "managedServices"): "FAIL", **{("IAM-03", s): "FAIL" for s in SCOPES}},
    # Without the flag Azure gives the DBFS storage account no identity: nobody to grant the key to.
    "no-dbfs-flag": {
        ("DBX-05", None): "FAIL",
        ("GOV-02", None): "FAIL",
        ("IAM-01", "dbfsRoot"): "UNKNOWN",
        ("IAM-02", "dbfsRoot"): "UNKNOWN",
    },
}
"""For each variant of the CMK module (iac_variants.py), the verdicts that differ from the compliant module's:
the same in its three forms."""

REASONS = {
    "standard-sku": "standard tier",
    "no-purge-protection": "purge protection disabled",
    "retention-7": "7 days, less than 90",
    "notify-only": "only notifies",
    "expiry-rotation": "every 335 days",  # Key Vault rotates 30 days before a 365-day expiry
    "over-broad": f"{DATABRICKS_SP} may purge keys",
    "no-dbfs-flag": "not prepared for it",
}


def exit_code(changed: Verdicts) -> int:
    statuses = set(changed.values())
    return 1 if "FAIL" in statuses else 3 if "UNKNOWN" in statuses else 0


@pytest.mark.parametrize("variant", sorted(PLAN_VARIANTS))
def test_each_defect_is_found_and_nothing_else_changes(tmp_path: Path, variant: str) -> None:
    code, findings, err = scan(tmp_path, cmk_module_plan(**PLAN_VARIANTS[variant]))
    changed = CHANGED[variant]
    assert verdicts(findings) == {**COMPLIANT, **changed}, err
    assert any(REASONS[variant] in f["reason"] for f in findings if (f["control_id"], f["scope"]) in changed)
    assert code == exit_code(changed)


def test_a_vault_without_diagnostic_settings_in_the_plan_is_left_to_a_live_scan(tmp_path: Path) -> None:
    code, findings, _ = scan(tmp_path, cmk_module_plan(diagnostics=False))
    assert verdicts(findings) == {**COMPLIANT, **{("KV-04", s): "NOT_APPLICABLE" for s in SCOPES}}
    assert all("outside it" in f["reason"] for f in findings if f["control_id"] == "KV-04")
    assert code == 0


@pytest.mark.parametrize(
    "variant",
    [{"rbac_flag": "rbac_authorization_enabled"}, {"key_output": "versionless_id"}],
    ids=["azurerm-4x-rbac-flag", "versionless-key-id"],
)
def test_provider_versions_and_key_id_forms_are_read_alike(tmp_path: Path, variant: dict[str, Any]) -> None:
    _, findings, err = scan(tmp_path, cmk_module_plan(**variant))
    assert verdicts(findings) == COMPLIANT, err


def test_module_called_twice_with_for_each_is_judged_per_instance(tmp_path: Path) -> None:
    broken = cmk_module_plan(workspaces=("prod", "dev"))
    # Break only the dev instance's vault: the prod instance must stay compliant.
    for resource in broken["planned_values"]["root_module"]["child_modules"]:
        for instance in resource["resources"]:
            if instance["address"] == 'module.env["dev"].module.key_vault.azurerm_key_vault.this':
                instance["values"]["purge_protection_enabled"] = False
    code, findings, err = scan(tmp_path, broken)
    assert verdicts(findings, "dbw-prod") == COMPLIANT, err
    assert verdicts(findings, "dbw-dev") == {**COMPLIANT, **{("KV-01", s): "FAIL" for s in SCOPES}}
    assert code == 1


def test_a_key_the_plan_does_not_create_is_unknown_never_a_pass(tmp_path: Path) -> None:
    plan = cmk_module_plan()
    workspace = next(
        r for r in plan["planned_values"]["root_module"]["resources"] if r["type"] == "azurerm_databricks_workspace"
    )
    workspace["values"]["managed_services_cmk_key_vault_key_id"] = (
        "https://kv-central.vault.azure.net/keys/shared-cmk/0a1b2c3d4e5f46a7b8c9d0e1f2a3b4c5"
    )
    change = next(c for c in plan["resource_changes"] if c["address"] == "azurerm_databricks_workspace.this")
    del change["change"]["after_unknown"]["managed_services_cmk_key_vault_key_id"]
    code, findings, _ = scan(tmp_path, plan)
    ms = {f["control_id"]: f for f in findings if f["scope"] == "managedServices"}
    assert ms["KV-01"]["status"] == "UNKNOWN" and "kv-central.vault.azure.net" in ms["KV-01"]["reason"]
    assert {ms[c]["status"] for c in ("KEY-01", "KEY-03", "IAM-01", "IAM-02")} == {"UNKNOWN"}
    assert code == 3


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("{not json", "is not JSON"),
        (json.dumps({"format_version": "1.0", "values": {}}), "not a plan (no planned_values)"),
        (json.dumps({"resources": []}), "no format_version"),
        (json.dumps({"format_version": "2.0", "planned_values": {}}), "format 2.0 is not supported"),
        (json.dumps({"format_version": 1.2, "planned_values": {}}), "format_version: Input should be a valid string"),
        (json.dumps({"format_version": "1.2", "planned_values": "x"}), "planned_values: Input should be a valid"),
        (
            json.dumps({"format_version": "1.2", "planned_values": {"root_module": {"resources": [1]}}}),
            "planned_values.root_module.resources.0",
        ),
        (
            json.dumps(
                {"format_version": "1.2", "planned_values": {}, "resource_changes": [{"address": "a.b", "change": "y"}]}
            ),
            "resource_changes.0.change",
        ),
        (
            json.dumps(
                {"format_version": "1.2", "planned_values": {}, "configuration": {"root_module": {"module_calls": 1}}}
            ),
            "configuration.root_module.module_calls",
        ),
    ],
    ids=[
        "not-json",
        "state-not-plan",
        "not-terraform",
        "future-format",
        "number-version",
        "values-not-object",
        "resource-not-object",
        "change-not-object",
        "calls-not-object",
    ],
)
def test_a_file_that_is_not_a_plan_is_one_clear_line(tmp_path: Path, content: str, fragment: str) -> None:
    path = tmp_path / "plan.json"
    path.write_text(content)
    err = io.StringIO()
    code = run(["scan", "--terraform-plan", str(path)], Streams(io.StringIO(), err), now=NOW)
    lines = [line for line in err.getvalue().splitlines() if not line.startswith("cmkaudit: hint:")]
    assert code == 2 and "Traceback" not in err.getvalue()
    assert len(lines) == 1 and fragment in lines[0], err.getvalue()


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("azurerm_key_vault_key.cmk.id", ("azurerm_key_vault_key", "cmk", "id")),
        ("a.b[0].principal_id", ("a", "b", 0, "principal_id")),
        ('module.env["dev"].key_id', ("module", "env", "dev", "key_id")),
        ("a.b.0.c", ("a", "b", 0, "c")),
        ("a b", None),
    ],
)
def test_references_are_split_as_terraform_writes_them(text: str, parts: tuple[str | int, ...] | None) -> None:
    assert split_reference(text) == parts


def test_sarif_points_at_the_resource_to_change(tmp_path: Path) -> None:
    import jsonschema

    plan = cmk_module_plan(purge_protection=False, retention_days=7, rotation=ROTATION_NOTIFY_ONLY)
    scan(tmp_path, plan)
    document = json.loads((tmp_path / "out" / "cmkaudit.sarif").read_text())
    schema = json.loads((Path(__file__).parent / "fixtures" / "sarif-schema-2.1.0.json").read_text())
    jsonschema.Draft4Validator(schema, format_checker=jsonschema.FormatChecker()).validate(document)
    located = {
        (r["ruleId"], r["locations"][0]["logicalLocations"][0]["fullyQualifiedName"])
        for r in document["runs"][0]["results"]
    }
    assert located == {
        ("KV-01", "module.key_vault.azurerm_key_vault.this"),
        ("KV-02", "module.key_vault.azurerm_key_vault.this"),
        ("KEY-03", "module.key_vault.azurerm_key_vault_key.cmk"),
    }
    uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in document["runs"][0]["results"]}
    assert uris == {
        "terraform/module.key_vault.azurerm_key_vault.this",
        "terraform/module.key_vault.azurerm_key_vault_key.cmk",
    }
    remediation = json.loads((tmp_path / "out" / "cmkaudit-results.json").read_text())["findings"]
    kv01 = next(f for f in remediation if f["control_id"] == "KV-01")
    assert "purge_protection_enabled = true" in kv01["remediation"]["terraform"]


def test_a_key_given_by_its_resource_manager_id_is_followed_to_its_vault(tmp_path: Path) -> None:
    plan = cmk_module_plan()
    workspace = next(
        r for r in plan["planned_values"]["root_module"]["resources"] if r["type"] == "azurerm_databricks_workspace"
    )
    workspace["values"]["managed_services_cmk_key_vault_key_id"] = (
        f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-dbx-prod/providers/Microsoft.KeyVault/vaults/kv-dbx-prod-01"
        "/keys/databricks-cmk/versions/0a1b2c3d4e5f46a7b8c9d0e1f2a3b4c5"
    )
    change = next(c for c in plan["resource_changes"] if c["address"] == "azurerm_databricks_workspace.this")
    del change["change"]["after_unknown"]["managed_services_cmk_key_vault_key_id"]
    _, findings, err = scan(tmp_path, plan)
    # The planned vault of that name holds it: judged as when the workspace refers to the key resource.
    assert verdicts(findings) == COMPLIANT, err


def test_a_saved_snapshot_of_a_plan_evaluates_to_the_same_reports(tmp_path: Path) -> None:
    code, _, _ = scan(tmp_path, cmk_module_plan(purge_protection=False), "--save-snapshot", str(tmp_path / "s.json"))
    again = tmp_path / "again"
    second = run(
        ["evaluate", str(tmp_path / "s.json"), "--format", "json,sarif", "--output-dir", str(again)],
        Streams(io.StringIO(), io.StringIO()),
        now=NOW,
    )
    assert code == second == 1
    assert (again / "cmkaudit.sarif").read_bytes() == (tmp_path / "out" / "cmkaudit.sarif").read_bytes()
    first = json.loads((tmp_path / "out" / "cmkaudit-results.json").read_text())
    assert json.loads((again / "cmkaudit-results.json").read_text())["scan"]["locations"] == first["scan"]["locations"]


def test_a_plan_without_a_workspace_passes_and_says_why(tmp_path: Path) -> None:
    code, findings, _ = scan(tmp_path, {"format_version": "1.2", "planned_values": {"root_module": {}}})
    results = json.loads((tmp_path / "out" / "cmkaudit-results.json").read_text())
    assert code == 0 and findings == []
    assert any("no Azure Databricks workspace" in note for note in results["coverage"]["notes"])
