"""`qlight g2 | lifetime | trace` end to end: the installed command in a subprocess."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tests._data import PICOQUANT_DIR, needs_picoquant
from tests.system._cli import json_run as _json_run
from tests.system._cli import run_qlight as _run

from qlight.physics.detectors import SI_SPAD
from qlight.physics.emitter import EmitterPhotophysics
from qlight.physics.hbt import Excitation, HBTSetup, PhotonSource, simulate_hbt
from qlight.timetags.correlate import cross_correlate
from qlight.timetags.g2 import g2_at_zero, g2_cw
from qlight.timetags.io import read_ptu
from qlight.timetags.photon_hdf5 import write_photon_hdf5

DATA = PICOQUANT_DIR


@pytest.fixture(scope="module")
def twin_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[np.ndarray], int]:
    # One emitter of the twin, no background: strongly antibunched; 0.5 s.
    ph = EmitterPhotophysics(1e3, 0.5, 0.02, 0.01, qe=0.8)
    setup = HBTSetup((SI_SPAD, SI_SPAD))
    tags = simulate_hbt(
        [PhotonSource(ph, 0.05)], Excitation(1e-3), setup, 0.5, np.random.default_rng(3)
    )
    path = tmp_path_factory.mktemp("g2") / "twin.h5"
    write_photon_hdf5(path, tags.t_ps, duration_ps=tags.duration_ps)
    return path, list(tags.t_ps), tags.duration_ps


def test_g2_json_on_twin_output(
    twin_file: tuple[Path, list[np.ndarray], int], tmp_path: Path
) -> None:
    path, t_ps, duration = twin_file
    out = _json_run(
        [
            "g2",
            str(path),
            "--window-ns",
            "20",
            "--bin-ps",
            "500",
            "--chunk-records",
            "5000",
            "--plot",
            "g2.png",
        ],
        tmp_path,
    )
    _, counts = cross_correlate(t_ps[0], t_ps[1], window_ps=20_000, bin_ps=500)
    assert out["counts"] == counts.tolist()  # streamed in chunks = whole-file histogram
    assert out["lags_ps"][0] == -20_000
    assert len(out["g2"]) == len(out["g2_err"]) == 80
    assert out["normalization"] == "cw"
    assert out["duration_ps"] == duration
    # the CLI's normalisation is the library's on the whole arrays
    h = g2_cw(t_ps[0], t_ps[1], window_ps=20_000, bin_ps=500, duration_ps=duration)
    g0, g0_err = g2_at_zero(h, half_width_ps=250)
    assert out["g2"] == pytest.approx(h.g2.tolist(), rel=1e-12)
    assert (out["g2_0"], out["g2_0_err"]) == pytest.approx((g0, g0_err), rel=1e-12)
    # antibunched at 0 (350 ps SPAD jitter and dark counts keep it above 0), bunched at
    # ±20 ns by shelving in the metastable level (k23 = 0.02/ns, k31 = 0.01/ns)
    assert out["g2_0"] + 4 * out["g2_0_err"] < 1.0
    assert min(out["g2"][:5]) - 4 * max(out["g2_err"][:5]) > 1.0
    assert (tmp_path / "g2.png").stat().st_size > 1000


@needs_picoquant
def test_g2_pulsed_on_real_t3_file(tmp_path: Path) -> None:
    out = _json_run(
        [
            "g2",
            str(DATA / "hydraharp_v20_t3.ptu"),
            "--pulsed",
            "--rep-rate-mhz",
            "4.99996",
            "--bin-ps",
            "1000",
            "--side-peaks",
            "3",
            "--normalization",
            "poisson",
        ],
        tmp_path,
    )
    assert out["mode"] == "pulsed"
    assert out["normalization"] == "poisson"
    assert out["peak_k"] == [-3, -2, -1, 0, 1, 2, 3]
    assert out["g2_0"] == pytest.approx(out["peak_g2"][3])
    assert sum(out["peak_counts"]) > 0


@needs_picoquant
def test_g2_human_output_and_real_t2_file(tmp_path: Path) -> None:
    proc = _run(["g2", str(DATA / "picoharp_v30_t2.ptu"), "--bin-ps", "1000"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "g2(0)" in proc.stdout
    _, tags = read_ptu(DATA / "picoharp_v30_t2.ptu")
    out = _json_run(["g2", str(DATA / "picoharp_v30_t2.ptu"), "--bin-ps", "1000"], tmp_path)
    assert (
        out["counts"]
        == cross_correlate(tags[0], tags[1], window_ps=100_000, bin_ps=1000)[1].tolist()
    )


@needs_picoquant
def test_lifetime_and_trace(tmp_path: Path) -> None:
    life = _json_run(["lifetime", str(DATA / "hydraharp_v10_t3.ptu"), "--bin-ps", "128"], tmp_path)
    assert sum(life["counts"]) + life["n_outside"] == life["n_photons"] == 48001
    tr = _json_run(["trace", str(DATA / "picoharp_v30_t2.ptu"), "--bin-ms", "100"], tmp_path)
    assert sum(tr["counts"]) + tr["n_outside"] == 531477 + 388700
    assert sum(tr["pch_occurrences"]) == tr["n_bins"] == len(tr["counts"])


@needs_picoquant
@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["g2", "missing.ptu"], "missing.ptu"),
        (["g2", "bad.ptu"], "bad.ptu"),
        (["g2", "{data}/picoharp_v30_t2.ptu", "--channels", "0,0"], "--channels"),
        (["g2", "{data}/picoharp_v30_t2.ptu", "--channels", "0,7"], "no tags"),
        (["g2", "{data}/picoharp_v30_t2.ptu", "--bin-ps", "300", "--window-ns", "1"], "window_ps"),
        (["g2", "{data}/picoharp_v30_t2.ptu", "--pulsed"], "--rep-rate-mhz"),
        (["lifetime", "{data}/picoharp_v30_t2.ptu"], "sync"),
        (["trace", "{data}/picoharp_v30_t2.ptu", "--bin-ms", "0"], "--bin-ms"),
    ],
)
def test_bad_input_exits_2_with_one_line(args: list[str], needle: str, tmp_path: Path) -> None:
    (tmp_path / "bad.ptu").write_bytes(b"PQTTTR\0\0" + b"\x00" * 20)
    proc = _run([a.format(data=DATA) for a in args], tmp_path)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert len(proc.stderr.strip().splitlines()) == 1
    assert needle in proc.stderr
    assert "Traceback" not in proc.stderr
