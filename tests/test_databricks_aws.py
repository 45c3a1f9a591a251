"""`cmkaudit scan --databricks-account` end to end, through the real databricks-sdk and boto3 clients, against the
fake account API and KMS of tools/fakeaws.py (over TLS): findings, read-only guards, refusals."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from tools.fakeaws import (
    ACCOUNT_ID,
    GRANT_ACTIONS,
    MANAGED_SERVICES_ACTIONS,
    STORAGE_ACTIONS,
    FakeAccount,
    FakeAws,
    FakeKey,
    databricks_statement,
    key_configuration,
    key_policy,
    workspace,
)

from cmkaudit.aws.collect import AwsOptions, _guard_session, _KmsClients
from cmkaudit.cli import Streams, run
from cmkaudit.errors import WriteBlockedError

from .conftest import NOW

ADMIN = "arn:aws:iam::444455556666:role/KeyAdmins"


def good_key(**changes: Any) -> FakeKey:
    policy = key_policy(
        databricks_statement(MANAGED_SERVICES_ACTIONS + STORAGE_ACTIONS[2:], sid="Databricks use"),
        databricks_statement(
            GRANT_ACTIONS,
            sid="Databricks grants",
            Condition={
                "StringEquals": {"aws:PrincipalTag/DatabricksAccountId": [ACCOUNT_ID]},
                "Bool": {"kms:GrantIsForAWSResource": "true"},
            },
        ),
        admins=(ADMIN,),
    )
    return FakeKey("1234abcd-12ab-34cd-56ef-1234567890ab", policy, aliases=["alias/dbx-prod"], **changes)


def account(key: FakeKey, **workspace_changes: Any) -> FakeAccount:
    ws = workspace(1001, "dbx-prod", managed_services="cfg-1", storage="cfg-1", tags={"environment": "prod"})
    ws.update(workspace_changes)
    return FakeAccount(ACCOUNT_ID, [ws], [key_configuration("cfg-1", key, ["MANAGED_SERVICES", "STORAGE"])], [key])


def scan(
    tmp_path: Path, fake: FakeAccount, monkeypatch: pytest.MonkeyPatch
) -> tuple[int, dict[str, Any], str, FakeAws]:
    config = tmp_path / "cmkaudit.yaml"
    config.write_text(f"break_glass_principals:\n  - {ADMIN}\n")
    with FakeAws(fake) as aws:
        aimed_at(aws, monkeypatch)
        err = io.StringIO()
        code = run(
            [
                "scan",
                "--databricks-account",
                ACCOUNT_ID,
                "--config",
                str(config),
                "--format",
                "json,sarif",
                "--output-dir",
                str(tmp_path / "out"),
            ],
            Streams(io.StringIO(), err),
            now=NOW,
        )
    results = json.loads((tmp_path / "out" / "cmkaudit-results.json").read_text()) if code != 2 else {}
    assert_only_reads(aws)
    return code, results, err.getvalue(), aws


READS = {
    "DescribeKey",
    "GetKeyPolicy",
    "GetKeyRotationStatus",
    "ListKeyRotations",
    "ListAliases",
    "ListResourceTags",
    "GetAccountAuthorizationDetails",
    "AssumeRole",
}


def assert_only_reads(aws: FakeAws) -> None:
    """Every request the scan sent was a read: GET on the account API, a read operation of KMS, IAM or STS."""
    for method, path, operation in aws.requests:
        assert method == "GET" or (method == "POST" and operation in READS), (method, path, operation)


def aimed_at(aws: FakeAws, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point the SDKs at the fake server, as a user's environment would (endpoints, CA bundle, credentials)."""
    for name, value in aws.environment().items():
        monkeypatch.setenv(name, value)


def verdicts(results: dict[str, Any]) -> dict[tuple[str, str | None], str]:
    return {(f["control_id"], f["scope"]): f["status"] for f in results["findings"]}


def test_a_compliant_account_passes_and_only_reads_are_sent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    code, results, err, aws = scan(tmp_path, account(good_key()), monkeypatch)
    statuses = verdicts(results)
    assert {s for (c, _), s in statuses.items() if c != "AWS-12"} == {"PASS"}, (statuses, err)
    assert statuses[("AWS-12", None)] == "NOT_APPLICABLE"
    assert code == 0
    kms = {op for method, _, op in aws.requests if method == "POST"}
    assert kms == {
        "DescribeKey",
        "GetKeyPolicy",
        "GetKeyRotationStatus",
        "ListKeyRotations",
        "ListAliases",
        "ListResourceTags",
    }
    assert {method for method, _, _ in aws.requests} == {"GET", "POST"}
    assert all(op is not None for method, _, op in aws.requests if method == "POST")
    assert results["scan"]["accounts"] == [ACCOUNT_ID]
    sarif = json.loads((tmp_path / "out" / "cmkaudit.sarif").read_text())
    assert sarif["runs"][0]["automationDetails"]["id"] == f"cmkaudit/{ACCOUNT_ID}/"


