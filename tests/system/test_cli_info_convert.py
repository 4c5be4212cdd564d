"""`qlight info` and `qlight convert` end to end: the installed command in a subprocess."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests._data import PICOQUANT_DIR, needs_picoquant
from tests.system._cli import json_run, run_qlight

from qlight.timetags.io import (
    iter_ptu,
    read_header,
    read_photon_hdf5,
    read_ptu,
    write_photon_hdf5,
    write_ptu,
)

_DATA = PICOQUANT_DIR


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return run_qlight(args, cwd, prefix=[], timeout_s=120)


def _json_run(args: list[str], cwd: Path) -> dict[str, Any]:
    return json_run(args, cwd, prefix=[], timeout_s=120)


def _t3_file(folder: Path) -> tuple[Path, list[np.ndarray]]:
    rng = np.random.default_rng(5)
    period, res = 12_500, 25
    chans = []
    for n in (3000, 2000):
        sync = np.sort(rng.integers(0, 8 * 10**7, n))  # 1 s at 80 MHz
        chans.append(np.sort(sync * period + rng.integers(0, period // res, n) * res))
    p = write_ptu(
        folder / "t3.ptu", chans, mode="T3", resolution_ps=res, sync_period_ps=period,
        acquisition_time_s=1.0,
    )  # fmt: skip
    return p, chans


def test_info_json_reports_header_counts_and_rates(tmp_path: Path) -> None:
    p, _ = _t3_file(tmp_path)
    out = _json_run(["info", str(p), "--tags"], tmp_path)
    assert out["format"] == "PTU"
    assert (out["record_type"], out["mode"], out["instrument"]) == (
        "HydraHarp2T3",
        "T3",
        "HydraHarp 400",
    )
    assert out["resolution_ps"] == 25.0
    assert out["global_resolution_ps"] == 12_500.0
    assert out["sync_rate_hz"] == 80e6
    assert out["acquisition_time_s"] == 1.0
    assert out["channels"] == {
        "0": {"counts": 3000, "rate_per_s": 3000.0},
        "1": {"counts": 2000, "rate_per_s": 2000.0},
    }
    assert out["n_photons"] == 5000
    assert out["tags"]["CreatorSW_Name"] == "qlight"  # --tags adds every header tag
    proc = _run(["info", str(p)], tmp_path)  # human output
    assert proc.returncode == 0, proc.stderr
    assert "channel 0" in proc.stdout
    assert "3,000 tags, 3,000.0 /s" in proc.stdout


def test_convert_round_trip_is_exact(tmp_path: Path) -> None:
    p, chans = _t3_file(tmp_path)
    out = _json_run(["convert", str(p), "t3.h5"], tmp_path)
    assert (out["from"], out["to"]) == ("PTU", "Photon-HDF5")
    assert out["channels"] == {"0": 3000, "1": 2000}
    data = read_photon_hdf5(tmp_path / "t3.h5")
    for c, t in enumerate(chans):
        np.testing.assert_array_equal(data.t_ps[c], t)
    assert data.metadata.get("laser_repetition_rate", 80e6) == pytest.approx(80e6)
    back = _json_run(["convert", "t3.h5", "back.ptu", "--record-type", "MultiHarp"], tmp_path)
    assert (back["from"], back["to"]) == ("Photon-HDF5", "PTU")
    meta, got = read_ptu(tmp_path / "back.ptu")
    assert (meta.record_type, meta.mode) == ("MultiHarpT2", "T2")
    for c, t in enumerate(chans):
        np.testing.assert_array_equal(got[c], t)
    info = _json_run(["info", "t3.h5"], tmp_path)
    assert info["format"] == "Photon-HDF5"
    assert info["n_photons"] == 5000


@needs_picoquant
def test_real_file_info_and_convert(tmp_path: Path) -> None:
    out = _json_run(["info", str(_DATA / "picoharp_v30_t2.ptu")], tmp_path)
    assert out["instrument"] == "PicoHarp 300"
    assert out["channels"]["0"]["counts"] == 531477
    assert out["channels"]["1"]["counts"] == 388700
    assert out["duration_s"] == 7.652  # the run stopped early (TTResult_StopAfter)
    conv = _json_run(["convert", str(_DATA / "hydraharp_v20_t2.ptu"), "hh.h5"], tmp_path)
    assert conv["channels"] == {"0": 305565}
    assert conv["padded_empty_detectors"] is True  # one detector; Photon-HDF5 HBT needs two


@needs_picoquant
def test_real_t3_convert_keeps_microtimes_as_nanotimes(tmp_path: Path) -> None:
    src = _DATA / "hydraharp_v20_t3.ptu"
    conv = _json_run(["convert", str(src), "hh3.h5"], tmp_path)
    assert conv["nanotimes"] is True
    meta = read_header(src)
    t: dict[int, list[np.ndarray]] = {}
    d: dict[int, list[np.ndarray]] = {}
    for chunk in iter_ptu(src):
        assert chunk.dtime is not None
        for c in np.unique(chunk.channel).tolist():
            t.setdefault(c, []).append(chunk.t_ps[chunk.channel == c])
            d.setdefault(c, []).append(chunk.dtime[chunk.channel == c])
    data = read_photon_hdf5(tmp_path / "hh3.h5")
    assert data.nanotimes is not None
    assert data.tcspc_unit_s == meta.resolution_ps * 1e-12
    assert data.tcspc_num_bins == conv["tcspc_num_bins"] == 3126  # bins in one sync period
    for c in sorted(t):
        tc = np.concatenate(t[c])
        order = np.argsort(tc, kind="stable")
        np.testing.assert_array_equal(data.t_ps[c], tc[order])
        np.testing.assert_array_equal(data.nanotimes[c], np.concatenate(d[c])[order])
    for channel in ("0", "1"):  # lifetime from the HDF5 nanotimes = from the PTU microtimes
        want = _json_run(["lifetime", str(src), "--channel", channel], tmp_path)
        got = _json_run(["lifetime", "hh3.h5", "--channel", channel], tmp_path)
        assert got["counts"] == want["counts"]
        assert (got["range_ps"], got["n_photons"]) == (want["range_ps"], want["n_photons"])
    _json_run(["convert", "hh3.h5", "back.ptu"], tmp_path)  # PTU output stays T2
    back_meta, back = read_ptu(tmp_path / "back.ptu")
    assert back_meta.mode == "T2"
    for c, tags in data.t_ps.items():
        np.testing.assert_array_equal(back[c], tags)


def test_bad_input_exits_2_with_one_line(tmp_path: Path) -> None:
    p, _ = _t3_file(tmp_path)
    (tmp_path / "cut.ptu").write_bytes(p.read_bytes()[:-10])
    write_photon_hdf5(tmp_path / "plain.h5", [[1, 2], [3]], duration_ps=10)
    cases = [
        (["info", "missing.ptu"], "must be an existing file"),
        (["info", "cut.ptu"], "truncated file"),
        (["convert", "t3.ptu", "out.txt"], "must end in .ptu, .h5 or .hdf5"),
        (["lifetime", "plain.h5"], "has no /photon_data/nanotimes"),
    ]  # each command starts a Python process (~3 s), so a few representative cases only;
    # the error paths themselves are unit-tested in test_ptu_read.py and test_stream.py
    for args, message in cases:
        proc = _run(args, tmp_path)
        assert proc.returncode == 2, args
        assert proc.stdout == ""
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1, proc.stderr
        assert message in lines[0]
