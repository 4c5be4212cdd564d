"""`qlight simulate hbt` end to end: the installed command in a subprocess."""

from __future__ import annotations

import math
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.system._cli import json_run, run_qlight
from tests.unit.test_photon_hdf5 import check_layout

from qlight.physics.emitter import ThreeLevelRates, g2_with_jitter
from qlight.physics.optics import FWHM_PER_SIGMA
from qlight.timetags.photon_hdf5 import read_photon_hdf5


def _run(args: list[str], cwd: Path, module: bool = False) -> subprocess.CompletedProcess[str]:
    return run_qlight(args, cwd, prefix=[], timeout_s=120, module=module)


def _json_run(args: list[str], cwd: Path) -> dict[str, Any]:
    return json_run(args, cwd, prefix=[], timeout_s=120)


_CLEAN = ["--no-blinking", "--background-cps", "0", "--dark-cps", "0", "--afterpulse-prob", "0"]


def test_antibunched_emitter_matches_the_exact_g2(tmp_path: Path) -> None:
    # One emitter with explicit rates, no background, dark counts, afterpulsing or blinking,
    # 50 ps jitter. The reported raw g2(0), pooled over |τ| ≤ 250 ps, must agree with the
    # exact g2 convolved with the two-detector IRF (σ = √2 · 50 ps / 2.355) averaged over the
    # same ten 50 ps bins, within 4 reported standard errors (Poisson on ~10 coincidences
    # against ~150 expected for uncorrelated light).
    k = {"k12": 0.05, "k21": 0.5, "k23": 0.01, "k31": 0.005}
    flags = [f"--{name}={value}" for name, value in k.items()]
    out = _json_run(
        [
            "simulate",
            "hbt",
            "--out",
            "a.h5",
            "--duration",
            "2",
            "--seed",
            "4",
            "--jitter-ps",
            "50",
            "--eta",
            "0.02",
            *flags,
            *_CLEAN,
        ],
        tmp_path,
    )
    p = out["parameters"]
    assert p["emitter_source"] == "flags"
    assert p["k12_per_ns"] == pytest.approx(0.05)
    assert p["power_w"] == pytest.approx(1e-3)
    assert p["k12_per_ns_per_w"] == pytest.approx(50.0)
    assert p["blinking"] is None
    assert p["eta"] == 0.02
    assert out["path"].endswith("a.h5")
    rates = ThreeLevelRates(k["k12"], k["k21"], k["k23"], k["k31"])
    sigma = math.sqrt(2.0) * 50.0 / FWHM_PER_SIGMA
    centres = np.arange(-225.0, 250.0, 50.0)
    want = float(np.mean(g2_with_jitter(centres, rates, sigma)))
    assert out["g2_0"] < 0.5
    assert abs(out["g2_0"] - want) < 4 * out["g2_0_err"]
    assert out["g2_0_err"] < 0.1  # the comparison has power
    # rates: counts / duration with Poisson errors, as read back from the file
    data = read_photon_hdf5(tmp_path / "a.h5")
    counts = [data.t_ps[0].size, data.t_ps[1].size]
    assert out["counts"] == counts
    assert out["rates_cps"] == pytest.approx([c / 2.0 for c in counts])
    assert out["rates_err_cps"] == pytest.approx([math.sqrt(c) / 2.0 for c in counts])
    assert data.parameters == out["parameters"]
    check_layout(tmp_path / "a.h5")


def test_dark_counts_only_give_the_requested_poisson_rate(tmp_path: Path) -> None:
    # --eta 0 leaves only dark counts: with no dead time or afterpulsing each detector is a
    # Poisson process of 5000 /s, so over 2 s the count is 10000 ± 100; tolerance 4σ.
    out = _json_run(
        [
            "simulate",
            "hbt",
            "--out",
            "d.h5",
            "--duration",
            "2",
            "--seed",
            "1",
            "--eta",
            "0",
            "--dark-cps",
            "5000",
            "--dead-time-ns",
            "0",
            "--afterpulse-prob",
            "0",
            "--background-cps",
            "0",
        ],
        tmp_path,
    )
    for n in out["counts"]:
        assert abs(n - 10_000) < 4 * math.sqrt(10_000)
    assert out["parameters"]["dark_cps"] == 5000.0
    assert out["parameters"]["dead_time_ns"] == 0.0


