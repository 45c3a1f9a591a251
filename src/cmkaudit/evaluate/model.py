"""Findings and what they are made of: statuses, severities, evidence and settings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import ConfigDict, Field

from cmkaudit.ids import ControlId, ResourceId, id_key
from cmkaudit.inventory.model import Scope
from cmkaudit.records import Record


class Status(StrEnum):
    """The outcome of one control on one resource."""

    PASS = "PASS"
    FAIL = "FAIL"
    UNKNOWN = "UNKNOWN"
    """Evidence could not be read: never counted as PASS."""
    NOT_APPLICABLE = "NOT_APPLICABLE"
    SUPPRESSED = "SUPPRESSED"
    """Failed or unknown, but covered by an unexpired waiver."""


class Severity(StrEnum):
    """How bad a failure of the control is."""

    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"

    @property
    def rank(self) -> int:
        """Higher is more severe."""
        return _RANKS[self]


_RANKS = {Severity.CRITICAL: 4, Severity.HIGH: 3, Severity.MEDIUM: 2, Severity.LOW: 1, Severity.INFO: 0}

EvidenceValue = str | int | bool | None | tuple[str, ...]


class Evidence(Record, frozen=True):
    """One observed value, and the ARM resource and property it was read from."""

    label: str
    value: EvidenceValue
    resource_id: str | None = None
    source: str | None = None


class Verdict(Record, frozen=True):
    """What a check concluded, before the engine attaches the control's metadata."""

    status: Status
    reason: str
    evidence: tuple[Evidence, ...] = ()


class AppliedWaiver(Record, frozen=True):
    """The waiver that suppressed a finding, and the status the finding had."""

    justification: str
    owner: str
    expires: date
    """The last day the waiver applies."""
    waived_status: Literal["FAIL", "UNKNOWN"]


class RemediationSteps(Record, frozen=True):
    """How to fix a failure of a control; on a finding, filled in for its resource."""

    arm_path: str
    portal: str
    cli: str
    terraform: str | None


class Finding(Record, frozen=True):
    """One control evaluated on one resource (a workspace, or one encryption scope of a workspace), with its
    evidence."""

    # The engine makes hundreds of thousands on a large tenant; the results document and every report use them
    # as they are (only those to act on are copied, to carry their remediation). A record, not a pydantic
    # model: pydantic still validates it when a results file is read and gives its schema.
    __pydantic_config__ = ConfigDict(extra="forbid")

    control_id: ControlId
    title: str
    severity: Severity
    status: Status
    resource_id: Annotated[ResourceId, Field(description="ARM id of the workspace the finding concerns")]
    resource_name: str
    scope: Scope | None
    """The workspace encryption scope the finding concerns; None for workspace-wide controls."""
    reason: str
    evidence: tuple[Evidence, ...]
    waiver: AppliedWaiver | None = None
    remediation: Annotated[
        RemediationSteps | None,
        Field(
            description="for FAIL, UNKNOWN and SUPPRESSED findings: the control's steps, filled in for this resource"
        ),
    ] = None
    baseline: Annotated[
        Literal["new", "unchanged"] | None,
        Field(description="for FAIL and UNKNOWN findings, when a baseline was given"),
    ] = None

    @property
    def sort_key(self) -> tuple[str, str, str]:
        """Findings are reported in (control id, resource id, scope) order."""
        return (self.control_id, self.resource_id.lower(), self.scope.value if self.scope else "")

    @property
    def identity(self) -> tuple[str, str, str]:
        """What makes a finding the same finding across scans."""
        return finding_identity(self.control_id, self.resource_id, self.scope)


def finding_identity(control_id: str, resource_id: str, scope: Scope | None) -> tuple[str, str, str]:
    """What makes a finding the same finding across scans: its control, its workspace and its scope."""
    return (control_id, id_key(resource_id), scope.value if scope else "")


@dataclass(frozen=True, slots=True)
class Settings:
    """Thresholds the benchmark is evaluated with."""

    rotation_max_days: int = 90
    """KEY-03: automatic rotation must happen at least this often."""
    soft_delete_min_retention_days: int = 90
    """KV-02: minimum soft-delete retention."""
    min_key_size: int = 2048
    """KEY-01: smallest acceptable RSA key size (3072 is recommended)."""
    expiry_warning_days: int = 30
    """KEY-02: a key version expiring within this many days fails."""
    environment_tag: str = "environment"
    """GOV-01: the workspace tag that names its environment."""
    sensitivity_tag: str = "data-classification"
    """GOV-02: the workspace tag that names its data classification."""
    sensitive_values: tuple[str, ...] = ("confidential", "restricted")
    """GOV-02: classifications (case-insensitive) that make a workspace sensitive."""
    break_glass_principals: tuple[str, ...] = ()
    """IAM-03: object ids allowed to purge keys or administer a CMK vault's keys (AWS-10: IAM principal ARNs)."""
    databricks_aws_principals: tuple[tuple[str, str], ...] = ()
    """AWS-08/09: (partition, Databricks' AWS principal) for partitions whose principal is not built in."""

    def is_sensitive(self, tags: Mapping[str, str]) -> bool:
        """Whether a workspace with these tags is sensitive (tag names and values compared case-insensitively)."""
        wanted = {v.lower() for v in self.sensitive_values}
        return any(k.lower() == self.sensitivity_tag.lower() and v.lower() in wanted for k, v in tags.items())
