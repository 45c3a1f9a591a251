"""The whole benchmark in one command: the crawl (crawl.py) of a tenant with a vault per workspace and of the
same workspaces keyed in 5 central vaults, then evaluation and reports (evaluate.py) of 10,000 workspaces, with a
vault each, on 20 central vaults, and all on one vault on Azure RBAC (sharing its key, then a key each).

    python benchmarks/run.py

Each part runs with its defaults and prints its figures; benchmarks/README.md records those of a run.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent


def run_parts(parts: Sequence[tuple[str, list[str]]]) -> int:
    """Run each (script, arguments) of this folder in turn, printing a header before each; stop at the first that
    fails and return its exit code."""
    for script, extra in parts:
        print(f"== {' '.join([script, *extra])} ==", flush=True)
        done = subprocess.run([sys.executable, str(HERE / script), *extra], check=False)
        if done.returncode:
            return done.returncode
    return 0


def main() -> int:
    return run_parts(
        [
            ("crawl.py", []),
            ("crawl.py", ["--central-vaults", "5"]),
            ("evaluate.py", ["--stages", "--reread"]),
            ("evaluate.py", ["--central-vaults", "20"]),
            ("evaluate.py", ["--central-vaults", "1", "--rbac"]),
            ("evaluate.py", ["--central-vaults", "1", "--rbac", "--key-each"]),
        ]
    )


if __name__ == "__main__":
    raise SystemExit(main())
