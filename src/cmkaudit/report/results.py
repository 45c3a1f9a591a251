"""The results document: everything a report shows, as one typed, versioned, schema'd model.

Every reporter renders from a `ResultsDocument`, whether it was just built from a scan or loaded from a
results file (`cmkaudit report results.json --format html`), so a re-rendered report says exactly what
the original did. Its JSON schema (reports/results.schema.json) is generated from these models.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from operator import attrgetter
from typing import TYPE_CHECKING, Literal

from msgspec.structs import replace
from pydantic import BaseModel, ConfigDict, Field

from cmkaudit.evaluate.model import Finding, RemediationSteps, Severity, Status, finding_identity
from cmkaudit.ids import id_key
from cmkaudit.inventory import Inventory
from cmkaudit.inventory.model import KeyVersion, Provenance, Scope

if TYPE_CHECKING:
    from cmkaudit.evaluate.catalog import Remediation
    from cmkaudit.report import Report

RESULTS_KIND: Literal["cmkaudit.results"] = "cmkaudit.results"
RESULTS_SCHEMA_VERSION: Literal[3] = 3


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ToolInfo(_Model):
    name: Literal["cmkaudit"] = "cmkaudit"
    version: str


class SubscriptionInfo(_Model):
    id: str
    display_name: str | None
    state: str | None
    tenant_id: str | None


class LocationInfo(_Model):
    """Where a resource of planned configuration is declared."""

    resource_id: str = Field(description="the record's id in the findings and evidence")
    address: str = Field(description="its Terraform address (or template resource id)")
    file: str | None = Field(None, description="the file that declares it, relative to the directory given")
    start_line: int | None = Field(None, ge=1)
    end_line: int | None = Field(None, ge=1)


class ScanInfo(_Model):
    collected_at: datetime = Field(description="when the evidence was collected; evaluation is as of this time")
    subscriptions: list[str]
    subscription_details: list[SubscriptionInfo]
    skipped_subscriptions: list[str] = Field(description="found by --all-subscriptions but not scanned, with why")
    cloud: str
    arm_endpoint: str
    sources: list[Provenance] = Field(
        description="how the evidence was collected: a live crawl listing resources with Resource Manager "
        "(azure-arm) or Azure Resource Graph (azure-resource-graph, which can lag Resource Manager by minutes), or a "
        "recorded tenant replayed (azure-recording); several for shards merged into one evaluation"
    )
    shards_merged: int = Field(
        0,
        ge=0,
        description="how many saved snapshots (the shards of one tenant) were merged for this evaluation; 0 when it "
        "is of one scan's inventory, collected by this run or read from one snapshot",
    )
    workspaces: int = Field(ge=0)
    accounts: list[str] = Field(default_factory=list, description="Databricks accounts on AWS that were scanned")
    locations: list[LocationInfo] = Field(
        default_factory=list,
        description="planned configuration only (a Terraform plan): where each judged resource is declared",
    )


class SettingsInfo(_Model):
    rotation_max_days: int = Field(ge=1)
    soft_delete_min_retention_days: int = Field(ge=1)
    min_key_size: int
    expiry_warning_days: int = Field(ge=0)
    environment_tag: str
    sensitivity_tag: str
    sensitive_values: list[str]
    break_glass_principals: list[str]
    disabled_controls: list[str]
    fail_on: Severity | None = Field(description="the --fail-on threshold the run used; null: never fail")


class StatusCounts(_Model):
    PASS: int = Field(0, ge=0)
    FAIL: int = Field(0, ge=0)
    UNKNOWN: int = Field(0, ge=0)
    NOT_APPLICABLE: int = Field(0, ge=0)
    SUPPRESSED: int = Field(0, ge=0)

    def get(self, status: Status) -> int:
        """The count of one status."""
        return int(getattr(self, status.value))


class Kpis(_Model):
    """The numbers a key-management programme tracks."""

    compliance_rate: float | None = Field(description="PASS / (PASS + FAIL + UNKNOWN + SUPPRESSED); null if none")
    keys_in_use: int = Field(ge=0, description="distinct key versions encrypting a scope")
    average_key_version_age_days: float | None
    rotation_cadence_days: int
    keys_older_than_cadence: int = Field(ge=0)
    keys_expiring_soon: int = Field(ge=0, description="versions in use expired or expiring within the warning window")
    expiry_warning_days: int


class Summary(_Model):
    findings: int = Field(ge=0)
    by_status: StatusCounts
    failed_by_severity: dict[Severity, int]
    failed_at_or_above_threshold: int = Field(ge=0)
    complete: bool = Field(description="false when a call failed or an unsuppressed control is UNKNOWN")
    kpis: Kpis


class CollectionErrorInfo(_Model):
    resource_id: str
    operation: str
    status_code: int | None
    code: str | None
    message: str
    hint: str | None


class Coverage(_Model):
    complete: bool = Field(description="every collection call succeeded")
    errors: list[CollectionErrorInfo]
    notes: list[str] = Field(
        default_factory=list,
        description="what the scan learned that is neither a resource nor an error, e.g. a subscription where "
        "Microsoft.Databricks was never registered (so it holds no workspaces)",
    )


class ControlInfo(_Model):
    id: str = Field(pattern=r"^[A-Z]{2,4}-\d{2}$")
    title: str
    severity: Severity
    applies_to: Literal["workspace", "key_usage", "aws_workspace", "aws_key_usage"]
    rationale: str
    impact: str
    remediation: RemediationSteps
    references: list[str]
    frameworks: dict[str, list[str]]
    counts: StatusCounts
    compliance_rate: float | None


class WorkspaceInfo(_Model):
    id: str
    name: str
    subscription_id: str = Field(description="the Azure subscription; empty for a workspace on AWS")
    location: str | None
    sku: str | None = Field(description="the SKU (Azure) or pricing tier (AWS)")
    tags: dict[str, str]
    cloud: Literal["azure", "aws"] = "azure"
    account_id: str | None = Field(None, description="the Databricks account of a workspace on AWS")


class KeyInUse(_Model):
    key_id: str
    name: str
    vault_id: str
    kty: str | None
    key_size: int | None
    version: str
    created: datetime | None
    age_days: int | None
    expires: datetime | None
    days_to_expiry: int | None
    used_by: list[str] = Field(description="'workspace name: scope' for every scope encrypted with this version")


class WaiverInfo(_Model):
    control_id: str
    resource: str
    scope: Scope | None
    justification: str
    owner: str
    expires: date
    state: Literal["applied", "expired", "unused"] = Field(
        description="expired: it matched findings but its date has passed, so they are reported as they are"
    )
    findings: int = Field(ge=0)


class ResolvedFinding(_Model):
    control_id: str
    resource_id: str
    resource_name: str
    scope: Scope | None
    previous_status: Status


class BaselineInfo(_Model):
    collected_at: datetime
    new: int
    unchanged: int
    resolved: list[ResolvedFinding]


class ResultsDocument(_Model):
    """The results of one evaluation (schema version 3)."""

    kind: Literal["cmkaudit.results"] = RESULTS_KIND
    schema_version: Literal[3] = RESULTS_SCHEMA_VERSION
    tool: ToolInfo
    scan: ScanInfo
    settings: SettingsInfo
    summary: Summary
    coverage: Coverage
    controls: list[ControlInfo]
    workspaces: list[WorkspaceInfo]
    keys: list[KeyInUse]
    waivers: list[WaiverInfo]
    findings: list[Finding]
    baseline: BaselineInfo | None = None

    def control(self, control_id: str) -> ControlInfo | None:
        """The metadata of one evaluated control."""
        return next((c for c in self.controls if c.id == control_id), None)


PROBLEMS = frozenset({Status.FAIL, Status.UNKNOWN})
ACTIONABLE = frozenset({Status.FAIL, Status.UNKNOWN, Status.SUPPRESSED})
"""The findings that carry their control's remediation steps."""
EVALUATED = (Status.PASS, Status.FAIL, Status.UNKNOWN, Status.SUPPRESSED)


