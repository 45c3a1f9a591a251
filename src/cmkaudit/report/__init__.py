"""The report stage: one module per output format, all rendering one `ResultsDocument`."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import TextIO, assert_never, cast

import msgspec
from pydantic import ValidationError

from cmkaudit.errors import SnapshotError
from cmkaudit.evaluate.catalog import Catalog
from cmkaudit.evaluate.engine import Outcome
from cmkaudit.evaluate.model import Finding, Settings
from cmkaudit.evaluate.waivers import WaiverOutcome
from cmkaudit.files import DOCUMENT_FILE_LIMIT, read_input
from cmkaudit.inventory import Inventory
from cmkaudit.report.results import (
    RESULTS_KIND,
    RESULTS_SCHEMA_VERSION,
    Baseline,
    BaselineFinding,
    ResultsDocument,
)
from cmkaudit.text import printable


@dataclass(frozen=True, slots=True)
class Report:
    """An evaluation, before it becomes a results document."""

    inventory: Inventory
    findings: tuple[Finding, ...]
    catalog: Catalog
    settings: Settings
    outcome: Outcome
    waivers: tuple[WaiverOutcome, ...] = ()
    disabled_controls: tuple[str, ...] = ()
    shards_merged: int = 0
    """How many snapshots the evaluated inventory was merged from (0: one scan's inventory)."""


class ReportFormat(StrEnum):
    """The output formats `--format` accepts."""

    CONSOLE = "console"
    JSON = "json"
    SARIF = "sarif"
    HTML = "html"

    @property
    def file_name(self) -> str | None:
        """The name of the file this format writes in the output directory (None: standard output)."""
        return _FILE_NAMES.get(self)

    def write(self, results: ResultsDocument, output_dir: Path, stdout: TextIO) -> Path | None:
        """Render `results` in this format; returns the file written, if any."""
        match self:
            case ReportFormat.CONSOLE:
                from cmkaudit.report.console import render_console

                render_console(results, stdout)
                return None
            case ReportFormat.JSON:
                from cmkaudit.report.json_report import write_json

                return write_json(results, output_dir / _FILE_NAMES[self])
            case ReportFormat.SARIF:
                from cmkaudit.report.sarif import write_sarif

                return write_sarif(results, output_dir / _FILE_NAMES[self])
            case ReportFormat.HTML:
                from cmkaudit.report.html import write_html

                return write_html(results, output_dir / _FILE_NAMES[self])
            case _:
                assert_never(self)


_FILE_NAMES = {
    ReportFormat.JSON: "cmkaudit-results.json",
    ReportFormat.SARIF: "cmkaudit.sarif",
    ReportFormat.HTML: "cmkaudit-report.html",
}


def write_report_set(
    results: ResultsDocument, formats: Sequence[ReportFormat], output_dir: Path, stdout: TextIO
) -> list[Path]:
    """Write every format asked for, as one set: the files are rendered in a staging directory inside `output_dir`
    and moved in together, with Ctrl-C held off for those renames, and report files of other formats left there by
    an earlier run are removed; the directory is locked meanwhile, so two runs into it take turns. The directory
    then holds one run's files, whatever was interrupted or run beside it. Returns the files written."""
    for report_format in formats:
        if report_format.file_name is None:
            report_format.write(results, output_dir, stdout)
    files = [f for f in dict.fromkeys(formats) if f.file_name is not None]
    if not files:
        return []
    output_dir.mkdir(parents=True, exist_ok=True)
    with _locked(output_dir):
        staging = Path(tempfile.mkdtemp(prefix=".cmkaudit-staging-", dir=output_dir))
        try:
            for report_format in files:
                report_format.write(results, staging, stdout)
            names = [str(f.file_name) for f in files]
            with _interrupts_held():
                for name in names:
                    (staging / name).replace(output_dir / name)
                for stale in set(_FILE_NAMES.values()) - set(names):
                    (output_dir / stale).unlink(missing_ok=True)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return [output_dir / str(f.file_name) for f in files]


@contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """An exclusive lock on `directory` itself (flock on its descriptor: no lock file is left behind)."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


@contextmanager
def _interrupts_held() -> Iterator[None]:
    """SIGINT and SIGTERM held back while the set is moved in (a few renames); delivered right after."""
    held = {signal.SIGINT, signal.SIGTERM}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


class _Head(msgspec.Struct):
    """What says which file a results file is."""

    kind: object = None
    schema_version: object = None


class _BaselineScan(msgspec.Struct):
    collected_at: datetime


class _BaselineFile(_Head):
    """The parts of a results file a comparison reads; the rest (evidence, remediation: most of the file) is
    skipped unread."""

    scan: _BaselineScan | None = None
    findings: list[BaselineFinding] | None = None


BASELINE_SCHEMA_VERSIONS = (2, RESULTS_SCHEMA_VERSION)
"""A baseline is read for its findings and collection time, which version 2 wrote as version 3 does."""


def _check_kind_and_version(path: Path, kind: object, version: object, readable: tuple[int, ...] = ()) -> None:
    if kind != RESULTS_KIND:
        raise SnapshotError(
            f'{path} is not a cmkaudit results file (no "kind": "{RESULTS_KIND}")',
            "write one with: cmkaudit scan ... --format json",
        )
    if version != RESULTS_SCHEMA_VERSION and version not in readable:
        raise SnapshotError(
            f"{path} has results schema version {version!r}; this cmkaudit reads version {RESULTS_SCHEMA_VERSION}",
            "re-run the scan, or re-evaluate its snapshot, with this version of cmkaudit",
        )


def _read(path: Path) -> bytes:
    return read_input(path, "results file", limit=DOCUMENT_FILE_LIMIT)


def _not_json(path: Path, data: bytes, error: msgspec.DecodeError) -> SnapshotError:
    """The error for a file that is not JSON, with the line and column when the standard parser names them."""
    try:
        json.loads(data)
    except json.JSONDecodeError as exc:
        return SnapshotError(f"{path} is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}")
    except ValueError:  # not UTF-8
        pass
    return SnapshotError(f"{path} is not JSON: {error}")


def _head(path: Path, data: bytes, readable: tuple[int, ...] = ()) -> _Head:
    """The file's kind and schema version, checked (the rest of the document is skipped)."""
    try:
        head = msgspec.json.decode(data, type=_Head)
    except RecursionError as exc:
        raise _too_deep(path) from exc
    except msgspec.ValidationError:  # JSON, but not an object
        head = _Head()
    except msgspec.DecodeError as exc:
        raise _not_json(path, data, exc) from exc
    _check_kind_and_version(path, head.kind, head.schema_version, readable)
    return head


def _too_deep(path: Path) -> SnapshotError:
    return SnapshotError(f"{path} is not a valid results file: its JSON is nested too deeply")


def _read_baseline_file(path: Path) -> _BaselineFile:
    data = _read(path)
    try:
        document = msgspec.json.decode(data, type=_BaselineFile)
    except RecursionError as exc:
        raise _too_deep(path) from exc
    except msgspec.DecodeError as exc:
        _head(path, data, BASELINE_SCHEMA_VERSIONS)  # not JSON, or of another kind or version: that error
        raise SnapshotError(f"{path} is not a valid results file: {exc}") from exc
    _check_kind_and_version(path, document.kind, document.schema_version, BASELINE_SCHEMA_VERSIONS)
    return document


def load_baseline(path: Path) -> Baseline:
    """Read what `--baseline` compares with from a results file written by `--format json`, or raise
    SnapshotError naming the problem.

    Only the scan's collection time and each finding's control, workspace, scope and status are read (and
    checked): a large tenant's results file is hundreds of megabytes, and reading all of it as `load_results`
    does would cost many times the time and memory (benchmarks/README.md).
    """
    document = _read_baseline_file(path)
    if document.scan is None or document.findings is None:
        missing = "scan" if document.scan is None else "findings"
        raise SnapshotError(f"{path} is not a valid results file: {missing}: Field required")
    return Baseline.of_findings(document.scan.collected_at, document.findings)


class _Findings(msgspec.Struct, forbid_unknown_fields=True):
    findings: list[Finding]


_OTHER_MEMBERS = tuple(name for name in ResultsDocument.model_fields if name != "findings")
_RECORDS_DECODER = msgspec.json.Decoder(
    msgspec.defstruct(
        "_RecordsFile",
        [(name, msgspec.Raw, msgspec.Raw()) for name in _OTHER_MEMBERS],
        bases=(_Findings,),
        forbid_unknown_fields=True,
    )
)
"""A results file with its findings read into records by msgspec, every other member kept as its JSON text."""


def _read_records(data: bytes) -> ResultsDocument | None:
    """The document, its findings decoded straight into records and checked against their types in one pass
    by msgspec, the rest by pydantic; None for a file msgspec rejects."""
    try:
        document = cast(_Findings, _RECORDS_DECODER.decode(data))
    except msgspec.DecodeError:  # also raised for findings that do not match the types
        return None
    members = [
        b'"' + name.encode() + b'":' + bytes(raw) for name in _OTHER_MEMBERS if len(raw := getattr(document, name))
    ]
    rest = ResultsDocument.model_validate_json(b"{" + b",".join([*members, b'"findings":[]']) + b"}")
    return rest.model_copy(update={"findings": document.findings})


def _whole(path: Path, document: ResultsDocument) -> ResultsDocument:
    """`document`, when each finding's control is among its controls (a file edited by hand, or cut, is refused)."""
    controls = {c.id for c in document.controls}
    stray = next((f.control_id for f in document.findings if f.control_id not in controls), None)
    if stray is not None:
        raise SnapshotError(
            f"{printable(str(path))} is not a valid results file: a finding of control {printable(stray)} names no "
            "control of the file"
        )
    return document


def load_results(path: Path) -> ResultsDocument:
    """Read a results file written by `--format json`, or raise SnapshotError naming the problem.

    The findings (nearly all of a large tenant's file) are decoded straight into records by msgspec, and the
    rest of the document, its kind and schema version included, is validated by pydantic (much faster and
    smaller than pydantic reading the whole file: benchmarks/README.md). A file msgspec rejects is read whole by
    pydantic, whose messages say what is wrong."""
    data = _read(path)
    try:
        document = _read_records(data)
        if document is None:
            _head(path, data)  # not JSON, or a file of another kind or version: that is the error to give
            document = ResultsDocument.model_validate_json(data)
        return _whole(path, document)
    except RecursionError as exc:
        raise _too_deep(path) from exc
    except ValidationError as exc:
        _head(path, data)  # as above: kind and version were checked with the rest, as Literals
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise SnapshotError(f"{path} is not a valid results file: {where}: {first['msg']}") from exc
