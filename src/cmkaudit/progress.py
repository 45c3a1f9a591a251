"""What cmkaudit tells whoever runs it, on stderr: a live progress display on a terminal, log lines elsewhere.

On a terminal a scan shows a rich progress display (the phase, how far it is, subscriptions and resources
found, calls, throttled calls, failed calls). In a pipeline (stderr not a terminal, or `--log-format json`)
it writes log lines instead: a line when a phase starts and ends, one per failed call, and a summary.
`--quiet` keeps only errors. With `--log-format json` every line is one JSON object, errors included.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from types import TracebackType
from typing import Protocol, TextIO
from urllib.parse import urlsplit

from cmkaudit.text import printable, scrub_secrets


class LogFormat(StrEnum):
    """How log lines are written."""

    TEXT = "text"
    JSON = "json"


@dataclass
class Messages:
    """Lines for stderr: `cmkaudit: ...` text, or one JSON object per line. Quiet keeps errors only."""

    stream: TextIO
    log_format: LogFormat = LogFormat.TEXT
    quiet: bool = False
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def info(self, event: str, text: str, **fields: object) -> None:
        """Something the user may like to know (suppressed by --quiet)."""
        self._emit("info", event, text, fields)

    def warning(self, event: str, text: str, **fields: object) -> None:
        """Something that went wrong without stopping the run (suppressed by --quiet)."""
        self._emit("warning", event, text, fields)

    def error(self, text: str, hint: str | None = None) -> None:
        """Why the run stopped, and what to do about it (always written)."""
        self._emit("error", "error", text, {"hint": hint} if hint else {})

    def _emit(self, level: str, event: str, text: str, fields: Mapping[str, object]) -> None:
        if self.quiet and level != "error":
            return
        # Messages quote servers, files and libraries: each string is cleaned once here (no credential, nothing a
        # terminal would act on, no line break that could fake a line of ours).
        text = _cleaned(text)
        fields = {name: _cleaned(value) if isinstance(value, str) else value for name, value in fields.items()}
        if self.log_format is LogFormat.JSON:
            record = {"time": self.clock().isoformat(), "level": level, "event": event, "message": text, **fields}
            line = json.dumps(record, ensure_ascii=False, default=str) + "\n"
        else:
            prefix = "" if level == "info" else f"{level}: "
            line = f"cmkaudit: {prefix}{text}\n"
            hint = fields.get("hint") if level == "error" else None
            if hint:
                line += f"cmkaudit: hint: {hint}\n"
        with self._lock:
            self.stream.write(line)
            self.stream.flush()


def _cleaned(text: str) -> str:
    return printable(scrub_secrets(text))


class CrawlObserver(Protocol):
    """What the collector reports while it works. Called from the crawl's threads."""

    def phase(self, name: str, total: int) -> None:
        """A phase starts with `total` pieces of work (the previous one, if any, has ended)."""

    def advance(self) -> None:
        """One piece of the current phase is done."""

    def found(self, counts: Mapping[str, int]) -> None:
        """What the crawl has found so far (subscriptions, workspaces, vaults, keys)."""

    def call(self, method: str, url: str, status: int | None) -> None:
        """An HTTP exchange ended with `status` (None: no answer)."""

    def finished(self) -> None:
        """The crawl is over."""


class SilentObserver:
    """Reports nothing (--quiet, replayed demo tenants, library use)."""

    def phase(self, name: str, total: int) -> None:
        """Nothing."""

    def advance(self) -> None:
        """Nothing."""

    def found(self, counts: Mapping[str, int]) -> None:
        """Nothing."""

    def call(self, method: str, url: str, status: int | None) -> None:
        """Nothing."""

    def finished(self) -> None:
        """Nothing."""


@dataclass
class _Tally:
    calls: int = 0
    throttled: int = 0
    failed: int = 0


