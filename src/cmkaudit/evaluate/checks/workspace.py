"""Workspace controls: the tier, and a customer-managed key on each scope."""

from __future__ import annotations

from cmkaudit.evaluate.checks._common import CMK_KEY_SOURCE, unread_reason
from cmkaudit.evaluate.model import Evidence, Settings, Status, Verdict
from cmkaudit.ids import vault_host
from cmkaudit.inventory import Inventory
from cmkaudit.inventory.model import KeyReference, Scope, UnreadWhy, Workspace


def check_premium_sku(workspace: Workspace, inventory: Inventory, settings: Settings) -> Verdict:
    """DBX-01: the workspace SKU is Premium (customer-managed keys need it)."""
    evidence = (Evidence("sku.name", workspace.sku, workspace.id, "sku.name"),)
    if workspace.sku is None:
        return Verdict(Status.UNKNOWN, "the workspace did not report its SKU", evidence)
    if workspace.sku.lower() == "premium":
        return Verdict(Status.PASS, "the workspace is on the Premium tier", evidence)
    return Verdict(Status.FAIL, f"the workspace is on the {workspace.sku} tier; CMK needs Premium", evidence)


def _scope_evidence(workspace: Workspace, scope: Scope) -> tuple[Evidence, ...]:
    enc = workspace.scope(scope)
    items = [Evidence("keySource", enc.key_source, workspace.id, _KEY_SOURCE_PATH[scope])]
    if enc.key is not None:
        items.append(Evidence("key vault URI", enc.key.vault_uri, workspace.id, enc.key.source))
        items.append(Evidence("key name", enc.key.key_name, workspace.id, enc.key.source))
        items.append(Evidence("key version", enc.key.key_version or "(latest)", workspace.id, enc.key.source))
    return tuple(items)


_KEY_SOURCE_PATH = {
    Scope.MANAGED_SERVICES: "properties.encryption.entities.managedServices.keySource",
    Scope.MANAGED_DISK: "properties.encryption.entities.managedDisk.keySource",
    Scope.DBFS_ROOT: "properties.parameters.encryption.value.keySource",
}


def _not_reported(workspace: Workspace) -> Verdict:
    return Verdict(
        Status.UNKNOWN,
        "Azure returned the workspace without its properties, so its encryption settings were not seen",
        (Evidence("properties", None, workspace.id, "properties"),),
    )


def _scope_check(workspace: Workspace, scope: Scope) -> Verdict:
    if not workspace.properties_reported:
        return _not_reported(workspace)
    enc = workspace.scope(scope)
    evidence = _scope_evidence(workspace, scope)
    if enc.unread is not None:
        return Verdict(Status.UNKNOWN, unread_reason(enc.unread, ""), evidence)
    if enc.uses_cmk:
        assert enc.key is not None
        return Verdict(
            Status.PASS,
            f"{scope.label} use key {enc.key.key_name} from {vault_host(enc.key.vault_uri)}",
            evidence,
        )
    if enc.key_source is None:
        return Verdict(Status.FAIL, f"no customer-managed key is configured for {scope.label}", evidence)
    return Verdict(
        Status.FAIL,
        f"{scope.label} use keySource {enc.key_source}, not a customer-managed key (Microsoft.Keyvault)",
        evidence,
    )


def check_managed_services_cmk(workspace: Workspace, inventory: Inventory, settings: Settings) -> Verdict:
    """DBX-02: managed services (notebooks, secrets, queries) are encrypted with a customer-managed key."""
    return _scope_check(workspace, Scope.MANAGED_SERVICES)


