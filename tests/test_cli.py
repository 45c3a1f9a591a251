"""The command line: bad input is one line and exit 2; an incomplete scan is exit 3."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from cmkaudit.cli import Streams, run
from cmkaudit.collect.demo import replay_scan
from cmkaudit.inventory.snapshot import save_snapshot

from .conftest import NOW, ROOT


def cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run(list(argv), Streams(out, err), now=NOW)
    return code, out.getvalue(), err.getvalue()


def assert_one_line_error(err: str, *fragments: str) -> None:
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if "error" in line]
    assert len(errors) == 1, err
    for fragment in fragments:
        assert fragment in errors[0], err


def test_malformed_subscription_id() -> None:
    code, _, err = cli("scan", "--subscription", "not-a-guid")
    assert code == 2
    assert_one_line_error(err, "malformed subscription id 'not-a-guid'")


def test_unknown_format() -> None:
    code, _, err = cli("scan", "--demo", "--format", "console,pdf")
    assert code == 2
    assert_one_line_error(err, "unknown format pdf")


def test_scan_needs_a_source() -> None:
    code, _, err = cli("scan")
    assert code == 2
    assert_one_line_error(err, "--subscription", "--demo")


def test_unreadable_snapshot(tmp_path: Path) -> None:
    code, _, err = cli("evaluate", str(tmp_path / "missing.json"))
    assert code == 2
    assert_one_line_error(err, "cannot read snapshot")


def test_snapshot_that_is_not_json(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text("{not json")
    code, _, err = cli("evaluate", str(path))
    assert code == 2
    assert_one_line_error(err, "is not JSON", "line 1")


def test_json_that_is_not_a_snapshot(tmp_path: Path) -> None:
    path = tmp_path / "other.json"
    path.write_text(json.dumps({"hello": "world"}))
    code, _, err = cli("evaluate", str(path))
    assert code == 2
    assert_one_line_error(err, "is not a cmkaudit snapshot")


def test_snapshot_with_a_bad_field(tmp_path: Path) -> None:
    good = tmp_path / "good.json"
    code, _, _ = cli("scan", "--demo", "--format", "json", "--output-dir", str(tmp_path), "--save-snapshot", str(good))
    document = json.loads(good.read_text())
    document["workspaces"][0]["sku"] = {"name": "premium"}
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(document))
    code, _, err = cli("evaluate", str(bad))
    assert code == 2
    assert_one_line_error(err, "workspaces.0.sku")


def test_bad_principal_override() -> None:
    code, _, err = cli(
        "scan", "--subscription", "11111111-2222-4333-8444-555555555555", "--databricks-principal-id", "tenant=nope"
    )
    assert code == 2
    assert_one_line_error(err, "--databricks-principal-id")


def test_incomplete_scan_with_nothing_failed_exits_3(tmp_path: Path) -> None:
    """Key reads and the Graph lookup are refused (403): those controls are UNKNOWN, the rest pass."""
    inventory = replay_scan(
        ROOT / "cassettes" / "permission-denied.yaml", ["2c3d4e5f-6a7b-4c8d-9e0f-1a2b3c4d5e6f"], now=NOW
    )
    snapshot = tmp_path / "snapshot.json"
    save_snapshot(inventory, snapshot)
    code, out, _ = cli("evaluate", str(snapshot), "--output-dir", str(tmp_path))
    assert code == 3
    assert "scan is incomplete" in out
    assert "AuthorizationFailed" in out or "authorization to perform action" in out
    document = json.loads((tmp_path / "cmkaudit-results.json").read_text())
    by = {(f["control_id"], f["scope"]): f for f in document["findings"]}
    assert document["summary"]["by_status"]["FAIL"] == 0
    assert document["summary"]["complete"] is False
    for scope in ("managedServices", "dbfsRoot"):  # key cmk-payments: Resource Manager refuses the key
        assert by[("KEY-03", scope)]["status"] == "UNKNOWN"
        assert "HTTP 403 AuthorizationFailed" in by[("KEY-03", scope)]["reason"]
        assert by[("KV-01", scope)]["status"] == "PASS"
    # key cmk-payments-disk: readable, but its rotation policy is only on the data plane, which refuses.
    disk = by[("KEY-03", "managedDisk")]
    assert disk["status"] == "UNKNOWN"
    assert "data plane could not be read: get key rotation policy (data plane) failed (HTTP 403" in disk["reason"]
    assert "getrotationpolicy permission" in disk["reason"]
    assert [by[(c, "managedDisk")]["status"] for c in ("KEY-01", "KEY-02", "KEY-04")] == ["PASS"] * 3
    assert by[("IAM-01", "managedServices")]["status"] == "UNKNOWN"
    assert "HTTP 403" in by[("IAM-01", "managedServices")]["reason"]
    assert by[("IAM-01", "managedDisk")]["status"] == "PASS"
    assert {e["status_code"] for e in document["coverage"]["errors"]} == {403}
    assert sorted(e["operation"] for e in document["coverage"]["errors"]) == [
        "get key",
        "get key rotation policy (data plane)",
        "list key versions",
        "look up the AzureDatabricks service principal",
        "read group memberships (Microsoft Graph)",
        "read group memberships (Microsoft Graph)",
    ]


def test_incomplete_scan_that_also_fails_exits_1(tmp_path: Path) -> None:
    inventory = replay_scan(
        ROOT / "cassettes" / "permission-denied.yaml", ["2c3d4e5f-6a7b-4c8d-9e0f-1a2b3c4d5e6f"], now=NOW
    )
    snapshot = tmp_path / "snapshot.json"
    save_snapshot(inventory, snapshot)
    # A rotation cadence of one day: the managed-disk key's version in use (read from its disk encryption set) is
    # older, so KEY-04 fails, and failure wins over incompleteness.
    code, _, _ = cli(
        "evaluate", str(snapshot), "--format", "json", "--output-dir", str(tmp_path), "--rotation-days", "1"
    )
    assert code == 1
    document = json.loads((tmp_path / "cmkaudit-results.json").read_text())
    failed = {(f["control_id"], f["scope"]) for f in document["findings"] if f["status"] == "FAIL"}
    assert failed == {("KEY-04", "managedDisk")}


def test_live_scan_without_credentials_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """No az login, no managed identity, no token: one line naming the problem, exit 2, no network."""
    from azure.core.exceptions import ClientAuthenticationError

    class NoCredential:
        def get_token(self, *scopes: str, **kwargs: object) -> object:
            raise ClientAuthenticationError("DefaultAzureCredential failed to retrieve a token")

    monkeypatch.setattr("cmkaudit.collect.credentials.default_credential", lambda *a: NoCredential())
    code, _, err = cli("scan", "--subscription", "11111111-2222-4333-8444-555555555555")
    assert code == 2
    assert_one_line_error(err, "no Azure token")
    assert "az login" in err


def test_access_token_from_the_environment_is_used_for_arm_only() -> None:
    from azure.core.exceptions import ClientAuthenticationError

    from cmkaudit.collect.credentials import StaticTokenCredential, default_credential
    from cmkaudit.collect.http import Cloud, endpoints_for

    endpoints = endpoints_for(Cloud.PUBLIC)
    credential = default_credential(endpoints, {"CMKAUDIT_ACCESS_TOKEN": " abc.def.ghi "})
    assert isinstance(credential, StaticTokenCredential)
    assert credential.get_token(endpoints.arm_scope).token == "abc.def.ghi"
    with pytest.raises(ClientAuthenticationError, match="ARM token"):
        credential.get_token("https://graph.microsoft.com/.default")
    with pytest.raises(ClientAuthenticationError, match="ARM token"):
        credential.get_token("https://vault.azure.net/.default")


def test_key_vault_token_from_the_environment_is_used_for_the_data_plane_only() -> None:
    from azure.core.exceptions import ClientAuthenticationError

    from cmkaudit.collect.credentials import default_credential
    from cmkaudit.collect.http import Cloud, endpoints_for

    endpoints = endpoints_for(Cloud.PUBLIC)
    environ = {"CMKAUDIT_ACCESS_TOKEN": "arm", "CMKAUDIT_KEYVAULT_ACCESS_TOKEN": " kv "}
    credential = default_credential(endpoints, environ)
    assert credential.get_token("https://vault.azure.net/.default").token == "kv"
    assert credential.get_token(endpoints.arm_scope).token == "arm"
    with pytest.raises(ClientAuthenticationError, match="ARM and Key Vault tokens"):
        credential.get_token("https://graph.microsoft.com/.default")
    china = endpoints_for(Cloud.CHINA)
    assert default_credential(china, environ).get_token("https://vault.azure.cn/.default").token == "kv"


@pytest.mark.parametrize(
    ("cloud", "arm", "graph"),
    [
        ("AzureChinaCloud", "https://management.chinacloudapi.cn", "https://microsoftgraph.chinacloudapi.cn"),
        ("AzureUSGovernment", "https://management.usgovcloudapi.net", "https://graph.microsoft.us"),
    ],
)
def test_sovereign_cloud_endpoints(cloud: str, arm: str, graph: str) -> None:
    from cmkaudit.collect.http import Cloud, endpoints_for

    endpoints = endpoints_for(Cloud(cloud))
    assert (endpoints.arm, endpoints.graph) == (arm, graph)
    assert endpoints_for(Cloud(cloud), "https://127.0.0.1:8443/").arm == "https://127.0.0.1:8443"


def test_the_cyclic_collector_is_back_on_after_a_run(tmp_path: Path) -> None:
    """Evaluation pauses Python's cyclic collector for speed; a run leaves it as it found it."""
    import gc

    assert gc.isenabled()
    run(
        ["scan", "--demo", "--format", "json", "--output-dir", str(tmp_path), "--quiet"],
        Streams(io.StringIO(), io.StringIO()),
    )
    assert gc.isenabled()


