"""Nine places where a verdict differed from what Azure does, each as its truth is (PASS, FAIL or UNKNOWN), on
inventories built from the official example shapes (through the conftest builders)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from cmkaudit.evaluate.checks.access import (
    check_key_administrators,
    check_least_privilege,
    check_required_permissions,
)
from cmkaudit.evaluate.checks.governance import check_sensitive_workspace_scopes
from cmkaudit.evaluate.checks.key import (
    check_key_type_and_size,
    check_key_version_age,
    check_key_version_validity,
    check_rotation_policy,
)
from cmkaudit.evaluate.checks.vault import check_purge_protection, check_vault_network
from cmkaudit.evaluate.checks.workspace import check_managed_disk_cmk
from cmkaudit.evaluate.model import Settings, Status
from cmkaudit.ids import PrincipalId, ResourceId
from cmkaudit.inventory.model import (
    AccessPolicy,
    KeyReference,
    KeyVersion,
    ManagedIdentity,
    RoleAssignment,
    RoleDefinition,
    Scope,
)

from .checks.helpers import (
    CSEU_ID,
    DEFINITIONS,
    EVERYONE_CSEU,
    ROLE_DEFINITIONS,
    assignment,
    rbac_inventory,
    usage_verdict,
)
from .conftest import (
    DATABRICKS_SP,
    DES_PRINCIPAL,
    KEY_ID,
    NOW,
    STORAGE_PRINCIPAL,
    SUB,
    TENANT,
    VAULT_ID,
    des,
    inventory,
    key,
    policy,
    storage,
    vault,
    workspace,
)

ADMIN = "eeeeeeee-0000-4000-8000-00000000000e"


def version(name: str = "v2", **changes: object) -> KeyVersion:
    base = KeyVersion(name, True, NOW - timedelta(days=10), None, None)
    return replace(base, **changes)  # type: ignore[arg-type]


# 1. KEY-02: a version in use whose activation date (nbf) is still ahead cannot wrap.


def test_fail_key_version_not_yet_valid() -> None:
    pre_staged = version(not_before=NOW + timedelta(days=3))
    inv = inventory(keys=[key(versions=(pre_staged,))])
    verdict = usage_verdict(check_key_version_validity, inv, Scope.MANAGED_SERVICES)
    assert verdict.status is Status.FAIL
    assert "not valid before" in verdict.reason and "refuses to wrap" in verdict.reason
    assert ("not before", pre_staged.not_before.isoformat()) in [(e.label, e.value) for e in verdict.evidence]  # type: ignore[union-attr]


def test_pass_key_version_active_since_its_nbf() -> None:
    inv = inventory(keys=[key(versions=(version(not_before=NOW - timedelta(days=1)),))])
    assert usage_verdict(check_key_version_validity, inv, Scope.MANAGED_SERVICES).status is Status.PASS


# 2. IAM-01/02: an access-policy entry with an applicationId grants the application acting for the principal.


def compound(object_id: str, keys: tuple[str, ...] = ("get", "wrapKey", "unwrapKey")) -> AccessPolicy:
    return AccessPolicy(TENANT, PrincipalId(object_id), "11111111-aaaa-4bbb-8ccc-dddddddddddd", keys, (), (), ())


def test_fail_identity_whose_only_entry_is_compound() -> None:
    policies = (policy(DATABRICKS_SP), compound(DES_PRINCIPAL), policy(STORAGE_PRINCIPAL))
    inv = inventory(vaults=[vault(access_policies=policies)])
    verdict = usage_verdict(check_required_permissions, inv, Scope.MANAGED_DISK)
    assert verdict.status is Status.FAIL
    assert f"disk encryption set identity {DES_PRINCIPAL} lacks get, unwrapKey, wrapKey" in verdict.reason
    assert any("compound entries" in e.label for e in verdict.evidence)
    # The entries of the other scopes' identities are their own: they pass.
    assert usage_verdict(check_required_permissions, inv, Scope.MANAGED_SERVICES).status is Status.PASS


def test_compound_entry_permissions_are_not_counted_as_excess() -> None:
    broad = compound(DES_PRINCIPAL, ("get", "wrapKey", "unwrapKey", "delete", "purge"))
    inv = inventory(vaults=[vault(access_policies=(*vault().access_policies, broad))])
    assert usage_verdict(check_least_privilege, inv, Scope.MANAGED_DISK).status is Status.PASS
    # It may still purge, through the application: IAM-03 says so.
    verdict = usage_verdict(check_key_administrators, inv, Scope.MANAGED_DISK)
    assert verdict.status is Status.FAIL and "through application" in verdict.reason


# 3. The disk encryption set's active key is the key of the managed-disk scope.

OTHER_VAULT_ID = ResourceId(f"/subscriptions/{SUB}/resourceGroups/rg-keys/providers/Microsoft.KeyVault/vaults/kv-disks")
OTHER_URI = "https://kv-disks.vault.azure.net/"


def disks_elsewhere(**other_vault: object):  # type: ignore[no-untyped-def]
    """The workspace names kv-test/cmk for its disks, but its disk encryption set wraps them with kv-disks/disk-key."""
    disk_vault = vault(id=OTHER_VAULT_ID, name="kv-disks", vault_uri=OTHER_URI, **other_vault)
    disk_key = key(
        id=ResourceId(f"{OTHER_VAULT_ID}/keys/disk-key"),
        vault_id=OTHER_VAULT_ID,
        name="disk-key",
        kty="RSA",
        key_size=1024,
    )
    active = KeyReference(OTHER_URI, "disk-key", "v2", "properties.activeKey.keyUrl")
    return inventory(
        vaults=[vault(), disk_vault],
        keys=[key(versions=(version(),)), replace(disk_key, versions=(version(),))],
        sets=[des(active_key=active, source_vault_id=OTHER_VAULT_ID)],
    )


def test_fail_managed_disks_wrapped_by_another_key_than_the_workspace_names() -> None:
    verdict = check_managed_disk_cmk(inventory().workspaces[0], disks_elsewhere(), Settings())
    assert verdict.status is Status.FAIL
    assert "wraps the disks with disk-key in kv-disks.vault.azure.net" in verdict.reason
    values = {e.label: e.value for e in verdict.evidence}
    assert values["key name"] == "cmk" and values["disk encryption set key name"] == "disk-key"


def test_managed_disk_key_controls_judge_the_disk_encryption_set_key() -> None:
    inv = disks_elsewhere(purge_protection_enabled=False)
    usage = next(u for u in inv.key_usages if u.scope is Scope.MANAGED_DISK)
    assert usage.vault_id == OTHER_VAULT_ID and usage.key_id == f"{OTHER_VAULT_ID}/keys/disk-key"
    assert usage_verdict(check_purge_protection, inv, Scope.MANAGED_DISK).status is Status.FAIL  # kv-disks'
    assert usage_verdict(check_key_type_and_size, inv, Scope.MANAGED_DISK).status is Status.FAIL  # RSA 1024
    assert usage_verdict(check_key_version_validity, inv, Scope.MANAGED_DISK).status is Status.PASS  # v2 is listed
    assert usage_verdict(check_rotation_policy, inv, Scope.MANAGED_DISK).status is Status.PASS
    # The workspace's other scopes still use kv-test, which is fine.
    assert usage_verdict(check_purge_protection, inv, Scope.MANAGED_SERVICES).status is Status.PASS
    sensitive = inv.workspaces[0]
    sensitive = replace(sensitive, tags={"data-classification": "restricted"})
    assert check_sensitive_workspace_scopes(sensitive, inv, Settings()).status is Status.FAIL  # through DBX-03


def test_pass_managed_disks_when_workspace_and_disk_encryption_set_agree() -> None:
    verdict = check_managed_disk_cmk(inventory().workspaces[0], inventory(), Settings())
    assert verdict.status is Status.PASS
    assert {"disk encryption set key name", "key name"} <= {e.label for e in verdict.evidence}


def test_key_version_age_on_disks_follows_the_disk_encryption_set_rotation() -> None:
    old = version(created=NOW - timedelta(days=200))
    inv = inventory(keys=[key(versions=(old,))], sets=[des(rotation_to_latest=False)])
    verdict = usage_verdict(check_key_version_age, inv, Scope.MANAGED_DISK)
    assert verdict.status is Status.FAIL and "pins this version" in verdict.reason
    rotating = usage_verdict(check_key_version_age, inventory(keys=[key(versions=(old,))]), Scope.MANAGED_DISK)
    assert rotating.status is Status.FAIL and "pins" not in rotating.reason


# 4. IAM-03: whoever may write an access-policy vault may write themselves purge; on RBAC, whoever may assign roles.

CONTRIBUTOR_ID = f"{ROLE_DEFINITIONS}/b24988ac-6180-42a0-ab88-20f7382dd24c"
KV_CONTRIBUTOR_ID = f"{ROLE_DEFINITIONS}/f25e0fa2-a7c8-4377-a976-54943a77a395"
OWNER_ID = f"{ROLE_DEFINITIONS}/8e3af657-a8ff-443c-a75c-2fe8c4bcb635"
UAA_ID = f"{ROLE_DEFINITIONS}/18d7d88d-d35e-4fb5-a5c3-7773c20a72d9"
READER_ID = f"{ROLE_DEFINITIONS}/acdd72a7-3385-48ef-bd42-f606fba81ae7"
CONTROL_PLANE = (
    RoleDefinition(
        CONTRIBUTOR_ID,
        "b24988ac-6180-42a0-ab88-20f7382dd24c",
        "Contributor",
        ("*",),
        ("Microsoft.Authorization/*/Delete", "Microsoft.Authorization/*/Write"),
        (),
        (),
    ),
    RoleDefinition(
        KV_CONTRIBUTOR_ID,
        "f25e0fa2-a7c8-4377-a976-54943a77a395",
        "Key Vault Contributor",
        ("Microsoft.Authorization/*/read", "Microsoft.KeyVault/*", "Microsoft.Resources/deployments/*"),
        (),
        (),
        (),
    ),
    RoleDefinition(OWNER_ID, "8e3af657-a8ff-443c-a75c-2fe8c4bcb635", "Owner", ("*",), (), (), ()),
    RoleDefinition(
        UAA_ID,
        "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9",
        "User Access Administrator",
        ("*/read", "Microsoft.Authorization/*"),
        (),
        (),
        (),
    ),
    RoleDefinition(READER_ID, "acdd72a7-3385-48ef-bd42-f606fba81ae7", "Reader", ("*/read",), (), (), ()),
)


def access_policy_vault_with(*assignments: RoleAssignment):  # type: ignore[no-untyped-def]
    inv = inventory(vaults=[vault(role_assignments=assignments)])
    return replace(inv, role_definitions=CONTROL_PLANE)


@pytest.mark.parametrize("role", [CONTRIBUTOR_ID, KV_CONTRIBUTOR_ID, OWNER_ID, UAA_ID])
def test_fail_access_policy_vault_writable_by_a_principal_outside_break_glass(role: str) -> None:
    inv = access_policy_vault_with(assignment(ADMIN, role, scope=f"/subscriptions/{SUB}", kind="User"))
    verdict = usage_verdict(check_key_administrators, inv, Scope.MANAGED_SERVICES)
    assert verdict.status is Status.FAIL
    assert ADMIN in verdict.reason and f"at /subscriptions/{SUB}" in verdict.reason
    allowed = Settings(break_glass_principals=(ADMIN,))
    assert usage_verdict(check_key_administrators, inv, Scope.MANAGED_SERVICES, allowed).status is Status.PASS


def test_pass_access_policy_vault_with_readers_only() -> None:
    inv = access_policy_vault_with(assignment(ADMIN, READER_ID, scope=f"/subscriptions/{SUB}", kind="User"))
    assert usage_verdict(check_key_administrators, inv, Scope.MANAGED_SERVICES).status is Status.PASS


def test_unknown_access_policy_vault_whose_role_assignments_were_not_read() -> None:
    inv = inventory(vaults=[vault(role_assignments=None)])
    verdict = usage_verdict(check_key_administrators, inv, Scope.MANAGED_SERVICES)
    assert verdict.status is Status.UNKNOWN and "role assignments of vault kv-test" in verdict.reason


@pytest.mark.parametrize(("role", "fails"), [(OWNER_ID, True), (UAA_ID, True), (CONTRIBUTOR_ID, False)])
def test_rbac_vault_principals_who_can_assign_themselves_key_administration(role: str, fails: bool) -> None:
    """Owner and User Access Administrator may assign roles; Contributor may not (its notActions)."""
    holder = assignment(ADMIN, role, scope=f"/subscriptions/{SUB}", kind="User")
    inv = rbac_inventory(*EVERYONE_CSEU, holder, definitions=(*DEFINITIONS, *CONTROL_PLANE))
    verdict = usage_verdict(check_key_administrators, inv, Scope.MANAGED_SERVICES)
    assert (verdict.status is Status.FAIL) is fails, verdict.reason
    if fails:
        assert "roleAssignments/write" in verdict.reason


# 5. KEY-01 judges the version a scope uses.


def test_fail_pinned_version_of_another_size_than_the_latest() -> None:
    pinned = KeyReference("https://kv-test.vault.azure.net/", "cmk", "v1", "test")
    old = version("v1", kty="RSA", key_size=1024)
    inv = inventory(
        workspaces=[workspace(managed_services=replace(workspace().managed_services, key=pinned))],
        keys=[key(versions=(old, version("v2")))],
    )
    verdict = usage_verdict(check_key_type_and_size, inv, Scope.MANAGED_SERVICES)
    assert verdict.status is Status.FAIL and "version v1 of key cmk is RSA 1024" in verdict.reason
    assert usage_verdict(check_key_type_and_size, inv, Scope.DBFS_ROOT).status is Status.PASS  # latest: RSA 3072


def test_unknown_pinned_version_whose_type_was_not_read() -> None:
    pinned = KeyReference("https://kv-test.vault.azure.net/", "cmk", "v1", "test")
    inv = inventory(
        workspaces=[workspace(managed_services=replace(workspace().managed_services, key=pinned))],
        keys=[key(versions=(version("v1"), version("v2")))],
    )
    verdict = usage_verdict(check_key_type_and_size, inv, Scope.MANAGED_SERVICES)
    assert verdict.status is Status.UNKNOWN and "not the latest" in verdict.reason


# 6. KV-05: networkAcls.bypass defaults to AzureServices.


def test_pass_deny_by_default_with_bypass_not_set() -> None:
    inv = inventory(vaults=[vault(public_network_access="Enabled", network_default_action="Deny", network_bypass=None)])
    verdict = usage_verdict(check_vault_network, inv, Scope.MANAGED_SERVICES)
    assert verdict.status is Status.PASS and "AzureServices is Key Vault's default" in verdict.reason


# 7. IAM-01/02: a custom role's notDataActions are honoured when judging excess.


def test_pass_custom_role_narrowed_by_not_data_actions() -> None:
    narrowed_id = f"{ROLE_DEFINITIONS}/0d0d0d0d-1111-4222-8333-444444444444"
    narrowed = RoleDefinition(
        narrowed_id,
        "0d0d0d0d-1111-4222-8333-444444444444",
        "keys, but only read, wrap and unwrap",
        (),
        (),
        ("Microsoft.KeyVault/vaults/keys/*",),
        tuple(
            f"Microsoft.KeyVault/vaults/keys/{action}"
            for action in (
                "update/action",
                "create/action",
                "import/action",
                "recover/action",
                "restore/action",
                "delete",
                "backup/action",
                "purge/action",
                "encrypt/action",
                "decrypt/action",
                "sign/action",
                "verify/action",
                "release/action",
                "rotate/action",
            )
        ),
    )
    inv = rbac_inventory(assignment(DATABRICKS_SP, narrowed_id), definitions=(*DEFINITIONS, narrowed))
    assert usage_verdict(check_required_permissions, inv, Scope.MANAGED_SERVICES).status is Status.PASS
    assert usage_verdict(check_least_privilege, inv, Scope.MANAGED_SERVICES).status is Status.PASS
    leaky = replace(narrowed, not_data_actions=narrowed.not_data_actions[:-1])  # rotate left in
    inv = rbac_inventory(assignment(DATABRICKS_SP, narrowed_id), definitions=(*DEFINITIONS, leaky))
    verdict = usage_verdict(check_least_privilege, inv, Scope.MANAGED_SERVICES)
    assert verdict.status is Status.FAIL and "keys/rotate/action" in verdict.reason


# 8. IAM-01: without encryption.identity, the storage account's system-assigned identity unwraps the key.


def test_dbfs_identity_is_the_system_assigned_one_when_none_is_named() -> None:
    unrelated = ManagedIdentity(
        PrincipalId("99999999-0000-4000-8000-000000000099"),
        None,
        "UserAssigned:/subscriptions/x/resourceGroups/y/providers/Microsoft.ManagedIdentity/userAssignedIdentities/z",
        "identity.userAssignedIdentities",
    )
    account = storage(identities=(*storage().identities, unrelated))
    inv = inventory(accounts=[account])
    usage = next(u for u in inv.key_usages if u.scope is Scope.DBFS_ROOT)
    assert [i.principal_id for i in usage.identities] == [STORAGE_PRINCIPAL]
    assert usage_verdict(check_required_permissions, inv, Scope.DBFS_ROOT).status is Status.PASS


def test_dbfs_identity_is_the_named_user_assigned_one() -> None:
    uami = "/subscriptions/x/resourceGroups/y/providers/Microsoft.ManagedIdentity/userAssignedIdentities/z"
    named = ManagedIdentity(
        PrincipalId("99999999-0000-4000-8000-000000000099"), None, f"UserAssigned:{uami}", "identity"
    )
    inv = inventory(accounts=[storage(identities=(*storage().identities, named), encryption_identity=uami)])
    verdict = usage_verdict(check_required_permissions, inv, Scope.DBFS_ROOT)
    assert verdict.status is Status.FAIL and "99999999-0000-4000-8000-000000000099 lacks" in verdict.reason


# 9. IAM-01: an access policy's principal may be a group; a grant that may come through one is UNKNOWN.


def test_unknown_when_the_grant_may_come_through_a_group_entry() -> None:
    group = "aaaaaaaa-0000-4000-8000-0000000000aa"
    policies = (policy(DATABRICKS_SP), policy(STORAGE_PRINCIPAL), policy(group))  # the DES identity: none of its own
    verdict = usage_verdict(
        check_required_permissions, inventory(vaults=[vault(access_policies=policies)]), Scope.MANAGED_DISK
    )
    assert verdict.status is Status.UNKNOWN
    assert "through a group" in verdict.reason and group in verdict.reason


def test_fail_when_no_possible_group_grants_what_is_missing() -> None:
    """Entries of principals known to be identities (here the other scopes' ones), or of a user a role assignment
    names, or entries that grant something else, are no way in."""
    user = "bbbbbbbb-0000-4000-8000-0000000000bb"
    reader = RoleAssignment(
        f"/subscriptions/{SUB}/providers/Microsoft.Authorization/roleAssignments/r",
        PrincipalId(user),
        "User",
        f"{ROLE_DEFINITIONS}/acdd72a7-3385-48ef-bd42-f606fba81ae7",
        f"/subscriptions/{SUB}",
    )
    weak = "cccccccc-0000-4000-8000-0000000000cc"
    policies = (policy(DATABRICKS_SP), policy(STORAGE_PRINCIPAL), policy(user), policy(weak, ["get", "list"]))
    inv = inventory(vaults=[vault(access_policies=policies, role_assignments=(reader,))])
    verdict = usage_verdict(check_required_permissions, inv, Scope.MANAGED_DISK)
    assert verdict.status is Status.FAIL and "lacks get, unwrapKey, wrapKey" in verdict.reason


def test_key_usage_ids_still_name_the_vault_key() -> None:
    """Sanity: the default inventory's disk scope resolves to kv-test/cmk through its disk encryption set."""
    usage = next(u for u in inventory().key_usages if u.scope is Scope.MANAGED_DISK)
    assert (usage.vault_id, usage.key_id, usage.key_ref_from) == (VAULT_ID, KEY_ID, des().id)
    assert CSEU_ID.endswith("e147488a-f6f5-4113-8e2d-b22465e65bf6")
