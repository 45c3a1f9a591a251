"""What the check tests share: how a verdict is asked for, and the Azure RBAC roles they assign."""

from __future__ import annotations

from dataclasses import replace

from cmkaudit.evaluate.model import Settings, Verdict
from cmkaudit.ids import PrincipalId, ResourceId
from cmkaudit.inventory import Inventory
from cmkaudit.inventory.model import (
    KeyReference,
    RoleAssignment,
    RoleDefinition,
    Scope,
    ScopeEncryption,
    Workspace,
)

from ..conftest import (
    DATABRICKS_SP,
    DES_PRINCIPAL,
    STORAGE_PRINCIPAL,
    SUB,
    VAULT_ID,
    VAULT_URI,
    WORKSPACE_ID,
    inventory,
    key_ref,
    vault,
    workspace,
)

SETTINGS = Settings()


def usage_verdict(check: object, inv: Inventory, scope: Scope, settings: Settings = SETTINGS) -> Verdict:
    usage = next(u for u in inv.key_usages if u.scope is scope)
    return check(usage, inv, settings)  # type: ignore[operator, no-any-return]


def workspace_verdict(check: object, inv: Inventory) -> Verdict:
    return check(inv.workspaces[0], inv, SETTINGS)  # type: ignore[operator, no-any-return]


ROLE_DEFINITIONS = f"/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions"
CSEU_ID = f"{ROLE_DEFINITIONS}/e147488a-f6f5-4113-8e2d-b22465e65bf6"
CRYPTO_USER_ID = f"{ROLE_DEFINITIONS}/12338af0-0e69-4776-bea7-57ae8d297424"
OFFICER_ID = f"{ROLE_DEFINITIONS}/14b46e9e-c2b7-41b4-b07b-48a6ebf60603"
CUSTOM_ID = f"{ROLE_DEFINITIONS}/0c0c0c0c-1111-4222-8333-444444444444"
KEY_READ, WRAP, UNWRAP = (
    "Microsoft.KeyVault/vaults/keys/read",
    "Microsoft.KeyVault/vaults/keys/wrap/action",
    "Microsoft.KeyVault/vaults/keys/unwrap/action",
)
DEFINITIONS = (
    RoleDefinition(
        CSEU_ID,
        "e147488a-f6f5-4113-8e2d-b22465e65bf6",
        "Key Vault Crypto Service Encryption User",
        ("Microsoft.EventGrid/eventSubscriptions/write",),
        (),
        (KEY_READ, WRAP, UNWRAP),
        (),
    ),
    RoleDefinition(
        CRYPTO_USER_ID,
        "12338af0-0e69-4776-bea7-57ae8d297424",
        "Key Vault Crypto User",
        ("Microsoft.KeyVault/vaults/*/read",),
        (),
        ("Microsoft.KeyVault/vaults/keys/*",),
        ("Microsoft.KeyVault/vaults/keys/delete",),
    ),
    RoleDefinition(
        OFFICER_ID,
        "14b46e9e-c2b7-41b4-b07b-48a6ebf60603",
        "Key Vault Crypto Officer",
        ("Microsoft.KeyVault/vaults/*/read",),
        (),
        ("Microsoft.KeyVault/vaults/keys/*",),
        (),
    ),
    RoleDefinition(CUSTOM_ID, "0c0c0c0c-1111-4222-8333-444444444444", "wrap only", (), (), (WRAP, UNWRAP), ()),
)


def assignment(
    principal: str, definition: str, scope: str = VAULT_ID, kind: str = "ServicePrincipal"
) -> RoleAssignment:
    return RoleAssignment(
        f"{scope}/providers/Microsoft.Authorization/roleAssignments/{principal}",
        PrincipalId(principal),
        kind,
        definition,
        scope,
    )


def rbac_inventory(
    *assignments: RoleAssignment,
    definitions: tuple[RoleDefinition, ...] = DEFINITIONS,
) -> Inventory:
    rbac_vault = vault(rbac_authorization=True, access_policies=(), role_assignments=assignments)
    return replace(inventory(vaults=[rbac_vault]), role_definitions=definitions)


EVERYONE_CSEU = (
    assignment(DATABRICKS_SP, CSEU_ID),
    assignment(DES_PRINCIPAL, CSEU_ID, scope=f"{VAULT_ID}/keys/cmk"),  # at the key's own scope
    assignment(STORAGE_PRINCIPAL, CSEU_ID, scope=f"/subscriptions/{SUB}/resourceGroups/rg-keys"),  # inherited
)


def second_workspace(environment: str | None, *, same_key: bool = True) -> Workspace:
    """Another workspace on the same key (or only the same vault), with the given environment tag."""
    ref = key_ref() if same_key else KeyReference(VAULT_URI, "other-key", None, "test")
    name = "dbw-two"
    return workspace(
        id=ResourceId(WORKSPACE_ID.replace("/dbw", f"/{name}")),
        name=name,
        tags={"environment": environment} if environment else {},
        managed_services=ScopeEncryption(Scope.MANAGED_SERVICES, "Microsoft.Keyvault", ref),
        managed_disk=ScopeEncryption(Scope.MANAGED_DISK, "Microsoft.Keyvault", ref),
        dbfs_root=ScopeEncryption(Scope.DBFS_ROOT, "Microsoft.Keyvault", ref),
        disk_encryption_set_id=None,
        managed_resource_group_id=None,
    )
