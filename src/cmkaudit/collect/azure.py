"""The live collector: walks subscriptions with the official SDK clients, read-only.

It lists per subscription wherever ARM allows (workspaces, vaults, disk encryption sets, storage
accounts) and reads per key only what a workspace references (the key and its versions). Every
call that fails becomes a `CollectionError` on the resource it concerns; nothing is dropped.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol, TypeVar, assert_never
from urllib.parse import quote

from azure.core.exceptions import AzureError, ClientAuthenticationError, HttpResponseError
from azure.core.rest import HttpRequest, HttpResponse

from cmkaudit import __version__
from cmkaudit.collect.credentials import ACCESS_TOKEN_ENV, KEYVAULT_TOKEN_ENV, MANAGEDHSM_TOKEN_ENV
from cmkaudit.collect.directory import GraphDirectory, batches
from cmkaudit.collect.graph import (
    DES_TYPE,
    HSM_TYPE,
    RESOURCE_TYPES,
    RESOURCES_QUERY,
    STORAGE_TYPE,
    SUBSCRIPTIONS_QUERY,
    VAULT_TYPE,
    WORKSPACE_TYPE,
    arm_resource,
    arm_subscription,
    kind_of,
    query_pages,
)
from cmkaudit.collect.http import ApiVersion, ArmConnection, ForeignHostError, origin_of, retry_after_seconds
from cmkaudit.collect.mapping import (
    MappingError,
    diagnostic_setting_from_arm,
    disk_encryption_set_from_arm,
    key_from_arm,
    key_version_from_arm,
    local_role_assignment_from_hsm,
    local_role_definition_from_hsm,
    managed_hsm_from_arm,
    role_assignment_from_arm,
    role_definition_from_arm,
    rotation_policy_from_sdk,
    storage_account_from_arm,
    subscription_from_arm,
    vault_from_arm,
    workspace_from_arm,
)
from cmkaudit.errors import CollectionFailure, WriteBlockedError
from cmkaudit.ids import (
    AZURE_DATABRICKS_APP_ID,
    PrincipalId,
    SubscriptionId,
    id_key,
    parse_key_url,
    rotation_policy_url,
    subscription_of,
    vault_host,
)
from cmkaudit.inventory import Inventory, assemble_inventory
from cmkaudit.inventory.index import build_index
from cmkaudit.inventory.links import key_resource_id, resolve_workspace_links
from cmkaudit.inventory.model import (
    AZURE_SCOPES,
    CollectionError,
    DiskEncryptionSet,
    GroupMembers,
    GroupMembership,
    Key,
    KeyReference,
    KeyVersion,
    ListedKind,
    PrincipalLookup,
    PrincipalSource,
    Provenance,
    RoleAssignment,
    RoleDefinition,
    ScanScope,
    StorageAccount,
    Subscription,
    Unlisted,
    Unread,
    Vault,
    VaultKind,
    Workspace,
)
from cmkaudit.progress import CrawlObserver, SilentObserver

T = TypeVar("T")

_GRAPH_HINT = (
    "grant the scanner read access to service principals in Microsoft Graph (Application.Read.All), "
    "or pass --databricks-principal-id TENANT=OBJECT_ID"
)


def hint_for(status: int | None, scope: str) -> str | None:
    """What a user can do about a failed read, by HTTP status."""
    if status == 401:
        return "the token was rejected: sign in again (az login) or refresh CMKAUDIT_ACCESS_TOKEN"
    if status == 403:
        return f"grant the scanning identity the Reader role on {scope}"
    if status == 404:
        return "the resource or subscription was not found: check the id and that the identity can see it"
    if status is not None and 300 <= status < 400:
        return "Azure answered with a redirect, which cmkaudit does not follow: check --arm-endpoint and any proxy"
    if status == 429:
        return "Azure throttled the scan after retries: run it again later"
    if status is not None and status >= 500:
        return "Azure returned a server error after retries: run the scan again"
    if status is None:
        return "no response from Azure: check the network, proxy and TLS settings"
    return None


def collection_error(resource_id: str, operation: str, exc: AzureError, scope: str | None = None) -> CollectionError:
    """Record an SDK failure as evidence that is missing."""
    status = exc.status_code if isinstance(exc, HttpResponseError) else None
    code = None
    if isinstance(exc, HttpResponseError) and exc.error is not None:
        code = exc.error.code
    message = (exc.message if isinstance(exc.message, str) else str(exc)).strip().splitlines()
    return CollectionError(
        resource_id=resource_id,
        operation=operation,
        status_code=status,
        code=code,
        message=message[0] if message else type(exc).__name__,
        hint=hint_for(status, scope or resource_id),
    )


def _arm_error(resource_id: str, operation: str, exc: HttpResponseError, scope: str) -> CollectionError:
    """A failure of a raw `send_request`: ARM's error code is in the body, which azure-core leaves unparsed."""
    error = collection_error(resource_id, operation, exc, scope)
    try:
        body = json.loads(exc.response.text()) if exc.response is not None else None
    except (ValueError, RecursionError):
        body = None
    details = body.get("error") if isinstance(body, dict) else None
    if isinstance(details, dict):
        code, message = details.get("code"), details.get("message")
        error = replace(
            error,
            code=code if isinstance(code, str) else error.code,
            message=message if isinstance(message, str) and message else error.message,
        )
    if error.code == MISSING_REGISTRATION:
        error = replace(
            error,
            hint=f"the subscription has never registered the resource provider this list needs; cmkaudit does not "
            f"register it (that is a write): if {scope} should hold such resources, an administrator can run "
            "'az provider register --namespace <provider>'",
        )
    if error.status_code == 429 and exc.response is not None:
        wait = retry_after_seconds(getattr(exc.response, "headers", {}))
        if wait is not None:
            error = replace(
                error,
                message=f"{error.message} (Azure asked to wait {wait:.0f} s, longer than cmkaudit waits)",
                hint="Azure throttled the scan for longer than --max-retry-after: run it again later, or raise "
                "--max-retry-after",
            )
    return error


MISSING_REGISTRATION = "MissingSubscriptionRegistration"
"""ARM's error code (HTTP 409) for a subscription that never registered a resource provider."""


_KEYVAULT_TOKEN_HINT = (
    f"with {ACCESS_TOKEN_ENV}, pass one in {KEYVAULT_TOKEN_ENV}: az account get-access-token --resource "
    "https://vault.azure.net (vault.azure.cn, vault.usgovcloudapi.net in the other clouds)"
)
DATA_PLANE_HINT = (
    "grant the scanner the key permission 'Get Rotation Policy' (access policies) or Key Vault Reader (Azure RBAC)"
)
_MANAGEDHSM_TOKEN_HINT = (
    f"with {ACCESS_TOKEN_ENV}, pass one in {MANAGEDHSM_TOKEN_ENV}: az account get-access-token --resource "
    "https://managedhsm.azure.net (managedhsm.azure.cn, managedhsm.usgovcloudapi.net in the other clouds)"
)
MANAGED_HSM_RBAC_HINT = (
    "grant the scanner the Managed HSM local role Managed HSM Crypto Auditor at scope / (it reads keys' attributes, "
    "role assignments and definitions, never key material), and a network path to the pool's data plane"
)
MANAGED_HSM_POLICY_HINT = "grant the scanner the Managed HSM local role Managed HSM Crypto Auditor at scope /"


