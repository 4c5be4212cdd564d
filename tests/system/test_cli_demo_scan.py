"""`qlight simulate scan` and `qlight demo` in a subprocess: files, JSON, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from qlight.timetags.photon_hdf5 import read_photon_hdf5


def _qlight(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "qlight", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_simulate_scan_writes_png_and_npz(tmp_path: Path) -> None:
    r = _qlight(
        "simulate", "scan", "--seed", "3", "--out", "scan.png", "--size-um", "10",
        "--step-nm", "250", "--json", cwd=tmp_path,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)  # exactly one JSON object
    assert out["png"] == "scan.png"
    assert out["npz"] == "scan.npz"
    assert out["shape"] == [40, 40]
    png = (tmp_path / "scan.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    data = np.load(tmp_path / "scan.npz")
    assert data["pl_counts"].shape == (40, 40)
    assert data["reflection"].shape == (40, 40)
    np.testing.assert_allclose(np.diff(data["x_m"]), 250e-9)
    assert int(data["pl_counts"].sum()) == out["counts_total"]
    assert json.loads(str(data["metadata_json"]))["seed"] == 3
    # human-readable mode prints a table, not JSON
    r = _qlight("simulate", "scan", "--seed", "3", "--out", "b", "--size-um", "4", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "counts_total" in r.stdout
    assert (tmp_path / "b.png").is_file()
    assert (tmp_path / "b.npz").is_file()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--step-nm", "0"], "--step-nm"),
        (["--dwell-ms", "-1"], "--dwell-ms"),
        (["--preset", "ultraviolet"], "--preset"),
        (["--out", "missing/dir/scan.png"], "--out"),
    ],
)
def test_simulate_scan_bad_input_exits_2(tmp_path: Path, args: list[str], message: str) -> None:
    base = ["simulate", "scan", "--seed", "1", "--out", "s.png", "--size-um", "2"]
    r = _qlight(*base, *args, cwd=tmp_path)
    assert r.returncode == 2
    assert message in r.stderr
    assert "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_demo_writes_what_it_claims(tmp_path: Path) -> None:
    r = _qlight(
        "demo", "--out", "results", "--seed", "0", "--duration", "2", "--size-um", "12", "--json",
        cwd=tmp_path,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    for path in out["files"].values():
        assert (tmp_path / path).is_file(), path
    summary = json.loads((tmp_path / "results" / "summary.json").read_text())
    assert summary["g2_0"] == out["g2_0"]
    data = read_photon_hdf5(tmp_path / "results" / "hbt.h5")
    assert data.duration_ps == 2_000_000_000_000
    counts = [int(data.t_ps[k].size) for k in (0, 1)]
    assert counts == out["counts"]
    assert out["spot"]["diffraction_limited"]
    assert 0.0 <= out["g2_0"] < 1.0


def test_demo_bad_input_exits_2(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x")
    for args, message in (
        (["--out", "afile"], "--out"),
        (["--out", "r", "--duration", "0"], "--duration"),
        (["--out", "r", "--seed", "-4"], "--seed"),
    ):
        r = _qlight("demo", *args, cwd=tmp_path)
        assert r.returncode == 2, (args, r.stderr)
        assert message in r.stderr
        assert "Traceback" not in r.stderr
