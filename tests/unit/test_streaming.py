"""Chunked correlation equals the whole-stream result, on arrays and on real files."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests._data import PICOQUANT_DIR, needs_picoquant

from qlight.errors import FileFormatError, ParameterError
from qlight.timetags.correlate import cross_correlate
from qlight.timetags.io import read_ptu, write_photon_hdf5
from qlight.timetags.streaming import (
    StreamingCrossCorrelator,
    correlate_file,
    lifetime_file,
    trace_file,
)

DATA = PICOQUANT_DIR
_tags = st.lists(st.integers(min_value=0, max_value=3000), max_size=60).map(sorted)


@settings(max_examples=200, deadline=None)
@given(
    a=_tags,
    b=_tags,
    cuts=st.lists(st.integers(0, 3000), max_size=6).map(sorted),
    window_bins=st.integers(1, 10),
    width=st.integers(1, 50),
    delay_a=st.integers(-200, 200),
    delay_b=st.integers(-200, 200),
)
def test_chunked_equals_whole(
    a: list[int],
    b: list[int],
    cuts: list[int],
    window_bins: int,
    width: int,
    delay_a: int,
    delay_b: int,
) -> None:
    # Chunks cut at common time borders (as a file's records are), with per-channel delays
    # that move pairs across the borders; the accumulated histogram must be identical.
    aa = np.array(a, dtype=np.int64)
    bb = np.array(b, dtype=np.int64)
    kw = {"window_ps": window_bins * width, "bin_ps": width}
    s = StreamingCrossCorrelator(**kw, delay_a_ps=delay_a, delay_b_ps=delay_b)
    edges = [-1, *cuts, 10**9]
    for lo, hi in itertools.pairwise(edges):
        s.add(aa[(aa > lo) & (aa <= hi)], bb[(bb > lo) & (bb <= hi)])
    _, whole = cross_correlate(aa, bb, **kw, delay_a_ps=delay_a, delay_b_ps=delay_b)
    assert s.counts.tolist() == whole.tolist()
    assert (s.n_a, s.n_b) == (len(a), len(b))


def test_channels_may_be_cut_at_different_times_and_tails_stay_short() -> None:
    rng = np.random.default_rng(1)
    a = np.sort(rng.integers(0, 10**9, 20_000))
    b = np.sort(rng.integers(0, 10**9, 20_000))
    s = StreamingCrossCorrelator(window_ps=10_000, bin_ps=100, delay_b_ps=3000)
    ia = np.sort(rng.integers(0, a.size, 30))
    ib = np.sort(rng.integers(0, b.size, 30))
    for pa, pb in zip(np.split(a, ia), np.split(b, ib), strict=True):
        s.add(pa, pb)
        # retained a tags are only those a later b can still reach: a ≥ b_last + s − W
        if s._tail_a.size and s._last_b is not None:
            assert int(s._tail_a[0]) >= s._last_b + 3000 - 10_000
    _, whole = cross_correlate(a, b, window_ps=10_000, bin_ps=100, delay_b_ps=3000)
    np.testing.assert_array_equal(s.counts, whole)


def test_add_rejects_chunks_going_back_in_time() -> None:
    s = StreamingCrossCorrelator(window_ps=10, bin_ps=5)
    s.add([0, 10], [5])
    with pytest.raises(ParameterError, match=r"^a_ps="):
        s.add([9], [])


@needs_picoquant
@pytest.mark.parametrize("chunk", [997, 50_000])
def test_ptu_file_streamed_equals_whole_file(chunk: int) -> None:
    path = DATA / "picoharp_v30_t2.ptu"
    _, tags = read_ptu(path)
    _, whole = cross_correlate(tags[0], tags[1], window_ps=200_000, bin_ps=1000, delay_b_ps=-7)
    seen: list[int] = []
    res = correlate_file(
        path,
        channel_a=0,
        channel_b=1,
        window_ps=200_000,
        bin_ps=1000,
        delay_b_ps=-7,
        chunk_records=chunk,
        on_chunk=seen.append,
    )
    np.testing.assert_array_equal(res.counts, whole)
    assert (res.n_a, res.n_b) == (tags[0].size, tags[1].size)
    assert sum(seen) > 0


def test_photon_hdf5_file_and_missing_channel(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    a = np.sort(rng.integers(0, 10**10, 3000))
    b = np.sort(rng.integers(0, 10**10, 3000))
    path = write_photon_hdf5(tmp_path / "x.h5", [a, b], duration_ps=10**10)
    res = correlate_file(
        path, channel_a=0, channel_b=1, window_ps=10**6, bin_ps=10**4, chunk_records=512
    )
    np.testing.assert_array_equal(
        res.counts, cross_correlate(a, b, window_ps=10**6, bin_ps=10**4)[1]
    )
    assert res.duration_ps == 10**10
    with pytest.raises(ParameterError, match=r"^channels=5"):
        correlate_file(path, channel_a=0, channel_b=5, window_ps=10, bin_ps=5)
    tr = trace_file(path, bin_ps=10**9, chunk_records=700)
    assert tr.counts.sum() == 6000
    assert tr.counts.size == 10


@needs_picoquant
def test_lifetime_file_t3_conserves_photons() -> None:
    h = lifetime_file(DATA / "hydraharp_v20_t3.ptu", channel=0, bin_ps=64, chunk_records=10_000)
    assert h.n_photons == 45012
    assert int(h.counts.sum()) + h.n_outside == h.n_photons
    assert h.range_ps % 64 == 0


@needs_picoquant
def test_lifetime_of_converted_photon_hdf5_equals_ptu(tmp_path: Path) -> None:
    from qlight.timetags.io import iter_ptu, read_header

    src = DATA / "hydraharp_v20_t3.ptu"
    meta = read_header(src)
    t: dict[int, list[np.ndarray]] = {0: [], 1: []}
    d: dict[int, list[np.ndarray]] = {0: [], 1: []}
    for chunk in iter_ptu(src):
        assert chunk.dtime is not None
        for c in (0, 1):
            t[c].append(chunk.t_ps[chunk.channel == c])
            d[c].append(chunk.dtime[chunk.channel == c])
    chans, nanos = [], []
    for c in (0, 1):
        tc = np.concatenate(t[c])
        order = np.argsort(tc, kind="stable")
        chans.append(tc[order])
        nanos.append(np.concatenate(d[c])[order])
    path = write_photon_hdf5(
        tmp_path / "t3.h5",
        chans,
        duration_ps=10**13,
        rep_rate_hz=meta.sync_rate_hz,
        nanotimes=nanos,
        tcspc_unit_s=meta.resolution_ps * 1e-12,
    )
    for channel in (0, 1):
        want = lifetime_file(src, channel=channel, bin_ps=64)
        got = lifetime_file(path, channel=channel, bin_ps=64, chunk_records=7_000)
        assert (got.range_ps, got.n_photons, got.n_outside) == (
            want.range_ps,
            want.n_photons,
            want.n_outside,
        )
        np.testing.assert_array_equal(got.counts, want.counts)
        np.testing.assert_array_equal(got.t_ps, want.t_ps)


def test_lifetime_of_photon_hdf5_without_nanotimes_is_refused(tmp_path: Path) -> None:
    path = write_photon_hdf5(tmp_path / "x.h5", [[1, 2], [3]], duration_ps=10)
    with pytest.raises(ParameterError, match=r"no /photon_data/nanotimes"):
        lifetime_file(path, channel=0, bin_ps=1)
    nano = write_photon_hdf5(
        tmp_path / "n.h5",
        [[1, 2], [3]],
        duration_ps=10,
        nanotimes=[[0, 9], [4]],
        tcspc_unit_s=2e-12,
        tcspc_num_bins=10,
    )
    h = lifetime_file(nano, channel=0, bin_ps=4)  # range: tcspc_range = 20 ps
    assert h.counts.tolist() == [1, 0, 0, 0, 1]
    with pytest.raises(ParameterError, match=r"^channel=5"):
        lifetime_file(nano, channel=5, bin_ps=4)


def test_corrupt_file_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "bad.ptu"
    bad.write_bytes(b"PQTTTR\0\0" + b"\x01" * 40)
    with pytest.raises((FileFormatError, ParameterError), match=r"bad\.ptu"):
        correlate_file(bad, channel_a=0, channel_b=1, window_ps=10, bin_ps=5)
