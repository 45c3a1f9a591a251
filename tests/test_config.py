"""The configuration file: validated with line numbers, thresholds applied, controls disabled, waivers."""

from __future__ import annotations

import io
import json
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cmkaudit.cli import Streams, run
from cmkaudit.config import ConfigFile, parse_config
from cmkaudit.errors import UsageError
from cmkaudit.evaluate.catalog import load_catalog
from cmkaudit.evaluate.model import Severity, Status
from cmkaudit.evaluate.waivers import Waiver, WaiverState, apply_waivers
from cmkaudit.ids import ControlId
from cmkaudit.inventory.model import Scope

from .conftest import NOW, ROOT, WORKSPACE_ID

KNOWN = frozenset(c.id for c in load_catalog())


def parse(text: str) -> ConfigFile:
    return parse_config(text, "cmkaudit.yaml", KNOWN)


def test_empty_file_means_defaults() -> None:
    assert parse("") == ConfigFile()
    assert parse("").settings().rotation_max_days == 90


def test_the_documented_example_is_valid() -> None:
    config = parse((ROOT / "docs" / "cmkaudit.example.yaml").read_text())
    assert config.thresholds.rotation_max_days == 90
    assert [w.control for w in config.waivers] == ["KV-03", "KEY-01"]


def test_the_json_schema_is_generated_from_the_model() -> None:
    from tools.generate_docs import config_schema

    assert (ROOT / "docs" / "config.schema.json").read_text() == config_schema(), "run tools/generate_docs.py"


