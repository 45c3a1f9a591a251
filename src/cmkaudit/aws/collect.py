"""Read a Databricks account on AWS, read-only: its workspaces and key configurations with the official
`databricks-sdk` (`AccountClient`), and each KMS key they name with `boto3`.

Credentials are the ecosystems' own: Databricks unified authentication (`DATABRICKS_CLIENT_ID` /
`DATABRICKS_CLIENT_SECRET`, a `~/.databrickscfg` profile, `DATABRICKS_TOKEN`), and boto3's default chain (a
profile, the environment, SSO, an instance or web-identity role). A key in another AWS account is read through
`role_arn` (its `{account}` placeholder filled in) when given. Endpoints follow the SDKs' standard settings
(`DATABRICKS_HOST`, `AWS_ENDPOINT_URL_KMS`, `AWS_CA_BUNDLE`, `REQUESTS_CA_BUNDLE`).

Guards: every KMS call goes through an event hook that refuses any operation but the six reads; every call the
Databricks SDK sends goes through a transport adapter that refuses anything but GET (the OAuth token exchange
is the SDK's own, outside the API session). What cannot be read is an `Unread` marker on its record, with the
permission that fixes it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, TypeVar

import msgspec

from cmkaudit.aws.iam import DESTRUCTIVE, destructive_holders
from cmkaudit.aws.policy import PolicyError, account_of, covers_action, is_account_root, parse_policy
from cmkaudit.errors import CollectionFailure, WriteBlockedError
from cmkaudit.inventory.aws import AwsWorkspace, KeyConfiguration, KeyRotation, KmsKey, UseCase
from cmkaudit.inventory.model import CollectionError, Unread, UnreadWhy
from cmkaudit.text import printable, scrub_secrets

KMS_READS = frozenset(
    {"DescribeKey", "GetKeyPolicy", "GetKeyRotationStatus", "ListKeyRotations", "ListAliases", "ListResourceTags"}
)
"""The only KMS operations cmkaudit sends (and AssumeRole, to read a key in another account)."""

KMS_PERMISSIONS = ", ".join(f"kms:{op}" for op in sorted(KMS_READS))
IAM_READS = frozenset({"GetAccountAuthorizationDetails"})
"""The only IAM operation cmkaudit sends: for a key whose policy delegates to its account's IAM."""
_ARN = re.compile(r"^arn:(aws[a-z-]*):kms:([a-z0-9-]+):(\d{12}):key/([A-Za-z0-9-]+)$")


@dataclass(frozen=True, slots=True)
class AccountRead:
    """What was read of one Databricks account."""

    workspaces: tuple[AwsWorkspace, ...]
    configurations: tuple[KeyConfiguration, ...]
    keys: tuple[KmsKey, ...]
    errors: tuple[CollectionError, ...]


@dataclass(frozen=True, slots=True)
class AwsOptions:
    """How to reach the account and AWS."""

    account_id: str
    host: str | None = None
    """The account console host; None: `DATABRICKS_HOST`, else accounts.cloud.databricks.com."""
    databricks_profile: str | None = None
    aws_profile: str | None = None
    role_arn: str | None = None
    """A role to assume per key account, `{account}` standing for the key's AWS account id."""
    concurrency: int = 8
    timeout: float = 30.0
    databricks_token: str | None = None
    """A token given outright (the recorded demo), instead of unified authentication."""
    aws_credentials: tuple[str, str] | None = None
    """An access key pair given outright (the recorded demo), instead of boto3's chain."""
    kms_endpoint: str | None = None
    """A KMS endpoint given outright, `{region}` standing for the key's region (the recorded demo)."""
    iam_endpoint: str | None = None
    """An IAM endpoint given outright (the recorded demo)."""


def _epoch_ms(value: object) -> datetime | None:
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 253402300800000:  # before 10000
        return datetime.fromtimestamp(value / 1000, UTC)
    return None


