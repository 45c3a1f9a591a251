"""Faults against the fake ARM server: throttling, transient errors, refusals, malformed answers.

Each test scans the way a user would (--arm-endpoint, CMKAUDIT_ACCESS_TOKEN, REQUESTS_CA_BUNDLE) and
checks that nothing but GET (and, with --source resource-graph, the query POST) reached the server.
"""

from __future__ import annotations

import io
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from tools.build_cassettes import key_version_body
from tools.fakearm import (
    DATABRICKS_SP,
    GRAPH_BATCH_PATH,
    GRAPH_QUERY_PATH,
    FakeArm,
    Faults,
    Tenant,
    generate_tenant,
)

from cmkaudit.cli import Streams, run

from .conftest import NOW

TENANT = generate_tenant(subscriptions=2, workspaces=3)


def scan(arm: FakeArm, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *extra: str) -> tuple[int, dict[str, Any]]:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(arm.ca_file))
    monkeypatch.setenv("CMKAUDIT_ACCESS_TOKEN", "fake-arm-token")
    monkeypatch.setenv("CMKAUDIT_GRAPH_ACCESS_TOKEN", "fake-graph-token")
    subscriptions = [arg for sub in arm.tenant.subscriptions for arg in ("--subscription", sub)]
    argv = ["scan", *subscriptions, "--arm-endpoint", arm.url, "--graph-endpoint", arm.url]
    argv += ["--format", "json", "--output-dir", str(tmp_path), *extra]
    code = run(argv, Streams(io.StringIO(), io.StringIO()), now=NOW)
    document = json.loads((tmp_path / "cmkaudit-results.json").read_text())
    # The scanner never writes: GETs, with --source resource-graph the query POSTs, and Microsoft Graph batches
    # (of group memberships) whose every request is a GET; nothing else.
    allowed = {("GET", None), ("POST", GRAPH_BATCH_PATH)}
    allowed |= {("POST", GRAPH_QUERY_PATH)} if "resource-graph" in extra else set()
    sent = {(method, path.lower() if method != "GET" else None) for method, path, _ in arm.requests}
    assert sent <= allowed, arm.counts
    assert {method for method, _, _ in arm.batched} <= {"GET"}
    return code, document


def statuses(document: dict[str, Any]) -> list[tuple[str, str, str | None, str]]:
    return [(f["control_id"], f["resource_name"], f["scope"], f["status"]) for f in document["findings"]]


@pytest.fixture(scope="module")
def clean_findings(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, str, str | None, str]]:
    with pytest.MonkeyPatch.context() as monkeypatch, FakeArm(TENANT) as arm:
        code, document = scan(arm, tmp_path_factory.mktemp("clean"), monkeypatch)
    assert code == 0 and document["coverage"]["errors"] == [], document["coverage"]["errors"]
    assert document["summary"]["by_status"]["PASS"] == 270
    return statuses(document)


