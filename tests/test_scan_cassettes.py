"""The real collector, through the real SDK clients, replaying the recorded tenants under cassettes/."""

from __future__ import annotations

import io
import json
from dataclasses import replace
from pathlib import Path

import jsonschema
import pytest
import vcr

from cmkaudit.cli import Streams, run
from cmkaudit.collect.azure import CollectSettings
from cmkaudit.collect.demo import DEMO_RECORDED_AT, DEMO_SUBSCRIPTIONS, MATCH_ON, replay_scan
from cmkaudit.evaluate.catalog import AppliesTo
from cmkaudit.evaluate.engine import evaluate
from cmkaudit.evaluate.model import Settings
from cmkaudit.ids import PrincipalId, SubscriptionId
from cmkaudit.inventory import Inventory
from cmkaudit.inventory.model import PrincipalSource

from .conftest import NOW, ROOT

CASSETTES = ROOT / "cassettes"
REPLAY = CollectSettings(concurrency=1)  # vcrpy's playback is not made for threads (see collect/demo.py)
RESULTS_SCHEMA = json.loads((ROOT / "reports" / "results.schema.json").read_text())

FIN, ANA, TEST, SBX = "dbw-finance-prod", "dbw-analytics-dev", "dbw-analytics-test", "dbw-sandbox"
RISK = "dbw-risk-prod"  # every scope on a Managed HSM pool
MS, MD, DBFS, WS = "managedServices", "managedDisk", "dbfsRoot", None
SCOPES = (MS, MD, DBFS)
WORKSPACE_CONTROLS = ("DBX-01", "DBX-02", "DBX-03", "DBX-04", "DBX-05", "DBX-06", "GOV-02")
KEY_CONTROLS = (
    "KV-01",
    "KV-02",
    "KV-03",
    "KV-04",
    "KV-05",
    "KEY-01",
    "KEY-02",
    "KEY-03",
    "KEY-04",
    "IAM-01",
    "IAM-02",
    "IAM-03",
    "GOV-01",
)


def test_the_expected_tables_name_every_control_of_the_catalogue() -> None:
    """The demo's expected statuses are tables with a column per control: they must cover the catalogue."""
    from cmkaudit.evaluate.catalog import AppliesTo, load_catalog

    catalog = load_catalog()
    assert set(WORKSPACE_CONTROLS) == {c.id for c in catalog if c.applies_to is AppliesTo.WORKSPACE}
    assert sorted(KEY_CONTROLS) == sorted(c.id for c in catalog if c.applies_to is AppliesTo.KEY_USAGE)


def _workspace(name: str, statuses: str) -> dict[tuple[str, str, str | None], str]:
    """Workspace controls in WORKSPACE_CONTROLS order: P(ass), F(ail), N(ot applicable), U(nknown)."""
    return {(c, name, WS): _LETTERS[s] for c, s in zip(WORKSPACE_CONTROLS, statuses.split(), strict=True)}


def _scope(name: str, scope: str, statuses: str) -> dict[tuple[str, str, str | None], str]:
    """Key controls of one scope, in KEY_CONTROLS order."""
    return {(c, name, scope): _LETTERS[s] for c, s in zip(KEY_CONTROLS, statuses.split(), strict=True)}


_LETTERS = {"P": "PASS", "F": "FAIL", "N": "NOT_APPLICABLE", "U": "UNKNOWN"}
ALL_NA = " ".join("N" * len(KEY_CONTROLS))