def _data_plane_error(
    resource: str, operation: str, exc: BaseException, where: str, hint: str, token: tuple[str, str]
) -> CollectionError:
    """A failed data-plane read (a vault's or a Managed HSM pool's) as missing evidence, with what to do about it
    (`token`: the audience's name and how to get a token for it)."""
    if isinstance(exc, ClientAuthenticationError):
        error = collection_error(resource, operation, exc)
        if exc.status_code is None:  # no token for the data plane, e.g. CMKAUDIT_ACCESS_TOKEN holds an ARM token
            return replace(error, hint=f"the credential cannot get a {token[0]} token ({token[1]}); then {hint}")
        return replace(error, hint=hint)
    if isinstance(exc, HttpResponseError):
        return replace(collection_error(resource, operation, exc), hint=hint)
    if isinstance(exc, AzureError):
        network = "the data plane is not reachable from here (private endpoint or firewall)"
        return replace(collection_error(resource, operation, exc), hint=f"{network}; {hint}")
    if isinstance(exc, ValueError) and "challenge" in str(exc).lower():
        # azure-keyvault refuses a challenge whose resource is not the host's own domain: no token is sent.
        message = "the authentication challenge names another resource than the host: no token sent"
        return CollectionError(resource, operation, None, "ChallengeRefused", message, "check the URI Azure reports")
    if isinstance(exc, Exception):
        return _read_error(resource, operation, exc, where)
    raise exc


def _vault_path(vault: Vault) -> str:
    """The vault's (or Managed HSM pool's) ARM path built from its parts, as the SDK builds it."""
    kind = "managedHSMs" if vault.kind is VaultKind.MANAGED_HSM else "vaults"
    return (
        f"/subscriptions/{quote(vault.subscription_id, safe='')}/resourceGroups/{quote(vault.resource_group, safe='')}"
        f"/providers/Microsoft.KeyVault/{kind}/{quote(vault.name, safe='')}"
    )


def _batched(by_tenant: Mapping[str, list[str]]) -> list[tuple[str, list[str]]]:
    """(tenant, ids) in Microsoft Graph's batches, tenant by tenant."""
    return [(tenant, batch) for tenant in sorted(by_tenant) for batch in batches(by_tenant[tenant])]


def _names_a_pool(refs: Iterable[KeyReference]) -> bool:
    """Whether one of the key references is on a Managed HSM pool's host."""
    return any(".managedhsm." in vault_host(ref.vault_uri) for ref in refs)


def _holder(vault: Vault) -> str:
    """How errors name where a key is held."""
    return f"the Managed HSM {vault.name}" if vault.kind is VaultKind.MANAGED_HSM else f"the key vault {vault.name}"


class _Client(Protocol):
    """What the collector needs of an SDK management client: its pipeline (`send_request`)."""

    def send_request(self, request: HttpRequest, *, stream: bool = False, **kwargs: Any) -> HttpResponse: ...


def _read(client: _Client, url: str, api_version: str | None = None) -> object:
    """GET `url` through an SDK client's pipeline and return the JSON body.

    The pipeline is the SDK's own: authentication, retries with backoff, Retry-After on 429, ARM's
    policies. The body is mapped from its REST shape directly (collect/mapping.py) rather than through
    the SDK's model classes: building models and turning them back into dicts was a large share of the
    scanner's CPU per call (benchmarks/README.md), and the mapping reads the documented wire shape anyway.
    Raises HttpResponseError on an error status or a redirect (redirects are not followed), ValueError when
    the body is not JSON, and ForeignHostError when `url` is not on the client's own endpoint.
    """
    params = {"api-version": api_version} if api_version else None
    response = client.send_request(HttpRequest("GET", url, params=params))
    response.raise_for_status()
    status = int(response.status_code)
    if not 200 <= status < 300:
        location = origin_of(str(response.headers.get("Location") or ""))
        towards = f" towards {location[1]}:{location[2]}" if location else ""
        raise HttpResponseError(
            message=f"Azure answered HTTP {status}{towards}; redirects are not followed", response=response
        )
    return response.json()


class PagingError(ValueError):
    """A list's pages do not end: a `nextLink` repeats one already read, or there are more pages than allowed."""


def _pages(client: _Client, url: str, api_version: str, max_pages: int) -> Iterator[object]:
    """Every item of an ARM list, following `nextLink` page by page (links carry their own api-version).

    A link to a page already read, or more than `max_pages` pages, ends the list with PagingError: a server
    cannot keep the scan going for ever."""
    body = _read(client, url, api_version)
    seen: set[str] = set()
    while True:
        items = body.get("value") if isinstance(body, Mapping) else None
        if not isinstance(items, list):
            raise MappingError("the list answer has no 'value' list")
        yield from items
        next_link = body.get("nextLink") if isinstance(body, Mapping) else None
        if not next_link:
            return
        if not isinstance(next_link, str):
            raise MappingError("the list answer's 'nextLink' is not a URL")
        if next_link in seen:
            raise PagingError("the list's nextLink leads back to a page already read: the list was not finished")
        if len(seen) + 1 >= max_pages:
            raise PagingError(f"the list goes on past {max_pages} pages: the rest was not read")
        seen.add(next_link)
        body = _read(client, next_link)


def _read_list(
    client: _Client, url: str, api_version: ApiVersion, mapper: Callable[[Mapping[str, Any]], T], max_pages: int
) -> tuple[T, ...] | Exception:
    """Every item of a list, mapped; or what made the read fail (nothing is kept from a list that failed)."""
    try:
        return tuple(mapper(_object(item)) for item in _pages(client, url, api_version.value, max_pages))
    except READ_FAILURES as exc:
        return exc


def _object(item: object) -> Mapping[str, Any]:
    """An item of an answer that must be a JSON object."""
    if not isinstance(item, Mapping):
        raise MappingError(f"expected a JSON object, got {type(item).__name__}")
    return item


def _read_error(resource_id: str, operation: str, exc: Exception, scope: str) -> CollectionError:
    """A failed read as a CollectionError: ARM's error code and message, the transport's failure, bad JSON, a
    request refused before it left, or (never expected) an error of cmkaudit's own inside the call."""
    if isinstance(exc, HttpResponseError):
        return _arm_error(resource_id, operation, exc, scope)
    if isinstance(exc, AzureError):
        return collection_error(resource_id, operation, exc, scope)
    if isinstance(exc, ForeignHostError):
        return CollectionError(
            resource_id,
            operation,
            None,
            "ForeignHostRefused",
            str(exc),
            "an answer pointed the scan at another host; if this endpoint is genuine, report it to its operator",
        )
    if isinstance(exc, PagingError):
        return CollectionError(resource_id, operation, None, "EndlessList", str(exc))
    if isinstance(exc, MappingError):
        return CollectionError(resource_id, operation, None, "MalformedResource", str(exc))
    if isinstance(exc, json.JSONDecodeError):
        return CollectionError(resource_id, operation, None, "MalformedResponse", f"the answer is not JSON: {exc}")
    if isinstance(exc, RecursionError):
        return CollectionError(resource_id, operation, None, "MalformedResponse", "the answer is nested too deeply")
    if isinstance(exc, ValueError):
        return CollectionError(resource_id, operation, None, "MalformedResponse", str(exc))
    if isinstance(exc, WriteBlockedError):
        return CollectionError(resource_id, operation, None, "WriteBlocked", exc.message, exc.hint)
    return CollectionError(
        resource_id,
        operation,
        None,
        "UnexpectedError",
        f"{type(exc).__name__}: {exc}",
        "this is a bug in cmkaudit; please report it (the rest of the scan went on)",
    )


