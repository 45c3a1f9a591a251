"""Hostile servers: the token never leaves for another host, every scan ends, nothing crashes, nothing a server
says reaches a terminal raw.

Each test scans the fake ARM server the way a user would, with answers an attacker (or a broken proxy) could
give, and checks that only reads reached it.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from tools.fakearm import GRAPH_QUERY_PATH, FakeArm, Faults, ForeignHost, Tenant, generate_tenant

from cmkaudit.cli import Streams, run

from .conftest import NOW, ROOT

TENANT = generate_tenant(subscriptions=2, workspaces=2)
SUB0, SUB1 = TENANT.subscriptions
WORKSPACES_0 = f"/subscriptions/{SUB0}/providers/Microsoft.Databricks/workspaces"
WORKSPACES_1 = f"/subscriptions/{SUB1}/providers/Microsoft.Databricks/workspaces"
ARM_TOKEN = "fake-arm-token"


def scan(
    arm: FakeArm,
    out: Path,
    monkeypatch: pytest.MonkeyPatch,
    *extra: str,
    ca_bundle: str | None = None,
    formats: str = "json",
) -> tuple[int, dict[str, Any], str, str]:
    """Scan every subscription of the fake tenant; (exit code, results document or {}, stdout, stderr)."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", ca_bundle or str(arm.ca_file))
    monkeypatch.setenv("CMKAUDIT_ACCESS_TOKEN", ARM_TOKEN)
    monkeypatch.setenv("CMKAUDIT_GRAPH_ACCESS_TOKEN", "fake-graph-token")
    subscriptions = [arg for sub in arm.tenant.subscriptions for arg in ("--subscription", sub)]
    argv = ["scan", *subscriptions, "--arm-endpoint", arm.url, "--graph-endpoint", arm.url]
    argv += ["--format", formats, "--output-dir", str(out), *extra]
    stdout, stderr = io.StringIO(), io.StringIO()
    code = run(argv, Streams(stdout, stderr), now=NOW)
    results = out / "cmkaudit-results.json"
    document = json.loads(results.read_text()) if results.exists() else {}
    allowed = {("GET", None), ("POST", GRAPH_QUERY_PATH)} if "resource-graph" in extra else {("GET", None)}
    sent = {(method, path.lower() if method != "GET" else None) for method, path, _ in arm.requests}
    assert sent <= allowed, arm.counts  # only reads, whatever the server said
    return code, document, stdout.getvalue(), stderr.getvalue()


def errors_of(document: dict[str, Any], operation: str) -> list[dict[str, Any]]:
    return [e for e in document["coverage"]["errors"] if e["operation"] == operation]


def first_workspace_page(next_link: str) -> dict[str, Any]:
    """The first workspace of subscription 0, and a link to a next page."""
    return {"value": TENANT.lists[WORKSPACES_0.lower()][:1], "nextLink": next_link}


# Credentials


def test_a_next_link_to_another_host_gets_no_token_and_is_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ARM's list answer names a next page on another host (whose certificate is trusted): nothing is sent
    there, the list is reported as not read in full, and the scan is incomplete (exit 3), not compliant."""
    with FakeArm(TENANT) as arm, ForeignHost() as foreign:
        link = f"{foreign.url}{WORKSPACES_0}?api-version=2026-01-01&page=2"
        arm.faults.answers[WORKSPACES_0] = (200, first_workspace_page(link), {})
        code, document, _, _ = scan(arm, tmp_path, monkeypatch, ca_bundle=foreign.bundle_with(arm.ca_file))
    assert foreign.received == []
    assert code == 3
    (error,) = errors_of(document, "list Databricks workspaces")
    assert error["code"] == "ForeignHostRefused" and "localhost" in error["message"]
    assert {"dbw-0-0", "dbw-1-0", "dbw-1-1"} <= {f["resource_name"] for f in document["findings"]}


def test_a_redirect_to_another_host_is_not_followed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A 302 to a foreign host: not followed (so its empty list cannot pass for 'no workspaces'), recorded."""
    with FakeArm(TENANT) as arm, ForeignHost() as foreign:
        arm.faults.answers[WORKSPACES_0] = (302, "", {"Location": f"{foreign.url}{WORKSPACES_0}"})
        code, document, _, _ = scan(arm, tmp_path, monkeypatch, ca_bundle=foreign.bundle_with(arm.ca_file))
    assert foreign.received == []
    assert code == 3
    (error,) = errors_of(document, "list Databricks workspaces")
    assert error["status_code"] == 302 and "redirect" in error["hint"]


