"""A fake Azure Resource Manager (and Microsoft Graph) on 127.0.0.1, over TLS, for fault tests and benchmarks.

It serves a generated tenant of any size in the official response shapes (the body builders of
tools/build_cassettes.py), and can be told to be slow, to throttle like ARM (a token bucket per
subscription answering 429 with Retry-After), to fail (500/503), to drop connections, to forbid
chosen paths (403), to return malformed bodies, and to page lists with nextLink. It counts every
request by method and path, so a test can assert that nothing but GET was sent.

It also plays the vaults' data plane (https://<vault>.vault.azure.net, for rotation policies) and Managed HSM
pools' (https://<pool>.managedhsm.azure.net: rotation policies, local role assignments and definitions): an HTTP
proxy on 127.0.0.1 (`proxy_url`, used through HTTPS_PROXY) tunnels both domains to the same server, whose
certificate names them too; it answers as they do, a 401 challenge first (naming Managed HSM's own audience for
a pool).

    with FakeArm(generate_tenant(subscriptions=2, workspaces=3)) as arm:
        # cmkaudit scan --arm-endpoint arm.url --graph-endpoint arm.url
        #   with CMKAUDIT_ACCESS_TOKEN=... and REQUESTS_CA_BUNDLE=arm.ca_file
        #   (and for the data plane: CMKAUDIT_KEYVAULT_ACCESS_TOKEN=..., HTTPS_PROXY=arm.proxy_url,
        #    NO_PROXY=127.0.0.1)
"""

from __future__ import annotations

import base64
import json
import math
import select
import socket
import socketserver
import ssl
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import trustme

from cmkaudit.collect.graph import RESOURCES_QUERY, SUBSCRIPTIONS_QUERY
from tools.build_cassettes import (
    ARM,
    BREAK_GLASS,
    CSEU,
    GRAPH,
    HSM_ROLES,
    access_policy,
    audit_logs,
    databricks_service_principal,
    diagnostic_setting,
    disk_encryption_set_body,
    epoch,
    graph_refusal,
    hsm_role_assignment,
    hsm_role_definition,
    key_body,
    key_vault_challenge,
    key_vault_refusal,
    key_versions_body,
    managed_hsm_body,
    managed_hsm_refusal,
    role_assignment,
    role_definition_body,
    rotation_policy,
    storage_account_body,
    vault_body,
    workspace_body,
)

Json = dict[str, Any]
GRAPH_QUERY_PATH = "/providers/microsoft.resourcegraph/resources"
GRAPH_BATCH_PATH = "/v1.0/$batch"
GRAPH_REFUSAL = graph_refusal("00000000-0000-4000-8000-000000000403")
"""Microsoft Graph's 403 when the caller lacks the permission (e.g. GroupMember.Read.All)."""
LISTED_KINDS = ("/workspaces", "/vaults", "/diskencryptionsets", "/storageaccounts", "/managedhsms")
"""The per-subscription lists the scanner reads (and Resource Graph answers for)."""
TENANT = "5a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d"
DATABRICKS_SP = "0f1e2d3c-4b5a-4697-8877-665544332211"
SCANNER = "3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f"
"""The scanning identity, as Key Vault names it in a refusal."""
VAULT_SUFFIX = ".vault.azure.net"
HSM_SUFFIX = ".managedhsm.azure.net"
DATA_PLANE_SUFFIXES = (VAULT_SUFFIX, HSM_SUFFIX)
SERVICE_ENCRYPTION_USER = "33413926-3206-4cdd-b39a-83574fe37a17"
KV_USERS_GROUP = "6a7b8c9d-0e1f-4a2b-8c3d-4e5f6a7b8c9d"
"""The group that holds the key users' role when `generate_tenant(group_grants=True)`."""
HSM_ADMINISTRATOR = "a290e904-7015-4bba-90c8-60543313cdb4"


@dataclass
class Tenant:
    """Everything the fake server answers: single resources by path, and lists by path."""

    subscriptions: list[str]
    resources: dict[str, Json] = field(default_factory=dict)
    lists: dict[str, list[Json]] = field(default_factory=dict)
    workspaces: int = 0

    def add(self, path: str, body: Json) -> None:
        self.resources[path.lower()] = body

    def extend(self, path: str, items: list[Json]) -> None:
        self.lists.setdefault(path.lower(), []).extend(items)

    def add_subscription(self, sub: str, name: str, state: str = "Enabled") -> None:
        """A subscription, readable by id and listed by GET /subscriptions (Subscriptions_List)."""
        body = {
            "id": f"/subscriptions/{sub}",
            "subscriptionId": sub,
            "tenantId": TENANT,
            "displayName": name,
            "state": state,
            "authorizationSource": "RoleBased",
        }
        self.add(f"/subscriptions/{sub}", body)
        self.extend("/subscriptions", [body])


