"""The inventory: a typed, immutable snapshot of everything the collector saw.

Every field that Azure may omit is Optional: `None` means "not reported", which rules turn into
UNKNOWN or into a documented default, never into a silent PASS.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from cmkaudit.ids import PrincipalId, ResourceId, SubscriptionId
from cmkaudit.text import scrub_secrets

SNAPSHOT_SCHEMA_VERSION = 2


class Scope(StrEnum):
    """The three places a Databricks workspace can use a customer-managed key."""

    MANAGED_SERVICES = "managedServices"
    MANAGED_DISK = "managedDisk"
    DBFS_ROOT = "dbfsRoot"
    WORKSPACE_STORAGE = "workspaceStorage"
    """Databricks on AWS only: the workspace's root S3 bucket (and cluster EBS volumes when the key configuration
    reuses its key for them)."""

    @property
    def label(self) -> str:
        """Human name of the scope."""
        return _SCOPE_LABELS[self]


_SCOPE_LABELS = {
    Scope.MANAGED_SERVICES: "managed services",
    Scope.MANAGED_DISK: "managed disks",
    Scope.DBFS_ROOT: "DBFS root",
    Scope.WORKSPACE_STORAGE: "workspace storage",
}

AZURE_SCOPES = (Scope.MANAGED_SERVICES, Scope.MANAGED_DISK, Scope.DBFS_ROOT)
"""The scopes of an Azure Databricks workspace."""


class UnreadWhy(StrEnum):
    """Why evidence could not be read."""

    FAILED = "failed"
    """A call failed or was refused: the collection error says which, and what to do."""
    OUTSIDE_SCOPE = "outside-scope"
    """It lives where the scan did not look (a subscription not scanned)."""
    NOT_SUPPORTED = "not-supported"
    """cmkaudit does not read it (kept so that snapshots written before Managed HSM pools were read still load)."""
    NOT_FOUND = "not-found"
    """What a resource names was not among the resources listed where it should be."""
    LIVE_ONLY = "live-only"
    """Planned configuration does not hold it: only the deployed resources can tell (key versions and their age,
    settings made outside the configuration). Checks say so as NOT_APPLICABLE, never as a pass."""


@dataclass(frozen=True, slots=True)
class CollectionError:
    """A call the collector could not make, or that Azure refused: evidence that is missing."""

    resource_id: str
    """The ARM id (or URL) the failed call concerns."""
    operation: str
    status_code: int | None
    code: str | None
    message: str
    hint: str | None = None

    def __post_init__(self) -> None:
        _scrub(self, "resource_id", "code", "message", "hint")


def _scrub(record: object, *names: str) -> None:
    """The one place where text a server or file wrote is made safe to keep: every record that carries such text
    (an error, the reason evidence is missing) passes it through `scrub_secrets` when it is made, so that no path
    from a server's message to a report can forget it (a message that echoes a token keeps "[redacted]")."""
    for name in names:
        value = getattr(record, name)
        if isinstance(value, str) and value:
            scrubbed = scrub_secrets(value)
            if scrubbed != value:
                object.__setattr__(record, name, scrubbed)


@dataclass(frozen=True, slots=True)
class Unread:
    """Evidence that could not be read, kept on the record it concerns: why, in words, what to do about it, and
    the failed call when there was one. Checks turn it into UNKNOWN with this reason and hint."""

    why: UnreadWhy
    reason: str
    hint: str | None = None
    error: CollectionError | None = None

    def __post_init__(self) -> None:
        _scrub(self, "reason", "hint")

    @staticmethod
    def failed(error: CollectionError) -> Unread:
        """The marker of a failed call."""
        status = f"HTTP {error.status_code}" if error.status_code else "no response"
        code = f" {error.code}" if error.code else ""
        reason = f"{error.operation} failed ({status}{code}): {error.message}"
        return Unread(UnreadWhy.FAILED, reason, error.hint, error)


@dataclass(frozen=True, slots=True)
class KeyReference:
    """A key as a workspace (or disk encryption set, or storage account) names it."""

    vault_uri: str
    key_name: str
    key_version: str | None
    """None or empty: "the latest version" (auto-rotation)."""
    source: str
    """The ARM property path the reference was read from."""


