"""Run the installed ``qlight`` command in a subprocess, as a user would (system tests)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

_SCRIPT = Path(sys.executable).with_name("qlight")
QLIGHT = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "qlight"]


def run_qlight(
    args: Sequence[str],
    cwd: Path,
    *,
    prefix: Sequence[str] = (),
    timeout_s: float = 120.0,
    module: bool = False,
) -> subprocess.CompletedProcess[str]:
    """``qlight PREFIX ARGS`` in ``cwd`` (wide, plain output); never raises on the exit code.

    ``module=True`` runs ``python -m qlight`` instead of the installed script.
    """
    cmd = [sys.executable, "-m", "qlight"] if module else QLIGHT
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    return subprocess.run(
        [*cmd, *prefix, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        env=env,
        check=False,
    )


def one_json_object(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    """The single JSON object a ``--json`` run printed; nothing may go to stderr."""
    assert proc.stderr == ""  # no progress bar or log noise in --json mode
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1, "exactly one JSON object on stdout"
    out = json.loads(lines[0])
    assert isinstance(out, dict)
    return out


def json_run(
    args: Sequence[str], cwd: Path, *, prefix: Sequence[str] = (), timeout_s: float = 120.0
) -> dict[str, Any]:
    """``qlight PREFIX ARGS --json``: exit 0 and exactly one JSON object on stdout."""
    proc = run_qlight([*args, "--json"], cwd, prefix=prefix, timeout_s=timeout_s)
    assert proc.returncode == 0, proc.stderr
    return one_json_object(proc)