def _guid(*numbers: int) -> str:
    """A deterministic GUID from small numbers."""
    digits = "".join(f"{n:04x}" for n in numbers).rjust(32, "0")[-32:]
    return f"{digits[:8]}-{digits[8:12]}-4{digits[13:16]}-8{digits[17:20]}-{digits[20:]}"


@dataclass
class _KeyHome:
    """A vault holding keys with three versions each, and the identities granted their use."""

    sub: str
    group: str
    name: str
    keys: dict[str, tuple[int, int]]
    """The keys by name, each with two small numbers that make its version ids unique."""
    principals: list[str] = field(default_factory=lambda: [DATABRICKS_SP])
    hsm: bool = False
    """A Managed HSM pool instead of a vault: local RBAC on its data plane instead of access policies."""
    group_grant: bool = False
    """A vault on Azure RBAC whose key users get Key Vault Crypto Service Encryption User through a group."""

    @property
    def arm_type(self) -> str:
        return "Microsoft.KeyVault/managedHSMs" if self.hsm else "Microsoft.KeyVault/vaults"

    @property
    def id(self) -> str:
        return f"/subscriptions/{self.sub}/resourceGroups/{self.group}/providers/{self.arm_type}/{self.name}"

    @property
    def host(self) -> str:
        return f"{self.name}{HSM_SUFFIX if self.hsm else VAULT_SUFFIX}"

    @property
    def uri(self) -> str:
        return f"https://{self.host}/"

    def versions(self, key: str) -> list[tuple[str, int, int]]:
        first, second = self.keys[key]
        return [
            (f"{first:04x}{second:04x}000000000000000000000{v}", epoch(day), epoch("2028-01-01"))
            for v, day in enumerate(("2026-03-01", "2026-06-01", "2026-09-01"))
        ]

    def list_vault(self, tenant: Tenant) -> None:
        if self.hsm:
            self._list_pool(tenant)
            return
        policies = [access_policy(TENANT, p, ["get", "wrapKey", "unwrapKey"]) for p in self.principals]
        body = vault_body(
            self.sub,
            self.group,
            self.name,
            location="westeurope",
            tenant=TENANT,
            soft_delete_days=90,
            purge_protection=True,
            public_network_access="Disabled",
            policies=[] if self.group_grant else policies,
            rbac=self.group_grant,
        )
        tenant.extend(f"/subscriptions/{self.sub}/providers/Microsoft.KeyVault/vaults", [body])
        if self.group_grant:
            self._grant_to_group(tenant)

    def _grant_to_group(self, tenant: Tenant) -> None:
        """On the vault (on Azure RBAC), the kv-users group (every identity that uses a key is in it) holds Key Vault
        Crypto Service Encryption User."""
        definition = f"/subscriptions/{self.sub}/providers/Microsoft.Authorization/roleDefinitions/{CSEU}"
        assignment = role_assignment(
            self.id, KV_USERS_GROUP, "Group", definition, _guid(0xB1, *self.keys[next(iter(self.keys))])
        )
        tenant.extend(f"{self.id}/providers/Microsoft.Authorization/roleAssignments", [assignment])
        data_actions = [f"Microsoft.KeyVault/vaults/keys/{a}" for a in ("read", "wrap/action", "unwrap/action")]
        tenant.add(
            definition, role_definition_body(definition, "Key Vault Crypto Service Encryption User", [], data_actions)
        )

    def _list_pool(self, tenant: Tenant) -> None:
        """The pool in its subscription's list, and its local RBAC on its data plane: each identity that uses a key
        is Managed HSM Crypto Service Encryption User on that key; the break-glass principal is the pool's
        Administrator."""
        body = managed_hsm_body(
            self.sub, self.group, self.name, location="westeurope", tenant=TENANT, purge_protection=True
        )
        body["properties"]["publicNetworkAccess"] = "Disabled"
        tenant.extend(f"/subscriptions/{self.sub}/providers/Microsoft.KeyVault/managedHSMs", [body])
        rbac = "/providers/microsoft.authorization/roleassignments"
        tenant.add(
            f"{self.host}{rbac}", {"value": [hsm_role_assignment("/", _guid(0xAD, 0), HSM_ADMINISTRATOR, BREAK_GLASS)]}
        )
        tenant.add(f"{self.host}/keys{rbac}", {"value": []})
        for k, key in enumerate(self.keys):
            tenant.add(
                f"{self.host}/keys/{key}{rbac}",
                {
                    "value": [
                        hsm_role_assignment(f"/keys/{key}", _guid(0xA5, k, n), SERVICE_ENCRYPTION_USER, principal)
                        for n, principal in enumerate(self.principals)
                    ]
                },
            )
        tenant.add(
            f"{self.host}/providers/microsoft.authorization/roledefinitions",
            {"value": [hsm_role_definition(role, name, actions) for role, (name, actions) in HSM_ROLES.items()]},
        )

    def add_keys_and_settings(self, tenant: Tenant, *, rotation_policy_in_arm: bool) -> None:
        host = f"{self.host}:443" if not self.hsm else self.host
        for key in self.keys:
            versions = self.versions(key)
            tenant.add(
                f"{self.id}/keys/{key}/versions",
                key_versions_body(
                    self.id, self.name, key, location="westeurope", versions=versions, host=host, arm_type=self.arm_type
                ),
            )
            tenant.add(
                f"{self.id}/keys/{key}",
                key_body(
                    self.id,
                    self.name,
                    key,
                    location="westeurope",
                    kty="RSA-HSM",
                    size=3072,
                    created=versions[0][1],
                    latest=versions[-1],
                    policy=rotation_policy("P90D") if rotation_policy_in_arm else None,
                    host=host,
                    arm_type=self.arm_type,
                ),
            )
            policy_url = f"{self.uri}keys/{key}/rotationpolicy"
            tenant.add(policy_url.removeprefix("https://"), {"id": policy_url, **rotation_policy("P90D")})
        tenant.add(
            f"{self.id}/providers/Microsoft.Insights/diagnosticSettings",
            {"value": [diagnostic_setting(self.id, "audit", logs=audit_logs(), workspace="/law")]},
        )