def test_throttled_scan_completes_with_identical_findings(
    clean_findings: list[Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A small token bucket answers many calls 429 + Retry-After; the scan waits as told and sees the same."""
    faults = Faults(bucket=4, refill_per_second=8)
    with FakeArm(TENANT, faults) as arm:
        code, document = scan(arm, tmp_path, monkeypatch)
        throttled = sum(1 for _, _, status in arm.requests if status == 429)
    assert throttled > 0
    assert code == 0 and document["coverage"]["errors"] == [], document["coverage"]["errors"]
    assert statuses(document) == clean_findings


def test_transient_failures_and_dropped_connections_are_retried(
    clean_findings: list[Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    faults = Faults(
        fail={"/providers/microsoft.keyvault/vaults": [503, 500], "/keys/cmk/versions": [500]},
        drop={"/providers/microsoft.storage/storageaccounts": 1, "/keys/cmk": 1},
    )
    with FakeArm(TENANT, faults) as arm:
        code, document = scan(arm, tmp_path, monkeypatch)
        failures = sorted({status for _, _, status in arm.requests if status >= 500 or status == 0})
    assert failures == [0, 500, 503]  # 0: the connection was dropped
    assert code == 0 and document["coverage"]["errors"] == [], document["coverage"]["errors"]
    assert statuses(document) == clean_findings


def test_one_forbidden_vault_makes_only_its_controls_unknown(
    clean_findings: list[Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with FakeArm(TENANT, Faults(forbid=["/vaults/kv-1-2/keys/"])) as arm:
        code, document = scan(arm, tmp_path, monkeypatch)
    assert code == 3  # nothing failed, but the scan is incomplete
    changed = {
        (control, workspace, scope, status)
        for control, workspace, scope, status in statuses(document)
        if (control, workspace, scope, status) not in set(clean_findings)
    }
    assert {workspace for _, workspace, _, _ in changed} == {"dbw-1-2"}
    assert {control for control, _, _, _ in changed} == {"KEY-01", "KEY-02", "KEY-03", "KEY-04"}
    assert {status for _, _, _, status in changed} == {"UNKNOWN"}
    errors = document["coverage"]["errors"]
    assert {(e["operation"], e["status_code"]) for e in errors} == {("get key", 403), ("list key versions", 403)}
    assert all("Reader" in (e["hint"] or "") for e in errors)


def test_one_forbidden_subscription_is_reported_not_hidden(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    forbidden = TENANT.subscriptions[1]
    with FakeArm(TENANT, Faults(forbid=[f"/subscriptions/{forbidden}"])) as arm:
        code, document = scan(arm, tmp_path, monkeypatch)
    assert code == 3
    assert {f["resource_name"] for f in document["findings"]} == {"dbw-0-0", "dbw-0-1", "dbw-0-2"}
    assert {f["status"] for f in document["findings"]} <= {"PASS", "NOT_APPLICABLE"}
    operations = {e["operation"] for e in document["coverage"]["errors"] if forbidden in e["resource_id"]}
    assert "list Databricks workspaces" in operations


POLICY_IN_DATA_PLANE_ONLY = generate_tenant(subscriptions=2, workspaces=3, rotation_policy_in_arm=False)


def data_plane_statuses(arm: FakeArm) -> list[int]:
    return [status for _, path, status in arm.requests if path.startswith("https://") and ".vault.azure.net/" in path]


def reach_the_data_plane(
    arm: FakeArm,
    monkeypatch: pytest.MonkeyPatch,
    token: str | None = "fake-kv-token",
    variable: str = "CMKAUDIT_KEYVAULT_ACCESS_TOKEN",
) -> None:
    """The vaults' (and pools') hosts through the fake server's proxy (ARM itself directly), with a data-plane token
    in `variable`, or none."""
    monkeypatch.setenv("HTTPS_PROXY", arm.proxy_url)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    if token:
        monkeypatch.setenv(variable, token)
    else:
        monkeypatch.delenv(variable, raising=False)


def test_rotation_policies_are_read_from_the_data_plane_when_arm_omits_them(
    clean_findings: list[Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with FakeArm(POLICY_IN_DATA_PLANE_ONLY) as arm:
        reach_the_data_plane(arm, monkeypatch)
        code, document = scan(arm, tmp_path, monkeypatch)
        calls = data_plane_statuses(arm)
    assert code == 0 and document["coverage"]["errors"] == [], document["coverage"]["errors"]
    assert statuses(document) == clean_findings
    # Each of the six keys' policy, with the Key Vault token (after Key Vault's 401 challenge, unless the
    # Key Vault client already holds the vault's challenge from an earlier test in this process).
    assert calls.count(200) == 6 and set(calls) <= {200, 401}


def test_a_data_plane_refusal_makes_only_that_rotation_policy_unknown(
    clean_findings: list[Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with FakeArm(POLICY_IN_DATA_PLANE_ONLY, Faults(forbid=["kv-1-2.vault.azure.net"])) as arm:
        reach_the_data_plane(arm, monkeypatch)
        code, document = scan(arm, tmp_path, monkeypatch)
        calls = data_plane_statuses(arm)
    assert code == 3  # nothing failed, but the scan is incomplete
    assert calls.count(403) == 1
    changed = set(statuses(document)) - set(clean_findings)
    assert {(control, workspace, status) for control, workspace, _, status in changed} == {
        ("KEY-03", "dbw-1-2", "UNKNOWN")
    }
    assert len(changed) == 3  # the key encrypts the workspace's three scopes
    (error,) = document["coverage"]["errors"]
    assert (error["operation"], error["status_code"]) == ("get key rotation policy (data plane)", 403)
    assert error["resource_id"] == "https://kv-1-2.vault.azure.net/keys/cmk/rotationpolicy"
    assert "Get Rotation Policy" in error["hint"]


def test_without_a_key_vault_token_no_token_goes_to_the_data_plane(
    clean_findings: list[Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CMKAUDIT_ACCESS_TOKEN alone: the ARM token is never sent to a vault; the reason says what to pass."""
    with FakeArm(POLICY_IN_DATA_PLANE_ONLY) as arm:
        reach_the_data_plane(arm, monkeypatch, token=None)
        code, document = scan(arm, tmp_path, monkeypatch)
        calls = data_plane_statuses(arm)
    assert code == 3
    assert set(calls) <= {401}  # at most Key Vault's challenge: no request with a token (the fake accepts any)
    errors = document["coverage"]["errors"]
    assert len(errors) == 6
    assert all("CMKAUDIT_KEYVAULT_ACCESS_TOKEN" in e["hint"] for e in errors)
    unknown = {(c, w) for c, w, _, status in set(statuses(document)) - set(clean_findings)}
    assert {c for c, _ in unknown} == {"KEY-03"} and len(unknown) == 6


def test_malformed_answers_do_not_crash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    faults = Faults(malformed=["/providers/microsoft.compute/diskencryptionsets", "/providers/microsoft.insights"])
    with FakeArm(TENANT, faults) as arm:
        code, document = scan(arm, tmp_path, monkeypatch)
    assert code == 3
    by = {(f["control_id"], f["resource_name"], f["scope"]): f["status"] for f in document["findings"]}
    assert by[("DBX-04", "dbw-0-0", None)] == "UNKNOWN"  # the disk encryption sets could not be read
    assert by[("KV-04", "dbw-0-0", "managedServices")] == "UNKNOWN"
    assert by[("KV-01", "dbw-0-0", "managedServices")] == "PASS"


def test_paged_lists_are_followed(clean_findings: list[Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeArm(TENANT, Faults(page_size=2)) as arm:
        code, document = scan(arm, tmp_path, monkeypatch)
    assert code == 0 and statuses(document) == clean_findings


def test_a_bad_baseline_fails_before_any_call(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A --baseline that cannot be read is reported before the crawl starts, not after it."""
    baseline = tmp_path / "last-run.json"
    baseline.write_text('{"kind": "cmkaudit.snapshot"}')
    monkeypatch.setenv("CMKAUDIT_ACCESS_TOKEN", "fake-arm-token")
    with FakeArm(TENANT) as arm:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(arm.ca_file))
        argv = ["scan", "--subscription", TENANT.subscriptions[0], "--arm-endpoint", arm.url]
        err = io.StringIO()
        code = run([*argv, "--baseline", str(baseline), "--output-dir", str(tmp_path)], Streams(io.StringIO(), err))
    assert code == 2 and "last-run.json is not a cmkaudit results file" in err.getvalue(), err.getvalue()
    assert arm.requests == []


def test_configured_principal_needs_no_graph(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeArm(TENANT) as arm:
        code, _ = scan(arm, tmp_path, monkeypatch, "--databricks-principal-id", DATABRICKS_SP)
        graph = [path for _, path, _ in arm.requests if path.startswith("/v1.0/")]
    assert code == 0 and graph == []


def test_an_empty_tenant(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = Tenant(subscriptions=["0c0c0c0c-0000-4000-8000-000000000001"])
    with FakeArm(empty) as arm:
        code, document = scan(arm, tmp_path, monkeypatch)
    assert code == 3  # the subscription itself could not be read (404)
    assert document["findings"] == []


@pytest.mark.parametrize("format_", ["json", "sarif", "html"])
def test_an_interrupted_report_leaves_no_partial_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, format_: str
) -> None:
    """Ctrl-C at the last moment (the rename): no half-written report, no temporary file left behind."""

    def interrupted(self: Path, target: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(Path, "replace", interrupted)
    code = run(
        ["scan", "--demo", "--format", format_, "--output-dir", str(tmp_path)], Streams(io.StringIO(), io.StringIO())
    )
    assert code == 130
    assert list(tmp_path.iterdir()) == []


def test_an_interrupted_snapshot_leaves_no_partial_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "snapshot.json"
    target.write_text("the previous snapshot")

    def interrupted(self: Path, target: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(Path, "replace", interrupted)
    code = run(
        ["scan", "--demo", "--format", "console", "--save-snapshot", str(target)],
        Streams(io.StringIO(), io.StringIO()),
    )
    assert code == 130
    assert target.read_text() == "the previous snapshot"  # untouched, not truncated
    assert sorted(p.name for p in tmp_path.iterdir()) == ["snapshot.json"]


def test_all_subscriptions_skips_disabled_ones_and_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tenant = generate_tenant(subscriptions=2, workspaces=1)
    disabled = "0d0d0d0d-0000-4000-8000-00000000000d"
    tenant.add_subscription(disabled, "Old project", state="Disabled")
    with FakeArm(tenant) as arm:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(arm.ca_file))
        monkeypatch.setenv("CMKAUDIT_ACCESS_TOKEN", "fake-arm-token")
        monkeypatch.setenv("CMKAUDIT_GRAPH_ACCESS_TOKEN", "fake-graph-token")
        argv = ["scan", "--all-subscriptions", "--arm-endpoint", arm.url, "--graph-endpoint", arm.url]
        out = io.StringIO()
        code = run(
            [*argv, "--format", "console,json", "--output-dir", str(tmp_path)], Streams(out, io.StringIO()), now=NOW
        )
        touched = {path.split("/")[2] for _, path, _ in arm.requests if path.startswith("/subscriptions/")}
        assert set(arm.counts) == {"GET"}
    document = json.loads((tmp_path / "cmkaudit-results.json").read_text())
    assert code == 0
    assert document["scan"]["subscriptions"] == sorted(tenant.subscriptions)
    assert document["scan"]["skipped_subscriptions"] == [f"{disabled} (Old project): Disabled, not scanned"]
    assert disabled not in touched
    assert "skipped: 0d0d0d0d" in out.getvalue()
    assert document["summary"]["by_status"]["PASS"] == 90


def test_resource_graph_gives_the_same_inventory_and_findings_in_fewer_calls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same tenant through the ARM lists and through paged Resource Graph queries: identical snapshots."""
    tenant = generate_tenant(subscriptions=3, workspaces=4)
    documents, snapshots, calls = {}, {}, {}
    with FakeArm(tenant, Faults(graph_page_size=5)) as arm:  # 48 rows: ten pages
        for source in ("arm", "resource-graph"):
            before, out = len(arm.requests), tmp_path / source
            code, documents[source] = scan(arm, out, monkeypatch, "--source", source, "--save-snapshot", str(out / "s"))
            assert code == 0
            snapshots[source] = json.loads((out / "s").read_text())
            sent = arm.requests[before:]
            calls[source] = Counter((method, path.split("/providers/")[-1].lower()) for method, path, _ in sent)
    # The same inventory; only the provenance differs.
    assert snapshots["resource-graph"]["scope"].pop("sources") == ["azure-resource-graph"]
    assert snapshots["arm"]["scope"].pop("sources") == ["azure-arm"]
    assert snapshots["resource-graph"] == snapshots["arm"]
    assert statuses(documents["resource-graph"]) == statuses(documents["arm"])
    assert documents["resource-graph"]["scan"]["sources"] == ["azure-resource-graph"]
    graph = calls["resource-graph"]
    assert graph[("POST", "microsoft.resourcegraph/resources")] == 1 + 10  # subscriptions, then ten pages
    for listed in ("microsoft.databricks/workspaces", "microsoft.keyvault/vaults", "microsoft.storage/storageaccounts"):
        assert graph[("GET", listed)] == 0 and calls["arm"][("GET", listed)] == 3
    assert sum(graph.values()) < sum(calls["arm"].values())


def test_a_central_vault_is_read_once_for_all_the_workspaces_keyed_there(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Keys in two central vaults of one subscription, used by the workspaces of four: each vault's key,
    versions and diagnostic settings are read once, in both modes, however many workspaces use them, and
    every scope's key controls are judged on them."""
    tenant = generate_tenant(subscriptions=4, workspaces=3, central_vaults=2)
    documents, calls = {}, {}
    with FakeArm(tenant) as arm:
        for source in ("arm", "resource-graph"):
            before = len(arm.requests)
            code, documents[source] = scan(arm, tmp_path / source, monkeypatch, "--source", source)
            assert code == 0 and documents[source]["coverage"]["errors"] == []
            calls[source] = Counter(path.lower() for _, path, _ in arm.requests[before:])
    assert statuses(documents["resource-graph"]) == statuses(documents["arm"])
    by_vault = Counter(
        e["resource_id"].rsplit("/", 1)[-1]
        for f in documents["arm"]["findings"]
        if f["control_id"] == "KV-01"
        for e in f["evidence"]
    )
    assert by_vault == {"kv-central-0": 18, "kv-central-1": 18}  # 12 workspaces x 3 scopes, half in each
    for source, seen in calls.items():
        for vault in ("kv-central-0", "kv-central-1"):
            reads = {path.split(f"/vaults/{vault}", 1)[1] for path in seen if f"/vaults/{vault}/" in path}
            assert reads == {
                "/keys/cmk",
                "/keys/cmk/versions",
                "/providers/microsoft.insights/diagnosticsettings",
                "/providers/microsoft.authorization/roleassignments",
            }
            assert all(n == 1 for path, n in seen.items() if f"/vaults/{vault}/" in path), (source, seen)
    # 4 subscriptions x (the subscription + 4 lists), 2 x 4 vault reads, 1 Graph lookup; Resource Graph: 2 queries.
    assert sum(calls["arm"].values()) == 20 + 8 + 1
    assert sum(calls["resource-graph"].values()) == 2 + 8 + 1


@pytest.mark.parametrize("headers", [True, False], ids=["quota-headers", "no-quota-headers"])
def test_resource_graph_throttling_is_waited_out(
    headers: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the quota headers the scan waits for the reset before it runs out; without them it runs into 429
    with Retry-After, and the POST is retried. Either way nothing is lost."""
    with FakeArm(TENANT, Faults(graph_page_size=8)) as arm:
        _, reference = scan(arm, tmp_path / "free", monkeypatch, "--source", "resource-graph")
    faults = Faults(graph_page_size=8, graph_quota=2, graph_window=1, graph_quota_headers=headers)
    with FakeArm(TENANT, faults) as arm:
        code, document = scan(arm, tmp_path / "throttled", monkeypatch, "--source", "resource-graph")
        throttled = [p for method, p, status in arm.requests if method == "POST" and status == 429]
    assert bool(throttled) is not headers
    assert code == 0 and document["coverage"]["errors"] == [], document["coverage"]["errors"]
    assert statuses(document) == statuses(reference)


def test_resource_graph_failures_are_retried(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The query POST gets the GET treatment: a 502 (which azure-core alone does not retry for a POST) and a
    dropped connection are retried."""
    with FakeArm(TENANT, Faults(graph_page_size=8)) as arm:
        _, reference = scan(arm, tmp_path / "clean", monkeypatch, "--source", "resource-graph")
    faults = Faults(graph_page_size=8, fail={GRAPH_QUERY_PATH: [502]}, drop={GRAPH_QUERY_PATH: 1})
    with FakeArm(TENANT, faults) as arm:
        code, document = scan(arm, tmp_path / "faulty", monkeypatch, "--source", "resource-graph")
        failed = sorted(status for method, _, status in arm.requests if method == "POST" and status != 200)
    assert failed == [0, 502]  # 0: the dropped connection
    assert code == 0 and document["coverage"]["errors"] == [], document["coverage"]["errors"]
    assert statuses(document) == statuses(reference)


def test_resource_graph_reports_a_subscription_it_cannot_see(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Resource Graph omits what the identity cannot read; the scan says so instead of calling it empty."""
    hidden = TENANT.subscriptions[1]
    with FakeArm(TENANT, Faults(forbid=[f"/subscriptions/{hidden}"])) as arm:
        code, document = scan(arm, tmp_path, monkeypatch, "--source", "resource-graph")
    assert code == 3
    assert {f["resource_name"] for f in document["findings"]} == {"dbw-0-0", "dbw-0-1", "dbw-0-2"}
    (error,) = [e for e in document["coverage"]["errors"] if hidden in e["resource_id"]]
    assert error["code"] == "SubscriptionNotVisible" and "Reader" in error["hint"]


def test_pipeline_logs_are_lines_and_json_lines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Off a terminal the scan writes phase lines and a summary; --log-format json makes each a JSON object;
    --quiet writes nothing but errors."""
    monkeypatch.setenv("CMKAUDIT_ACCESS_TOKEN", "fake-arm-token")
    monkeypatch.setenv("CMKAUDIT_GRAPH_ACCESS_TOKEN", "fake-graph-token")
    outputs = {}
    for mode in ("text", "json", "quiet"):
        with FakeArm(TENANT, Faults(fail={"/keys/cmk/versions": [500]})) as arm:
            monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(arm.ca_file))
            extra = ["--quiet"] if mode == "quiet" else ["--log-format", mode]
            argv = ["scan", "--subscription", TENANT.subscriptions[0], "--arm-endpoint", arm.url]
            argv += ["--graph-endpoint", arm.url, "--format", "json", "--output-dir", str(tmp_path / mode), *extra]
            err = io.StringIO()
            assert run(argv, Streams(io.StringIO(), err), now=NOW) == 0
            outputs[mode] = err.getvalue()
    text = outputs["text"].splitlines()
    assert all(line.startswith("cmkaudit: ") for line in text)
    assert any("keys and vault details: done in" in line for line in text)
    assert any(line.startswith("cmkaudit: warning: GET ") and "HTTP 500" in line for line in text)
    assert "collected in" in text[-2] and "3 workspaces" in text[-2] and "wrote" in text[-1]
    records = [json.loads(line) for line in outputs["json"].splitlines()]
    events = [r["event"] for r in records]
    assert events[0] == "phase_started" and "crawl_finished" in events and events[-1] == "wrote"
    (summary,) = [r for r in records if r["event"] == "crawl_finished"]
    assert summary["workspaces"] == 3 and summary["calls"] > 10 and summary["failed"] == 1
    assert {r["level"] for r in records} == {"info", "warning"}
    assert outputs["quiet"] == ""


def test_errors_are_json_too_when_asked(tmp_path: Path) -> None:
    err = io.StringIO()
    code = run(["evaluate", str(tmp_path / "missing.json"), "--log-format", "json"], Streams(io.StringIO(), err))
    assert code == 2
    (record,) = [json.loads(line) for line in err.getvalue().splitlines()]
    assert record["level"] == "error" and "missing.json" in record["message"]


def test_the_terminal_display_ends_with_the_totals() -> None:
    from cmkaudit.progress import RichObserver

    stream = io.StringIO()
    with RichObserver(stream) as observer:
        observer.phase("subscriptions and workspaces", 2)
        observer.call("GET", "https://management.azure.com/subscriptions/x", 200)
        observer.call("GET", "https://management.azure.com/subscriptions/y", 429)
        observer.advance()
        observer.found({"subscriptions": 1, "workspaces": 4})
        observer.finished()
    assert "1 subscriptions, 4 workspaces; 2 calls, 1 throttled, 0 failed" in stream.getvalue()


def test_a_disk_encryption_set_on_an_older_version_is_judged_on_that_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The disk encryption set wraps the disks with the key's first version, an RSA 1024 key re-created since: the
    versions list does not say its type and size, so the collector reads that version (Keys_GetVersion), and
    KEY-01 fails the managed-disk scope alone."""
    tenant = generate_tenant(subscriptions=1, workspaces=1)
    sub = tenant.subscriptions[0]
    vault_id = f"/subscriptions/{sub}/resourceGroups/rg-0-0/providers/Microsoft.KeyVault/vaults/kv-0-0"
    versions = tenant.resources[f"{vault_id}/keys/cmk/versions".lower()]["value"]
    first = versions[0]["name"]
    (disk_set,) = tenant.lists[f"/subscriptions/{sub}/providers/microsoft.compute/diskencryptionsets"]
    disk_set["properties"]["activeKey"]["keyUrl"] = f"https://kv-0-0.vault.azure.net/keys/cmk/{first}"
    created = versions[0]["properties"]["attributes"]["created"]
    tenant.add(
        f"{vault_id}/keys/cmk/versions/{first}",
        key_version_body(
            vault_id, "kv-0-0", "cmk", location="westeurope", version=(first, created, None), kty="RSA", size=1024
        ),
    )
    with FakeArm(tenant) as arm:
        code, document = scan(arm, tmp_path, monkeypatch)
        read = [path for _, path, _ in arm.requests if "/keys/cmk/versions/" in path]
    assert read == [f"{vault_id}/keys/cmk/versions/{first}"]
    assert code == 1
    key01 = {f["scope"]: (f["status"], f["reason"]) for f in document["findings"] if f["control_id"] == "KEY-01"}
    assert key01["managedDisk"] == ("FAIL", f"version {first} of key cmk is RSA 1024, smaller than 2048")
    assert key01["managedServices"][0] == key01["dbfsRoot"][0] == "PASS"


def test_shards_merged_give_the_findings_of_one_scan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Three subscriptions whose workspaces keep their keys in two central vaults of the first: scanned as one, or
    as two shards that each include the keys subscription (so each reads the keys its workspaces use), then
    evaluated together. The central vaults, seen by both shards, are merged once; the findings are identical."""
    tenant = generate_tenant(subscriptions=3, workspaces=2, central_vaults=2)
    keys_sub, first, second = tenant.subscriptions
    with FakeArm(tenant) as arm:
        _, whole = scan(arm, tmp_path / "whole", monkeypatch)
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(arm.ca_file))
        for name, subs in (("shard-1", [keys_sub, first]), ("shard-2", [second, keys_sub])):
            argv = ["scan", *(a for s in subs for a in ("--subscription", s)), "--arm-endpoint", arm.url]
            argv += ["--graph-endpoint", arm.url, "--format", "json", "--output-dir", str(tmp_path / name)]
            argv += ["--save-snapshot", str(tmp_path / f"{name}.json")]
            assert run(argv, Streams(io.StringIO(), io.StringIO()), now=NOW) == 0
    out = tmp_path / "merged"
    err = io.StringIO()
    argv = ["evaluate", str(tmp_path / "shard-1.json"), str(tmp_path / "shard-2.json")]
    code = run([*argv, "--format", "json", "--output-dir", str(out)], Streams(io.StringIO(), err), now=NOW)
    assert code == 0, err.getvalue()
    merged = json.loads((out / "cmkaudit-results.json").read_text())
    assert merged["findings"] == whole["findings"]
    assert merged["summary"] == whole["summary"]
    assert sorted(merged["scan"]["subscriptions"]) == sorted(whole["scan"]["subscriptions"])
    assert (merged["scan"]["shards_merged"], merged["scan"]["sources"]) == (2, ["azure-arm"])


def test_shards_that_disagree_are_reported_not_picked(tmp_path: Path) -> None:
    from cmkaudit.inventory.snapshot import save_snapshot

    from .conftest import inventory, vault

    save_snapshot(inventory(), tmp_path / "a.json")
    save_snapshot(inventory(vaults=[vault(purge_protection_enabled=False)]), tmp_path / "b.json")
    err = io.StringIO()
    argv = ["evaluate", str(tmp_path / "a.json"), str(tmp_path / "b.json"), "--output-dir", str(tmp_path / "out")]
    assert run(argv, Streams(io.StringIO(), err), now=NOW) == 2
    assert "the shards disagree: key vault /subscriptions/" in err.getvalue()
    assert "kv-test differs between" in err.getvalue() and "a.json and" in err.getvalue()
    assert not (tmp_path / "out").exists()


def test_the_crawl_paces_itself_by_the_reads_arm_says_remain(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """ARM reports the reads left in each subscription's bucket (x-ms-ratelimit-remaining-subscription-reads): the
    crawl waits for the bucket to refill instead of hammering it and being answered 429."""
    tenant = generate_tenant(1, 15)
    with FakeArm(tenant) as arm:
        code, unthrottled = scan(arm, tmp_path / "free", monkeypatch)
    faults = Faults(bucket=12, refill_per_second=30)
    with FakeArm(tenant, faults) as arm:
        code, document = scan(arm, tmp_path / "paced", monkeypatch)
        answered = [status for _, path, status in arm.requests if path.startswith("/subscriptions/")]
    throttled = answered.count(429)
    assert len(answered) > 4 * faults.bucket  # the tenant needs far more reads than one bucket holds
    assert throttled <= 2, f"{throttled} of {len(answered)} reads were answered 429"
    assert code == 0 and document["coverage"]["errors"] == [], document["coverage"]["errors"]
    assert statuses(document) == statuses(unthrottled)