@dataclass(frozen=True, slots=True)
class ManagedIdentity:
    """An identity reported on a resource (system- or user-assigned)."""

    principal_id: PrincipalId | None
    tenant_id: str | None
    type: str | None
    source: str
    """The ARM property path it was read from."""


@dataclass(frozen=True, slots=True)
class ScopeEncryption:
    """The CMK configuration of one workspace scope as the workspace reports it."""

    scope: Scope
    key_source: str | None
    """Raw keySource: "Microsoft.Keyvault" for CMK, "Default" or None otherwise."""
    key: KeyReference | None
    rotation_to_latest: bool | None = None
    """Managed disks only: `rotationToLatestKeyVersionEnabled`."""
    prepare_encryption: bool | None = None
    """DBFS root only: `parameters.prepareEncryption.value`."""
    unread: Unread | None = None
    """Set when the setting could not be worked out (planned configuration whose value cannot be resolved)."""

    @property
    def uses_cmk(self) -> bool:
        """Whether the workspace says this scope is encrypted with a key from Key Vault."""
        return (self.key_source or "").lower() == "microsoft.keyvault" and self.key is not None


@dataclass(frozen=True, slots=True)
class Workspace:
    """An Azure Databricks workspace."""

    id: ResourceId
    name: str
    subscription_id: SubscriptionId
    resource_group: str
    location: str | None
    sku: str | None
    tags: dict[str, str]
    managed_resource_group_id: ResourceId | None
    disk_encryption_set_id: ResourceId | None
    managed_disk_identity: ManagedIdentity | None
    storage_account_identity: ManagedIdentity | None
    storage_account_name: str | None
    """`parameters.storageAccountName.value`: the DBFS root storage account, when reported."""
    require_infrastructure_encryption: bool | None
    """`parameters.requireInfrastructureEncryption.value`, as requested at creation."""
    managed_services: ScopeEncryption
    managed_disk: ScopeEncryption
    dbfs_root: ScopeEncryption
    properties_reported: bool = True
    """False when the payload had no `properties` object: its encryption settings were not seen."""

    def scope(self, scope: Scope) -> ScopeEncryption:
        """The encryption settings of one scope."""
        match scope:
            case Scope.MANAGED_SERVICES:
                return self.managed_services
            case Scope.MANAGED_DISK:
                return self.managed_disk
            case Scope.DBFS_ROOT:
                return self.dbfs_root
            case Scope.WORKSPACE_STORAGE:
                raise ValueError("an Azure workspace has no workspaceStorage scope (Databricks on AWS)")


@dataclass(frozen=True, slots=True)
class AccessPolicy:
    """One entry of a vault's access policies."""

    tenant_id: str | None
    object_id: PrincipalId
    application_id: str | None
    keys: tuple[str, ...]
    secrets: tuple[str, ...]
    certificates: tuple[str, ...]
    storage: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class LogSetting:
    """One log category (or category group) of a diagnostic setting."""

    category: str | None
    category_group: str | None
    enabled: bool | None


@dataclass(frozen=True, slots=True)
class DiagnosticSetting:
    """Where a resource's logs go (Microsoft.Insights/diagnosticSettings)."""

    id: str
    name: str
    destinations: tuple[str, ...]
    """Log Analytics workspace, storage account, event hub or partner ids that are set."""
    logs: tuple[LogSetting, ...]


@dataclass(frozen=True, slots=True)
class RoleAssignment:
    """An Azure RBAC role assignment that applies to a vault (at, above or below its scope)."""

    id: str
    principal_id: PrincipalId
    principal_type: str | None
    role_definition_id: str
    scope: str


@dataclass(frozen=True, slots=True)
class RoleDefinition:
    """What a role allows: control-plane actions and data actions, with their exclusions."""

    id: str
    name: str
    """The role's GUID."""
    role_name: str | None
    actions: tuple[str, ...]
    not_actions: tuple[str, ...]
    data_actions: tuple[str, ...]
    not_data_actions: tuple[str, ...]
    managed_hsm: bool = False
    """A Managed HSM pool's local role (its data actions are the pool's `Microsoft.KeyVault/managedHsm/...`)."""


class VaultKind(StrEnum):
    """What holds a key: a Key Vault, or a Managed HSM pool (single-tenant HSMs, permissions by local RBAC)."""

    KEY_VAULT = "vault"
    MANAGED_HSM = "managedHsm"


