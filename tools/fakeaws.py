"""A fake Databricks account API and AWS KMS on 127.0.0.1, over TLS, for the Databricks-on-AWS tests and demo.

The account API answers as the Databricks REST API reference documents it (`GET /api/2.0/accounts/{id}/workspaces`
and `/customer-managed-keys`, a 404 for the SDK's `/.well-known/databricks-config`). KMS answers on the same
server as botocore's KMS model describes it: JSON 1.1, `X-Amz-Target: TrentService.<Operation>`, errors as
`{"__type": ..., "message": ...}`, rotation periods included (which moto does not return). Every request is
logged (method, path, KMS operation), so a test can assert that nothing but reads was sent.

    with FakeAws(demo_account()) as aws:
        # DATABRICKS_HOST=aws.url, AWS_ENDPOINT_URL_KMS=aws.url, REQUESTS_CA_BUNDLE=AWS_CA_BUNDLE=aws.ca_file
"""

from __future__ import annotations

import json
import ssl
import tempfile
import threading
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import trustme

Json = dict[str, Any]

DATABRICKS_PRINCIPAL = "arn:aws:iam::414351767826:root"
ACCOUNT_ID = "7a99b43c-b46c-432b-b0a7-814217701909"
AWS_ACCOUNT = "444455556666"
REGION = "us-east-1"


def epoch(day: str) -> float:
    """Seconds since the epoch of a UTC date, as the JSON 1.1 protocol writes timestamps."""
    return datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp()


def key_arn(key_id: str, region: str = REGION, account: str = AWS_ACCOUNT) -> str:
    return f"arn:aws:kms:{region}:{account}:key/{key_id}"


def databricks_statement(actions: list[str], *, sid: str, account_scoped: bool = True, **extra: Any) -> Json:
    """The statement Databricks' documentation adds to a key policy for its principal."""
    statement: Json = {
        "Sid": sid,
        "Effect": "Allow",
        "Principal": {"AWS": DATABRICKS_PRINCIPAL},
        "Action": actions,
        "Resource": "*",
    }
    if account_scoped:
        statement["Condition"] = {"StringEquals": {"aws:PrincipalTag/DatabricksAccountId": [ACCOUNT_ID]}}
    statement.update(extra)
    return statement


MANAGED_SERVICES_ACTIONS = ["kms:Encrypt", "kms:Decrypt"]
STORAGE_ACTIONS = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"]
GRANT_ACTIONS = ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"]


def key_policy(*statements: Json, admins: tuple[str, ...] = ()) -> str:
    """A key policy: the account's key administrators, then `statements`."""
    admin = (
        [
            {
                "Sid": "Key administrators",
                "Effect": "Allow",
                "Principal": {"AWS": list(admins)},
                "Action": [
                    "kms:Create*",
                    "kms:Describe*",
                    "kms:Enable*",
                    "kms:List*",
                    "kms:Put*",
                    "kms:Update*",
                    "kms:Revoke*",
                    "kms:Disable*",
                    "kms:Get*",
                    "kms:Delete*",
                    "kms:TagResource",
                    "kms:UntagResource",
                    "kms:ScheduleKeyDeletion",
                    "kms:CancelKeyDeletion",
                ],
                "Resource": "*",
            }
        ]
        if admins
        else []
    )
    return json.dumps({"Version": "2012-10-17", "Id": "key-policy", "Statement": [*admin, *statements]})


