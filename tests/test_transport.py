"""The wire under the SDK clients (collect/transport.py): requests' environment rules, azure-core's errors."""

from __future__ import annotations

import base64
import socket
import time
from pathlib import Path

import pytest
from azure.core.exceptions import HttpResponseError, ServiceRequestError, ServiceResponseError
from azure.core.rest import HttpRequest
from tools.fakearm import FakeArm, Faults, generate_tenant

from cmkaudit.collect.transport import PooledTransport

TENANT = generate_tenant(subscriptions=1, workspaces=1)
SUBSCRIPTION = TENANT.subscriptions[0]
VAULT_URL = "https://kv-a0-w0.vault.azure.net/keys?api-version=7.4"


def _transport(arm: FakeArm, monkeypatch: pytest.MonkeyPatch, **kwargs: float) -> PooledTransport:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(arm.ca_file))
    return PooledTransport(2, **kwargs)


def test_an_answer_is_read_whole_with_its_status_headers_and_json(monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeArm(TENANT) as arm:
        transport = _transport(arm, monkeypatch)
        url = f"{arm.url}/subscriptions/{SUBSCRIPTION}?api-version=2022-12-01"
        answer = transport.send(HttpRequest("GET", url, headers={"Authorization": "Bearer t"}))
        missing = transport.send(HttpRequest("GET", f"{arm.url}/nothing-here", headers={"Authorization": "Bearer t"}))
        transport.close()
    assert answer.status_code == 200 and answer.json()["subscriptionId"] == SUBSCRIPTION
    assert answer.headers["content-type"].startswith("application/json") and answer.url == url
    assert answer.text() == answer.content.decode() == answer.body().decode()
    assert missing.status_code == 404
    with pytest.raises(HttpResponseError):
        missing.raise_for_status()


def test_the_proxy_is_given_the_credentials_of_its_url(monkeypatch: pytest.MonkeyPatch) -> None:
    """HTTPS_PROXY=http://user:pass@host: the CONNECT carries Proxy-Authorization (URL-decoded), as requests sends it;
    NO_PROXY hosts go direct."""
    with FakeArm(TENANT) as arm:
        proxy = arm.proxy_url.replace("http://", "http://ops:p%40ss@")
        monkeypatch.setenv("HTTPS_PROXY", proxy)
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        transport = _transport(arm, monkeypatch)
        answer = transport.send(HttpRequest("GET", VAULT_URL))
        direct = transport.send(HttpRequest("GET", f"{arm.url}/subscriptions/{SUBSCRIPTION}?api-version=2022-12-01"))
        transport.close()
        connects = list(arm.proxy_connects)
    assert answer.status_code == 401 and direct.status_code == 200  # the vault asks for its token
    ((target, headers),) = connects
    assert target == "kv-a0-w0.vault.azure.net:443"
    assert headers["proxy-authorization"] == "Basic " + base64.b64encode(b"ops:p@ss").decode()


def test_a_refused_connection_is_a_request_error() -> None:
    with socket.socket() as placeholder:
        placeholder.bind(("127.0.0.1", 0))
        port = placeholder.getsockname()[1]
    with pytest.raises(ServiceRequestError):
        PooledTransport(1).send(HttpRequest("GET", f"https://127.0.0.1:{port}/"))


def test_a_silent_server_is_a_response_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeArm(TENANT, Faults(hang=[f"/subscriptions/{SUBSCRIPTION}"])) as arm:
        transport = _transport(arm, monkeypatch, read_timeout=0.5)
        started = time.monotonic()
        with pytest.raises(ServiceResponseError):
            transport.send(HttpRequest("GET", f"{arm.url}/subscriptions/{SUBSCRIPTION}?api-version=2022-12-01"))
        transport.close()
    assert time.monotonic() - started < 5


def test_only_rest_requests_with_a_byte_or_text_body_are_sent(tmp_path: Path) -> None:
    from azure.core.pipeline.transport import HttpRequest as LegacyRequest

    with pytest.raises(TypeError):
        PooledTransport(1).send(LegacyRequest("GET", "https://127.0.0.1:1/"))
    streamed = HttpRequest("POST", "https://127.0.0.1:1/", content=iter([b"a"]))
    with pytest.raises(TypeError):
        PooledTransport(1).send(streamed)
