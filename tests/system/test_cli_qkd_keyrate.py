"""`qlight qkd keyrate` end to end: the installed command in a subprocess."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from tests.system._cli import json_run, run_qlight

from qlight.qkd.theory import GYS, Protocol, key_rate, transmittance_at_km


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return run_qlight(args, cwd, prefix=["qkd", "keyrate"], timeout_s=120)


def _json_run(args: list[str], cwd: Path) -> dict[str, Any]:
    return json_run(args, cwd, prefix=["qkd", "keyrate"], timeout_s=120)


def test_gys_infinite_decoys_reproduce_the_published_values(tmp_path: Path) -> None:
    # Ma, Qi, Zhao, Lo 2005 with the GYS set: R(0) = 2.555e-3 per pulse, 142.05 km
    out = _json_run(
        ["--source", "wcp-decoy", "--preset", "gys", "--distance-km", "0:150:50", "--max-distance"],
        tmp_path,
    )
    assert out["distance_km"] == [0.0, 50.0, 100.0, 150.0]
    assert len(out["rate_per_pulse"]) == 4
    assert out["rate_per_pulse"][0] == pytest.approx(2.555e-3, rel=1e-3)
    assert out["rate_per_pulse"][3] == 0.0
    assert out["reason"][3]
    assert out["reason"][0] is None
    assert out["max_distance_km"] == pytest.approx(142.05, abs=0.5)
    assert out["mu"][0] == pytest.approx(0.48, abs=0.01)
    for r, k in zip(out["rate_per_pulse"], out["plob_per_pulse"], strict=True):
        assert r < k
    p = out["parameters"]
    assert p["preset"] == "gys"
    assert p["decoys"] == "infinite"
    assert p["eta_bob"] == 0.045
    assert p["dark_yield"] == 1.7e-6
    assert p["loss_db_per_km"] == 0.21
    assert p["q"] == 0.5


def test_sps_plot_and_zero_rate_reason(tmp_path: Path) -> None:
    out = _json_run(
        [
            "--source",
            "sps",
            "--g2",
            "0.059",
            "--mu",
            "0.5",
            "--distance-km",
            "0:200:50",
            "--plot",
            "rate.png",
        ],
        tmp_path,
    )
    assert out["plot"] == "rate.png"
    png = (tmp_path / "rate.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(png) > 10_000
    assert out["rate_per_pulse"][0] > 0
    assert out["rate_per_pulse"][-1] == 0.0  # 200 km: dark counts dominate
    assert out["qber"][-1] >= 0.11
    assert "QBER" in out["reason"][-1]
    assert out["parameters"]["g2"] == 0.059


def test_table_output(tmp_path: Path) -> None:
    proc = _run(["--source", "sps", "--g2", "0.059", "--distance-km", "0:100:50"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "Secret key rate" in proc.stdout
    assert "g2(0) = 0.059" in proc.stdout
    assert "PLOB" in proc.stdout


def test_two_decoys_and_finite_key(tmp_path: Path) -> None:
    args = ["--source", "wcp-decoy", "--distance-km", "20:20:1"]
    two = _json_run([*args, "--decoys", "two", "--decoy-intensities", "0.1,0.01"], tmp_path)
    fin = _json_run([*args, "--finite-n", "1e11", "--max-distance"], tmp_path)
    inf = key_rate(Protocol("wcp-decoy"), transmittance_at_km(20.0, GYS), GYS).result
    assert 0 < two["rate_per_pulse"][0] < inf.rate_per_pulse
    assert two["parameters"]["decoy_intensities"] == [0.1, 0.01]
    assert 0 < fin["rate_per_pulse"][0] < 2 * inf.rate_per_pulse  # efficient BB84: q -> 1
    assert fin["parameters"]["finite_n"] == 1e11
    assert 0.5 < fin["p_x"][0] < 1
    assert 20 < fin["max_distance_km"] < 142.05


@pytest.mark.parametrize(
    ("extra", "flag"),
    [
        (["--source", "sps", "--g2", "-0.1"], "--g2"),
        (["--source", "wcp", "--mu", "-1"], "--mu"),
        (["--source", "laser"], "--source"),
        (["--source", "wcp", "--distance-km", "50:10:5"], "--distance-km"),
        (
            [
                "--source",
                "wcp-decoy",
                "--mu",
                "0.5",
                "--decoys",
                "vacuum+weak",
                "--decoy-intensities",
                "0.6",
            ],
            "--decoy-intensities",
        ),
    ],
)
def test_bad_input_exits_2_with_one_line_naming_the_flag(
    tmp_path: Path, extra: list[str], flag: str
) -> None:
    proc = _run(
        [*extra, "--distance-km", "0:10:10", "--json"]
        if "--distance-km" not in extra
        else [*extra, "--json"],
        tmp_path,
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"error: {flag}=")
    assert "Traceback" not in proc.stderr
