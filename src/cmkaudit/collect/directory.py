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
from dataclasses import dataclass
from typing import Any

from azure.core.exceptions import ClientAuthenticationError
from azure.core.rest import HttpRequest

from cmkaudit.collect.http import ArmConnection
from cmkaudit.ids import PrincipalId
from cmkaudit.inventory.model import (
    CollectionError,
    DirectoryObject,
    GroupMembers,
    GroupMembership,
    Unread,
    UnreadWhy,
)
from cmkaudit.text import printable, scrub_secrets

BATCH_SIZE = 20
"""Microsoft Graph takes at most 20 requests in one JSON batch."""
MEMBERSHIP_HINT = (
    "grant the scanner the Microsoft Graph permission GroupMember.Read.All (or Directory.Read.All) to read the groups "
    "of the identities that use keys"
)
OPERATION = "read group memberships (Microsoft Graph)"
MEMBERS_OPERATION = "read group members (Microsoft Graph)"
MAX_PAGES = 1000
"""The most pages of one list followed (a list that goes on past this is recorded as not read)."""
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def membership_path(principal: str) -> str:
    """The Graph path (relative to /v1.0) of a service principal's groups, transitively."""
    return f"/servicePrincipals/{principal}/transitiveMemberOf/microsoft.graph.group?$select=id,displayName"


@dataclass(frozen=True, slots=True)
class _Listed:
    """One list Graph was asked for in a batch: its objects over every page, or why not (status, reason, hint)."""

    objects: list[Mapping[str, Any]] | None
    status: int | None = None
    reason: str = ""
    hint: str | None = MEMBERSHIP_HINT


def _objects(value: object) -> list[Mapping[str, Any]] | None:
    """The directory objects of a page (`value`), or None when it is not a list of objects with GUID ids."""
    if not isinstance(value, list):
        return None
    if not all(isinstance(o, Mapping) and isinstance(o.get("id"), str) and _GUID.match(o["id"]) for o in value):
        return None
    return list(value)


def _name(item: Mapping[str, Any]) -> str | None:
    name = item.get("displayName")
    return printable(name) if isinstance(name, str) else None


def _kind(item: Mapping[str, Any]) -> str | None:
    """The object's type from its `@odata.type` (e.g. `#microsoft.graph.user` -> `user`)."""
    odata = item.get("@odata.type")
    return (
        printable(odata.rsplit(".", 1)[-1])
        if isinstance(odata, str) and odata.startswith("#microsoft.graph.")
        else None
    )


def _refused(status: int, body: object, not_found: str) -> _Listed:
    """A request of the batch that Graph answered with an error."""
    error = body.get("error") if isinstance(body, Mapping) else None
    code = error.get("code") if isinstance(error, Mapping) else None
    message = error.get("message") if isinstance(error, Mapping) else None
    said = f" {printable(str(code))}: {printable(str(message))[:200]}" if code or message else ""
    if status == 404:
        return _Listed(None, 404, f"Microsoft Graph answered HTTP 404{said}: {not_found}", None)
    return _Listed(None, status, f"Microsoft Graph answered HTTP {status}{said}")