def compliance_rate(counts: StatusCounts) -> float | None:
    """Passed over evaluated (NOT_APPLICABLE left out; UNKNOWN and SUPPRESSED are not compliant)."""
    evaluated = sum(counts.get(s) for s in EVALUATED)
    return round(counts.PASS / evaluated, 4) if evaluated else None


def _placeholders(finding: Finding, inventory: Inventory) -> dict[str, str]:
    """Values for the <placeholders> of the remediation steps, as far as the inventory knows them."""
    values: dict[str, str] = {"<workspace-id>": finding.resource_id}
    workspace = inventory.index.workspaces.get(id_key(finding.resource_id))
    if workspace is None:
        return values
    if workspace.location:
        values["<workspace-region>"] = workspace.location
    if workspace.disk_encryption_set_id:
        values["<des-id>"] = workspace.disk_encryption_set_id
    account = inventory.index.storage_account_of(workspace)
    if account:
        values["<storage-account-id>"] = account.id
    usage = inventory.index.usages.get((id_key(workspace.id), finding.scope)) if finding.scope else None
    if usage is None or not usage.uses_cmk:
        return values
    if usage.key_ref:
        values["<key-name>"] = usage.key_ref.key_name
        values["<vault-uri>"] = usage.key_ref.vault_uri
    vault = inventory.index.vaults.get(id_key(usage.vault_id)) if usage.vault_id else None
    if vault:
        values["<vault-name>"] = vault.name
        values["<vault-id>"] = vault.id
    if len(usage.identities) == 1:
        values["<object-id>"] = usage.identities[0].principal_id
    return values


