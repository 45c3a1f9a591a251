"""The HTTP side of collection: clouds, pinned API versions, the read-only guard and SDK clients.

Every SDK client the collector builds shares one `ReadOnlyTransport`. It sits below every
pipeline policy, so a request other than GET/HEAD — a mistaken `begin_delete`, or ARM's automatic
resource-provider registration POST — is refused before it leaves the process.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

import requests
import requests.adapters
from azure.core import PipelineClient
from azure.core.credentials import TokenCredential
from azure.core.pipeline.policies import RetryPolicy, UserAgentPolicy
from azure.core.pipeline.transport import HttpTransport, RequestsTransport
from azure.core.rest import HttpRequest as RestHttpRequest
from azure.keyvault.keys import KeyClient
from azure.mgmt.authorization.v2022_04_01 import AuthorizationManagementClient
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.databricks import AzureDatabricksManagementClient
from azure.mgmt.keyvault import KeyVaultManagementClient
from azure.mgmt.resource.subscriptions import SubscriptionClient
from azure.mgmt.resourcegraph import ResourceGraphClient
from azure.mgmt.storage import StorageManagementClient

from cmkaudit import __version__
from cmkaudit.errors import WriteBlockedError
from cmkaudit.progress import CrawlObserver, SilentObserver


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


@dataclass(frozen=True, slots=True)
class Endpoints:
    """Where ARM and Microsoft Graph are, and the token audiences for ARM and Key Vault's data plane."""

    cloud: Cloud
    arm: str
    arm_scope: str
    graph: str
    authority: str
    keyvault_scope: str


def endpoints_for(cloud: Cloud, arm_endpoint: str | None = None, graph_endpoint: str | None = None) -> Endpoints:
    """The endpoints of `cloud`, with ARM and Graph optionally overridden (Azure Stack, test servers)."""
    match cloud:
        case Cloud.PUBLIC:
            base = Endpoints(
                cloud,
                "https://management.azure.com",
                "https://management.azure.com/.default",
                "https://graph.microsoft.com",
                "login.microsoftonline.com",
                "https://vault.azure.net/.default",
            )
        case Cloud.CHINA:
            base = Endpoints(
                cloud,
                "https://management.chinacloudapi.cn",
                "https://management.chinacloudapi.cn/.default",
                "https://microsoftgraph.chinacloudapi.cn",
                "login.chinacloudapi.cn",
                "https://vault.azure.cn/.default",
            )
        case Cloud.US_GOVERNMENT:
            base = Endpoints(
                cloud,
                "https://management.usgovcloudapi.net",
                "https://management.usgovcloudapi.net/.default",
                "https://graph.microsoft.us",
                "login.microsoftonline.us",
                "https://vault.usgovcloudapi.net/.default",
            )
    return Endpoints(
        cloud=base.cloud,
        arm=(arm_endpoint or base.arm).rstrip("/"),
        arm_scope=base.arm_scope,
        graph=(graph_endpoint or base.graph).rstrip("/"),
        authority=base.authority,
        keyvault_scope=base.keyvault_scope,
    )


SAFE_METHODS = frozenset({"GET", "HEAD"})
READ_ONLY_POSTS = frozenset({"/providers/microsoft.resourcegraph/resources"})
"""The POSTs that only read: a Resource Graph query (its body carries the query, so it cannot be a GET)."""