def generate_tenant(
    subscriptions: int,
    workspaces: int,
    *,
    rotation_policy_in_arm: bool = True,
    central_vaults: int = 0,
    key_each: bool = False,
    managed_hsm: bool = False,
    group_grants: bool = False,
) -> Tenant:
    """`subscriptions` x `workspaces` compliant workspaces, each with its vault, a 3-version key, DES and storage.

    With `rotation_policy_in_arm` False, Resource Manager's key answers carry no rotation policy (as older
    API versions did) and the policy is served by the vault's data plane only.

    With `central_vaults` N, the workspaces' keys are not in vaults of their own but in N vaults of a
    key-management resource group in the first subscription, the workspaces taking them in turn; each
    central vault grants every identity that uses its key (Key Vault allows 1,024 access policies). With
    `key_each` too, each workspace has a key of its own (`cmk-S-W`) in its central vault; otherwise the
    workspaces on a central vault share its key `cmk`.

    With `managed_hsm`, every key home is a Managed HSM pool (`hsm-...`) instead of a vault: listed as
    Microsoft.KeyVault/managedHSMs, its keys read through Resource Manager, its permissions its local RBAC on its
    data plane (the break-glass principal its Administrator).

    With `group_grants`, every vault is on Azure RBAC and grants its key's use to the kv-users group, which every
    identity that uses a key belongs to (read from Microsoft Graph, in batches); the group's members are listed too.
    """
    tenant = Tenant([_guid(0xA, s) for s in range(subscriptions)])
    central = [
        _KeyHome(
            tenant.subscriptions[0],
            "rg-keys",
            f"{'hsm' if managed_hsm else 'kv'}-central-{i}",
            {} if key_each else {"cmk": (0xCE00 + i, 0xFFFF)},
            hsm=managed_hsm,
            group_grant=group_grants,
        )
        for i in range(central_vaults)
    ]
    for s, sub in enumerate(tenant.subscriptions):
        tenant.add_subscription(sub, f"Fake subscription {s}")
        for w in range(workspaces):
            name = f"dbw-{s}-{w}"
            group, managed = f"rg-{s}-{w}", f"rg-{s}-{w}-managed"
            home = (
                central[(s * workspaces + w) % central_vaults]
                if central
                else _KeyHome(
                    sub,
                    group,
                    f"{'hsm' if managed_hsm else 'kv'}-{s}-{w}",
                    {"cmk": (s, w)},
                    hsm=managed_hsm,
                    group_grant=group_grants,
                )
            )
            key = f"cmk-{s}-{w}" if central and key_each else "cmk"
            if key not in home.keys:
                home.keys[key] = (s, w)
            des_principal, storage_principal = _guid(0xD, s, w), _guid(0xE, s, w)
            home.principals += [des_principal, storage_principal]
            latest = home.versions(key)[-1][0]
            tenant.extend(
                f"/subscriptions/{sub}/providers/Microsoft.Databricks/workspaces",
                [
                    workspace_body(
                        sub,
                        group,
                        name,
                        location="westeurope",
                        sku="premium",
                        tags={"environment": "prod"},
                        managed_group=managed,
                        storage_account=f"dbst{s}x{w}",
                        workspace_number=f"{s:08d}{w:08d}",
                        managed_services_key=(home.uri, key, ""),
                        managed_disk_key=(home.uri, key, ""),
                        disk_encryption_set=f"des-{s}-{w}",
                        disk_principal=des_principal,
                        tenant=TENANT,
                        dbfs_key=(home.uri, key, ""),
                        prepare_encryption=True,
                        storage_principal=storage_principal,
                        infrastructure=True,
                    )
                ],
            )
            if not central:
                home.list_vault(tenant)
            tenant.extend(
                f"/subscriptions/{sub}/providers/Microsoft.Compute/diskEncryptionSets",
                [
                    disk_encryption_set_body(
                        sub,
                        managed,
                        f"des-{s}-{w}",
                        location="westeurope",
                        key_url=f"{home.uri}keys/{key}/{latest}",
                        source_vault_id=home.id,
                        principal=des_principal,
                        tenant=TENANT,
                    )
                ],
            )
            tenant.extend(
                f"/subscriptions/{sub}/providers/Microsoft.Storage/storageAccounts",
                [
                    storage_account_body(
                        sub,
                        managed,
                        f"dbst{s}x{w}",
                        location="westeurope",
                        principal=storage_principal,
                        tenant=TENANT,
                        key=(home.uri, key, latest),
                        infrastructure=True,
                    )
                ],
            )
            if not central:
                home.add_keys_and_settings(tenant, rotation_policy_in_arm=rotation_policy_in_arm)
            tenant.workspaces += 1
    for home in central:
        home.list_vault(tenant)
        home.add_keys_and_settings(tenant, rotation_policy_in_arm=rotation_policy_in_arm)
    tenant.add(
        "/v1.0/servicePrincipals(appId='2ff814a6-3304-4ab8-85cb-cd0e6f879c1d')",
        databricks_service_principal(DATABRICKS_SP),
    )
    kv_users = [(DATABRICKS_SP, None, "servicePrincipal")] if group_grants else []
    groups = [(KV_USERS_GROUP, "kv-users")] if group_grants else []
    for s in range(subscriptions):
        for w in range(workspaces):
            for principal in (_guid(0xD, s, w), _guid(0xE, s, w)):
                set_groups(tenant, principal, groups)
                kv_users += [(principal, None, "servicePrincipal")] if group_grants else []
    set_groups(tenant, DATABRICKS_SP, groups)
    if group_grants:
        set_members(tenant, KV_USERS_GROUP, kv_users)
    return tenant


