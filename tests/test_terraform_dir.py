"""`cmkaudit scan --terraform-dir`: the CMK module's HCL (tests/fixtures/terraform/cmk-module), read without a
plan, compliant and broken, with findings asserted exactly and SARIF pointing at the lines to change."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from cmkaudit.cli import Streams, run

from .conftest import NOW
from .iac_plans import LOG_WORKSPACE, cmk_module_plan
from .iac_variants import HCL_VARIANTS, KEY_VAULT_TF
from .test_terraform_plan import CHANGED, COMPLIANT, SCOPES, Verdicts, exit_code, verdicts

REPOSITORY = Path(__file__).parents[1]
MODULE = Path(__file__).parent / "fixtures" / "terraform" / "cmk-module"


def copy_module(tmp_path: Path, edits: dict[str, tuple[str, str]] | None = None) -> Path:
    """The fixture module copied, with `edits` (file -> (old, new)) applied; each edit must match."""
    target = tmp_path / "cmk-module"
    shutil.copytree(MODULE, target)
    for name, (old, new) in (edits or {}).items():
        path = target / name
        text = path.read_text()
        assert old in text, f"{old!r} not in {name}"
        path.write_text(text.replace(old, new))
    return target


def scan_dir(tmp_path: Path, directory: Path, *extra: str) -> tuple[int, list[dict[str, Any]], str]:
    out = tmp_path / "out"
    err = io.StringIO()
    code = run(
        ["scan", "--terraform-dir", str(directory), "--format", "json,sarif", "--output-dir", str(out), *extra],
        Streams(io.StringIO(), err),
        now=NOW,
    )
    if code == 2:
        return code, [], err.getvalue()
    return code, json.loads((out / "cmkaudit-results.json").read_text())["findings"], err.getvalue()


def test_the_compliant_module_reads_as_its_plan_does(tmp_path: Path) -> None:
    code, findings, err = scan_dir(tmp_path, MODULE)
    assert verdicts(findings) == COMPLIANT, err
    assert code == 0


@pytest.mark.parametrize("variant", sorted(HCL_VARIANTS))
def test_each_defect_in_the_hcl_is_found(tmp_path: Path, variant: str) -> None:
    edits, tfvars = HCL_VARIANTS[variant]
    directory = copy_module(tmp_path, edits)
    extra: list[str] = []
    if tfvars:
        (tmp_path / "variant.tfvars").write_text(tfvars + "\n")
        extra = ["--var-file", str(tmp_path / "variant.tfvars")]
    code, findings, err = scan_dir(tmp_path, directory, *extra)
    assert verdicts(findings) == {**COMPLIANT, **CHANGED[variant]}, err
    assert code == exit_code(CHANGED[variant])


@pytest.mark.parametrize(
    ("edits", "changed"),
    [
        # azurerm 4.x renamed the vault's RBAC flag; 3.x and 4.x names read alike.
        ({KEY_VAULT_TF: ("enable_rbac_authorization  = false", "rbac_authorization_enabled = false")}, {}),
        # A variable with no value: the SKU is not known, so DBX-01 is UNKNOWN, never a pass.
        (
            {
                "variables.tf": (
                    'variable "sku" {\n  type    = string\n  default = "premium"\n}',
                    'variable "sku" {\n  type = string\n}',
                )
            },
            {("DBX-01", None): "UNKNOWN"},
        ),
    ],
    ids=["azurerm-4x-rbac-flag", "unset-variable"],
)
def test_what_the_configuration_alone_fixes(
    tmp_path: Path, edits: dict[str, tuple[str, str]], changed: Verdicts
) -> None:
    code, findings, err = scan_dir(tmp_path, copy_module(tmp_path, edits))
    assert verdicts(findings) == {**COMPLIANT, **changed}, err
    assert code == exit_code(changed)


def test_sarif_points_at_the_file_and_lines_of_the_block_to_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPOSITORY)
    (tmp_path / "variant.tfvars").write_text("purge_protection = false\n")
    scan_dir(tmp_path, MODULE, "--var-file", str(tmp_path / "variant.tfvars"))
    results = json.loads((tmp_path / "out" / "cmkaudit.sarif").read_text())["runs"][0]["results"]
    kv01 = [r for r in results if r["ruleId"] == "KV-01"]
    assert len(kv01) == 3
    location = kv01[0]["locations"][0]
    # Under the working directory (the repository, in CI), paths are the repository's, for code scanning.
    assert location["physicalLocation"] == {
        "artifactLocation": {"uri": f"tests/fixtures/terraform/cmk-module/{KEY_VAULT_TF}"},
        "region": {"startLine": 1, "endLine": 15},
    }
    assert location["logicalLocations"][0]["fullyQualifiedName"] == "module.key_vault.azurerm_key_vault.this"


def test_fingerprints_do_not_move_with_unrelated_lines(tmp_path: Path) -> None:
    def fingerprints(directory: Path, where: Path) -> set[str]:
        where.mkdir()
        (where / "v.tfvars").write_text("purge_protection = false\n")
        scan_dir(where, directory, "--var-file", str(where / "v.tfvars"))
        sarif = json.loads((where / "out" / "cmkaudit.sarif").read_text())
        return {r["partialFingerprints"]["cmkaudit/v1"] for r in sarif["runs"][0]["results"]}

    shifted = copy_module(
        tmp_path,
        {
            KEY_VAULT_TF: (
                'resource "azurerm_key_vault" "this" {',
                '# a comment\n\nresource "azurerm_key_vault" "this" {',
            )
        },
    )
    assert fingerprints(MODULE, tmp_path / "a") == fingerprints(shifted, tmp_path / "b")


def test_a_plan_given_with_its_directory_is_located_in_the_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPOSITORY)
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps(cmk_module_plan(purge_protection=False)))
    out = tmp_path / "out"
    code = run(
        [
            "scan",
            "--terraform-plan",
            str(plan),
            "--terraform-dir",
            str(MODULE),
            "--format",
            "sarif",
            "--output-dir",
            str(out),
        ],
        Streams(io.StringIO(), io.StringIO()),
        now=NOW,
    )
    assert code == 1
    results = json.loads((out / "cmkaudit.sarif").read_text())["runs"][0]["results"]
    uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in results}
    assert uris == {f"tests/fixtures/terraform/cmk-module/{KEY_VAULT_TF}"}


def test_a_remote_module_is_unread_and_the_scan_incomplete(tmp_path: Path) -> None:
    directory = copy_module(
        tmp_path,
        {
            "main.tf": (
                'resource "azurerm_resource_group" "this" {',
                'module "network" {\n  source = "Azure/network/azurerm"\n}\n\n'
                'resource "azurerm_resource_group" "this" {',
            )
        },
    )
    code, _, err = scan_dir(tmp_path, directory)
    results = json.loads((tmp_path / "out" / "cmkaudit-results.json").read_text())
    gaps = [e for e in results["coverage"]["errors"] if e["resource_id"] == "module.network"]
    assert len(gaps) == 1 and "not a local directory" in gaps[0]["message"], results["coverage"]
    assert not results["coverage"]["complete"] and code == 3, err


@pytest.mark.parametrize(
    ("content", "fragment"),
    [('resource "azurerm_key_vault" "x" {\n  name = \n}\n', "is not valid HCL"), (b"\xff\xfe", "not UTF-8")],
    ids=["syntax-error", "not-utf8"],
)
def test_a_broken_file_is_one_clear_line(tmp_path: Path, content: str | bytes, fragment: str) -> None:
    directory = copy_module(tmp_path)
    path = directory / "broken.tf"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    code, _, err = scan_dir(tmp_path, directory)
    lines = [line for line in err.splitlines() if not line.startswith("cmkaudit: hint:")]
    assert code == 2 and "Traceback" not in err
    assert len(lines) == 1 and fragment in lines[0] and "broken.tf" in lines[0], err


def test_a_directory_without_terraform_is_a_usage_error(tmp_path: Path) -> None:
    code, _, err = scan_dir(tmp_path, tmp_path)
    assert code == 2 and "no Terraform resources" in err


def test_var_file_without_a_directory_is_refused(tmp_path: Path) -> None:
    err = io.StringIO()
    code = run(["scan", "--demo", "--var-file", "x.tfvars"], Streams(io.StringIO(), err), now=NOW)
    assert code == 2 and "--var-file needs --terraform-dir" in err.getvalue()


def test_a_module_called_with_for_each_is_judged_per_instance(tmp_path: Path) -> None:
    # The whole configuration becomes a module, called once per environment; dev's vault has no purge protection.
    # Both are in one repository: modules are read from inside it.
    (tmp_path / ".git").mkdir()
    root = tmp_path / "root"
    module = copy_module(tmp_path)
    (module / "terraform.tfvars").unlink()
    (module / "providers.tf").write_text("")
    main = (module / "main.tf").read_text()
    (module / "main.tf").write_text(main[main.index("data ") :].replace('provider "azurerm" {\n  features {}\n}\n', ""))
    root.mkdir()
    (root / "main.tf").write_text(
        'module "env" {\n'
        "  for_each                   = { prod = true, dev = false }\n"
        '  source                     = "../cmk-module"\n'
        "  environment                = each.key\n"
        "  purge_protection           = each.value\n"
        f'  log_analytics_workspace_id = "{LOG_WORKSPACE}"\n'
        "}\n"
    )
    code, findings, err = scan_dir(tmp_path, root)
    assert verdicts(findings, "dbw-prod") == COMPLIANT, err
    assert verdicts(findings, "dbw-dev") == {**COMPLIANT, **{("KV-01", s): "FAIL" for s in SCOPES}}
    assert {f["resource_id"] for f in findings} == {
        'module.env["prod"].azurerm_databricks_workspace.this',
        'module.env["dev"].azurerm_databricks_workspace.this',
    }
    assert code == 1


RBAC_GRANTS = """
resource "azurerm_role_assignment" "databricks" {
  scope                = module.key_vault.key_vault_id
  role_definition_name = "Key Vault Crypto Service Encryption User"
  principal_id         = data.azuread_service_principal.azuredatabricks.object_id
}

