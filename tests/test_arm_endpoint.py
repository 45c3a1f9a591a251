"""A scan against a local HTTPS endpoint, exactly as a user would point cmkaudit at one.

`--arm-endpoint`, a pre-issued token in CMKAUDIT_ACCESS_TOKEN, and TLS verification that stays on and
trusts the CA named by REQUESTS_CA_BUNDLE.
"""

from __future__ import annotations

import io
import json
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import trustme

from cmkaudit.cli import Streams, run

from .conftest import NOW, arm_example

SUB = "11111111-1111-1111-1111-111111111111"  # the subscription of the official WorkspaceGet example
TOKEN = "pre-issued-arm-token"
TENANT = "44444444-4444-4444-4444-444444444444"


class Recorder:
    def __init__(self) -> None:
        self.requests: list[tuple[str, str, str | None]] = []
        self.routes: dict[str, dict[str, Any]] = {
            f"/subscriptions/{SUB}": {
                "subscriptionId": SUB,
                "tenantId": TENANT,
                "displayName": "Test",
                "state": "Enabled",
            },
            f"/subscriptions/{SUB}/providers/Microsoft.Databricks/workspaces": {
                "value": [arm_example("WorkspaceGet.json")]
            },
            f"/subscriptions/{SUB}/providers/Microsoft.Storage/storageAccounts": {"value": []},
        }


def _handler(recorder: Recorder) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            recorder.requests.append((self.command, self.path, self.headers.get("Authorization")))
            body = recorder.routes.get(self.path.split("?", 1)[0]) if self.command == "GET" else None
            payload = json.dumps(body if body is not None else {"error": {"code": "NotFound", "message": "no"}})
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload.encode())

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

        def log_message(self, *args: object) -> None:
            pass

    return Handler


@pytest.fixture
def https_arm(tmp_path: Path) -> Iterator[tuple[str, Path, Recorder]]:
    ca = trustme.CA()
    certificate = ca.issue_cert("127.0.0.1")
    recorder = Recorder()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(recorder))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    certificate.configure_cert(context)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    ca_file = tmp_path / "test-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}", ca_file, recorder
    finally:
        server.shutdown()
        server.server_close()


def scan(endpoint: str, out: Path) -> tuple[int, str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    code = run(
        ["scan", "--subscription", SUB, "--arm-endpoint", endpoint, "--format", "json", "--output-dir", str(out)],
        Streams(stdout, stderr),
        now=NOW,
    )
    return code, stderr.getvalue()


def test_scan_against_a_custom_endpoint_with_a_pre_issued_token(
    https_arm: tuple[str, Path, Recorder], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint, ca_file, recorder = https_arm
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(ca_file))
    monkeypatch.setenv("CMKAUDIT_ACCESS_TOKEN", TOKEN)
    code, err = scan(endpoint, tmp_path)
    assert code == 1, err  # the example workspace is Premium but has no CMK at all
    # The subscription and its workspace list are read side by side, so their order varies.
    assert sorted(recorder.requests) == sorted(
        [
            ("GET", f"/subscriptions/{SUB}?api-version=2022-12-01", f"Bearer {TOKEN}"),
            (
                "GET",
                f"/subscriptions/{SUB}/providers/Microsoft.Databricks/workspaces?api-version=2026-01-01",
                f"Bearer {TOKEN}",
            ),
            (
                "GET",
                f"/subscriptions/{SUB}/providers/Microsoft.Storage/storageAccounts?api-version=2025-06-01",
                f"Bearer {TOKEN}",
            ),
        ]
    )
    document = json.loads((tmp_path / "cmkaudit-results.json").read_text())
    assert document["scan"]["arm_endpoint"] == endpoint
    statuses = {f["control_id"]: f["status"] for f in document["findings"] if f["scope"] is None}
    assert statuses == {
        "DBX-01": "PASS",
        "DBX-02": "FAIL",
        "DBX-03": "FAIL",
        "DBX-04": "NOT_APPLICABLE",
        "DBX-05": "FAIL",
        "DBX-06": "UNKNOWN",  # parameters: null, and no storage account to read
        "GOV-02": "NOT_APPLICABLE",
    }


def test_tls_verification_stays_on(
    https_arm: tuple[str, Path, Recorder], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the test CA the certificate is refused: the scan is incomplete, nothing is sent in clear."""
    endpoint, _, recorder = https_arm
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    monkeypatch.setenv("CMKAUDIT_ACCESS_TOKEN", TOKEN)
    code, _ = scan(endpoint, tmp_path)
    assert code == 3
    assert recorder.requests == []
    document = json.loads((tmp_path / "cmkaudit-results.json").read_text())
    errors = {e["operation"]: e for e in document["coverage"]["errors"]}
    assert set(errors) == {"read the subscription", "list Databricks workspaces"}
    error = errors["list Databricks workspaces"]
    assert error["status_code"] is None
    assert "certificate" in error["message"].lower() or "ssl" in error["message"].lower()


def test_proxy_and_ca_settings_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The environment is read with requests' own rules (HTTPS_PROXY, NO_PROXY, the CA bundle variables)."""
    from cmkaudit.collect.http import pooled_transport

    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "graph.microsoft.com")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/corporate.pem")
    transport = pooled_transport(4)
    assert transport.proxy_for("https://management.azure.com/subscriptions") == "http://proxy.example:3128"
    assert transport.proxy_for("https://graph.microsoft.com/v1.0/x") is None
    assert transport.ca_options == {"ca_certs": "/etc/ssl/corporate.pem"}
    monkeypatch.delenv("REQUESTS_CA_BUNDLE")
    monkeypatch.setenv("CURL_CA_BUNDLE", str(Path(__file__).parent))  # a directory of certificates
    assert pooled_transport(4).ca_options == {"ca_cert_dir": str(Path(__file__).parent)}