def _error(resource: str, operation: str, exc: BaseException, hint: str | None) -> CollectionError:
    status = getattr(exc, "response", {}) or {}
    code = None
    http = None
    if isinstance(status, dict):
        code = (status.get("Error") or {}).get("Code")
        http = (status.get("ResponseMetadata") or {}).get("HTTPStatusCode")
    code = code or getattr(exc, "error_code", None) or type(exc).__name__
    http = http or getattr(exc, "status_code", None)
    message = printable(scrub_secrets(str(exc)))[:500]
    return CollectionError(resource, operation, http if isinstance(http, int) else None, str(code), message, hint)


class RedirectRefused(Exception):
    """The account API answered with a redirect: not followed (the answer elsewhere is not the account's, and the
    credential is for the account's host only); the call is recorded as failed."""


def _guard_session(client: Any) -> None:
    """Refuse any request of the Databricks SDK's API session that is not a GET, and any redirect."""
    import requests
    from requests.adapters import HTTPAdapter

    class ReadOnly(HTTPAdapter):
        def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
            if (request.method or "").upper() not in ("GET", "HEAD"):
                raise WriteBlockedError(
                    f"refused {request.method} {request.url}: cmkaudit only reads the Databricks account"
                )
            response = super().send(request, *args, **kwargs)
            if response.is_redirect:
                response.close()
                raise RedirectRefused(
                    f"the account API answered HTTP {response.status_code} (a redirect to "
                    f"{printable(scrub_secrets(str(response.headers.get('Location'))))[:200]}): not followed"
                )
            return response

    session = _api_session(client)
    if session is None:
        raise CollectionFailure("the Databricks SDK's HTTP session could not be guarded: refusing to scan")
    adapter = ReadOnly()
    session.mount("https://", adapter)
    session.mount("http://", adapter)


def _api_session(client: Any) -> Any:
    """The requests session the SDK sends API calls through (`api_client._api_client._session`)."""
    import requests

    api = getattr(client, "api_client", None)
    for candidate in (getattr(api, "_api_client", None), api):
        session = getattr(candidate, "_session", None)
        if isinstance(session, requests.Session):
            return session
    return None


def read_databricks_account(
    options: AwsOptions,
) -> tuple[list[AwsWorkspace], list[KeyConfiguration], list[CollectionError]]:
    """The account's workspaces and key configurations (two GET calls)."""
    from databricks.sdk import AccountClient
    from databricks.sdk.config import Config

    from cmkaudit import __version__

    settings: dict[str, Any] = {
        "account_id": options.account_id,
        "retry_timeout_seconds": 120,
        "http_timeout_seconds": options.timeout,
        "product": "cmkaudit",
        "product_version": __version__,
    }
    if options.host:
        settings["host"] = options.host
    if options.databricks_profile:
        settings["profile"] = options.databricks_profile
    if options.databricks_token:
        settings.update(token=options.databricks_token, auth_type="pat")
    try:
        client = AccountClient(config=Config(**settings))
    except Exception as exc:  # the SDK's configuration errors, whatever their class
        raise CollectionFailure(
            f"cannot set up the Databricks account client: {printable(scrub_secrets(str(exc)))}",
            "set DATABRICKS_HOST and DATABRICKS_CLIENT_ID / DATABRICKS_CLIENT_SECRET (or --databricks-profile)",
        ) from exc
    _guard_session(client)
    errors: list[CollectionError] = []
    where = f"accounts/{options.account_id}"
    workspaces: list[AwsWorkspace] = []
    configurations: list[KeyConfiguration] = []
    try:
        for item in client.workspaces.list():
            workspaces.append(_workspace(options.account_id, item.as_dict(), errors))
    except WriteBlockedError:
        raise
    except Exception as exc:
        raise CollectionFailure(
            f"cannot list the workspaces of Databricks account {options.account_id}: "
            f"{printable(scrub_secrets(str(exc)))[:300]}",
            "the identity must be an account admin (GET /api/2.0/accounts/{id}/workspaces)",
        ) from exc
    try:
        for entry in client.encryption_keys.list():
            configurations.append(_configuration(options.account_id, entry.as_dict(), errors))
    except WriteBlockedError:
        raise
    except Exception as exc:
        errors.append(
            _error(
                f"{where}/customer-managed-keys", "encryption_keys.list", exc, "the identity must be an account admin"
            )
        )
    return workspaces, configurations, errors


