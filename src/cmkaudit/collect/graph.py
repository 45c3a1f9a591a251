"""Azure Resource Graph as a source: the resources a scan needs for many subscriptions in a few paged queries.

`--source resource-graph` replaces the per-subscription lists (subscriptions, workspaces, vaults, disk
encryption sets, storage accounts) with two queries sent through azure-mgmt-resourcegraph; keys, key
versions, diagnostic settings and role assignments are still read per vault from Resource Manager, which
Resource Graph does not index. The rows are turned back into the Resource Manager shapes, so the same
mapping (collect/mapping.py) and the same checks apply.

Resource Graph shows only what the identity may read: a subscription it cannot read is absent from the
answers rather than refused, so every requested subscription that the subscriptions query does not return
is reported as not read (never as empty).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from azure.mgmt.resourcegraph.models import QueryRequest, QueryRequestOptions

from cmkaudit.collect.http import ArmConnection

PAGE_SIZE = 1000
"""Rows per page: Resource Graph's maximum for `$top`."""
SUBSCRIPTION_BATCH = 1000
"""Subscriptions per query; larger scopes are queried in batches."""
QUERY_RETRY_METHODS = frozenset({"GET", "HEAD", "POST"})
QUERY_STATUS_RETRIES = 8
"""Retries on a throttled or failed query (Resource Graph's quota window is 5 seconds)."""

WORKSPACE_TYPE = "microsoft.databricks/workspaces"
VAULT_TYPE = "microsoft.keyvault/vaults"
DES_TYPE = "microsoft.compute/diskencryptionsets"
STORAGE_TYPE = "microsoft.storage/storageaccounts"
HSM_TYPE = "microsoft.keyvault/managedhsms"
RESOURCE_TYPES = (WORKSPACE_TYPE, VAULT_TYPE, DES_TYPE, STORAGE_TYPE, HSM_TYPE)
RESOURCES_QUERY = (
    "resources"
    f" | where type in~ ({', '.join(repr(t) for t in RESOURCE_TYPES)})"
    " | project id, name, type, kind, location, tags, sku, identity, properties, subscriptionId, resourceGroup"
    " | order by id asc"
)
SUBSCRIPTIONS_QUERY = (
    "resourcecontainers"
    " | where type =~ 'microsoft.resources/subscriptions'"
    " | project id, name, subscriptionId, tenantId, properties"
    " | order by id asc"
)


class GraphAnswerError(ValueError):
    """Resource Graph answered, but not with what was asked (truncated without a page token, no rows list)."""


@dataclass(frozen=True, slots=True)
class GraphPage:
    """One page of rows, and what Resource Graph said about the caller's remaining quota."""

    rows: list[Mapping[str, Any]]
    skip_token: str | None
    quota_remaining: int | None
    quota_resets_after: float | None


def _seconds(value: str | None) -> float | None:
    """`x-ms-user-quota-resets-after` ("hh:mm:ss") in seconds."""
    if not value:
        return None
    try:
        hours, minutes, seconds = (float(part) for part in value.split(":"))
    except ValueError:
        return None
    return hours * 3600 + minutes * 60 + seconds


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def query_pages(
    connection: ArmConnection,
    query: str,
    subscriptions: Sequence[str],
    sleep: Callable[[float], None] | None = None,
) -> Iterator[Mapping[str, Any]]:
    """Every row of `query` over `subscriptions`, page after page, batch after batch.

    A query is a POST that only reads, so it is retried like a GET on 408, 429 and 5xx, honouring
    Retry-After (on its own, azure-core retries a POST only on 500, 503 and 504, or when the answer says
    Retry-After). When Resource Graph says the caller's quota is spent, the next page waits for the reset it
    announces (at most the connection's longest Retry-After) instead of running into a 429. A `$skipToken`
    that repeats one already sent, or more pages than the connection allows, ends the query with
    GraphAnswerError: a server cannot keep the scan going for ever.
    """
    client = connection.resource_graph()
    wait = sleep or connection.transport.sleep
    limits = connection.limits
    for start in range(0, len(subscriptions), SUBSCRIPTION_BATCH):
        batch = list(subscriptions[start : start + SUBSCRIPTION_BATCH])
        token: str | None = None
        seen: set[str] = set()
        while True:
            options = QueryRequestOptions(top=PAGE_SIZE, skip_token=token, result_format="objectArray")
            page: GraphPage = client.resources(  # type: ignore[assignment]  # `cls` makes it a GraphPage
                QueryRequest(subscriptions=batch, query=query, options=options),
                cls=_page,
                retry_on_methods=QUERY_RETRY_METHODS,
                retry_status=QUERY_STATUS_RETRIES,
            )
            yield from page.rows
            more = bool(page.skip_token) or start + SUBSCRIPTION_BATCH < len(subscriptions)
            if more and page.quota_remaining == 0 and page.quota_resets_after:
                wait(min(page.quota_resets_after, limits.max_retry_after))
            if not page.skip_token:
                break
            if page.skip_token in seen:
                raise GraphAnswerError(
                    "Resource Graph repeated a $skipToken already followed: the answer was not finished"
                )
            if len(seen) + 1 >= limits.max_pages:
                raise GraphAnswerError(f"the Resource Graph answer goes on past {limits.max_pages} pages")
            seen.add(page.skip_token)
            token = page.skip_token


def _page(pipeline_response: Any, deserialized: Any, headers: Mapping[str, Any]) -> GraphPage:
    """The SDK's answer with the quota headers kept (the `cls` hook of `resources`)."""
    rows = getattr(deserialized, "data", None)
    if not isinstance(rows, list):
        raise GraphAnswerError("the Resource Graph answer has no rows ('data' is not a list)")
    token = getattr(deserialized, "skip_token", None)
    truncated = str(getattr(deserialized, "result_truncated", "false")).lower() == "true"
    if truncated and not token:
        raise GraphAnswerError("Resource Graph truncated the answer without a page token")
    for row in rows:
        if not isinstance(row, Mapping):
            raise GraphAnswerError(f"a Resource Graph row is not an object: {type(row).__name__}")
    response_headers = pipeline_response.http_response.headers
    return GraphPage(
        rows=rows,
        skip_token=token,
        quota_remaining=_int(response_headers.get("x-ms-user-quota-remaining")),
        quota_resets_after=_seconds(response_headers.get("x-ms-user-quota-resets-after")),
    )


def arm_resource(row: Mapping[str, Any]) -> dict[str, Any]:
    """A Resources row in the Resource Manager shape of the resource (Resource Graph lower-cases `type`)."""
    fields = ("id", "name", "type", "kind", "location", "tags", "sku", "identity", "properties")
    return {name: row[name] for name in fields if row.get(name) is not None}


def arm_subscription(row: Mapping[str, Any]) -> dict[str, Any]:
    """A ResourceContainers subscription row in the shape of Subscriptions - Get."""
    properties = row.get("properties")
    state = properties.get("state") if isinstance(properties, Mapping) else None
    return {
        "id": row.get("id"),
        "subscriptionId": row.get("subscriptionId"),
        "displayName": row.get("name"),
        "tenantId": row.get("tenantId"),
        "state": state,
    }


def kind_of(row: Mapping[str, Any]) -> str | None:
    """Which of RESOURCE_TYPES a row is, or None."""
    kind = str(row.get("type") or "").lower()
    return kind if kind in RESOURCE_TYPES else None
