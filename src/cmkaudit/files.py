"""Files: written whole or not at all, and read with every malformation turned into one clear error.

Reports and snapshots are written through a temporary file and a rename. JSON given to the CLI (snapshots,
results files, baselines) is parsed here or with the same guards: a file that is not UTF-8, nested too
deeply for any parser, or holding a number of thousands of digits is a `SnapshotError` naming the file, not a
Python exception.
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
from collections.abc import Iterable
from pathlib import Path

import msgspec

from cmkaudit.errors import CmkauditError, SnapshotError
from cmkaudit.text import printable

MIB = 1024 * 1024
HCL_FILE_LIMIT = 16 * MIB
"""The largest `.tf` or `.tfvars` file read (Terraform configurations are kilobytes)."""
TEMPLATE_FILE_LIMIT = 64 * MIB
"""The largest ARM template or parameters file read (ARM itself refuses templates over 4 MB)."""
DOCUMENT_FILE_LIMIT = 1024 * MIB
"""The largest Terraform plan, snapshot, results file or baseline read."""
CONFIG_FILE_LIMIT = 1 * MIB
"""The largest configuration file read."""

_PSEUDO_FILESYSTEMS = (Path("/proc"), Path("/sys"), Path("/dev"))
"""Where a path names the machine's state, not a file: never read, whatever links lead there."""
_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a device"),
    (stat.S_ISBLK, "a device"),
    (stat.S_ISSOCK, "a socket"),
)


def _kind(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def read_input(
    path: Path,
    what: str,
    *,
    limit: int,
    within: Path | None = None,
    error: type[CmkauditError] = SnapshotError,
) -> bytes:
    """The bytes of the input file `path` (of kind `what`, e.g. "Terraform plan"), read only when it is a regular
    file: not a FIFO, device, socket or directory, nowhere under /proc, /sys or /dev, whatever links lead there,
    and, with `within`, a file whose real path stays inside that directory (a link in a pull request cannot make
    the scan read a file of the machine). At most `limit` bytes. Anything else is one `error` naming the file,
    never quoting its content."""
    shown = printable(str(path))
    try:
        real = path.resolve(strict=True)
    except (OSError, RuntimeError) as exc:  # RuntimeError: a loop of links
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "a loop of symbolic links"
        raise error(f"cannot read {what} {shown}: {reason}") from exc
    if any(real == top or real.is_relative_to(top) for top in _PSEUDO_FILESYSTEMS):
        raise error(f"{what} {shown} is not a regular file (it is {printable(str(real))}): refused")
    if within is not None and not real.is_relative_to(within.resolve()):
        raise error(
            f"{what} {shown} is a link that leaves {printable(str(within))} (to {printable(str(real))}): refused",
            "only files inside the scanned directory are read",
        )
    try:
        fd = os.open(real, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOFOLLOW)
    except OSError as exc:
        raise error(f"cannot read {what} {shown}: {exc.strerror or exc}") from exc
    with os.fdopen(fd, "rb") as handle:
        mode = os.fstat(handle.fileno()).st_mode
        if not stat.S_ISREG(mode):
            raise error(f"{what} {shown} is {_kind(mode)}, not a regular file: refused")
        try:
            data = handle.read(limit + 1)
        except OSError as exc:
            raise error(f"cannot read {what} {shown}: {exc.strerror or exc}") from exc
    if len(data) > limit:
        raise error(
            f"{what} {shown} is larger than {limit // MIB} MiB, the most cmkaudit reads for one: refused",
            "see docs/security.md for the limits on inputs",
        )
    return data


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
    when the parser names them, never the file's content)."""
    shown = printable(str(path))
    try:
        return json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise SnapshotError(f"{shown} is not UTF-8 text: {exc.reason} at byte {exc.start + 1}") from exc
    except json.JSONDecodeError as exc:
        raise SnapshotError(f"{shown} is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from exc
    except RecursionError as exc:
        raise SnapshotError(f"{shown} is not a file cmkaudit reads: its JSON is nested too deeply") from exc
    except ValueError as exc:  # an integer of more digits than Python converts
        raise SnapshotError(f"{shown} is not a file cmkaudit reads: it holds a number too long to read") from exc


def read_json_file(path: Path, what: str, limit: int = DOCUMENT_FILE_LIMIT) -> object:
    """The JSON document in `path`, read as an input of kind `what` (see `read_input`); one clear SnapshotError
    when it cannot be."""
    return parse_json(path, read_input(path, what, limit=limit))
