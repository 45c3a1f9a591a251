"""The JSON results file: versioned, schema'd (reports/results.schema.json), deterministic."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cmkaudit.evaluate.model import Evidence, Finding, Severity, Status
from cmkaudit.evaluate.waivers import WaiverOutcome
from cmkaudit.inventory.model import CollectionError
from cmkaudit.inventory.snapshot import write_json_atomic

if TYPE_CHECKING:
    from cmkaudit.report import Report

RESULTS_KIND = "cmkaudit.results"
RESULTS_SCHEMA_VERSION = 1


def _evidence(item: Evidence) -> dict[str, Any]:
    value: Any = list(item.value) if isinstance(item.value, tuple) else item.value
    return {"label": item.label, "value": value, "resource_id": item.resource_id, "source": item.source}


def _finding(finding: Finding) -> dict[str, Any]:
    return {
        "control_id": finding.control_id,
        "title": finding.title,
        "severity": finding.severity.value,
        "status": finding.status.value,
        "resource_id": finding.resource_id,
        "resource_name": finding.resource_name,
        "scope": finding.scope.value if finding.scope else None,
        "reason": finding.reason,
        "evidence": [_evidence(e) for e in finding.evidence],
        "waiver": (
            None
            if finding.waiver is None
            else {
                "justification": finding.waiver.justification,
                "owner": finding.waiver.owner,
                "expires": finding.waiver.expires,
                "waived_status": finding.waiver.waived_status.value,
            }
        ),
    }


def _waiver(outcome: WaiverOutcome) -> dict[str, Any]:
    w = outcome.waiver
    return {
        "control_id": w.control_id,
        "resource": w.resource,
        "scope": w.scope.value if w.scope else None,
        "justification": w.justification,
        "owner": w.owner,
        "expires": w.expires.isoformat(),
        "state": outcome.state.value,
        "findings": outcome.findings,
    }


def _error(error: CollectionError) -> dict[str, Any]:
    return {
        "resource_id": error.resource_id,
        "operation": error.operation,
        "status_code": error.status_code,
        "code": error.code,
        "message": error.message,
        "hint": error.hint,
    }


def results_document(report: Report) -> dict[str, Any]:
    """The results as a JSON-ready dict. Depends only on the inventory, so re-evaluation is identical."""
    inventory = report.inventory
    statuses = Counter(f.status for f in report.findings)
    failed = Counter(f.severity for f in report.findings if f.status is Status.FAIL)
    return {
        "kind": RESULTS_KIND,
        "schema_version": RESULTS_SCHEMA_VERSION,
        "tool": {"name": "cmkaudit", "version": inventory.tool_version},
        "scan": {
            "collected_at": inventory.collected_at.isoformat(),
            "subscriptions": list(inventory.scope.subscriptions),
            "cloud": inventory.scope.cloud,
            "arm_endpoint": inventory.scope.arm_endpoint,
            "workspaces": len(inventory.workspaces),
        },
        "settings": {
            "rotation_max_days": report.settings.rotation_max_days,
            "soft_delete_min_retention_days": report.settings.soft_delete_min_retention_days,
            "min_key_size": report.settings.min_key_size,
            "expiry_warning_days": report.settings.expiry_warning_days,
            "environment_tag": report.settings.environment_tag,
            "sensitivity_tag": report.settings.sensitivity_tag,
            "sensitive_values": list(report.settings.sensitive_values),
            "break_glass_principals": list(report.settings.break_glass_principals),
            "disabled_controls": list(report.disabled_controls),
            "fail_on": report.outcome.threshold.value if report.outcome.threshold else None,
        },
        "summary": {
            "findings": len(report.findings),
            "by_status": {s.value: statuses.get(s, 0) for s in Status},
            "failed_by_severity": {s.value: failed.get(s, 0) for s in Severity},
            "failed_at_or_above_threshold": report.outcome.failed_at_or_above_threshold,
            "complete": not report.outcome.incomplete,
        },
        "coverage": {
            "complete": not inventory.errors,
            "errors": [_error(e) for e in inventory.errors],
        },
        "controls": [
            {"id": c.id, "title": c.title, "severity": c.severity.value, "applies_to": c.applies_to.value}
            for c in report.catalog
        ],
        "waivers": [_waiver(w) for w in report.waivers],
        "findings": [_finding(f) for f in report.findings],
    }


def write_json(report: Report, path: Path) -> Path:
    """Write the results file atomically and return its path."""
    write_json_atomic(path, results_document(report))
    return path