def check_managed_disk_cmk(workspace: Workspace, inventory: Inventory, settings: Settings) -> Verdict:
    """DBX-03: managed disks of cluster VMs are encrypted with a customer-managed key."""
    verdict = _scope_check(workspace, Scope.MANAGED_DISK)
    des = inventory.index.disk_encryption_set_of(workspace)
    extra: list[Evidence] = [
        Evidence(
            "diskEncryptionSetId",
            workspace.disk_encryption_set_id,
            workspace.id,
            "properties.diskEncryptionSetId",
        )
    ]
    if des is not None:
        extra.append(Evidence("encryptionType", des.encryption_type, des.id, "properties.encryptionType"))
    named, active = workspace.managed_disk.key, des.active_key if des is not None else None
    if verdict.status is Status.PASS and named is not None and active is not None and des is not None:
        extra += [
            Evidence("disk encryption set key vault URI", active.vault_uri, des.id, active.source),
            Evidence("disk encryption set key name", active.key_name, des.id, active.source),
        ]
        if not _same_key(named, active):
            return Verdict(
                Status.FAIL,
                f"the workspace names key {named.key_name} in {vault_host(named.vault_uri)}, but its disk encryption "
                f"set {des.name} wraps the disks with {active.key_name} in {vault_host(active.vault_uri)}",
                verdict.evidence + tuple(extra),
            )
    return Verdict(verdict.status, verdict.reason, verdict.evidence + tuple(extra))


def _same_key(one: KeyReference, other: KeyReference) -> bool:
    """Whether two references name the same key (vault host and name; the version may differ)."""
    return vault_host(one.vault_uri) == vault_host(other.vault_uri) and one.key_name.lower() == other.key_name.lower()


def check_dbfs_root_cmk(workspace: Workspace, inventory: Inventory, settings: Settings) -> Verdict:
    """DBX-05: the DBFS root uses a customer-managed key, and its storage account agrees."""
    if not workspace.properties_reported:
        return _not_reported(workspace)
    enc = workspace.dbfs_root
    evidence = (
        Evidence(
            "prepareEncryption",
            enc.prepare_encryption,
            workspace.id,
            "properties.parameters.prepareEncryption.value",
        ),
        *_scope_evidence(workspace, Scope.DBFS_ROOT),
    )
    if enc.unread is not None:
        return Verdict(Status.UNKNOWN, unread_reason(enc.unread, ""), evidence)
    if enc.key is not None and enc.prepare_encryption is False:
        return Verdict(
            Status.FAIL,
            f"a DBFS root key ({enc.key.key_name}) is named, but the workspace is not prepared for it "
            "(prepareEncryption / customer_managed_key_enabled is false): its storage account has no identity to "
            "unwrap the key",
            evidence,
        )
    if not enc.uses_cmk or enc.key is None:
        source = enc.key_source or "not set"
        return Verdict(
            Status.FAIL,
            f"the workspace does not encrypt the DBFS root with a customer-managed key "
            f"(prepareEncryption {enc.prepare_encryption}, encryption keySource {source})",
            evidence,
        )
    account = inventory.index.storage_account_of(workspace)
    if account is None:
        unread = inventory.index.links_of(workspace).storage_account_unread
        if unread is not None and unread.why is UnreadWhy.LIVE_ONLY and enc.prepare_encryption is True:
            return Verdict(
                Status.PASS,
                f"the workspace is prepared for a DBFS root key and names key {enc.key.key_name} from "
                f"{vault_host(enc.key.vault_uri)}; Azure creates the storage account with it",
                evidence,
            )
        why = unread_reason(unread, "its storage account is unknown")
        return Verdict(Status.UNKNOWN, f"the workspace names a customer-managed key, but {why}", evidence)
    evidence = (
        *evidence,
        Evidence("storage keySource", account.key_source, account.id, "properties.encryption.keySource"),
    )
    if (account.key_source or "").lower() != CMK_KEY_SOURCE or account.key is None:
        return Verdict(
            Status.FAIL,
            f"the workspace names a customer-managed key, but storage account {account.name} reports "
            f"keySource {account.key_source or 'not set'}",
            evidence,
        )
    evidence = (
        *evidence,
        Evidence("storage key vault URI", account.key.vault_uri, account.id, account.key.source),
        Evidence("storage key name", account.key.key_name, account.id, account.key.source),
    )
    if not _same_key(account.key, enc.key):
        return Verdict(
            Status.FAIL,
            f"the workspace names key {enc.key.key_name} in {vault_host(enc.key.vault_uri)}, but storage account "
            f"{account.name} uses {account.key.key_name} in {vault_host(account.key.vault_uri)}",
            evidence,
        )
    return Verdict(
        Status.PASS,
        f"the DBFS root and storage account {account.name} use key {enc.key.key_name} "
        f"from {vault_host(enc.key.vault_uri)}",
        evidence,
    )


