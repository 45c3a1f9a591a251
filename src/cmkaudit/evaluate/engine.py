"""The rule engine: every control of the catalogue over the inventory, one finding per resource."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from operator import attrgetter

from cmkaudit.evaluate.catalog import AppliesTo, Catalog, ControlMeta
from cmkaudit.evaluate.checks import (
    AWS_KEY_USAGE_CHECKS,
    AWS_WORKSPACE_CHECKS,
    KEY_USAGE_CHECKS,
    SEVERITY_RAISED_FOR_SENSITIVE,
    WORKSPACE_CHECKS,
    KeyUsageCheck,
    SubjectCheck,
    workspace_of,
)
from cmkaudit.evaluate.model import Finding, Settings, Severity, Status, Verdict
from cmkaudit.ids import ResourceId
from cmkaudit.inventory import Inventory
from cmkaudit.inventory.aws import AwsKeyUsage, AwsWorkspace
from cmkaudit.inventory.model import KeyUsage, Workspace

_STATUS = attrgetter("status")

Resolved = dict[Callable[[KeyUsage, Inventory], object], list[object]]
"""What each usage leads to (a vault, a key, a key version, or the verdict when it leads nowhere), by the
function that finds it: found once per evaluation, for every check that judges that kind of subject."""


def _usage_verdicts(
    check: KeyUsageCheck,
    inventory: Inventory,
    settings: Settings,
    usages: Sequence[tuple[KeyUsage, str]],
    subjects: Resolved,
) -> Iterator[Verdict]:
    """A key-usage check's verdict on each usage, in order. A check on the usage's vault, key or key version
    alone judges each of those once, all of them in one call; the usages that lead to one share its verdict
    (see `SubjectCheck`)."""
    if not isinstance(check, SubjectCheck):
        for usage, _ in usages:
            yield check(usage, inventory, settings)
        return
    found = subjects.get(check.resolve)
    if found is None:
        found = subjects[check.resolve] = [check.resolve(usage, inventory) for usage, _ in usages]
    sames = [None if isinstance(subject, Verdict) else check.same(subject) for subject in found]
    distinct: dict[Hashable, object] = {}
    for subject, same in zip(found, sames, strict=True):
        if not isinstance(subject, Verdict):
            distinct.setdefault(same, subject)
    judged = dict(zip(distinct, check.judge_all(list(distinct.values()), inventory, settings), strict=True))
    for subject, same in zip(found, sames, strict=True):
        yield subject if isinstance(subject, Verdict) else judged[same]


def _evaluate_control(
    control: ControlMeta,
    inventory: Inventory,
    settings: Settings,
    workspaces: Sequence[Workspace],
    usages: Sequence[tuple[KeyUsage, str]],
    sensitive: frozenset[str],
    subjects: Resolved,
    aws_workspaces: Sequence[AwsWorkspace] = (),
    aws_usages: Sequence[AwsKeyUsage] = (),
) -> Iterator[Finding]:
    """One control over the workspaces or key usages, given in report order."""
    control_id, title, severity = control.control_id, control.title, control.severity
    match control.applies_to:
        case AppliesTo.WORKSPACE:
            workspace_check = WORKSPACE_CHECKS[control_id]
            raise_for_sensitive = control_id in SEVERITY_RAISED_FOR_SENSITIVE
            for workspace in workspaces:
                verdict = workspace_check(workspace, inventory, settings)
                # GOV-02: on a workspace tagged as sensitive, the scope controls are critical.
                raised = raise_for_sensitive and workspace.id in sensitive
                yield Finding(
                    control_id,
                    title,
                    Severity.CRITICAL if raised else severity,
                    verdict.status,
                    workspace.id,
                    workspace.name,
                    None,
                    verdict.reason,
                    verdict.evidence,
                )
        case AppliesTo.AWS_WORKSPACE:
            aws_check = AWS_WORKSPACE_CHECKS[control_id]
            for aws_workspace in aws_workspaces:
                verdict = aws_check(aws_workspace, inventory, settings)
                yield Finding(
                    control_id,
                    title,
                    severity,
                    verdict.status,
                    ResourceId(aws_workspace.id),
                    aws_workspace.name,
                    None,
                    verdict.reason,
                    verdict.evidence,
                )
        case AppliesTo.AWS_KEY_USAGE:
            usage_check = AWS_KEY_USAGE_CHECKS[control_id]
            for aws_usage in aws_usages:
                verdict = usage_check(aws_usage, inventory, settings)
                yield Finding(
                    control_id,
                    title,
                    severity,
                    verdict.status,
                    ResourceId(aws_usage.workspace_id),
                    inventory.aws.workspaces[aws_usage.workspace_id].name,
                    aws_usage.use_case.scope,
                    verdict.reason,
                    verdict.evidence,
                )
        case AppliesTo.KEY_USAGE:
            verdicts = _usage_verdicts(KEY_USAGE_CHECKS[control_id], inventory, settings, usages, subjects)
            for (usage, name), verdict in zip(usages, verdicts, strict=True):
                yield Finding(
                    control_id,
                    title,
                    severity,
                    verdict.status,
                    usage.workspace_id,
                    name,
                    usage.scope,
                    verdict.reason,
                    verdict.evidence,
                )


def evaluate(inventory: Inventory, catalog: Catalog, settings: Settings) -> tuple[Finding, ...]:
    """Run every control; findings come back sorted by (control id, resource id, scope).

    The workspaces and key usages are put in that order once, and each control walks them in it, so
    the findings come out in report order without sorting hundreds of thousands of them (`Finding.sort_key`
    states the order; a test holds the two equal).
    """
    workspaces = sorted(inventory.workspaces, key=lambda w: w.id.lower())
    usages = sorted(
        ((u, workspace_of(u, inventory).name) for u in inventory.key_usages),
        key=lambda pair: (pair[0].workspace_id.lower(), pair[0].scope.value),
    )
    sensitive = frozenset(w.id for w in inventory.workspaces if settings.is_sensitive(w.tags))
    controls = sorted(catalog, key=lambda c: c.control_id)
    subjects: Resolved = {}
    aws_workspaces = sorted(inventory.aws_workspaces, key=lambda w: w.id.lower())
    aws_usages = sorted(inventory.aws_key_usages, key=lambda u: (u.workspace_id.lower(), u.use_case.scope.value))
    return tuple(
        f
        for control in controls
        for f in _evaluate_control(
            control, inventory, settings, workspaces, usages, sensitive, subjects, aws_workspaces, aws_usages
        )
    )


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
    findings = findings if isinstance(findings, Sequence) else tuple(findings)
    counts = Counter(map(_STATUS, findings))
    fail = Status.FAIL
    over = (
        sum(1 for f in findings if f.status is fail and f.severity.rank >= threshold.rank)
        if threshold is not None and counts[fail]
        else 0
    )
    return Outcome(
        failed=counts[fail],
        failed_at_or_above_threshold=over,
        unknown=counts[Status.UNKNOWN],
        collection_errors=len(inventory.errors),
        threshold=threshold,
    )