def set_members(tenant: Tenant, group: str, members: list[tuple[str, str, str]]) -> None:
    """A group's members, transitively (group: list transitiveMembers): (id, display name, type)."""
    tenant.add(
        f"/v1.0/groups/{group}/transitiveMembers",
        {
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#directoryObjects(id,displayName)",
            "value": [
                {"@odata.type": f"#microsoft.graph.{kind}", "id": m, "displayName": name} for m, name, kind in members
            ],
        },
    )


def set_groups(tenant: Tenant, principal: str, groups: list[tuple[str, str]]) -> None:
    """A service principal's groups, transitively (servicePrincipal: list transitiveMemberOf, cast to group)."""
    tenant.add(
        f"/v1.0/servicePrincipals/{principal}/transitiveMemberOf/microsoft.graph.group",
        {
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#groups(id,displayName)",
            "value": [{"id": group, "displayName": name} for group, name in groups],
        },
    )


@dataclass
class Faults:
    """What the server does wrong, and how it is slow. Paths match by substring (case-insensitive)."""

    latency: float = 0.0
    """Seconds added to every answer."""
    bucket: int | None = None
    """ARM's per-subscription read bucket (250 in Azure); None: no throttling."""
    refill_per_second: float = 25.0
    fail: dict[str, list[int]] = field(default_factory=dict)
    """The first answers to matching paths, in order (e.g. [503, 500]); then the real answer."""
    drop: dict[str, int] = field(default_factory=dict)
    """How many times to close the connection without answering matching paths."""
    forbid: list[str] = field(default_factory=list)
    """Paths answered 403 AuthorizationFailed, always."""
    malformed: list[str] = field(default_factory=list)
    """Paths answered with truncated JSON."""
    page_size: int | None = None
    """List answers hold at most this many items, then a nextLink."""
    graph_quota: int | None = None
    """Resource Graph queries allowed per `graph_window` seconds (15 per 5 s in Azure); None: no throttling."""
    graph_window: float = 5.0
    graph_quota_headers: bool = True
    """Send x-ms-user-quota-remaining / -resets-after with every Resource Graph answer, as Azure does."""
    graph_page_size: int = 1000
    """Rows per Resource Graph page at most (the query's $top may ask for fewer)."""
    answers: dict[str, tuple[int, Json | str, dict[str, str]]] = field(default_factory=dict)
    """Paths always answered with this (status, body, headers), whatever the tenant holds: hostile answers."""
    hang: list[str] = field(default_factory=list)
    """Paths accepted and never answered (the connection is held until the server stops)."""
    graph_repeat_token: bool = False
    """Resource Graph answers every page with the same $skipToken, for ever."""
    challenge_resource: str = "https://vault.azure.net"
    """The resource Key Vault's 401 challenge names."""


