"""The AWS demo: a recorded Databricks account and its KMS keys (cassettes/demo-aws-account.yaml), replayed
through the real databricks-sdk and boto3 clients; nothing leaves the machine."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from cmkaudit._data import data_path
from cmkaudit.aws.collect import AccountRead, AwsOptions, read_account
from cmkaudit.errors import UsageError

DEMO_AWS_CASSETTE = ("cassettes", "demo-aws-account.yaml")
DEMO_AWS_ACCOUNT = "0b5e2a91-6c4d-4f7e-9a3b-8d2c1e0f4a6b"
DEMO_AWS_RECORDED_AT = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
"""When the demo account was recorded: a replay is evaluated as of then."""

DEMO_OPTIONS = AwsOptions(
    account_id=DEMO_AWS_ACCOUNT,
    host="https://accounts.cloud.databricks.com",
    concurrency=1,  # a recording is replayed one call at a time
    databricks_token="dapi-demo-recording",
    aws_credentials=("AKIADEMORECORDING000", "demo-recording-secret-not-a-credential00"),
    kms_endpoint="https://kms.{region}.amazonaws.com",
    iam_endpoint="https://iam.amazonaws.com",
)


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value or "")


def _kms_call(one: Any, other: Any) -> None:
    """vcrpy matcher: the same KMS operation (X-Amz-Target) on the same key, for the POSTs of the JSON protocol."""
    targets = [next((_text(v) for k, v in r.headers.items() if k.lower() == "x-amz-target"), "") for r in (one, other)]
    assert targets[0] == targets[1]
    if one.method == "POST" and targets[0]:
        keys = [json.loads(_text(r.body) or "{}").get("KeyId") for r in (one, other)]
        assert keys[0] == keys[1]


def demo_aws_read() -> AccountRead:
    """Replay the recorded account through the collector."""
    import vcr

    cassette = data_path(*DEMO_AWS_CASSETTE)
    if not cassette.is_file():
        raise UsageError(f"recorded account {cassette} not found", "reinstall cmkaudit")
    recorder = vcr.VCR(
        record_mode="none",
        match_on=("method", "scheme", "host", "port", "path", "query", "kms_call"),
        decode_compressed_response=True,
    )
    recorder.register_matcher("kms_call", _kms_call)
    with recorder.use_cassette(str(cassette)):
        return read_account(DEMO_OPTIONS)
