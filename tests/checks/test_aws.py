"""Databricks-on-AWS controls (AWS-01 … AWS-12): a PASS, FAIL and UNKNOWN case each, on in-memory records."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from tools.fakeaws import (
    ACCOUNT_ID,
    GRANT_ACTIONS,
    MANAGED_SERVICES_ACTIONS,
    STORAGE_ACTIONS,
    databricks_statement,
    key_policy,
)

from cmkaudit.aws.policy import parse_policy
from cmkaudit.evaluate.checks.aws import (
    check_cluster_volumes,
    check_databricks_grants,
    check_databricks_scoped,
    check_enterprise_tier,
    check_key_administrators,
    check_key_kind,
    check_key_not_shared,
    check_key_state,
    check_managed_services_key,
    check_rotation,
    check_sensitive_workspace,
    check_storage_key,
)
from cmkaudit.evaluate.model import Settings, Status
from cmkaudit.inventory import Inventory, assemble_inventory
from cmkaudit.inventory.aws import AwsWorkspace, KeyConfiguration, KeyRotation, KmsKey, UseCase
from cmkaudit.inventory.model import CollectionError, ScanScope, Unread

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)
ARN = "arn:aws:kms:us-east-1:444455556666:key/1234abcd-12ab-34cd-56ef-1234567890ab"
ADMIN = "arn:aws:iam::444455556666:role/KeyAdmins"
SETTINGS = Settings(break_glass_principals=(ADMIN,))
GOOD_POLICY = key_policy(
    databricks_statement(MANAGED_SERVICES_ACTIONS, sid="managed services"),
    databricks_statement(STORAGE_ACTIONS, sid="storage"),
    databricks_statement(
        GRANT_ACTIONS,
        sid="grants",
        Condition={
            "StringEquals": {"aws:PrincipalTag/DatabricksAccountId": [ACCOUNT_ID]},
            "Bool": {"kms:GrantIsForAWSResource": "true"},
        },
    ),
    admins=(ADMIN,),
)


def aws_workspace(**changes: Any) -> AwsWorkspace:
    base = AwsWorkspace(
        id=f"accounts/{ACCOUNT_ID}/workspaces/1001",
        account_id=ACCOUNT_ID,
        workspace_id=1001,
        name="dbx-prod",
        region="us-east-1",
        pricing_tier="ENTERPRISE",
        status="RUNNING",
        managed_services_key_id="cfg-1",
        storage_key_id="cfg-1",
        custom_tags={"environment": "prod"},
    )
    return replace(base, **changes)


def configuration(**changes: Any) -> KeyConfiguration:
    base = KeyConfiguration(
        id="cfg-1",
        account_id=ACCOUNT_ID,
        key_arn=ARN,
        key_alias="alias/dbx-prod",
        key_region="us-east-1",
        use_cases=(UseCase.MANAGED_SERVICES, UseCase.STORAGE),
        reuse_key_for_cluster_volumes=True,
        created=NOW,
    )
    return replace(base, **changes)


def kms_key(**changes: Any) -> KmsKey:
    base = KmsKey(
        arn=ARN,
        account_id="444455556666",
        region="us-east-1",
        key_id="1234abcd-12ab-34cd-56ef-1234567890ab",
        enabled=True,
        key_state="Enabled",
        key_manager="CUSTOMER",
        key_spec="SYMMETRIC_DEFAULT",
        key_usage="ENCRYPT_DECRYPT",
        origin="AWS_KMS",
        multi_region=False,
        created=datetime(2026, 6, 1, tzinfo=UTC),
        deletion_date=None,
        rotation_enabled=True,
        rotation_period_days=90,
        rotations=(KeyRotation(datetime(2026, 11, 10, tzinfo=UTC), "AUTOMATIC"),),
        policy=parse_policy(GOOD_POLICY),
        aliases=("alias/dbx-prod",),
        tags={},
    )
    return replace(base, **changes)


def inventory(
    workspaces: tuple[AwsWorkspace, ...] | None = None,
    configurations: tuple[KeyConfiguration, ...] | None = None,
    keys: tuple[KmsKey, ...] | None = None,
) -> Inventory:
    return assemble_inventory(
        collected_at=NOW,
        tool_version="test",
        scope=ScanScope((), "", "aws", accounts=(ACCOUNT_ID,)),
        subscriptions=[],
        workspaces=[],
        vaults=[],
        keys=[],
        disk_encryption_sets=[],
        storage_accounts=[],
        principals=[],
        errors=[],
        aws_workspaces=workspaces if workspaces is not None else (aws_workspace(),),
        key_configurations=configurations if configurations is not None else (configuration(),),
        kms_keys=keys if keys is not None else (kms_key(),),
    )


def usage(inv: Inventory, use_case: UseCase = UseCase.STORAGE, workspace: str | None = None) -> Any:
    return inv.aws.usages[(workspace or aws_workspace().id, use_case)]


REFUSED = Unread.failed(
    CollectionError(ARN, "GetKeyPolicy", 400, "AccessDeniedException", "not authorized", "allow kms:GetKeyPolicy")
)


# AWS-01
def test_pass_enterprise() -> None:
    assert check_enterprise_tier(aws_workspace(), inventory(), SETTINGS).status is Status.PASS


def test_fail_premium_tier() -> None:
    verdict = check_enterprise_tier(aws_workspace(pricing_tier="PREMIUM"), inventory(), SETTINGS)
    assert verdict.status is Status.FAIL and "PREMIUM" in verdict.reason


def test_unknown_tier_not_reported() -> None:
    assert check_enterprise_tier(aws_workspace(pricing_tier=None), inventory(), SETTINGS).status is Status.UNKNOWN


# AWS-02 / AWS-03
def test_pass_both_use_cases_configured() -> None:
    inv = inventory()
    assert check_managed_services_key(aws_workspace(), inv, SETTINGS).status is Status.PASS
    assert check_storage_key(aws_workspace(), inv, SETTINGS).status is Status.PASS


def test_fail_no_managed_services_key_and_wrong_use_case() -> None:
    workspace = aws_workspace(managed_services_key_id=None)
    inv = inventory((workspace,))
    assert check_managed_services_key(workspace, inv, SETTINGS).status is Status.FAIL
    only_ms = inventory(configurations=(configuration(use_cases=(UseCase.MANAGED_SERVICES,)),))
    verdict = check_storage_key(aws_workspace(), only_ms, SETTINGS)
    assert verdict.status is Status.FAIL and "do not include STORAGE" in verdict.reason


def test_unknown_configuration_not_listed() -> None:
    inv = inventory(configurations=())
    assert check_managed_services_key(aws_workspace(), inv, SETTINGS).status is Status.UNKNOWN
    assert check_storage_key(aws_workspace(), inv, SETTINGS).status is Status.UNKNOWN


# AWS-04
def test_pass_volumes_reuse_the_storage_key() -> None:
    assert check_cluster_volumes(aws_workspace(), inventory(), SETTINGS).status is Status.PASS


def test_fail_volumes_not_reusing_the_key() -> None:
    inv = inventory(configurations=(configuration(reuse_key_for_cluster_volumes=False),))
    verdict = check_cluster_volumes(aws_workspace(), inv, SETTINGS)
    assert verdict.status is Status.FAIL and "default EBS key" in verdict.reason


def test_unknown_volumes_configuration_not_read() -> None:
    assert check_cluster_volumes(aws_workspace(), inventory(configurations=()), SETTINGS).status is Status.UNKNOWN


# AWS-05
def test_pass_key_enabled_in_region() -> None:
    inv = inventory()
    assert check_key_state(usage(inv), inv, SETTINGS).status is Status.PASS


def test_fail_key_pending_deletion_or_elsewhere() -> None:
    pending = inventory(keys=(kms_key(key_state="PendingDeletion", enabled=False, deletion_date=NOW),))
    verdict = check_key_state(usage(pending), pending, SETTINGS)
    assert verdict.status is Status.FAIL and "PendingDeletion" in verdict.reason
    elsewhere = inventory(keys=(kms_key(region="eu-west-1"),))
    assert check_key_state(usage(elsewhere), elsewhere, SETTINGS).status is Status.FAIL


def test_unknown_key_not_described() -> None:
    refused = kms_key(unread=REFUSED)
    inv = inventory(keys=(refused,))
    verdict = check_key_state(usage(inv), inv, SETTINGS)
    assert verdict.status is Status.UNKNOWN and "kms:GetKeyPolicy" in verdict.reason


# AWS-06
def test_pass_symmetric_customer_key() -> None:
    inv = inventory()
    assert check_key_kind(usage(inv), inv, SETTINGS).status is Status.PASS


def test_fail_aws_managed_or_asymmetric() -> None:
    inv = inventory(keys=(kms_key(key_manager="AWS", key_spec="RSA_2048"),))
    verdict = check_key_kind(usage(inv), inv, SETTINGS)
    assert verdict.status is Status.FAIL and "RSA_2048" in verdict.reason and "AWS" in verdict.reason


def test_unknown_kind_not_reported() -> None:
    inv = inventory(keys=(kms_key(key_spec=None),))
    assert check_key_kind(usage(inv), inv, SETTINGS).status is Status.UNKNOWN


# AWS-07
def test_pass_rotation_within_cadence() -> None:
    inv = inventory()
    assert check_rotation(usage(inv), inv, SETTINGS).status is Status.PASS


def test_fail_rotation_off_period_long_or_material_old() -> None:
    for key, fragment in (
        (kms_key(rotation_enabled=False), "does not rotate"),
        (kms_key(rotation_period_days=365), "every 365 days"),
        (kms_key(rotation_period_days=None), "KMS's default, 365 days"),
        (kms_key(rotations=()), "days old"),  # created 2026-06-01, never rotated: 183 days
        (kms_key(origin="EXTERNAL"), "EXTERNAL"),
    ):
        inv = inventory(keys=(key,))
        verdict = check_rotation(usage(inv), inv, SETTINGS)
        assert verdict.status is Status.FAIL and fragment in verdict.reason, verdict.reason


def test_unknown_rotation_status_not_read() -> None:
    inv = inventory(keys=(kms_key(rotation_enabled=None, rotation_unread=REFUSED),))
    assert check_rotation(usage(inv), inv, SETTINGS).status is Status.UNKNOWN


# AWS-08
def test_pass_databricks_may_use_the_key() -> None:
    inv = inventory()
    for use_case in UseCase:
        assert check_databricks_grants(usage(inv, use_case), inv, SETTINGS).status is Status.PASS


def test_fail_storage_actions_missing_names_the_statement() -> None:
    policy = key_policy(databricks_statement(MANAGED_SERVICES_ACTIONS, sid="ms"), admins=(ADMIN,))
    inv = inventory(keys=(kms_key(policy=parse_policy(policy)),))
    assert check_databricks_grants(usage(inv, UseCase.MANAGED_SERVICES), inv, SETTINGS).status is Status.PASS
    verdict = check_databricks_grants(usage(inv, UseCase.STORAGE), inv, SETTINGS)
    assert verdict.status is Status.FAIL
    assert (
        "kms:GenerateDataKey*" in verdict.reason
        and '"Principal": {"AWS": "arn:aws:iam::414351767826:root"}' in verdict.reason
    )


def test_fail_an_explicit_deny_wins() -> None:
    deny = {"Sid": "deny", "Effect": "Deny", "Principal": "*", "Action": "kms:Decrypt", "Resource": "*"}
    inv = inventory(
        keys=(kms_key(policy=parse_policy(key_policy(deny, databricks_statement(MANAGED_SERVICES_ACTIONS, sid="ms")))),)
    )
    verdict = check_databricks_grants(usage(inv, UseCase.MANAGED_SERVICES), inv, SETTINGS)
    assert verdict.status is Status.FAIL and "kms:Decrypt" in verdict.reason


def test_unknown_policy_not_read_and_other_partition() -> None:
    inv = inventory(keys=(kms_key(policy=None, policy_unread=REFUSED),))
    verdict = check_databricks_grants(usage(inv), inv, SETTINGS)
    assert verdict.status is Status.UNKNOWN and "kms:GetKeyPolicy" in verdict.reason
    gov = ARN.replace("arn:aws:", "arn:aws-us-gov:").replace("us-east-1", "us-gov-west-1")
    inv = inventory((aws_workspace(region="us-gov-west-1"),), (configuration(key_arn=gov),), (kms_key(arn=gov),))
    verdict = check_databricks_grants(usage(inv), inv, SETTINGS)
    assert verdict.status is Status.UNKNOWN and "not built into cmkaudit" in verdict.reason


def test_pass_in_govcloud_with_the_configured_principal() -> None:
    gov = ARN.replace("arn:aws:", "arn:aws-us-gov:").replace("us-east-1", "us-gov-west-1")
    principal = "arn:aws-us-gov:iam::123456789012:root"  # as the configuration gives it
    statement = {
        "Sid": "Databricks",
        "Effect": "Allow",
        "Principal": {"AWS": principal},
        "Action": MANAGED_SERVICES_ACTIONS,
        "Resource": "*",
    }
    inv = inventory(
        (aws_workspace(region="us-gov-west-1"),),
        (configuration(key_arn=gov, use_cases=(UseCase.MANAGED_SERVICES,)),),
        (kms_key(arn=gov, policy=parse_policy(key_policy(statement))),),
    )
    settings = Settings(databricks_aws_principals=(("aws-us-gov", principal),))
    verdict = check_databricks_grants(usage(inv, UseCase.MANAGED_SERVICES), inv, settings)
    assert verdict.status is Status.PASS and principal in verdict.reason


# AWS-09
def test_pass_grants_scoped_to_the_account() -> None:
    inv = inventory()
    assert check_databricks_scoped(usage(inv), inv, SETTINGS).status is Status.PASS


def test_fail_confused_deputy_and_kms_star() -> None:
    unscoped = key_policy(databricks_statement(MANAGED_SERVICES_ACTIONS, sid="ms", account_scoped=False))
    inv = inventory(keys=(kms_key(policy=parse_policy(unscoped)),))
    verdict = check_databricks_scoped(usage(inv), inv, SETTINGS)
    assert verdict.status is Status.FAIL and "confused deputy" in verdict.reason
    broad = key_policy(databricks_statement(["kms:*"], sid="everything"))
    inv = inventory(keys=(kms_key(policy=parse_policy(broad)),))
    verdict = check_databricks_scoped(usage(inv), inv, SETTINGS)
    assert verdict.status is Status.FAIL and "kms:*" in verdict.reason


def test_unknown_scoping_policy_not_read() -> None:
    inv = inventory(keys=(kms_key(policy=None, policy_unread=REFUSED),))
    assert check_databricks_scoped(usage(inv), inv, SETTINGS).status is Status.UNKNOWN


# AWS-10
def test_pass_only_break_glass_administers() -> None:
    inv = inventory()
    assert check_key_administrators(usage(inv), inv, SETTINGS).status is Status.PASS


def test_fail_other_administrators_or_everyone() -> None:
    inv = inventory()
    verdict = check_key_administrators(usage(inv), inv, Settings())
    assert verdict.status is Status.FAIL and "KeyAdmins may kms:ScheduleKeyDeletion" in verdict.reason
    open_to_all = {"Sid": "open", "Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "kms:*", "Resource": "*"}
    inv = inventory(keys=(kms_key(policy=parse_policy(key_policy(open_to_all, admins=(ADMIN,)))),))
    verdict = check_key_administrators(usage(inv), inv, SETTINGS)
    assert verdict.status is Status.FAIL and 'everyone ("*"' in verdict.reason


def test_unknown_delegated_to_iam() -> None:
    root = {
        "Sid": "Enable IAM User Permissions",
        "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::444455556666:root"},
        "Action": "kms:*",
        "Resource": "*",
    }
    inv = inventory(keys=(kms_key(policy=parse_policy(key_policy(root, admins=(ADMIN,)))),))
    verdict = check_key_administrators(usage(inv), inv, SETTINGS)
    assert verdict.status is Status.UNKNOWN and "iam:GetAccountAuthorizationDetails" in verdict.reason


# AWS-11
def test_pass_key_used_by_one_environment() -> None:
    inv = inventory()
    assert check_key_not_shared(usage(inv), inv, SETTINGS).status is Status.PASS


def test_fail_key_shared_with_dev() -> None:
    dev = aws_workspace(
        id=f"accounts/{ACCOUNT_ID}/workspaces/1002",
        workspace_id=1002,
        name="dbx-dev",
        custom_tags={"environment": "dev"},
    )
    inv = inventory((aws_workspace(), dev))
    verdict = check_key_not_shared(usage(inv), inv, SETTINGS)
    assert verdict.status is Status.FAIL and "dbx-dev (dev)" in verdict.reason


def test_unknown_environment_not_tagged() -> None:
    inv = inventory((aws_workspace(custom_tags={}),))
    assert check_key_not_shared(usage(inv), inv, SETTINGS).status is Status.UNKNOWN


# AWS-12
def test_pass_sensitive_workspace_fully_covered() -> None:
    workspace = aws_workspace(custom_tags={"data-classification": "confidential"})
    assert check_sensitive_workspace(workspace, inventory((workspace,)), SETTINGS).status is Status.PASS


def test_fail_sensitive_workspace_without_storage_key() -> None:
    workspace = aws_workspace(storage_key_id=None, custom_tags={"data-classification": "restricted"})
    verdict = check_sensitive_workspace(workspace, inventory((workspace,)), SETTINGS)
    assert verdict.status is Status.FAIL and "AWS-03" in verdict.reason


def test_unknown_sensitive_workspace_configuration_not_read() -> None:
    workspace = aws_workspace(custom_tags={"data-classification": "confidential"})
    verdict = check_sensitive_workspace(workspace, inventory((workspace,), configurations=()), SETTINGS)
    assert verdict.status is Status.UNKNOWN


def test_the_sdks_unknown_tier_is_unknown_not_a_failure() -> None:
    """databricks-sdk's PricingTier has an UNKNOWN member for a tier it could not tell: no evidence either way."""
    verdict = check_enterprise_tier(aws_workspace(pricing_tier="UNKNOWN"), inventory(), SETTINGS)
    assert verdict.status is Status.UNKNOWN