# Every finding the demo tenant must produce: (control, workspace, scope) -> status.
DEMO_EXPECTED = {
    #                            DBX-01 02 03 04 05 06 GOV-02
    **_workspace(FIN, "          P      P  P  P  P  P  P"),
    **_workspace(ANA, "          P      P  P  F  F  F  F"),
    **_workspace(TEST, "         P      P  F  N  F  F  N"),
    **_workspace(SBX, "          F      F  F  N  F  F  N"),
    **_workspace(RISK, "         P      P  P  P  P  P  P"),
    #                      KV-01 02 03 04 05 KEY-01 02 03 04 IAM-01 02 03 GOV-01
    **_scope(FIN, MS, "    P     P  P  P  P  P      P  P  P  P      P  P  P"),
    **_scope(FIN, MD, "    P     P  P  P  P  P      P  P  P  P      P  P  P"),
    **_scope(FIN, DBFS, "  P     P  P  P  P  P      P  P  P  P      P  P  P"),
    **_scope(ANA, MS, "    F     F  F  F  F  P      F  F  F  P      F  F  F"),
    **_scope(ANA, MD, "    F     F  F  F  F  P      F  F  F  F      F  F  F"),
    **_scope(ANA, DBFS, ALL_NA),
    **_scope(TEST, MS, "   F     F  F  F  F  F      P  P  P  P      F  F  F"),
    **_scope(TEST, MD, ALL_NA),
    **_scope(TEST, DBFS, ALL_NA),
    # On the pool: protected and granted as it should be, but the platform team's group is its Administrator.
    **_scope(RISK, MS, "   P     P  P  P  P  P      P  P  P  P      P  F  P"),
    **_scope(RISK, MD, "   P     P  P  P  P  P      P  P  P  P      P  F  P"),
    **_scope(RISK, DBFS, " P     P  P  P  P  P      P  P  P  P      P  F  P"),
    **{(c, SBX, s): "NOT_APPLICABLE" for c in KEY_CONTROLS for s in SCOPES},
}


def observed(inventory: Inventory) -> dict[tuple[str, str, str | None], str]:
    findings = evaluate(inventory, _catalog(), Settings())
    return {(f.control_id, f.resource_name, f.scope.value if f.scope else None): f.status.value for f in findings}


def _catalog():  # type: ignore[no-untyped-def]
    from cmkaudit.evaluate.catalog import load_catalog

    return load_catalog()


@pytest.fixture(scope="module")
def demo_inventory() -> Inventory:
    return replay_scan(CASSETTES / "demo-tenant.yaml", DEMO_SUBSCRIPTIONS, now=DEMO_RECORDED_AT)


def test_demo_tenant_findings_exactly(demo_inventory: Inventory) -> None:
    assert observed(demo_inventory) == DEMO_EXPECTED


def test_findings_come_in_report_order(demo_inventory: Inventory) -> None:
    """The engine walks workspaces and key usages in report order instead of sorting findings afterwards."""
    from cmkaudit.evaluate.catalog import load_catalog

    # Shuffle what the engine is given: the order of its output must not depend on it.
    shuffled = replace(
        demo_inventory,
        workspaces=tuple(reversed(demo_inventory.workspaces)),
        key_usages=tuple(reversed(demo_inventory.key_usages)),
    )
    for inventory in (demo_inventory, shuffled):
        findings = evaluate(inventory, load_catalog(), Settings())
        assert len(findings) == 230
        assert list(findings) == sorted(findings, key=lambda f: f.sort_key)
    assert evaluate(shuffled, load_catalog(), Settings()) == evaluate(demo_inventory, load_catalog(), Settings())


def test_demo_tenant_exercises_every_control_both_ways(demo_inventory: Inventory) -> None:
    seen: dict[str, set[str]] = {}
    for (control, _, _), status in observed(demo_inventory).items():
        seen.setdefault(control, set()).add(status)
    # The Azure controls; those of Databricks on AWS have the AWS demo account (tests/test_databricks_aws.py).
    azure = {c.id for c in _catalog() if c.applies_to in (AppliesTo.WORKSPACE, AppliesTo.KEY_USAGE)}
    assert azure == set(seen)
    assert [c for c, statuses in seen.items() if not {"PASS", "FAIL"} <= statuses] == []


def test_sensitive_workspace_scope_findings_are_critical(demo_inventory: Inventory) -> None:
    severities = {
        (f.control_id, f.resource_name): f.severity.value
        for f in evaluate(demo_inventory, _catalog(), Settings())
        if f.control_id in ("DBX-02", "DBX-05")
    }
    assert severities == {
        ("DBX-02", FIN): "critical",  # tagged confidential
        ("DBX-05", FIN): "critical",
        ("DBX-02", ANA): "critical",  # tagged confidential
        ("DBX-05", ANA): "critical",
        ("DBX-02", TEST): "high",
        ("DBX-05", TEST): "high",
        ("DBX-02", SBX): "high",
        ("DBX-05", SBX): "high",
        ("DBX-02", RISK): "critical",  # tagged confidential
        ("DBX-05", RISK): "critical",
    }