def test_a_token_with_a_line_break_is_refused_before_any_request(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with FakeArm(TENANT) as arm:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(arm.ca_file))
        monkeypatch.setenv("CMKAUDIT_ACCESS_TOKEN", "eyJhbGciOi\nsecond-half-of-the-token")
        err = io.StringIO()
        argv = ["scan", "--subscription", SUB0, "--arm-endpoint", arm.url, "--output-dir", str(tmp_path)]
        code = run(argv, Streams(io.StringIO(), err), now=NOW)
        assert arm.requests == []
    assert code == 2
    assert "CMKAUDIT_ACCESS_TOKEN is not a usable token: character 11" in err.getvalue()
    assert "second-half" not in err.getvalue() and "eyJhbGciOi" not in err.getvalue()
    assert list(tmp_path.iterdir()) == []


def test_a_credential_returning_a_malformed_token_is_refused_without_quoting_it() -> None:
    from azure.core.credentials import AccessToken
    from azure.core.exceptions import ClientAuthenticationError

    from cmkaudit.collect.credentials import CheckedCredential

    class Leaky:
        def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
            return AccessToken("header.payload\r\nX-Injected: yes", 0)

    with pytest.raises(ClientAuthenticationError) as raised:
        CheckedCredential(Leaky()).get_token("https://management.azure.com/.default")
    assert "character 15" in str(raised.value) and "Injected" not in str(raised.value)


def test_library_messages_that_quote_a_token_are_scrubbed() -> None:
    """requests quotes the header value, token and all, when it refuses one; what reaches a report does not."""
    import requests

    from cmkaudit.text import scrub_secrets

    with pytest.raises(requests.exceptions.InvalidHeader) as raised:
        requests.utils.check_header_validity(("Authorization", "Bearer first-part\nsecond-part"))
    scrubbed = scrub_secrets(str(raised.value))
    assert "first-part" not in scrubbed and "second-part" not in scrubbed and "[redacted]" in scrubbed
    jwt = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJodHRwcyJ9.c2lnbmF0dXJl"
    assert scrub_secrets(f"token {jwt} rejected") == "token [redacted] rejected"
    assert scrub_secrets("GET https://user:hunter2@host/x failed") == "GET https://[redacted]@host/x failed"
    assert scrub_secrets("{'Authorization': 'abc.def'}") == "{'Authorization': '[redacted]'}"


@pytest.mark.parametrize(
    ("endpoint", "problem"),
    [
        ("https://scanner:hunter2@127.0.0.1:8443", "user information in the URL is refused"),
        ("http://127.0.0.1:8443", "is not an https:// URL"),
        ("https://", "has no host"),
        ("https://127.0.0.1:99999", "malformed port"),
        ("https://management.azure.com/?x=1", "no query string"),
    ],
)
@pytest.mark.parametrize("option", ["--arm-endpoint", "--graph-endpoint"])
def test_endpoints_are_checked_when_parsed(option: str, endpoint: str, problem: str) -> None:
    err = io.StringIO()
    code = run(["scan", "--subscription", SUB0, option, endpoint], Streams(io.StringIO(), err), now=NOW)
    assert code == 2 and problem in err.getvalue(), err.getvalue()
    assert "hunter2" not in err.getvalue()
    assert len(err.getvalue().splitlines()) == 2  # the error and its hint


# Termination