@pytest.mark.parametrize(
    ("text", "where", "message"),
    [
        ("thresholds:\n  rotation_days: 30\n", "cmkaudit.yaml:2", "thresholds.rotation_days: Extra inputs"),
        ("thresholds:\n  rotation_max_days: soon\n", "cmkaudit.yaml:2", "valid integer"),
        ("version: 1\ncontrols:\n  disable: [KV-99]\n", "cmkaudit.yaml:3", "unknown control KV-99"),
        (
            "waivers:\n  - control: KV-01\n    resource: '*'\n    justification: accepted for now ok\n"
            "    owner: me\n    expires: someday\n",
            "cmkaudit.yaml:6",
            "waivers.0.expires",
        ),
        ("waivers:\n  - control: KV-01\n    resource: '*'\n", "cmkaudit.yaml:2", "justification"),
        ("thresholds: [1, 2\n", "cmkaudit.yaml:2", "not valid YAML"),
        ("- just\n- a list\n", "cmkaudit.yaml:1", "must be a mapping"),
    ],
)
def test_invalid_configuration_names_the_line(text: str, where: str, message: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse(text)
    assert caught.value.message.startswith(where), caught.value.message
    assert message in caught.value.message


def waiver(**changes: object) -> Waiver:
    base = {
        "control_id": ControlId("KV-01"),
        "resource": "*/workspaces/DBW",
        "scope": None,
        "justification": "accepted",
        "owner": "owner",
        "expires": date(2026, 12, 31),
    }
    return Waiver(**{**base, **changes})  # type: ignore[arg-type]


def finding(status: Status, scope: Scope | None = Scope.MANAGED_DISK, control: str = "KV-01"):  # type: ignore[no-untyped-def]
    from cmkaudit.evaluate.model import Finding

    return Finding(ControlId(control), "t", Severity.HIGH, status, WORKSPACE_ID, "dbw", scope, "why", ())


def test_waiver_suppresses_failed_and_unknown_only() -> None:
    findings = [
        finding(Status.FAIL),
        finding(Status.UNKNOWN, Scope.DBFS_ROOT),
        finding(Status.PASS, Scope.MANAGED_SERVICES),
    ]
    result, outcomes = apply_waivers(findings, [waiver()], date(2026, 11, 1))
    assert [f.status for f in result] == [Status.SUPPRESSED, Status.SUPPRESSED, Status.PASS]
    assert result[0].waiver is not None and result[0].waiver.waived_status == "FAIL"
    assert result[0].reason == "why"  # the evidence and reason stay
    assert (outcomes[0].state, outcomes[0].findings) == (WaiverState.APPLIED, 2)


def test_waiver_applies_through_its_expiry_date_then_stops() -> None:
    on_the_day, _ = apply_waivers([finding(Status.FAIL)], [waiver()], date(2026, 12, 31))
    assert on_the_day[0].status is Status.SUPPRESSED
    after, outcomes = apply_waivers([finding(Status.FAIL)], [waiver()], date(2027, 1, 1))
    assert after[0].status is Status.FAIL and after[0].waiver is None
    assert (outcomes[0].state, outcomes[0].findings) == (WaiverState.EXPIRED, 1)


@pytest.mark.parametrize(
    "changes",
    [{"control_id": ControlId("KV-02")}, {"scope": Scope.DBFS_ROOT}, {"resource": "*/workspaces/other"}],
)
def test_waiver_must_match_control_resource_and_scope(changes: dict[str, object]) -> None:
    result, outcomes = apply_waivers([finding(Status.FAIL)], [waiver(**changes)], date(2026, 11, 1))
    assert result[0].status is Status.FAIL
    assert outcomes[0].state is WaiverState.UNUSED


_IDS = [f"/subscriptions/s/resourceGroups/rg-{n}/providers/Microsoft.Databricks/workspaces/DBW-{n}" for n in (1, 2, 12)]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["KV-01", "kv-01", "DBX-01"]),
            st.sampled_from([*_IDS, _IDS[0].lower(), "*", "*/DBW-1", "*/dbw-1?", "*rg-[12]/*", "[x"]),
            st.sampled_from([None, Scope.MANAGED_DISK, Scope.DBFS_ROOT]),
        ),
        max_size=8,
    ),
    st.sampled_from(_IDS),
    st.sampled_from(["KV-01", "DBX-01"]),
    st.sampled_from([None, Scope.MANAGED_DISK, Scope.DBFS_ROOT]),
)
def test_the_first_matching_waiver_in_file_order_wins(
    specs: list[tuple[str, str, Scope | None]], resource_id: str, control: str, scope: Scope | None
) -> None:
    """Waivers are looked up by control and exact id, and patterns tried in order, not every waiver held
    against every finding; the waiver applied is still the first in the file that matches, as a walk of the
    whole list finds it."""
    from cmkaudit.evaluate.model import Finding

    waivers = [
        waiver(control_id=ControlId(c), resource=r, scope=sc, justification=str(i))
        for i, (c, r, sc) in enumerate(specs)
    ]
    failed = Finding(ControlId(control), "t", Severity.HIGH, Status.FAIL, resource_id, "dbw", scope, "why", ())
    first = next((w for w in waivers if w.matches(failed)), None)
    (result,), _ = apply_waivers([failed], waivers, date(2026, 11, 1))
    assert (result.waiver.justification if result.waiver else None) == (first.justification if first else None)


def cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    return run(list(argv), Streams(out, err)), out.getvalue(), err.getvalue()


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "cmkaudit.yaml"
    path.write_text(text)
    return str(path)


def test_demo_with_the_example_configuration(tmp_path: Path) -> None:
    example = str(ROOT / "docs" / "cmkaudit.example.yaml")
    code, out, _ = cli("scan", "--demo", "--config", example, "--output-dir", str(tmp_path))
    assert code == 1
    document = json.loads((tmp_path / "cmkaudit-results.json").read_text())
    suppressed = [
        (f["control_id"], f["resource_name"], f["scope"]) for f in document["findings"] if f["status"] == "SUPPRESSED"
    ]
    assert suppressed == [
        ("KV-03", "dbw-analytics-dev", "managedDisk"),
        ("KV-03", "dbw-analytics-dev", "managedServices"),
    ]
    assert [(w["control_id"], w["state"], w["findings"]) for w in document["waivers"]] == [
        ("KV-03", "applied", 2),
        ("KEY-01", "expired", 1),  # it ended on 2026-10-31; the demo was recorded on 2026-11-01
    ]
    assert "Waivers" in out and "expired" in out


def test_disabled_controls_are_not_evaluated(tmp_path: Path) -> None:
    config = write(tmp_path, "controls:\n  disable: [gov-01, KEY-04]\n")
    code, _, _ = cli("scan", "--demo", "--config", config, "--format", "json", "--output-dir", str(tmp_path))
    assert code == 1
    document = json.loads((tmp_path / "cmkaudit-results.json").read_text())
    assert {"GOV-01", "KEY-04"}.isdisjoint({f["control_id"] for f in document["findings"]})
    assert document["settings"]["disabled_controls"] == ["GOV-01", "KEY-04"]


