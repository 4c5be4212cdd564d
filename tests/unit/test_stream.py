"""Chunked iteration: chunked = whole file for PTU and Photon-HDF5, and memory that does not
grow with the file size."""

from __future__ import annotations

import os
import tracemalloc
from pathlib import Path

import h5py
import numpy as np
import pytest

from qlight.errors import FileFormatError, ParameterError
from qlight.timetags.io import (
    PtuWriter,
    file_kind,
    iter_channels,
    read_header,
    read_ptu,
    write_photon_hdf5,
    write_ptu,
)


def _chans(seed: int, n: int = 3000) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [np.sort(rng.integers(0, 10**10, n)), np.sort(rng.integers(0, 10**10, n // 2))]


def _concat(chunks: list[dict[int, np.ndarray]], c: int) -> np.ndarray:
    return np.concatenate([ch.get(c, np.zeros(0, np.int64)) for ch in chunks])


@pytest.mark.parametrize("chunk", [1, 17, 1000, 10**6])
def test_ptu_chunks_concatenate_to_the_whole_file(tmp_path: Path, chunk: int) -> None:
    chans = _chans(1)
    p = write_ptu(tmp_path / "x.ptu", chans)
    chunks = list(iter_channels(p, chunk_records=chunk))
    for c, t in enumerate(chans):
        np.testing.assert_array_equal(_concat(chunks, c), t)
    # chunks follow each other in time (what a streaming correlator relies on)
    ends = [max(int(v[-1]) for v in ch.values() if v.size) for ch in chunks if ch]
    starts = [min(int(v[0]) for v in ch.values() if v.size) for ch in chunks if ch]
    assert all(s >= e for s, e in zip(starts[1:], ends[:-1], strict=True))


def test_t3_chunks(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    chans = [np.sort(rng.integers(0, 10**6, 500) * 12_500 + rng.integers(0, 100, 500) * 125)]
    chans = [np.sort(c) for c in chans]
    p = write_ptu(tmp_path / "x.ptu", chans, mode="T3", resolution_ps=125, sync_period_ps=12_500)
    chunks = list(iter_channels(p, chunk_records=33))
    np.testing.assert_array_equal(_concat(chunks, 0), chans[0])


@pytest.mark.parametrize("chunk", [1, 100, 10**6])
def test_photon_hdf5_chunks(tmp_path: Path, chunk: int) -> None:
    chans = _chans(4, 700)
    p = write_photon_hdf5(tmp_path / "x.h5", chans, duration_ps=10**10)
    assert file_kind(p) == "hdf5"
    chunks = list(iter_channels(p, chunk_records=chunk))
    for c, t in enumerate(chans):
        np.testing.assert_array_equal(_concat(chunks, c), t)
    meta = read_header(p)
    assert (meta.instrument, meta.mode, meta.n_records) == ("Photon-HDF5", "T2", 1050)
    assert meta.resolution_ps == pytest.approx(1.0)
    assert meta.acquisition_time_s == pytest.approx(0.01)
    assert meta.n_channels == 2


def test_channels_selection_fills_missing_keys(tmp_path: Path) -> None:
    p = write_ptu(tmp_path / "x.ptu", [np.array([1, 2, 3]), np.array([10**12])])
    chunks = list(iter_channels(p, chunk_records=2, channels=(1, 5)))
    assert all(set(ch) == {1, 5} for ch in chunks)
    np.testing.assert_array_equal(_concat(chunks, 1), [10**12])
    assert _concat(chunks, 5).size == 0


def test_unsorted_photon_hdf5_names_the_photon(tmp_path: Path) -> None:
    p = write_photon_hdf5(tmp_path / "x.h5", _chans(5, 10), duration_ps=10**10)
    with h5py.File(p, "r+") as f:
        ts = f["photon_data/timestamps"]
        ts[7] = 0  # photon 7 now precedes photon 6
    with pytest.raises(FileFormatError, match="not sorted at photon 7"):
        list(iter_channels(p, chunk_records=4))


def test_unknown_file_kind(tmp_path: Path) -> None:
    p = tmp_path / "x.txt"
    p.write_text("hello")
    with pytest.raises(FileFormatError, match="neither a PTU nor a Photon-HDF5"):
        list(iter_channels(p))
    with pytest.raises(ParameterError, match="existing file"):
        read_header(tmp_path / "missing.ptu")


def _write_big(path: Path, n_records: int) -> None:
    """A T2 file of n_records photons on two channels, written in 1 M-record blocks."""
    rng = np.random.default_rng(11)
    with PtuWriter(path) as w:
        t0 = 0
        for start in range(0, n_records, 1_000_000):
            n = min(1_000_000, n_records - start)
            t = t0 + np.cumsum(rng.integers(1, 2000, n))
            w.write(rng.integers(0, 2, n), t)
            t0 = int(t[-1])


def _peak_bytes(path: Path, chunk: int) -> tuple[int, int]:
    tracemalloc.start()
    n = 0
    for ch in iter_channels(path, chunk_records=chunk):
        n += sum(v.size for v in ch.values())
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak, n


@pytest.mark.skipif(
    os.environ.get("NUMBA_DISABLE_JIT") == "1",
    reason="22 M records through the pure-Python kernel bodies would take minutes",
)
def test_memory_does_not_grow_with_file_size(tmp_path: Path) -> None:
    # 2 M and 20 M records (8 and 80 MB), read in chunks of 500 k records: numpy reports its
    # buffers to tracemalloc, so the peak is the chunk working set. It must be the same for
    # a 10x larger file (10 % + 1 MB slack for allocator noise) and far below the file size;
    # about 25 bytes per record of the chunk are live at once (records, decoded arrays,
    # per-channel split).
    small, big = tmp_path / "small.ptu", tmp_path / "big.ptu"
    _write_big(small, 2_000_000)
    _write_big(big, 20_000_000)
    chunk = 500_000
    peak_small, n_small = _peak_bytes(small, chunk)
    peak_big, n_big = _peak_bytes(big, chunk)
    assert (n_small, n_big) == (2_000_000, 20_000_000)
    assert peak_big <= 1.1 * peak_small + 2**20
    assert peak_big < 80 * chunk  # < 40 MB for an 80 MB file
    _, whole = read_ptu(small)
    assert sum(v.size for v in whole.values()) == n_small
