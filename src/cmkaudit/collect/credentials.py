"""Credentials: DefaultAzureCredential, a pre-issued ARM token, and the demo tenant's offline token."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

from azure.core.credentials import AccessToken, TokenCredential
from azure.core.exceptions import ClientAuthenticationError

from cmkaudit.collect.http import Endpoints

ACCESS_TOKEN_ENV = "CMKAUDIT_ACCESS_TOKEN"
GRAPH_TOKEN_ENV = "CMKAUDIT_GRAPH_ACCESS_TOKEN"


def _jwt_expiry(token: str) -> int | None:
    """The `exp` claim of a JWT, if the token is one; the signature is not (and need not be) checked."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    padded = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(padded))
    except (ValueError, UnicodeDecodeError):
        return None
    exp = claims.get("exp") if isinstance(claims, dict) else None
    return exp if isinstance(exp, int) else None


class StaticTokenCredential:
    """Bearer tokens issued elsewhere (e.g. `az account get-access-token`): one for ARM, optionally one for Graph.

    Each token answers only for its own audience; a request for another (a vault's data plane, or Graph
    without a Graph token) fails with an explanation instead of sending a token where it does not belong.
    """

    def __init__(
        self, token: str, arm_scope: str, graph_token: str | None = None, graph_scope: str | None = None
    ) -> None:
        self._tokens = {arm_scope.rstrip("/"): token.strip()}
        if graph_token and graph_scope:
            self._tokens[graph_scope.rstrip("/")] = graph_token.strip()

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        """The token for the requested audience, if one was given."""
        wanted = {s.rstrip("/") for s in scopes}
        token = next((self._tokens[s] for s in wanted if s in self._tokens), None)
        if token is None or len(wanted) != 1:
            held = "an ARM token" if len(self._tokens) == 1 else "ARM and Graph tokens"
            raise ClientAuthenticationError(
                message=f"{ACCESS_TOKEN_ENV} holds {held}; it cannot be used for {', '.join(scopes)}"
            )
        return AccessToken(token, _jwt_expiry(token) or int(time.time()) + 3600)


class OfflineDemoCredential:
    """The demo tenant's credential: a placeholder token that never leaves the process.

    The demo replays a recorded tenant; no request reaches Azure and no Authorization header is stored.
    """

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        """A placeholder token, valid for an hour."""
        return AccessToken("cmkaudit-demo-offline-token", int(time.time()) + 3600)


def default_credential(endpoints: Endpoints, environ: dict[str, str]) -> TokenCredential:
    """The credential for a live scan: CMKAUDIT_ACCESS_TOKEN if set, else DefaultAzureCredential.

    DefaultAzureCredential covers `az login`, managed identity, workload identity and an
    environment service principal. Other tenants are allowed so that the AzureDatabricks service
    principal can be looked up in the tenant of each vault.
    """
    token = environ.get(ACCESS_TOKEN_ENV, "").strip()
    if token:
        graph = environ.get(GRAPH_TOKEN_ENV, "").strip() or None
        return StaticTokenCredential(token, endpoints.arm_scope, graph, f"{endpoints.graph}/.default")
    from azure.identity import DefaultAzureCredential

    return DefaultAzureCredential(authority=endpoints.authority, additionally_allowed_tenants=["*"])