def test_entry_point_ends_with_everything_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The console script ends the process without the interpreter's clean-up (an exit handler registered
    before it does not run); before it does, every file is complete, every line of the console report has
    reached the pipe, and the exit code stands."""
    import subprocess
    import sys

    monkeypatch.setenv("COLUMNS", "120")
    argv = ["scan", "--demo", "--format", "console,json,sarif,html"]
    entry = (
        "import atexit, sys; atexit.register(lambda: print('clean-up ran', file=sys.stderr)); "
        "from cmkaudit.cli import main; sys.argv[0] = 'cmkaudit'; raise SystemExit(main())"
    )
    child = subprocess.run(
        [sys.executable, "-c", entry, *argv, "--output-dir", str(tmp_path / "child")],
        capture_output=True,
        text=True,
        check=False,
    )
    out, err = io.StringIO(), io.StringIO()
    code = run([*argv, "--output-dir", str(tmp_path / "here")], Streams(out, err))
    assert (child.returncode, code) == (1, 1), child.stderr
    assert "clean-up ran" not in child.stderr
    assert child.stdout == out.getvalue()
    assert child.stderr == err.getvalue().replace(str(tmp_path / "here"), str(tmp_path / "child"))
    for name in ("cmkaudit-results.json", "cmkaudit.sarif", "cmkaudit-report.html"):
        assert (tmp_path / "child" / name).read_bytes() == (tmp_path / "here" / name).read_bytes()


@pytest.mark.parametrize("command", ["scan", "report"])
def test_cyclic_collector_stays_paused_only_for_a_caller_that_keeps_the_report(tmp_path: Path, command: str) -> None:
    """Evaluating, or reading a results file, runs with Python's cyclic collector paused. An ordinary call
    resumes it; a caller that keeps the report's objects to end the process next (the console script) finds
    it still paused, since resuming would make the collector walk every kept object once more."""
    import gc

    scan = ["scan", "--demo", "--format", "json", "--output-dir", str(tmp_path / "scan"), "--quiet"]
    argv = scan
    if command == "report":
        assert run(scan, Streams(io.StringIO(), io.StringIO()), now=NOW) == 1
        results = str(tmp_path / "scan" / "cmkaudit-results.json")
        argv = ["report", results, "--format", "json", "--output-dir", str(tmp_path / "report"), "--quiet"]
    assert gc.isenabled()
    try:
        assert run(argv, Streams(io.StringIO(), io.StringIO()), now=NOW) == 1
        assert gc.isenabled()
        kept: list[object] = []
        assert run(argv, Streams(io.StringIO(), io.StringIO()), now=NOW, keep=kept) == 1
        assert kept
        assert not gc.isenabled()
    finally:
        gc.enable()
