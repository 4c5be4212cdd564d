"""`qlight qkd reconcile --method ldpc` end to end: the installed command in a subprocess."""

from __future__ import annotations

from pathlib import Path

from tests.system._cli import json_run, run_qlight


def test_reconcile_ldpc_json(tmp_path: Path) -> None:
    args = ["--qber", "0.03", "--bits", "60000", "--method", "ldpc", "--seed", "1", "--json"]
    out = json_run(args, tmp_path, prefix=["qkd", "reconcile"], timeout_s=120)
    assert out["method"] == "ldpc"
    assert out["residual_bit_errors"] == 0
    assert out["channel_uses"] > 0
    # 4 LDPC frames at the default f = 1.2 (Q = 3 %): f over the reconciled bits is 1.2 if
    # all decode and 1.6 if one of the four fails; the dropped tail bits do not lower it
    assert 1.19 < out["efficiency"] < 1.61


def test_reconcile_ldpc_qber_too_high_is_bad_input(tmp_path: Path) -> None:
    proc = run_qlight(
        ["--qber", "0.2", "--bits", "60000", "--method", "ldpc"],
        tmp_path,
        prefix=["qkd", "reconcile"],
        timeout_s=120,
    )
    assert proc.returncode == 2
    assert "qber" in proc.stderr.lower()
