"""ISO-8601 durations as Key Vault rotation policies write them (P90D, P1Y, P3M, P2W, PT12H)."""

from __future__ import annotations

import re

_DURATION = re.compile(
    r"^P(?!$)(?:(?P<years>\d+(?:\.\d+)?)Y)?(?:(?P<months>\d+(?:\.\d+)?)M)?(?:(?P<weeks>\d+(?:\.\d+)?)W)?"
    r"(?:(?P<days>\d+(?:\.\d+)?)D)?"
    r"(?:T(?=\d)(?:(?P<hours>\d+(?:\.\d+)?)H)?(?:(?P<minutes>\d+(?:\.\d+)?)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$",
    re.IGNORECASE,
)

# Calendar units as Key Vault counts them for rotation: a year is 365 days, a month 30.
_DAYS_PER_UNIT = {
    "years": 365.0,
    "months": 30.0,
    "weeks": 7.0,
    "days": 1.0,
    "hours": 1 / 24,
    "minutes": 1 / 1440,
    "seconds": 1 / 86400,
}


def duration_days(text: str | None) -> float | None:
    """The length of an ISO-8601 duration in days, or None when `text` is not one."""
    if not text:
        return None
    match = _DURATION.match(text.strip())
    if not match:
        return None
    return sum(float(value) * _DAYS_PER_UNIT[unit] for unit, value in match.groupdict().items() if value)
