"""SARIF 2.1.0 for code-scanning dashboards (GitHub code scanning and others).

Level table (documented in docs/reports.md):

| finding                      | level   | kind   |
| ---------------------------- | ------- | ------ |
| FAIL, critical or high       | error   | fail   |
| FAIL, medium                 | warning | fail   |
| FAIL, low or info            | note    | fail   |
| UNKNOWN (evidence missing)   | warning | review |
| SUPPRESSED (waived)          | as FAIL/UNKNOWN, with `suppressions` |

PASS and NOT_APPLICABLE findings are not results. A live resource has no file: its location is a
stable artifact URI derived from its ARM id (`azure/subscriptions/.../workspaces/<name>`), and the full
ARM id is its logical location. Planned configuration locates the resource to change (the vault of a vault
control, the key of a key control): its file and lines when known, else `terraform/<address>`, with the
Terraform address as the logical location. Fingerprints do not depend on lines, so they stay stable when
unrelated lines move.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any
from urllib.parse import quote

from cmkaudit.evaluate.model import Finding, Severity, Status
from cmkaudit.files import write_json_atomic
from cmkaudit.ids import id_key
from cmkaudit.report.results import ControlInfo, LocationInfo, ResultsDocument

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
INFORMATION_URI = "https://learn.microsoft.com/azure/databricks/security/keys/customer-managed-keys"

LEVELS = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
    Severity.INFO: "note",
}
SECURITY_SEVERITY = {
    Severity.CRITICAL: "9.5",
    Severity.HIGH: "8.0",
    Severity.MEDIUM: "5.5",
    Severity.LOW: "3.0",
    Severity.INFO: "0.0",
}
"""GitHub ranks security-severity: over 9 critical, 7 to 8.9 high, 4 to 6.9 medium, below 4 low."""

FINGERPRINT = "cmkaudit/v1"


_PATH_SAFE = "/-._~!$&'()*+,;=:@"
"""What RFC 3986 lets a path segment hold as it is (unreserved and sub-delimiter characters, ':' and '@');
letters and digits are kept too. Everything else, '%' included, is percent-encoded as UTF-8."""


def artifact_uri(resource_id: str) -> str:
    """A stable, relative artifact URI for a resource, under its cloud: `azure/` and the ARM id (lower-cased:
    ARM ids are case-insensitive), or `databricks-aws/` and a workspace of a Databricks account on AWS
    (`accounts/<id>/workspaces/<id>`); percent-encoded so that any id, however hostile, is a valid URI reference."""
    cloud = "databricks-aws/" if resource_id.startswith("accounts/") else "azure/"
    return cloud + quote(resource_id.strip("/").lower(), safe=_PATH_SAFE)


def _help_markdown(control: ControlInfo) -> str:
    r = control.remediation
    lines = [
        f"**{control.id}: {control.title}** (severity {control.severity.value})",
        "",
        control.rationale,
        "",
        "**Remediation**",
        "",
        f"- ARM property: `{r.arm_path}`",
        f"- Portal: {r.portal}",
        f"- Azure CLI: `{r.cli}`",
    ]
    if r.terraform:
        lines.append(f"- Terraform: `{r.terraform}`")
    lines += ["", "**References**", ""] + [f"- {u}" for u in control.references]
    return "\n".join(lines)


def _rule(control: ControlInfo) -> dict[str, Any]:
    tags = ["security", "customer-managed-keys", "azure-databricks"]
    tags += [f"{framework}:{item}" for framework, items in sorted(control.frameworks.items()) for item in items]
    return {
        "id": control.id,
        "name": control.id.replace("-", ""),
        "shortDescription": {"text": control.title},
        "fullDescription": {"text": control.rationale},
        "help": {
            "text": f"{control.rationale} Remediation: {control.remediation.portal}",
            "markdown": _help_markdown(control),
        },
        **({"helpUri": control.references[0]} if control.references else {}),
        "defaultConfiguration": {"level": LEVELS[control.severity]},
        "properties": {
            "security-severity": SECURITY_SEVERITY[control.severity],
            "precision": "high",
            "problem.severity": "error" if LEVELS[control.severity] == "error" else "warning",
            "tags": tags,
        },
    }


def fingerprint(finding: Finding) -> str:
    """Stable across runs: the control, the resource (case-insensitive) and the scope."""
    identity = "|".join(finding.identity)
    return hashlib.sha256(identity.encode()).hexdigest()[:32]


def _message(finding: Finding) -> str:
    where = f" ({finding.scope.value})" if finding.scope else ""
    status = finding.waiver.waived_status if finding.waiver else finding.status.value
    return f"{finding.control_id} {status} on {finding.resource_name}{where}: {finding.reason}"


def _declared_at(finding: Finding, declared: dict[str, LocationInfo]) -> LocationInfo | None:
    """Where the resource a finding is about is declared (planned configuration): the first resource of its
    evidence that has a declaration (the vault of a vault control, the key of a key control), else the
    finding's own resource."""
    for item in finding.evidence:
        if item.resource_id and (found := declared.get(id_key(item.resource_id))) is not None:
            return found
    return declared.get(id_key(finding.resource_id))


