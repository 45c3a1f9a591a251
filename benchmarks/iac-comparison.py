"""cmkaudit and Checkov on the same infrastructure-as-code fixtures: what each flags, and how long each takes.

    python benchmarks/iac-comparison.py [--checkov PATH] [--runs 3]

The fixtures are the CMK module of the test suite in its three forms (the HCL directory
tests/fixtures/terraform/cmk-module, the plan tests/iac_plans.py writes, the ARM template tests/fixtures/arm),
compliant and with each defect of tests/iac_variants.py planted. Each tool runs as a user runs it, one command
per fixture, offline: under `unshare --net` when the machine allows it (no network at all), with Checkov's
`--skip-download`. What a tool flags on a variant is what it flags there and not on the compliant fixture of
the same form; a defect is found when that is not empty. Times are the median wall time of `--runs` runs of the
whole command (interpreter start-up included).

Checkov is installed from PyPI into its own virtual environment (benchmarks/.checkov-venv, pinned below) unless
`--checkov` names an executable.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.iac_plans import DATABRICKS_SP, cmk_module_plan  # noqa: E402
from tests.iac_variants import ARM_VARIANTS, DEFECTS, HCL_VARIANTS, PLAN_VARIANTS  # noqa: E402

CHECKOV = "checkov==3.3.30"
HCL_FIXTURE = ROOT / "tests" / "fixtures" / "terraform" / "cmk-module"
ARM_FIXTURE = ROOT / "tests" / "fixtures" / "arm"
FORMS = ("hcl", "plan", "arm")


def checkov_executable(given: str | None) -> Path:
    if given:
        return Path(given)
    venv = Path(__file__).parent / ".checkov-venv"
    executable = venv / "bin" / "checkov"
    if not executable.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", CHECKOV], check=True)
    return executable


def offline_prefix() -> list[str]:
    """`unshare --net` when this machine lets us use it: the commands then have no network at all."""
    unshare = shutil.which("unshare")
    if unshare and subprocess.run([unshare, "--net", "true"], capture_output=True).returncode == 0:
        return [unshare, "--net"]
    return []


def write_fixture(form: str, variant: str | None, where: Path) -> Path:
    """The fixture of one form, compliant (variant None) or with the variant's defect."""
    where.mkdir(parents=True)
    if form == "hcl":
        target = where / "cmk-module"
        shutil.copytree(HCL_FIXTURE, target)
        edits, tfvars = HCL_VARIANTS[variant] if variant else ({}, "")
        for name, (old, new) in edits.items():
            path = target / name
            path.write_text(path.read_text().replace(old, new))
        if tfvars:
            with (target / "terraform.tfvars").open("a") as handle:
                handle.write(tfvars + "\n")
        return target
    if form == "plan":
        path = where / "plan.json"
        path.write_text(json.dumps(cmk_module_plan(**(PLAN_VARIANTS[variant] if variant else {}))))
        return path
    document = json.loads((ARM_FIXTURE / "cmk-module.json").read_text())
    parameters = json.loads((ARM_FIXTURE / "cmk-module.parameters.json").read_text())
    edit, values = ARM_VARIANTS[variant] if variant else (None, None)
    if edit is not None:
        edit(document)
    # Checkov reads no parameters file: a variant's parameter values are its defaults, for both tools.
    for name, given in (values or {}).items():
        document["parameters"][name]["defaultValue"] = given["value"]
    (where / "azuredeploy.json").write_text(json.dumps(document, indent=2))
    (where / "azuredeploy.parameters.json").write_text(json.dumps(parameters, indent=2))
    return where / "azuredeploy.json"


def cmkaudit_command(form: str, fixture: Path, out: Path) -> list[str]:
    source = {
        "hcl": ["--terraform-dir", str(fixture)],
        "plan": ["--terraform-plan", str(fixture)],
        "arm": ["--arm-template", str(fixture), "--parameters", str(fixture.with_suffix(".parameters.json"))],
    }[form]
    principal = ["--databricks-principal-id", DATABRICKS_SP] if form == "arm" else []
    cmkaudit = Path(sys.executable).with_name("cmkaudit")
    return [str(cmkaudit), "scan", *source, *principal, "--format", "json", "--output-dir", str(out), "--quiet"]