def _field(
    body: Mapping[str, Any], name: str, kind: type | tuple[type, ...], where: str, errors: list[CollectionError]
) -> Any:
    """`body[name]` when absent, null or of the type the account API documents; else None, and the malformed field
    recorded as an error (what depends on it is then UNKNOWN, and the scan incomplete)."""
    value = body.get(name)
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if value is None or (isinstance(value, kinds) and (bool in kinds or not isinstance(value, bool))):
        return value
    expected = " or ".join(k.__name__ for k in kinds)
    message = f"the account API answered {name} as {type(value).__name__}, not {expected}"
    errors.append(CollectionError(where, "read the account API", None, "MalformedAnswer", message))
    return None


def _workspace(account_id: str, body: Mapping[str, Any], errors: list[CollectionError]) -> AwsWorkspace:
    number = body.get("workspace_id")
    number = number if isinstance(number, int) and not isinstance(number, bool) else None
    where = f"accounts/{account_id}/workspaces/{printable(body.get('workspace_id'))}"

    def get(name: str, kind: type | tuple[type, ...] = str) -> Any:
        return _field(body, name, kind, where, errors)

    tags = {str(k): v for k, v in (get("custom_tags", dict) or {}).items()}
    for tag in list(tags):
        if _field(tags, tag, str, f"{where} custom_tags", errors) is None:
            del tags[tag]
    name = get("workspace_name")
    return AwsWorkspace(
        id=f"accounts/{account_id}/workspaces/{number if number is not None else printable(body.get('workspace_id'))}",
        account_id=account_id,
        workspace_id=number,
        name=str(name or number),
        region=get("aws_region"),
        pricing_tier=get("pricing_tier"),
        status=get("workspace_status"),
        managed_services_key_id=get("managed_services_customer_managed_key_id"),
        storage_key_id=get("storage_customer_managed_key_id"),
        custom_tags=tags,
        deployment_name=get("deployment_name"),
    )


def _configuration(account_id: str, body: Mapping[str, Any], errors: list[CollectionError]) -> KeyConfiguration:
    where = f"accounts/{account_id}/customer-managed-keys/{printable(body.get('customer_managed_key_id'))}"
    info = _field(body, "aws_key_info", dict, where, errors) or {}
    listed = _field(body, "use_cases", list, where, errors) or []
    cases = tuple(UseCase(c) for c in listed if isinstance(c, str) and c in UseCase.__members__)
    created = _field(body, "creation_time", int, where, errors)
    return KeyConfiguration(
        id=str(body.get("customer_managed_key_id")),
        account_id=account_id,
        key_arn=_field(info, "key_arn", str, where, errors),
        key_alias=_field(info, "key_alias", str, where, errors),
        key_region=_field(info, "key_region", str, where, errors),
        use_cases=cases,
        reuse_key_for_cluster_volumes=_field(info, "reuse_key_for_cluster_volumes", bool, where, errors),
        created=_epoch_ms(created),
    )


def _guard(client: Any, service: str, reads: frozenset[str]) -> Any:
    """Refuse, before it is sent, any call of `client` but the `reads` operations."""

    def refuse(model: Any, **_: Any) -> None:
        if model.name not in reads:
            raise WriteBlockedError(f"refused {service.upper()} {model.name}: cmkaudit only reads")

    client.meta.events.register(f"before-call.{service}", refuse)
    return client


