"""The HTTP side of collection: clouds, pinned API versions, the read-only guard and SDK clients.

Every SDK client the collector builds shares one `ReadOnlyTransport`. It sits below every
pipeline policy, so a request other than GET/HEAD — a mistaken `begin_delete`, say — is refused
before it leaves the process. Above it, each client's pipeline is cmkaudit's own: no automatic
resource-provider registration, no redirects followed, retries bounded in number and in time (a
server's Retry-After is obeyed up to a cap), and, next to the wire, a guard that lets the client's
credential go to the one origin it was issued for and nowhere else (a `nextLink` or a vault URI that
leads elsewhere is refused, not followed).
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from azure.core import PipelineClient
from azure.core.credentials import TokenCredential
from azure.core.pipeline import PipelineRequest, PipelineResponse
from azure.core.pipeline.policies import (
    HTTPPolicy,
    RedirectPolicy,
    RequestIdPolicy,
    RetryPolicy,
    SansIOHTTPPolicy,
    UserAgentPolicy,
)
from azure.core.pipeline.transport import HttpTransport
from azure.core.rest import HttpRequest as RestHttpRequest
from azure.keyvault.administration import KeyVaultAccessControlClient
from azure.keyvault.keys import KeyClient
from azure.mgmt.authorization.v2022_04_01 import AuthorizationManagementClient
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.core.policies import ARMChallengeAuthenticationPolicy
from azure.mgmt.databricks import AzureDatabricksManagementClient
from azure.mgmt.keyvault import KeyVaultManagementClient
from azure.mgmt.resource.subscriptions import SubscriptionClient
from azure.mgmt.resourcegraph import ResourceGraphClient
from azure.mgmt.storage import StorageManagementClient

from cmkaudit import __version__
from cmkaudit.collect.transport import PooledTransport
from cmkaudit.errors import WriteBlockedError
from cmkaudit.progress import CrawlObserver, SilentObserver
from cmkaudit.text import printable, scrub_secrets


class ApiVersion(StrEnum):
    """The ARM API versions cmkaudit speaks, pinned so recorded tenants replay exactly."""

    DATABRICKS = "2026-01-01"
    KEYVAULT = "2026-02-01"
    COMPUTE_DISK = "2025-01-02"
    STORAGE = "2025-06-01"
    SUBSCRIPTIONS = "2022-12-01"
    AUTHORIZATION = "2022-04-01"
    KEYVAULT_DATA_PLANE = "2025-07-01"
    RESOURCE_GRAPH = "2024-04-01"
    DIAGNOSTIC_SETTINGS = "2021-05-01-preview"
    """The latest diagnostic-settings API; azure-mgmt-monitor 7 has no client for it, so it is a raw GET."""


class Cloud(StrEnum):
    """The Azure clouds cmkaudit knows the endpoints of."""

    PUBLIC = "AzureCloud"
    CHINA = "AzureChinaCloud"
    US_GOVERNMENT = "AzureUSGovernment"


Origin = tuple[str, str, int]
"""(scheme, host, port) of a URL, lower-cased: what a credential is bound to."""


def origin_of(url: str) -> Origin | None:
    """The origin of `url`, or None when it has no host or a malformed port."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        return None
    if not parts.hostname:
        return None
    scheme = parts.scheme.lower()
    return scheme, parts.hostname.lower(), port or (443 if scheme == "https" else 80)


@dataclass(frozen=True, slots=True)
class Endpoints:
    """Where ARM and Microsoft Graph are, the token audiences for ARM and Key Vault's data plane, and the DNS
    suffixes of the cloud's key vaults and Managed HSM pools (the only hosts a Key Vault token may go to)."""

    cloud: Cloud
    arm: str
    arm_scope: str
    graph: str
    authority: str
    keyvault_scope: str
    keyvault_suffixes: tuple[str, ...] = field(default=())
    managedhsm_scope: str = "https://managedhsm.azure.net/.default"
    """The token audience of Managed HSM pools' data plane (not Key Vault's)."""

    def is_keyvault_host(self, url: str) -> bool:
        """Whether `url` is an https URL on one of the cloud's Key Vault data-plane domains (port 443)."""
        origin = origin_of(url)
        if origin is None or origin[0] != "https" or origin[2] != 443:
            return False
        return any(origin[1].endswith(suffix) and len(origin[1]) > len(suffix) for suffix in self.keyvault_suffixes)