def _location(finding: Finding, declared: dict[str, LocationInfo]) -> dict[str, Any]:
    where = _declared_at(finding, declared) if declared else None
    if where is None:
        return {
            "physicalLocation": {
                "artifactLocation": {"uri": artifact_uri(finding.resource_id)},
                "region": {"startLine": 1},
            },
            "logicalLocations": [
                {"fullyQualifiedName": finding.resource_id, "name": finding.resource_name, "kind": "resource"}
            ],
        }
    region: dict[str, int] = {"startLine": where.start_line or 1}
    if where.end_line:
        region["endLine"] = where.end_line
    uri = quote(where.file, safe=_PATH_SAFE) if where.file else "terraform/" + quote(where.address, safe=_PATH_SAFE)
    return {
        "physicalLocation": {"artifactLocation": {"uri": uri}, "region": region},
        "logicalLocations": [{"fullyQualifiedName": where.address, "name": finding.resource_name, "kind": "resource"}],
    }


def _result(finding: Finding, rule_index: int, declared: dict[str, LocationInfo]) -> dict[str, Any]:
    effective = Status(finding.waiver.waived_status) if finding.waiver else finding.status
    unknown = effective is Status.UNKNOWN
    result: dict[str, Any] = {
        "ruleId": finding.control_id,
        "ruleIndex": rule_index,
        "kind": "review" if unknown else "fail",
        "level": "warning" if unknown else LEVELS[finding.severity],
        "message": {"text": _message(finding)},
        "locations": [_location(finding, declared)],
        "partialFingerprints": {FINGERPRINT: fingerprint(finding)},
        "properties": {
            "status": finding.status.value,
            "severity": finding.severity.value,
            "scope": finding.scope.value if finding.scope else None,
            "evidence": [
                {
                    "label": e.label,
                    "value": list(e.value) if isinstance(e.value, tuple) else e.value,
                    "resource_id": e.resource_id,
                    "source": e.source,
                }
                for e in finding.evidence
            ],
        },
    }
    if finding.baseline:
        result["baselineState"] = finding.baseline
    if finding.waiver:
        result["suppressions"] = [
            {
                "kind": "external",
                "status": "accepted",
                "justification": (
                    f"{finding.waiver.justification} (owner {finding.waiver.owner}, until {finding.waiver.expires})"
                ),
            }
        ]
    return result


def sarif_document(results: ResultsDocument) -> dict[str, Any]:
    """The SARIF log of one evaluation."""
    rules = [_rule(c) for c in results.controls]
    declared = {id_key(loc.resource_id): loc for loc in results.scan.locations}
    index = {c.id: i for i, c in enumerate(results.controls)}
    reported = (Status.FAIL, Status.UNKNOWN, Status.SUPPRESSED)
    notifications = [
        {
            "level": "warning",
            "message": {
                "text": f"{e.operation} failed for {e.resource_id}"
                + (f" (HTTP {e.status_code}{' ' + e.code if e.code else ''})" if e.status_code else "")
                + f": {e.message}"
                + (f" Hint: {e.hint}" if e.hint else "")
            },
            "descriptor": {"id": "collection-error"},
        }
        for e in results.coverage.errors
    ]
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": "cmkaudit",
                "version": results.tool.version,
                "informationUri": INFORMATION_URI,
                "rules": rules,
            }
        },
        "automationDetails": {
            "id": f"cmkaudit/{'+'.join(sorted([*results.scan.subscriptions, *results.scan.accounts]))}/"
        },
        "invocations": [
            {
                # Incomplete evidence (a call that failed, an UNKNOWN finding) is an unsuccessful run: exit 3.
                "executionSuccessful": results.summary.complete,
                "endTimeUtc": results.scan.collected_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "toolExecutionNotifications": notifications,
            }
        ],
        "results": [_result(f, index[f.control_id], declared) for f in results.findings if f.status in reported],
        "properties": {
            "cloud": results.scan.cloud,
            "complete": results.summary.complete,
            "compliance_rate": results.summary.kpis.compliance_rate,
        },
    }
    return {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}


def write_sarif(results: ResultsDocument, path: Path) -> Path:
    """Write the SARIF file atomically and return its path."""
    write_json_atomic(path, sarif_document(results))
    return path