class ReadOnlyTransport(HttpTransport):  # type: ignore[type-arg]
    """An HTTP transport that refuses anything but GET, HEAD and a Resource Graph query, then delegates.

    Closing a client that uses it does not close the shared inner transport; the owner closes
    it with `shutdown()`.
    """

    def __init__(
        self,
        inner: HttpTransport | None = None,  # type: ignore[type-arg]
        observer: CrawlObserver | None = None,
    ) -> None:
        self._inner = inner or RequestsTransport()
        self._observer = observer or SilentObserver()
        self._lock = threading.Lock()
        self.requests_sent = 0

    def send(self, request: Any, **kwargs: Any) -> Any:
        """Send `request` if it only reads; raise WriteBlockedError otherwise."""
        method = str(request.method).upper()
        if method not in SAFE_METHODS and not (
            method == "POST" and urlsplit(request.url).path.rstrip("/").lower() in READ_ONLY_POSTS
        ):
            raise WriteBlockedError(
                f"cmkaudit refused to send {method} {request.url}: the scanner is read-only",
                "this is a bug in cmkaudit; please report it",
            )
        with self._lock:
            self.requests_sent += 1
        try:
            response = self._inner.send(request, **kwargs)
        except BaseException:
            self._observer.call(method, str(request.url), None)
            raise
        self._observer.call(method, str(request.url), int(response.status_code))
        return response

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
    """What every client needs: a credential, the endpoints and the shared read-only transport."""

    credential: TokenCredential
    endpoints: Endpoints
    transport: ReadOnlyTransport

    def _common(self) -> dict[str, Any]:
        return {
            "base_url": self.endpoints.arm,
            "credential_scopes": [self.endpoints.arm_scope],
            "transport": self.transport,
            "user_agent": f"cmkaudit/{__version__}",
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

    def key_client(self, vault_uri: str) -> KeyClient:
        """A Key Vault data-plane client for one vault, at the URI the vault reports (no assumed suffix)."""
        return KeyClient(
            vault_uri,
            self.credential,
            api_version=ApiVersion.KEYVAULT_DATA_PLANE.value,
            transport=self.transport,
            user_agent=f"cmkaudit/{__version__}",
        )

    def send_raw(self, request: RestHttpRequest) -> Any:
        """Send a prepared request through the read-only transport (used for Microsoft Graph)."""
        client: PipelineClient[Any, Any] = PipelineClient(
            base_url=self.endpoints.graph,
            policies=[UserAgentPolicy(user_agent=f"cmkaudit/{__version__}"), RetryPolicy()],
            transport=self.transport,
        )
        return client.send_request(request)


class _ScanSession(requests.Session):
    """A requests session that reads the proxy and CA-bundle environment once per origin, not per request.

    requests consults the environment (HTTPS_PROXY, NO_PROXY, REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE) and
    ~/.netrc on every request, which costs about as much CPU as the rest of the call. The environment does
    not change during a scan, so it is read once per scheme and host and kept; ~/.netrc is not used (Azure
    authenticates with bearer tokens).
    """

    def __init__(self) -> None:
        super().__init__()
        self.trust_env = False
        self._origins: dict[tuple[str, str], tuple[dict[str, str], bool | str]] = {}
        self._origins_lock = threading.Lock()

    def _environment(self, url: str) -> tuple[dict[str, str], bool | str]:
        parts = urlsplit(url)
        origin = (parts.scheme, parts.netloc)
        with self._origins_lock:
            known = self._origins.get(origin)
        if known is None:
            proxies = dict(requests.utils.get_environ_proxies(url))
            bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
            known = (proxies, bundle or True)
            with self._origins_lock:
                self._origins[origin] = known
        return known

    def merge_environment_settings(self, url: Any, proxies: Any, stream: Any, verify: Any, cert: Any) -> Any:
        """requests' merge, with the environment taken from the per-origin cache."""
        environ_proxies, environ_verify = self._environment(url.decode() if isinstance(url, bytes) else url or "")
        merged_proxies = {**environ_proxies, **(proxies or {})}
        if verify is True or verify is None:
            verify = environ_verify
        return super().merge_environment_settings(url, merged_proxies, stream, verify, cert)


def pooled_transport(connections: int) -> RequestsTransport:
    """A requests transport whose pool keeps `connections` connections per host (requests keeps 10 by default)."""
    session = _ScanSession()
    adapter = requests.adapters.HTTPAdapter(pool_connections=connections, pool_maxsize=connections)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return RequestsTransport(session=session, session_owner=True)


@contextmanager
def open_connection(
    credential: TokenCredential, endpoints: Endpoints, connections: int = 10, observer: CrawlObserver | None = None
) -> Iterator[ArmConnection]:
    """An ArmConnection (one connection pool, sized for the crawl's concurrency) closed when the block ends;
    every HTTP exchange is reported to `observer`."""
    transport = ReadOnlyTransport(pooled_transport(max(10, connections)), observer)
    try:
        yield ArmConnection(credential, endpoints, transport)
    finally:
        transport.shutdown()
