"""Key policies parsed and evaluated as AWS evaluates them: the documented Databricks statement, every form of
Principal and Action, Deny winning, and hostile documents refused with one clear reason."""

from __future__ import annotations

import json

import pytest

from cmkaudit.aws.policy import (
    PolicyError,
    account_of,
    allowed_beyond,
    covers_action,
    granted,
    is_account_root,
    names_principal,
    parse_policy,
)

DATABRICKS = "arn:aws:iam::414351767826:root"
DATABRICKS_ROLE = "arn:aws:iam::414351767826:role/some-service-role"


def policy(*statements: object) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def test_the_documented_databricks_statement() -> None:
    documented = {
        "Sid": "Allow Databricks to use KMS key for managed services in the control plane",
        "Effect": "Allow",
        "Principal": {"AWS": DATABRICKS},
        "Action": ["kms:Encrypt", "kms:Decrypt"],
        "Resource": "*",
        "Condition": {"StringEquals": {"aws:PrincipalTag/DatabricksAccountId": ["<databricks-account-id>"]}},
    }
    (statement,) = parse_policy(policy(documented))
    assert statement.principals == (DATABRICKS,) and statement.actions == ("kms:Encrypt", "kms:Decrypt")
    assert statement.condition_keys == ("aws:principaltag/databricksaccountid",)
    result = granted((statement,), DATABRICKS, ["kms:Encrypt", "kms:Decrypt", "kms:ReEncryptFrom"])
    assert result.may("kms:Encrypt") and result.may("kms:Decrypt") and not result.may("kms:ReEncryptFrom")


@pytest.mark.parametrize(
    ("principal", "covers"),
    [
        ("*", True),
        ({"AWS": "*"}, True),
        ({"AWS": "414351767826"}, True),  # an account id names every principal of the account
        ({"AWS": DATABRICKS}, True),
        ({"AWS": [DATABRICKS, "arn:aws:iam::111122223333:root"]}, True),
        ({"AWS": "arn:aws:iam::414351767826:role/other"}, False),  # one role does not name another
        ({"AWS": "arn:aws:iam::111122223333:root"}, False),
        ({"Service": "ec2.amazonaws.com"}, False),
    ],
)
def test_every_form_of_principal(principal: object, covers: bool) -> None:
    (statement,) = parse_policy(policy({"Effect": "Allow", "Principal": principal, "Action": "kms:*"}))
    assert names_principal(statement, DATABRICKS_ROLE) is covers


def test_not_principal_and_not_action() -> None:
    (statement,) = parse_policy(
        policy({"Effect": "Allow", "NotPrincipal": {"AWS": "111122223333"}, "NotAction": "kms:Decrypt"})
    )
    assert names_principal(statement, DATABRICKS) and not names_principal(statement, "arn:aws:iam::111122223333:root")
    assert covers_action(statement, "kms:Encrypt") and not covers_action(statement, "kms:Decrypt")


def test_actions_match_wildcards_case_insensitively() -> None:
    (statement,) = parse_policy(policy({"Effect": "Allow", "Principal": "*", "Action": ["KMS:ReEncrypt*", "kms:get*"]}))
    assert covers_action(statement, "kms:ReEncryptFrom") and covers_action(statement, "kms:GetKeyPolicy")
    assert not covers_action(statement, "kms:Encrypt")


def test_an_unconditional_deny_wins_a_conditional_one_does_not() -> None:
    allow = {"Effect": "Allow", "Principal": {"AWS": DATABRICKS}, "Action": ["kms:Encrypt", "kms:Decrypt"]}
    deny = {"Effect": "Deny", "Principal": "*", "Action": "kms:Decrypt"}
    conditional = {**deny, "Action": "kms:Encrypt", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
    statements = parse_policy(policy(allow, deny, conditional))
    result = granted(statements, DATABRICKS, ["kms:Encrypt", "kms:Decrypt"])
    assert result.may("kms:Encrypt") and not result.may("kms:Decrypt")


def test_what_is_beyond_the_needed_actions() -> None:
    statements = parse_policy(
        policy(
            {"Effect": "Allow", "Principal": {"AWS": DATABRICKS}, "Action": ["kms:Encrypt", "kms:ReEncryptFrom"]},
            {"Effect": "Allow", "Principal": {"AWS": DATABRICKS}, "Action": ["kms:*", "kms:ScheduleKeyDeletion"]},
        )
    )
    assert allowed_beyond(statements, DATABRICKS, ["kms:Encrypt", "kms:ReEncrypt*"]) == [
        "kms:*",
        "kms:ScheduleKeyDeletion",
    ]


def test_accounts_and_roots() -> None:
    assert account_of("arn:aws-us-gov:iam::123456789012:role/x") == "123456789012"
    assert is_account_root("123456789012") and is_account_root("arn:aws:iam::123456789012:root")
    assert not is_account_root("arn:aws:iam::123456789012:role/root")


def test_a_single_statement_object_is_accepted() -> None:
    text = json.dumps({"Statement": {"Effect": "Allow", "Principal": "*", "Action": "kms:Decrypt"}})
    assert len(parse_policy(text)) == 1


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("{not json", "not JSON"),
        ("[" * 100_000 + "]" * 100_000, "not JSON"),
        ("[]", "not a JSON object"),
        (json.dumps({"Statement": "x"}), "no Statement list"),
        (policy("x"), "statement 1 is not an object"),
        (policy({"Principal": "*", "Action": "kms:*"}), "no Effect"),
        (policy({"Effect": "Allow", "Action": "kms:*"}), "exactly one of Principal and NotPrincipal"),
        (policy({"Effect": "Allow", "Principal": "*"}), "exactly one of Action and NotAction"),
        (policy({"Effect": "Allow", "Principal": "*", "Action": 5}), "neither a string nor a list"),
        (policy({"Effect": "Allow", "Principal": ["*"], "Action": "kms:*"}), "Principal is neither"),
        (policy({"Effect": "Allow", "Principal": "*", "Action": "kms:*", "Condition": []}), "Condition is not"),
        (
            policy({"Effect": "Allow", "Principal": "*", "Action": "kms:*", "Condition": {"StringEquals": 1}}),
            "Condition.StringEquals is not",
        ),
    ],
)
def test_a_hostile_policy_is_refused_with_its_reason(text: str, reason: str) -> None:
    with pytest.raises(PolicyError, match=reason):
        parse_policy(text)
