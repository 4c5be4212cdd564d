"""Photon-HDF5 writer/reader: round trip, documented layout, and clear errors on bad files."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import h5py
import numpy as np
import pytest

from qlight.errors import FileFormatError, ParameterError
from qlight.timetags.photon_hdf5 import (
    DetectorInfo,
    read_photon_hdf5,
    write_photon_hdf5,
)

# Field names defined by the Photon-HDF5 0.5 specification (phdata.rst, generic.rst) that
# qlight may write; anything else must live under a /user group.
_OFFICIAL = {
    "/acquisition_duration",
    "/description",
    "/photon_data/timestamps",
    "/photon_data/detectors",
    "/photon_data/timestamps_specs/timestamps_unit",
    "/photon_data/nanotimes",
    "/photon_data/nanotimes_specs/tcspc_unit",
    "/photon_data/nanotimes_specs/tcspc_num_bins",
    "/photon_data/nanotimes_specs/tcspc_range",
    "/photon_data/measurement_specs/measurement_type",
    "/photon_data/measurement_specs/laser_repetition_rate",
    *(f"/photon_data/measurement_specs/detectors_specs/split_ch{i}" for i in range(1, 9)),
    "/setup/num_pixels",
    "/setup/num_spots",
    "/setup/num_spectral_ch",
    "/setup/num_polarization_ch",
    "/setup/num_split_ch",
    "/setup/modulated_excitation",
    "/setup/lifetime",
    "/setup/excitation_cw",
    "/setup/excitation_alternated",
    "/setup/excitation_wavelengths",
    "/setup/excitation_input_powers",
    "/setup/detection_wavelengths",
    "/setup/detection_split_ch_ratios",
    "/setup/laser_repetition_rates",
    "/setup/detectors/id",
    "/setup/detectors/label",
    "/setup/detectors/counts",
    "/setup/detectors/dcr",
    "/setup/detectors/afterpulsing",
    "/identity/author",
    "/identity/software",
    "/identity/software_version",
    "/identity/creation_time",
    "/identity/filename",
    "/identity/filename_full",
    "/identity/format_name",
    "/identity/format_version",
    "/identity/format_url",
}


def _is_string(ds: h5py.Dataset) -> bool:
    return bool(ds.shape == () and ds.dtype.kind == "S")


def _is_scalar(ds: h5py.Dataset) -> bool:
    return bool(ds.shape == () and ds.dtype.kind in "iuf")


def check_layout(path: Path) -> None:
    """Walk the fields documented in docs/twin/timetags-and-cli.md; AssertionError if wrong."""
    with h5py.File(path, "r") as f:
        assert f.attrs["format_name"] == b"Photon-HDF5"
        assert f.attrs["format_version"] == b"0.5"
        assert _is_scalar(f["acquisition_duration"])
        assert _is_string(f["description"])
        ts = f["photon_data/timestamps"]
        det = f["photon_data/detectors"]
        assert ts.dtype == np.int64
        assert ts.ndim == 1
        assert det.dtype == np.uint8
        assert det.shape == ts.shape
        t = ts[()]
        assert np.all(np.diff(t) >= 0), "timestamps must be time-sorted"
        assert f["photon_data/timestamps_specs/timestamps_unit"][()] == 1e-12
        ms = f["photon_data/measurement_specs"]
        assert ms["measurement_type"][()] == b"generic"
        n_pix = int(f["setup/num_pixels"][()])
        for i in range(n_pix):
            assert ms[f"detectors_specs/split_ch{i + 1}"][()].tolist() == [i]
        assert set(np.unique(det[()]).tolist()) <= set(range(n_pix))
        setup = f["setup"]
        for name in (
            "num_pixels",
            "num_spots",
            "num_spectral_ch",
            "num_polarization_ch",
            "num_split_ch",
            "modulated_excitation",
            "lifetime",
        ):
            assert _is_scalar(setup[name]), name
        assert int(setup["num_split_ch"][()]) == n_pix
        assert int(setup["num_spectral_ch"][()]) == 1
        has_nanotimes = "nanotimes" in f["photon_data"]
        assert int(setup["lifetime"][()]) == int(has_nanotimes)
        if has_nanotimes:
            nano = f["photon_data/nanotimes"]
            assert nano.shape == ts.shape
            assert nano.dtype.kind == "u"
            assert nano.dtype.itemsize >= 2
            specs = f["photon_data/nanotimes_specs"]
            for name in ("tcspc_unit", "tcspc_num_bins", "tcspc_range"):
                assert _is_scalar(specs[name]), name
            n_bins = int(specs["tcspc_num_bins"][()])
            assert specs["tcspc_range"][()] == pytest.approx(specs["tcspc_unit"][()] * n_bins)
            assert nano.size == 0 or int(nano[()].max()) < n_bins
        cw = setup["excitation_cw"][()].tolist()
        assert cw in ([0], [1])
        if cw == [0]:  # pulsed: repetition rate mandatory in both places ("generic" notes)
            assert _is_scalar(ms["laser_repetition_rate"])
            assert setup["laser_repetition_rates"].shape == (1,)
        assert setup["detectors/id"][()].tolist() == list(range(n_pix))
        assert setup["detectors/counts"][()].sum() == ts.shape[0]
        ident = f["identity"]
        for name in (
            "format_name",
            "format_version",
            "format_url",
            "software",
            "software_version",
            "creation_time",
        ):
            assert _is_string(ident[name]), name
        assert ident["software"][()] == b"qlight"
        assert ident["format_name"][()] == b"Photon-HDF5"
        assert ident["format_version"][()] == b"0.5"
        stamp = ident["creation_time"][()].decode()
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", stamp)
        assert isinstance(json.loads(f["user/qlight/parameters_json"][()]), dict)
        assert f["user/qlight/duration_ps"].dtype == np.int64

        def visit(name: str, obj: object) -> None:
            full = "/" + name
            if isinstance(obj, h5py.Dataset) and not full.startswith("/user/"):
                assert full in _OFFICIAL, f"{full} is not a Photon-HDF5 field"

        f.visititems(visit)


def _channels(seed: int = 1, n: int = 2000, t_max: int = 10**9) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [np.sort(rng.integers(0, t_max, n)), np.sort(rng.integers(0, t_max, n + 17))]


def test_round_trip_and_layout(tmp_path: Path) -> None:
    a, b = _channels()
    params = {"seed": 3, "k21_per_ns": 0.5, "preset": "visible"}
    path = write_photon_hdf5(
        tmp_path / "hbt.h5",
        (a, b),
        duration_ps=10**9 + 5,
        description="HBT test",
        parameters=params,
        detectors=[DetectorInfo("SPAD A", 100.0, 0.01), DetectorInfo("SPAD B", 120.0, 0.02)],
        excitation_wavelength_m=532e-9,
        excitation_power_w=1e-3,
        detection_wavelength_m=650e-9,
    )
    check_layout(path)
    data = read_photon_hdf5(path)
    assert set(data.t_ps) == {0, 1}
    np.testing.assert_array_equal(data.t_ps[0], a)
    np.testing.assert_array_equal(data.t_ps[1], b)
    assert data.t_ps[0].dtype == np.int64
    assert data.unit_s == 1e-12
    assert data.duration_ps == 10**9 + 5
    assert data.duration_s == pytest.approx(1e-3 + 5e-12, rel=1e-15)
    assert data.description == "HBT test"
    assert data.parameters == params
    assert data.metadata["/setup/detectors/label"] == ["SPAD A", "SPAD B"]
    assert data.metadata["/setup/detectors/dcr"] == [100.0, 120.0]
    assert data.metadata["/setup/excitation_wavelengths"] == [532e-9]
    assert data.metadata["/identity/software"] == "qlight"
    assert data.metadata["/setup/excitation_cw"] == [1]
    assert not list(tmp_path.glob(".*.tmp")), "temporary file left behind"


def test_pulsed_file_records_the_repetition_rate(tmp_path: Path) -> None:
    path = write_photon_hdf5(
        tmp_path / "p.h5", _channels(2, 50), duration_ps=10**9, rep_rate_hz=80e6
    )
    check_layout(path)
    meta = read_photon_hdf5(path).metadata
    assert meta["/photon_data/measurement_specs/laser_repetition_rate"] == 80e6
    assert meta["/setup/excitation_cw"] == [0]


def test_merge_is_time_sorted_with_ties_in_detector_order(tmp_path: Path) -> None:
    path = write_photon_hdf5(
        tmp_path / "t.h5", [np.array([5, 5, 9]), np.array([0, 5, 9, 9])], duration_ps=10
    )
    with h5py.File(path, "r") as f:
        assert f["photon_data/timestamps"][()].tolist() == [0, 5, 5, 5, 9, 9, 9]
        assert f["photon_data/detectors"][()].tolist() == [1, 0, 0, 1, 0, 1, 1]
    data = read_photon_hdf5(path)
    assert data.t_ps[0].tolist() == [5, 5, 9]
    assert data.t_ps[1].tolist() == [0, 5, 9, 9]


def test_empty_channels_round_trip(tmp_path: Path) -> None:
    empty = np.zeros(0, dtype=np.int64)
    path = write_photon_hdf5(tmp_path / "e.h5", [empty, empty], duration_ps=1000)
    check_layout(path)
    data = read_photon_hdf5(path)
    assert data.t_ps[0].size == 0
    assert data.t_ps[1].size == 0
    assert data.parameters == {}


def test_layout_checker_can_fail(tmp_path: Path) -> None:
    path = write_photon_hdf5(tmp_path / "x.h5", _channels(3, 10), duration_ps=10**9)
    with h5py.File(path, "a") as f:
        del f["setup/num_split_ch"]
    with pytest.raises(KeyError):
        check_layout(path)
    with h5py.File(path, "a") as f:
        f["setup/num_split_ch"] = np.int64(2)
        f["setup/bogus_field"] = np.int64(1)
    with pytest.raises(AssertionError, match="bogus_field"):
        check_layout(path)


def test_reads_foreign_units_exactly(tmp_path: Path) -> None:
    # A 12.5 ns clock (80 MHz) as in many smFRET files, with a single detector and no
    # detectors array (allowed by the specification).
    path = tmp_path / "foreign.h5"
    path_written = write_photon_hdf5(path, _channels(4, 10), duration_ps=10**9)
    with h5py.File(path_written, "a") as f:
        del f["photon_data/timestamps"]
        del f["photon_data/detectors"]
        del f["setup/detectors"]
        f["photon_data/timestamps"] = np.array([1, 2, 80_000_000], dtype=np.int64)
        f["photon_data/timestamps_specs/timestamps_unit"][()] = 12.5e-9
        del f["user"]
    data = read_photon_hdf5(path)
    assert list(data.t_ps) == [0]
    assert data.t_ps[0].tolist() == [12_500, 25_000, 1_000_000_000_000]
    assert data.parameters is None
    assert data.duration_ps == 10**9


def _corrupt(tmp_path: Path, edit: str) -> Path:
    path = write_photon_hdf5(tmp_path / f"{edit}.h5", _channels(5, 20), duration_ps=10**9)
    with h5py.File(path, "a") as f:
        if edit == "no_photon_data":
            del f["photon_data"]
        elif edit == "no_unit":
            del f["photon_data/timestamps_specs/timestamps_unit"]
        elif edit == "no_setup":
            del f["setup"]
        elif edit == "float_timestamps":
            t = f["photon_data/timestamps"][()]
            del f["photon_data/timestamps"]
            f["photon_data/timestamps"] = t.astype(np.float64)
        elif edit == "unsorted":
            t = f["photon_data/timestamps"][()]
            d = f["photon_data/detectors"][()]
            t0 = t[d == 0]
            t0[[2, 5]] = t0[[5, 2]]
            t[d == 0] = t0
            f["photon_data/timestamps"][()] = t
        elif edit == "string_unit":
            del f["photon_data/timestamps_specs/timestamps_unit"]
            f["photon_data/timestamps_specs/timestamps_unit"] = np.bytes_(b"ps")
        elif edit == "not_photon_hdf5":
            del f.attrs["format_name"]
            del f["identity"]
        elif edit == "short_detectors":
            del f["photon_data/detectors"]
            f["photon_data/detectors"] = np.zeros(3, dtype=np.uint8)
        elif edit == "bad_json":
            del f["user/qlight/parameters_json"]
            f["user/qlight/parameters_json"] = np.bytes_(b"{not json")
    return path


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ("no_photon_data", r"missing group /photon_data\b"),
        ("no_unit", r"missing field /photon_data/timestamps_specs/timestamps_unit"),
        ("no_setup", r"missing group /setup"),
        ("float_timestamps", r"timestamps must be a 1-D integer array"),
        ("unsorted", r"timestamps of detector 0 are not sorted"),
        ("string_unit", r"timestamps_unit must be a numeric scalar"),
        ("not_photon_hdf5", r"not a Photon-HDF5 file"),
        ("short_detectors", r"detectors must be a 1-D integer array as long as timestamps"),
        ("bad_json", r"parameters_json is not valid JSON"),
    ],
)
def test_reader_names_what_is_wrong(tmp_path: Path, edit: str, message: str) -> None:
    path = _corrupt(tmp_path, edit)
    with pytest.raises(FileFormatError, match=message):
        read_photon_hdf5(path)


def test_reader_rejects_non_hdf5_and_truncated_files(tmp_path: Path) -> None:
    text = tmp_path / "notes.h5"
    text.write_text("timestamps: 1, 2, 3\n")
    with pytest.raises(FileFormatError, match="not an HDF5 file"):
        read_photon_hdf5(text)
    good = write_photon_hdf5(tmp_path / "good.h5", _channels(6, 5000), duration_ps=10**9)
    raw = good.read_bytes()
    cut = tmp_path / "cut.h5"
    cut.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(FileFormatError, match=r"cut\.h5"):
        read_photon_hdf5(cut)
    with pytest.raises(ParameterError, match=r"^path="):
        read_photon_hdf5(tmp_path / "missing.h5")


@pytest.mark.parametrize(
    ("channels", "kwargs", "name"),
    [
        ([np.array([3, 1]), np.array([0])], {}, r"t_ps\[0\]"),
        ([np.array([0.5]), np.array([0])], {}, r"t_ps\[0\]"),
        ([np.array([-1]), np.array([0])], {}, r"t_ps\[0\]"),
        ([np.array([0]), np.array([2000])], {}, r"t_ps\[1\]"),
        ([np.array([0])], {}, "t_ps"),
        ([np.array([0]), np.array([0])], {"duration_ps": 0}, "duration_ps"),
        ([np.array([0]), np.array([0])], {"parameters": {"x": object()}}, "parameters"),
        ([np.array([0]), np.array([0])], {"parameters": {"x": float("nan")}}, "parameters"),
        ([np.array([0]), np.array([0])], {"split_ratios": [0.5, 1.5]}, "split_ratios"),
        ([np.array([0]), np.array([0])], {"detectors": [DetectorInfo("a")]}, "detectors"),
        ([np.array([0]), np.array([0])], {"rep_rate_hz": -1.0}, "rep_rate_hz"),
    ],
)
def test_writer_rejects_bad_input(
    tmp_path: Path, channels: list[np.ndarray], kwargs: dict[str, object], name: str
) -> None:
    args: dict[str, object] = {"duration_ps": 1000}
    args.update(kwargs)
    with pytest.raises(ParameterError, match=rf"^{name}="):
        write_photon_hdf5(tmp_path / "bad.h5", channels, **args)  # type: ignore[arg-type]
    assert not list(tmp_path.iterdir())


def test_writer_rejects_unwritable_paths(tmp_path: Path) -> None:
    channels = _channels(7, 5)
    with pytest.raises(ParameterError, match=r"^path=.*does not exist"):
        write_photon_hdf5(tmp_path / "no" / "such" / "dir.h5", channels, duration_ps=10**9)
    with pytest.raises(ParameterError, match=r"^path=.*is a directory"):
        write_photon_hdf5(tmp_path, channels, duration_ps=10**9)


def test_writer_replaces_an_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "r.h5"
    write_photon_hdf5(path, _channels(8, 30), duration_ps=10**9)
    write_photon_hdf5(path, _channels(9, 7), duration_ps=10**9)
    assert read_photon_hdf5(path).t_ps[0].size == 7


def test_written_file_has_the_usual_permissions(tmp_path: Path) -> None:
    # The atomic write goes through a 0600 temporary file; the result must get the mode any
    # other file created under the current umask gets (others may read their measurements).
    umask = os.umask(0o022)
    try:
        a, b = _channels()
        path = write_photon_hdf5(tmp_path / "m.h5", (a, b), duration_ps=10**9 + 5)
        assert path.stat().st_mode & 0o777 == 0o644
    finally:
        os.umask(umask)


def test_nanotimes_round_trip_aligned_with_timestamps(tmp_path: Path) -> None:
    a, b = _channels(11, 500)
    rng = np.random.default_rng(12)
    na, nb = rng.integers(0, 4096, a.size), rng.integers(0, 4096, b.size)
    path = write_photon_hdf5(
        tmp_path / "n.h5",
        (a, b),
        duration_ps=10**9,
        rep_rate_hz=40e6,
        nanotimes=(na, nb),
        tcspc_unit_s=8e-12,
        tcspc_num_bins=4096,
    )
    check_layout(path)
    with h5py.File(path, "r") as f:
        assert f["photon_data/nanotimes"].dtype == np.uint16
        assert int(f["setup/lifetime"][()]) == 1
        assert f["photon_data/nanotimes_specs/tcspc_range"][()] == pytest.approx(4096 * 8e-12)
        # merged like the timestamps: each photon keeps its own nanotime
        ts, det = f["photon_data/timestamps"][()], f["photon_data/detectors"][()]
        merged = f["photon_data/nanotimes"][()]
    np.testing.assert_array_equal(merged[det == 0], na)
    np.testing.assert_array_equal(ts[det == 1], b)
    data = read_photon_hdf5(path)
    assert data.nanotimes is not None
    np.testing.assert_array_equal(data.nanotimes[0], na)
    np.testing.assert_array_equal(data.nanotimes[1], nb)
    assert (data.tcspc_unit_s, data.tcspc_num_bins) == (8e-12, 4096)


def test_without_nanotimes_reader_returns_none(tmp_path: Path) -> None:
    data = read_photon_hdf5(
        write_photon_hdf5(tmp_path / "x.h5", _channels(3, 10), duration_ps=10**9)
    )
    assert (data.nanotimes, data.tcspc_unit_s, data.tcspc_num_bins) == (None, None, None)


def test_wide_nanotimes_use_a_wider_unsigned_type(tmp_path: Path) -> None:
    path = write_photon_hdf5(
        tmp_path / "w.h5",
        [np.array([1]), np.array([2, 3])],
        duration_ps=10,
        nanotimes=[np.array([70_000]), np.array([0, 5])],
        tcspc_unit_s=1e-12,
    )
    check_layout(path)
    with h5py.File(path, "r") as f:
        assert f["photon_data/nanotimes"].dtype == np.uint32
        assert int(f["photon_data/nanotimes_specs/tcspc_num_bins"][()]) == 70_001
    data = read_photon_hdf5(path)
    assert data.nanotimes is not None
    assert data.nanotimes[0].tolist() == [70_000]


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"nanotimes": [[1, 2]]}, "nanotimes"),
        ({"nanotimes": [[1, 2], [3]], "tcspc_unit_s": 1e-12}, r"nanotimes\[1\]"),
        ({"nanotimes": [[1, 2], [3, 4, 5]], "tcspc_unit_s": 1e-12}, r"nanotimes\[1\]"),
        ({"nanotimes": [[1.5, 2], [3, 4]], "tcspc_unit_s": 1e-12}, r"nanotimes\[0\]"),
        ({"nanotimes": [[-1, 2], [3, 4]], "tcspc_unit_s": 1e-12}, r"nanotimes\[0\]"),
        ({"nanotimes": [[1, 2], [3, 4]]}, "tcspc_unit_s"),
        ({"nanotimes": [[1, 2], [3, 4]], "tcspc_unit_s": 0.0}, "tcspc_unit_s"),
        (
            {"nanotimes": [[1, 2], [3, 4]], "tcspc_unit_s": 1e-12, "tcspc_num_bins": 4},
            "tcspc_num_bins",
        ),
        ({"tcspc_unit_s": 1e-12}, "nanotimes"),
    ],
)
def test_writer_rejects_bad_nanotimes(tmp_path: Path, kwargs: dict[str, object], name: str) -> None:
    channels = [np.array([0, 5]), np.array([1, 2])]
    with pytest.raises(ParameterError, match=rf"^{name}="):
        write_photon_hdf5(tmp_path / "bad.h5", channels, duration_ps=10, **kwargs)  # type: ignore[arg-type]
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ("short", r"/photon_data/nanotimes must be a 1-D integer array as long as timestamps"),
        ("no_unit", r"missing field /photon_data/nanotimes_specs/tcspc_unit"),
        ("zero_unit", r"tcspc_unit must be > 0"),
    ],
)
def test_reader_names_bad_nanotimes(tmp_path: Path, edit: str, message: str) -> None:
    path = write_photon_hdf5(
        tmp_path / "n.h5",
        [np.array([1, 4]), np.array([2])],
        duration_ps=10,
        nanotimes=[np.array([3, 4]), np.array([5])],
        tcspc_unit_s=1e-12,
    )
    with h5py.File(path, "a") as f:
        if edit == "short":
            del f["photon_data/nanotimes"]
            f["photon_data/nanotimes"] = np.array([1, 2], dtype=np.uint16)
        elif edit == "no_unit":
            del f["photon_data/nanotimes_specs/tcspc_unit"]
        else:
            f["photon_data/nanotimes_specs/tcspc_unit"][()] = 0.0
    with pytest.raises(FileFormatError, match=message):
        read_photon_hdf5(path)
