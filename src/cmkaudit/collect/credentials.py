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
    """A bearer token issued elsewhere (e.g. `az account get-access-token`), for ARM only.

    It answers only for the ARM audience it was given; a request for another audience (Microsoft
    Graph) fails with an explanation instead of sending an ARM token where it does not belong.
    """

    def __init__(self, token: str, arm_scope: str) -> None:
        self._token = token.strip()
        self._scope = arm_scope
        self._expires_on = _jwt_expiry(self._token) or int(time.time()) + 3600

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        """The token, if the request is for ARM."""
        if scopes and any(s.rstrip("/") != self._scope.rstrip("/") for s in scopes):
            raise ClientAuthenticationError(
                message=f"{ACCESS_TOKEN_ENV} holds an ARM token; it cannot be used for {', '.join(scopes)}"
            )
        return AccessToken(self._token, self._expires_on)


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
        return StaticTokenCredential(token, endpoints.arm_scope)
    from azure.identity import DefaultAzureCredential

    return DefaultAzureCredential(authority=endpoints.authority, additionally_allowed_tenants=["*"])