def test_thresholds_from_the_file_and_flags_over_them(tmp_path: Path) -> None:
    config = write(tmp_path, "thresholds:\n  rotation_max_days: 700\n  min_key_size: 3072\n")
    cli("scan", "--demo", "--config", config, "--format", "json", "--output-dir", str(tmp_path / "a"))
    a = json.loads((tmp_path / "a" / "cmkaudit-results.json").read_text())
    statuses = {(f["control_id"], f["resource_name"], f["scope"]): f["status"] for f in a["findings"]}
    assert statuses[("KEY-04", "dbw-analytics-dev", "managedServices")] == "PASS"  # 597 days < 700
    assert statuses[("KEY-01", "dbw-analytics-dev", "managedServices")] == "FAIL"  # 2048 < 3072
    cli(
        "scan",
        "--demo",
        "--config",
        config,
        "--rotation-days",
        "90",
        "--format",
        "json",
        "--output-dir",
        str(tmp_path / "b"),
    )
    b = json.loads((tmp_path / "b" / "cmkaudit-results.json").read_text())
    assert b["settings"]["rotation_max_days"] == 90


def test_all_failures_waived_exit_0(tmp_path: Path) -> None:
    config = write(
        tmp_path,
        "waivers:\n"
        "  - control: DBX-01\n    resource: '*'\n    justification: nothing to see in this test\n"
        "    owner: tests\n    expires: 2030-01-01\n",
    )
    snapshot = tmp_path / "snap.json"
    cli("scan", "--demo", "--format", "json", "--output-dir", str(tmp_path), "--save-snapshot", str(snapshot))
    code, _, _ = cli("evaluate", str(snapshot), "--config", config, "--format", "json", "--output-dir", str(tmp_path))
    assert code == 1  # other controls still fail
    disable_rest = write(
        tmp_path,
        "controls:\n  disable: [" + ", ".join(sorted(KNOWN - {"DBX-01"})) + "]\n"
        "waivers:\n  - control: DBX-01\n    resource: '*'\n    justification: nothing to see in this test\n"
        "    owner: tests\n    expires: 2030-01-01\n",
    )
    code, _, _ = cli(
        "evaluate", str(snapshot), "--config", disable_rest, "--format", "json", "--output-dir", str(tmp_path)
    )
    assert code == 0


def test_bad_configuration_is_exit_2_before_scanning(tmp_path: Path) -> None:
    code, _, err = cli(
        "scan", "--subscription", "11111111-2222-4333-8444-555555555555", "--config", write(tmp_path, "colour: red\n")
    )
    assert code == 2
    assert "cmkaudit.yaml:1: colour: Extra inputs are not permitted" in err


def test_break_glass_principals_from_the_configuration(tmp_path: Path) -> None:
    """The central RBAC vault's key-custodians group holds Crypto Officer: allowed once it is break-glass."""
    from cmkaudit.collect.demo import replay_scan
    from cmkaudit.ids import SubscriptionId
    from cmkaudit.inventory.snapshot import save_snapshot

    subs = [
        SubscriptionId("1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"),
        SubscriptionId("9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a"),
    ]
    snapshot = tmp_path / "snap.json"
    save_snapshot(replay_scan(ROOT / "cassettes" / "cross-subscription-vault.yaml", subs, now=NOW), snapshot)

    def iam03(*extra: str) -> set[str]:
        cli("evaluate", str(snapshot), "--format", "json", "--output-dir", str(tmp_path), *extra)
        document = json.loads((tmp_path / "cmkaudit-results.json").read_text())
        return {f["status"] for f in document["findings"] if f["control_id"] == "IAM-03" and f["scope"] != "dbfsRoot"}

    assert iam03() == {"FAIL"}
    config = write(tmp_path, "break_glass_principals:\n  - 9e8f7a6b-5c4d-4e3f-8a2b-1c0d9e8f7a6b\n")
    assert iam03("--config", config) == {"PASS"}
