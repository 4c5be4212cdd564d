"""`qlight characterize` end to end: the installed command in a subprocess.

The HTML is checked structurally here (self-contained, inline PNG figures); rendering it in
a real browser belongs to the browser test suite (a later task).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.characterization_twin import simulate_cw
from tests.system._cli import json_run, run_qlight

from qlight.timetags.photon_hdf5 import write_photon_hdf5

_EMITTER = [
    *("--k12", "1", "--k21", "0.5", "--k23", "0.02", "--k31", "0.01", "--no-blinking"),
    *("--eta", "0.02", "--dark-cps", "0", "--afterpulse-prob", "0", "--jitter-ps", "350"),
]


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return run_qlight(args, cwd, prefix=[], timeout_s=180)


def _json(args: list[str], cwd: Path) -> dict[str, Any]:
    return json_run(args, cwd, prefix=[], timeout_s=180)


@pytest.fixture(scope="module")
def cw_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Files written in-process from the twin (the CLI path of `simulate hbt` has its own
    # system test): the main 0.3 s record at 1 mW and short records at three more powers.
    d = tmp_path_factory.mktemp("char")
    for i, (p_mw, dur_s) in enumerate(((0.3, 0.05), (1.0, 0.3), (3.0, 0.05), (0.6, 0.05))):
        tags = simulate_cw(p_mw * 1e-3, dur_s, seed=7 + i)
        write_photon_hdf5(d / f"cw{i}.h5", tags.t_ps, duration_ps=tags.duration_ps)
    return d


def test_cw_certificate_json_and_report(cw_files: Path) -> None:
    # Analyser series of a dipole at 30° with visibility 0.8 (Poisson counts, fixed seed).
    angles = np.arange(0, 180, 15)
    mu = 2000.0 * (1.0 + 0.8 * np.cos(2.0 * np.radians(angles - 30.0)))
    counts = np.random.default_rng(2).poisson(mu)
    rows = "\n".join(f"{a},{n},0.1" for a, n in zip(angles, counts, strict=True))
    (cw_files / "pol.csv").write_text("angle_deg,counts,duration_s\n" + rows + "\n")
    out = _json(["characterize", "cw1.h5", "cw0.h5", "cw2.h5", "cw3.h5", "--report", "r.html",
                 "--irf-sigma-ps", "210", "--background-cps", "2000",
                 "--powers-mw", "1,0.3,3,0.6", "--polarization-csv", "pol.csv"],
                cw_files)  # fmt: skip
    res = out["results"]
    for key in ("g2_0_raw", "g2_0_corrected", "lifetime_ns", "count_rate_cps"):
        assert set(res[key]) >= {"value", "ci95", "unit"}
    g = res["g2_0_raw"]
    assert g["ci95"][0] <= g["value"] <= g["ci95"][1] < 0.7  # antibunched (truth 0.49)
    assert res["lifetime_ns"]["value"] is None  # CW: stated, not invented
    assert res["p_sat_w"]["unit"] == "W"
    vis = res["polarization_visibility"]
    assert vis["ci95"][0] <= 0.8 <= vis["ci95"][1]
    ang = res["dipole_angle_rad"]
    assert ang["ci95"][0] <= np.radians(30.0) <= ang["ci95"][1]
    files = out["provenance"]["files"]
    assert len(files) == 4
    assert all(re.fullmatch(r"[0-9a-f]{64}", f["sha256"]) for f in files)
    page = (cw_files / "r.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert page.count("data:image/png;base64,") >= 5
    assert "<script" not in page
    assert "<link" not in page


def test_rich_output(cw_files: Path) -> None:
    proc = _run(["characterize", "cw1.h5", "--report", "r2.html"], cw_files)
    assert proc.returncode == 0, proc.stderr
    assert "Certificate of cw1.h5" in proc.stdout
    assert "not determined" not in proc.stdout[:0]
    assert (cw_files / "r2.html").is_file()


def test_pulsed_file_gives_a_lifetime(tmp_path: Path) -> None:
    proc = _run(["simulate", "hbt", "--out", "p.h5", "--duration", "0.05", "--seed", "3",
                 "--power-mw", "2", "--rep-rate-mhz", "20", "--background-cps", "0", *_EMITTER,
                 "--json"], tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    out = _json(["characterize", "p.h5", "--report", "p.html"], tmp_path)
    life = out["results"]["lifetime_ns"]
    assert life["ci95"][0] <= 1.0 / 0.52 <= life["ci95"][1]  # truth 1/(k21 + k23)
    assert out["results"]["g2_0_pulsed"]["value"] is not None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.h5", "--report", "x.html"], "missing.h5: no such file"),
        (["cw1.h5", "--report", "x.html", "--powers-mw", "1,2"], "--powers-mw"),
        (["cw1.h5", "--report", "x.html", "--channels", "0,0"], "--channels"),
        (["cw1.h5", "--report", "nodir/x.html"], "--report"),
        (["cw1.h5", "--report", "x.html", "--g2-bin-ps", "0"], "--g2-bin-ps"),
        (["cw1.h5", "--report", "x.html", "--powers-mw", "1,x"], "--powers-mw"),
    ],
)
def test_bad_input_exits_2_with_one_line(cw_files: Path, args: list[str], message: str) -> None:
    proc = _run(["characterize", *args], cw_files)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr
