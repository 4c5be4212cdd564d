"""`qlight qkd reconcile` end to end: the installed command in a subprocess."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from tests.system._cli import json_run, run_qlight


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return run_qlight(args, cwd, prefix=["qkd", "reconcile"], timeout_s=120)


def _json(args: list[str], cwd: Path) -> dict[str, Any]:
    return json_run(args, cwd, prefix=["qkd", "reconcile"], timeout_s=120)


@pytest.mark.parametrize("method", ["cascade", "cascade-opt"])
def test_reconcile_json(method: str, tmp_path: Path) -> None:
    out = _json(
        [
            "--qber",
            "0.03",
            "--bits",
            "60000",
            "--frame-bits",
            "20000",
            "--method",
            method,
            "--seed",
            "3",
        ],
        tmp_path,
    )
    for key in (
        "efficiency",
        "residual_bit_errors",
        "frame_error_rate",
        "channel_uses",
        "throughput_mbit_s",
    ):
        assert key in out
    assert out["frames"] == 3
    assert out["bits"] == 60000
    assert out["residual_bit_errors"] == 0
    assert out["frame_error_rate"] == 0.0
    assert out["channel_uses"] > 0
    assert out["throughput_mbit_s"] > 0
    assert out["one_thread"] is True  # Cascade in-process: both parties in one thread
    assert out["cascade_session"] is True  # the frames of one run share the permutations
    # Brassard-Salvail: 1.10-1.25 above Shannon; optimised: <= 1.08 (see unit tests)
    assert (1.10 <= out["efficiency"] <= 1.25) if method == "cascade" else out["efficiency"] <= 1.1
    again = _json(
        [
            "--qber",
            "0.03",
            "--bits",
            "60000",
            "--frame-bits",
            "20000",
            "--method",
            method,
            "--seed",
            "3",
        ],
        tmp_path,
    )
    assert again["leaked_bits"] == out["leaked_bits"]  # same seed, same protocol run


def test_reconcile_over_tcp_and_table(tmp_path: Path) -> None:
    out = _json(["--qber", "0.02", "--bits", "10000", "--transport", "tcp"], tmp_path)
    assert out["transport"] == "tcp"
    assert out["one_thread"] is False  # TCP: two threads
    assert out["residual_bit_errors"] == 0
    proc = _run(["--qber", "0.02", "--bits", "5000"], tmp_path)
    assert proc.returncode == 0
    assert "efficiency" in proc.stdout


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--qber", "0.3", "--bits", "1000"], "--qber"),
        (["--qber", "0.02", "--bits", "10"], "--bits"),
        (["--qber", "0.02", "--bits", "1000", "--method", "magic"], "--method"),
        (["--qber", "0.02", "--bits", "1000", "--transport", "udp"], "--transport"),
    ],
)
def test_bad_input_exits_2(args: list[str], needle: str, tmp_path: Path) -> None:
    proc = _run([*args, "--json"], tmp_path)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert needle in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
