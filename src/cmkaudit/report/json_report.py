"""The JSON results file: the results document itself (schema: reports/results.schema.json)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from cmkaudit.inventory.snapshot import write_chunks_atomic
from cmkaudit.report.results import FindingInfo, ResultsDocument

CHUNK = 5000
"""Findings serialised at a time: the file is written piece by piece, never held whole in memory."""


@dataclass(frozen=True, slots=True)
class _Piece:
    """Some findings, wrapped as the document wraps them, so the serialiser indents them as deep."""

    findings: list[FindingInfo]


_PIECE: TypeAdapter[_Piece] = TypeAdapter(_Piece)
_PIECE_HEAD = b'{\n  "findings": [\n    '
_PIECE_TAIL = b"\n  ]\n}"
_EMPTY = b'\n  "findings": [],'


def results_json(results: ResultsDocument) -> dict[str, Any]:
    """The document as JSON-ready data, in a fixed order so two scans of one tenant diff cleanly."""
    return results.model_dump(mode="json")


def _findings(findings: Sequence[FindingInfo]) -> Iterator[bytes]:
    """The findings array's items, at the depth they have in the document (two levels of two spaces)."""
    for start in range(0, len(findings), CHUNK):
        piece = _PIECE.dump_json(_Piece(list(findings[start : start + CHUNK])), indent=2)
        # '{\n  "findings": [\n    {...},\n    {...}\n  ]\n}' -> the items, already at their depth
        yield (b",\n    " if start else b"\n    ") + piece[len(_PIECE_HEAD) : -len(_PIECE_TAIL)]


def json_chunks(results: ResultsDocument) -> Iterator[bytes]:
    """The results file, piece by piece: the same bytes as `json.dumps(results_json(results), indent=2,
    ensure_ascii=False)` plus a newline (a test holds them equal), from pydantic's serialiser."""
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