def _steps(remediation: Remediation) -> RemediationSteps:
    return RemediationSteps(
        arm_path=remediation.arm_path,
        portal=remediation.portal,
        cli=remediation.cli,
        terraform=remediation.terraform,
    )


def _remediation_for(finding: Finding, control: RemediationSteps, inventory: Inventory) -> RemediationSteps:
    values = _placeholders(finding, inventory)

    def fill(text: str) -> str:
        for placeholder, value in values.items():
            text = text.replace(placeholder, value)
        return text

    return RemediationSteps(
        arm_path=control.arm_path,
        portal=control.portal,
        cli=fill(control.cli),
        terraform=control.terraform,
    )


def _keys_in_use(inventory: Inventory) -> list[KeyInUse]:
    workspaces, keys = inventory.index.workspaces, inventory.index.keys
    grouped: dict[tuple[str, str], list[str]] = {}
    for usage in inventory.key_usages:
        if not (usage.key_id and usage.version_in_use):
            continue
        key_ref = id_key(usage.key_id)
        if key_ref in keys:
            workspace = workspaces.get(id_key(usage.workspace_id))
            where = f"{workspace.name if workspace else usage.workspace_id}: {usage.scope.value}"
            grouped.setdefault((key_ref, usage.version_in_use.lower()), []).append(where)
    now = inventory.collected_at
    result: list[KeyInUse] = []
    for (key_ref, version_id), used_by in sorted(grouped.items()):
        key = keys[key_ref]
        version: KeyVersion | None = next((v for v in key.versions or () if v.version.lower() == version_id), None)
        created = version.created if version else None
        expires = version.expires if version else None
        result.append(
            KeyInUse(
                key_id=key.id,
                name=key.name,
                vault_id=key.vault_id,
                kty=key.kty,
                key_size=key.key_size,
                version=version.version if version else version_id,
                created=created,
                age_days=(now - created).days if created else None,
                expires=expires,
                days_to_expiry=(expires - now).days if expires else None,
                used_by=sorted(used_by),
            )
        )
    return result