@dataclass(frozen=True, slots=True)
class Vault:
    """A Key Vault or a Managed HSM pool (management-plane view; `kind` says which).

    A Managed HSM pool (`Microsoft.KeyVault/managedHSMs`) has the same protections as a vault (soft delete, purge
    protection, network rules, diagnostic settings) and its keys the same shape; its permissions are its local RBAC,
    read from its data plane: `rbac_authorization` is True and `role_assignments` are the pool's own (at `/`,
    `/keys` and `/keys/{name}`, the first two recorded at the pool's id, the last at the key's), `access_policies`
    empty.
    """

    id: ResourceId
    name: str
    subscription_id: SubscriptionId
    resource_group: str
    location: str | None
    tenant_id: str | None
    vault_uri: str | None
    sku: str | None
    soft_delete_enabled: bool | None
    soft_delete_retention_days: int | None
    purge_protection_enabled: bool | None
    rbac_authorization: bool | None
    public_network_access: str | None
    network_default_action: str | None
    network_bypass: str | None
    """`networkAcls.bypass`: "AzureServices" lets trusted Azure services through the firewall."""
    access_policies: tuple[AccessPolicy, ...]
    diagnostic_settings: tuple[DiagnosticSetting, ...] | None = None
    """None: not read (only vaults holding a customer-managed key are asked; `diagnostic_settings_unread` says
    why when asking failed)."""
    role_assignments: tuple[RoleAssignment, ...] | None = None
    """The role assignments at, above and below the vault (those above are inherited). None: not read (only
    vaults that hold a customer-managed key are asked; `role_assignments_unread` says why when asking failed)."""
    diagnostic_settings_unread: Unread | None = None
    role_assignments_unread: Unread | None = None
    kind: VaultKind = VaultKind.KEY_VAULT

    @property
    def label(self) -> str:
        """How findings name it: "vault NAME" or "Managed HSM NAME"."""
        return f"Managed HSM {self.name}" if self.kind is VaultKind.MANAGED_HSM else f"vault {self.name}"


@dataclass(frozen=True, slots=True)
class LifetimeAction:
    """One rotation-policy lifetime action: what happens, and when (ISO-8601 durations)."""

    action: str | None
    time_after_create: str | None
    time_before_expiry: str | None


@dataclass(frozen=True, slots=True)
class RotationPolicy:
    """A key's rotation policy."""

    lifetime_actions: tuple[LifetimeAction, ...]
    expiry_time: str | None
    source: str


@dataclass(frozen=True, slots=True)
class KeyVersion:
    """One version of a key (no key material: attributes only)."""

    version: str
    enabled: bool | None
    created: datetime | None
    expires: datetime | None
    not_before: datetime | None
    kty: str | None = None
    """The version's own key type, when Resource Manager reported it (a key re-created under the same name gets
    new versions with new parameters; the key's `kty` is its latest version's)."""
    key_size: int | None = None


@dataclass(frozen=True, slots=True)
class Key:
    """A Key Vault key that some workspace scope uses."""

    id: ResourceId
    vault_id: ResourceId
    name: str
    kty: str | None
    key_size: int | None
    enabled: bool | None
    created: datetime | None
    expires: datetime | None
    current_version: str | None
    """The version `keyUriWithVersion` points at (the latest)."""
    rotation_policy: RotationPolicy | None
    """None: neither Resource Manager nor the vault's data plane returned the rotation policy (not "no policy");
    `rotation_policy_unread` says why."""
    versions: tuple[KeyVersion, ...] | None
    """None: the versions could not be listed (`versions_unread` says why)."""
    rotation_policy_unread: Unread | None = None
    versions_unread: Unread | None = None
    unread: Unread | None = None
    """Set when the key itself could not be read: the record then holds its id, vault and name only."""


@dataclass(frozen=True, slots=True)
class DiskEncryptionSet:
    """A disk encryption set (the managed-disk scope's key holder)."""

    id: ResourceId
    name: str
    location: str | None
    encryption_type: str | None
    active_key: KeyReference | None
    source_vault_id: ResourceId | None
    rotation_to_latest: bool | None
    auto_key_rotation_error: str | None
    last_key_rotation: str | None
    identities: tuple[ManagedIdentity, ...]