def test_demo_tenant_is_read_completely(demo_inventory: Inventory) -> None:
    assert demo_inventory.errors == ()
    assert [w.name for w in demo_inventory.workspaces] == [ANA, TEST, FIN, RISK, SBX]
    assert [(s.display_name, s.tenant_id) for s in demo_inventory.subscriptions] == [
        ("Contoso Data Platform", "0d4f6a8b-2c1e-4b3d-9e5f-7a8b9c0d1e2f")
    ]
    # Both pages of the vault listing were followed.
    assert sorted(v.name for v in demo_inventory.vaults) == ["hsm-contoso-risk", "kv-analytics-dev", "kv-finance-prod"]
    assert {v.name: v.kind.value for v in demo_inventory.vaults}["hsm-contoso-risk"] == "managedHsm"
    assert {k.name: len(k.versions or ()) for k in demo_inventory.keys} == {
        "cmk-analytics": 1,
        "cmk-analytics-test": 1,
        "cmk-finance": 3,
        "cmk-risk": 2,
    }
    assert demo_inventory.principals[0].source is PrincipalSource.GRAPH
    # Resource Manager returned no rotation policy for the test key: it was read from the data plane.
    sources = {k.name: k.rotation_policy.source if k.rotation_policy else None for k in demo_inventory.keys}
    assert sources["cmk-analytics-test"] == (
        "data plane https://kv-analytics-dev.vault.azure.net/keys/cmk-analytics-test/rotationpolicy"
    )
    assert sources["cmk-finance"] == "properties.rotationPolicy"


def test_demo_every_recorded_exchange_is_used_once() -> None:
    """The crawler asks for exactly what the tenant holds: nothing missing, nothing asked twice."""
    recorder = vcr.VCR(record_mode="none", match_on=MATCH_ON)
    from cmkaudit.collect.azure import AzureCollector
    from cmkaudit.collect.credentials import OfflineDemoCredential
    from cmkaudit.collect.http import Cloud, endpoints_for, open_connection

    with (
        recorder.use_cassette(str(CASSETTES / "demo-tenant.yaml")) as cassette,
        open_connection(OfflineDemoCredential(), endpoints_for(Cloud.PUBLIC)) as connection,
    ):
        AzureCollector(connection, REPLAY).collect(DEMO_SUBSCRIPTIONS, now=NOW)
        assert cassette.all_played
        assert cassette.play_count == len(cassette.data)
        assert connection.transport.requests_sent == len(cassette.data)


def test_demo_key_versions_in_use(demo_inventory: Inventory) -> None:
    by = {(u.workspace_id.rsplit("/", 1)[1], u.scope.value): u for u in demo_inventory.key_usages}
    assert by[(FIN, MD)].version_in_use == "1c7e2a9b4d3f4e5a8b6c0d1e2f3a4b5c"
    assert "activeKey" in (by[(FIN, MD)].version_source or "")
    assert by[(FIN, DBFS)].version_in_use == "1c7e2a9b4d3f4e5a8b6c0d1e2f3a4b5c"
    assert "currentVersionedKeyIdentifier" in (by[(FIN, DBFS)].version_source or "")
    assert by[(ANA, MS)].version_in_use == "8f0e1d2c3b4a49586776a5b4c3d2e1f0"


def test_empty_subscription() -> None:
    inventory = replay_scan(
        CASSETTES / "empty-subscription.yaml", [SubscriptionId("0e9d8c7b-6a59-4483-9271-605f4e3d2c1b")], now=NOW
    )
    assert inventory.workspaces == ()
    assert inventory.errors == ()
    assert observed(inventory) == {}


APP_SUB = SubscriptionId("1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d")
KEYS_SUB = SubscriptionId("9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a")
CLAIMS = "dbw-claims-prod"


def test_vault_in_a_subscription_not_scanned_is_unknown_with_a_hint() -> None:
    inventory = replay_scan(CASSETTES / "cross-subscription-vault.yaml", [APP_SUB], now=NOW)
    findings = {
        (f.control_id, f.scope.value if f.scope else None): f for f in evaluate(inventory, _catalog(), Settings())
    }
    assert findings[("DBX-02", None)].status.value == "PASS"
    for control in ("KV-01", "KV-02", "KEY-03", "IAM-01", "IAM-02"):
        for scope in (MS, MD):
            finding = findings[(control, scope)]
            assert finding.status.value == "UNKNOWN", (control, scope)
            assert "kv-central-keys.vault.azure.net is not in the scanned subscriptions" in finding.reason
            assert "grant the scanner Reader" in finding.reason
    assert inventory.keys == ()  # never guessed


