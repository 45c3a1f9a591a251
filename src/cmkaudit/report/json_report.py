"""The JSON results file: the results document itself (schema: reports/results.schema.json)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import msgspec

from cmkaudit.evaluate.model import Finding
from cmkaudit.files import write_chunks_atomic
from cmkaudit.report.results import ResultsDocument

CHUNK = 5000
"""Findings serialised at a time: the file is written piece by piece, never held whole in memory."""


# msgspec writes findings (records of strings, enums, dates and tuples) several times as fast as pydantic's
# serialiser, which writes the rest of the document; both write what a finding holds the way `json.dumps`
# does (a test holds each finding's line equal to it). Anything else in a finding is an error, not a guess.
_ENCODER = msgspec.json.Encoder()
_EMPTY = b'\n  "findings": [],'
_ITEM_SEPARATOR = b",\n    "
"""Between two findings: they are items of an array two levels deep."""


def results_json(results: ResultsDocument) -> dict[str, Any]:
    """The document as JSON-ready data, in a fixed order so two scans of one tenant diff cleanly."""
    return results.model_dump(mode="json")


def _findings(findings: Sequence[Finding]) -> Iterator[bytes | memoryview]:
    """The findings array's items, one finding per line, indented to their depth in the document."""
    for start in range(0, len(findings), CHUNK):
        # One compact JSON object per line. JSON text never holds a raw newline, so the line breaks are
        # exactly the boundaries between findings. (Views, not slices: no copy of hundreds of megabytes.)
        lines = _ENCODER.encode_lines(findings[start : start + CHUNK])
        yield _ITEM_SEPARATOR[1:] if start == 0 else _ITEM_SEPARATOR
        yield memoryview(lines.replace(b"\n", _ITEM_SEPARATOR))[: -len(_ITEM_SEPARATOR)]


def json_chunks(results: ResultsDocument) -> Iterator[bytes | memoryview]:
    """The results file, piece by piece: laid out as `json.dumps(results_json(results), indent=2,
    ensure_ascii=False)` would, except that each finding is one compact line. A finding changed between two
    scans is one changed line of a diff, a `grep` finds whole findings, and the file is a fifth smaller and
    several times faster to write than fully indented (a large tenant has hundreds of thousands of findings).
    The findings are written by msgspec, the rest by pydantic's serialiser."""
    head = results.model_copy(update={"findings": []})
    text = head.__pydantic_serializer__.to_json(head, indent=2)
    before, found, after = text.partition(_EMPTY)
    if not found or not results.findings:
        yield text + b"\n"
        return
    yield before + b'\n  "findings": ['
    yield from _findings(results.findings)
    yield b"\n  ]," + after + b"\n"


def write_json(results: ResultsDocument, path: Path) -> Path:
    """Write the results file atomically, a piece at a time, and return its path."""
    write_chunks_atomic(path, json_chunks(results))
    return path