def _unread(error: CollectionError) -> Unread:
    """The marker a record carries for a call that failed (credentials scrubbed, like the error itself)."""
    return Unread.failed(error)


READ_FAILURES = (Exception,)
"""What a read can raise and the scan records as missing evidence instead of ending: an SDK or transport error,
a body that is not the JSON expected (MappingError is a ValueError), a request refused before it left
(ForeignHostError, WriteBlockedError), or an error of cmkaudit's own inside one call. A cancelled scan
(ScanCancelled, KeyboardInterrupt) is not an Exception and goes through."""


def _subscriptions_of(ids: Iterable[str | None]) -> list[SubscriptionId]:
    seen: dict[str, str] = {}
    for rid in ids:
        sub = subscription_of(rid) if rid else None
        if sub:
            seen.setdefault(sub.lower(), sub)
    return sorted((SubscriptionId(s) for s in seen.values()), key=str.lower)


def _uses_cmk(workspaces: Iterable[Workspace]) -> bool:
    """Whether any workspace uses a customer-managed key (only then are vaults listed)."""
    return any(w.scope(s).uses_cmk for w in workspaces for s in AZURE_SCOPES)


def _des_subscriptions(workspaces: Iterable[Workspace]) -> list[SubscriptionId]:
    """The subscriptions holding the workspaces' disk encryption sets."""
    return _subscriptions_of(w.disk_encryption_set_id for w in workspaces)


def _storage_subscriptions(workspaces: Iterable[Workspace]) -> list[SubscriptionId]:
    """The subscriptions holding the workspaces' managed resource groups (and so their DBFS storage)."""
    return _subscriptions_of(w.managed_resource_group_id for w in workspaces)


@dataclass
class _Collected:
    """What one piece of the crawl found; pieces are merged in a fixed order, whatever finished first."""

    subscriptions: list[Subscription] = field(default_factory=list)
    workspaces: list[Workspace] = field(default_factory=list)
    vaults: list[Vault] = field(default_factory=list)
    keys: list[Key] = field(default_factory=list)
    disk_encryption_sets: list[DiskEncryptionSet] = field(default_factory=list)
    storage_accounts: list[StorageAccount] = field(default_factory=list)
    principals: list[PrincipalLookup] = field(default_factory=list)
    role_definitions: list[RoleDefinition] = field(default_factory=list)
    memberships: list[GroupMembership] = field(default_factory=list)
    group_members: list[GroupMembers] = field(default_factory=list)
    errors: list[CollectionError] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    unlisted: list[Unlisted] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """How much has been found so far, for progress displays."""
        return {
            "subscriptions": len(self.subscriptions),
            "workspaces": len(self.workspaces),
            "vaults": len(self.vaults),
            "keys": len(self.keys),
        }

    def merge(self, parts: Iterable[_Collected]) -> None:
        """Append every part's findings, in the parts' order."""
        for part in parts:
            for name in self.__dataclass_fields__:
                getattr(self, name).extend(getattr(part, name))


LISTED_KIND = {
    WORKSPACE_TYPE: ListedKind.WORKSPACES,
    VAULT_TYPE: ListedKind.VAULTS,
    DES_TYPE: ListedKind.DISK_ENCRYPTION_SETS,
    STORAGE_TYPE: ListedKind.STORAGE_ACCOUNTS,
    HSM_TYPE: ListedKind.MANAGED_HSMS,
}
"""Resource Graph's types as the lists they stand for."""

DEFAULT_CONCURRENCY = 16


class Source(StrEnum):
    """Where the lists of resources come from (keys, versions and vault details always come from ARM)."""

    ARM = "arm"
    """Resource Manager list calls, per subscription."""
    RESOURCE_GRAPH = "resource-graph"
    """Azure Resource Graph queries over every subscription at once (collect/graph.py)."""

    @property
    def provenance(self) -> Provenance:
        """What an inventory collected this way records as its provenance."""
        match self:
            case Source.ARM:
                return Provenance.AZURE_ARM
            case Source.RESOURCE_GRAPH:
                return Provenance.AZURE_RESOURCE_GRAPH
            case _:
                assert_never(self)


@dataclass(frozen=True, slots=True)
class CollectSettings:
    """Collector inputs that do not come from Azure."""

    databricks_principal_ids: Mapping[str, PrincipalId] = field(default_factory=dict)
    """AzureDatabricks service principal object id per tenant id ("*" for any tenant)."""
    concurrency: int = DEFAULT_CONCURRENCY
    """How many calls may be in flight at once (1: one after the other)."""
    source: Source = Source.ARM


U = TypeVar("U")
R = TypeVar("R")


def _subscription_of_item(item: object) -> str | None:
    """The subscription a unit of crawl work reads from (a record's, a tuple's first record's, or a `(kind,
    subscription)` pair's), None when it has none."""
    if isinstance(item, tuple) and item:
        last = item[-1]
        if isinstance(last, str) and len(item) == 2 and isinstance(item[0], str):
            return last.lower()
        return _subscription_of_item(item[0])
    found = getattr(item, "subscription_id", None)
    if isinstance(found, str):
        return found.lower()
    vault = getattr(item, "vault_id", None)
    return (subscription_of(vault) or "").lower() or None if isinstance(vault, str) else None


def _interleaved(items: list[Any]) -> list[int]:
    """The indices of `items`, taking one of each subscription in turn (input order within a subscription)."""
    groups: dict[str | None, list[int]] = {}
    for index, item in enumerate(items):
        groups.setdefault(_subscription_of_item(item), []).append(index)
    queues = list(groups.values())
    order: list[int] = []
    for turn in range(max(len(q) for q in queues)):
        order.extend(q[turn] for q in queues if turn < len(q))
    return order