class _Counting:
    """Counts calls per phase and overall; the displays below build on it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.total, self.current = _Tally(), _Tally()
        self.counts: dict[str, int] = {}
        self.phase_name: str | None = None
        self.phase_started = self.started = time.monotonic()

    def _count(self, status: int | None) -> None:
        with self._lock:
            for tally in (self.total, self.current):
                tally.calls += 1
                if status == 429:
                    tally.throttled += 1
                elif status is None or status >= 500 or status in (401, 403):
                    tally.failed += 1

    def _summary(self) -> tuple[float, str]:
        """Seconds since the crawl started, and the closing line's text."""
        seconds = round(time.monotonic() - self.started, 1)
        return seconds, f"collected in {seconds} s: {self._stats(self.total)}"

    def _stats(self, tally: _Tally) -> str:
        found = ", ".join(f"{n} {name}" for name, n in self.counts.items())
        calls = f"{tally.calls} calls, {tally.throttled} throttled, {tally.failed} failed"
        return f"{found}; {calls}" if found else calls


def _where(url: str) -> str:
    """The path of a URL (no query string: nothing secret is in ARM paths, but keep lines short)."""
    parts = urlsplit(url)
    return f"{parts.netloc}{parts.path}"


class LogObserver(_Counting):
    """Log lines: a phase's start and end, each failed call, a summary. For pipelines and --log-format json."""

    def __init__(self, messages: Messages) -> None:
        super().__init__()
        self._messages = messages

    def phase(self, name: str, total: int) -> None:
        """Close the previous phase and announce this one."""
        self._end_phase()
        self.phase_name, self.phase_started, self.current = name, time.monotonic(), _Tally()
        self._messages.info("phase_started", f"{name}: {total} to do", phase=name, total=total)

    def advance(self) -> None:
        """Per-piece progress is for the terminal display only."""

    def found(self, counts: Mapping[str, int]) -> None:
        """Remember what was found, for the phase-end lines."""
        self.counts = dict(counts)

    def call(self, method: str, url: str, status: int | None) -> None:
        """Count the call; a failed one gets a line of its own (throttled ones are summed per phase)."""
        self._count(status)
        if status is None or (status >= 400 and status != 429):
            answer = "no answer" if status is None else f"HTTP {status}"
            self._messages.warning(
                "call_failed", f"{method} {_where(url)}: {answer}", method=method, url=_where(url), status=status
            )

    def finished(self) -> None:
        """Close the last phase and write the summary."""
        self._end_phase()
        seconds, text = self._summary()
        self._messages.info(
            "crawl_finished",
            text,
            seconds=seconds,
            calls=self.total.calls,
            throttled=self.total.throttled,
            failed=self.total.failed,
            **self.counts,
        )

    def _end_phase(self) -> None:
        if self.phase_name is None:
            return
        seconds = round(time.monotonic() - self.phase_started, 1)
        self._messages.info(
            "phase_finished",
            f"{self.phase_name}: done in {seconds} s ({self._stats(self.current)})",
            phase=self.phase_name,
            seconds=seconds,
            calls=self.current.calls,
            throttled=self.current.throttled,
            failed=self.current.failed,
        )
        self.phase_name = None


class RichObserver(_Counting):
    """A live display on a terminal: the phase with a bar, what was found, calls, throttled and failed calls."""

    def __init__(self, stream: TextIO) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        super().__init__()
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[stats]}"),
            console=Console(file=stream, stderr=True),
            transient=True,
        )
        self._task = self._progress.add_task("starting", total=None, stats="")

    def __enter__(self) -> RichObserver:
        self._progress.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self._progress.stop()

    def phase(self, name: str, total: int) -> None:
        """Show the new phase with an empty bar."""
        self.current = _Tally()
        self._progress.reset(self._task, total=total, description=name, stats=self._stats(self.total))

    def advance(self) -> None:
        """Move the bar."""
        self._progress.advance(self._task)

    def found(self, counts: Mapping[str, int]) -> None:
        """Show what was found."""
        self.counts = dict(counts)
        self._progress.update(self._task, stats=self._stats(self.total))

    def call(self, method: str, url: str, status: int | None) -> None:
        """Count the call and refresh the figures."""
        self._count(status)
        self._progress.update(self._task, stats=self._stats(self.total))

    def finished(self) -> None:
        """Leave one line with the totals once the display is gone."""
        self._progress.console.print(f"cmkaudit: {self._summary()[1]}", highlight=False, soft_wrap=True)