def test_a_next_link_to_the_same_page_ends_the_list(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeArm(TENANT) as arm:
        arm.faults.answers[WORKSPACES_0] = (200, first_workspace_page(f"{arm.url}{WORKSPACES_0}?page=2"), {})
        code, document, _, _ = scan(arm, tmp_path, monkeypatch)
        listed = [path for _, path, _ in arm.requests if path.lower() == WORKSPACES_0.lower()]
    assert len(listed) == 2  # the first page, and the link once: the second time it is a page already read
    assert code == 3
    (error,) = errors_of(document, "list Databricks workspaces")
    assert error["code"] == "EndlessList" and "already read" in error["message"]


def test_a_resource_graph_skip_token_that_repeats_ends_the_query(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with FakeArm(TENANT, Faults(graph_page_size=1, graph_repeat_token=True)) as arm:
        code, document, _, _ = scan(arm, tmp_path, monkeypatch, "--source", "resource-graph")
        queries = [status for method, _, status in arm.requests if method == "POST"]
    assert code == 3
    assert len(queries) == 2  # the subscriptions query: its first page, then the repeated token is refused
    assert {e["operation"] for e in document["coverage"]["errors"]} == {"query Azure Resource Graph"}
    assert all("$skipToken" in e["message"] for e in document["coverage"]["errors"])


@pytest.mark.parametrize("retry_after", ["100000", "Thu, 01 Jan 2099 00:00:00 GMT"], ids=["seconds", "http-date"])
def test_a_retry_after_beyond_the_cap_is_recorded_as_throttled(
    retry_after: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    throttled = {"error": {"code": "TooManyRequests", "message": "throttled"}}
    with FakeArm(TENANT) as arm:
        arm.faults.answers["/vaults/kv-0-1/keys/cmk"] = (429, throttled, {"Retry-After": retry_after})
        started = time.monotonic()
        code, document, _, _ = scan(arm, tmp_path, monkeypatch, "--max-retry-after", "5")
        elapsed = time.monotonic() - started
    assert elapsed < 30
    assert code == 3
    errors = [e for e in document["coverage"]["errors"] if "/vaults/kv-0-1/" in e["resource_id"]]
    assert {(e["operation"], e["status_code"]) for e in errors} == {("get key", 429), ("list key versions", 429)}
    assert all("longer than cmkaudit waits" in e["message"] and "--max-retry-after" in e["hint"] for e in errors)
    unknown = {(f["control_id"], f["resource_name"]) for f in document["findings"] if f["status"] == "UNKNOWN"}
    assert {workspace for _, workspace in unknown} == {"dbw-0-1"}


def test_a_server_that_never_answers_costs_seconds_not_minutes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Accepted and never answered: each attempt ends at --timeout, the retries are bounded, the scan ends."""
    with FakeArm(TENANT, Faults(hang=[WORKSPACES_0])) as arm:
        started = time.monotonic()
        code, document, _, _ = scan(arm, tmp_path, monkeypatch, "--timeout", "1")
        elapsed = time.monotonic() - started
    assert elapsed < 20  # four one-second attempts and their backoff
    assert code == 3
    (error,) = errors_of(document, "list Databricks workspaces")
    assert error["status_code"] is None and "no response" in error["hint"]


def test_default_timeouts_fit_resource_manager() -> None:
    from cmkaudit.collect.http import HttpLimits, pooled_transport

    transport = pooled_transport(10)
    assert (transport.connect_timeout, transport.read_timeout) == (10, 30)
    assert HttpLimits().call_deadline <= 300 and HttpLimits().max_retry_after == 120


def test_ctrl_c_ends_a_waiting_scan_at_once_and_writes_nothing(tmp_path: Path) -> None:
    """Ctrl-C while workers wait out a Retry-After and calls are queued: the process ends within a couple of
    seconds, with exit code 130, no report and no temporary file."""
    tenant = generate_tenant(subscriptions=1, workspaces=8)
    throttled = {"error": {"code": "TooManyRequests", "message": "throttled"}}
    with FakeArm(tenant, Faults(latency=0.2)) as arm:
        arm.faults.answers["/keys/cmk"] = (429, throttled, {"Retry-After": "100"})
        env = {
            **os.environ,
            "REQUESTS_CA_BUNDLE": str(arm.ca_file),
            "CMKAUDIT_ACCESS_TOKEN": ARM_TOKEN,
            "CMKAUDIT_GRAPH_ACCESS_TOKEN": "fake-graph-token",
            "PYTHONPATH": str(ROOT / "src"),
        }
        argv = [sys.executable, "-m", "cmkaudit", "scan", "--subscription", tenant.subscriptions[0]]
        argv += ["--arm-endpoint", arm.url, "--graph-endpoint", arm.url, "--concurrency", "2"]
        argv += ["--format", "json,sarif,html", "--output-dir", str(tmp_path / "out")]
        argv += ["--save-snapshot", str(tmp_path / "snapshot.json")]
        process = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 30
        while not any(status == 429 for _, _, status in arm.requests) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert any(status == 429 for _, _, status in arm.requests), "the scan never reached the keys"
        time.sleep(0.3)  # the workers are now waiting out Retry-After: 100, and other calls are queued
        process.send_signal(signal.SIGINT)
        interrupted = time.monotonic()
        try:
            _, stderr = process.communicate(timeout=10)
        finally:
            process.kill()
        ended = time.monotonic() - interrupted
    assert process.returncode == 130
    assert ended < 3, ended
    assert "cmkaudit: error: interrupted" in stderr and "Traceback" not in stderr
    assert list(tmp_path.iterdir()) == []


# Availability


def registration_missing(namespace: str) -> dict[str, Any]:
    """ARM's 409 for a subscription that never registered `namespace`."""
    message = (
        f"The subscription is not registered to use namespace '{namespace}'. "
        "See https://aka.ms/rps-not-found for how to register subscriptions."
    )
    return {
        "error": {
            "code": "MissingSubscriptionRegistration",
            "message": message,
            "details": [{"code": "MissingSubscriptionRegistration", "target": namespace, "message": message}],
        }
    }


def test_a_subscription_without_databricks_registered_has_no_workspaces(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """409 MissingSubscriptionRegistration for Microsoft.Databricks: that subscription holds no workspace (a
    note, not an error); the provider is not registered (a POST), and the rest of the scan goes on."""
    with FakeArm(TENANT) as arm:
        arm.faults.answers[WORKSPACES_1] = (409, registration_missing("Microsoft.Databricks"), {})
        code, document, _, _ = scan(arm, tmp_path, monkeypatch)
    assert code == 0
    assert document["coverage"]["errors"] == []
    assert document["coverage"]["notes"] == [
        f"{SUB1}: Microsoft.Databricks is not registered in this subscription, so it has no workspaces"
    ]
    assert {f["resource_name"] for f in document["findings"]} == {"dbw-0-0", "dbw-0-1"}


def test_another_provider_not_registered_is_a_recorded_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeArm(TENANT) as arm:
        vaults = f"/subscriptions/{SUB1}/providers/Microsoft.KeyVault/vaults"
        arm.faults.answers[vaults] = (409, registration_missing("Microsoft.KeyVault"), {})
        code, document, _, _ = scan(arm, tmp_path, monkeypatch)
    assert code == 3
    (error,) = document["coverage"]["errors"]
    assert (error["operation"], error["status_code"], error["code"]) == (
        "list key vaults",
        409,
        "MissingSubscriptionRegistration",
    )
    assert "does not register it" in error["hint"]


def test_a_challenge_for_another_resource_is_recorded_not_a_crash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The vault's data plane answers with a challenge naming another resource: azure-keyvault-keys refuses it
    (a ValueError), which is one refused call per key, not the end of the scan."""
    from azure.keyvault.keys._shared import http_challenge_cache

    # azure-keyvault-keys keeps each vault host's challenge for the life of the process: forget those that
    # earlier tests' vaults (of the same names) answered, so that these vaults are asked again.
    http_challenge_cache.clear()
    tenant = generate_tenant(subscriptions=1, workspaces=2, rotation_policy_in_arm=False)
    with FakeArm(tenant, Faults(challenge_resource="https://vault.evil.example")) as arm:
        monkeypatch.setenv("HTTPS_PROXY", arm.proxy_url)
        monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
        monkeypatch.setenv("CMKAUDIT_KEYVAULT_ACCESS_TOKEN", "fake-kv-token")
        code, document, _, _ = scan(arm, tmp_path, monkeypatch)
        data_plane = {status for _, path, status in arm.requests if ".vault.azure.net/" in path}
    assert code == 3
    assert data_plane == {401}  # the challenge only: no request with a token
    errors = document["coverage"]["errors"]
    assert len(errors) == 2 and {e["code"] for e in errors} == {"ChallengeRefused"}
    unknown = {f["control_id"] for f in document["findings"] if f["status"] == "UNKNOWN"}
    assert unknown == {"KEY-03"}


def test_a_vault_uri_off_the_key_vault_domain_is_not_contacted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Resource Manager reports a vault URI on another domain: the Key Vault token is not sent there."""
    tenant = generate_tenant(subscriptions=1, workspaces=1, rotation_policy_in_arm=False)
    (vault,) = tenant.lists[f"/subscriptions/{tenant.subscriptions[0]}/providers/microsoft.keyvault/vaults"]
    with FakeArm(tenant) as arm, ForeignHost() as foreign:
        vault["properties"]["vaultUri"] = f"{foreign.url}/"
        for items in tenant.lists.values():  # every reference to the vault follows its reported URI
            text = json.dumps(items).replace("https://kv-0-0.vault.azure.net", foreign.url)
            items[:] = json.loads(text)
        monkeypatch.setenv("CMKAUDIT_KEYVAULT_ACCESS_TOKEN", "fake-kv-token")
        code, document, _, _ = scan(arm, tmp_path, monkeypatch, ca_bundle=foreign.bundle_with(arm.ca_file))
    assert foreign.received == []
    assert code == 3
    (error,) = document["coverage"]["errors"]
    assert error["code"] == "ForeignHostRefused" and "not on a Key Vault domain" in error["message"]


# Output safety

HOSTILE_WORKSPACE = "dbw-0-0\nFAKE LINE: every control passed\x1b[2J"
HOSTILE_VAULT = "kv\x1b]8;;https://evil.example/\x07click me\x1b]8;;\x07\u202e"


def hostile_tenant() -> Tenant:
    tenant = generate_tenant(subscriptions=1, workspaces=1)
    sub = tenant.subscriptions[0]
    (workspace,) = tenant.lists[f"/subscriptions/{sub}/providers/microsoft.databricks/workspaces"]
    workspace["name"] = HOSTILE_WORKSPACE
    (vault,) = tenant.lists[f"/subscriptions/{sub}/providers/microsoft.keyvault/vaults"]
    vault["name"] = HOSTILE_VAULT
    return tenant


def test_hostile_names_and_hints_reach_the_terminal_escaped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Escape sequences, an OSC 8 hyperlink, a bidirectional override and a line break in names (and in the
    403 hint that quotes the vault's name) appear escaped in the console report and the log lines."""
    with FakeArm(hostile_tenant(), Faults(forbid=["/keys/"])) as arm:
        hostile_link = f"{arm.url}/subscriptions/{arm.tenant.subscriptions[0]}/\x1b[2Jnext"
        workspaces = f"/subscriptions/{arm.tenant.subscriptions[0]}/providers/Microsoft.Databricks/workspaces"
        page = {"value": arm.tenant.lists[workspaces.lower()], "nextLink": hostile_link}
        arm.faults.answers[workspaces] = (200, page, {})
        code, _, stdout, stderr = scan(arm, tmp_path, monkeypatch, formats="console,json")
    assert code == 3
    for output in (stdout, stderr):
        assert not any(char in output for char in "\x1b\x07\u202e"), output
        assert not any(line.startswith("FAKE LINE") for line in output.splitlines())
    assert "kv\\x1b]8;;https://evil.ex" in stdout  # shown escaped (the table may wrap the rest)
    assert "dbw-0-0\\nFAKE LINE" in stdout
    assert "\\x1b[2Jnext: HTTP 404" in stderr  # the failed call's URL, in a log line


def test_json_log_lines_are_escaped_too() -> None:
    from cmkaudit.progress import LogFormat, LogObserver, Messages

    stream = io.StringIO()
    observer = LogObserver(Messages(stream, LogFormat.JSON))
    observer.call("GET", "https://management.azure.com/subscriptions/x/\x1b[31m\u202eevil", 404)
    (record,) = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert "\x1b" not in stream.getvalue() and "\u202e" not in record["url"]
    assert record["url"].endswith("/subscriptions/x/\\x1b[31m\\u202eevil")