@dataclass
class FakeKey:
    """A KMS key as the fake serves it."""

    key_id: str
    policy: str
    region: str = REGION
    account: str = AWS_ACCOUNT
    state: str = "Enabled"
    key_spec: str = "SYMMETRIC_DEFAULT"
    key_usage: str = "ENCRYPT_DECRYPT"
    key_manager: str = "CUSTOMER"
    origin: str = "AWS_KMS"
    created: str = "2026-06-01"
    deletion: str | None = None
    rotation_enabled: bool = True
    rotation_period: int | None = 90
    rotations: list[str] = field(default_factory=lambda: ["2026-08-30", "2026-11-28"])
    aliases: list[str] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)
    refuse: dict[str, str] = field(default_factory=dict)
    """Operation -> error type (AccessDeniedException, ...) answered instead."""
    throttle: dict[str, int] = field(default_factory=dict)
    """Operation -> how many times KMS answers ThrottlingException before answering."""
    patch: dict[str, Json] = field(default_factory=dict)
    """Operation -> fields laid over its answer's body: hostile or malformed answers (wrong types, markers)."""

    @property
    def arn(self) -> str:
        return key_arn(self.key_id, self.region, self.account)

    def metadata(self) -> Json:
        body: Json = {
            "AWSAccountId": self.account,
            "KeyId": self.key_id,
            "Arn": self.arn,
            "CreationDate": epoch(self.created),
            "Enabled": self.state == "Enabled",
            "Description": "Databricks customer-managed key",
            "KeyUsage": self.key_usage,
            "KeyState": self.state,
            "Origin": self.origin,
            "KeyManager": self.key_manager,
            "CustomerMasterKeySpec": self.key_spec,
            "KeySpec": self.key_spec,
            "EncryptionAlgorithms": (
                ["SYMMETRIC_DEFAULT"] if self.key_spec == "SYMMETRIC_DEFAULT" else ["RSAES_OAEP_SHA_256"]
            ),
            "MultiRegion": False,
        }
        if self.deletion:
            body["DeletionDate"] = epoch(self.deletion)
            body["PendingDeletionWindowInDays"] = 30
        return body


@dataclass
class FakeAccount:
    """A Databricks account on AWS: its workspaces and key configurations, and the KMS keys they name."""

    account_id: str
    workspaces: list[Json]
    key_configurations: list[Json]
    keys: list[FakeKey]
    fail: dict[str, int] = field(default_factory=dict)
    """Path fragment -> HTTP status answered by the account API instead."""
    iam_roles: list[Json] = field(default_factory=list)
    """The AWS account's roles, as GetAccountAuthorizationDetails lists them (RoleDetail: Arn, RoleName,
    RolePolicyList of {PolicyName, PolicyDocument})."""
    iam_refused: bool = False
    assumable: list[str] = field(default_factory=list)
    """Role ARNs STS lets the scanner assume (for keys of other accounts); `assumed` logs those it did."""
    assumed: list[str] = field(default_factory=list)
    throttle_api: int = 0
    """How many times the account API answers 429 (with Retry-After: 1) before answering."""
    redirect: dict[str, str] = field(default_factory=dict)
    """Path fragment -> where the account API redirects it (302); `/elsewhere` answers an empty list."""


def workspace(
    workspace_id: int,
    name: str,
    *,
    tier: str = "ENTERPRISE",
    managed_services: str | None = None,
    storage: str | None = None,
    tags: dict[str, str] | None = None,
    region: str = REGION,
) -> Json:
    """A workspace as `GET /api/2.0/accounts/{id}/workspaces` lists it."""
    body: Json = {
        "account_id": ACCOUNT_ID,
        "workspace_id": workspace_id,
        "workspace_name": name,
        "deployment_name": f"dbc-{workspace_id:x}",
        "aws_region": region,
        "pricing_tier": tier,
        "workspace_status": "RUNNING",
        "workspace_status_message": "Workspace is running.",
        "creation_time": 1748736000000,
        "credentials_id": "c7814269-df58-4ca3-85e9-f6672ef43d77",
        "storage_configuration_id": "b43a6064-04c1-4e1c-88b6-d91e5b136b13",
        "custom_tags": tags or {},
    }
    if managed_services:
        body["managed_services_customer_managed_key_id"] = managed_services
    if storage:
        body["storage_customer_managed_key_id"] = storage
    return body


def key_configuration(
    configuration_id: str, key: FakeKey, use_cases: list[str], *, reuse_for_volumes: bool | None = True
) -> Json:
    """A key configuration as `GET /api/2.0/accounts/{id}/customer-managed-keys` lists it."""
    info: Json = {"key_arn": key.arn, "key_region": key.region}
    if key.aliases:
        info["key_alias"] = key.aliases[0]
    if reuse_for_volumes is not None and "STORAGE" in use_cases:
        info["reuse_key_for_cluster_volumes"] = reuse_for_volumes
    return {
        "customer_managed_key_id": configuration_id,
        "account_id": ACCOUNT_ID,
        "creation_time": 1748736000000,
        "use_cases": use_cases,
        "aws_key_info": info,
    }