class _KmsClients:
    """One KMS client per (AWS account, region), made once; a key in another account through `role_arn`."""

    def __init__(self, options: AwsOptions) -> None:
        import boto3  # type: ignore[import-untyped]
        from botocore.config import Config  # type: ignore[import-untyped]

        self.options = options
        if options.aws_credentials:
            key, secret = options.aws_credentials
            self.session = boto3.Session(aws_access_key_id=key, aws_secret_access_key=secret)
        elif options.aws_profile:
            self.session = boto3.Session(profile_name=options.aws_profile)
        else:
            self.session = boto3.Session()
        self.config = Config(
            retries={"mode": "standard", "max_attempts": 5},
            connect_timeout=10,
            read_timeout=options.timeout,
            max_pool_connections=max(10, options.concurrency),
        )
        self._clients: dict[tuple[str, str], Any] = {}
        self._own: str | None = None

    def client(self, account: str, region: str) -> Any:
        key = (account, region)
        if key not in self._clients:
            session = self.session
            if self.options.role_arn:
                session = self._assumed(account)
            endpoint = self.options.kms_endpoint.replace("{region}", region) if self.options.kms_endpoint else None
            client = session.client("kms", region_name=region, config=self.config, endpoint_url=endpoint)
            self._clients[key] = _guard(client, "kms", KMS_READS)
        return self._clients[key]

    def iam(self, account: str, region: str | None) -> Any:
        """The IAM client of an account (IAM is global: one per account; the key's region picks its partition)."""
        key = (account, "iam")
        if key not in self._clients:
            session = self._assumed(account) if self.options.role_arn else self.session
            endpoint = self.options.iam_endpoint
            client = session.client("iam", region_name=region or "us-east-1", config=self.config, endpoint_url=endpoint)
            self._clients[key] = _guard(client, "iam", IAM_READS)
        return self._clients[key]

    def _assumed(self, account: str) -> Any:
        import boto3

        role = (self.options.role_arn or "").replace("{account}", account)
        sts = self.session.client("sts", config=self.config)
        answer = sts.assume_role(RoleArn=role, RoleSessionName="cmkaudit-read")["Credentials"]
        return boto3.Session(
            aws_access_key_id=answer["AccessKeyId"],
            aws_secret_access_key=answer["SecretAccessKey"],
            aws_session_token=answer["SessionToken"],
        )


def _hint(operation: str, exc: BaseException, options: AwsOptions) -> str:
    code = ""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = str((response.get("Error") or {}).get("Code") or "")
    if code in ("AccessDeniedException", "AccessDenied"):
        role = "" if options.role_arn else ", or --aws-role-arn with {account} for keys of other accounts"
        return f"allow kms:{operation} on the key to the scanner (key policy or IAM){role}"
    if code == "NotFoundException":
        return "the key does not exist in that account and region (deleted, or the ARN is wrong)"
    return f"the scanner needs {KMS_PERMISSIONS} on the key"


MAX_PAGES = 1000
"""The most pages of one KMS list followed; a list that goes on is recorded as not read, never taken as whole."""


T = TypeVar("T")


class MalformedAnswer(ValueError):
    """An answer whose fields are not of the types the API documents (botocore passes wrong types through): the
    call is recorded as failed, and what depended on it is UNKNOWN."""


class _Page(msgspec.Struct):
    truncated: bool = msgspec.field(default=False, name="Truncated")
    marker: str | None = msgspec.field(default=None, name="NextMarker")


class _Metadata(msgspec.Struct):
    """DescribeKey's KeyMetadata, as KMS's API reference types it (the fields cmkaudit reads)."""

    account: str | None = msgspec.field(default=None, name="AWSAccountId")
    key_id: str | None = msgspec.field(default=None, name="KeyId")
    enabled: bool | None = msgspec.field(default=None, name="Enabled")
    state: str | None = msgspec.field(default=None, name="KeyState")
    manager: str | None = msgspec.field(default=None, name="KeyManager")
    spec: str | None = msgspec.field(default=None, name="KeySpec")
    master_spec: str | None = msgspec.field(default=None, name="CustomerMasterKeySpec")
    usage: str | None = msgspec.field(default=None, name="KeyUsage")
    origin: str | None = msgspec.field(default=None, name="Origin")
    multi_region: bool | None = msgspec.field(default=None, name="MultiRegion")
    created: datetime | None = msgspec.field(default=None, name="CreationDate")
    deletion: datetime | None = msgspec.field(default=None, name="DeletionDate")


class _RotationStatus(msgspec.Struct):
    enabled: bool | None = msgspec.field(default=None, name="KeyRotationEnabled")
    period: int | None = msgspec.field(default=None, name="RotationPeriodInDays")


class _Rotation(msgspec.Struct):
    date: datetime = msgspec.field(name="RotationDate")
    kind: str | None = msgspec.field(default=None, name="RotationType")


class _Alias(msgspec.Struct):
    name: str | None = msgspec.field(default=None, name="AliasName")


class _Tag(msgspec.Struct):
    key: str = msgspec.field(name="TagKey")
    value: str = msgspec.field(name="TagValue")


