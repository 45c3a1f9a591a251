"""Run one `cmkaudit` command line and report the process's peak resident memory (used by crawl.py)."""

from __future__ import annotations

import resource
import sys

from cmkaudit.cli import main

if __name__ == "__main__":
    code = main()
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"PEAK_RSS_KB={peak_kb}", file=sys.stderr)
    raise SystemExit(code)
