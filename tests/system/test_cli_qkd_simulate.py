"""`qlight qkd simulate` end to end: the installed command in a subprocess."""

from __future__ import annotations

import math
import subprocess
from pathlib import Path
from typing import Any

from tests.system._cli import json_run, run_qlight

from qlight.qkd.link import load_record
from qlight.qkd.theory.channel import DetectorModel, FibreChannel, WeakCoherentSource, gain_and_qber


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return run_qlight(args, cwd, prefix=["qkd", "simulate"], timeout_s=120)


def _json_run(args: list[str], cwd: Path) -> dict[str, Any]:
    return json_run(args, cwd, prefix=["qkd", "simulate"], timeout_s=120)


def test_decoy_link_under_pns(tmp_path: Path) -> None:
    # WCP decoy at 50 km (GYS): PNS leaves the signal gain at the no-attack theory value
    # (within 4 binomial σ) while the decoy estimate refuses a key; Eve knows ~all bits.
    args = ["--source", "wcp-decoy", "--pulses", "20000000", "--distance-km", "50",
            "--seed", "5", "--eve", "pns", "--out", "rec.npz"]  # fmt: skip
    out = _json_run(args, tmp_path)
    sig = out["per_intensity"][0]
    q0, _ = gain_and_qber(
        WeakCoherentSource(0.48),
        FibreChannel(50).transmittance(),
        DetectorModel(0.045, 1.7e-6, 0.033),
    )
    assert abs(sig["gain"] - q0) < 4 * math.sqrt(q0 / sig["sent"])
    assert out["theory_no_eve"][0]["gain"] == q0
    assert out["secure_key_method"] == "decoy"
    assert out["secure_key_rate_per_pulse"] == 0.0
    assert "Y1" in out["secure_key_reason"]
    assert out["key_rates"]["naive"]["compromised"] is True
    assert out["eve_known_fraction"] > 0.99
    rec = load_record(tmp_path / "rec.npz")
    assert rec.n_pulses == 20_000_000
    assert len(rec) == sum(c["detections"] for c in out["per_intensity"])
    assert out["sifted_key_length"] == int((rec.sifted & (rec.intensity == 0)).sum())


def test_sps_link_table_and_key(tmp_path: Path) -> None:
    proc = _run(["--source", "sps", "--g2", "0.01", "--mu", "0.5", "--pulses", "2000000",
                 "--distance-km", "10", "--seed", "1"], tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "Key rates claimed" in proc.stdout
    assert "gllp" in proc.stdout
    out = _json_run(["--source", "sps", "--g2", "0.01", "--mu", "0.5", "--pulses", "2000000",
                     "--distance-km", "10", "--seed", "1"], tmp_path)  # fmt: skip
    assert out["secure_key_method"] == "gllp"
    assert out["secure_key_rate_per_pulse"] > 0
    assert out["parameters"]["g2"] == 0.01
    again = _json_run(["--source", "sps", "--g2", "0.01", "--mu", "0.5", "--pulses", "2000000",
                       "--distance-km", "10", "--seed", "1"], tmp_path)  # fmt: skip
    assert again["per_intensity"] == out["per_intensity"]  # same seed, same result


def test_bad_input_exits_2(tmp_path: Path) -> None:
    cases = [
        ["--source", "sps", "--g2", "-1", "--pulses", "10", "--distance-km", "1"],
        ["--source", "wcp", "--mu", "0", "--pulses", "10", "--distance-km", "1"],
        ["--source", "laser", "--pulses", "10", "--distance-km", "1"],
        ["--source", "wcp", "--pulses", "0", "--distance-km", "1"],
        ["--source", "wcp", "--pulses", "10", "--distance-km", "-1"],
        ["--source", "wcp", "--pulses", "10", "--distance-km", "1", "--eve", "intercept-resend:3"],
        ["--source", "wcp", "--pulses", "10", "--distance-km", "1", "--out", "no/such/dir/r.npz"],
    ]
    for args in cases:
        proc = _run(args, tmp_path)
        assert proc.returncode == 2, (args, proc.stdout, proc.stderr)
        assert proc.stderr.startswith("error:")
        assert len(proc.stderr.strip().splitlines()) == 1
