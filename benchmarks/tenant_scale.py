"""The tenant-scale benchmark in one command: CPU per ARM call at the margin (cpu_per_call.py), the
100 x 50-workspace crawl at 100 ms and --concurrency 64 (scale.py), and the throttle-bound crawl of
5 x 1,000 workspaces against ARM's read bucket (throttle.py), each with its defaults otherwise.

    python benchmarks/tenant_scale.py      # about 6 minutes on 2 cores; run it with nothing else running

Each part prints its figures; benchmarks/README.md records those of a run.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.run import run_parts


def main() -> int:
    return run_parts(
        [
            ("cpu_per_call.py", []),
            ("scale.py", []),
            ("throttle.py", ["--subscriptions", "5", "--workspaces", "1000"]),
        ]
    )


if __name__ == "__main__":
    raise SystemExit(main())