def test_default_chip_emitter_pulsed_and_deterministic(tmp_path: Path) -> None:
    args = ["simulate", "hbt", "--duration", "0.5", "--seed", "7", "--rep-rate-mhz", "80"]
    first = _json_run([*args, "--out", "p1.h5"], tmp_path)
    second = _json_run([*args, "--out", "p2.h5"], tmp_path)
    other = _json_run([*args, "--out", "p3.h5", "--seed", "8"], tmp_path)
    assert first["parameters"]["emitter_source"] == "chip"
    assert first["parameters"]["chip_emitter_index"] is not None
    assert first["g2_method"].startswith("pulsed")
    assert first["parameters"]["rep_rate_hz"] == 80e6
    a, b = read_photon_hdf5(tmp_path / "p1.h5"), read_photon_hdf5(tmp_path / "p2.h5")
    for k in (0, 1):
        np.testing.assert_array_equal(a.t_ps[k], b.t_ps[k])
    assert first["counts"] == second["counts"]
    assert other["counts"] != first["counts"]
    assert a.metadata["/photon_data/measurement_specs/laser_repetition_rate"] == 80e6
    check_layout(tmp_path / "p1.h5")


def test_table_output_and_python_dash_m(tmp_path: Path) -> None:
    proc = _run(
        [
            "simulate",
            "hbt",
            "--out",
            "t.h5",
            "--duration",
            "0.01",
            "--seed",
            "2",
            "--preset",
            "telecom",
        ],
        tmp_path,
        module=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert "g2(0)" in proc.stdout
    assert "t.h5" in proc.stdout
    assert "telecom" in proc.stdout
    assert (tmp_path / "t.h5").is_file()


def test_too_little_data_gives_null_not_nan(tmp_path: Path) -> None:
    out = _json_run(
        ["simulate", "hbt", "--out", "n.h5", "--duration", "1e-9", "--seed", "3"], tmp_path
    )
    assert out["g2_0"] is None
    assert out["g2_0_err"] is None


@pytest.mark.parametrize(
    ("extra", "flag"),
    [
        (["--k21", "-0.5"], "--k21"),
        (["--k23", "-1"], "--k23"),
        (["--background-cps", "-3"], "--background-cps"),
        (["--eta", "1.5"], "--eta"),
        (["--qe", "2"], "--qe"),
        (["--duration", "0"], "--duration"),
        (["--duration", "-2"], "--duration"),
        (["--out", "no/such/folder/x.h5"], "--out"),
        (["--out", "."], "--out"),
        (["--preset", "infrared"], "--preset"),
        (["--afterpulse-prob", "1"], "--afterpulse-prob"),
        (["--seed", "-1"], "--seed"),
    ],
)
def test_bad_input_exits_2_with_one_line_naming_the_flag(
    tmp_path: Path, extra: list[str], flag: str
) -> None:
    base = {"--out": "x.h5", "--duration": "0.01", "--seed": "1"}
    args = ["simulate", "hbt"]
    for key, value in base.items():
        if key not in extra:
            args += [key, value]
    proc = _run([*args, *extra, "--json"], tmp_path)
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"error: {flag}=")
    assert "Traceback" not in proc.stderr
    assert not list(tmp_path.glob("*.h5"))


def test_unwritable_folder_is_refused_before_simulating(tmp_path: Path) -> None:
    if os.geteuid() == 0 or shutil.which("chmod") is None:
        pytest.skip("root can write to read-only folders")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        proc = _run(
            ["simulate", "hbt", "--out", "ro/x.h5", "--duration", "1", "--seed", "1"], tmp_path
        )
    finally:
        ro.chmod(0o700)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: --out=")


def test_dead_time_holds_in_the_written_file(tmp_path: Path) -> None:
    # 1.5 s are generated as two 1 s blocks joined by ChunkJoiner (whose boundary rule is
    # tested densely in tests/unit/test_hbt.py); here the whole written record, 4 Mcps of
    # background per detector (~6e6 tags each), must never show two tags of one detector
    # closer than the requested dead time.
    out = _json_run(
        [
            "simulate",
            "hbt",
            "--out",
            str(tmp_path / "dense.h5"),
            "--duration",
            "1.5",
            "--seed",
            "5",
            "--background-cps",
            "4e6",
            "--dead-time-ns",
            "25",
        ],
        tmp_path,
    )
    data = read_photon_hdf5(Path(out["path"]))
    for t in data.t_ps.values():
        assert t.size > 4_000_000
        assert int(np.diff(t).min()) >= 25_000
