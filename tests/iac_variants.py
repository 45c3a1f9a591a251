"""The broken variants of the CMK module, in each of its three forms (Terraform plan, HCL, ARM template): what
each variant changes, and the defect it plants. The tests assert every finding of each variant;
benchmarks/iac-comparison.py runs cmkaudit and Checkov on the same variants."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Json = dict[str, Any]

KEY_VAULT_TF = "modules/key_vault/main.tf"

DEFECTS: dict[str, str] = {
    "standard-sku": "the workspace is on the Standard tier (CMK needs Premium)",
    "no-purge-protection": "the vault has no purge protection",
    "retention-7": "the vault keeps deleted keys 7 days",
    "notify-only": "the key's rotation policy only notifies",
    "expiry-rotation": "the key rotates 30 days before a 365-day expiry: every 335 days",
    "over-broad": "the AzureDatabricks service principal may purge and delete keys",
    "no-dbfs-flag": "a DBFS root key on a workspace not prepared for it (customer_managed_key_enabled false)",
}
"""Each variant, and the defect planted in it."""

ROTATION_NOTIFY_ONLY: Json = {"automatic": [], "expire_after": "P1Y", "notify_before_expiry": "P30D"}
ROTATION_BEFORE_EXPIRY: Json = {
    "automatic": [{"time_after_creation": None, "time_before_expiry": "P30D"}],
    "expire_after": "P365D",
    "notify_before_expiry": None,
}

PLAN_VARIANTS: dict[str, Json] = {
    "standard-sku": {"sku": "standard"},
    "no-purge-protection": {"purge_protection": False},
    "retention-7": {"retention_days": 7},
    "notify-only": {"rotation": ROTATION_NOTIFY_ONLY},
    "expiry-rotation": {"rotation": ROTATION_BEFORE_EXPIRY},
    "over-broad": {"databricks_permissions": ("Get", "WrapKey", "UnwrapKey", "Purge", "Delete")},
    "no-dbfs-flag": {"cmk_enabled": False},
}
"""Keyword arguments of `iac_plans.cmk_module_plan` for each variant."""

HCL_VARIANTS: dict[str, tuple[dict[str, tuple[str, str]], str]] = {
    "standard-sku": ({}, 'sku = "standard"'),
    "no-purge-protection": ({}, "purge_protection = false"),
    "retention-7": ({}, "retention_days = 7"),
    "notify-only": (
        {
            KEY_VAULT_TF: (
                '    automatic {\n      time_after_creation = "P90D"\n    }\n    expire_after         = "P2Y"',
                '    expire_after         = "P2Y"',
            )
        },
        "",
    ),
    "expiry-rotation": (
        {
            KEY_VAULT_TF: (
                '      time_after_creation = "P90D"\n    }\n    expire_after         = "P2Y"\n'
                '    notify_before_expiry = "P29D"',
                '      time_before_expiry = "P30D"\n    }\n    expire_after         = "P365D"',
            )
        },
        "",
    ),
    "over-broad": (
        {
            KEY_VAULT_TF: (
                'object_id    = var.databricks_sp_object_id\n\n  key_permissions = ["Get", "WrapKey", "UnwrapKey"]',
                'object_id    = var.databricks_sp_object_id\n\n  key_permissions = ["Get", "WrapKey", "UnwrapKey", '
                '"Purge", "Delete"]',
            )
        },
        "",
    ),
    "no-dbfs-flag": (
        {
            "main.tf": (
                "customer_managed_key_enabled      = var.enable_cmk_dbfs_root",
                "customer_managed_key_enabled = false",
            )
        },
        "",
    ),
}
"""For each variant: text edits of the fixture's files (file -> (old, new)) and a variables file's content."""


def _key(document: Json) -> Json:
    vault = next(r for r in document["resources"] if r["type"] == "Microsoft.KeyVault/vaults")
    key: Json = vault["resources"][0]
    return key


def _notify_only(document: Json) -> None:
    _key(document)["properties"]["rotationPolicy"]["lifetimeActions"].pop(0)


def _expiry_rotation(document: Json) -> None:
    policy = _key(document)["properties"]["rotationPolicy"]
    policy["lifetimeActions"] = [{"trigger": {"timeBeforeExpiry": "P30D"}, "action": {"type": "rotate"}}]
    policy["attributes"]["expiryTime"] = "P365D"


def _over_broad(document: Json) -> None:
    vault = next(r for r in document["resources"] if r["type"] == "Microsoft.KeyVault/vaults")
    vault["properties"]["accessPolicies"][1]["permissions"]["keys"] += ["purge", "delete"]


def _not_prepared(document: Json) -> None:
    workspace = next(r for r in document["resources"] if r["type"] == "Microsoft.Databricks/workspaces")
    workspace["properties"]["parameters"]["prepareEncryption"]["value"] = False


ARM_VARIANTS: dict[str, tuple[Callable[[Json], None] | None, Json | None]] = {
    "standard-sku": (None, {"sku": {"value": "standard"}}),
    "no-purge-protection": (None, {"purgeProtection": {"value": False}}),
    "retention-7": (None, {"retentionDays": {"value": 7}}),
    "notify-only": (_notify_only, None),
    "expiry-rotation": (_expiry_rotation, None),
    "over-broad": (_over_broad, None),
    "no-dbfs-flag": (_not_prepared, None),
}
"""For each variant: an edit of the template, and parameter values."""
