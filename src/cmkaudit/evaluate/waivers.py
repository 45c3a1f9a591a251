"""Waivers: accepted risks that turn matching findings into SUPPRESSED, until they expire."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date
from enum import StrEnum
from typing import Literal

from cmkaudit.evaluate.model import AppliedWaiver, Finding, Status
from cmkaudit.ids import ControlId
from cmkaudit.inventory.model import Scope

WAIVABLE = frozenset({Status.FAIL, Status.UNKNOWN})
"""A waiver accepts a failure or missing evidence; it never touches a PASS or NOT_APPLICABLE."""


@dataclass(frozen=True, slots=True)
class Waiver:
    """One waiver from the configuration."""

    control_id: ControlId
    resource: str
    """The workspace's ARM id, or a glob over it; compared case-insensitively."""
    scope: Scope | None
    justification: str
    owner: str
    expires: date

    def matches(self, finding: Finding) -> bool:
        """Whether the waiver is about this finding (expiry aside)."""
        return (
            finding.control_id.upper() == self.control_id.upper()
            and fnmatch.fnmatchcase(finding.resource_id.lower(), self.resource.lower())
            and (self.scope is None or finding.scope is self.scope)
        )


class WaiverState(StrEnum):
    """What became of a waiver in this evaluation."""

    APPLIED = "applied"
    EXPIRED = "expired"
    """It matched findings but its date has passed: they are reported as they are."""
    UNUSED = "unused"
    """It matched no failed or unknown finding."""


@dataclass(frozen=True, slots=True)
class WaiverOutcome:
    """A waiver and what it did."""

    waiver: Waiver
    state: WaiverState
    findings: int
    """How many findings it suppressed (APPLIED) or would have suppressed (EXPIRED)."""


def apply_waivers(
    findings: Sequence[Finding], waivers: Iterable[Waiver], today: date
) -> tuple[tuple[Finding, ...], tuple[WaiverOutcome, ...]]:
    """Suppress the failed or unknown findings that an unexpired waiver matches (the first waiver wins).

    `today` is the date the evidence was collected, so re-evaluating a snapshot gives the same result.
    """
    rules = tuple(waivers)
    counts = [0] * len(rules)
    result: list[Finding] = []
    for finding in findings:
        if not rules or finding.status not in WAIVABLE:
            result.append(finding)
            continue
        index = next((i for i, w in enumerate(rules) if w.matches(finding)), None)
        if index is None:
            result.append(finding)
            continue
        counts[index] += 1
        waiver = rules[index]
        if waiver.expires < today:
            result.append(finding)
            continue
        was: Literal["FAIL", "UNKNOWN"] = "FAIL" if finding.status is Status.FAIL else "UNKNOWN"
        applied = AppliedWaiver(waiver.justification, waiver.owner, waiver.expires, was)
        result.append(replace(finding, status=Status.SUPPRESSED, waiver=applied))
    outcomes = tuple(
        WaiverOutcome(
            w,
            WaiverState.UNUSED if not n else WaiverState.EXPIRED if w.expires < today else WaiverState.APPLIED,
            n,
        )
        for w, n in zip(rules, counts, strict=True)
    )
    return tuple(result), outcomes
