"""Credentials: DefaultAzureCredential, pre-issued tokens (ARM, and optionally Graph and Key Vault), and the
demo tenant's offline token."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Mapping
from typing import Any

from azure.core.credentials import AccessToken, TokenCredential
from azure.core.exceptions import ClientAuthenticationError

from cmkaudit.collect.http import Endpoints
from cmkaudit.errors import CredentialError

ACCESS_TOKEN_ENV = "CMKAUDIT_ACCESS_TOKEN"
GRAPH_TOKEN_ENV = "CMKAUDIT_GRAPH_ACCESS_TOKEN"
KEYVAULT_TOKEN_ENV = "CMKAUDIT_KEYVAULT_ACCESS_TOKEN"
MANAGEDHSM_TOKEN_ENV = "CMKAUDIT_MANAGEDHSM_ACCESS_TOKEN"


def malformed_at(token: str) -> int | None:
    """The 1-based position of the first character that cannot be in a bearer token (a space, a line break or
    another control character, or anything outside printable ASCII), or None when there is none.

    Such a token cannot go into an Authorization header; HTTP libraries then quote the header, token and
    all, in their error messages. It is refused before any request is made."""
    for position, char in enumerate(token, start=1):
        if not 0x21 <= ord(char) <= 0x7E:
            return position
    return None


class CheckedCredential:
    """A credential whose tokens are checked before use: one that cannot be a header value is an authentication
    error (naming the position, never the token) instead of a request that fails quoting it."""

    def __init__(self, inner: TokenCredential) -> None:
        self._inner = inner

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        """The inner credential's token, if it is well formed."""
        token = self._inner.get_token(*scopes, **kwargs)
        position = malformed_at(token.token)
        if position is not None:
            raise ClientAuthenticationError(
                message=f"the credential returned a malformed token (character {position} cannot be in an HTTP "
                "header); it was not used"
            )
        return token


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
    """Bearer tokens issued elsewhere (e.g. `az account get-access-token`): one for ARM, optionally others
    (Microsoft Graph, Key Vault's data plane), each for its own audience.

    A token answers only for its own audience; a request for another (a vault's data plane without a Key
    Vault token, Graph without a Graph token) fails with an explanation instead of sending a token where
    it does not belong.
    """

    def __init__(self, token: str, arm_scope: str, others: Mapping[str, tuple[str, str]] | None = None) -> None:
        """`others`: scope -> (what the token is for, the token), e.g. {"https://vault.azure.net/.default":
        ("Key Vault", "eyJ...")}."""
        self._tokens = {arm_scope.rstrip("/"): ("ARM", token.strip())}
        for scope, (audience, other) in (others or {}).items():
            self._tokens[scope.rstrip("/")] = (audience, other.strip())

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        """The token for the requested audience, if one was given."""
        wanted = {s.rstrip("/") for s in scopes}
        token = next((self._tokens[s][1] for s in wanted if s in self._tokens), None)
        if token is None or len(wanted) != 1:
            audiences = [audience for audience, _ in self._tokens.values()]
            held = "an ARM token" if len(audiences) == 1 else f"{', '.join(audiences[:-1])} and {audiences[-1]} tokens"
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


def default_credential(endpoints: Endpoints, environ: Mapping[str, str]) -> TokenCredential:
    """The credential for a live scan: CMKAUDIT_ACCESS_TOKEN if set, else DefaultAzureCredential.

    DefaultAzureCredential covers `az login`, managed identity, workload identity and an
    environment service principal. Other tenants are allowed so that the AzureDatabricks service
    principal can be looked up in the tenant of each vault.
    """
    token = _token_from(environ, ACCESS_TOKEN_ENV)
    if token:
        others = {}
        graph = _token_from(environ, GRAPH_TOKEN_ENV)
        if graph:
            others[f"{endpoints.graph}/.default"] = ("Graph", graph)
        keyvault = _token_from(environ, KEYVAULT_TOKEN_ENV)
        if keyvault:
            others[endpoints.keyvault_scope] = ("Key Vault", keyvault)
        managedhsm = _token_from(environ, MANAGEDHSM_TOKEN_ENV)
        if managedhsm:
            others[endpoints.managedhsm_scope] = ("Managed HSM", managedhsm)
        return StaticTokenCredential(token, endpoints.arm_scope, others)
    from azure.identity import DefaultAzureCredential

    return CheckedCredential(DefaultAzureCredential(authority=endpoints.authority, additionally_allowed_tenants=["*"]))


def _token_from(environ: Mapping[str, str], name: str) -> str:
    """The token in the environment variable `name` (surrounding white space removed), or "".

    Raises CredentialError when what is left cannot be a bearer token, e.g. a line break from a badly quoted
    pipeline variable; the message gives the position, never the token."""
    token = environ.get(name, "").strip()
    position = malformed_at(token)
    if position is not None:
        raise CredentialError(
            f"{name} is not a usable token: character {position} is a space, a line break or another character "
            "that cannot be in an HTTP header",
            "set it to the token alone, e.g. $(az account get-access-token --query accessToken -o tsv)",
        )
    return token