@dataclass(frozen=True, slots=True)
class StorageAccount:
    """A storage account (here: a workspace's DBFS root)."""

    id: ResourceId
    name: str
    resource_group: str
    location: str | None
    key_source: str | None
    key: KeyReference | None
    current_versioned_key_id: str | None
    infrastructure_encryption: bool | None
    encryption_identity: str | None
    """`encryption.identity.userAssignedIdentity`, when a user-assigned identity unwraps the key."""
    identities: tuple[ManagedIdentity, ...]


class PrincipalSource(StrEnum):
    """Where the AzureDatabricks service principal's object id came from."""

    GRAPH = "graph"
    CONFIG = "config"


@dataclass(frozen=True, slots=True)
class PrincipalLookup:
    """The AzureDatabricks service principal's object id in one tenant, or why it is unknown."""

    tenant_id: str
    object_id: PrincipalId | None
    source: PrincipalSource | None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class DirectoryObject:
    """A Microsoft Entra object (a group an identity belongs to, or a group's member): its id and display name."""

    id: PrincipalId
    display_name: str | None
    kind: str | None = None
    """What it is, as Graph types it (`user`, `servicePrincipal`, `group`...), when Graph said."""


@dataclass(frozen=True, slots=True)
class GroupMembership:
    """The groups an identity that uses a key is a member of, transitively, as Microsoft Graph lists them
    (`transitiveMemberOf`), or why they are not known (`groups` None, `unread` says why and what to grant)."""

    principal_id: PrincipalId
    groups: tuple[DirectoryObject, ...] | None
    unread: Unread | None = None


@dataclass(frozen=True, slots=True)
class GroupMembers:
    """Who is in a group that holds a grant on a key (its members, transitively, from Microsoft Graph), or that the
    principal is not a group (`is_group` False), or why that is not known (`is_group` None, `unread`)."""

    group_id: PrincipalId
    is_group: bool | None
    members: tuple[DirectoryObject, ...] | None
    """Users, service principals and groups (id and display name); None when not read."""
    unread: Unread | None = None


class IdentityRole(StrEnum):
    """Why an identity needs access to a key."""

    AZURE_DATABRICKS = "AzureDatabricks service principal"
    DISK_ENCRYPTION_SET = "disk encryption set identity"
    STORAGE_ACCOUNT = "storage account identity"


@dataclass(frozen=True, slots=True)
class UsingIdentity:
    """An identity that must be able to use a key, and where cmkaudit learned of it."""

    principal_id: PrincipalId
    role: IdentityRole
    source: str


@dataclass(frozen=True, slots=True)
class KeyUsage:
    """One workspace scope resolved to the key it uses: workspace -> vault -> key -> who uses it. For managed
    disks that is the key of the disk encryption set (its `activeKey`), whatever the workspace names.

    `unread` says why the key could not be resolved (a reason for UNKNOWN), when it could not.
    """

    workspace_id: ResourceId
    scope: Scope
    uses_cmk: bool
    key_ref: KeyReference | None
    vault_id: ResourceId | None
    key_id: ResourceId | None
    version_in_use: str | None
    version_source: str | None
    identities: tuple[UsingIdentity, ...]
    unread: Unread | None
    """Why the key (or its vault) could not be resolved, when it could not."""
    identity_problems: tuple[str, ...]
    key_ref_from: ResourceId | None = None
    """Where `key_ref` was read, when not from the workspace: for managed disks, the disk encryption set, whose
    `activeKey` is the key that really wraps the disks."""
    follows_latest: bool | None = None
    """Whether the scope moves to each new key version by itself (managed disks: the disk encryption set's
    `rotationToLatestKeyVersionEnabled`; elsewhere: the reference names no version). None: not known."""


@dataclass(frozen=True, slots=True)
class WorkspaceLinks:
    """A workspace resolved to the resources it names: its disk encryption set and its DBFS root storage account,
    each an id, or a marker saying why it could not be found (None: the workspace names none)."""

    workspace_id: ResourceId
    disk_encryption_set_id: ResourceId | None
    storage_account_id: ResourceId | None
    disk_encryption_set_unread: Unread | None = None
    storage_account_unread: Unread | None = None


