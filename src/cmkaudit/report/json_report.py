"""The JSON results file: the results document itself (schema: reports/results.schema.json)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cmkaudit.inventory.snapshot import write_bytes_atomic
from cmkaudit.report.results import ResultsDocument


def results_json(results: ResultsDocument) -> dict[str, Any]:
    """The document as JSON-ready data, in a fixed order so two scans of one tenant diff cleanly."""
    return results.model_dump(mode="json")


def write_json(results: ResultsDocument, path: Path) -> Path:
    """Write the results file atomically and return its path.

    pydantic's serialiser writes the same text as `json.dumps(results_json(results), indent=2,
    ensure_ascii=False)` (a test holds them equal) in a fraction of the time, as UTF-8 bytes straight
    away (no second copy of a document that can be hundreds of megabytes).
    """
    write_bytes_atomic(path, results.__pydantic_serializer__.to_json(results, indent=2) + b"\n")
    return path