IAM_NAMESPACE = "https://iam.amazonaws.com/doc/2010-05-08/"


def iam_answer(account: FakeAccount, action: str) -> tuple[int, str]:
    """IAM's answer (Query protocol, XML; policy documents URL-encoded JSON, as IAM returns them)."""
    from urllib.parse import quote
    from xml.sax.saxutils import escape

    if action != "GetAccountAuthorizationDetails":
        return 400, _iam_error("InvalidAction", f"{action} is not served")
    if account.iam_refused:
        return 403, _iam_error(
            "AccessDenied",
            f"User: arn:aws:iam::{AWS_ACCOUNT}:role/cmkaudit is not authorized to perform: "
            "iam:GetAccountAuthorizationDetails on resource: *",
        )
    roles = []
    for role in account.iam_roles:
        policies = "".join(
            f"<member><PolicyName>{escape(p['PolicyName'])}</PolicyName>"
            f"<PolicyDocument>{quote(json.dumps(p['PolicyDocument']))}</PolicyDocument></member>"
            for p in role.get("RolePolicyList", [])
        )
        roles.append(
            f"<member><Path>/</Path><RoleName>{escape(role['RoleName'])}</RoleName>"
            f"<RoleId>AROA{zlib.crc32(role['RoleName'].encode()):016d}</RoleId><Arn>{escape(role['Arn'])}</Arn>"
            "<CreateDate>2026-01-05T09:00:00Z</CreateDate>"
            f"<RolePolicyList>{policies}</RolePolicyList><AttachedManagedPolicies/></member>"
        )
    body = (
        f'<GetAccountAuthorizationDetailsResponse xmlns="{IAM_NAMESPACE}"><GetAccountAuthorizationDetailsResult>'
        "<IsTruncated>false</IsTruncated><UserDetailList/><GroupDetailList/>"
        f"<RoleDetailList>{''.join(roles)}</RoleDetailList><Policies/>"
        "</GetAccountAuthorizationDetailsResult><ResponseMetadata><RequestId>7a62c49f-347e-4fc4-9331-6e8eEXAMPLE"
        "</RequestId></ResponseMetadata></GetAccountAuthorizationDetailsResponse>"
    )
    return 200, body


def sts_answer(account: FakeAccount, form: dict[str, str]) -> tuple[int, str]:
    """STS AssumeRole (Query protocol, XML): temporary credentials for a role of `account.assumable` only."""
    from xml.sax.saxutils import escape

    role = form.get("RoleArn", "")
    if role not in account.assumable:
        return 403, (
            '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type>'
            f"<Code>AccessDenied</Code><Message>not authorized to perform: sts:AssumeRole on resource: {escape(role)}"
            "</Message></Error><RequestId>c6104cbe-af31-11e0-8154-cbc7ccf896c7</RequestId></ErrorResponse>"
        )
    account.assumed.append(role)
    return 200, (
        '<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult>'
        "<Credentials><AccessKeyId>ASIAFAKEASSUMED00001</AccessKeyId>"
        "<SecretAccessKey>fake/assumed/secret/for/tests/only/0000000</SecretAccessKey>"
        "<SessionToken>FwoGZXIvYXdzEFAKEsessiontokenfortestsonly</SessionToken>"
        "<Expiration>2099-01-01T00:00:00Z</Expiration></Credentials>"
        f"<AssumedRoleUser><Arn>{escape(role)}/cmkaudit-read</Arn><AssumedRoleId>AROAFAKE:cmkaudit-read</AssumedRoleId>"
        "</AssumedRoleUser></AssumeRoleResult><ResponseMetadata><RequestId>c6104cbe-af31-11e0-8154-cbc7ccf896c7"
        "</RequestId></ResponseMetadata></AssumeRoleResponse>"
    )