resource "azurerm_role_assignment" "storage" {
  scope                = module.key_vault.key_vault_id
  role_definition_name = "Key Vault Crypto Service Encryption User"
  principal_id         = azurerm_databricks_workspace.this.storage_account_identity[0].principal_id
}

resource "azurerm_role_assignment" "disks" {
  scope                = module.key_vault.key_vault_id
  role_definition_name = "%s"
  principal_id         = azurerm_databricks_workspace.this.managed_disk_identity[0].principal_id
}
"""


@pytest.mark.parametrize(
    ("disk_role", "changed"),
    [
        # Role assignments made outside the configuration may grant more: least privilege is left to a live scan.
        ("Key Vault Crypto Service Encryption User", {}),
        # A Crypto Officer also administers (and may purge) the vault's keys.
        (
            "Key Vault Crypto Officer",
            {("IAM-02", "managedDisk"): "FAIL", **{("IAM-03", s): "FAIL" for s in SCOPES}},
        ),
    ],
    ids=["least-privilege", "officer-for-disks"],
)
def test_an_rbac_vault_is_judged_on_the_role_assignments_of_the_configuration(
    tmp_path: Path, disk_role: str, changed: Verdicts
) -> None:
    directory = copy_module(
        tmp_path, {KEY_VAULT_TF: ("enable_rbac_authorization  = false", "enable_rbac_authorization  = true")}
    )
    (directory / "rbac.tf").write_text(RBAC_GRANTS % disk_role)
    code, findings, err = scan_dir(tmp_path, directory)
    rbac = {("IAM-02", s): "NOT_APPLICABLE" for s in SCOPES}
    assert verdicts(findings) == {**COMPLIANT, **rbac, **changed}, err
    assert code == exit_code(changed)


def test_the_databricks_principal_may_be_an_azuread_resource(tmp_path: Path) -> None:
    main = (MODULE / "main.tf").read_text()
    edited = main.replace(
        'data "azuread_service_principal" "azuredatabricks" {\n',
        'resource "azuread_service_principal" "azuredatabricks" {\n  use_existing = true\n',
    ).replace("data.azuread_service_principal.azuredatabricks", "azuread_service_principal.azuredatabricks")
    directory = copy_module(tmp_path, {"main.tf": (main, edited)})
    code, findings, err = scan_dir(tmp_path, directory)
    assert verdicts(findings) == COMPLIANT, err
    assert code == 0