class GraphDirectory:
    """Reads group memberships and group members through one connection's Microsoft Graph client, a batch of
    BATCH_SIZE lists at a time, with a token for each tenant."""

    def __init__(self, connection: ArmConnection) -> None:
        self._conn = connection

    def _send(self, method: str, url: str, tenant: str, body: Any = None) -> Any:
        scope = f"{self._conn.endpoints.graph}/.default"
        token = self._conn.credential.get_token(scope, tenant_id=tenant)
        headers = {"Authorization": f"Bearer {token.token}", "Accept": "application/json"}
        return self._conn.send_raw(HttpRequest(method, url, json=body, headers=headers))

    def _lists(
        self, tenant: str, paths: Sequence[str], operation: str, not_found: str
    ) -> tuple[list[_Listed], list[CollectionError]]:
        """Each of `paths` (at most BATCH_SIZE, relative to /v1.0) read in one batch, every page followed."""
        graph = f"{self._conn.endpoints.graph}/v1.0"
        url = f"{graph}/$batch"
        batch = {"requests": [{"id": str(n), "method": "GET", "url": path} for n, path in enumerate(paths)]}
        try:
            response = self._send("POST", url, tenant, batch)
            response.raise_for_status()
            answers = response.json().get("responses")
            if not isinstance(answers, list):
                raise ValueError("the batch answer has no 'responses' list")
        except ClientAuthenticationError as exc:
            reason = f"no Microsoft Graph token for tenant {tenant}: {printable(scrub_secrets(str(exc.message)))[:200]}"
            hint = f"with CMKAUDIT_ACCESS_TOKEN, pass a Graph token in CMKAUDIT_GRAPH_ACCESS_TOKEN; {MEMBERSHIP_HINT}"
            return [_Listed(None, None, reason, hint)] * len(paths), [
                CollectionError(url, operation, None, None, reason, hint)
            ]
        except Exception as exc:  # any failure of the batch is recorded, never raised
            status = getattr(getattr(exc, "response", None), "status_code", None)
            reason = f"the batch failed: {printable(scrub_secrets(str(getattr(exc, 'message', exc))))[:200]}"
            listed = _Listed(None, status, reason)
            return [listed] * len(paths), [CollectionError(url, operation, status, None, reason, MEMBERSHIP_HINT)]
        by_id = {str(a.get("id")): a for a in answers if isinstance(a, Mapping)}
        results: list[_Listed] = []
        errors: list[CollectionError] = []
        for n, path in enumerate(paths):
            answer = by_id.get(str(n))
            status = answer.get("status") if answer is not None else None
            if answer is None:
                listed = _Listed(None, None, "Microsoft Graph's batch answer left this request out")
            elif status != 200:
                listed = _refused(int(status) if isinstance(status, int) else 0, answer.get("body"), not_found)
            else:
                listed = self._pages(tenant, answer.get("body"))
            if listed.objects is None and listed.status != 404:
                errors.append(
                    CollectionError(
                        f"{graph}{path.split('?')[0]}", operation, listed.status, None, listed.reason, listed.hint
                    )
                )
            results.append(listed)
        return results, errors

    def _pages(self, tenant: str, body: object) -> _Listed:
        """The objects of a first page and of the pages its `@odata.nextLink` leads to (GETs)."""
        found: list[Mapping[str, Any]] = []
        seen: set[str] = set()
        graph = self._conn.endpoints.graph.rstrip("/") + "/"
        while True:
            page = _objects(body.get("value") if isinstance(body, Mapping) else None)
            if page is None:
                return _Listed(None, 200, "Microsoft Graph's answer is not a list of directory objects", None)
            found.extend(page)
            link = body.get("@odata.nextLink") if isinstance(body, Mapping) else None
            if not link:
                return _Listed(found)
            if not isinstance(link, str) or not link.startswith(graph) or link in seen or len(seen) >= MAX_PAGES:
                return _Listed(None, 200, "Microsoft Graph's next page is elsewhere, repeats, or never ends", None)
            seen.add(link)
            try:
                response = self._send("GET", link, tenant)
                response.raise_for_status()
                body = response.json()
            except Exception as exc:  # recorded on what was being read
                return _Listed(None, None, f"a page failed: {printable(scrub_secrets(str(exc)))[:200]}")

    def memberships(
        self, tenant: str, principals: Sequence[str]
    ) -> tuple[list[GroupMembership], list[CollectionError]]:
        """The groups of each of `principals` (at most BATCH_SIZE: one batch), in `tenant`."""
        wanted = [p for p in principals if _GUID.match(p)]
        found = [
            GroupMembership(PrincipalId(p), None, Unread(UnreadWhy.FAILED, "not a directory object id"))
            for p in principals
            if not _GUID.match(p)
        ]
        if not wanted:
            return found, []
        paths = [membership_path(p) for p in wanted]
        listed, errors = self._lists(tenant, paths, OPERATION, "not a service principal of the tenant")
        for principal, result in zip(wanted, listed, strict=True):
            if result.objects is None:
                unread = Unread(UnreadWhy.FAILED, result.reason, result.hint)
                found.append(GroupMembership(PrincipalId(principal), None, unread))
            else:
                groups = tuple(DirectoryObject(PrincipalId(o["id"]), _name(o)) for o in result.objects)
                found.append(GroupMembership(PrincipalId(principal), groups))
        return found, errors

    def members(self, tenant: str, groups: Sequence[str]) -> tuple[list[GroupMembers], list[CollectionError]]:
        """The members of each of `groups` (at most BATCH_SIZE), transitively, in `tenant`. A principal that is not
        a group (Graph answers 404) is recorded as such: its grant is its own."""
        wanted = [g for g in groups if _GUID.match(g)]
        if not wanted:
            return [], []
        paths = [f"/groups/{g}/transitiveMembers?$select=id,displayName" for g in wanted]
        listed, errors = self._lists(tenant, paths, MEMBERS_OPERATION, "not a group of the tenant")
        found = []
        for group, result in zip(wanted, listed, strict=True):
            if result.objects is not None:
                members = tuple(DirectoryObject(PrincipalId(o["id"]), _name(o), _kind(o)) for o in result.objects)
                found.append(GroupMembers(PrincipalId(group), True, members))
            elif result.status == 404:
                found.append(GroupMembers(PrincipalId(group), False, None))
            else:
                found.append(
                    GroupMembers(PrincipalId(group), None, None, Unread(UnreadWhy.FAILED, result.reason, result.hint))
                )
        return found, errors


def batches(principals: Iterable[str]) -> list[list[str]]:
    """The principals in batches of BATCH_SIZE (each distinct principal once, in a fixed order: sorted)."""
    distinct = sorted({p.lower() for p in principals})
    return [distinct[i : i + BATCH_SIZE] for i in range(0, len(distinct), BATCH_SIZE)]
