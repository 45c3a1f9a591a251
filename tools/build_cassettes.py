"""Write the scenario tenants under cassettes/ as vcrpy cassettes.

The response bodies follow the official Azure REST API examples (azure-rest-api-specs, copied in
../shared/arm-reference/) field for field; only names, ids and the CMK settings differ, to make
each scenario. Request URIs are the ones the SDK clients send with cmkaudit's pinned API
versions. No Authorization header is stored.

    python tools/build_cassettes.py          # rewrite cassettes/
    python tools/build_cassettes.py --check  # fail if cassettes/ differs from what this writes
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from cmkaudit.collect.http import ApiVersion  # noqa: E402
from cmkaudit.ids import AZURE_DATABRICKS_APP_ID  # noqa: E402

ARM = "https://management.azure.com"
GRAPH = "https://graph.microsoft.com"

Json = dict[str, Any]
Version = tuple[str, int, int | None]
"""A key version: (version id, created, expires), times in epoch seconds as the management plane gives them."""


@dataclass
class Cassette:
    """An ordered list of recorded exchanges."""

    interactions: list[Json] = field(default_factory=list)

    def get(self, uri: str, body: Json, status: int = 200, headers: dict[str, str] | None = None) -> None:
        """Record a GET and its JSON answer."""
        self.interactions.append(
            {
                "request": {
                    "body": None,
                    "headers": {"Accept": ["application/json"]},
                    "method": "GET",
                    "uri": uri,
                },
                "response": {
                    "body": {"string": json.dumps(body, indent=1)},
                    "headers": {
                        "Cache-Control": ["no-cache"],
                        "Content-Type": ["application/json; charset=utf-8"],
                        "x-ms-request-id": [f"00000000-0000-4000-8000-{len(self.interactions):012d}"],
                        **{name: [value] for name, value in (headers or {}).items()},
                    },
                    "status": {"code": status, "message": _REASONS[status]},
                },
            }
        )

    def graph_batch(self, answers: list[tuple[str, Json, int]]) -> None:
        """Record one Microsoft Graph JSON batch (v1.0 $batch): a GET per (path, body, status), in order."""
        requests = [{"id": str(n), "method": "GET", "url": path} for n, (path, _, _) in enumerate(answers)]
        responses = [
            {
                "id": str(n),
                "status": status,
                "headers": {"Content-Type": "application/json;odata.metadata=minimal;odata.streaming=true"},
                "body": body,
            }
            for n, (_, body, status) in enumerate(answers)
        ]
        self.get(f"{GRAPH}/v1.0/$batch", {"responses": responses})
        self.interactions[-1]["request"]["method"] = "POST"
        self.interactions[-1]["request"]["body"] = json.dumps({"requests": requests})

    def group_memberships(self, groups_of: dict[str, list[tuple[str, str]]], refused: bool = False) -> None:
        """Record the batch that reads the identities' groups: `GET /servicePrincipals/{id}/transitiveMemberOf/
        microsoft.graph.group` per identity, in sorted order (servicePrincipal-list-transitivememberof's shape, id and
        displayName selected), or Graph's refusal of each."""
        context = "https://graph.microsoft.com/v1.0/$metadata#groups(id,displayName)"
        self.graph_batch(
            [
                (
                    f"/servicePrincipals/{p}/transitiveMemberOf/microsoft.graph.group?$select=id,displayName",
                    graph_refusal("00000000-0000-4000-8000-0000000000ab")
                    if refused
                    else {"@odata.context": context, "value": [{"id": g, "displayName": n} for g, n in groups_of[p]]},
                    403 if refused else 200,
                )
                for p in sorted(k.lower() for k in groups_of)
            ]
        )

    def group_members(self, members_of: dict[str, list[tuple[str, str, str]]]) -> None:
        """Record the batch that reads the members of groups granted roles: `GET /groups/{id}/transitiveMembers` per
        group, in sorted order (group-list-transitivemembers' shape, id and displayName selected); members are
        (id, display name, type: user, servicePrincipal or group)."""
        context = "https://graph.microsoft.com/v1.0/$metadata#directoryObjects(id,displayName)"
        self.graph_batch(
            [
                (
                    f"/groups/{g}/transitiveMembers?$select=id,displayName",
                    {
                        "@odata.context": context,
                        "value": [
                            {"@odata.type": f"#microsoft.graph.{kind}", "id": m, "displayName": name}
                            for m, name, kind in members_of[g]
                        ],
                    },
                    200,
                )
                for g in sorted(k.lower() for k in members_of)
            ]
        )

    def key(
        self,
        vault_id: str,
        key: str,
        *,
        location: str,
        size: int | None,
        versions: list[Version],
        policy: Json | None,
        kty: str = "RSA",
        host: str | None = None,
        arm_type: str = "Microsoft.KeyVault/vaults",
    ) -> None:
        """Record Keys_ListVersions then Keys_Get, as the collector reads a referenced key (a Managed HSM pool's key
        likewise: ManagedHsmKeys_ListVersions and ManagedHsmKeys_Get, with the pool's host and type)."""
        vault = vault_id.rstrip("/").rsplit("/", 1)[1]
        path = f"{vault_id}/keys/{key}"
        self.get(
            arm(f"{path}/versions", ApiVersion.KEYVAULT),
            key_versions_body(vault_id, vault, key, location=location, versions=versions, host=host, arm_type=arm_type),
        )
        self.get(
            arm(path, ApiVersion.KEYVAULT),
            key_body(
                vault_id,
                vault,
                key,
                location=location,
                kty=kty,
                size=size,
                created=versions[0][1],
                latest=versions[-1],
                policy=policy,
                host=host,
                arm_type=arm_type,
            ),
        )

    def local_rbac(self, hsm_uri: str, tenant: str, by_scope: dict[str, list[Json]], definitions: list[Json]) -> None:
        """Record a Managed HSM pool's local RBAC as the collector reads it (ListRoleAssignments-example.json and
        ListRoleDefinitions-example.json, 7.5): the pool first answers 401 with a challenge naming Managed HSM's
        audience, then the role assignments at each scope, then the role definitions."""
        base, version = hsm_uri.rstrip("/"), ApiVersion.KEYVAULT_DATA_PLANE.value
        first = True
        for scope, assignments in by_scope.items():
            prefix = "" if scope == "/" else scope
            uri = f"{base}{prefix}/providers/Microsoft.Authorization/roleAssignments?api-version={version}"
            if first:
                body, headers = key_vault_challenge(tenant, "https://managedhsm.azure.net")
                self.get(uri, body, status=401, headers=headers)
                first = False
            self.get(uri, {"value": assignments})
        uri = f"{base}/providers/Microsoft.Authorization/roleDefinitions?api-version={version}"
        self.get(uri, {"value": definitions})

    def rotation_policy(self, vault_uri: str, key: str, tenant: str, policy: Json | None, status: int = 200) -> None:
        """Record the data plane's GetKeyRotationPolicy (GetKeyRotationPolicy-example.json).

        Key Vault's data plane first answers 401 with a challenge naming the tenant and resource; the client
        then asks for a token and repeats the request. Both exchanges are recorded, as they happen.
        """
        uri = f"{vault_uri.rstrip('/')}/keys/{key}/rotationpolicy?api-version={ApiVersion.KEYVAULT_DATA_PLANE.value}"
        body, headers = key_vault_challenge(tenant)
        self.get(uri, body, status=401, headers=headers)
        if policy is not None:
            self.get(uri, {"id": uri.split("?")[0], **policy}, status=status)
            return
        vault = vault_uri.split("//")[1].split(".")[0]
        self.get(uri, key_vault_refusal(SCANNER_OBJECT_ID, tenant, vault, "uksouth"), status=403)

    def diagnostics(self, vault_id: str, settings: list[Json]) -> None:
        """Record DiagnosticSettings_List for a vault (listDiagnosticSettings.json)."""
        self.get(
            arm(f"{vault_id}/providers/Microsoft.Insights/diagnosticSettings", ApiVersion.DIAGNOSTIC_SETTINGS),
            {"value": settings},
        )

    def role_assignments(self, vault_id: str, assignments: list[Json]) -> None:
        """Record RoleAssignments_ListForScope on a vault (RoleAssignments_ListForScope.json)."""
        self.get(
            arm(f"{vault_id}/providers/Microsoft.Authorization/roleAssignments", ApiVersion.AUTHORIZATION),
            {"value": assignments},
        )

    def role_definition(
        self,
        definition_id: str,
        name: str,
        actions: list[str],
        data_actions: list[str],
        not_actions: list[str] | None = None,
    ) -> None:
        """Record RoleDefinitions_Get (GetRoleDefinitionByName.json) for a built-in role."""
        self.get(
            arm(definition_id, ApiVersion.AUTHORIZATION),
            role_definition_body(definition_id, name, actions, data_actions, not_actions),
        )

    def subscription(self, sub: str, tenant: str, name: str) -> None:
        """Record Subscriptions_Get, which the collector reads first for each scanned subscription."""
        self.get(
            arm(f"/subscriptions/{sub}", ApiVersion.SUBSCRIPTIONS),
            {
                "id": f"/subscriptions/{sub}",
                "authorizationSource": "RoleBased",
                "managedByTenants": [],
                "subscriptionId": sub,
                "tenantId": tenant,
                "displayName": name,
                "state": "Enabled",
                "subscriptionPolicies": {
                    "locationPlacementId": "Public_2014-09-01",
                    "quotaId": "EnterpriseAgreement_2014-09-01",
                    "spendingLimit": "Off",
                },
            },
        )

    def databricks(self, uri: str, body: object, status: int = 200) -> None:
        """Record a GET of the Databricks account API and its JSON answer."""
        self.interactions.append(
            {
                "request": {"body": None, "headers": {"Accept": ["application/json"]}, "method": "GET", "uri": uri},
                "response": {
                    "body": {"string": json.dumps(body, indent=1)},
                    "headers": {"Content-Type": ["application/json"]},
                    "status": {"code": status, "message": _REASONS[status]},
                },
            }
        )

    def kms(self, region: str, operation: str, request: Json, response: Json, status: int = 200) -> None:
        """Record one AWS KMS call as botocore sends it (JSON 1.1, X-Amz-Target) and KMS answers it."""
        self.interactions.append(
            {
                "request": {
                    "body": json.dumps(request),
                    "headers": {
                        "Content-Type": ["application/x-amz-json-1.1"],
                        "X-Amz-Target": [f"TrentService.{operation}"],
                    },
                    "method": "POST",
                    "uri": f"https://kms.{region}.amazonaws.com/",
                },
                "response": {
                    "body": {"string": json.dumps(response, indent=1)},
                    "headers": {
                        "Content-Type": ["application/x-amz-json-1.1"],
                        "x-amzn-RequestId": [f"00000000-0000-4000-9000-{len(self.interactions):012d}"],
                    },
                    "status": {"code": status, "message": _REASONS.get(status, "Bad Request")},
                },
            }
        )

    def iam(self, action: str, body: str, status: int = 200) -> None:
        """Record one IAM call as botocore sends it (Query protocol) and IAM answers it (XML)."""
        self.interactions.append(
            {
                "request": {
                    "body": f"Action={action}&Version=2010-05-08",
                    "headers": {"Content-Type": ["application/x-www-form-urlencoded; charset=utf-8"]},
                    "method": "POST",
                    "uri": "https://iam.amazonaws.com/",
                },
                "response": {
                    "body": {"string": body},
                    "headers": {"Content-Type": ["text/xml"]},
                    "status": {"code": status, "message": _REASONS.get(status, "Bad Request")},
                },
            }
        )

    def document(self) -> Json:
        """The cassette file's content."""
        return {"interactions": self.interactions, "version": 1}


_REASONS = {200: "OK", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found"}


def arm(path: str, api_version: ApiVersion, extra: str = "") -> str:
    """An ARM URI as the SDK sends it."""
    return f"{ARM}{path}?api-version={api_version.value}{extra}"


# --- resource bodies, shaped like the official examples ------------------------------------------


def workspace_body(
    sub: str,
    group: str,
    name: str,
    *,
    location: str,
    sku: str,
    tags: dict[str, str] | None,
    managed_group: str,
    storage_account: str,
    workspace_number: str,
    managed_services_key: tuple[str, str, str] | None = None,
    managed_disk_key: tuple[str, str, str] | None = None,
    disk_encryption_set: str | None = None,
    disk_principal: str | None = None,
    tenant: str,
    dbfs_key: tuple[str, str, str] | None = None,
    prepare_encryption: bool = False,
    storage_principal: str | None = None,
    disk_rotation_to_latest: bool = True,
    infrastructure: bool = False,
) -> Json:
    """A workspace as Workspaces_Get / ListBySubscription return it (2026-01-01).

    Keys are (vault URI, key name, key version). The DBFS root key uses the odd wire casing of
    EnableEncryption.json (`keyvaulturi`, `KeyName`, `keyversion`).
    """
    managed_rg_id = f"/subscriptions/{sub}/resourceGroups/{managed_group}"
    props: Json = {
        "authorizations": [
            {
                "principalId": "9a74af6f-d153-4348-988a-e2672920bee9",
                "roleDefinitionId": "8e3af657-a8ff-443c-a75c-2fe8c4bcb635",
            }
        ],
        "computeMode": "Hybrid",
        "createdBy": {
            "applicationId": "04b07795-8ddb-461a-bbee-02f9e1bf7b46",
            "oid": "7d1c2e3f-4a5b-4c6d-8e9f-0a1b2c3d4e5f",
            "puid": "10032001A2B3C4D5",
        },
        "createdDateTime": "2025-03-14T09:26:53.5897932Z",
        "isUcEnabled": True,
        "managedResourceGroupId": managed_rg_id,
        "provisioningState": "Succeeded",
        "uiDefinitionUri": "https://path/to/workspaceCreateUiDefinition.json",
        "updatedBy": {
            "applicationId": "04b07795-8ddb-461a-bbee-02f9e1bf7b46",
            "oid": "7d1c2e3f-4a5b-4c6d-8e9f-0a1b2c3d4e5f",
            "puid": "10032001A2B3C4D5",
        },
        "workspaceId": workspace_number,
        "workspaceUrl": f"adb-{workspace_number}.11.azuredatabricks.net",
    }
    parameters: Json = {
        "enableNoPublicIp": {"type": "Bool", "value": True},
        "prepareEncryption": {"type": "Bool", "value": prepare_encryption},
        "requireInfrastructureEncryption": {"type": "Bool", "value": infrastructure},
        "storageAccountName": {"type": "String", "value": storage_account},
        "storageAccountSkuName": {"type": "String", "value": "Standard_GRS"},
        "vnetAddressPrefix": {"type": "String", "value": "10.139"},
    }
    if dbfs_key is not None:
        parameters["encryption"] = {
            "type": "Object",
            "value": {
                "keySource": "Microsoft.Keyvault",
                "keyvaulturi": dbfs_key[0],
                "KeyName": dbfs_key[1],
                "keyversion": dbfs_key[2],
            },
        }
    props["parameters"] = parameters
    entities: Json = {}
    if managed_services_key is not None:
        entities["managedServices"] = {
            "keySource": "Microsoft.Keyvault",
            "keyVaultProperties": {
                "keyName": managed_services_key[1],
                "keyVaultUri": managed_services_key[0],
                "keyVersion": managed_services_key[2],
            },
        }
    if managed_disk_key is not None:
        entities["managedDisk"] = {
            "keySource": "Microsoft.Keyvault",
            "keyVaultProperties": {
                "keyName": managed_disk_key[1],
                "keyVaultUri": managed_disk_key[0],
                "keyVersion": managed_disk_key[2],
            },
            "rotationToLatestKeyVersionEnabled": disk_rotation_to_latest,
        }
        props["diskEncryptionSetId"] = (
            f"{managed_rg_id}/providers/Microsoft.Compute/diskEncryptionSets/{disk_encryption_set}"
        )
        props["managedDiskIdentity"] = {
            "type": "SystemAssigned",
            "principalId": disk_principal,
            "tenantId": tenant,
        }
    if entities:
        props["encryption"] = {"entities": entities}
    if prepare_encryption:
        props["storageAccountIdentity"] = {
            "principalId": storage_principal,
            "tenantId": tenant,
            "type": "SystemAssigned",
        }
    return {
        "name": name,
        "type": "Microsoft.Databricks/workspaces",
        "id": f"/subscriptions/{sub}/resourceGroups/{group}/providers/Microsoft.Databricks/workspaces/{name}",
        "location": location,
        "properties": props,
        "sku": {"name": sku},
        "tags": tags,
    }


def access_policy(
    tenant: str,
    object_id: str,
    keys: list[str],
    secrets: list[str] | None = None,
    certificates: list[str] | None = None,
) -> Json:
    """An access policy entry as in listVaultBySubscription.json."""
    permissions: Json = {"keys": keys}
    if secrets is not None:
        permissions["secrets"] = secrets
    if certificates is not None:
        permissions["certificates"] = certificates
    return {"objectId": object_id, "permissions": permissions, "tenantId": tenant}


def vault_body(
    sub: str,
    group: str,
    name: str,
    *,
    location: str,
    tenant: str,
    policies: list[Json],
    soft_delete_days: int | None,
    purge_protection: bool | None,
    public_network_access: str = "Enabled",
    network_acls: Json | None = None,
    rbac: bool = False,
) -> Json:
    """A vault as Vaults_ListBySubscription returns it (2026-02-01); networkAcls as in createVault.json."""
    props: Json = {
        "accessPolicies": policies,
        "enableRbacAuthorization": rbac,
        "enableSoftDelete": True,
        "enabledForDeployment": False,
        "enabledForDiskEncryption": True,
        "enabledForTemplateDeployment": False,
        "provisioningState": "Succeeded",
        "publicNetworkAccess": public_network_access,
        "sku": {"family": "A", "name": "premium"},
        "tenantId": tenant,
        "vaultUri": f"https://{name}.vault.azure.net/",
    }
    if soft_delete_days is not None:
        props["softDeleteRetentionInDays"] = soft_delete_days
    if purge_protection is not None:
        props["enablePurgeProtection"] = purge_protection
    if network_acls is not None:
        props["networkAcls"] = network_acls
    return {
        "name": name,
        "type": "Microsoft.KeyVault/vaults",
        "id": f"/subscriptions/{sub}/resourceGroups/{group}/providers/Microsoft.KeyVault/vaults/{name}",
        "location": location,
        "properties": props,
        "systemData": {
            "createdAt": "2025-02-03T10:00:00.0000000Z",
            "createdBy": "platform-team@contoso.example",
            "createdByType": "User",
            "lastModifiedAt": "2025-02-03T10:00:00.0000000Z",
            "lastModifiedBy": "platform-team@contoso.example",
            "lastModifiedByType": "User",
        },
        "tags": {},
    }


def role_definition_body(
    definition_id: str, name: str, actions: list[str], data_actions: list[str], not_actions: list[str] | None = None
) -> Json:
    """A built-in role as RoleDefinitions_Get returns it (GetRoleDefinitionByName.json)."""
    return {
        "properties": {
            "roleName": name,
            "type": "BuiltInRole",
            "description": f"{name} (built-in role)",
            "assignableScopes": ["/"],
            "permissions": [
                {
                    "actions": actions,
                    "notActions": not_actions or [],
                    "dataActions": data_actions,
                    "notDataActions": [],
                }
            ],
        },
        "id": definition_id,
        "type": "Microsoft.Authorization/roleDefinitions",
        "name": definition_id.rsplit("/", 1)[-1],
    }


def graph_refusal(request_id: str) -> Json:
    """Microsoft Graph's 403 when the caller lacks the permission (Application.Read.All, GroupMember.Read.All)."""
    return {
        "error": {
            "code": "Authorization_RequestDenied",
            "message": "Insufficient privileges to complete the operation.",
            "innerError": {"date": "2026-11-01T12:00:00", "request-id": request_id},
        }
    }


def key_vault_challenge(tenant: str, resource: str = "https://vault.azure.net") -> tuple[Json, dict[str, str]]:
    """Key Vault's answer to a request without a token: 401 with the challenge naming tenant and resource."""
    challenge = f'Bearer authorization="https://login.microsoftonline.com/{tenant}", resource="{resource}"'
    body = {"error": {"code": "Unauthorized", "message": "AKV10000: Request is missing a Bearer or PoP token."}}
    return body, {"WWW-Authenticate": challenge}


def managed_hsm_body(
    sub: str,
    group: str,
    name: str,
    *,
    location: str,
    tenant: str,
    purge_protection: bool,
    soft_delete_days: int = 90,
    public_network_access: str = "Enabled",
    network_acls: Json | None = None,
) -> Json:
    """A Managed HSM pool as ManagedHsms_ListBySubscription returns it (ManagedHsm_Get.json, 2026-02-01; the pool's
    `publicNetworkAccess` and `networkAcls` as the same API version's ManagedHsmProperties define them)."""
    props: Json = {
        "enablePurgeProtection": purge_protection,
        "enableSoftDelete": True,
        "hsmUri": f"https://{name}.managedhsm.azure.net",
        "initialAdminObjectIds": [BREAK_GLASS],
        "provisioningState": "Succeeded",
        "publicNetworkAccess": public_network_access,
        "softDeleteRetentionInDays": soft_delete_days,
        "statusMessage": "ManagedHsm is functional.",
        "tenantId": tenant,
    }
    if network_acls is not None:
        props["networkAcls"] = network_acls
    return {
        "name": name,
        "type": "Microsoft.KeyVault/managedHSMs",
        "id": f"/subscriptions/{sub}/resourceGroups/{group}/providers/Microsoft.KeyVault/managedHSMs/{name}",
        "location": location,
        "properties": props,
        "sku": {"name": "Standard_B1", "family": "B"},
        "tags": {},
    }


BREAK_GLASS = "7e8f9a0b-1c2d-4e3f-8a4b-5c6d7e8f9a0b"
"""The break-glass principal of the generated tenants: a Managed HSM pool's initial administrator."""

_HSM = "Microsoft.KeyVault/managedHsm"
HSM_ROLES: dict[str, tuple[str, list[str]]] = {
    "33413926-3206-4cdd-b39a-83574fe37a17": (
        "Managed HSM Crypto Service Encryption User",
        [f"{_HSM}/keys/read/action", f"{_HSM}/keys/wrap/action", f"{_HSM}/keys/unwrap/action"],
    ),
    "21dbd100-6940-42c2-9190-5d6cb909625b": (
        "Managed HSM Crypto User",
        [
            f"{_HSM}/keys/read/action",
            f"{_HSM}/keys/write/action",
            f"{_HSM}/keys/create",
            f"{_HSM}/keys/delete",
            f"{_HSM}/keys/import/action",
            f"{_HSM}/keys/backup/action",
            f"{_HSM}/keys/restore/action",
            f"{_HSM}/keys/encrypt/action",
            f"{_HSM}/keys/decrypt/action",
            f"{_HSM}/keys/wrap/action",
            f"{_HSM}/keys/unwrap/action",
            f"{_HSM}/keys/sign/action",
            f"{_HSM}/keys/verify/action",
            f"{_HSM}/keys/deletedKeys/read/action",
            f"{_HSM}/roleAssignments/read/action",
            f"{_HSM}/roleDefinitions/read/action",
            f"{_HSM}/rng/action",
        ],
    ),
    "515eb02d-2335-4d2d-92f2-b1cbdf9c3778": (
        "Managed HSM Crypto Officer",
        [
            f"{_HSM}/keys/deletedKeys/delete",
            f"{_HSM}/keys/deletedKeys/read/action",
            f"{_HSM}/keys/deletedKeys/recover/action",
            f"{_HSM}/keys/export/action",
            f"{_HSM}/roleAssignments/delete/action",
            f"{_HSM}/roleAssignments/read/action",
            f"{_HSM}/roleAssignments/write/action",
            f"{_HSM}/roleDefinitions/read/action",
            f"{_HSM}/roleDefinitions/write/action",
            f"{_HSM}/roleDefinitions/delete/action",
        ],
    ),
    "a290e904-7015-4bba-90c8-60543313cdb4": (
        "Managed HSM Administrator",
        [
            f"{_HSM}/roleAssignments/delete/action",
            f"{_HSM}/roleAssignments/read/action",
            f"{_HSM}/roleAssignments/write/action",
            f"{_HSM}/roleDefinitions/read/action",
            f"{_HSM}/roleDefinitions/write/action",
            f"{_HSM}/roleDefinitions/delete/action",
            f"{_HSM}/securitydomain/download/action",
            f"{_HSM}/securitydomain/download/read",
            f"{_HSM}/securitydomain/upload/action",
            f"{_HSM}/securitydomain/upload/read",
            f"{_HSM}/securitydomain/transferkey/read",
            f"{_HSM}/backup/start/action",
            f"{_HSM}/restore/start/action",
            f"{_HSM}/backup/status/action",
            f"{_HSM}/restore/status/action",
        ],
    ),
    "2c18b078-7c48-4d3a-af88-5a3a1b3f82b3": (
        "Managed HSM Crypto Auditor",
        [
            f"{_HSM}/keys/read/action",
            f"{_HSM}/keys/deletedKeys/read/action",
            f"{_HSM}/roleAssignments/read/action",
            f"{_HSM}/roleDefinitions/read/action",
        ],
    ),
}
"""Built-in local roles of a Managed HSM pool, with the data actions the fixtures give them (after the role table
of Azure's Managed HSM documentation)."""
HSM_ROLE_DEFINITION = "Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/{}"
HSM_ADMINISTRATOR = "a290e904-7015-4bba-90c8-60543313cdb4"


def hsm_role_assignment(scope: str, name: str, role: str, principal: str) -> Json:
    """A Managed HSM local role assignment (ListRoleAssignments-example.json, 7.5): `scope` is `/`, `/keys` or
    `/keys/{name}`; `role` a role definition GUID."""
    prefix = "" if scope == "/" else scope
    return {
        "properties": {
            "roleDefinitionId": HSM_ROLE_DEFINITION.format(role),
            "principalId": principal,
            "scope": scope,
        },
        "id": f"{prefix}/providers/Microsoft.Authorization/roleAssignments/{name}",
        "type": "Microsoft.Authorization/roleAssignments",
        "name": name,
    }


def hsm_role_definition(
    role: str, name: str, data_actions: list[str], not_data_actions: list[str] | None = None
) -> Json:
    """A Managed HSM local role definition (ListRoleDefinitions-example.json, 7.5)."""
    return {
        "properties": {
            "roleName": name,
            "type": "AKVBuiltInRole",
            "description": name,
            "assignableScopes": ["/"],
            "permissions": [
                {
                    "actions": [],
                    "notActions": [],
                    "dataActions": data_actions,
                    "notDataActions": not_data_actions or [],
                }
            ],
        },
        "id": HSM_ROLE_DEFINITION.format(role),
        "type": "Microsoft.Authorization/roleDefinitions",
        "name": role,
    }


def managed_hsm_refusal(principal: str, tenant: str, action: str) -> Json:
    """A Managed HSM pool's 403 body when the caller's local roles do not allow `action` (a data action)."""
    return {
        "error": {
            "code": "Forbidden",
            "message": (
                "Caller is not authorized to perform action on resource.\r\n"
                f"Caller: appid={principal};oid={principal};iss=https://sts.windows.net/{tenant}/\r\n"
                f"Action: '{action}'\r\nResource: '/'"
            ),
            "innererror": {"code": "AccessDenied"},
        }
    }


def key_vault_refusal(principal: str, tenant: str, vault: str, location: str) -> Json:
    """Key Vault's 403 body when the caller may not read a key's rotation policy."""
    return {
        "error": {
            "code": "Forbidden",
            "message": (
                f"The user, group or application 'appid={principal};oid={principal};"
                f"iss=https://sts.windows.net/{tenant}/' does not have keys getrotationpolicy permission on "
                f"key vault '{vault};location={location}'. For help resolving this issue, please see "
                "https://go.microsoft.com/fwlink/?linkid=2125287"
            ),
            "innererror": {"code": "AccessDenied"},
        }
    }


def rotation_policy(rotate_after: str | None, notify_before: str = "P30D", expiry: str = "P2Y") -> Json:
    """A rotation policy in the data-plane example's shape (GetKeyRotationPolicy-example.json)."""
    actions: list[Json] = []
    if rotate_after is not None:
        actions.append({"trigger": {"timeAfterCreate": rotate_after}, "action": {"type": "Rotate"}})
    actions.append({"trigger": {"timeBeforeExpiry": notify_before}, "action": {"type": "Notify"}})
    return {
        "attributes": {"created": 1738576800, "updated": 1738576800, "expiryTime": expiry},
        "lifetimeActions": actions,
    }


def key_body(
    vault_id: str,
    vault: str,
    name: str,
    *,
    location: str,
    kty: str,
    size: int | None,
    created: int,
    latest: Version,
    policy: Json | None,
    host: str | None = None,
    arm_type: str = "Microsoft.KeyVault/vaults",
) -> Json:
    """A key as Keys_Get returns it (getKey.json): attributes of the latest version, rotation policy when set. A
    Managed HSM key (ManagedHsmKeys_Get, managedHsmGetKey.json) has the same shape under the pool's id and host."""
    host = host or f"{vault}.vault.azure.net:443"
    attributes: Json = {"created": created, "enabled": True, "recoveryLevel": "Recoverable", "updated": latest[1]}
    if latest[2] is not None:
        attributes["exp"] = latest[2]
    props: Json = {
        "attributes": attributes,
        "keyOps": ["wrapKey", "unwrapKey"] if kty.startswith("RSA") else ["sign", "verify"],
        "keyUri": f"https://{host}/keys/{name}",
        "keyUriWithVersion": f"https://{host}/keys/{name}/{latest[0]}",
        "kty": kty,
    }
    if size is not None:
        props["keySize"] = size
    else:
        props["curveName"] = "P-256"
    if policy is not None:
        props["rotationPolicy"] = policy
    return {
        "name": name,
        "type": f"{arm_type}/keys",
        "id": f"{vault_id}/keys/{name}",
        "location": location,
        "properties": props,
    }


def _version_attributes(created: int, expires: int | None) -> Json:
    attributes: Json = {"enabled": True, "created": created, "updated": created, "recoveryLevel": "Recoverable"}
    if expires is not None:
        attributes["exp"] = expires
    return attributes


def key_versions_body(
    vault_id: str,
    vault: str,
    name: str,
    *,
    location: str,
    versions: list[Version],
    host: str | None = None,
    arm_type: str = "Microsoft.KeyVault/vaults",
) -> Json:
    """Keys_ListVersions (listKeyVersions.json): one entry per version (ManagedHsmKeys_ListVersions alike)."""
    host = host or f"{vault}.vault.azure.net:443"
    return {
        "value": [
            {
                "id": f"{vault_id}/keys/{name}/versions/{version}",
                "name": version,
                "type": f"{arm_type}/keys/versions",
                "location": location,
                "properties": {
                    "attributes": _version_attributes(created, expires),
                    "keyUri": f"https://{host}/keys/{name}",
                    "keyUriWithVersion": f"https://{host}/keys/{name}/{version}",
                },
            }
            for version, created, expires in versions
        ]
    }


def key_version_body(
    vault_id: str, vault: str, name: str, *, location: str, version: Version, kty: str, size: int
) -> Json:
    """One version as Keys_GetVersion returns it (getKeyVersion.json): its attributes, type and size."""
    number, created, expires = version
    return {
        "name": number,
        "type": "Microsoft.KeyVault/vaults/keys/versions",
        "id": f"{vault_id}/keys/{name}/versions/{number}",
        "location": location,
        "properties": {
            "attributes": _version_attributes(created, expires),
            "keyOps": ["wrapKey", "unwrapKey"],
            "keySize": size,
            "keyUri": f"https://{vault}.vault.azure.net:443/keys/{name}",
            "keyUriWithVersion": f"https://{vault}.vault.azure.net:443/keys/{name}/{number}",
            "kty": kty,
        },
    }


def disk_encryption_set_body(
    sub: str,
    group: str,
    name: str,
    *,
    location: str,
    key_url: str,
    source_vault_id: str | None,
    principal: str,
    tenant: str,
    auto_rotation: bool = True,
) -> Json:
    """A disk encryption set as DiskEncryptionSets_List returns it (2025-01-02)."""
    active: Json = {"keyUrl": key_url}
    if source_vault_id is not None:
        active["sourceVault"] = {"id": source_vault_id}
    return {
        "identity": {"type": "SystemAssigned", "principalId": principal, "tenantId": tenant},
        "properties": {
            "activeKey": active,
            "encryptionType": "EncryptionAtRestWithCustomerKey",
            "previousKeys": [],
            "provisioningState": "Succeeded",
            "rotationToLatestKeyVersionEnabled": auto_rotation,
            "lastKeyRotationTimestamp": "2026-09-15T04:41:35.079872+00:00",
        },
        "type": "Microsoft.Compute/diskEncryptionSets",
        "location": location,
        "tags": {},
        "id": f"/subscriptions/{sub}/resourceGroups/{group}/providers/Microsoft.Compute/diskEncryptionSets/{name}",
        "name": name,
    }


def storage_account_body(
    sub: str,
    group: str,
    name: str,
    *,
    location: str,
    principal: str | None,
    tenant: str,
    key: tuple[str, str, str] | None,
    infrastructure: bool,
) -> Json:
    """A storage account as StorageAccounts_List returns it (StorageAccountGetPropertiesCMKEnabled.json)."""
    encryption: Json = {
        "services": {
            "file": {
                "keyType": "Account",
                "enabled": True,
                "lastEnabledTime": "2025-03-14T09:27:31.7036140Z",
            },
            "blob": {
                "keyType": "Account",
                "enabled": True,
                "lastEnabledTime": "2025-03-14T09:27:31.7036140Z",
            },
        },
        "keySource": "Microsoft.Storage",
        "requireInfrastructureEncryption": infrastructure,
    }
    if key is not None:
        vault_uri, key_name, version = key
        encryption["keySource"] = "Microsoft.Keyvault"
        encryption["keyvaultproperties"] = {
            "keyvaulturi": vault_uri.rstrip("/"),
            "keyname": key_name,
            "keyversion": "",
            "currentVersionedKeyIdentifier": f"{vault_uri.rstrip('/')}/keys/{key_name}/{version}",
            "lastKeyRotationTimestamp": "2025-08-02T04:41:35.0798720Z",
        }
    body: Json = {
        "id": f"/subscriptions/{sub}/resourceGroups/{group}/providers/Microsoft.Storage/storageAccounts/{name}",
        "kind": "StorageV2",
        "location": location,
        "name": name,
        "properties": {
            "isHnsEnabled": True,
            "creationTime": "2025-03-14T09:27:31.7633306Z",
            "networkAcls": {
                "bypass": "AzureServices",
                "defaultAction": "Deny",
                "ipRules": [],
                "virtualNetworkRules": [],
                "resourceAccessRules": [],
            },
            "primaryEndpoints": {
                "dfs": f"https://{name}.dfs.core.windows.net/",
                "blob": f"https://{name}.blob.core.windows.net/",
            },
            "primaryLocation": location,
            "provisioningState": "Succeeded",
            "encryption": encryption,
            "statusOfPrimary": "available",
            "supportsHttpsTrafficOnly": True,
        },
        "sku": {"name": "Standard_GRS", "tier": "Standard"},
        "tags": {"application": "databricks", "databricks-environment": "true"},
        "type": "Microsoft.Storage/storageAccounts",
    }
    if principal is not None:
        body["identity"] = {"principalId": principal, "tenantId": tenant, "type": "SystemAssigned"}
    return body


def diagnostic_setting(vault_id: str, name: str, *, logs: list[Json], workspace: str = "", storage: str = "") -> Json:
    """One diagnostic setting as in listDiagnosticSettings.json (an unset destination is an empty string)."""
    return {
        "id": f"{vault_id}/providers/microsoft.insights/diagnosticSettings/{name}",
        "type": "Microsoft.Insights/diagnosticSettings",
        "name": name,
        "properties": {
            "storageAccountId": storage or None,
            "workspaceId": workspace,
            "metrics": [{"category": "AllMetrics", "enabled": True, "retentionPolicy": {"enabled": False, "days": 0}}],
            "logs": logs,
            "logAnalyticsDestinationType": None,
        },
    }


def audit_logs(group: str = "audit") -> list[Json]:
    """A logs list enabling a category group."""
    return [{"categoryGroup": group, "enabled": True, "retentionPolicy": {"enabled": False, "days": 0}}]


LOG_ANALYTICS = (
    "/subscriptions/6f1e2d3c-4b5a-4978-8a6b-5c4d3e2f1a0b/resourceGroups/rg-monitoring/providers/"
    "Microsoft.OperationalInsights/workspaces/law-security"
)


def role_assignment(scope: str, principal: str, principal_type: str, definition_id: str, name: str) -> Json:
    """One role assignment as RoleAssignments_ListForScope returns it."""
    return {
        "properties": {
            "roleDefinitionId": definition_id,
            "principalId": principal,
            "principalType": principal_type,
            "scope": scope,
        },
        "id": f"{scope}/providers/Microsoft.Authorization/roleAssignments/{name}",
        "type": "Microsoft.Authorization/roleAssignments",
        "name": name,
    }


CSEU = "e147488a-f6f5-4113-8e2d-b22465e65bf6"
CRYPTO_OFFICER = "14b46e9e-c2b7-41b4-b07b-48a6ebf60603"
READER = "acdd72a7-3385-48ef-bd42-f606fba81ae7"
CONTRIBUTOR = "b24988ac-6180-42a0-ab88-20f7382dd24c"
KEY_CUSTODIANS = "9e8f7a6b-5c4d-4e3f-8a2b-1c0d9e8f7a6b"
CONTRIBUTOR_NOT_ACTIONS = [
    "Microsoft.Authorization/*/Delete",
    "Microsoft.Authorization/*/Write",
    "Microsoft.Authorization/elevateAccess/Action",
    "Microsoft.Blueprint/blueprintAssignments/write",
    "Microsoft.Blueprint/blueprintAssignments/delete",
    "Microsoft.Compute/galleries/share/action",
    "Microsoft.Purview/consents/write",
    "Microsoft.Purview/consents/delete",
    "Microsoft.Resources/deploymentStacks/manageDenySetting/action",
    "Microsoft.Subscription/cancel/action",
    "Microsoft.Subscription/enable/action",
]
"""The built-in Contributor role's notActions: everything but assigning roles (and a few others)."""


def reader_and_contributor(c: Cassette, sub: str) -> None:
    """Record the definitions of the built-in Reader and Contributor roles, read through `sub`."""
    definitions = f"/subscriptions/{sub}/providers/Microsoft.Authorization/roleDefinitions"
    c.role_definition(f"{definitions}/{READER}", "Reader", ["*/read"], [])
    c.role_definition(f"{definitions}/{CONTRIBUTOR}", "Contributor", ["*"], [], CONTRIBUTOR_NOT_ACTIONS)


def databricks_service_principal(object_id: str) -> Json:
    """Microsoft Graph GET /v1.0/servicePrincipals(appId='...') with $select=id,appId,displayName."""
    return {
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#servicePrincipals(id,appId,displayName)/$entity",
        "id": object_id,
        "appId": AZURE_DATABRICKS_APP_ID,
        "displayName": "AzureDatabricks",
    }


def graph_lookup_uri() -> str:
    """The Graph request the collector sends for the AzureDatabricks service principal."""
    return f"{GRAPH}/v1.0/servicePrincipals(appId='{AZURE_DATABRICKS_APP_ID}')?$select=id,appId,displayName"


def list_uri(sub: str, provider_path: str, api_version: ApiVersion) -> str:
    """A per-subscription list URI."""
    return arm(f"/subscriptions/{sub}/providers/{provider_path}", api_version)


# --- scenario: the demo tenant --------------------------------------------------------------------

DEMO_TENANT = "0d4f6a8b-2c1e-4b3d-9e5f-7a8b9c0d1e2f"
DEMO_SUB = "6f1e2d3c-4b5a-4978-8a6b-5c4d3e2f1a0b"
DEMO_DATABRICKS_SP = "4a5b6c7d-8e9f-4a0b-9c1d-2e3f4a5b6c7d"
PLATFORM_ADMINS = "c0ffee00-1111-4222-8333-444455556666"
ANALYTICS_DEPLOYER = "d1e2f3a4-b5c6-4d7e-8f90-a1b2c3d4e5f6"


def epoch(day: str) -> int:
    """Epoch seconds of a UTC date, as Key Vault's management plane writes times."""
    return int(datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp())


def demo_tenant() -> Cassette:
    """Four workspaces, recorded at DEMO_RECORDED_AT.

    - dbw-finance-prod: fully compliant.
    - dbw-analytics-dev: typical. Managed services and disks on a pinned, old key version that expires
      soon, in a vault in another region with 7-day retention, no purge protection, open networks and
      over-broad access policies; disks not following the latest version; DBFS root on Microsoft keys;
      tagged confidential.
    - dbw-analytics-test: shares the dev vault, with an EC key for managed services.
    - dbw-sandbox: Standard tier, nothing.
    - dbw-risk-prod: every scope on a key in a Managed HSM pool, protected and granted as it should be, except
      that the platform team's group is the pool's Administrator (it may grant itself key administration).
    """
    c = Cassette()
    sub, tenant = DEMO_SUB, DEMO_TENANT
    hsm_id = (
        f"/subscriptions/{sub}/resourceGroups/rg-risk-prod/providers/Microsoft.KeyVault/managedHSMs/hsm-contoso-risk"
    )
    hsm_uri, hsm_host = "https://hsm-contoso-risk.managedhsm.azure.net/", "hsm-contoso-risk.managedhsm.azure.net"
    risk_versions: list[Version] = [
        ("0a1b2c3d4e5f40718293a4b5c6d7e8f9", epoch("2026-06-05"), epoch("2028-06-04")),
        ("f9e8d7c6b5a44938271605f4e3d2c1b0", epoch("2026-09-03"), epoch("2028-09-02")),
    ]
    risk_v = risk_versions[-1][0]
    risk_des_principal, risk_st_principal = (
        "7081920a-3b4c-4d5e-8f60-718293a4b5c6",
        "8192a0b1-4c5d-4e6f-9071-8293a4b5c6d7",
    )
    c.subscription(sub, tenant, "Contoso Data Platform")
    fin_vault_id = (
        f"/subscriptions/{sub}/resourceGroups/rg-finance-prod/providers/Microsoft.KeyVault/vaults/kv-finance-prod"
    )
    ana_vault_id = (
        f"/subscriptions/{sub}/resourceGroups/rg-analytics-dev/providers/Microsoft.KeyVault/vaults/kv-analytics-dev"
    )
    fin_uri, ana_uri = "https://kv-finance-prod.vault.azure.net/", "https://kv-analytics-dev.vault.azure.net/"
    fin_versions: list[Version] = [
        ("5d4c3b2a19084f7e6d5c4b3a29180f7e", epoch("2026-03-19"), epoch("2028-03-18")),
        ("a0b1c2d3e4f5461728394a5b6c7d8e9f", epoch("2026-06-17"), epoch("2028-06-16")),
        ("1c7e2a9b4d3f4e5a8b6c0d1e2f3a4b5c", epoch("2026-09-15"), epoch("2028-09-14")),
    ]
    fin_v = fin_versions[-1][0]
    ana_v: Version = ("8f0e1d2c3b4a49586776a5b4c3d2e1f0", epoch("2025-03-14"), epoch("2026-11-20"))
    test_v: Version = ("3e2d1c0b9a8f47e6d5c4b3a291807f6e", epoch("2026-10-01"), None)
    fin_des_principal, fin_st_principal = "2b3c4d5e-6f70-4182-93a4-b5c6d7e8f901", "3c4d5e6f-7081-4293-a4b5-c6d7e8f90a12"
    ana_des_principal, ana_st_principal = "5e6f7081-9203-44b5-86c7-d8e9fa0b1c23", "6f708192-0314-45c6-97d8-e9fa0b1c2d34"

    c.get(
        list_uri(sub, "Microsoft.Databricks/workspaces", ApiVersion.DATABRICKS),
        {
            "value": [
                workspace_body(
                    sub,
                    "rg-finance-prod",
                    "dbw-finance-prod",
                    location="westeurope",
                    sku="premium",
                    tags={"environment": "prod", "data-classification": "confidential", "owner": "finance-data"},
                    managed_group="rg-finance-prod-managed",
                    storage_account="dbstoragefinprod01",
                    workspace_number="1480523612894471",
                    managed_services_key=(fin_uri, "cmk-finance", ""),
                    managed_disk_key=(fin_uri, "cmk-finance", ""),
                    disk_encryption_set="dbdiskencryptionset-finance",
                    disk_principal=fin_des_principal,
                    tenant=tenant,
                    dbfs_key=(fin_uri, "cmk-finance", ""),
                    prepare_encryption=True,
                    storage_principal=fin_st_principal,
                    infrastructure=True,
                ),
                workspace_body(
                    sub,
                    "rg-analytics-dev",
                    "dbw-analytics-dev",
                    location="westeurope",
                    sku="premium",
                    tags={"environment": "dev", "data-classification": "confidential", "owner": "analytics"},
                    managed_group="rg-analytics-dev-managed",
                    storage_account="dbstorageanadev02",
                    workspace_number="2719304857162380",
                    managed_services_key=(ana_uri, "cmk-analytics", ana_v[0]),
                    managed_disk_key=(ana_uri, "cmk-analytics", ana_v[0]),
                    disk_encryption_set="dbdiskencryptionset-analytics",
                    disk_principal=ana_des_principal,
                    tenant=tenant,
                    prepare_encryption=True,
                    storage_principal=ana_st_principal,
                    disk_rotation_to_latest=False,
                ),
                workspace_body(
                    sub,
                    "rg-analytics-test",
                    "dbw-analytics-test",
                    location="westeurope",
                    sku="premium",
                    tags={"environment": "test", "owner": "analytics"},
                    managed_group="rg-analytics-test-managed",
                    storage_account="dbstorageanatest04",
                    workspace_number="4051937262810457",
                    managed_services_key=(ana_uri, "cmk-analytics-test", ""),
                    tenant=tenant,
                ),
                workspace_body(
                    sub,
                    "rg-risk-prod",
                    "dbw-risk-prod",
                    location="westeurope",
                    sku="premium",
                    tags={"environment": "prod", "data-classification": "confidential", "owner": "risk"},
                    managed_group="rg-risk-prod-managed",
                    storage_account="dbstorageriskprod05",
                    workspace_number="5162738495061728",
                    managed_services_key=(hsm_uri, "cmk-risk", ""),
                    managed_disk_key=(hsm_uri, "cmk-risk", ""),
                    disk_encryption_set="dbdiskencryptionset-risk",
                    disk_principal=risk_des_principal,
                    tenant=tenant,
                    dbfs_key=(hsm_uri, "cmk-risk", ""),
                    prepare_encryption=True,
                    storage_principal=risk_st_principal,
                    infrastructure=True,
                ),
                workspace_body(
                    sub,
                    "rg-sandbox",
                    "dbw-sandbox",
                    location="northeurope",
                    sku="standard",
                    tags=None,
                    managed_group="rg-sandbox-managed",
                    storage_account="dbstoragesandbox03",
                    workspace_number="3306718249571936",
                    tenant=tenant,
                ),
            ]
        },
    )
    # Two pages, as Vaults_ListBySubscription pages with $skiptoken.
    next_link = list_uri(sub, "Microsoft.KeyVault/vaults", ApiVersion.KEYVAULT) + "&$skiptoken=a3YtZmluYW5jZS1wcm9k"
    c.get(
        list_uri(sub, "Microsoft.KeyVault/vaults", ApiVersion.KEYVAULT),
        {
            "nextLink": next_link,
            "value": [
                vault_body(
                    sub,
                    "rg-analytics-dev",
                    "kv-analytics-dev",
                    location="northeurope",
                    tenant=tenant,
                    soft_delete_days=7,
                    purge_protection=None,
                    policies=[
                        access_policy(
                            tenant, DEMO_DATABRICKS_SP, ["get", "wrapKey", "unwrapKey", "list", "encrypt", "decrypt"]
                        ),
                        access_policy(tenant, ana_des_principal, ["get", "unwrapKey"], secrets=["get"]),
                        access_policy(
                            tenant,
                            PLATFORM_ADMINS,
                            [
                                "get",
                                "list",
                                "create",
                                "update",
                                "import",
                                "delete",
                                "backup",
                                "restore",
                                "recover",
                                "purge",
                            ],
                            secrets=["get", "list", "set", "delete"],
                            certificates=["get", "list"],
                        ),
                    ],
                )
            ],
        },
    )
    c.get(
        next_link,
        {
            "value": [
                vault_body(
                    sub,
                    "rg-finance-prod",
                    "kv-finance-prod",
                    location="westeurope",
                    tenant=tenant,
                    soft_delete_days=90,
                    purge_protection=True,
                    public_network_access="Disabled",
                    network_acls={
                        "bypass": "AzureServices",
                        "defaultAction": "Deny",
                        "ipRules": [],
                        "virtualNetworkRules": [],
                    },
                    policies=[
                        access_policy(tenant, DEMO_DATABRICKS_SP, ["get", "wrapKey", "unwrapKey"]),
                        access_policy(tenant, fin_des_principal, ["Get", "WrapKey", "UnwrapKey"]),
                        access_policy(
                            tenant, fin_st_principal, ["get", "wrapKey", "unwrapKey"], secrets=[], certificates=[]
                        ),
                        access_policy(
                            tenant,
                            PLATFORM_ADMINS,
                            ["get", "list", "create", "update", "import", "delete", "backup", "restore", "recover"],
                        ),
                    ],
                )
            ]
        },
    )
    c.get(
        list_uri(sub, "Microsoft.Compute/diskEncryptionSets", ApiVersion.COMPUTE_DISK),
        {
            "value": [
                disk_encryption_set_body(
                    sub,
                    "rg-analytics-dev-managed",
                    "dbdiskencryptionset-analytics",
                    location="westeurope",
                    key_url=f"{ana_uri}keys/cmk-analytics/{ana_v[0]}",
                    source_vault_id=ana_vault_id,
                    principal=ana_des_principal,
                    tenant=tenant,
                    auto_rotation=False,
                ),
                disk_encryption_set_body(
                    sub,
                    "rg-finance-prod-managed",
                    "dbdiskencryptionset-finance",
                    location="westeurope",
                    key_url=f"{fin_uri}keys/cmk-finance/{fin_v}",
                    source_vault_id=fin_vault_id,
                    principal=fin_des_principal,
                    tenant=tenant,
                ),
                disk_encryption_set_body(
                    sub,
                    "rg-risk-prod-managed",
                    "dbdiskencryptionset-risk",
                    location="westeurope",
                    key_url=f"{hsm_uri}keys/cmk-risk/{risk_v}",
                    source_vault_id=hsm_id,
                    principal=risk_des_principal,
                    tenant=tenant,
                ),
            ]
        },
    )
    c.get(
        list_uri(sub, "Microsoft.Storage/storageAccounts", ApiVersion.STORAGE),
        {
            "value": [
                storage_account_body(
                    sub,
                    "rg-analytics-dev-managed",
                    "dbstorageanadev02",
                    location="westeurope",
                    principal=ana_st_principal,
                    tenant=tenant,
                    key=None,
                    infrastructure=False,
                ),
                storage_account_body(
                    sub,
                    "rg-analytics-test-managed",
                    "dbstorageanatest04",
                    location="westeurope",
                    principal=None,
                    tenant=tenant,
                    key=None,
                    infrastructure=False,
                ),
                storage_account_body(
                    sub,
                    "rg-finance-prod-managed",
                    "dbstoragefinprod01",
                    location="westeurope",
                    principal=fin_st_principal,
                    tenant=tenant,
                    key=(fin_uri, "cmk-finance", fin_v),
                    infrastructure=True,
                ),
                storage_account_body(
                    sub,
                    "rg-risk-prod-managed",
                    "dbstorageriskprod05",
                    location="westeurope",
                    principal=risk_st_principal,
                    tenant=tenant,
                    key=(hsm_uri, "cmk-risk", risk_v),
                    infrastructure=True,
                ),
                storage_account_body(
                    sub,
                    "rg-sandbox-managed",
                    "dbstoragesandbox03",
                    location="northeurope",
                    principal=None,
                    tenant=tenant,
                    key=None,
                    infrastructure=False,
                ),
                storage_account_body(
                    sub,
                    "rg-finance-prod",
                    "stfinancelanding",
                    location="westeurope",
                    principal=None,
                    tenant=tenant,
                    key=None,
                    infrastructure=False,
                ),
            ]
        },
    )
    c.key(
        ana_vault_id, "cmk-analytics", location="northeurope", size=2048, versions=[ana_v], policy=rotation_policy(None)
    )
    c.key(
        ana_vault_id,
        "cmk-analytics-test",
        location="northeurope",
        size=None,
        versions=[test_v],
        policy=None,  # Resource Manager leaves it out: the data plane has it
        kty="EC",
    )
    c.rotation_policy(ana_uri, "cmk-analytics-test", tenant, rotation_policy("P90D"))
    c.key(
        fin_vault_id,
        "cmk-finance",
        location="westeurope",
        size=3072,
        versions=fin_versions,
        policy=rotation_policy("P90D"),
        kty="RSA-HSM",
    )
    # Who holds roles on the vaults (inherited ones included): the platform team reads the subscription; on the dev
    # vault's resource group, the analytics deployment pipeline is Contributor, so it could write itself an access
    # policy with purge.
    definitions = f"/subscriptions/{sub}/providers/Microsoft.Authorization/roleDefinitions"
    platform_readers = role_assignment(
        f"/subscriptions/{sub}",
        PLATFORM_ADMINS,
        "Group",
        f"{definitions}/{READER}",
        "7a8b9c0d-1e2f-4a3b-8c4d-5e6f7a8b9c0d",
    )
    c.role_assignments(fin_vault_id, [platform_readers])
    c.role_assignments(
        ana_vault_id,
        [
            platform_readers,
            role_assignment(
                f"/subscriptions/{sub}/resourceGroups/rg-analytics-dev",
                ANALYTICS_DEPLOYER,
                "ServicePrincipal",
                f"{definitions}/{CONTRIBUTOR}",
                "8b9c0d1e-2f3a-4b4c-9d5e-6f7a8b9c0d1e",
            ),
        ],
    )
    reader_and_contributor(c, sub)
    c.diagnostics(ana_vault_id, [diagnostic_setting(ana_vault_id, "metrics-only", logs=[], workspace=LOG_ANALYTICS)])
    c.diagnostics(
        fin_vault_id,
        [
            diagnostic_setting(
                fin_vault_id,
                "audit-to-sentinel",
                logs=[{"category": "AuditEvent", "enabled": True, "retentionPolicy": {"enabled": False, "days": 0}}],
                workspace=LOG_ANALYTICS,
            )
        ],
    )
    # The Managed HSM pool: listed because a key in use is on it; its key through Resource Manager; its local RBAC.
    c.get(
        list_uri(sub, "Microsoft.KeyVault/managedHSMs", ApiVersion.KEYVAULT),
        {
            "value": [
                managed_hsm_body(
                    sub,
                    "rg-risk-prod",
                    "hsm-contoso-risk",
                    location="westeurope",
                    tenant=tenant,
                    purge_protection=True,
                    public_network_access="Disabled",
                    network_acls={"bypass": "AzureServices", "defaultAction": "Deny", "ipRules": []},
                )
            ]
        },
    )
    c.key(
        hsm_id,
        "cmk-risk",
        location="westeurope",
        size=3072,
        versions=risk_versions,
        policy=rotation_policy("P90D"),
        kty="RSA-HSM",
        host=hsm_host,
        arm_type="Microsoft.KeyVault/managedHSMs",
    )
    c.diagnostics(
        hsm_id,
        [
            diagnostic_setting(
                hsm_id,
                "hsm-audit-to-sentinel",
                logs=[{"category": "AuditEvent", "enabled": True, "retentionPolicy": {"enabled": False, "days": 0}}],
                workspace=LOG_ANALYTICS,
            )
        ],
    )
    service_user = "33413926-3206-4cdd-b39a-83574fe37a17"
    c.local_rbac(
        hsm_uri,
        tenant,
        {
            "/": [hsm_role_assignment("/", "5e1f2a3b-4c5d-4e6f-8a7b-9c0d1e2f3a4b", HSM_ADMINISTRATOR, PLATFORM_ADMINS)],
            "/keys": [],
            "/keys/cmk-risk": [
                hsm_role_assignment("/keys/cmk-risk", name, service_user, principal)
                for name, principal in (
                    ("6f2a3b4c-5d6e-4f70-9b8c-0d1e2f3a4b5c", DEMO_DATABRICKS_SP),
                    ("7a3b4c5d-6e7f-4081-8c9d-1e2f3a4b5c6d", risk_des_principal),
                    ("8b4c5d6e-7f80-4192-9dae-2f3a4b5c6d7e", risk_st_principal),
                )
            ],
        },
        [hsm_role_definition(role, name, actions) for role, (name, actions) in HSM_ROLES.items()],
    )
    c.get(graph_lookup_uri(), databricks_service_principal(DEMO_DATABRICKS_SP))
    # The vaults grant groups (the platform team's), so the identities' groups are read: none of them is in one.
    identities = [fin_des_principal, fin_st_principal, ana_des_principal, ana_st_principal, DEMO_DATABRICKS_SP]
    identities += [risk_des_principal, risk_st_principal]
    c.group_memberships({p: [] for p in identities})
    # The platform team's group holds roles (and a purging access policy): IAM-03 names who is in it.
    c.group_members(
        {
            PLATFORM_ADMINS: [
                ("1d2e3f4a-5b6c-4d7e-8f9a-0b1c2d3e4f5a", "Aino Virtanen", "user"),
                ("2e3f4a5b-6c7d-4e8f-9a0b-1c2d3e4f5a6b", "Bruno Costa", "user"),
                ("3f4a5b6c-7d8e-4f9a-8b1c-2d3e4f5a6b7c", "platform-automation", "servicePrincipal"),
            ]
        }
    )
    return c


# --- scenario: an empty subscription ---------------------------------------------------------------

EMPTY_SUB = "0e9d8c7b-6a59-4483-9271-605f4e3d2c1b"


def empty_subscription() -> Cassette:
    """A subscription without Databricks workspaces: one list call, nothing else."""
    c = Cassette()
    c.subscription(EMPTY_SUB, "6b5a4938-2716-4f0e-9d8c-7b6a59483726", "Contoso Sandbox (empty)")
    c.get(list_uri(EMPTY_SUB, "Microsoft.Databricks/workspaces", ApiVersion.DATABRICKS), {"value": []})
    return c


# --- scenario: the key vault lives in a subscription that may not be scanned -----------------------

APP_SUB = "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"
KEYS_SUB = "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a"
CROSS_TENANT = "7e6d5c4b-3a29-4180-9f7e-6d5c4b3a2918"
CROSS_DATABRICKS_SP = "8d7c6b5a-4938-4271-8605-f4e3d2c1b0a9"


def cross_subscription_vault() -> Cassette:
    """A workspace in APP_SUB whose key lives in a central vault in KEYS_SUB.

    Scanning APP_SUB alone cannot see the vault; scanning both resolves it. The disk encryption set
    names the vault by key URL only, as DiskEncryptionSet_Create_WithKeyVaultFromADifferentSubscription
    does.
    """
    c = Cassette()
    tenant = CROSS_TENANT
    c.subscription(APP_SUB, tenant, "Claims Platform")
    c.subscription(KEYS_SUB, tenant, "Central Keys")
    uri = "https://kv-central-keys.vault.azure.net/"
    version: Version = ("4e5f60718293a4b5c6d7e8f90a1b2c3d", epoch("2025-10-01"), None)
    des_principal, st_principal = (
        "0a1b2c3d-4e5f-4061-8273-a4b5c6d7e8f9",
        "1b2c3d4e-5f60-4172-8384-b5c6d7e8f90a",
    )
    c.get(
        list_uri(APP_SUB, "Microsoft.Databricks/workspaces", ApiVersion.DATABRICKS),
        {
            "value": [
                workspace_body(
                    APP_SUB,
                    "rg-claims",
                    "dbw-claims-prod",
                    location="eastus2",
                    sku="premium",
                    tags={"environment": "prod"},
                    managed_group="rg-claims-managed",
                    storage_account="dbstorageclaims01",
                    workspace_number="4412598730164529",
                    managed_services_key=(uri, "cmk-claims", ""),
                    managed_disk_key=(uri, "cmk-claims", ""),
                    disk_encryption_set="dbdiskencryptionset-claims",
                    disk_principal=des_principal,
                    tenant=tenant,
                    prepare_encryption=True,
                    storage_principal=st_principal,
                )
            ]
        },
    )
    c.get(list_uri(KEYS_SUB, "Microsoft.Databricks/workspaces", ApiVersion.DATABRICKS), {"value": []})
    c.get(list_uri(APP_SUB, "Microsoft.KeyVault/vaults", ApiVersion.KEYVAULT), {"value": []})
    keys_vault_id = (
        f"/subscriptions/{KEYS_SUB}/resourceGroups/rg-keys/providers/Microsoft.KeyVault/vaults/kv-central-keys"
    )
    c.get(
        list_uri(KEYS_SUB, "Microsoft.KeyVault/vaults", ApiVersion.KEYVAULT),
        {
            "value": [
                vault_body(
                    KEYS_SUB,
                    "rg-keys",
                    "kv-central-keys",
                    location="eastus2",
                    tenant=tenant,
                    soft_delete_days=90,
                    purge_protection=True,
                    policies=[],
                    rbac=True,
                )
            ]
        },
    )
    c.get(
        list_uri(APP_SUB, "Microsoft.Compute/diskEncryptionSets", ApiVersion.COMPUTE_DISK),
        {
            "value": [
                disk_encryption_set_body(
                    APP_SUB,
                    "rg-claims-managed",
                    "dbdiskencryptionset-claims",
                    location="eastus2",
                    key_url=f"{uri}keys/cmk-claims/{version[0]}",
                    source_vault_id=None,
                    principal=des_principal,
                    tenant=tenant,
                )
            ]
        },
    )
    c.get(
        list_uri(APP_SUB, "Microsoft.Storage/storageAccounts", ApiVersion.STORAGE),
        {
            "value": [
                storage_account_body(
                    APP_SUB,
                    "rg-claims-managed",
                    "dbstorageclaims01",
                    location="eastus2",
                    principal=st_principal,
                    tenant=tenant,
                    key=None,
                    infrastructure=False,
                )
            ]
        },
    )
    c.key(
        keys_vault_id, "cmk-claims", location="eastus2", size=4096, versions=[version], policy=rotation_policy("P180D")
    )
    definitions = f"/subscriptions/{KEYS_SUB}/providers/Microsoft.Authorization/roleDefinitions"
    group_scope = f"/subscriptions/{KEYS_SUB}/resourceGroups/rg-keys"
    c.role_assignments(
        keys_vault_id,
        [
            role_assignment(
                keys_vault_id,
                CROSS_DATABRICKS_SP,
                "ServicePrincipal",
                f"{definitions}/{CSEU}",
                "0f9e8d7c-6b5a-4493-8271-605f4e3d2c1a",
            ),
            role_assignment(
                f"{keys_vault_id}/keys/cmk-claims",
                des_principal,
                "ServicePrincipal",
                f"{definitions}/{CSEU}",
                "1a0f9e8d-7c6b-45a4-9382-716f5e4d3c2b",
            ),
            role_assignment(
                f"{keys_vault_id}/keys/cmk-other-app",
                "2b1a0f9e-8d7c-46b5-a493-827160f5e4d3",
                "ServicePrincipal",
                f"{definitions}/{CRYPTO_OFFICER}",
                "2b1a0f9e-8d7c-46b5-a493-827160f5e4d4",
            ),
            role_assignment(
                group_scope,
                KEY_CUSTODIANS,
                "Group",
                f"{definitions}/{CRYPTO_OFFICER}",
                "3c2b1a0f-9e8d-47c6-b5a4-938271605f4e",
            ),
            role_assignment(
                f"/subscriptions/{KEYS_SUB}",
                "4d3c2b1a-0f9e-48d7-86b5-a49382716050",
                "User",
                f"{definitions}/{READER}",
                "4d3c2b1a-0f9e-48d7-86b5-a49382716051",
            ),
        ],
    )
    keyvault_reads = [
        "Microsoft.Authorization/*/read",
        "Microsoft.KeyVault/vaults/*/read",
        "Microsoft.KeyVault/operations/read",
    ]
    c.role_definition(
        f"{definitions}/{CRYPTO_OFFICER}",
        "Key Vault Crypto Officer",
        [*keyvault_reads, "Microsoft.Resources/deployments/*", "Microsoft.Support/*"],
        ["Microsoft.KeyVault/vaults/keys/*", "Microsoft.KeyVault/vaults/keyrotationpolicies/*"],
    )
    c.role_definition(f"{definitions}/{READER}", "Reader", ["*/read"], [])
    c.role_definition(
        f"{definitions}/{CSEU}",
        "Key Vault Crypto Service Encryption User",
        [
            "Microsoft.EventGrid/eventSubscriptions/write",
            "Microsoft.EventGrid/eventSubscriptions/read",
            "Microsoft.EventGrid/eventSubscriptions/delete",
        ],
        [
            "Microsoft.KeyVault/vaults/keys/read",
            "Microsoft.KeyVault/vaults/keys/wrap/action",
            "Microsoft.KeyVault/vaults/keys/unwrap/action",
        ],
    )
    archive = f"/subscriptions/{KEYS_SUB}/resourceGroups/rg-keys/providers/Microsoft.Storage/storageAccounts/stkeyaudit"
    c.diagnostics(
        keys_vault_id, [diagnostic_setting(keys_vault_id, "archive", logs=audit_logs("allLogs"), storage=archive)]
    )
    c.get(graph_lookup_uri(), databricks_service_principal(CROSS_DATABRICKS_SP))
    # The key custodians' group holds a role at the vault's resource group: the identities' groups are read.
    c.group_memberships({p: [] for p in (CROSS_DATABRICKS_SP, des_principal, st_principal)})
    c.group_members(
        {
            KEY_CUSTODIANS: [
                ("4a5b6c7d-8e9f-4a0b-8c1d-3e4f5a6b7c8d", "Dana Whitfield", "user"),
                ("5b6c7d8e-9f0a-4b1c-9d2e-4f5a6b7c8d9e", "Eitan Levi", "user"),
            ]
        }
    )
    return c


# --- scenario: the scanner may list but not read keys, nor Microsoft Graph ------------------------

DENIED_SUB = "2c3d4e5f-6a7b-4c8d-9e0f-1a2b3c4d5e6f"
DENIED_TENANT = "3d4e5f6a-7b8c-4d9e-8f0a-1b2c3d4e5f6a"
SCANNER_OBJECT_ID = "5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c8d"


def arm_authorization_failed(action: str, scope: str) -> Json:
    """ARM's 403 body when the caller lacks an action."""
    return {
        "error": {
            "code": "AuthorizationFailed",
            "message": (
                f"The client '{SCANNER_OBJECT_ID}' with object id '{SCANNER_OBJECT_ID}' does not have "
                f"authorization to perform action '{action}' over scope '{scope}' or the scope is invalid. "
                "If access was recently granted, please refresh your credentials."
            ),
        }
    }


def permission_denied() -> Cassette:
    """A compliant workspace whose key the scanner may not read, in a tenant whose Graph it may not read."""
    c = Cassette()
    sub, tenant = DENIED_SUB, DENIED_TENANT
    c.subscription(sub, tenant, "Payments")
    uri = "https://kv-payments-prod.vault.azure.net/"
    vault_id = f"/subscriptions/{sub}/resourceGroups/rg-payments/providers/Microsoft.KeyVault/vaults/kv-payments-prod"
    des_principal, st_principal = "6b7c8d9e-0f1a-4b2c-9d3e-4f5a6b7c8d9e", "7c8d9e0f-1a2b-4c3d-8e4f-5a6b7c8d9e0f"
    version = "9e8d7c6b5a4f4e3d2c1b0a9f8e7d6c5b"
    disk_version: Version = ("0a9b8c7d6e5f40a1b2c3d4e5f6a7b8c9", epoch("2026-09-20"), epoch("2028-09-19"))
    c.get(
        list_uri(sub, "Microsoft.Databricks/workspaces", ApiVersion.DATABRICKS),
        {
            "value": [
                workspace_body(
                    sub,
                    "rg-payments",
                    "dbw-payments-prod",
                    location="uksouth",
                    sku="premium",
                    tags={"environment": "prod"},
                    managed_group="rg-payments-managed",
                    storage_account="dbstoragepay01",
                    workspace_number="5590127384651023",
                    managed_services_key=(uri, "cmk-payments", ""),
                    managed_disk_key=(uri, "cmk-payments-disk", ""),
                    disk_encryption_set="dbdiskencryptionset-payments",
                    disk_principal=des_principal,
                    tenant=tenant,
                    dbfs_key=(uri, "cmk-payments", ""),
                    prepare_encryption=True,
                    storage_principal=st_principal,
                )
            ]
        },
    )
    c.get(
        list_uri(sub, "Microsoft.KeyVault/vaults", ApiVersion.KEYVAULT),
        {
            "value": [
                vault_body(
                    sub,
                    "rg-payments",
                    "kv-payments-prod",
                    location="uksouth",
                    tenant=tenant,
                    soft_delete_days=90,
                    purge_protection=True,
                    public_network_access="Disabled",
                    policies=[
                        access_policy(tenant, "0f1e2d3c-4b5a-4697-8877-a6b5c4d3e2f1", ["get", "wrapKey", "unwrapKey"]),
                        access_policy(tenant, des_principal, ["get", "wrapKey", "unwrapKey"]),
                        access_policy(tenant, st_principal, ["get", "wrapKey", "unwrapKey"]),
                    ],
                )
            ]
        },
    )
    c.get(
        list_uri(sub, "Microsoft.Compute/diskEncryptionSets", ApiVersion.COMPUTE_DISK),
        {
            "value": [
                disk_encryption_set_body(
                    sub,
                    "rg-payments-managed",
                    "dbdiskencryptionset-payments",
                    location="uksouth",
                    key_url=f"{uri}keys/cmk-payments-disk/{disk_version[0]}",
                    source_vault_id=vault_id,
                    principal=des_principal,
                    tenant=tenant,
                )
            ]
        },
    )
    c.get(
        list_uri(sub, "Microsoft.Storage/storageAccounts", ApiVersion.STORAGE),
        {
            "value": [
                storage_account_body(
                    sub,
                    "rg-payments-managed",
                    "dbstoragepay01",
                    location="uksouth",
                    principal=st_principal,
                    tenant=tenant,
                    key=(uri, "cmk-payments", version),
                    infrastructure=True,
                )
            ]
        },
    )
    key_path = f"{vault_id}/keys/cmk-payments"
    c.get(
        arm(f"{key_path}/versions", ApiVersion.KEYVAULT),
        arm_authorization_failed("Microsoft.KeyVault/vaults/keys/versions/read", key_path),
        status=403,
    )
    c.get(
        arm(key_path, ApiVersion.KEYVAULT),
        arm_authorization_failed("Microsoft.KeyVault/vaults/keys/read", key_path),
        status=403,
    )
    # The managed-disk key's metadata is readable, but not its rotation policy on the data plane.
    c.key(vault_id, "cmk-payments-disk", location="uksouth", size=3072, versions=[disk_version], policy=None)
    c.rotation_policy(uri, "cmk-payments-disk", tenant, None)
    c.diagnostics(vault_id, [diagnostic_setting(vault_id, "audit", logs=audit_logs(), workspace=LOG_ANALYTICS)])
    c.role_assignments(
        vault_id,
        [
            role_assignment(
                f"/subscriptions/{sub}",
                SCANNER_OBJECT_ID,
                "ServicePrincipal",
                f"/subscriptions/{sub}/providers/Microsoft.Authorization/roleDefinitions/{READER}",
                "8c9d0e1f-2a3b-4c4d-9e5f-6a7b8c9d0e1f",
            )
        ],
    )
    c.role_definition(
        f"/subscriptions/{sub}/providers/Microsoft.Authorization/roleDefinitions/{READER}", "Reader", ["*/read"], []
    )
    c.get(graph_lookup_uri(), graph_refusal("00000000-0000-4000-8000-0000000000aa"), status=403)
    # The AzureDatabricks principal is unknown, so its access policy's principal may be a group: the identities'
    # groups are asked for, and Graph refuses those too.
    c.group_memberships({des_principal: [], st_principal: []}, refused=True)
    return c


# --- scenario: the AWS demo account ------------------------------------------------------------------

DATABRICKS_ACCOUNTS_HOST = "https://accounts.cloud.databricks.com"


def _kms_key_calls(c: Cassette, key: Any) -> None:
    """The six reads the collector makes of one key, answered as tools/fakeaws.py (botocore's model) answers."""
    from tools.fakeaws import FakeAws

    answers = FakeAws.answer
    for operation, request in (
        ("DescribeKey", {"KeyId": key.arn}),
        ("GetKeyPolicy", {"KeyId": key.arn, "PolicyName": "default"}),
        ("GetKeyRotationStatus", {"KeyId": key.arn}),
        ("ListKeyRotations", {"KeyId": key.arn}),
        ("ListAliases", {"KeyId": key.arn}),
        ("ListResourceTags", {"KeyId": key.arn}),
    ):
        status, body = answers(key, operation)
        c.kms(key.region, operation, request, body, status)


def demo_aws_account() -> Cassette:
    """A Databricks account on AWS with four workspaces and three KMS keys, recorded at DEMO_AWS_RECORDED_AT, that
    exercises every AWS control both ways (tools/fakeaws.py's demo_account says what each holds)."""
    from tools.fakeaws import demo_account

    account = demo_account()
    c = Cassette()
    not_found = {"error_code": "ENDPOINT_NOT_FOUND", "message": "No API found for '/.well-known/databricks-config'"}
    c.databricks(f"{DATABRICKS_ACCOUNTS_HOST}/.well-known/databricks-config", not_found, 404)
    base = f"{DATABRICKS_ACCOUNTS_HOST}/api/2.0/accounts/{account.account_id}"
    c.databricks(f"{base}/workspaces", account.workspaces)
    c.databricks(f"{base}/customer-managed-keys", account.key_configurations)
    for key in sorted(account.keys, key=lambda k: k.arn):
        _kms_key_calls(c, key)
    # One key's policy delegates to its account's IAM: the account's authorization details, read once.
    from tools.fakeaws import iam_answer

    status, body = iam_answer(account, "GetAccountAuthorizationDetails")
    c.iam("GetAccountAuthorizationDetails", body, status)
    return c


SCENARIOS = {
    "demo-aws-account.yaml": demo_aws_account,
    "demo-tenant.yaml": demo_tenant,
    "empty-subscription.yaml": empty_subscription,
    "cross-subscription-vault.yaml": cross_subscription_vault,
    "permission-denied.yaml": permission_denied,
}


class _BlockDumper(yaml.SafeDumper):
    """Multi-line strings (the JSON bodies) as readable literal blocks."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_BlockDumper.add_representer(str, _str)


def render(cassette: Cassette) -> str:
    """The cassette as YAML text."""
    return yaml.dump(cassette.document(), Dumper=_BlockDumper, sort_keys=False, width=200)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 on a difference")
    args = parser.parse_args()
    stale = []
    for name, build in SCENARIOS.items():
        path = ROOT / "cassettes" / name
        text = render(build())
        if args.check:
            if not path.is_file() or path.read_text(encoding="utf-8") != text:
                stale.append(name)
        else:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path.relative_to(ROOT)}")
    if stale:
        print("out of date: " + ", ".join(stale) + " (run python tools/build_cassettes.py)")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