class ListedKind(StrEnum):
    """The resources the crawl lists per subscription."""

    WORKSPACES = "workspaces"
    VAULTS = "vaults"
    MANAGED_HSMS = "managedHSMs"
    DISK_ENCRYPTION_SETS = "diskEncryptionSets"
    STORAGE_ACCOUNTS = "storageAccounts"


@dataclass(frozen=True, slots=True)
class Unlisted:
    """A list that could not be read (in full): resources of this kind in this subscription may be missing."""

    subscription_id: SubscriptionId
    kind: ListedKind
    unread: Unread


@dataclass(frozen=True, slots=True)
class Subscription:
    """A scanned subscription: its tenant (the tenant of every workspace in it), name and state."""

    id: SubscriptionId
    display_name: str | None
    state: str | None
    tenant_id: str | None


@dataclass(frozen=True, slots=True)
class SourceLocation:
    """Where a record of planned configuration is declared: its address (a Terraform address, a template's
    resource id) and, when known, the file and lines of its block."""

    resource_id: ResourceId
    address: str
    file: str | None = None
    start_line: int | None = None
    end_line: int | None = None


class Provenance(StrEnum):
    """How an inventory's records were collected."""

    AZURE_ARM = "azure-arm"
    """A live crawl of Azure, the resources listed by Resource Manager per subscription."""
    AZURE_RESOURCE_GRAPH = "azure-resource-graph"
    """A live crawl of Azure, the resources listed by Azure Resource Graph (which can lag Resource Manager by
    minutes)."""
    AZURE_RECORDING = "azure-recording"
    """A recorded Azure tenant replayed through the crawler (the demo)."""
    DATABRICKS_ACCOUNT = "databricks-account"
    """A live read of a Databricks account on AWS (the account API) and the AWS KMS keys it names."""
    DATABRICKS_ACCOUNT_RECORDING = "databricks-account-recording"
    """A recorded Databricks account and its KMS keys replayed through the SDKs (the AWS demo)."""
    TERRAFORM_PLAN = "terraform-plan"
    """Planned configuration: a Terraform plan (`terraform show -json`)."""
    TERRAFORM_CONFIGURATION = "terraform-configuration"
    """Configuration: a Terraform directory's HCL, read without a plan (values known from it alone)."""
    ARM_TEMPLATE = "arm-template"
    """Configuration: an ARM template (Bicep compiled to one) and its parameters."""

    @property
    def label(self) -> str:
        """How reports say it."""
        return _PROVENANCE_LABELS[self]


_PROVENANCE_LABELS = {
    Provenance.AZURE_ARM: "resources listed by Azure Resource Manager",
    Provenance.AZURE_RESOURCE_GRAPH: (
        "resources listed by Azure Resource Graph, which can lag Resource Manager by minutes"
    ),
    Provenance.AZURE_RECORDING: "a recorded Azure tenant, replayed",
    Provenance.TERRAFORM_PLAN: "a Terraform plan: configuration as it would be applied, not deployed resources",
    Provenance.DATABRICKS_ACCOUNT: "a Databricks account on AWS (account API) and the AWS KMS keys it names",
    Provenance.DATABRICKS_ACCOUNT_RECORDING: "a recorded Databricks account on AWS and its KMS keys, replayed",
    Provenance.ARM_TEMPLATE: "an ARM template and its parameters: resources as they would be deployed",
    Provenance.TERRAFORM_CONFIGURATION: (
        "a Terraform configuration read without a plan: values the configuration alone fixes, not deployed resources"
    ),
}


@dataclass(frozen=True, slots=True)
class ScanScope:
    """What was scanned, and against which cloud."""

    subscriptions: tuple[SubscriptionId, ...]
    arm_endpoint: str
    cloud: str
    skipped: tuple[str, ...] = ()
    """Subscriptions that --all-subscriptions found but did not scan (disabled or deleted), with why."""
    sources: tuple[Provenance, ...] = ()
    """How the records were collected: one provenance, or several for shards merged into one inventory."""
    notes: tuple[str, ...] = ()
    """What the scan learned that is neither a resource nor an error, e.g. a subscription where
    Microsoft.Databricks was never registered (so it holds no workspaces)."""
    accounts: tuple[str, ...] = ()
    """Databricks accounts on AWS that were scanned."""
