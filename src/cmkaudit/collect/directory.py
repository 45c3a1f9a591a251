"""Microsoft Graph as the directory: the groups, transitively, of the identities that use keys.

A vault or pool may grant a key's use to a group rather than to each identity. Each identity's groups are read with
`GET /servicePrincipals/{id}/transitiveMemberOf/microsoft.graph.group` (the identities that use keys are service
principals: managed identities, the AzureDatabricks application's), twenty to a `POST /$batch` (Graph's limit per
batch), so that a tenant of hundreds of identities costs a handful of calls. The batch is a POST that only reads: the
read-only transport lets it through only when every request inside it is a GET.

What cannot be read is kept on the identity's membership record, with why and what to grant (GroupMember.Read.All
or Directory.Read.All); the checks then say an UNKNOWN depends on it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from azure.core.exceptions import ClientAuthenticationError
from azure.core.rest import HttpRequest

from cmkaudit.collect.http import ArmConnection
from cmkaudit.ids import PrincipalId
from cmkaudit.inventory.model import CollectionError, DirectoryGroup, GroupMembership, Unread, UnreadWhy
from cmkaudit.text import printable, scrub_secrets

BATCH_SIZE = 20
"""Microsoft Graph takes at most 20 requests in one JSON batch."""
MEMBERSHIP_HINT = (
    "grant the scanner the Microsoft Graph permission GroupMember.Read.All (or Directory.Read.All) to read the groups "
    "of the identities that use keys"
)
OPERATION = "read group memberships (Microsoft Graph)"
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def membership_path(principal: str) -> str:
    """The Graph path (relative to /v1.0) of a service principal's groups, transitively."""
    return f"/servicePrincipals/{principal}/transitiveMemberOf/microsoft.graph.group?$select=id,displayName"


def _unread(principal: str, reason: str, hint: str | None = MEMBERSHIP_HINT) -> GroupMembership:
    return GroupMembership(PrincipalId(principal), None, Unread(UnreadWhy.FAILED, reason, hint))


def _groups(value: object) -> list[DirectoryGroup] | None:
    """The groups of one page (`value`), or None when the page is not a list of objects with ids."""
    if not isinstance(value, list):
        return None
    groups = []
    for item in value:
        group_id = item.get("id") if isinstance(item, Mapping) else None
        if not isinstance(group_id, str) or not _GUID.match(group_id):
            return None
        name = item.get("displayName")
        groups.append(DirectoryGroup(PrincipalId(group_id), printable(name) if isinstance(name, str) else None))
    return groups


def _refusal(principal: str, status: int, body: object) -> GroupMembership:
    """A request of the batch that Graph answered with an error."""
    error = body.get("error") if isinstance(body, Mapping) else None
    code = error.get("code") if isinstance(error, Mapping) else None
    message = error.get("message") if isinstance(error, Mapping) else None
    said = f" {printable(str(code))}: {printable(str(message))[:200]}" if code or message else ""
    if status == 404:
        return _unread(
            principal, f"Microsoft Graph answered HTTP 404{said}: not a service principal of the tenant", None
        )
    return _unread(principal, f"Microsoft Graph answered HTTP {status}{said}")