class _Bucket:
    def __init__(self, capacity: int, refill: float) -> None:
        self.capacity, self.refill = capacity, refill
        self.tokens, self.stamp = float(capacity), time.monotonic()

    def take(self) -> float:
        """0 if a read may go ahead, else the seconds until one may (for Retry-After)."""
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.refill)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.refill


class _TunnelProxy(socketserver.ThreadingTCPServer):
    """An HTTP proxy that only tunnels (CONNECT) to *.vault.azure.net:443, always to the fake server's port."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], target_port: int) -> None:
        self.target_port = target_port
        self.connects: list[tuple[str, dict[str, str]]] = []
        """Each CONNECT's target and headers (names lower-cased), as the proxy received them."""
        super().__init__(address, _TunnelHandler)


class _TunnelHandler(socketserver.StreamRequestHandler):
    server: _TunnelProxy

    def handle(self) -> None:
        request = self.rfile.readline(65536).decode("latin-1").split()
        headers: dict[str, str] = {}
        while (line := self.rfile.readline(65536)) not in (b"\r\n", b"\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        self.server.connects.append((request[1] if len(request) > 1 else "", headers))
        host, _, port = (request[1] if len(request) > 1 else "").rpartition(":")
        if (
            len(request) < 3
            or request[0] != "CONNECT"
            or not host.lower().endswith(DATA_PLANE_SUFFIXES)
            or port != "443"
        ):
            self.wfile.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            return
        with socket.create_connection(("127.0.0.1", self.server.target_port)) as upstream:
            self.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            self.wfile.flush()
            client = self.connection
            while True:
                ready, _, _ = select.select([client, upstream], [], [], 30)
                if not ready:
                    return
                for source in ready:
                    data = source.recv(65536)
                    if not data:
                        return
                    (upstream if source is client else client).sendall(data)


class FakeArm:
    """The server: start it in a `with` block; `url`, `ca_file` and the request log are its outputs."""

    def __init__(self, tenant: Tenant, faults: Faults | None = None) -> None:
        self.tenant = tenant
        self.faults = faults or Faults()
        self.requests: list[tuple[str, str, int]] = []
        self.batched: list[tuple[str, str, int]] = []
        """The requests inside Microsoft Graph batches, as (method, path, status)."""
        self._lock = threading.Lock()
        self._buckets: dict[str, _Bucket] = {}
        self._remaining = threading.local()
        self._graph_bucket: _Bucket | None = None
        self._fail = {k.lower(): list(v) for k, v in self.faults.fail.items()}
        self._drop = {k.lower(): n for k, n in self.faults.drop.items()}
        self._stopping = threading.Event()
        self._dir = tempfile.TemporaryDirectory()
        ca = trustme.CA()
        self.ca_file = Path(self._dir.name) / "fake-arm-ca.pem"
        ca.cert_pem.write_to_path(str(self.ca_file))
        self._context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("127.0.0.1", f"*{VAULT_SUFFIX}", f"*{HSM_SUFFIX}").configure_cert(self._context)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._server.socket = self._context.wrap_socket(self._server.socket, server_side=True)
        port = self._server.server_address[1]
        self.url = f"https://127.0.0.1:{port}"
        self._proxy = _TunnelProxy(("127.0.0.1", 0), port)
        self.proxy_url = f"http://127.0.0.1:{self._proxy.server_address[1]}"
        self.proxy_connects = self._proxy.connects
        self._threads = [
            threading.Thread(target=server.serve_forever, daemon=True) for server in (self._server, self._proxy)
        ]

    def __enter__(self) -> FakeArm:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *args: object) -> None:
        self._stopping.set()
        for server in (self._server, self._proxy):
            server.shutdown()
            server.server_close()
        self._dir.cleanup()

    @property
    def counts(self) -> Counter[str]:
        """Requests by method."""
        return Counter(method for method, _, _ in self.requests)

    def _take(self, table: dict[str, Any], path: str) -> Any:
        for pattern in table:
            if pattern in path:
                return pattern
        return None

    def answer(
        self, method: str, raw_path: str, content: bytes = b"", host: str = "", authorization: str = ""
    ) -> tuple[int, Json | str | None, dict[str, str]]:
        """Decide the answer to one request: (status, body or None to drop the connection, headers). With the
        read bucket on, every answer it lets through says how many reads remain, as ARM does
        (`x-ms-ratelimit-remaining-subscription-reads`)."""
        self._remaining.value = None
        status, body, headers = self._answer(method, raw_path, content, host, authorization)
        if self._remaining.value is not None:
            headers = {**headers, "x-ms-ratelimit-remaining-subscription-reads": str(self._remaining.value)}
        return status, body, headers

    def _answer(
        self,
        method: str,
        raw_path: str,
        content: bytes = b"",
        host: str = "",
        authorization: str = "",
        delay: bool = True,
    ) -> tuple[int, Json | str | None, dict[str, str]]:
        """The answer, before the rate-limit header.

        A request to a vault's host is a data-plane request; its path, as faults match it, starts with the
        host (e.g. "kv-1-2.vault.azure.net/keys/cmk/rotationpolicy").
        """
        split = urlsplit(raw_path)
        path = unquote(split.path).rstrip("/").lower()
        vault_host = host.lower() if host.lower().endswith(DATA_PLANE_SUFFIXES) else ""
        path = vault_host + path
        query = parse_qs(split.query)
        if self.faults.latency and delay:
            time.sleep(self.faults.latency)
        if any(pattern.lower() in path for pattern in self.faults.hang):
            self._stopping.wait()
            return 0, None, {}
        fixed = self._take({k.lower(): v for k, v in self.faults.answers.items()}, path)
        if fixed is not None:
            status, body, headers = {k.lower(): v for k, v in self.faults.answers.items()}[fixed]
            return status, body, dict(headers)
        with self._lock:
            dropped = self._take(self._drop, path)
            if dropped and self._drop[dropped] > 0:
                self._drop[dropped] -= 1
                return 0, None, {}
            failing = self._take(self._fail, path)
            if failing and self._fail[failing]:
                status = self._fail[failing].pop(0)
                return status, {"error": {"code": "InternalServerError", "message": "injected fault"}}, {}
        if method == "POST" and path == GRAPH_QUERY_PATH:
            return self._graph_answer(content)
        if method == "POST" and path == GRAPH_BATCH_PATH:
            return self._batch_answer(content, host, authorization)
        with self._lock:
            if self.faults.bucket is not None and path.startswith("/subscriptions/"):
                sub = path.split("/")[2]
                bucket = self._buckets.setdefault(sub, _Bucket(self.faults.bucket, self.faults.refill_per_second))
                wait = bucket.take()
                if not wait:
                    self._remaining.value = int(bucket.tokens)
                if wait:
                    return (
                        429,
                        {"error": {"code": "TooManyRequests", "message": "throttled"}},
                        {"Retry-After": str(max(1, math.ceil(wait)))},
                    )
        if method != "GET":
            return 405, {"error": {"code": "MethodNotAllowed", "message": f"{method} is not served"}}, {}
        if vault_host:
            return self._data_plane_answer(vault_host, path, authorization)
        if any(p.lower() in path for p in self.faults.forbid) and path.startswith("/v1.0/"):
            return 403, GRAPH_REFUSAL, {}
        if any(p.lower() in path for p in self.faults.forbid):
            return (
                403,
                {
                    "error": {
                        "code": "AuthorizationFailed",
                        "message": f"The client does not have authorization to read '{path}'",
                    }
                },
                {},
            )
        if any(p.lower() in path for p in self.faults.malformed):
            return 200, '{"value": [{"id": "/subscriptions/trunc', {}
        if path in self.tenant.lists:
            items = self.tenant.lists[path]
            start = int(query.get("$skiptoken", ["0"])[0])
            size = self.faults.page_size or len(items) or 1
            body: Json = {"value": items[start : start + size]}
            if start + size < len(items):
                body["nextLink"] = (
                    f"{self.url}{split.path}?api-version={query.get('api-version', [''])[0]}&$skiptoken={start + size}"
                )
            return 200, body, {}
        if path.startswith("/subscriptions/") and path.endswith((*LISTED_KINDS, "/roleassignments")):
            return 200, {"value": []}, {}
        if path in self.tenant.resources:
            return 200, self.tenant.resources[path], {}
        return 404, {"error": {"code": "ResourceNotFound", "message": f"{path} was not found"}}, {}

    def _batch_answer(self, content: bytes, host: str, authorization: str) -> tuple[int, Json, dict[str, str]]:
        """Microsoft Graph's JSON batch ($batch, v1.0): each request answered as if sent alone, in one answer."""
        try:
            requests = json.loads(content)["requests"]
        except (ValueError, KeyError, TypeError):
            return 400, {"error": {"code": "BadRequest", "message": "Invalid batch payload format."}}, {}
        if not isinstance(requests, list) or not 0 < len(requests) <= 20:
            return 400, {"error": {"code": "BadRequest", "message": "The batch holds 1 to 20 requests."}}, {}
        responses = []
        for request in requests:
            # The batch as a whole took the latency; Graph runs the requests inside it side by side.
            path = f"/v1.0{request.get('url')}"
            status, body, _ = self._answer(str(request.get("method")), path, b"", host, delay=False)
            with self._lock:
                self.batched.append((str(request.get("method")), f"/v1.0{request.get('url')}", status))
            responses.append(
                {
                    "id": request.get("id"),
                    "status": status,
                    "headers": {"Content-Type": "application/json"},
                    "body": body,
                }
            )
        return 200, {"responses": responses}, {}

    def _data_plane_answer(self, host: str, path: str, authorization: str) -> tuple[int, Json, dict[str, str]]:
        """Key Vault's data plane: a 401 challenge without a token, then 403, the resource, or 404."""
        if not authorization.lower().startswith("bearer "):
            resource = self.faults.challenge_resource
            if host.endswith(HSM_SUFFIX) and resource == "https://vault.azure.net":
                resource = "https://managedhsm.azure.net"
            body, headers = key_vault_challenge(TENANT, resource)
            return 401, body, headers
        if any(p.lower() in path for p in self.faults.forbid):
            if host.endswith(HSM_SUFFIX):
                kind = "roleDefinitions" if path.endswith("/roledefinitions") else "roleAssignments"
                action = f"Microsoft.KeyVault/managedHsm/{kind}/read/action"
                if "/rotationpolicy" in path:
                    action = "Microsoft.KeyVault/managedHsm/keys/read/action"
                return 403, managed_hsm_refusal(SCANNER, TENANT, action), {}
            return 403, key_vault_refusal(SCANNER, TENANT, host.split(".")[0], "westeurope"), {}
        if path in self.tenant.resources:
            return 200, self.tenant.resources[path], {}
        return 404, {"error": {"code": "KeyNotFound", "message": f"A key with (name/id) was not found ({path})"}}, {}

    def _graph_answer(self, content: bytes) -> tuple[int, Json | str | None, dict[str, str]]:
        """Resources - query (Azure Resource Graph), for the two queries cmkaudit sends, paged by $skipToken."""
        with self._lock:
            if self.faults.graph_quota is not None:
                if self._graph_bucket is None:
                    refill = self.faults.graph_quota / self.faults.graph_window
                    self._graph_bucket = _Bucket(self.faults.graph_quota, refill)
                wait = self._graph_bucket.take()
                remaining = int(self._graph_bucket.tokens)
                resets = f"00:00:{max(1, math.ceil(self.faults.graph_window)):02d}"
                quota = {"x-ms-user-quota-remaining": str(remaining), "x-ms-user-quota-resets-after": resets}
                if not self.faults.graph_quota_headers:
                    quota = {}
                if wait:
                    error = {
                        "error": {
                            "code": "RateLimiting",
                            "message": "Please provide below info when asking for support",
                        }
                    }
                    return 429, error, {**quota, "Retry-After": str(max(1, math.ceil(wait)))}
            else:
                quota = {}
        try:
            request = json.loads(content)
            subscriptions = {str(s).lower() for s in request["subscriptions"]}
            text = request["query"]
            options = request.get("options") or {}
        except (ValueError, KeyError, TypeError):
            return 400, {"error": {"code": "BadRequest", "message": "the request body is not a query request"}}, {}
        if text == SUBSCRIPTIONS_QUERY:
            # Resource Graph leaves out what the caller cannot read; it does not refuse.
            rows = [
                self._subscription_row(s)
                for s in self.tenant.subscriptions
                if s.lower() in subscriptions
                and not any(p.lower() in f"/subscriptions/{s}" for p in self.faults.forbid)
            ]
        elif text == RESOURCES_QUERY:
            rows = [
                self._resource_row(item)
                for path, items in self.tenant.lists.items()
                if path.startswith("/subscriptions/")
                and path.split("/")[2] in subscriptions
                and path.endswith(LISTED_KINDS)
                and not any(p.lower() in path for p in self.faults.forbid)
                for item in items
            ]
            rows.sort(key=lambda row: row["id"])
        else:
            return (
                400,
                {"error": {"code": "BadRequest", "message": "the fake server answers cmkaudit's queries only"}},
                {},
            )
        start = int(base64.b64decode(options["$skipToken"])) if options.get("$skipToken") else 0
        size = min(int(options.get("$top") or 100), self.faults.graph_page_size)
        page = rows[start : start + size]
        body: Json = {
            "totalRecords": len(rows),
            "count": len(page),
            "resultTruncated": "false",
            "facets": [],
            "data": page,
        }
        if start + size < len(rows):
            body["$skipToken"] = base64.b64encode(str(start + size).encode()).decode()
        if self.faults.graph_repeat_token:
            body["$skipToken"] = base64.b64encode(b"0").decode()
        return 200, body, quota

    def _subscription_row(self, sub: str) -> Json:
        """A ResourceContainers row for a subscription."""
        body = self.tenant.resources[f"/subscriptions/{sub}".lower()]
        return {
            "id": body["id"],
            "name": body["displayName"],
            "subscriptionId": body["subscriptionId"],
            "tenantId": body["tenantId"],
            "properties": {"state": body["state"], "subscriptionPolicies": {"spendingLimit": "Off"}},
        }

    @staticmethod
    def _resource_row(item: Json) -> Json:
        """A Resources row: the resource, with Resource Graph's lower-cased type and extra columns."""
        parts = item["id"].split("/")
        row = {
            "id": item["id"],
            "name": item["name"],
            "type": item["type"].lower(),
            "kind": item.get("kind", ""),
            "location": item.get("location"),
            "tags": item.get("tags"),
            "sku": item.get("sku"),
            "identity": item.get("identity"),
            "properties": item.get("properties"),
            "subscriptionId": parts[2],
            "resourceGroup": parts[4].lower(),
        }
        return row

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body are separate writes on a kept-alive connection: without TCP_NODELAY, Nagle's
            # algorithm and the client's delayed ACK add ~40 ms to every answer, which is not ARM's behaviour.
            disable_nagle_algorithm = True

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                content = self.rfile.read(length) if length else b""
                host = (self.headers.get("Host") or "").rsplit(":", 1)[0]
                authorization = self.headers.get("Authorization") or ""
                status, body, headers = server.answer(self.command, self.path, content, host, authorization)
                logged = unquote(urlsplit(self.path).path)
                if host.lower().endswith(DATA_PLANE_SUFFIXES):
                    logged = f"https://{host.lower()}{logged}"
                with server._lock:
                    server.requests.append((self.command, logged, status))
                if body is None:
                    self.close_connection = True
                    self.connection.close()
                    return
                payload = (body if isinstance(body, str) else json.dumps(body)).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(payload)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

            def log_message(self, *args: object) -> None:
                pass

        return Handler


