"""`qlight characterize` with a spectrum CSV and a measured IRF: the installed command."""

from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.characterization_twin import (
    ETA,
    PHOTOPHYSICS,
    REP_RATE_HZ,
    lifetime_truth_ns,
    setup,
    simulate_cw,
    simulate_pulsed,
)
from tests.system._cli import json_run, run_qlight

from qlight.characterization.spectrum import spectrum_model
from qlight.physics.hbt import Excitation, PhotonSource, simulate_hbt
from qlight.timetags.photon_hdf5 import write_photon_hdf5


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return run_qlight(args, cwd, prefix=[], timeout_s=180)


def _json(args: list[str], cwd: Path) -> dict[str, Any]:
    return json_run(args, cwd, prefix=[], timeout_s=180)


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("spec")
    tags = simulate_cw(1e-3, 0.2, seed=11)
    write_photon_hdf5(d / "cw.h5", tags.t_ps, duration_ps=tags.duration_ps)
    lam = 600.0 + 0.2 * np.arange(400)
    mu = spectrum_model(lam, [2e5, 0.55, 640.0, 3.0, 92.0, 60.0, 2.0], resolution_nm=0.5)
    counts = np.random.default_rng(4).poisson(mu)
    rows = "\n".join(f"{x:.3f},{n}" for x, n in zip(lam, counts, strict=True))
    (d / "spec.csv").write_text("wavelength_nm,counts\n" + rows + "\n")
    return d


def test_spectrum_results_in_json_and_report(work: Path) -> None:
    out = _json(["characterize", "cw.h5", "--report", "r.html", "--spectrum-csv", "spec.csv",
                 "--spectrum-resolution-nm", "0.5"], work)  # fmt: skip
    res = out["results"]
    for key, truth in (("zpl_nm", 640.0), ("zpl_fwhm_nm", 3.0), ("debye_waller", 0.55)):
        assert res[key]["ci95"][0] <= truth <= res[key]["ci95"][1], res[key]
    assert res["blinking_on_time_s"]["value"] is None  # steady emitter: stated
    assert out["blinking"]["blinking"] is False
    assert out["provenance"]["inputs"][0]["path"] == "spec.csv"
    page = (work / "r.html").read_text(encoding="utf-8")
    assert "Spectrum: zero-phonon line" in page
    assert "<script" not in page


def test_pulsed_file_with_a_measured_irf(tmp_path: Path) -> None:
    # Files written in-process (the `simulate hbt` CLI has its own system test): the data and
    # an IRF of scattered light (same detectors and laser, a 5 ps "decay").
    tags = simulate_pulsed(2e-3, 0.03, seed=3)
    write_photon_hdf5(tmp_path / "p.h5", tags.t_ps, duration_ps=tags.duration_ps,
                      rep_rate_hz=REP_RATE_HZ)  # fmt: skip
    scatter = dataclasses.replace(PHOTOPHYSICS, k21_per_ns=200.0, k23_per_ns=0.0)
    exc = Excitation(2e-3, rep_rate_hz=REP_RATE_HZ, pulse_width_ps=50.0)
    irf = simulate_hbt([PhotonSource(scatter, ETA)], exc, setup(0.0), 0.01,
                       np.random.default_rng(4))  # fmt: skip
    write_photon_hdf5(tmp_path / "irf.h5", irf.t_ps, duration_ps=irf.duration_ps,
                      rep_rate_hz=REP_RATE_HZ)  # fmt: skip
    out = _json(["characterize", "p.h5", "--report", "p.html", "--irf", "irf.h5"], tmp_path)
    life = out["results"]["lifetime_ns"]
    assert "measured IRF" in life["method"]
    assert life["ci95"][0] <= lifetime_truth_ns() <= life["ci95"][1]


_BAD = [
    (["--spectrum-csv", "spec.csv"], "--spectrum-resolution-nm"),
    (["--spectrum-csv", "spec.csv", "--spectrum-resolution-nm", "0.5", "--spectrum-band-nm", "x"],
     "--spectrum-band-nm"),
    (["--irf", "missing.ptu"], "missing.ptu: no such file"),
]  # fmt: skip


@pytest.mark.parametrize(("args", "message"), _BAD)
def test_bad_input_exits_2_with_one_line(work: Path, args: list[str], message: str) -> None:
    proc = _run(["characterize", "cw.h5", "--report", "x.html", *args], work)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr
