"""Kernel bodies run as plain Python (``NUMBA_DISABLE_JIT=1``) for coverage and as a check.

The main suite keeps JIT; this test runs a small selection of the kernel tests in a
subprocess with the JIT disabled and asserts that they pass (the same code then runs as
Python, so coverage sees the kernel bodies and interpreter semantics are checked too).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

_SELECTION = [
    "tests/unit/test_correlate.py::test_matches_naive_oracle",
    "tests/unit/test_correlate.py::test_bin_edges_are_half_open",
    "tests/unit/test_correlate.py::test_negative_delay_uses_floor_division",
    "tests/unit/test_correlate.py::test_long_streams_match_vectorised_brute_force",
    "tests/unit/test_multitau.py::test_counts_match_oracle",
    "tests/unit/test_multitau.py::test_merged_tags_keep_the_counts",
    "tests/unit/test_lifetime.py::test_t2_matches_oracle_and_conserves_counts",
    "tests/unit/test_lifetime.py::test_t3_histogram_matches_numpy_and_conserves_counts",
    "tests/unit/test_trace.py::test_trace_matches_oracle_and_conserves_counts",
    "tests/unit/test_coincidence.py::test_matches_oracle",
    "tests/unit/test_streaming.py::test_chunked_equals_whole",
]


def test_kernels_pass_without_jit() -> None:
    env = {**os.environ, "NUMBA_DISABLE_JIT": "1", "HYPOTHESIS_PROFILE": "default"}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:xdist",
            "-p",
            "no:cacheprovider",
            "--hypothesis-seed=0",
            *_SELECTION,
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "passed" in proc.stdout
    assert "failed" not in proc.stdout
