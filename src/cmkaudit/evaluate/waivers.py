"""Waivers: accepted risks that turn matching findings into SUPPRESSED, until they expire."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Literal

from msgspec.structs import replace

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


_GLOB = re.compile(r"[*?\[]")
"""What makes a waiver's resource a pattern rather than one workspace's id."""


@dataclass(frozen=True, slots=True)
class _Rules:
    """The waivers in file order, and where to look for those that may match a finding: the ones naming one
    workspace, by (control, id), and the patterns, by control. A large tenant may fail tens of thousands of
    findings and carry a waiver per excepted workspace; each finding is held against its own few."""

    waivers: tuple[Waiver, ...]
    exact: dict[tuple[str, str], list[int]]
    patterns: dict[str, list[int]]

    @classmethod
    def of(cls, waivers: Iterable[Waiver]) -> _Rules:
        rules = tuple(waivers)
        exact: dict[tuple[str, str], list[int]] = {}
        patterns: dict[str, list[int]] = {}
        for i, w in enumerate(rules):
            control = w.control_id.upper()
            if _GLOB.search(w.resource):
                patterns.setdefault(control, []).append(i)
            else:  # without a wildcard, fnmatch compares the whole text: the ids must be equal
                exact.setdefault((control, w.resource.lower()), []).append(i)
        return cls(rules, exact, patterns)

    def first_match(self, finding: Finding) -> int | None:
        """The position of the first waiver, in file order, that is about `finding`."""
        control = finding.control_id.upper()
        named = self.exact.get((control, finding.resource_id.lower()), ())
        best = next((i for i in named if self.waivers[i].scope in (None, finding.scope)), None)
        for i in self.patterns.get(control, ()):
            if best is not None and i > best:
                break
            if self.waivers[i].matches(finding):
                return i
        return best


def apply_waivers(
    findings: Sequence[Finding], waivers: Iterable[Waiver], today: date
) -> tuple[tuple[Finding, ...], tuple[WaiverOutcome, ...]]:
    """Suppress the failed or unknown findings that an unexpired waiver matches (the first waiver wins).

    `today` is the date the evidence was collected, so re-evaluating a snapshot gives the same result.
    """
    indexed = _Rules.of(waivers)
    rules = indexed.waivers
    counts = [0] * len(rules)
    result: list[Finding] = []
    for finding in findings:
        if not rules or finding.status not in WAIVABLE:
            result.append(finding)
            continue
        index = indexed.first_match(finding)
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
