"""Run one `cmkaudit` command line and report its process's peak resident memory; `timed_run` runs it so.

Used by crawl.py and evaluate.py: the benchmarked command runs in a process of its own, as a user's would
(`python -m cmkaudit ARGV`, through the console script's own exit). This script, run as a small launcher
between the benchmark and that process, starts it and reads its peak from the kernel when it ends.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class TimedRun:
    """What a benchmarked command did: its output, wall time, peak resident memory and CPU time (user + system,
    of the cmkaudit process alone)."""

    done: subprocess.CompletedProcess[str]
    wall: float
    rss_mb: float
    cpu: float = float("nan")


def timed_run(argv: Sequence[str], env: Mapping[str, str] | None = None) -> TimedRun:
    """Run `cmkaudit ARGV` in a child process; exit on anything but 0 or 1 (findings failing is not an error)."""
    command = [sys.executable, __file__, *argv]
    environment = {**os.environ, "PYTHONPATH": str(ROOT / "src"), **(env or {})}
    started = time.perf_counter()
    done = subprocess.run(command, env=environment, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    if done.returncode not in (0, 1):
        raise SystemExit(f"cmkaudit {argv[0]} failed ({done.returncode}):\n{done.stderr}")
    peak = re.search(r"PEAK_RSS_KB=(\d+)", done.stderr)
    cpu = re.search(r"CPU_SECONDS=([0-9.]+)", done.stderr)
    return TimedRun(
        done, wall, int(peak.group(1)) / 1024 if peak else float("nan"), float(cpu.group(1)) if cpu else float("nan")
    )


def _launch(argv: Sequence[str]) -> int:
    """Run `python -m cmkaudit ARGV`, print its peak resident memory, return its exit code.

    The peak is the kernel's `ru_maxrss` for that process. On Linux that figure survives `exec`: a process
    started from a large one (the benchmark, holding its fake tenant) reports at least the starter's size.
    So cmkaudit is started from this launcher, which holds little more than the interpreter (~10 MB), and
    not from the benchmark; its own peak is far above that. (cmkaudit ends with `os._exit` after writing
    a report, so the figure cannot be read from inside it at exit.)
    """
    pid = os.posix_spawn(sys.executable, [sys.executable, "-m", "cmkaudit", *argv], os.environ)
    _, status, usage = os.wait4(pid, 0)
    print(f"PEAK_RSS_KB={usage.ru_maxrss}", file=sys.stderr)
    print(f"CPU_SECONDS={usage.ru_utime + usage.ru_stime:.3f}", file=sys.stderr)
    return os.waitstatus_to_exitcode(status)


if __name__ == "__main__":
    raise SystemExit(_launch(sys.argv[1:]))