def checkov_command(checkov: Path, form: str, fixture: Path) -> list[str]:
    target = ["-d", str(fixture)] if form == "hcl" else ["-f", str(fixture)]
    framework = {"hcl": "terraform", "plan": "terraform_plan", "arm": "arm"}[form]
    return [str(checkov), *target, "--framework", framework, "--skip-download", "-o", "json", "--quiet"]


def timed(command: list[str], runs: int) -> tuple[float, subprocess.CompletedProcess[str]]:
    times, result = [], None
    for _ in range(runs):
        started = time.perf_counter()
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        times.append(time.perf_counter() - started)
    assert result is not None
    return statistics.median(times), result


def cmkaudit_flags(out: Path) -> set[str]:
    findings = json.loads((out / "cmkaudit-results.json").read_text())["findings"]
    return {f"{f['control_id']} {f['status']}" for f in findings if f["status"] in ("FAIL", "UNKNOWN")}


def checkov_flags(stdout: str) -> set[str]:
    if not stdout.strip():
        return set()
    document: Any = json.loads(stdout)
    reports = document if isinstance(document, list) else [document]
    failed = [(r.get("results") or {}).get("failed_checks", []) for r in reports if isinstance(r, dict)]
    return {check["check_id"] for checks in failed for check in checks}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkov", help="a Checkov executable (default: install it into benchmarks/.checkov-venv)")
    parser.add_argument("--runs", type=int, default=3, help="runs per tool and fixture; the median time is kept")
    args = parser.parse_args()
    checkov = checkov_executable(args.checkov)
    prefix = offline_prefix()
    print(f"offline: {'unshare --net' if prefix else 'no (unshare not permitted): Checkov with --skip-download'}")
    version = subprocess.run([str(checkov), "--version"], capture_output=True, text=True).stdout.strip()
    print(f"Checkov {version}; cmkaudit from {ROOT}; {args.runs} run(s) per fixture, median\n")
    rows: list[str] = []
    found = {"cmkaudit": 0, "Checkov": 0}
    times: dict[str, list[float]] = {"cmkaudit": [], "Checkov": []}
    with tempfile.TemporaryDirectory() as scratch:
        for form in FORMS:
            baseline: dict[str, set[str]] = {}
            for variant in [None, *DEFECTS]:
                where = Path(scratch) / form / (variant or "compliant")
                fixture = write_fixture(form, variant, where)
                out = where / "out"
                ours_time, _ = timed([*prefix, *cmkaudit_command(form, fixture, out)], args.runs)
                theirs_time, theirs = timed([*prefix, *checkov_command(checkov, form, fixture)], args.runs)
                ours, others = cmkaudit_flags(out), checkov_flags(theirs.stdout)
                times["cmkaudit"].append(ours_time)
                times["Checkov"].append(theirs_time)
                if variant is None:
                    baseline = {"cmkaudit": ours, "Checkov": others}
                    rows.append(
                        f"| {form} | compliant | {', '.join(sorted(ours)) or '-'} | {', '.join(sorted(others)) or '-'} "
                        f"| {ours_time:.2f} s | {theirs_time:.2f} s |"
                    )
                    continue
                new_ours, new_theirs = ours - baseline["cmkaudit"], others - baseline["Checkov"]
                found["cmkaudit"] += bool(new_ours)
                found["Checkov"] += bool(new_theirs)
                rows.append(
                    f"| {form} | {variant}: {DEFECTS[variant]} | {', '.join(sorted(new_ours)) or 'nothing'} "
                    f"| {', '.join(sorted(new_theirs)) or 'nothing'} | {ours_time:.2f} s | {theirs_time:.2f} s |"
                )
    print("| form | fixture (defect) | cmkaudit flags (new) | Checkov flags (new) | cmkaudit | Checkov |")
    print("| --- | --- | --- | --- | --- | --- |")
    print("\n".join(rows))
    defects = len(DEFECTS) * len(FORMS)
    print(
        f"\nDefects found: cmkaudit {found['cmkaudit']} of {defects}, Checkov {found['Checkov']} of {defects}. "
        f"Median wall time per fixture: cmkaudit {statistics.median(times['cmkaudit']):.2f} s, "
        f"Checkov {statistics.median(times['Checkov']):.2f} s."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