def _iam_error(code: str, message: str) -> str:
    from xml.sax.saxutils import escape

    return (
        f'<ErrorResponse xmlns="{IAM_NAMESPACE}"><Error><Type>Sender</Type><Code>{code}</Code>'
        f"<Message>{escape(message)}</Message></Error><RequestId>7a62c49f-0000-4fc4-9331-6e8eEXAMPLE</RequestId>"
        "</ErrorResponse>"
    )


class FakeAws:
    """The server: start it in a `with` block; `url`, `ca_file` and `requests` are its outputs."""

    def __init__(self, account: FakeAccount) -> None:
        self.account = account
        self.requests: list[tuple[str, str, str | None]] = []
        self._lock = threading.Lock()
        self._dir = tempfile.TemporaryDirectory()
        ca = trustme.CA()
        self.ca_file = Path(self._dir.name) / "fake-aws-ca.pem"
        ca.cert_pem.write_to_path(str(self.ca_file))
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> FakeAws:
        self._thread.start()
        return self

    def __exit__(self, *args: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._dir.cleanup()

    def environment(self) -> dict[str, str]:
        """What a scanner's environment needs to reach this server instead of Databricks and AWS."""
        return {
            "DATABRICKS_HOST": self.url,
            "DATABRICKS_TOKEN": "dapi-fake-token",
            "AWS_ENDPOINT_URL_KMS": self.url,
            "AWS_ENDPOINT_URL_STS": self.url,
            "AWS_ENDPOINT_URL_IAM": self.url,
            "AWS_CA_BUNDLE": str(self.ca_file),
            "REQUESTS_CA_BUNDLE": str(self.ca_file),
            "AWS_ACCESS_KEY_ID": "AKIAFAKEFAKEFAKEFAKE",
            "AWS_SECRET_ACCESS_KEY": "fake/secret/key/for/tests/only/000000000",
            "AWS_DEFAULT_REGION": REGION,
        }

    def _kms(self, operation: str, request: Json) -> tuple[int, Json]:
        key_id = str(request.get("KeyId", ""))
        key = next((k for k in self.account.keys if key_id in (k.arn, k.key_id)), None)
        if key is None:
            return 400, {"__type": "NotFoundException", "message": f"Key '{key_id}' does not exist"}
        return FakeAws.answer(key, operation)

    @staticmethod
    def answer(key: FakeKey, operation: str) -> tuple[int, Json]:
        """KMS's answer to `operation` on `key` (status and JSON body), with the key's `patch` laid over it."""
        status, body = FakeAws._answer(key, operation)
        if status == 200 and operation in key.patch:
            body = {**body, **key.patch[operation]}
        return status, body

    @staticmethod
    def _answer(key: FakeKey, operation: str) -> tuple[int, Json]:
        if key.throttle.get(operation, 0) > 0:
            key.throttle[operation] -= 1
            return 400, {"__type": "ThrottlingException", "message": "Rate exceeded"}
        if operation in key.refuse:
            kind = key.refuse[operation]
            return 400, {
                "__type": kind,
                "message": f"User: arn:aws:iam::{AWS_ACCOUNT}:role/cmkaudit is not authorized to perform: "
                f"kms:{operation} on resource: {key.arn} because no resource-based policy allows the "
                f"kms:{operation} action",
            }
        match operation:
            case "DescribeKey":
                return 200, {"KeyMetadata": key.metadata()}
            case "GetKeyPolicy":
                return 200, {"Policy": key.policy, "PolicyName": "default"}
            case "GetKeyRotationStatus":
                body: Json = {"KeyRotationEnabled": key.rotation_enabled, "KeyId": key.arn}
                if key.rotation_enabled and key.rotation_period is not None:
                    body["RotationPeriodInDays"] = key.rotation_period
                return 200, body
            case "ListKeyRotations":
                return 200, {
                    "Rotations": [
                        {"KeyId": key.arn, "RotationDate": epoch(day), "RotationType": "AUTOMATIC"}
                        for day in key.rotations
                    ],
                    "Truncated": False,
                }
            case "ListAliases":
                return 200, {
                    "Aliases": [
                        {
                            "AliasName": alias,
                            "AliasArn": f"arn:aws:kms:{key.region}:{key.account}:{alias}",
                            "TargetKeyId": key.key_id,
                            "CreationDate": epoch(key.created),
                        }
                        for alias in key.aliases
                    ],
                    "Truncated": False,
                }
            case "ListResourceTags":
                return 200, {
                    "Tags": [{"TagKey": k, "TagValue": v} for k, v in sorted(key.tags.items())],
                    "Truncated": False,
                }
            case _:
                return 400, {"__type": "UnsupportedOperationException", "message": f"{operation} is not served"}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # quiet
                return

            def _send(self, status: int, body: object, content_type: str = "application/json") -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                with fake._lock:
                    fake.requests.append(("GET", self.path, None))
                account = fake.account
                if account.throttle_api > 0 and "/api/2.0/accounts/" in self.path:
                    account.throttle_api -= 1
                    data = b'{"error_code": "REQUEST_LIMIT_EXCEEDED", "message": "Too many requests"}'
                    self.send_response(429)
                    self.send_header("Retry-After", "1")
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                for fragment, location in account.redirect.items():
                    if fragment in self.path:
                        self.send_response(302)
                        self.send_header("Location", location)
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                if self.path == "/elsewhere":
                    self._send(200, [])
                    return
                for fragment, status in account.fail.items():
                    if fragment in self.path:
                        self._send(status, {"error_code": "PERMISSION_DENIED", "message": "not an account admin"})
                        return
                base = f"/api/2.0/accounts/{account.account_id}"
                if self.path == f"{base}/workspaces":
                    self._send(200, account.workspaces)
                elif self.path == f"{base}/customer-managed-keys":
                    self._send(200, account.key_configurations)
                else:
                    self._send(404, {"error_code": "ENDPOINT_NOT_FOUND", "message": f"No API found for {self.path}"})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                if raw.startswith(b"Action="):
                    from urllib.parse import parse_qsl

                    form = dict(parse_qsl(raw.decode()))
                    action = form.get("Action", "")
                    with fake._lock:
                        fake.requests.append(("POST", self.path, action))
                    if action == "AssumeRole":
                        status, body = sts_answer(fake.account, form)
                    else:
                        status, body = iam_answer(fake.account, action)
                    data = body.encode()
                    self.send_response(status)
                    self.send_header("Content-Type", "text/xml")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                target = self.headers.get("X-Amz-Target") or ""
                operation = target.split(".", 1)[1] if target.startswith("TrentService.") else None
                with fake._lock:
                    fake.requests.append(("POST", self.path, operation))
                if operation is None:
                    self._send(404, {"error_code": "ENDPOINT_NOT_FOUND", "message": "not served"})
                    return
                status, body = fake._kms(operation, json.loads(raw or b"{}"))
                self._send(status, body, "application/x-amz-json-1.1")

            def do_PATCH(self) -> None:
                with fake._lock:
                    fake.requests.append(("PATCH", self.path, None))
                self._send(405, {"error_code": "BAD_REQUEST", "message": "read-only fake"})

            do_PUT = do_DELETE = do_PATCH

        return Handler


DEMO_AWS_ACCOUNT_ID = "0b5e2a91-6c4d-4f7e-9a3b-8d2c1e0f4a6b"
KEY_ADMINS = "arn:aws:iam::444455556666:role/KeyAdmins"


def demo_account() -> FakeAccount:
    """The AWS demo account (recorded into cassettes/demo-aws-account.yaml), exercising every AWS control both ways:

    - dbx-finance-prod: compliant (Enterprise, both use cases and cluster volumes on a scoped, rotating key whose
      policy lets nobody delete, disable or re-policy it; tagged confidential).
    - dbx-analytics-dev: managed services on a key shared with a production workspace, rotation off, Databricks
      granted kms:* without the account condition, key administrators who may delete it; storage on an RSA key
      pending deletion whose policy lacks the storage actions, not reused for cluster volumes.
    - dbx-marketing-prod: Premium tier, confidential, managed services on the shared key, no storage key.
    - dbx-sandbox: Enterprise, no customer-managed key.
    """
    account_id = DEMO_AWS_ACCOUNT_ID

    def scoped(actions: list[str], sid: str, **extra: Any) -> Json:
        statement = databricks_statement(actions, sid=sid, **extra)
        statement.setdefault("Condition", {}).setdefault("StringEquals", {})["aws:PrincipalTag/DatabricksAccountId"] = [
            account_id
        ]
        return statement

    readers = {
        "Sid": "Key readers",
        "Effect": "Allow",
        "Principal": {"AWS": KEY_ADMINS},
        "Action": ["kms:Describe*", "kms:Get*", "kms:List*"],
        "Resource": "*",
    }
    prod = FakeKey(
        "5f1c2b3a-0d9e-4c8b-a7f6-e5d4c3b2a190",
        key_policy(
            readers,
            scoped(MANAGED_SERVICES_ACTIONS + STORAGE_ACTIONS[2:], "Databricks managed services and storage"),
            scoped(GRANT_ACTIONS, "Databricks EBS grants", Condition={"Bool": {"kms:GrantIsForAWSResource": "true"}}),
        ),
        created="2026-02-01",
        rotation_period=90,
        rotations=["2026-05-02", "2026-07-31", "2026-10-29"],
        aliases=["alias/dbx-finance-prod"],
        tags={"environment": "prod", "owner": "finance-data"},
    )
    shared = FakeKey(
        "7a6b5c4d-3e2f-4a1b-9c8d-7e6f5a4b3c2d",
        key_policy(databricks_statement(["kms:*"], sid="Databricks", account_scoped=False), admins=(KEY_ADMINS,)),
        created="2025-09-15",
        rotation_enabled=False,
        rotations=[],
        aliases=["alias/dbx-shared"],
    )
    pending = FakeKey(
        "9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b",
        key_policy(
            {
                "Sid": "Enable IAM User Permissions",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{AWS_ACCOUNT}:root"},
                "Action": "kms:*",
                "Resource": "*",
            },
            scoped(MANAGED_SERVICES_ACTIONS, "Databricks managed services only"),
        ),
        state="PendingDeletion",
        deletion="2026-11-20",
        key_spec="RSA_2048",
        rotation_enabled=False,
        rotations=[],
        created="2026-01-10",
        aliases=["alias/dbx-analytics-dev-storage"],
    )
    configurations = [
        key_configuration("4c1e9b2a-prod", prod, ["MANAGED_SERVICES", "STORAGE"]),
        key_configuration("8d3f7a6e-shared", shared, ["MANAGED_SERVICES"]),
        key_configuration("2b9c4e1d-dev-storage", pending, ["STORAGE"], reuse_for_volumes=False),
    ]
    for configuration in configurations:
        configuration["account_id"] = account_id
    workspaces = [
        workspace(
            3001,
            "dbx-finance-prod",
            managed_services="4c1e9b2a-prod",
            storage="4c1e9b2a-prod",
            tags={"environment": "prod", "data-classification": "confidential"},
        ),
        workspace(
            3002,
            "dbx-analytics-dev",
            managed_services="8d3f7a6e-shared",
            storage="2b9c4e1d-dev-storage",
            tags={"environment": "dev"},
        ),
        workspace(
            3003,
            "dbx-marketing-prod",
            tier="PREMIUM",
            managed_services="8d3f7a6e-shared",
            tags={"environment": "prod", "data-classification": "confidential"},
        ),
        workspace(3004, "dbx-sandbox", tags={"environment": "sandbox"}),
    ]
    for ws in workspaces:
        ws["account_id"] = account_id
    admins_by_iam = {
        "RoleName": "PlatformAdmins",
        "Arn": f"arn:aws:iam::{AWS_ACCOUNT}:role/PlatformAdmins",
        "RolePolicyList": [
            {
                "PolicyName": "kms-administration",
                "PolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}],
                },
            }
        ],
    }
    return FakeAccount(account_id, workspaces, configurations, [prod, shared, pending], iam_roles=[admins_by_iam])
