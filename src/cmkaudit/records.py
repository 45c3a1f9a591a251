"""`record`: the dataclass for the records a scan makes by the million (findings and their evidence).

A frozen dataclass checks immutability at run time, and pays for it in its constructor: every field is
set through `object.__setattr__`, which makes building one three to six times as slow as a plain
slotted dataclass. A scan of a large tenant builds several records per finding, millions in all, so
that check alone took about a sixth of evaluating and reporting 10,000 workspaces.

A `record` is a plain slotted dataclass at run time (hashable from its fields, like a frozen one) that
type checkers treat as frozen (`dataclass_transform(frozen_default=True)`): mypy rejects any assignment
to a field, so the records stay read-only by construction and can be shared between findings and
reports. Everything that is not built in bulk stays a frozen dataclass.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeVar, dataclass_transform

_T = TypeVar("_T")


@dataclass_transform(frozen_default=True, field_specifiers=(field,))
def record(cls: type[_T]) -> type[_T]:
    """Make `cls` a slotted, hashable dataclass that type checkers hold read-only."""
    return dataclass(slots=True, unsafe_hash=True)(cls)
