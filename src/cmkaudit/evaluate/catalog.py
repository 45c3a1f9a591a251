"""The benchmark's control metadata, kept as data under rules/ and validated when loaded."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cmkaudit._data import data_path
from cmkaudit.errors import MetadataError
from cmkaudit.evaluate.checks import AWS_KEY_USAGE_CHECKS, AWS_WORKSPACE_CHECKS, KEY_USAGE_CHECKS, WORKSPACE_CHECKS
from cmkaudit.evaluate.model import Severity
from cmkaudit.ids import ControlId


class AppliesTo(StrEnum):
    """What a control yields one finding for."""

    WORKSPACE = "workspace"
    KEY_USAGE = "key_usage"
    """Each encryption scope of each workspace (managed services, managed disks, DBFS root)."""
    AWS_WORKSPACE = "aws_workspace"
    """Each Databricks workspace on AWS."""
    AWS_KEY_USAGE = "aws_key_usage"
    """Each use case of each Databricks workspace on AWS (managed services, workspace storage)."""


class Steps(BaseModel):
    """How to do something in the portal, with the Azure CLI and (for remediation) in Terraform."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    portal: str
    cli: str
    terraform: str | None = None


class Remediation(Steps):
    """How to fix a failure, including the ARM property that must change."""

    arm_path: str


class Frameworks(BaseModel):
    """Where the control maps in the frameworks auditors cite (item numbers, as each framework writes them)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cis_azure: tuple[str, ...] = ()
    """CIS Microsoft Azure Foundations Benchmark, as "<version> <item>"."""
    mcsb: tuple[str, ...] = ()
    """Microsoft cloud security benchmark."""
    nist_800_53: tuple[str, ...] = ()
    """NIST SP 800-53 revision 5."""
    pci_dss: tuple[str, ...] = ()
    """PCI DSS 4.0."""
    hipaa: tuple[str, ...] = ()
    """HIPAA Security Rule, 45 CFR."""
    iso_27001: tuple[str, ...] = ()
    """ISO/IEC 27001:2022 Annex A."""


class ControlMeta(BaseModel):
    """One control of the benchmark, as written in rules/<id>.yaml."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[A-Z]{2,4}-\d{2}$")
    title: str
    severity: Severity
    applies_to: AppliesTo
    rationale: str
    impact: str
    """What changes for users when the control is applied."""
    decides: tuple[str, ...] = ()
    """How the control decides where that has a subtlety: documented defaults, what does not count, which
    record is the truth."""
    audit: Steps
    remediation: Remediation
    references: tuple[str, ...] = Field(min_length=1)
    frameworks: Frameworks

    @property
    def control_id(self) -> ControlId:
        """The id as a ControlId."""
        return ControlId(self.id)


@dataclass(frozen=True, slots=True)
class Catalog:
    """All controls, in id order."""

    controls: tuple[ControlMeta, ...]

    def __iter__(self) -> Iterator[ControlMeta]:
        return iter(self.controls)

    def without(self, control_ids: Iterable[str]) -> Catalog:
        """The catalogue less some controls (disabled in the configuration)."""
        dropped = {c.upper() for c in control_ids}
        return Catalog(tuple(c for c in self.controls if c.id not in dropped))

    def get(self, control_id: str) -> ControlMeta | None:
        """The control with this id, or None."""
        return next((c for c in self.controls if c.id == control_id.upper()), None)


_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's safe loader where PyYAML was built with it (several times faster), else the pure-Python one."""


def _load_file(path: Path) -> ControlMeta:
    try:
        document = yaml.load(path.read_text(encoding="utf-8"), Loader=_SAFE_LOADER)
    except (OSError, yaml.YAMLError) as exc:
        raise MetadataError(f"{path}: cannot read control metadata: {exc}") from exc
    try:
        control = ControlMeta.model_validate(document)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '(file)'}: {e['msg']}" for e in exc.errors())
        raise MetadataError(f"{path}: invalid control metadata: {problems}") from exc
    if path.stem != control.id:
        raise MetadataError(f"{path}: the file name must be the control id ({control.id}.yaml)")
    return control


def load_catalog(directory: Path | None = None) -> Catalog:
    """Load and validate every rules/*.yaml; each control must have exactly one check and vice versa."""
    root = directory or data_path("rules")
    files = sorted(root.glob("*.yaml"))
    if not files:
        raise MetadataError(f"no control metadata found in {root}")
    controls = tuple(sorted((_load_file(f) for f in files), key=lambda c: c.id))
    checks = {
        AppliesTo.WORKSPACE: set(WORKSPACE_CHECKS),
        AppliesTo.KEY_USAGE: set(KEY_USAGE_CHECKS),
        AppliesTo.AWS_WORKSPACE: set(AWS_WORKSPACE_CHECKS),
        AppliesTo.AWS_KEY_USAGE: set(AWS_KEY_USAGE_CHECKS),
    }
    for control in controls:
        if control.id not in checks[control.applies_to]:
            raise MetadataError(
                f"{root / (control.id + '.yaml')}: control {control.id} applies to {control.applies_to.value} "
                "but no such check exists"
            )
    known = {c.id for c in controls}
    orphans = sorted(set().union(*checks.values()) - known)
    if orphans:
        raise MetadataError(f"checks without metadata in {root}: {', '.join(orphans)}")
    return Catalog(controls)
