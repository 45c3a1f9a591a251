"""The read-only guard: nothing but GET/HEAD leaves the process, whatever the SDK tries."""

from __future__ import annotations

from typing import Any

import pytest
from azure.core.pipeline.transport import HttpTransport
from azure.mgmt.keyvault.models import VaultAccessPolicyParameters, VaultAccessPolicyProperties

from cmkaudit.collect.credentials import OfflineDemoCredential
from cmkaudit.collect.http import ArmConnection, Cloud, ReadOnlyTransport, endpoints_for
from cmkaudit.errors import WriteBlockedError


class RecordingTransport(HttpTransport):  # type: ignore[type-arg]
    """Counts what reaches the wire; answers nothing (a test fails if a request gets here)."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    def send(self, request: Any, **kwargs: Any) -> Any:
        self.sent.append(f"{request.method} {request.url}")
        raise AssertionError(f"a request reached the network: {request.method} {request.url}")

    def open(self) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self) -> RecordingTransport:
        return self

    def __exit__(self, *args: object) -> None:
        pass


@pytest.fixture
def wire() -> RecordingTransport:
    return RecordingTransport()


@pytest.fixture
def connection(wire: RecordingTransport) -> ArmConnection:
    return ArmConnection(OfflineDemoCredential(), endpoints_for(Cloud.PUBLIC), ReadOnlyTransport(wire))


SUB = "11111111-2222-4333-8444-555555555555"


def test_delete_through_an_sdk_client_is_refused(connection: ArmConnection, wire: RecordingTransport) -> None:
    client = connection.databricks(SUB)
    with pytest.raises(WriteBlockedError, match="refused to send DELETE"):
        client.workspaces.begin_delete("rg", "dbw").result()
    assert wire.sent == []


def test_access_policy_update_is_refused(connection: ArmConnection, wire: RecordingTransport) -> None:
    client = connection.keyvault(SUB)
    parameters = VaultAccessPolicyParameters(properties=VaultAccessPolicyProperties(access_policies=[]))
    with pytest.raises(WriteBlockedError, match="refused to send PUT"):
        client.vaults.update_access_policy("rg", "kv", "add", parameters)
    assert wire.sent == []


def test_storage_key_listing_post_is_refused(connection: ArmConnection, wire: RecordingTransport) -> None:
    """listKeys is a POST that returns secrets: the scanner must never be able to call it."""
    client = connection.storage(SUB)
    with pytest.raises(WriteBlockedError, match="refused to send POST"):
        client.storage_accounts.list_keys("rg", "account")
    assert wire.sent == []


def test_get_passes_the_guard(connection: ArmConnection, wire: RecordingTransport) -> None:
    client = connection.databricks(SUB)
    with pytest.raises(AssertionError, match="reached the network: GET"):
        client.workspaces.get("rg", "dbw")
    assert wire.sent == [
        f"GET https://management.azure.com/subscriptions/{SUB}/resourceGroups/rg/providers/"
        "Microsoft.Databricks/workspaces/dbw?api-version=2026-01-01"
    ]


def test_data_plane_delete_is_refused(connection: ArmConnection, wire: RecordingTransport) -> None:
    client = connection.key_client("https://kv-test.vault.azure.net/")
    with pytest.raises(WriteBlockedError, match="refused to send DELETE"):
        client.begin_delete_key("cmk")
    assert wire.sent == []


def test_a_resource_graph_query_is_the_only_post_let_through(
    connection: ArmConnection, wire: RecordingTransport
) -> None:
    """A Resource Graph query is a POST that reads; a POST anywhere else (even one level up) is refused."""
    from azure.core.rest import HttpRequest
    from azure.mgmt.resourcegraph.models import QueryRequest

    client = connection.resource_graph()
    with pytest.raises(AssertionError, match="reached the network: POST"):
        client.resources(QueryRequest(subscriptions=[SUB], query="resources | limit 1"))
    assert wire.sent == [
        "POST https://management.azure.com/providers/Microsoft.ResourceGraph/resources?api-version=2024-04-01"
    ]
    for path in ("/providers/Microsoft.ResourceGraph/resources/extra", f"/subscriptions/{SUB}/providers/x/resources"):
        with pytest.raises(WriteBlockedError, match="refused to send POST"):
            connection.transport.send(HttpRequest("POST", f"https://management.azure.com{path}"))
    assert len(wire.sent) == 1


def test_a_graph_batch_passes_only_when_every_request_in_it_reads(
    connection: ArmConnection, wire: RecordingTransport
) -> None:
    """Microsoft Graph's $batch is a POST: let through when all its requests are GETs, refused otherwise."""
    from azure.core.rest import HttpRequest

    url = "https://graph.microsoft.com/v1.0/$batch"
    reads = {"requests": [{"id": "1", "method": "GET", "url": "/servicePrincipals/x/transitiveMemberOf"}]}
    with pytest.raises(AssertionError, match="reached the network: POST"):
        connection.transport.send(HttpRequest("POST", url, json=reads))
    assert wire.sent == [f"POST {url}"]
    writes = [
        {"requests": [*reads["requests"], {"id": "2", "method": "DELETE", "url": "/groups/g/members/m/$ref"}]},
        {"requests": [{"id": "1", "method": "GET", "url": "/me", "body": {"a": 1}}]},
        {"requests": [{"id": "1", "method": "GET", "url": "https://elsewhere.example/x"}]},
        {"requests": []},
        "not json",
    ]
    for body in writes:
        request = (
            HttpRequest("POST", url, json=body) if not isinstance(body, str) else HttpRequest("POST", url, content=body)
        )
        with pytest.raises(WriteBlockedError, match="refused to send POST"):
            connection.transport.send(request)
    with pytest.raises(WriteBlockedError, match="refused to send POST"):
        connection.transport.send(HttpRequest("POST", "https://graph.microsoft.com/v1.0/groups", json=reads))
    assert len(wire.sent) == 1