def test_vault_resolved_when_its_subscription_is_scanned_too() -> None:
    inventory = replay_scan(CASSETTES / "cross-subscription-vault.yaml", [APP_SUB, KEYS_SUB], now=NOW)
    assert inventory.errors == ()
    statuses = observed(inventory)
    for control in ("KV-01", "KV-02", "IAM-01", "IAM-02"):
        assert statuses[(control, CLAIMS, MS)] == "PASS"
        assert statuses[(control, CLAIMS, MD)] == "PASS"
    # The central vault uses Azure RBAC: the consuming identities hold Crypto Service Encryption User, but a
    # key-custodians group holds Crypto Officer on the resource group.
    assert statuses[("IAM-03", CLAIMS, MS)] == "FAIL"
    # The central key rotates every 180 days: longer than the default cadence of 90.
    assert statuses[("KEY-03", CLAIMS, MS)] == "FAIL"
    assert statuses[("DBX-05", CLAIMS, None)] == "FAIL"


def test_configured_principal_skips_the_graph_lookup() -> None:
    settings = CollectSettings(
        databricks_principal_ids={"*": PrincipalId("8d7c6b5a-4938-4271-8605-f4e3d2c1b0a9")}, concurrency=1
    )
    recorder = vcr.VCR(record_mode="none", match_on=MATCH_ON)
    from cmkaudit.collect.azure import AzureCollector
    from cmkaudit.collect.credentials import OfflineDemoCredential
    from cmkaudit.collect.http import Cloud, endpoints_for, open_connection

    with (
        recorder.use_cassette(str(CASSETTES / "cross-subscription-vault.yaml")) as cassette,
        open_connection(OfflineDemoCredential(), endpoints_for(Cloud.PUBLIC)) as connection,
    ):
        inventory = AzureCollector(connection, settings).collect([APP_SUB, KEYS_SUB], now=NOW)
        graph_calls = [r for r in cassette.requests if r.host == "graph.microsoft.com"]
        played = {r.path: cassette.play_counts[cassette.requests.index(r)] for r in graph_calls}
        # The lookup is skipped; the identities' groups are still read (the key custodians' group holds a role).
        assert played == {"/v1.0/servicePrincipals(appId='2ff814a6-3304-4ab8-85cb-cd0e6f879c1d')": 0, "/v1.0/$batch": 1}
    assert inventory.principals[0].source is PrincipalSource.CONFIG


# --- the CLI end to end -------------------------------------------------------------------------------


def cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run(list(argv), Streams(out, err), now=NOW)
    return code, out.getvalue(), err.getvalue()


def test_cli_demo_writes_valid_json_and_fails(tmp_path: Path) -> None:
    code, out, _err = cli("scan", "--demo", "--output-dir", str(tmp_path))
    assert code == 1
    assert "dbw-finance-prod" in out and "Totals" in out
    document = json.loads((tmp_path / "cmkaudit-results.json").read_text())
    jsonschema.validate(document, RESULTS_SCHEMA)
    assert document["summary"]["by_status"] == {
        "PASS": 101,
        "FAIL": 47,
        "UNKNOWN": 0,
        "NOT_APPLICABLE": 82,
        "SUPPRESSED": 0,
    }
    got = {(f["control_id"], f["resource_name"], f["scope"]): f["status"] for f in document["findings"]}
    assert got == DEMO_EXPECTED
    keys = [(f["control_id"], f["resource_id"].lower(), f["scope"] or "") for f in document["findings"]]
    assert keys == sorted(keys)


@pytest.mark.parametrize(
    ("threshold", "expected"),
    [("critical", 1), ("high", 1), ("medium", 1), ("none", 0)],
)
def test_cli_fail_on_threshold(tmp_path: Path, threshold: str, expected: int) -> None:
    code, _, _ = cli("scan", "--demo", "--format", "json", "--output-dir", str(tmp_path), "--fail-on", threshold)
    assert code == expected


def test_cli_snapshot_re_evaluates_identically(tmp_path: Path) -> None:
    snapshot = tmp_path / "snapshot.json"
    code, _, _ = cli(
        "scan", "--demo", "--format", "json", "--output-dir", str(tmp_path / "a"), "--save-snapshot", str(snapshot)
    )
    assert code == 1
    code, _, _ = cli("evaluate", str(snapshot), "--format", "json", "--output-dir", str(tmp_path / "b"))
    assert code == 1
    first = (tmp_path / "a" / "cmkaudit-results.json").read_text()
    second = (tmp_path / "b" / "cmkaudit-results.json").read_text()
    assert first == second