def _typed(answer: object, kind: type[T], operation: str) -> T:
    """`answer` as `kind`, every field of the documented type; MalformedAnswer naming the field otherwise."""
    try:
        return msgspec.convert(answer, kind, strict=True)
    except msgspec.ValidationError as exc:
        raise MalformedAnswer(f"{operation} answered a malformed body: {printable(exc)}") from exc


def _paged(call: Callable[..., Any], key: str, field_name: str, kind: type[T]) -> list[T]:
    """Every item of a KMS list, page after page: a repeated or missing marker, or more than MAX_PAGES pages, is
    MalformedAnswer (the list is not whole), never a list taken as complete."""
    items: list[T] = []
    marker: str | None = None
    seen: set[str] = set()
    operation = getattr(call, "__name__", "list")
    for _ in range(MAX_PAGES):
        page = call(KeyId=key, **({"Marker": marker} if marker else {}))
        items.extend(_typed(page.get(field_name) or [], list[kind], operation))  # type: ignore[valid-type]
        state = _typed(page, _Page, operation)
        if not state.truncated:
            return items
        if not state.marker or state.marker in seen:
            raise MalformedAnswer(f"{operation} answered a truncated page with a missing or repeated marker")
        seen.add(state.marker)
        marker = state.marker
    raise MalformedAnswer(f"{operation} went on past {MAX_PAGES} pages: the list was not read whole")


def read_key(clients: _KmsClients, arn: str, errors: list[CollectionError]) -> KmsKey:
    """One key: described, its policy, rotation status and rotations, aliases and tags. No key material."""
    options = clients.options
    parsed = _ARN.match(arn)
    if parsed is None:
        unread = Unread(UnreadWhy.NOT_FOUND, f"{arn!r} is not a KMS key ARN")
        return _placeholder(arn, unread)
    _, region, account, key_id = parsed.groups()

    def failed(operation: str, exc: BaseException) -> Unread:
        error = _error(arn, operation, exc, _hint(operation, exc, options))
        errors.append(error)
        return Unread.failed(error)

    try:
        client = clients.client(account, region)
    except WriteBlockedError:
        raise
    except Exception as exc:
        role = (options.role_arn or "").replace("{account}", account)
        hint = f"let the scanner assume {role} (sts:AssumeRole, and the role's trust policy naming the scanner)"
        error = _error(arn, "AssumeRole", exc, hint)
        errors.append(error)
        return _placeholder(arn, Unread.failed(error), account, region, key_id)
    try:
        metadata = _typed(client.describe_key(KeyId=arn).get("KeyMetadata"), _Metadata, "DescribeKey")
    except WriteBlockedError:
        raise
    except Exception as exc:
        return _placeholder(arn, failed("DescribeKey", exc), account, region, key_id)
    policy = policy_unread = None
    try:
        policy = parse_policy(client.get_key_policy(KeyId=arn, PolicyName="default")["Policy"])
    except WriteBlockedError:
        raise
    except PolicyError as exc:
        policy_unread = Unread(UnreadWhy.NOT_FOUND, f"the key policy could not be read as a policy: {exc}")
    except Exception as exc:
        policy_unread = failed("GetKeyPolicy", exc)
    status = _RotationStatus()
    rotation_unread = None
    try:
        status = _typed(client.get_key_rotation_status(KeyId=arn), _RotationStatus, "GetKeyRotationStatus")
    except WriteBlockedError:
        raise
    except Exception as exc:
        rotation_unread = failed("GetKeyRotationStatus", exc)
    rotations: tuple[KeyRotation, ...] | None = None
    rotations_unread = None
    try:
        listed = _paged(client.list_key_rotations, arn, "Rotations", _Rotation)
        rotations = tuple(KeyRotation(r.date, r.kind) for r in listed)
    except WriteBlockedError:
        raise
    except Exception as exc:
        rotations_unread = failed("ListKeyRotations", exc)
    aliases: tuple[str, ...] = ()
    tags: dict[str, str] = {}
    try:
        aliases = tuple(a.name for a in _paged(client.list_aliases, arn, "Aliases", _Alias) if a.name)
        tags = {t.key: t.value for t in _paged(client.list_resource_tags, arn, "Tags", _Tag)}
    except WriteBlockedError:
        raise
    except Exception as exc:
        failed("ListAliases/ListResourceTags", exc)
    return KmsKey(
        arn=arn,
        account_id=metadata.account or account,
        region=region,
        key_id=metadata.key_id or key_id,
        enabled=metadata.enabled,
        key_state=metadata.state,
        key_manager=metadata.manager,
        key_spec=metadata.spec or metadata.master_spec,
        key_usage=metadata.usage,
        origin=metadata.origin,
        multi_region=metadata.multi_region,
        created=metadata.created,
        deletion_date=metadata.deletion,
        rotation_enabled=status.enabled,
        rotation_period_days=status.period,
        rotations=rotations,
        policy=policy,
        aliases=aliases,
        tags=tags,
        policy_unread=policy_unread,
        rotation_unread=rotation_unread,
        rotations_unread=rotations_unread,
    )


