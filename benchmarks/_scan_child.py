"""Run one `cmkaudit` command line and report the process's peak resident memory; `timed_run` runs it so.

Used by crawl.py and evaluate.py: the benchmarked command runs in a process of its own, as a user's would.
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
    """What a benchmarked command did: its output, wall time and peak resident memory."""

    done: subprocess.CompletedProcess[str]
    wall: float
    rss_mb: float


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
    return TimedRun(done, wall, int(peak.group(1)) / 1024 if peak else float("nan"))


def peak_rss_kb() -> int:
    """This process's own peak resident memory, in KiB.

    On Linux, getrusage's ru_maxrss survives exec: a child started from a large parent (the benchmark,
    holding its fake tenant) reports at least the parent's size at the fork. /proc's VmHWM is the peak
    of this program's memory alone, so it is used where there is one.
    """
    try:
        with Path("/proc/self/status").open(encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


if __name__ == "__main__":
    from cmkaudit.cli import main

    code = main()
    print(f"PEAK_RSS_KB={peak_rss_kb()}", file=sys.stderr)
    raise SystemExit(code)