def checked_endpoint(value: str) -> str:
    """`value` as an endpoint URL cmkaudit will send a credential to: https, a host, no user information, no
    query or fragment. Raises ValueError with a message that never repeats a password."""
    text = value.strip()
    shown = printable(scrub_secrets(text))
    parts = urlsplit(text)
    if parts.scheme.lower() != "https":
        raise ValueError(f"{shown} is not an https:// URL (a token is only ever sent over TLS)")
    if "@" in parts.netloc:
        raise ValueError(f"{shown}: user information in the URL is refused (cmkaudit authenticates with tokens)")
    if origin_of(text) is None:
        raise ValueError(f"{shown} has no host, or a malformed port")
    if parts.query or parts.fragment:
        raise ValueError(f"{shown}: an endpoint has no query string or fragment")
    return text.rstrip("/")


def endpoints_for(cloud: Cloud, arm_endpoint: str | None = None, graph_endpoint: str | None = None) -> Endpoints:
    """The endpoints of `cloud`, with ARM and Graph optionally overridden (Azure Stack, test servers).

    Overrides are checked with `checked_endpoint` (ValueError when one is not acceptable)."""
    match cloud:
        case Cloud.PUBLIC:
            base = Endpoints(
                cloud,
                "https://management.azure.com",
                "https://management.azure.com/.default",
                "https://graph.microsoft.com",
                "login.microsoftonline.com",
                "https://vault.azure.net/.default",
                (".vault.azure.net", ".managedhsm.azure.net"),
                "https://managedhsm.azure.net/.default",
            )
        case Cloud.CHINA:
            base = Endpoints(
                cloud,
                "https://management.chinacloudapi.cn",
                "https://management.chinacloudapi.cn/.default",
                "https://microsoftgraph.chinacloudapi.cn",
                "login.chinacloudapi.cn",
                "https://vault.azure.cn/.default",
                (".vault.azure.cn", ".managedhsm.azure.cn"),
                "https://managedhsm.azure.cn/.default",
            )
        case Cloud.US_GOVERNMENT:
            base = Endpoints(
                cloud,
                "https://management.usgovcloudapi.net",
                "https://management.usgovcloudapi.net/.default",
                "https://graph.microsoft.us",
                "login.microsoftonline.us",
                "https://vault.usgovcloudapi.net/.default",
                (".vault.usgovcloudapi.net", ".managedhsm.usgovcloudapi.net"),
                "https://managedhsm.usgovcloudapi.net/.default",
            )
    return Endpoints(
        cloud=base.cloud,
        arm=checked_endpoint(arm_endpoint) if arm_endpoint else base.arm,
        arm_scope=base.arm_scope,
        graph=checked_endpoint(graph_endpoint) if graph_endpoint else base.graph,
        authority=base.authority,
        keyvault_scope=base.keyvault_scope,
        keyvault_suffixes=base.keyvault_suffixes,
        managedhsm_scope=base.managedhsm_scope,
    )


@dataclass(frozen=True, slots=True)
class HttpLimits:
    """How long cmkaudit waits for Azure: every wait is bounded, so a scan always ends."""

    connect_timeout: float = 10.0
    """Seconds to establish a connection."""
    read_timeout: float = 30.0
    """Seconds to wait for an answer (or the next bytes of one) before the attempt counts as failed."""
    call_deadline: float = 300.0
    """Seconds one call may take in all, its retries and waits included."""
    max_retry_after: float = 120.0
    """The longest Retry-After obeyed; a server asking for more is not waited for (the call is recorded
    as throttled)."""
    max_pages: int = 10_000
    """The most pages one list may have (a list that goes on past this is recorded as an error)."""


class ForeignHostError(Exception):
    """A request was about to take a credential to a host it was not issued for; it was not sent."""


class ScanCancelled(BaseException):
    """The scan was interrupted: no further request is sent and no wait goes on.

    A BaseException, as KeyboardInterrupt is: code that records a failed call as missing evidence must not
    record (and so swallow) a cancellation."""