def build_results(report: Report) -> ResultsDocument:
    """The results document of one evaluation."""
    inventory, settings = report.inventory, report.settings
    remedies = {c.id: _steps(c.remediation) for c in report.catalog}
    # The evaluation's findings themselves; only those to act on are copied, to carry their remediation.
    findings = [
        replace(f, remediation=_remediation_for(f, remedies[f.control_id], inventory))
        if f.status in ACTIONABLE and f.control_id in remedies
        else f
        for f in report.findings
    ]
    # Counted in one pass over the findings, by attribute getters in C (a large tenant has hundreds of
    # thousands); the totals are the sums of the per-control counts.
    per_control: Counter[tuple[str, Status]] = Counter(map(attrgetter("control_id", "status"), findings))
    counted: Counter[Status] = Counter()
    for (_, status), n in per_control.items():
        counted[status] += n
    counts = StatusCounts(**{s.value: counted[s] for s in Status})
    fail = Status.FAIL
    failed = Counter(f.severity for f in findings if f.status is fail) if counted[fail] else Counter()
    keys = _keys_in_use(inventory)
    ages = [k.age_days for k in keys if k.age_days is not None]
    controls = []
    for control in report.catalog:
        own = StatusCounts(**{s.value: per_control[(control.id, s)] for s in Status})
        controls.append(
            ControlInfo(
                id=control.id,
                title=control.title,
                severity=control.severity,
                applies_to=control.applies_to.value,
                rationale=control.rationale,
                impact=control.impact,
                remediation=remedies[control.id],
                references=list(control.references),
                frameworks={k: list(v) for k, v in control.frameworks.model_dump().items() if v},
                counts=own,
                compliance_rate=compliance_rate(own),
            )
        )
    document = ResultsDocument(
        tool=ToolInfo(version=inventory.tool_version),
        scan=ScanInfo(
            collected_at=inventory.collected_at,
            subscriptions=list(inventory.scope.subscriptions),
            skipped_subscriptions=list(inventory.scope.skipped),
            subscription_details=[
                SubscriptionInfo(id=s.id, display_name=s.display_name, state=s.state, tenant_id=s.tenant_id)
                for s in inventory.subscriptions
            ],
            cloud=inventory.scope.cloud,
            arm_endpoint=inventory.scope.arm_endpoint,
            sources=list(inventory.scope.sources),
            shards_merged=report.shards_merged,
            accounts=list(inventory.scope.accounts),
            locations=[
                LocationInfo(
                    resource_id=loc.resource_id,
                    address=loc.address,
                    file=loc.file,
                    start_line=loc.start_line,
                    end_line=loc.end_line,
                )
                for loc in inventory.locations
            ],
            workspaces=len(inventory.workspaces) + len(inventory.aws_workspaces),
        ),
        settings=SettingsInfo(
            rotation_max_days=settings.rotation_max_days,
            soft_delete_min_retention_days=settings.soft_delete_min_retention_days,
            min_key_size=settings.min_key_size,
            expiry_warning_days=settings.expiry_warning_days,
            environment_tag=settings.environment_tag,
            sensitivity_tag=settings.sensitivity_tag,
            sensitive_values=list(settings.sensitive_values),
            break_glass_principals=list(settings.break_glass_principals),
            disabled_controls=list(report.disabled_controls),
            fail_on=report.outcome.threshold,
        ),
        summary=Summary(
            findings=len(findings),
            by_status=counts,
            failed_by_severity={s: failed.get(s, 0) for s in Severity},
            failed_at_or_above_threshold=report.outcome.failed_at_or_above_threshold,
            complete=not report.outcome.incomplete,
            kpis=Kpis(
                compliance_rate=compliance_rate(counts),
                keys_in_use=len(keys),
                average_key_version_age_days=round(sum(ages) / len(ages), 1) if ages else None,
                rotation_cadence_days=settings.rotation_max_days,
                keys_older_than_cadence=sum(1 for a in ages if a > settings.rotation_max_days),
                keys_expiring_soon=sum(
                    1 for k in keys if k.days_to_expiry is not None and k.days_to_expiry <= settings.expiry_warning_days
                ),
                expiry_warning_days=settings.expiry_warning_days,
            ),
        ),
        coverage=Coverage(
            complete=not inventory.errors,
            errors=[
                CollectionErrorInfo(
                    resource_id=e.resource_id,
                    operation=e.operation,
                    status_code=e.status_code,
                    code=e.code,
                    message=e.message,
                    hint=e.hint,
                )
                for e in inventory.errors
            ],
            notes=list(inventory.scope.notes),
        ),
        controls=controls,
        workspaces=[
            WorkspaceInfo(
                id=w.id, name=w.name, subscription_id=w.subscription_id, location=w.location, sku=w.sku, tags=w.tags
            )
            for w in inventory.workspaces
        ]
        + [
            WorkspaceInfo(
                id=w.id,
                name=w.name,
                subscription_id="",
                location=w.region,
                sku=w.pricing_tier,
                tags=w.custom_tags,
                cloud="aws",
                account_id=w.account_id,
            )
            for w in inventory.aws_workspaces
        ],
        keys=keys,
        waivers=[
            WaiverInfo(
                control_id=o.waiver.control_id,
                resource=o.waiver.resource,
                scope=o.waiver.scope,
                justification=o.waiver.justification,
                owner=o.waiver.owner,
                expires=o.waiver.expires,
                state=o.state.value,
                findings=o.findings,
            )
            for o in report.waivers
        ],
        findings=[],
    )
    # The evaluation's own records, attached as they are: pydantic would look at each of them in Python to
    # accept it, and there is nothing to check (see `Record`).
    return document.model_copy(update={"findings": findings})


