"""Run every benchmark of ``benchmarks/`` in turn (``make bench``).

Each benchmark prints its table and rewrites its own section of ``docs/benchmarks.md``.
"""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    """Run ``bench_*.py`` scripts in name order; return the number that failed."""
    failed = 0
    for script in sorted(HERE.glob("bench_*.py")):
        print(f"== {script.name}", flush=True)
        try:
            runpy.run_path(str(script), run_name="__main__")
        except SystemExit as exc:
            if exc.code not in (None, 0):
                failed += 1
    return failed


if __name__ == "__main__":
    sys.exit(main())