def _placeholder(
    arn: str, unread: Unread, account: str | None = None, region: str | None = None, key_id: str | None = None
) -> KmsKey:
    return KmsKey(arn, account, region, key_id, unread=unread)


def _delegates(key: KmsKey) -> bool:
    """Whether the key policy lets its own account's IAM grant the destructive actions."""
    return any(
        statement.effect == "Allow"
        and any(is_account_root(p) and account_of(p) == key.account_id for p in statement.principals)
        and any(covers_action(statement, action) for action in DESTRUCTIVE)
        for statement in key.policy or ()
    )


def _with_iam(clients: _KmsClients, keys: list[KmsKey], errors: list[CollectionError]) -> list[KmsKey]:
    """Each key whose policy delegates to its account's IAM, with who may destroy it by IAM (one listing per
    account), or why that could not be read."""
    listings: dict[str, Any] = {}
    done: list[KmsKey] = []
    for key in keys:
        if key.unread is not None or key.account_id is None or not _delegates(key):
            done.append(key)
            continue
        account = key.account_id
        if account not in listings:
            try:
                client = clients.iam(account, key.region)
                pages = client.get_paginator("get_account_authorization_details").paginate(
                    Filter=["User", "Role", "Group", "LocalManagedPolicy", "AWSManagedPolicy"]
                )
                merged: dict[str, list[Any]] = {}
                for page in pages:
                    for field_name in ("UserDetailList", "GroupDetailList", "RoleDetailList", "Policies"):
                        merged.setdefault(field_name, []).extend(page.get(field_name) or [])
                listings[account] = merged
            except WriteBlockedError:
                raise
            except Exception as exc:
                hint = (
                    f"allow iam:GetAccountAuthorizationDetails in account {account} to the scanner, so that the IAM "
                    "policies the key policy delegates to can be judged"
                )
                error = _error(f"arn:aws:iam::{account}:root", "GetAccountAuthorizationDetails", exc, hint)
                errors.append(error)
                listings[account] = Unread.failed(error)
        listing = listings[account]
        if isinstance(listing, Unread):
            done.append(replace(key, iam_unread=listing))
        else:
            done.append(replace(key, iam_holders=destructive_holders(listing, key.arn)))
    return done


def read_keys(options: AwsOptions, arns: Iterable[str]) -> tuple[list[KmsKey], list[CollectionError]]:
    """Every key named, read concurrently (`options.concurrency` at once), and the IAM of the accounts whose key
    policies delegate to it."""
    clients = _KmsClients(options)
    errors: list[CollectionError] = []
    wanted = sorted(set(arns))
    with ThreadPoolExecutor(max_workers=max(1, options.concurrency)) as pool:
        keys = list(pool.map(lambda arn: read_key(clients, arn, errors), wanted))
    return _with_iam(clients, keys, errors), errors


def read_account(options: AwsOptions) -> AccountRead:
    """The account, its key configurations and every KMS key they name."""
    workspaces, configurations, errors = read_databricks_account(options)
    keys, key_errors = read_keys(options, (c.key_arn for c in configurations if c.key_arn))
    return AccountRead(tuple(workspaces), tuple(configurations), tuple(keys), tuple(errors + key_errors))