@dataclass(frozen=True, slots=True)
class BaselineFinding:
    """What a comparison keeps of a previous finding that failed or was unknown."""

    control_id: str
    resource_id: str
    resource_name: str
    scope: Scope | None
    status: Status


@dataclass(frozen=True, slots=True)
class Baseline:
    """What a comparison needs of a previous results file: when its evidence was collected, and its failed
    and unknown findings by identity (`Finding.identity`)."""

    collected_at: datetime
    problems: dict[tuple[str, str, str], BaselineFinding]

    @classmethod
    def of(cls, results: ResultsDocument) -> Baseline:
        """The baseline a results document makes."""
        return cls.of_findings(
            results.scan.collected_at,
            (
                BaselineFinding(f.control_id, f.resource_id, f.resource_name, f.scope, f.status)
                for f in results.findings
            ),
        )

    @classmethod
    def of_findings(cls, collected_at: datetime, findings: Iterable[BaselineFinding]) -> Baseline:
        problems = {finding_identity(f.control_id, f.resource_id, f.scope): f for f in findings if f.status in PROBLEMS}
        return cls(collected_at, problems)


def compare_with_baseline(current: ResultsDocument, baseline: Baseline) -> ResultsDocument:
    """Mark each FAIL/UNKNOWN finding new or unchanged since `baseline`, and list what was resolved."""
    before = baseline.problems
    now = {f.identity for f in current.findings if f.status in PROBLEMS}
    marked = [
        replace(f, baseline="unchanged" if f.identity in before else "new") if f.status in PROBLEMS else f
        for f in current.findings
    ]
    resolved = [
        ResolvedFinding(
            control_id=f.control_id,
            resource_id=f.resource_id,
            resource_name=f.resource_name,
            scope=f.scope,
            previous_status=f.status,
        )
        for key, f in sorted(before.items())
        if key not in now
    ]
    info = BaselineInfo(
        collected_at=baseline.collected_at,
        new=sum(1 for f in marked if f.baseline == "new"),
        unchanged=sum(1 for f in marked if f.baseline == "unchanged"),
        resolved=resolved,
    )
    return current.model_copy(update={"findings": marked, "baseline": info})
