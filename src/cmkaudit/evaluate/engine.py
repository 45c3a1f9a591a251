"""The rule engine: every control of the catalogue over the inventory, one finding per resource."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from cmkaudit.evaluate.catalog import AppliesTo, Catalog, ControlMeta
from cmkaudit.evaluate.checks import KEY_USAGE_CHECKS, SEVERITY_RAISED_FOR_SENSITIVE, WORKSPACE_CHECKS, workspace_of
from cmkaudit.evaluate.model import Finding, Settings, Severity, Status, Verdict
from cmkaudit.ids import ResourceId
from cmkaudit.inventory.model import Inventory, Scope


def _finding(
    control: ControlMeta,
    resource_id: ResourceId,
    name: str,
    scope: Scope | None,
    verdict: Verdict,
    severity: Severity | None = None,
) -> Finding:
    return Finding(
        control_id=control.control_id,
        title=control.title,
        severity=severity or control.severity,
        status=verdict.status,
        resource_id=resource_id,
        resource_name=name,
        scope=scope,
        reason=verdict.reason,
        evidence=verdict.evidence,
    )


def _evaluate_control(control: ControlMeta, inventory: Inventory, settings: Settings) -> Iterable[Finding]:
    match control.applies_to:
        case AppliesTo.WORKSPACE:
            workspace_check = WORKSPACE_CHECKS[control.control_id]
            raise_for_sensitive = control.control_id in SEVERITY_RAISED_FOR_SENSITIVE
            for workspace in inventory.workspaces:
                verdict = workspace_check(workspace, inventory, settings)
                # GOV-02: on a workspace tagged as sensitive, the scope controls are critical.
                severity = Severity.CRITICAL if raise_for_sensitive and settings.is_sensitive(workspace.tags) else None
                yield _finding(control, workspace.id, workspace.name, None, verdict, severity)
        case AppliesTo.KEY_USAGE:
            usage_check = KEY_USAGE_CHECKS[control.control_id]
            for usage in inventory.key_usages:
                verdict = usage_check(usage, inventory, settings)
                name = workspace_of(usage, inventory).name
                yield _finding(control, usage.workspace_id, name, usage.scope, verdict)


def evaluate(inventory: Inventory, catalog: Catalog, settings: Settings) -> tuple[Finding, ...]:
    """Run every control; findings come back sorted by (control id, resource id, scope)."""
    findings = [f for control in catalog for f in _evaluate_control(control, inventory, settings)]
    return tuple(sorted(findings, key=lambda f: f.sort_key))


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the findings mean for a pipeline: did anything fail, and was the scan complete."""

    failed: int
    failed_at_or_above_threshold: int
    unknown: int
    collection_errors: int
    threshold: Severity | None

    @property
    def incomplete(self) -> bool:
        """Evidence is missing: a call failed, or a control could not be decided."""
        return self.collection_errors > 0 or self.unknown > 0


def outcome(findings: Iterable[Finding], inventory: Inventory, threshold: Severity | None) -> Outcome:
    """Summarise findings against the --fail-on threshold (None: never fail)."""
    counts: Counter[Status] = Counter()
    over = 0
    for f in findings:
        counts[f.status] += 1
        if f.status is Status.FAIL and threshold is not None and f.severity.rank >= threshold.rank:
            over += 1
    return Outcome(
        failed=counts[Status.FAIL],
        failed_at_or_above_threshold=over,
        unknown=counts[Status.UNKNOWN],
        collection_errors=len(inventory.errors),
        threshold=threshold,
    )