def check_managed_disk_auto_rotation(workspace: Workspace, inventory: Inventory, settings: Settings) -> Verdict:
    """DBX-04: managed disks follow the latest key version (workspace and disk encryption set agree, no error)."""
    if not workspace.properties_reported:
        return _not_reported(workspace)
    enc = workspace.managed_disk
    if not enc.uses_cmk:
        return Verdict(
            Status.NOT_APPLICABLE, "managed disks are not encrypted with a customer-managed key (see DBX-03)"
        )
    evidence = [
        Evidence(
            "rotationToLatestKeyVersionEnabled (workspace)",
            enc.rotation_to_latest,
            workspace.id,
            "properties.encryption.entities.managedDisk.rotationToLatestKeyVersionEnabled",
        )
    ]
    problems = []
    if enc.rotation_to_latest is not True:
        problems.append("the workspace does not enable rotationToLatestKeyVersionEnabled")
    des = inventory.index.disk_encryption_set_of(workspace)
    if des is not None:
        evidence += [
            Evidence(
                "rotationToLatestKeyVersionEnabled (disk encryption set)",
                des.rotation_to_latest,
                des.id,
                "properties.rotationToLatestKeyVersionEnabled",
            ),
            Evidence("autoKeyRotationError", des.auto_key_rotation_error, des.id, "properties.autoKeyRotationError"),
        ]
        if des.rotation_to_latest is not True:
            problems.append(f"disk encryption set {des.name} does not rotate to the latest key version")
        if des.auto_key_rotation_error:
            problems.append(f"disk encryption set {des.name} reports a rotation error: {des.auto_key_rotation_error}")
    if problems:
        return Verdict(Status.FAIL, "; ".join(problems), tuple(evidence))
    if des is None:
        unread = inventory.index.links_of(workspace).disk_encryption_set_unread
        if unread is not None and unread.why is UnreadWhy.LIVE_ONLY:
            return Verdict(
                Status.PASS,
                "the workspace enables rotationToLatestKeyVersionEnabled; the disk encryption set Azure creates for "
                "it follows the setting (its rotation errors are seen by a live scan)",
                tuple(evidence),
            )
        return Verdict(
            Status.UNKNOWN,
            unread_reason(unread, "the workspace does not report its disk encryption set (diskEncryptionSetId)"),
            tuple(evidence),
        )
    return Verdict(
        Status.PASS, f"managed disks and disk encryption set {des.name} follow the latest key version", tuple(evidence)
    )


def check_dbfs_infrastructure_encryption(workspace: Workspace, inventory: Inventory, settings: Settings) -> Verdict:
    """DBX-06: the DBFS root storage account has infrastructure (double) encryption.

    The storage account's own `requireInfrastructureEncryption` decides; when the account could not be
    read, the workspace parameter it was created from is the evidence.
    """
    requested = Evidence(
        "requireInfrastructureEncryption (workspace)",
        workspace.require_infrastructure_encryption,
        workspace.id,
        "properties.parameters.requireInfrastructureEncryption.value",
    )
    account = inventory.index.storage_account_of(workspace)
    if account is not None and account.infrastructure_encryption is not None:
        evidence = (
            requested,
            Evidence(
                "requireInfrastructureEncryption (storage account)",
                account.infrastructure_encryption,
                account.id,
                "properties.encryption.requireInfrastructureEncryption",
            ),
        )
        if account.infrastructure_encryption:
            return Verdict(
                Status.PASS, f"storage account {account.name} encrypts twice (infrastructure encryption)", evidence
            )
        return Verdict(Status.FAIL, f"storage account {account.name} has no infrastructure encryption", evidence)
    if workspace.require_infrastructure_encryption is True:
        return Verdict(Status.PASS, "the workspace created its DBFS root with infrastructure encryption", (requested,))
    if workspace.require_infrastructure_encryption is False:
        return Verdict(
            Status.FAIL, "the workspace created its DBFS root without infrastructure encryption", (requested,)
        )
    return Verdict(
        Status.UNKNOWN,
        "neither the workspace nor its DBFS storage account reports infrastructure encryption",
        (requested,),
    )
