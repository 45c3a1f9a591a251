"""Files: written whole or not at all, and read with every malformation turned into one clear error.

Reports and snapshots are written through a temporary file and a rename. JSON given to the CLI (snapshots,
results files, baselines) is parsed here or with the same guards: a file that is not UTF-8, nested too
deeply for any parser, or holding a number of thousands of digits is a `SnapshotError` naming the file, not a
Python exception.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

import msgspec

from cmkaudit.errors import SnapshotError


def write_chunks_atomic(path: Path, chunks: Iterable[bytes | memoryview]) -> None:
    """Write `chunks` to `path` through a temporary file and a rename: an interruption (Ctrl-C, a crash)
    leaves either the old file or the new one, never half of one, and no temporary file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        Path(tmp).chmod(0o644)  # like any file the user writes, not mkstemp's 0600
        with os.fdopen(fd, "wb") as handle:
            for chunk in chunks:
                handle.write(chunk)
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(path: Path, text: str) -> None:
    """Write `text` as UTF-8 to `path` atomically (see write_chunks_atomic)."""
    write_chunks_atomic(path, [text.encode("utf-8")])


def write_json_atomic(path: Path, document: object) -> None:
    """Write JSON to `path` atomically (see write_chunks_atomic), laid out as `json.dumps(document, indent=2,
    ensure_ascii=False)` lays it out.

    Those very bytes, made much faster: `json.dumps` with an indent runs its pure-Python encoder,
    so the document is encoded compact by its C encoder and then indented by msgspec, which keeps every
    token's text as it is.
    """
    compact = json.dumps(document, ensure_ascii=False).encode("utf-8")
    write_chunks_atomic(path, [msgspec.json.format(compact, indent=2), b"\n"])


def parse_json(path: Path, data: bytes) -> object:
    """`data`, the bytes of `path`, as JSON; raise SnapshotError saying why it is not (with the line and column
    when the parser names them)."""
    try:
        return json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise SnapshotError(f"{path} is not UTF-8 text: {exc.reason} at byte {exc.start + 1}") from exc
    except json.JSONDecodeError as exc:
        raise SnapshotError(f"{path} is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from exc
    except RecursionError as exc:
        raise SnapshotError(f"{path} is not a file cmkaudit reads: its JSON is nested too deeply") from exc
    except ValueError as exc:  # an integer of more digits than Python converts
        raise SnapshotError(f"{path} is not a file cmkaudit reads: it holds a number too long to read") from exc


def read_json_file(path: Path, what: str) -> object:
    """The JSON document in `path`, read as an input of kind `what`; one clear SnapshotError when it cannot be."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SnapshotError(f"cannot read {what} {path}: {exc.strerror or exc}") from exc
    return parse_json(path, data)