class GraphDirectory:
    """Reads group memberships through one connection's Microsoft Graph client, with a token for each tenant."""

    def __init__(self, connection: ArmConnection) -> None:
        self._conn = connection

    def _send(self, method: str, url: str, tenant: str, body: Any = None) -> Any:
        scope = f"{self._conn.endpoints.graph}/.default"
        token = self._conn.credential.get_token(scope, tenant_id=tenant)
        headers = {"Authorization": f"Bearer {token.token}", "Accept": "application/json"}
        return self._conn.send_raw(HttpRequest(method, url, json=body, headers=headers))

    def memberships(
        self, tenant: str, principals: Sequence[str]
    ) -> tuple[list[GroupMembership], list[CollectionError]]:
        """The groups of each of `principals` (at most BATCH_SIZE, one batch), in `tenant`."""
        found: list[GroupMembership] = []
        wanted = [p for p in principals if _GUID.match(p)]
        found.extend(_unread(p, "not a directory object id", None) for p in principals if not _GUID.match(p))
        if not wanted:
            return found, []
        batch = {
            "requests": [
                {"id": str(n), "method": "GET", "url": membership_path(principal)} for n, principal in enumerate(wanted)
            ]
        }
        url = f"{self._conn.endpoints.graph}/v1.0/$batch"
        try:
            response = self._send("POST", url, tenant, batch)
            response.raise_for_status()
            answers = response.json().get("responses")
            if not isinstance(answers, list):
                raise ValueError("the batch answer has no 'responses' list")
        except ClientAuthenticationError as exc:
            reason = f"no Microsoft Graph token for tenant {tenant}: {printable(scrub_secrets(str(exc.message)))[:200]}"
            hint = f"with CMKAUDIT_ACCESS_TOKEN, pass a Graph token in CMKAUDIT_GRAPH_ACCESS_TOKEN; {MEMBERSHIP_HINT}"
            error = CollectionError(url, OPERATION, None, None, reason, hint)
            return found + [_unread(p, reason, hint) for p in wanted], [error]
        except Exception as exc:  # any failure of the batch is recorded, never raised
            status = getattr(getattr(exc, "response", None), "status_code", None)
            reason = f"the batch failed: {printable(scrub_secrets(str(getattr(exc, 'message', exc))))[:200]}"
            error = CollectionError(url, OPERATION, status, None, reason, MEMBERSHIP_HINT)
            return found + [_unread(p, reason) for p in wanted], [error]
        by_id = {str(a.get("id")): a for a in answers if isinstance(a, Mapping)}
        errors: list[CollectionError] = []
        for n, principal in enumerate(wanted):
            answer = by_id.get(str(n))
            if answer is None:
                found.append(_unread(principal, "Microsoft Graph's batch answer left this request out"))
                continue
            status = answer.get("status")
            body = answer.get("body")
            if status != 200:
                membership = _refusal(principal, int(status) if isinstance(status, int) else 0, body)
                errors.append(
                    CollectionError(
                        f"{self._conn.endpoints.graph}/v1.0{membership_path(principal).split('?')[0]}",
                        OPERATION,
                        status if isinstance(status, int) else None,
                        None,
                        membership.unread.reason if membership.unread else "",
                        membership.unread.hint if membership.unread else None,
                    )
                )
                found.append(membership)
                continue
            found.append(self._all_pages(tenant, principal, body))
        return found, errors

    def _all_pages(self, tenant: str, principal: str, body: object) -> GroupMembership:
        """The groups of a first page and those of the pages its `@odata.nextLink` leads to (GETs)."""
        groups: list[DirectoryGroup] = []
        seen: set[str] = set()
        graph = self._conn.endpoints.graph.rstrip("/") + "/"
        while True:
            page = _groups(body.get("value") if isinstance(body, Mapping) else None)
            if page is None:
                return _unread(principal, "Microsoft Graph's answer is not a list of groups", None)
            groups.extend(page)
            link = body.get("@odata.nextLink") if isinstance(body, Mapping) else None
            if not link:
                return GroupMembership(PrincipalId(principal), tuple(groups))
            if not isinstance(link, str) or not link.startswith(graph) or link in seen or len(seen) >= 1000:
                return _unread(principal, "Microsoft Graph's next page is elsewhere, repeats, or never ends", None)
            seen.add(link)
            try:
                response = self._send("GET", link, tenant)
                response.raise_for_status()
                body = response.json()
            except Exception as exc:  # recorded on the identity
                return _unread(principal, f"a page of its groups failed: {printable(scrub_secrets(str(exc)))[:200]}")


def batches(principals: Iterable[str]) -> list[list[str]]:
    """The principals in batches of BATCH_SIZE (each distinct principal once, in a fixed order: sorted)."""
    distinct = sorted({p.lower() for p in principals})
    return [distinct[i : i + BATCH_SIZE] for i in range(0, len(distinct), BATCH_SIZE)]
