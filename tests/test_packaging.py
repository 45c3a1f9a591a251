"""The wheel carries rules/, reports/ and the demo tenant, and runs the demo from them alone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

from .conftest import ROOT


def test_wheel_is_self_contained(tmp_path: Path) -> None:
    build = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path)]
    subprocess.run([*build, str(ROOT)], check=True)
    (wheel,) = tmp_path.glob("cmkaudit-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    rules = sorted(p.name for p in (ROOT / "rules").glob("*.yaml"))
    assert {f"cmkaudit/_data/rules/{r}" for r in rules} <= names
    assert "cmkaudit/_data/reports/results.schema.json" in names
    assert "cmkaudit/_data/cassettes/demo-tenant.yaml" in names
    assert "cmkaudit/py.typed" in names

    unpacked = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(unpacked)
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(unpacked)}
    result = subprocess.run(
        [sys.executable, "-m", "cmkaudit", "scan", "--demo", "--format", "json", "--output-dir", str(out)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    document = json.loads((out / "cmkaudit-results.json").read_text())
    assert document["summary"]["findings"] == 230
    probe = subprocess.run(
        [sys.executable, "-c", "from cmkaudit._data import data_path; print(data_path('rules'))"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert Path(probe.stdout.strip()).is_relative_to(unpacked)