def retry_after_seconds(headers: Any) -> float | None:
    """The wait a throttled answer asks for (`Retry-After` in seconds or as an HTTP date, or Azure's
    `retry-after-ms` / `x-ms-retry-after-ms`), or None when there is none or it cannot be read."""
    for name, scale in (("retry-after-ms", 1000.0), ("x-ms-retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name)
        if not value:
            continue
        try:
            seconds = float(value) / scale
        except ValueError:
            if scale != 1.0:
                return None
            try:
                moment = parsedate_to_datetime(str(value))
            except (TypeError, ValueError, IndexError, OverflowError):
                return None
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
            seconds = (moment - datetime.now(UTC)).total_seconds()
        return max(0.0, seconds) if seconds == seconds else None  # NaN is no answer
    return None


class BoundedRetryPolicy(RetryPolicy[Any, Any]):
    """azure-core's retries (408, 429, 5xx, dropped connections; Retry-After honoured) with every wait
    bounded: a Retry-After longer than `max_retry_after` is not waited for (the throttled answer is returned
    as it is), and the whole call, retries included, ends by `call_deadline`."""

    def __init__(self, limits: HttpLimits, **kwargs: Any) -> None:
        super().__init__(timeout=limits.call_deadline, **kwargs)
        self._max_wait = limits.max_retry_after

    def is_retry(self, settings: dict[str, Any], response: PipelineResponse[Any, Any]) -> bool:
        """As azure-core decides, except that an answer asking for too long a wait is not retried."""
        wait = retry_after_seconds(response.http_response.headers)
        if wait is not None and wait > self._max_wait:
            return False
        return bool(super().is_retry(settings, response))

    def _sleep_for_retry(self, response: PipelineResponse[Any, Any], transport: Any) -> bool:
        wait = retry_after_seconds(response.http_response.headers)
        if wait is None:
            return False  # absent or unreadable: the exponential backoff applies
        transport.sleep(min(wait, self._max_wait))
        return True


ARM_READ_REFILL_PER_SECOND = 25.0
"""How fast Resource Manager refills a subscription's bucket of reads (its documented token bucket: 250 reads,
25 more each second)."""
REMAINING_READS = "x-ms-ratelimit-remaining-subscription-reads"


class ReadPacer:
    """Paces Resource Manager reads per subscription by what ARM says remains of its bucket
    (`x-ms-ratelimit-remaining-subscription-reads`), so that a large crawl waits for the bucket to refill instead
    of being answered 429 and backing off. Until a subscription's first answer says how many reads remain, its
    reads are not held back; reads in flight are counted against what remains."""

    def __init__(self, refill_per_second: float = ARM_READ_REFILL_PER_SECOND) -> None:
        self.refill = refill_per_second
        self._lock = threading.Lock()
        self._tokens: dict[str, float] = {}
        self._stamp: dict[str, float] = {}
        self._in_flight: dict[str, int] = {}

    def reserve(self, subscription: str) -> float:
        """Take a read of `subscription`'s bucket; the seconds to wait before sending it (0: send now)."""
        with self._lock:
            self._in_flight[subscription] = self._in_flight.get(subscription, 0) + 1
            if subscription not in self._tokens:
                return 0.0
            now = time.monotonic()
            tokens = self._tokens[subscription] + (now - self._stamp[subscription]) * self.refill
            self._tokens[subscription], self._stamp[subscription] = tokens - 1, now
            return 0.0 if tokens >= 1 else (1 - tokens) / self.refill

    def observe(self, subscription: str, remaining: int | None) -> None:
        """An answer came back; `remaining`: the reads ARM says are left (None: the answer did not say)."""
        with self._lock:
            flying = max(0, self._in_flight.get(subscription, 0) - 1)
            self._in_flight[subscription] = flying
            if remaining is not None:
                self._tokens[subscription] = float(remaining - flying)
                self._stamp[subscription] = time.monotonic()


_SUBSCRIPTION_PATH = re.compile(r"^/subscriptions/([^/?]+)", re.IGNORECASE)


class PacingPolicy(HTTPPolicy[Any, Any]):
    """Sends each Resource Manager read of a subscription when the pacer says its bucket has a read for it."""

    def __init__(self, pacer: ReadPacer, transport: ReadOnlyTransport) -> None:
        super().__init__()
        self._pacer = pacer
        self._transport = transport

    def send(self, request: PipelineRequest[Any]) -> PipelineResponse[Any, Any]:
        found = _SUBSCRIPTION_PATH.match(urlsplit(request.http_request.url).path)
        if found is None:
            return self.next.send(request)
        subscription = found.group(1).lower()
        wait = self._pacer.reserve(subscription)
        if wait > 0:
            self._transport.sleep(wait)
        remaining: int | None = None
        try:
            response = self.next.send(request)
            header = response.http_response.headers.get(REMAINING_READS)
            remaining = int(header) if header is not None and header.strip().isdigit() else None
            return response
        finally:
            self._pacer.observe(subscription, remaining)


class OriginPolicy(SansIOHTTPPolicy[Any, Any]):
    """The last policy before the wire: a request leaves only for the origin its client's credential was issued
    for (scheme, host and port). Anything else, a `nextLink` on another host say, raises ForeignHostError
    before a byte is sent."""

    def __init__(self, base_url: str, what: str) -> None:
        self._origin = origin_of(base_url)
        self._what = what

    def on_request(self, request: PipelineRequest[Any]) -> None:
        """Refuse a request to another origin."""
        url = str(request.http_request.url)
        if origin_of(url) != self._origin:
            target = origin_of(url)
            where = f"{target[1]}:{target[2]}" if target else printable(scrub_secrets(url))
            raise ForeignHostError(
                f"refused to send the {self._what} credential to {printable(where)}: it was issued for "
                f"{self._origin[1] if self._origin else '?'} (a link or redirect in an answer led elsewhere)"
            )


SAFE_METHODS = frozenset({"GET", "HEAD"})
READ_ONLY_POSTS = frozenset({"/providers/microsoft.resourcegraph/resources"})
"""The POSTs that only read: a Resource Graph query (its body carries the query, so it cannot be a GET)."""
GRAPH_BATCH = "/v1.0/$batch"
"""Microsoft Graph's JSON batch: a POST that only reads when every request inside it is a GET."""


def _batch_of_reads(request: Any) -> bool:
    """Whether `request` is a Microsoft Graph batch whose every request is a GET (relative, no body)."""
    if urlsplit(str(request.url)).path.rstrip("/").lower() != GRAPH_BATCH:
        return False
    try:
        content = request.content
        batch = json.loads(content) if isinstance(content, str | bytes) else None
    except (ValueError, RecursionError):
        return False
    inner = batch.get("requests") if isinstance(batch, dict) else None
    return (
        isinstance(inner, list)
        and bool(inner)
        and all(
            isinstance(r, dict)
            and str(r.get("method", "")).upper() == "GET"
            and "body" not in r
            and str(r.get("url", "")).startswith("/")
            for r in inner
        )
    )


class ReadOnlyTransport(HttpTransport):  # type: ignore[type-arg]
    """An HTTP transport that refuses anything but GET, HEAD and a Resource Graph query, then delegates.

    It is also where a scan is cancelled: once `cancel()` is called, no request is sent and every wait (a
    retry's backoff, a Retry-After) ends at once with ScanCancelled.

    Closing a client that uses it does not close the shared inner transport; the owner closes
    it with `shutdown()`.
    """

    def __init__(
        self,
        inner: HttpTransport | None = None,  # type: ignore[type-arg]
        observer: CrawlObserver | None = None,
    ) -> None:
        self._inner = inner or PooledTransport()
        self._observer = observer or SilentObserver()
        self._lock = threading.Lock()
        self._cancelled = threading.Event()
        self.requests_sent = 0

    def send(self, request: Any, **kwargs: Any) -> Any:
        """Send `request` if it only reads; raise WriteBlockedError otherwise."""
        method = str(request.method).upper()
        if method not in SAFE_METHODS and not (
            method == "POST"
            and (urlsplit(request.url).path.rstrip("/").lower() in READ_ONLY_POSTS or _batch_of_reads(request))
        ):
            raise WriteBlockedError(
                f"cmkaudit refused to send {method} {printable(scrub_secrets(str(request.url)))}: "
                "the scanner is read-only",
                "this is a bug in cmkaudit; please report it",
            )
        if self._cancelled.is_set():
            raise ScanCancelled("the scan was interrupted")
        with self._lock:
            self.requests_sent += 1
        try:
            response = self._inner.send(request, **kwargs)
        except BaseException:
            self._observer.call(method, str(request.url), None)
            raise
        self._observer.call(method, str(request.url), int(response.status_code))
        return response

    def sleep(self, duration: float) -> None:
        """Wait `duration` seconds, unless the scan is cancelled first (then raise ScanCancelled)."""
        if self._cancelled.wait(max(0.0, duration)):
            raise ScanCancelled("the scan was interrupted")

    def cancel(self) -> None:
        """Stop the scan: refuse every further request and end every wait."""
        self._cancelled.set()

    def open(self) -> None:
        """Open the inner transport."""
        self._inner.open()

    def close(self) -> None:
        """Keep the shared inner transport open: clients come and go, the scan owns it."""

    def shutdown(self) -> None:
        """Close the inner transport at the end of a scan."""
        self._inner.close()

    def __enter__(self) -> ReadOnlyTransport:
        self.open()
        return self

    def __exit__(self, *args: object) -> None:
        self.close()


class AuthorizationReader:
    """An Authorization client with the `send_request` the other clients have.

    azure-mgmt-authorization 4 is of an older SDK generation: its versioned clients offer the same call
    as `_send_request` (documented in its docstring); this gives it the common name.
    """

    def __init__(self, client: AuthorizationManagementClient) -> None:
        self._client = client

    def send_request(self, request: RestHttpRequest, *, stream: bool = False, **kwargs: Any) -> Any:
        """Send `request` through the client's pipeline (authentication, retries, ARM policies)."""
        return self._client._send_request(request, stream=stream, **kwargs)


@dataclass(frozen=True, slots=True)
class ArmConnection:
    """What every client needs: a credential, the endpoints, the shared read-only transport and the limits."""

    credential: TokenCredential
    endpoints: Endpoints
    transport: ReadOnlyTransport
    limits: HttpLimits = field(default_factory=HttpLimits)
    pacer: ReadPacer = field(default_factory=ReadPacer)
    """Shared by every client of the connection: ARM's read bucket is per subscription, whichever client reads."""

    def _arm_policies(self) -> list[HTTPPolicy[Any, Any] | SansIOHTTPPolicy[Any, Any]]:
        """The pipeline of every Resource Manager client (each client needs its own: policies are chained).

        The SDKs' defaults, less what a read-only crawl does not need: no automatic resource-provider registration
        (a POST; and a subscription where Databricks was never registered simply has no workspaces), no redirects
        (an answer that moves elsewhere is an error, never followed), no decoding of each answer's JSON in the
        pipeline (the collector reads the body itself, once; Resource Graph's SDK operation reads it from the
        response), no header or proxy policies (none is configured: the transport reads the proxy environment);
        retries are bounded by `limits` and reads paced per subscription. The ARM credential goes to the ARM
        endpoint only."""
        return [
            RequestIdPolicy(),
            UserAgentPolicy(user_agent=f"cmkaudit/{__version__}"),
            BoundedRetryPolicy(self.limits),
            PacingPolicy(self.pacer, self.transport),
            ARMChallengeAuthenticationPolicy(self.credential, self.endpoints.arm_scope),
            OriginPolicy(self.endpoints.arm, "Resource Manager"),
        ]

    def _common(self) -> dict[str, Any]:
        return {
            "base_url": self.endpoints.arm,
            "credential_scopes": [self.endpoints.arm_scope],
            "transport": self.transport,
            "policies": self._arm_policies(),
        }

    def databricks(self, subscription_id: str) -> AzureDatabricksManagementClient:
        """A Databricks management client for one subscription."""
        return AzureDatabricksManagementClient(
            self.credential, subscription_id, api_version=ApiVersion.DATABRICKS.value, **self._common()
        )

    def keyvault(self, subscription_id: str) -> KeyVaultManagementClient:
        """A Key Vault management client for one subscription."""
        return KeyVaultManagementClient(
            self.credential, subscription_id, api_version=ApiVersion.KEYVAULT.value, **self._common()
        )

    def compute(self, subscription_id: str) -> ComputeManagementClient:
        """A Compute management client for one subscription (disk encryption sets)."""
        return ComputeManagementClient(self.credential, subscription_id, **self._common())

    def storage(self, subscription_id: str) -> StorageManagementClient:
        """A Storage management client for one subscription."""
        return StorageManagementClient(
            self.credential, subscription_id, api_version=ApiVersion.STORAGE.value, **self._common()
        )

    def authorization(self, subscription_id: str) -> AuthorizationReader:
        """The Authorization client of the pinned API version (role assignments and definitions), every endpoint
        passed explicitly."""
        return AuthorizationReader(AuthorizationManagementClient(self.credential, subscription_id, **self._common()))

    def resource_graph(self) -> ResourceGraphClient:
        """A Resource Graph client (queries are POSTs that only read; see collect/graph.py for their retries)."""
        return ResourceGraphClient(self.credential, api_version=ApiVersion.RESOURCE_GRAPH.value, **self._common())

    def subscriptions(self) -> SubscriptionClient:
        """A Subscriptions client (read the scanned subscriptions, or discover them all)."""
        return SubscriptionClient(self.credential, api_version=ApiVersion.SUBSCRIPTIONS.value, **self._common())

    def _data_plane(self, uri: str, what: str, domain: str) -> dict[str, Any]:
        """What a data-plane client of one vault or pool is built with: its host checked to be on one of the cloud's
        Key Vault domains (ForeignHostError otherwise: the token is only ever sent there), and the pipeline's bounded
        retries, no redirects and the credential kept to that host alone."""
        if not self.endpoints.is_keyvault_host(uri):
            raise ForeignHostError(
                f"the {what} URI {printable(scrub_secrets(uri))} is not on a {domain} domain of "
                f"{self.endpoints.cloud.value} ({', '.join(self.endpoints.keyvault_suffixes)}): not contacted"
            )
        return {
            "api_version": ApiVersion.KEYVAULT_DATA_PLANE.value,
            "transport": self.transport,
            "user_agent": f"cmkaudit/{__version__}",
            "retry_policy": BoundedRetryPolicy(self.limits),
            "redirect_policy": RedirectPolicy(permit_redirects=False),
            "custom_hook_policy": OriginPolicy(uri, domain),
        }

    def key_client(self, vault_uri: str) -> KeyClient:
        """A Key Vault data-plane client for one vault (or Managed HSM pool), at the URI it reports (no assumed
        suffix). Raises ForeignHostError when that URI is not on one of the cloud's Key Vault domains."""
        return KeyClient(vault_uri, self.credential, **self._data_plane(vault_uri, "vault", "Key Vault"))

    def access_control_client(self, hsm_uri: str) -> KeyVaultAccessControlClient:
        """A Managed HSM data-plane client for one pool's local RBAC (role assignments and definitions, read only), at
        the URI the pool reports. Raises ForeignHostError when that URI is not on one of the cloud's Key Vault or
        Managed HSM domains."""
        options = self._data_plane(hsm_uri, "Managed HSM", "Managed HSM")
        return KeyVaultAccessControlClient(hsm_uri, self.credential, **options)

    def send_raw(self, request: RestHttpRequest) -> Any:
        """Send a prepared request to Microsoft Graph through the read-only transport (the Graph token is in the
        request and goes to the Graph endpoint only)."""
        client: PipelineClient[Any, Any] = PipelineClient(
            base_url=self.endpoints.graph,
            policies=[
                UserAgentPolicy(user_agent=f"cmkaudit/{__version__}"),
                BoundedRetryPolicy(self.limits),
                OriginPolicy(self.endpoints.graph, "Microsoft Graph"),
            ],
            transport=self.transport,
        )
        return client.send_request(request)


def pooled_transport(connections: int, limits: HttpLimits | None = None) -> PooledTransport:
    """The wire of a scan: `connections` kept-alive connections per host (sized to the crawl's concurrency), with
    the connect and read timeouts of `limits` (azure-core's default read timeout is five minutes)."""
    limits = limits or HttpLimits()
    return PooledTransport(connections, connect_timeout=limits.connect_timeout, read_timeout=limits.read_timeout)


@contextmanager
def open_connection(
    credential: TokenCredential,
    endpoints: Endpoints,
    connections: int = 10,
    observer: CrawlObserver | None = None,
    limits: HttpLimits | None = None,
) -> Iterator[ArmConnection]:
    """An ArmConnection (one connection pool, sized for the crawl's concurrency) closed when the block ends;
    every HTTP exchange is reported to `observer`."""
    limits = limits or HttpLimits()
    transport = ReadOnlyTransport(pooled_transport(max(10, connections), limits), observer)
    try:
        yield ArmConnection(credential, endpoints, transport, limits)
    finally:
        transport.shutdown()