def test_a_broken_key_fails_what_it_breaks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = good_key(state="PendingDeletion", deletion="2026-12-20", rotation_period=365)
    code, results, _, _ = scan(tmp_path, account(key, pricing_tier="PREMIUM"), monkeypatch)
    statuses = verdicts(results)
    assert statuses[("AWS-01", None)] == "FAIL"
    assert statuses[("AWS-05", "managedServices")] == statuses[("AWS-05", "workspaceStorage")] == "FAIL"
    assert statuses[("AWS-07", "managedServices")] == "FAIL"
    reason = next(f["reason"] for f in results["findings"] if f["control_id"] == "AWS-05")
    assert "PendingDeletion, deletion on 2026-12-20" in reason
    assert code == 1


def test_a_refused_key_policy_is_unknown_with_the_permission(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = good_key(refuse={"GetKeyPolicy": "AccessDeniedException"})
    code, results, _, _ = scan(tmp_path, account(key), monkeypatch)
    statuses = verdicts(results)
    for control in ("AWS-08", "AWS-09", "AWS-10"):
        assert statuses[(control, "managedServices")] == "UNKNOWN"
    reason = next(f["reason"] for f in results["findings"] if f["control_id"] == "AWS-08")
    assert "allow kms:GetKeyPolicy on the key" in reason
    assert [e["operation"] for e in results["coverage"]["errors"]] == ["GetKeyPolicy"]
    assert statuses[("AWS-07", "managedServices")] == "PASS"  # the rest of the key was read
    assert code == 3


def test_an_account_the_identity_may_not_list_is_one_clear_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = account(good_key())
    fake.fail["/workspaces"] = 403
    code, _, err, _ = scan(tmp_path, fake, monkeypatch)
    assert code == 2 and "Traceback" not in err
    assert "cannot list the workspaces of Databricks account" in err and "account admin" in err


def test_a_redirected_account_api_is_not_followed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A redirect, even to an answer of "nothing here", is an error: never "no workspaces" or "no keys", exit 0."""
    fake = account(good_key())
    fake.redirect["/workspaces"] = "/elsewhere"
    code, _, err, aws = scan(tmp_path, fake, monkeypatch)
    assert code == 2 and "redirect" in err and "Traceback" not in err, err
    assert not any(path == "/elsewhere" for _, path, _ in aws.requests)
    del fake.redirect["/workspaces"]
    fake.redirect["/customer-managed-keys"] = "/elsewhere"
    code, results, err, aws = scan(tmp_path, fake, monkeypatch)
    assert code == 3, err
    (error,) = results["coverage"]["errors"]
    assert error["code"] == "RedirectRefused" and "HTTP 302" in error["message"]
    assert not any(path == "/elsewhere" for _, path, _ in aws.requests)


def test_the_guards_refuse_writes_before_they_are_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    from databricks.sdk import AccountClient
    from databricks.sdk.config import Config

    with FakeAws(account(good_key())) as aws:
        aimed_at(aws, monkeypatch)
        kms = _KmsClients(AwsOptions(account_id=ACCOUNT_ID)).client("444455556666", "us-east-1")
        with pytest.raises(WriteBlockedError):
            kms.schedule_key_deletion(KeyId=good_key().arn, PendingWindowInDays=7)
        client = AccountClient(config=Config(account_id=ACCOUNT_ID, retry_timeout_seconds=5))
        _guard_session(client)
        with pytest.raises(WriteBlockedError):
            client.workspaces.delete(1001)
        sent = list(aws.requests)
    assert not any(op == "ScheduleKeyDeletion" for _, _, op in sent)
    assert not any(method == "DELETE" for method, _, _ in sent)


def test_a_malformed_account_id_is_refused(tmp_path: Path) -> None:
    err = io.StringIO()
    code = run(["scan", "--databricks-account", "not-an-id"], Streams(io.StringIO(), err), now=NOW)
    assert code == 2 and "is not a Databricks account id" in err.getvalue()


def test_a_snapshot_of_an_account_evaluates_to_the_same_reports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with FakeAws(account(good_key(rotation_period=365))) as aws:
        aimed_at(aws, monkeypatch)
        first = run(
            [
                "scan",
                "--databricks-account",
                ACCOUNT_ID,
                "--format",
                "sarif",
                "--output-dir",
                str(tmp_path / "a"),
                "--save-snapshot",
                str(tmp_path / "s.json"),
            ],
            Streams(io.StringIO(), io.StringIO()),
            now=NOW,
        )
    second = run(
        ["evaluate", str(tmp_path / "s.json"), "--format", "sarif", "--output-dir", str(tmp_path / "b")],
        Streams(io.StringIO(), io.StringIO()),
        now=NOW,
    )
    assert first == second == 1
    assert (tmp_path / "a" / "cmkaudit.sarif").read_bytes() == (tmp_path / "b" / "cmkaudit.sarif").read_bytes()


def test_the_aws_demo_replays_through_the_sdks_and_exercises_every_aws_control(tmp_path: Path) -> None:
    from cmkaudit.evaluate.catalog import AppliesTo, load_catalog

    err = io.StringIO()
    code = run(
        ["scan", "--demo", "aws", "--format", "json", "--output-dir", str(tmp_path)],
        Streams(io.StringIO(), err),
        now=NOW,
    )
    results = json.loads((tmp_path / "cmkaudit-results.json").read_text())
    seen: dict[str, set[str]] = {}
    for finding in results["findings"]:
        seen.setdefault(finding["control_id"], set()).add(finding["status"])
    aws = {c.id for c in load_catalog() if c.applies_to in (AppliesTo.AWS_WORKSPACE, AppliesTo.AWS_KEY_USAGE)}
    assert set(seen) == aws
    assert [c for c, statuses in seen.items() if not {"PASS", "FAIL"} <= statuses] == []
    assert results["coverage"]["errors"] == []
    # Evaluated as of the recording (2026-11-01), not as of the test's clock.
    assert results["scan"]["collected_at"].startswith("2026-11-01T12:00:00")
    assert results["scan"]["sources"] == ["databricks-account-recording"]
    assert code == 1  # findings failed (and AWS-10 is UNKNOWN on the key whose policy delegates to IAM)


def test_azure_and_aws_snapshots_evaluate_together(tmp_path: Path) -> None:
    streams = Streams(io.StringIO(), io.StringIO())
    for cloud in ("azure", "aws"):
        args = ["scan", "--demo", cloud, "--format", "json", "--output-dir", str(tmp_path / cloud)]
        assert run([*args, "--save-snapshot", str(tmp_path / f"{cloud}.json")], streams, now=NOW) == 1
    out = tmp_path / "both"
    code = run(
        [
            "evaluate",
            str(tmp_path / "azure.json"),
            str(tmp_path / "aws.json"),
            "--format",
            "json,sarif,html",
            "--output-dir",
            str(out),
        ],
        streams,
        now=NOW,
    )
    assert code == 1
    both = json.loads((out / "cmkaudit-results.json").read_text())
    alone = {c: json.loads((tmp_path / c / "cmkaudit-results.json").read_text()) for c in ("azure", "aws")}
    # Every finding of each cloud, as each alone judged it (the merged evaluation is as of the later recording).
    assert {w["cloud"] for w in both["workspaces"]} == {"azure", "aws"}
    assert both["scan"]["cloud"] == "AzureCloud + aws"
    assert both["scan"]["accounts"] == alone["aws"]["scan"]["accounts"]
    aws_findings = [f for f in both["findings"] if f["control_id"].startswith("AWS-")]
    assert [(f["control_id"], f["resource_id"], f["status"]) for f in aws_findings] == [
        (f["control_id"], f["resource_id"], f["status"]) for f in alone["aws"]["findings"]
    ]
    assert len(both["findings"]) == len(alone["azure"]["findings"]) + len(alone["aws"]["findings"])
    assert "Databricks (Azure and AWS)" in (out / "cmkaudit-report.html").read_text()


ROOT_DELEGATION = {
    "Sid": "Enable IAM User Permissions",
    "Effect": "Allow",
    "Principal": {"AWS": "arn:aws:iam::444455556666:root"},
    "Action": "kms:*",
    "Resource": "*",
}


def iam_role(name: str, *statements: dict[str, Any]) -> dict[str, Any]:
    return {
        "RoleName": name,
        "Arn": f"arn:aws:iam::444455556666:role/{name}",
        "RolePolicyList": [
            {"PolicyName": f"{name}-kms", "PolicyDocument": {"Version": "2012-10-17", "Statement": list(statements)}}
        ],
    }


def delegating_key() -> FakeKey:
    key = good_key()
    document = json.loads(key.policy)
    document["Statement"] = [ROOT_DELEGATION, *document["Statement"][1:]]  # no key administrators statement
    key.policy = json.dumps(document)
    return key


@pytest.mark.parametrize(
    ("roles", "refused", "status", "fragment"),
    [
        (
            [iam_role("KeyAdmins", {"Effect": "Allow", "Action": "kms:*", "Resource": "*"})],
            False,
            "PASS",
            "only break-glass",
        ),
        (
            [
                iam_role(
                    "DataEngineers",
                    {
                        "Effect": "Allow",
                        "Action": ["kms:Describe*", "kms:DisableKey"],
                        "Resource": "arn:aws:kms:*:444455556666:key/*",
                    },
                )
            ],
            False,
            "FAIL",
            "role/DataEngineers (kms:DisableKey by DataEngineers-kms)",
        ),
        (
            [
                iam_role(
                    "Auditors",
                    {"Effect": "Allow", "Action": "kms:*", "Resource": "*"},
                    {"Effect": "Deny", "Action": "kms:*", "Resource": "*"},
                )
            ],
            False,
            "PASS",
            "only break-glass",
        ),
        ([], True, "UNKNOWN", "allow iam:GetAccountAuthorizationDetails in account 444455556666"),
    ],
    ids=["break-glass-only", "another-role-may-disable", "deny-wins", "iam-refused"],
)
def test_a_key_policy_delegating_to_iam_is_judged_on_the_accounts_iam(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    roles: list[dict[str, Any]],
    refused: bool,
    status: str,
    fragment: str,
) -> None:
    fake = account(delegating_key())
    fake.iam_roles, fake.iam_refused = roles, refused
    _, results, _, aws = scan(tmp_path, fake, monkeypatch)
    aws10 = [f for f in results["findings"] if f["control_id"] == "AWS-10"]
    assert {f["status"] for f in aws10} == {status}
    assert fragment in aws10[0]["reason"], aws10[0]["reason"]
    assert sum(1 for _, _, op in aws.requests if op == "GetAccountAuthorizationDetails") == 1  # once per account


def test_a_key_of_another_account_is_read_through_the_role_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = good_key(account="111122223333")
    fake = account(key)
    fake.assumable = ["arn:aws:iam::111122223333:role/cmkaudit-read"]
    config = tmp_path / "cmkaudit.yaml"
    config.write_text(f"break_glass_principals:\n  - {ADMIN}\n")
    with FakeAws(fake) as aws:
        aimed_at(aws, monkeypatch)
        code = run(
            [
                "scan",
                "--databricks-account",
                ACCOUNT_ID,
                "--aws-role-arn",
                "arn:aws:iam::{account}:role/cmkaudit-read",
                "--config",
                str(config),
                "--format",
                "json",
                "--output-dir",
                str(tmp_path / "out"),
            ],
            Streams(io.StringIO(), io.StringIO()),
            now=NOW,
        )
        assert_only_reads(aws)
    results = json.loads((tmp_path / "out" / "cmkaudit-results.json").read_text())
    assert fake.assumed == ["arn:aws:iam::111122223333:role/cmkaudit-read"]
    assert results["coverage"]["errors"] == [] and code == 0


def test_a_role_that_cannot_be_assumed_leaves_the_key_unknown(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = account(good_key(account="111122223333"))
    with FakeAws(fake) as aws:
        aimed_at(aws, monkeypatch)
        code = run(
            [
                "scan",
                "--databricks-account",
                ACCOUNT_ID,
                "--aws-role-arn",
                "arn:aws:iam::{account}:role/missing",
                "--format",
                "json",
                "--output-dir",
                str(tmp_path / "out"),
            ],
            Streams(io.StringIO(), io.StringIO()),
            now=NOW,
        )
    results = json.loads((tmp_path / "out" / "cmkaudit-results.json").read_text())
    aws05 = [f for f in results["findings"] if f["control_id"] == "AWS-05"]
    assert {f["status"] for f in aws05} == {"UNKNOWN"}
    assert [e["operation"] for e in results["coverage"]["errors"]] == ["AssumeRole"]
    assert "let the scanner assume arn:aws:iam::111122223333:role/missing" in aws05[0]["reason"] and code == 3


def test_throttling_is_retried_not_recorded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = account(good_key(throttle={"DescribeKey": 2, "GetKeyPolicy": 1}))
    fake.throttle_api = 1
    code, results, _, aws = scan(tmp_path, fake, monkeypatch)
    assert results["coverage"]["errors"] == [] and code == 0
    assert sum(1 for _, _, op in aws.requests if op == "DescribeKey") == 3  # two throttled, then answered
    assert sum(1 for method, path, _ in aws.requests if method == "GET" and path.endswith("/workspaces")) == 2


@pytest.mark.parametrize(
    ("patch", "control", "operation"),
    [
        ({"GetKeyRotationStatus": {"KeyRotationEnabled": "false"}}, "AWS-07", "GetKeyRotationStatus"),
        ({"DescribeKey": {"KeyMetadata": {"KeyState": ["Enabled"]}}}, "AWS-05", "DescribeKey"),
        ({"ListKeyRotations": {"Truncated": True, "NextMarker": ""}}, "AWS-07", "ListKeyRotations"),
    ],
    ids=["string-for-bool", "list-for-string", "truncated-without-marker"],
)
def test_a_field_of_the_wrong_type_is_a_recorded_error_not_a_verdict(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, patch: dict[str, Any], control: str, operation: str
) -> None:
    """botocore passes wrong types through: "false" is not False, nor is it True."""
    code, results, err, _ = scan(tmp_path, account(good_key(patch=patch)), monkeypatch)
    assert {s for (c, _), s in verdicts(results).items() if c == control} <= {"UNKNOWN"}, err
    assert any(e["operation"] == operation and e["code"] == "MalformedAnswer" for e in results["coverage"]["errors"])
    assert code == 3


def test_a_list_that_repeats_its_marker_is_not_taken_as_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = good_key(patch={"ListAliases": {"Truncated": True, "NextMarker": "again"}})
    code, results, err, aws = scan(tmp_path, account(key), monkeypatch)
    (error,) = results["coverage"]["errors"]
    assert error["code"] == "MalformedAnswer" and "repeated marker" in error["message"], err
    assert sum(1 for m, _, op in aws.requests if op == "ListAliases") == 2
    assert code == 3


@pytest.mark.parametrize(
    ("field", "value"),
    [("aws_region", 5), ("workspace_name", ["x"]), ("custom_tags", {"environment": 1})],
)
def test_a_malformed_workspace_field_is_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, field: str, value: Any
) -> None:
    """The SDK passes such fields through as they came (an enum it does not know, it drops: AWS-01 is then UNKNOWN)."""
    code, results, err, _ = scan(tmp_path, account(good_key(), **{field: value}), monkeypatch)
    (error,) = results["coverage"]["errors"]
    assert error["code"] == "MalformedAnswer" and field in error["message"] + error["resource_id"], err
    assert code == 3


def test_a_key_policy_of_a_huge_statement_is_refused_not_matched_for_minutes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """300,000 actions in a statement: from KMS the policy is unreadable (UNKNOWN); in a snapshot, one line."""
    import time

    huge = [f"kms:Action{n}" for n in range(300_000)]
    statement = databricks_statement(huge, sid="huge")
    started = time.monotonic()
    key = good_key()
    key.policy = key_policy(statement, admins=(ADMIN,))
    code, results, err, _ = scan(tmp_path, account(key), monkeypatch)
    assert time.monotonic() - started < 60
    assert verdicts(results)[("AWS-08", "managedServices")] == "UNKNOWN", err
    assert code == 3
    # The same in a snapshot, whose statements are records that no parser sees.
    with FakeAws(account(good_key())) as aws:
        aimed_at(aws, monkeypatch)
        argv = ["scan", "--databricks-account", ACCOUNT_ID, "--save-snapshot", str(tmp_path / "s.json")]
        run([*argv, "--output-dir", str(tmp_path / "a")], Streams(io.StringIO(), io.StringIO()), now=NOW)
    document = json.loads((tmp_path / "s.json").read_text())
    document["kms_keys"][0]["policy"][0]["actions"] = huge
    (tmp_path / "s.json").write_text(json.dumps(document))
    err_stream = io.StringIO()
    started = time.monotonic()
    code = run(
        ["evaluate", str(tmp_path / "s.json"), "--output-dir", str(tmp_path / "b")], Streams(io.StringIO(), err_stream)
    )
    assert time.monotonic() - started < 60
    assert code == 2 and "more than any policy AWS accepts" in err_stream.getvalue()