def test_cli_settings_change_the_outcome(tmp_path: Path) -> None:
    """With 7-day retention accepted, the analytics vault's KV-02 findings pass."""
    cli("scan", "--demo", "--format", "json", "--output-dir", str(tmp_path), "--retention-days", "7")
    document = json.loads((tmp_path / "cmkaudit-results.json").read_text())
    kv02 = {
        f["status"]
        for f in document["findings"]
        if f["control_id"] == "KV-02" and f["resource_name"] == ANA and f["scope"]
    }
    assert kv02 == {"PASS", "NOT_APPLICABLE"}


def test_arm_only_token_makes_the_graph_lookup_unknown_not_wrong() -> None:
    """CMKAUDIT_ACCESS_TOKEN is an ARM token: no Graph call is made, and the reason says what to do."""
    from cmkaudit.collect.azure import AzureCollector
    from cmkaudit.collect.credentials import StaticTokenCredential
    from cmkaudit.collect.http import Cloud, endpoints_for, open_connection

    endpoints = endpoints_for(Cloud.PUBLIC)
    recorder = vcr.VCR(record_mode="none", match_on=MATCH_ON)
    with (
        recorder.use_cassette(str(CASSETTES / "cross-subscription-vault.yaml")) as cassette,
        open_connection(StaticTokenCredential("arm-token", endpoints.arm_scope), endpoints) as connection,
    ):
        inventory = AzureCollector(connection, REPLAY).collect([APP_SUB, KEYS_SUB], now=NOW)
        assert not any(
            r.host == "graph.microsoft.com"
            for r in cassette.requests
            if cassette.play_counts[cassette.requests.index(r)]
        )
    (lookup,) = inventory.principals
    assert lookup.object_id is None and "ARM token" in (lookup.error or "")
    lookup_error, *graph_errors = sorted(inventory.errors, key=lambda e: e.operation)
    assert "--databricks-principal-id" in (lookup_error.hint or "")
    # Nor can the groups (the identities', the key custodians' members) be read: the hint says which token to pass,
    # and which Graph permission.
    assert [e.operation for e in graph_errors] == [
        "read group members (Microsoft Graph)",
        "read group memberships (Microsoft Graph)",
    ]
    assert all("CMKAUDIT_GRAPH_ACCESS_TOKEN" in (e.hint or "") for e in graph_errors)
    assert all("GroupMember.Read.All" in (e.hint or "") for e in graph_errors)
    statuses = observed(inventory)
    assert statuses[("IAM-01", CLAIMS, MS)] == "UNKNOWN"
    assert statuses[("IAM-01", CLAIMS, MD)] == "PASS"


def test_arm_only_token_cannot_read_the_data_plane_and_says_so() -> None:
    """With CMKAUDIT_ACCESS_TOKEN (ARM only), the data-plane rotation policy is UNKNOWN, with the reason."""
    from cmkaudit.collect.azure import AzureCollector
    from cmkaudit.collect.credentials import StaticTokenCredential
    from cmkaudit.collect.http import Cloud, endpoints_for, open_connection

    endpoints = endpoints_for(Cloud.PUBLIC)
    recorder = vcr.VCR(record_mode="none", match_on=MATCH_ON)
    with (
        recorder.use_cassette(str(CASSETTES / "demo-tenant.yaml")),
        open_connection(StaticTokenCredential("arm-token", endpoints.arm_scope), endpoints) as connection,
    ):
        inventory = AzureCollector(connection, REPLAY).collect(DEMO_SUBSCRIPTIONS, now=DEMO_RECORDED_AT)
    errors = {e.operation: e for e in inventory.errors}
    data_plane = errors["get key rotation policy (data plane)"]
    assert data_plane.resource_id.endswith("/keys/cmk-analytics-test/rotationpolicy")
    assert "ARM token" in data_plane.message
    assert (data_plane.hint or "").startswith("the credential cannot get a Key Vault token")
    statuses = observed(inventory)
    assert statuses[("KEY-03", TEST, MS)] == "UNKNOWN"
    assert statuses[("KEY-03", FIN, MS)] == "PASS"  # Resource Manager returned that policy
