"""Resource Graph rows back into Resource Manager shapes, and the page reader's refusals."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from cmkaudit.collect.graph import GraphAnswerError, _page, _seconds, arm_resource, arm_subscription, kind_of
from cmkaudit.collect.mapping import subscription_from_arm, vault_from_arm

from .conftest import arm_example


def page(data: Any, skip_token: str | None = None, truncated: str = "false", **headers: str) -> Any:
    answer = SimpleNamespace(data=data, skip_token=skip_token, result_truncated=truncated)
    response = SimpleNamespace(http_response=SimpleNamespace(headers=headers))
    return _page(response, answer, {})


def test_a_vault_row_maps_like_the_arm_answer() -> None:
    arm = arm_example("getVault.json")
    row = {**arm, "type": arm["type"].lower(), "subscriptionId": "x", "resourceGroup": "rg", "tenantId": "t"}
    assert kind_of(row) == "microsoft.keyvault/vaults"
    assert vault_from_arm(arm_resource(row)) == vault_from_arm(arm)


def test_a_subscription_row_maps_like_subscriptions_get() -> None:
    row = {
        "id": "/subscriptions/00000000-0000-4000-8000-000000000001",
        "name": "Payments",
        "subscriptionId": "00000000-0000-4000-8000-000000000001",
        "tenantId": "5a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d",
        "properties": {"state": "Enabled"},
    }
    subscription = subscription_from_arm(arm_subscription(row))
    assert (subscription.display_name, subscription.state, subscription.tenant_id) == (
        "Payments",
        "Enabled",
        "5a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d",
    )


def test_pages_carry_the_token_and_the_quota() -> None:
    got = page([{"id": "/a"}], "next", **{"x-ms-user-quota-remaining": "0", "x-ms-user-quota-resets-after": "00:00:05"})
    assert (got.skip_token, got.quota_remaining, got.quota_resets_after) == ("next", 0, 5.0)
    assert _seconds("01:02:03") == 3723.0 and _seconds("soon") is None


@pytest.mark.parametrize(
    ("data", "truncated", "message"),
    [(None, "false", "no rows"), ([{"id": "/a"}], "true", "truncated"), (["not an object"], "false", "not an object")],
)
def test_answers_that_would_lose_rows_are_refused(data: Any, truncated: str, message: str) -> None:
    with pytest.raises(GraphAnswerError, match=message):
        page(data, None, truncated)


def test_a_query_answer_that_would_lose_rows_is_reported_as_malformed() -> None:
    from cmkaudit.collect.azure import _read_error

    error = _read_error("/subscriptions/x", "query Azure Resource Graph", GraphAnswerError("truncated"), "s")
    assert (error.code, error.message) == ("MalformedResponse", "truncated")