class AzureCollector:
    """Collects the inventory of some subscriptions through the official SDK clients, concurrently.

    The crawl runs in four phases, each needing what the one before found: subscriptions and their
    workspaces; vaults, disk encryption sets and storage accounts; the referenced keys, their vaults'
    details and Microsoft Graph; rotation policies and role definitions. Within a phase every call shares
    one bounded thread pool, and results are merged in input order, so the inventory does not depend on
    which call finished first.
    """

    def __init__(
        self, connection: ArmConnection, settings: CollectSettings | None = None, observer: CrawlObserver | None = None
    ) -> None:
        self._conn = connection
        self._settings = settings or CollectSettings()
        self._observer = observer or SilentObserver()
        self._clients: dict[tuple[str, str], Any] = {}
        self._clients_lock = threading.Lock()

    def _client(self, make: Callable[[str], T], subscription: str) -> T:
        """The client `make` builds for `subscription`, built once per crawl: a client is its whole pipeline of
        policies, and Azure SDK clients are safe to share between threads."""
        key = (make.__name__, subscription.lower())
        with self._clients_lock:
            client = self._clients.get(key)
            if client is None:
                client = self._clients[key] = make(subscription)
        return client

    def collect(
        self, subscriptions: Iterable[SubscriptionId], *, now: datetime, skipped: Iterable[str] = ()
    ) -> Inventory:
        """Crawl `subscriptions` and return the inventory; `now` is recorded as the collection time."""
        subs = tuple(dict.fromkeys(subscriptions))
        got = _Collected()
        pool = ThreadPoolExecutor(max_workers=max(1, self._settings.concurrency))
        try:

            def start(work: Callable[[U], R], items: Iterable[U]) -> Callable[[], list[R]]:
                """Submit `work` for every item now; the returned call waits for the results, in input order.

                Groups started before a wait run together, so independent reads share the pool.
                """
                chosen = list(items)

                def observed(item: U) -> R:
                    try:
                        return work(item)
                    finally:
                        self._observer.advance()

                if self._settings.concurrency <= 1 or len(chosen) <= 1:
                    return lambda: [observed(item) for item in chosen]
                # Submitted one subscription after another in turn, so that the pool's threads spread over the
                # subscriptions' read buckets instead of all waiting on one; returned in input order.
                order = _interleaved(chosen)
                results = pool.map(observed, [chosen[i] for i in order])

                def in_input_order() -> list[R]:
                    placed: dict[int, R] = dict(zip(order, results, strict=True))
                    return [placed[i] for i in range(len(chosen))]

                return in_input_order

            def phase(name: str, *groups: Iterable[object]) -> None:
                self._observer.found(got.counts())
                self._observer.phase(name, sum(len(list(g)) for g in groups))

            if self._settings.source is Source.RESOURCE_GRAPH:
                # 1-2. Subscriptions, workspaces, vaults, disk encryption sets and storage accounts: a few queries.
                phase("Resource Graph queries", [subs])
                got.merge([self._graph_part(subs)])
                self._observer.advance()
            else:
                # 1. Each subscription and its workspaces (two reads per subscription, side by side).
                reads = [(kind, s) for s in subs for kind in ("read", "workspaces")]
                phase("subscriptions and workspaces", reads)
                got.merge(start(self._subscription_part, reads)())
                # 2. Vaults (every scanned subscription: a workspace's key may live in a vault of another one),
                #    and the disk encryption sets and storage accounts of the subscriptions holding the workspaces.
                lists = [("vaults", s) for s in subs if _uses_cmk(got.workspaces)]
                lists += [("des", s) for s in _des_subscriptions(got.workspaces)]
                lists += [("storage", s) for s in _storage_subscriptions(got.workspaces)]
                phase("vaults, disk encryption sets and storage accounts", lists)
                got.merge(start(self._resources_part, lists)())
            # 2b. Managed HSM pools, listed only when a key in use is on one (a tenant without them pays nothing);
            #     Resource Graph's query returned them already.
            key_refs = self._key_refs(got)
            listed = self._settings.source is Source.RESOURCE_GRAPH
            on_pool = _names_a_pool(key_refs) and not listed
            hsm_subs = [s for s in subs if _uses_cmk(got.workspaces)] if on_pool else []
            if hsm_subs:
                phase("Managed HSM pools", hsm_subs)
                got.merge(start(self._hsm_part, hsm_subs)())
            # 3. The referenced keys, the vaults holding them, and the AzureDatabricks service principal.
            refs = self._referenced_vault_refs(got, key_refs)
            wanted: dict[str, set[str]] = {}
            for vault, ref in refs:
                wanted.setdefault(id_key(vault.id), set()).add(ref.key_name)
            referenced, tenants = self._distinct_keys(refs), self._managed_services_tenants(got)
            phase("keys and vault details", referenced, got.vaults, tenants)
            keys = start(self._key_part, referenced)
            details = start(
                lambda vault: (
                    self._vault_details(vault, wanted[id_key(vault.id)])
                    if id_key(vault.id) in wanted
                    else (vault, _Collected())
                ),
                got.vaults,
            )
            principals = start(self._principal_part, tenants)
            got.merge(keys())
            checked = details()
            got.vaults = [vault for vault, _ in checked]
            got.merge(part for _, part in checked)
            got.merge(principals())
            # 3b. The groups of the identities that use keys, when a vault holding one grants a group (or a principal
            #     that may be one): Microsoft Graph, twenty identities a batch.
            wanted_groups, member_batches = self._directory_batches(got, set(wanted))
            if wanted_groups:
                phase("group memberships", wanted_groups)
                got.merge(start(self._membership_part, wanted_groups)())
            # 4. Rotation policies Resource Manager did not return, and the roles assigned on the vaults.
            vaults = {id_key(v.id): v for v in got.vaults}
            definition_ids = self._role_definition_ids(got.vaults)
            phase("rotation policies, role definitions and group members", got.keys, definition_ids, member_batches)
            policies = start(lambda key: self._rotation_policy(key, vaults.get(id_key(key.vault_id))), got.keys)
            definitions = start(self._definition_part, definition_ids)
            members = start(self._members_part, member_batches)
            got.merge(members())
            updated = policies()
            got.keys = [key for key, _ in updated]
            got.errors.extend(e for _, errors in updated for e in errors)
            got.merge(definitions())
            self._observer.found(got.counts())
            self._observer.finished()
        except BaseException:
            # Ctrl-C (or anything unforeseen) ends the crawl at once: queued calls are dropped, every retry wait
            # ends, and no further request leaves; calls already on the wire are abandoned, not awaited.
            self._conn.transport.cancel()
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown()
        return assemble_inventory(
            collected_at=now,
            tool_version=__version__,
            scope=ScanScope(
                subs,
                self._conn.endpoints.arm,
                self._conn.endpoints.cloud.value,
                tuple(skipped),
                (self._settings.source.provenance,),
                tuple(got.notes),
            ),
            subscriptions=got.subscriptions,
            workspaces=got.workspaces,
            vaults=got.vaults,
            keys=got.keys,
            disk_encryption_sets=got.disk_encryption_sets,
            storage_accounts=got.storage_accounts,
            principals=got.principals,
            errors=list(got.errors),  # scrubbed when made (CollectionError)
            role_definitions=got.role_definitions,
            unlisted=got.unlisted,
            memberships=got.memberships,
            group_members=got.group_members,
        )

    def _directory_batches(
        self, got: _Collected, holding: set[str]
    ) -> tuple[list[tuple[str, list[str]]], list[tuple[str, list[str]]]]:
        """The Microsoft Graph reads group grants need, as (tenant, up to 20 ids) batches: none unless a vault or pool
        holding a key in use (`holding`) grants a group, or a principal that may be one. Then, the groups of every
        identity that uses a key (IAM-01/02 count a group's grants as its members'), and the members of those
        groups and of those that may purge keys by access policy (IAM-03 names them)."""
        index = build_index(
            workspaces=got.workspaces,
            vaults=got.vaults,
            disk_encryption_sets=got.disk_encryption_sets,
            storage_accounts=got.storage_accounts,
            principals=got.principals,
        )
        if not any(index.group_assignments.get(v) or index.possible_group_policies.get(v) for v in holding):
            return [], []
        default = next((s.tenant_id for s in got.subscriptions if s.tenant_id), "organizations")
        identities_by_tenant: dict[str, list[str]] = {}
        identities = [
            *(i for d in got.disk_encryption_sets for i in d.identities),
            *(i for a in got.storage_accounts for i in a.identities),
            *(i for w in got.workspaces for i in (w.managed_disk_identity, w.storage_account_identity) if i),
        ]
        for identity in identities:
            if identity.principal_id:
                identities_by_tenant.setdefault(identity.tenant_id or default, []).append(identity.principal_id)
        for lookup in got.principals:
            if lookup.object_id:
                identities_by_tenant.setdefault(lookup.tenant_id, []).append(lookup.object_id)
        groups_by_tenant: dict[str, list[str]] = {}
        for vault_key in holding:
            vault = index.vaults.get(vault_key)
            groups = groups_by_tenant.setdefault((vault.tenant_id if vault else None) or default, [])
            groups += [a.principal_id for a in index.group_assignments.get(vault_key, ())]
            groups += [
                p.object_id
                for p in index.possible_group_policies.get(vault_key, ())
                if {"purge", "all"} & {k.lower() for k in p.keys}
            ]
        return _batched(identities_by_tenant), _batched(groups_by_tenant)

    def _members_part(self, task: tuple[str, list[str]]) -> _Collected:
        tenant, groups = task
        part = _Collected()
        found, errors = GraphDirectory(self._conn).members(tenant, groups)
        part.group_members.extend(found)
        part.errors.extend(errors)
        return part

    def _membership_part(self, task: tuple[str, list[str]]) -> _Collected:
        tenant, principals = task
        part = _Collected()
        found, errors = GraphDirectory(self._conn).memberships(tenant, principals)
        part.memberships.extend(found)
        part.errors.extend(errors)
        return part

    def _subscription_part(self, task: tuple[str, SubscriptionId]) -> _Collected:
        """Read the subscription (its tenant is the tenant of every workspace in it), or list its workspaces."""
        kind, sub = task
        part = _Collected()
        resource_id = f"/subscriptions/{sub}"
        if kind == "workspaces":
            self._list_of(
                part,
                sub,
                self._conn.databricks(sub),
                ("Microsoft.Databricks/workspaces", ApiVersion.DATABRICKS, ListedKind.WORKSPACES),
                "list Databricks workspaces",
                workspace_from_arm,
                part.workspaces,
            )
            if [e.code for e in part.errors] == [MISSING_REGISTRATION]:
                # Databricks was never registered in this subscription, so it holds no workspace: that is an
                # answer, not missing evidence (and registering it would be a write).
                part.errors.clear()
                part.unlisted.clear()
                part.notes.append(
                    f"{sub}: Microsoft.Databricks is not registered in this subscription, so it has no workspaces"
                )
            return part
        try:
            found = _read(self._conn.subscriptions(), resource_id, ApiVersion.SUBSCRIPTIONS.value)
            part.subscriptions.append(subscription_from_arm(_object(found)))
        except READ_FAILURES as exc:
            part.errors.append(_read_error(resource_id, "read the subscription", exc, f"subscription {sub}"))
        return part

    def _resources_part(self, task: tuple[str, SubscriptionId]) -> _Collected:
        kind, sub = task
        part = _Collected()
        if kind == "vaults":
            listed = ("Microsoft.KeyVault/vaults", ApiVersion.KEYVAULT, ListedKind.VAULTS)
            self._list_of(part, sub, self._conn.keyvault(sub), listed, "list key vaults", vault_from_arm, part.vaults)
        elif kind == "des":
            listed = ("Microsoft.Compute/diskEncryptionSets", ApiVersion.COMPUTE_DISK, ListedKind.DISK_ENCRYPTION_SETS)
            operation, into = "list disk encryption sets", part.disk_encryption_sets
            self._list_of(part, sub, self._conn.compute(sub), listed, operation, disk_encryption_set_from_arm, into)
        else:
            listed = ("Microsoft.Storage/storageAccounts", ApiVersion.STORAGE, ListedKind.STORAGE_ACCOUNTS)
            operation, into_accounts = "list storage accounts", part.storage_accounts
            self._list_of(
                part, sub, self._conn.storage(sub), listed, operation, storage_account_from_arm, into_accounts
            )
        return part

    def _hsm_part(self, sub: SubscriptionId) -> _Collected:
        """The Managed HSM pools of a subscription (ManagedHsms_ListBySubscription)."""
        part = _Collected()
        listed = ("Microsoft.KeyVault/managedHSMs", ApiVersion.KEYVAULT, ListedKind.MANAGED_HSMS)
        client = self._conn.keyvault(sub)
        self._list_of(part, sub, client, listed, "list Managed HSM pools", managed_hsm_from_arm, part.vaults)
        return part

    def _list_of(
        self,
        part: _Collected,
        sub: SubscriptionId,
        client: _Client,
        listed: tuple[str, ApiVersion, ListedKind],
        operation: str,
        mapper: Callable[[Mapping[str, Any]], T],
        into: list[T],
    ) -> None:
        """List one provider's resources of a subscription (`listed`: provider path, API version, kind) into `into`."""
        path, api_version, kind = listed
        pages = _pages(client, f"/subscriptions/{sub}/providers/{path}", api_version.value, self._conn.limits.max_pages)
        self._list(part, sub, kind, operation, pages, mapper, into)

    def _graph_part(self, subs: tuple[SubscriptionId, ...]) -> _Collected:
        """What the ARM lists would find, from Resource Graph: the same resources, kept by the same rules."""
        part = _Collected()
        operation = "query Azure Resource Graph"
        try:
            rows = list(query_pages(self._conn, SUBSCRIPTIONS_QUERY, subs))
        except READ_FAILURES as exc:
            for sub in subs:
                self._unlisted(part, sub, _read_error(f"/subscriptions/{sub}", operation, exc, f"subscription {sub}"))
            return part
        for row in rows:
            try:
                part.subscriptions.append(subscription_from_arm(arm_subscription(row)))
            except MappingError as exc:
                part.errors.append(CollectionError(str(row.get("id")), operation, None, "MalformedResource", str(exc)))
        visible = {s.id.lower() for s in part.subscriptions}
        for sub in subs:
            if sub.lower() not in visible:
                error = CollectionError(
                    f"/subscriptions/{sub}",
                    operation,
                    None,
                    "SubscriptionNotVisible",
                    "Resource Graph returned nothing for this subscription: the identity cannot read it, "
                    "or it does not exist",
                    hint_for(403, f"subscription {sub}"),
                )
                self._unlisted(part, sub, error)
        self._graph_resources(part, [s for s in subs if s.lower() in visible], operation)
        # As the ARM crawl does: disk encryption sets and storage accounts in subscriptions not scanned.
        scanned = {s.lower() for s in subs}
        extra = [
            s
            for s in dict.fromkeys(_des_subscriptions(part.workspaces) + _storage_subscriptions(part.workspaces))
            if s.lower() not in scanned
        ]
        if extra:
            self._graph_resources(part, extra, operation, kinds=(DES_TYPE, STORAGE_TYPE))
        # Keep what the ARM crawl keeps: vaults when a workspace uses CMK; DES and storage of the workspaces'
        # subscriptions.
        if not _uses_cmk(part.workspaces):
            part.vaults.clear()
        if not _names_a_pool(self._key_refs(part)):  # as the ARM crawl: pools only when a key in use is on one
            part.vaults[:] = [v for v in part.vaults if v.kind is not VaultKind.MANAGED_HSM]
        des_subs = {s.lower() for s in _des_subscriptions(part.workspaces)}
        storage_subs = {s.lower() for s in _storage_subscriptions(part.workspaces)}
        part.disk_encryption_sets[:] = [
            d for d in part.disk_encryption_sets if (subscription_of(d.id) or "").lower() in des_subs
        ]
        part.storage_accounts[:] = [
            a for a in part.storage_accounts if (subscription_of(a.id) or "").lower() in storage_subs
        ]
        return part

    def _graph_resources(
        self, part: _Collected, subs: list[SubscriptionId], operation: str, kinds: tuple[str, ...] = RESOURCE_TYPES
    ) -> None:
        """The resources of `subs` from Resource Graph, mapped into `part` (a row that cannot be mapped is an error)."""
        if not subs:
            return
        try:
            rows = list(query_pages(self._conn, RESOURCES_QUERY, subs))
        except READ_FAILURES as exc:
            for sub in subs:
                error = _read_error(f"/subscriptions/{sub}", operation, exc, f"subscription {sub}")
                self._unlisted(part, sub, error, tuple(LISTED_KIND[k] for k in kinds))
            return
        for row in rows:
            kind = kind_of(row)
            if kind not in kinds:
                continue
            try:
                resource = arm_resource(row)
                if kind == WORKSPACE_TYPE:
                    part.workspaces.append(workspace_from_arm(resource))
                elif kind == VAULT_TYPE:
                    part.vaults.append(vault_from_arm(resource))
                elif kind == HSM_TYPE:
                    part.vaults.append(managed_hsm_from_arm(resource))
                elif kind == DES_TYPE:
                    part.disk_encryption_sets.append(disk_encryption_set_from_arm(resource))
                else:
                    part.storage_accounts.append(storage_account_from_arm(resource))
            except MappingError as exc:
                error = CollectionError(str(row.get("id")), operation, None, "MalformedResource", str(exc))
                part.errors.append(error)
                owner = subscription_of(str(row.get("id") or ""))
                if owner:
                    part.unlisted.append(Unlisted(SubscriptionId(owner), LISTED_KIND[kind], _unread(error)))

    @staticmethod
    def _unlisted(
        part: _Collected, sub: SubscriptionId, error: CollectionError, kinds: Iterable[ListedKind] = tuple(ListedKind)
    ) -> None:
        """Record a failure that left a subscription's lists of these kinds unread."""
        part.errors.append(error)
        part.unlisted.extend(Unlisted(sub, kind, _unread(error)) for kind in kinds)

    def discover(self) -> tuple[list[SubscriptionId], list[str]]:
        """Every subscription the credential can see: those to scan, and those skipped (with why).

        Disabled and deleted subscriptions are skipped; Enabled, Warned and PastDue ones can be read.
        Raises CollectionFailure when the list itself cannot be read.
        """
        try:
            client, limit = self._conn.subscriptions(), self._conn.limits.max_pages
            pages = _pages(client, "/subscriptions", ApiVersion.SUBSCRIPTIONS.value, limit)
            listed = [subscription_from_arm(_object(s)) for s in pages]
        except READ_FAILURES as exc:
            reason = _read_error("/subscriptions", "list subscriptions", exc, "the subscriptions").message
            raise CollectionFailure(
                f"cannot list the subscriptions this identity can see: {reason}",
                "pass --subscription ID instead, or grant the identity Reader on the subscriptions",
            ) from exc
        scan, skipped = [], []
        for subscription in sorted(listed, key=lambda s: s.id.lower()):
            if (subscription.state or "").lower() in ("disabled", "deleted"):
                name = f" ({subscription.display_name})" if subscription.display_name else ""
                skipped.append(f"{subscription.id}{name}: {subscription.state}, not scanned")
            else:
                scan.append(SubscriptionId(subscription.id))
        return scan, skipped

    @staticmethod
    def _list(
        got: _Collected,
        subscription: SubscriptionId,
        kind: ListedKind,
        operation: str,
        pager: Iterable[object],
        mapper: Callable[[Mapping[str, Any]], T],
        into: list[T],
    ) -> None:
        """Page through a list, map each item, and record what fails (items read before a failure are kept), with
        a marker that the subscription's list of this kind is incomplete.

        Pages are read lazily: the HTTP calls, and so the errors, happen while iterating. An item that
        cannot be mapped is an error of its own; the rest of the list is still read.
        """
        resource_id, scope = f"/subscriptions/{subscription}", f"subscription {subscription}"
        failed: list[CollectionError] = []
        try:
            for item in pager:
                try:
                    into.append(mapper(_object(item)))
                except MappingError as exc:
                    failed.append(CollectionError(resource_id, operation, None, "MalformedResource", str(exc), None))
        except READ_FAILURES as exc:
            failed.append(_read_error(resource_id, operation, exc, scope))
        got.errors.extend(failed)
        if failed:
            got.unlisted.append(Unlisted(subscription, kind, _unread(failed[0])))

    @staticmethod
    def _distinct_keys(refs: Iterable[tuple[Vault, KeyReference]]) -> list[tuple[Vault, KeyReference, frozenset[str]]]:
        """Each distinct (vault, key name) among the references, in key id order, with the versions they name."""
        wanted: dict[str, tuple[Vault, KeyReference]] = {}
        versions: dict[str, set[str]] = {}
        for vault, ref in refs:
            key = id_key(key_resource_id(vault.id, ref.key_name))
            wanted.setdefault(key, (vault, ref))
            if ref.key_version:
                versions.setdefault(key, set()).add(ref.key_version)
        return [(*wanted[k], frozenset(versions.get(k, ()))) for k in sorted(wanted)]

    @staticmethod
    def _referenced_vault_refs(got: _Collected, refs: Iterable[KeyReference]) -> list[tuple[Vault, KeyReference]]:
        """Each of the key references `refs` whose vault is in the inventory, with that vault."""
        by_host = {vault_host(v.vault_uri): v for v in got.vaults if v.vault_uri}
        found = ((by_host.get(vault_host(ref.vault_uri)), ref) for ref in refs)
        return [(vault, ref) for vault, ref in found if vault is not None]

    @staticmethod
    def _key_refs(got: _Collected) -> list[KeyReference]:
        """Every key reference of the workspaces, their disk encryption sets and DBFS storage accounts (a storage
        account's current versioned key counts as a reference to that version)."""
        index = build_index(disk_encryption_sets=got.disk_encryption_sets, storage_accounts=got.storage_accounts)
        refs: list[KeyReference] = []
        for w, links in zip(got.workspaces, resolve_workspace_links(got.workspaces, index), strict=True):
            refs.extend(w.scope(s).key for s in AZURE_SCOPES if w.scope(s).uses_cmk and w.scope(s).key)  # type: ignore[misc]
            des = index.disk_encryption_sets.get(id_key(links.disk_encryption_set_id or ""))
            if des and des.active_key:
                refs.append(des.active_key)
            account = index.storage_accounts.get(id_key(links.storage_account_id or ""))
            if account and account.key and (account.key_source or "").lower() == "microsoft.keyvault":
                refs.append(account.key)
                current = parse_key_url(account.current_versioned_key_id or "")
                if current and current.version:
                    refs.append(replace(account.key, key_version=current.version))
        return refs

    def _key_part(self, wanted: tuple[Vault, KeyReference, frozenset[str]]) -> _Collected:
        """A referenced key and its versions (attributes only, never key material). A version in use that is not
        the latest, and whose type and size the versions list leaves out, is read on its own (Keys_GetVersion):
        KEY-01 judges the version a scope uses, which may differ from the latest."""
        vault, ref, in_use = wanted
        part = _Collected()
        key_id = key_resource_id(vault.id, ref.key_name)
        client = self._client(self._conn.keyvault, vault.subscription_id)
        scope = _holder(vault)
        url = f"{_vault_path(vault)}/keys/{quote(ref.key_name, safe='')}"
        versions: tuple[KeyVersion, ...] | None
        versions_unread: Unread | None = None
        try:
            listed = _pages(client, f"{url}/versions", ApiVersion.KEYVAULT.value, self._conn.limits.max_pages)
            versions = tuple(v for v in (key_version_from_arm(_object(item)) for item in listed) if v is not None)
        except READ_FAILURES as exc:
            error = _read_error(f"{key_id}/versions", "list key versions", exc, scope)
            part.errors.append(error)
            versions, versions_unread = None, _unread(error)
        try:
            payload = _read(client, url, ApiVersion.KEYVAULT.value)
            key = replace(key_from_arm(_object(payload), vault.id, versions), versions_unread=versions_unread)
        except READ_FAILURES as exc:
            error = _read_error(key_id, "get key", exc, scope)
            part.errors.append(error)
            # The key is kept as what could not be read: its id, vault and name, and why.
            unread_key = Key(key_id, vault.id, ref.key_name, None, None, None, None, None, None, None, None)
            part.keys.append(replace(unread_key, versions_unread=versions_unread, unread=_unread(error)))
            return part
        if key.versions:
            current = (key.current_version or "").lower()
            wanted_versions = {v.lower() for v in in_use} - {current}
            updated = []
            for version in key.versions:
                if version.version.lower() in wanted_versions and version.kty is None:
                    version = self._version_details(client, url, key_id, version, scope, part)
                updated.append(version)
            key = replace(key, versions=tuple(updated))
        part.keys.append(key)
        return part

    @staticmethod
    def _version_details(
        client: _Client, url: str, key_id: str, version: KeyVersion, scope: str, part: _Collected
    ) -> KeyVersion:
        """The version with its own type and size, read with Keys_GetVersion (unchanged if that read fails)."""
        resource_id = f"{key_id}/versions/{version.version}"
        try:
            payload = _read(client, f"{url}/versions/{quote(version.version, safe='')}", ApiVersion.KEYVAULT.value)
            detailed = key_version_from_arm(_object(payload))
        except READ_FAILURES as exc:
            part.errors.append(_read_error(resource_id, "get key version", exc, scope))
            return version
        if detailed is None:
            return version
        return replace(version, kty=detailed.kty, key_size=detailed.key_size)

    def _rotation_policy(self, key: Key, vault: Vault | None) -> tuple[Key, list[CollectionError]]:
        """Where Resource Manager returned no rotation policy, ask the vault's data plane (a GET)."""
        if key.unread is not None or key.rotation_policy is not None or vault is None or not vault.vault_uri:
            return key, []
        read = self._data_plane_policy(key, vault)
        if isinstance(read, CollectionError):
            return replace(key, rotation_policy_unread=_unread(read)), [read]
        return read, []

    def _data_plane_policy(self, key: Key, vault: Vault) -> Key | CollectionError:
        """The key with the rotation policy read from the vault's (or pool's) data plane, or why that failed."""
        vault_uri = vault.vault_uri or ""
        resource = rotation_policy_url(vault_uri, key.name)
        operation = "get key rotation policy (data plane)"
        if vault.kind is VaultKind.MANAGED_HSM:
            hint, token = MANAGED_HSM_POLICY_HINT, ("Managed HSM", _MANAGEDHSM_TOKEN_HINT)
        else:
            hint, token = DATA_PLANE_HINT, ("Key Vault", _KEYVAULT_TOKEN_HINT)
        try:
            policy = self._conn.key_client(vault_uri).get_key_rotation_policy(key.name)
            return replace(key, rotation_policy=rotation_policy_from_sdk(policy, f"data plane {resource}"))
        except (ForeignHostError, *READ_FAILURES, AzureError) as exc:
            return _data_plane_error(resource, operation, exc, _holder(vault), hint, token)

    def _vault_details(self, vault: Vault, key_names: Iterable[str] = ()) -> tuple[Vault, _Collected]:
        """For a vault holding a workspace's key: where its logs go (KV-04), and who holds which role on it, whatever
        its permission model (IAM-01/02 on RBAC vaults; IAM-03 on every vault, since on an access-policy vault
        whoever may write the vault may write themselves an access policy). A Managed HSM pool's roles are its local
        RBAC, read from its data plane with the definitions of its roles. The failed reads (and a pool's role
        definitions) come back in the part."""
        part = _Collected()
        scope = _holder(vault)
        resource_id = f"{vault.id}/providers/Microsoft.Insights/diagnosticSettings"
        client = self._client(self._conn.keyvault, vault.subscription_id)
        pages = self._conn.limits.max_pages
        settings = _read_list(client, resource_id, ApiVersion.DIAGNOSTIC_SETTINGS, diagnostic_setting_from_arm, pages)
        if isinstance(settings, Exception):
            error = _read_error(resource_id, "list diagnostic settings", settings, scope)
            part.errors.append(error)
            vault = replace(vault, diagnostic_settings_unread=_unread(error))
        else:
            vault = replace(vault, diagnostic_settings=settings)
        if vault.kind is VaultKind.MANAGED_HSM:
            return self._local_rbac(vault, key_names, part), part
        assignments_id = f"{vault.id}/providers/Microsoft.Authorization/roleAssignments"
        roles = self._client(self._conn.authorization, vault.subscription_id)
        assignments = _read_list(roles, assignments_id, ApiVersion.AUTHORIZATION, role_assignment_from_arm, pages)
        if isinstance(assignments, Exception):
            error = _read_error(assignments_id, "list role assignments", assignments, scope)
            part.errors.append(error)
            return replace(vault, role_assignments_unread=_unread(error)), part
        return replace(vault, role_assignments=assignments), part

    def _local_rbac(self, vault: Vault, key_names: Iterable[str], part: _Collected) -> Vault:
        """A Managed HSM pool's local role assignments (at `/`, `/keys` and on each key in use), with its role
        definitions put in `part`, from its data plane; or, when they cannot be read, the pool marked with why and
        what to grant (the error in `part`)."""
        operation = "list Managed HSM role assignments (data plane)"
        base = (vault.vault_uri or "").rstrip("/")
        scopes = ["", "/keys", *(f"/keys/{quote(name, safe='')}" for name in sorted(set(key_names)))]
        limit = self._conn.limits.max_pages
        version = ApiVersion.KEYVAULT_DATA_PLANE.value
        assignments: dict[str, RoleAssignment] = {}
        url = f"{base}/providers/Microsoft.Authorization/roleAssignments"
        try:
            client = self._conn.access_control_client(vault.vault_uri or "")
            for local in scopes:
                url = f"{base}{local}/providers/Microsoft.Authorization/roleAssignments"
                for item in _pages(client, url, version, limit):
                    assignment = local_role_assignment_from_hsm(_object(item), vault.id)
                    assignments.setdefault(id_key(assignment.id), assignment)
            url = f"{base}/providers/Microsoft.Authorization/roleDefinitions"
            operation = "list Managed HSM role definitions (data plane)"
            definitions = [
                local_role_definition_from_hsm(_object(item)) for item in _pages(client, url, version, limit)
            ]
        except (ForeignHostError, *READ_FAILURES) as exc:
            token = ("Managed HSM", _MANAGEDHSM_TOKEN_HINT)
            error = _data_plane_error(url, operation, exc, _holder(vault), MANAGED_HSM_RBAC_HINT, token)
            part.errors.append(error)
            return replace(vault, role_assignments_unread=_unread(error))
        part.role_definitions.extend(definitions)
        return replace(vault, role_assignments=tuple(assignments.values()))

    @staticmethod
    def _role_definition_ids(vaults: Iterable[Vault]) -> list[tuple[str, str]]:
        """Each distinct role definition assigned on a vault holding a key, with a subscription to read it through.

        Role definition ids may be tenant-level, so the vault's subscription serves the client.
        """
        found: dict[str, tuple[str, str]] = {}
        for vault in vaults:
            if vault.kind is VaultKind.MANAGED_HSM:
                continue  # a pool's local roles are read with its role assignments
            for assignment in vault.role_assignments or ():
                found.setdefault(
                    id_key(assignment.role_definition_id), (assignment.role_definition_id, vault.subscription_id)
                )
        return [found[k] for k in sorted(found)]

    def _definition_part(self, wanted: tuple[str, str]) -> _Collected:
        definition_id, subscription = wanted
        part = _Collected()
        try:
            found = _read(
                self._client(self._conn.authorization, subscription), definition_id, ApiVersion.AUTHORIZATION.value
            )
            part.role_definitions.append(role_definition_from_arm(_object(found)))
        except READ_FAILURES as exc:
            part.errors.append(_read_error(definition_id, "get role definition", exc, "the role definition"))
        return part

    @staticmethod
    def _managed_services_tenants(got: _Collected) -> list[str]:
        """Tenants of the vaults that hold managed-services keys (where the AzureDatabricks SP must be found)."""
        by_host = {vault_host(v.vault_uri): v for v in got.vaults if v.vault_uri}
        tenants: dict[str, str] = {}
        for w in got.workspaces:
            ref = w.managed_services.key
            if w.managed_services.uses_cmk and ref:
                vault = by_host.get(vault_host(ref.vault_uri))
                if vault and vault.tenant_id:
                    tenants.setdefault(vault.tenant_id.lower(), vault.tenant_id)
        return sorted(tenants.values(), key=str.lower)

    def _principal_part(self, tenant: str) -> _Collected:
        part = _Collected()
        configured = {k.lower(): v for k, v in self._settings.databricks_principal_ids.items()}
        chosen = configured.get(tenant.lower()) or configured.get("*")
        if chosen:
            part.principals.append(PrincipalLookup(tenant, chosen, PrincipalSource.CONFIG))
        else:
            part.principals.append(self._graph_lookup(part, tenant))
        return part

    def _graph_lookup(self, got: _Collected, tenant: str) -> PrincipalLookup:
        """Find the AzureDatabricks service principal's object id in `tenant` with Microsoft Graph (GET)."""
        url = f"{self._conn.endpoints.graph}/v1.0/servicePrincipals(appId='{AZURE_DATABRICKS_APP_ID}')"
        resource = f"{url} (tenant {tenant})"
        try:
            token = self._conn.credential.get_token(f"{self._conn.endpoints.graph}/.default", tenant_id=tenant)
            request = HttpRequest(
                "GET",
                url,
                params={"$select": "id,appId,displayName"},
                headers={"Authorization": f"Bearer {token.token}", "Accept": "application/json"},
            )
            response = self._conn.send_raw(request)
        except ClientAuthenticationError as exc:
            # No token for Microsoft Graph (e.g. CMKAUDIT_ACCESS_TOKEN holds an ARM token only).
            error = replace(
                collection_error(resource, "look up the AzureDatabricks service principal", exc),
                hint=_GRAPH_HINT,
            )
            got.errors.append(error)
            return PrincipalLookup(tenant, None, None, error.message)
        except READ_FAILURES as exc:
            error = _read_error(resource, "look up the AzureDatabricks service principal", exc, "Microsoft Graph")
            got.errors.append(error)
            return PrincipalLookup(tenant, None, None, error.message)
        status = int(response.status_code)
        body: object = None
        try:
            body = response.json()
        except (ValueError, RecursionError):
            body = None
        object_id = body.get("id") if isinstance(body, dict) else None
        app_id = body.get("appId") if isinstance(body, dict) else None
        if status == 200 and isinstance(object_id, str) and str(app_id).lower() == AZURE_DATABRICKS_APP_ID:
            return PrincipalLookup(tenant, PrincipalId(object_id), PrincipalSource.GRAPH)
        reason = f"Microsoft Graph answered HTTP {status}"
        if status in (401, 403):
            reason += " (the scanning identity may not read service principals)"
        elif status == 404:
            reason += " (the AzureDatabricks application has no service principal in this tenant)"
        elif status == 200:
            reason += " with an unexpected body"
        got.errors.append(
            CollectionError(
                resource,
                "look up the AzureDatabricks service principal",
                status,
                None,
                reason,
                _GRAPH_HINT,
            )
        )
        return PrincipalLookup(tenant, None, None, reason)


def principal_overrides(values: Iterable[str]) -> dict[str, PrincipalId]:
    """Parse `TENANT=OBJECT_ID` (or a bare OBJECT_ID for every tenant) from the command line."""
    parsed: dict[str, PrincipalId] = {}
    for value in values:
        tenant, _, object_id = value.rpartition("=")
        parsed[tenant.strip() or "*"] = PrincipalId(object_id.strip())
    return parsed