class ForeignHost:
    """A second HTTPS server, on another host name (localhost) with a CA of its own, playing a server the scanner
    must never send a credential to. It answers every request with an empty list and records what it received,
    Authorization header included.

        with FakeArm(tenant) as arm, ForeignHost() as foreign:
            # trust both CAs: REQUESTS_CA_BUNDLE=foreign.bundle_with(arm.ca_file)
    """

    def __init__(self, answer: Json | None = None) -> None:
        self.received: list[tuple[str, str, str]] = []
        """(method, path, Authorization header) of each request."""
        self._answer = answer if answer is not None else {"value": []}
        self._dir = tempfile.TemporaryDirectory()
        ca = trustme.CA()
        self.ca_file = Path(self._dir.name) / "foreign-ca.pem"
        ca.cert_pem.write_to_path(str(self.ca_file))
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("localhost").configure_cert(context)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self.url = f"https://localhost:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def bundle_with(self, *others: Path) -> str:
        """A CA bundle trusting this server and `others` (e.g. the fake ARM's CA)."""
        bundle = Path(self._dir.name) / "bundle.pem"
        bundle.write_text("".join(p.read_text() for p in (self.ca_file, *others)))
        return str(bundle)

    def __enter__(self) -> ForeignHost:
        self._thread.start()
        return self

    def __exit__(self, *args: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._dir.cleanup()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                server.received.append((self.command, self.path, self.headers.get("Authorization") or ""))
                payload = json.dumps(server._answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_HEAD = do_POST = _serve

            def log_message(self, *args: object) -> None:
                pass

        return Handler


__all__ = ["ARM", "GRAPH", "FakeArm", "Faults", "ForeignHost", "Tenant", "generate_tenant"]
