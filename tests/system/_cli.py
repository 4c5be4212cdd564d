"""Run the installed ``qlight`` command in a subprocess, as a user would (system tests)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

_SCRIPT = Path(sys.executable).with_name("qlight")
QLIGHT = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "qlight"]


def run_qlight(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """``qlight ARGS`` in ``cwd``, wide plain output, 120 s limit; never raises on exit code."""
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    return subprocess.run(
        [*QLIGHT, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )


def json_run(args: list[str], cwd: Path) -> dict[str, Any]:
    """``qlight ARGS --json``: exit 0, nothing on stderr, exactly one JSON object on stdout."""
    proc = run_qlight([*args, "--json"], cwd)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1, "exactly one JSON object on stdout"
    out = json.loads(lines[0])
    assert isinstance(out, dict)
    return out
