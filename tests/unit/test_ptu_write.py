"""PTU writer: exact round trips here and in ptufile, overflow compression, streaming."""

from __future__ import annotations

import struct
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.naive import ptu_decode, ptu_encode, ptu_group_by_channel

from qlight.errors import ParameterError
from qlight.timetags.io import PtuWriter, iter_ptu, read_ptu, read_ptu_header, write_ptu
from qlight.timetags.io._ptu_header import RECORD_TYPES
from qlight.timetags.io._ptu_records import (
    PH_T2,
    encode_records,
    first_unsorted,
    group_by_channel,
)

FAMILIES = sorted({r.name[:-2] for r in RECORD_TYPES.values()})  # every supported layout


def _ptufile_records(path: Path) -> np.ndarray:
    ptufile = pytest.importorskip("ptufile")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with ptufile.PtuFile(path) as f:
            rec = f.decode_records()
    return rec[(rec["channel"] >= 0) & (rec["marker"] == 0)]


def _tags(rng: np.random.Generator, n: int, span: int, unit: int) -> np.ndarray:
    return np.sort(rng.integers(0, span, n)) * unit


@pytest.mark.parametrize("family", FAMILIES)
def test_t2_round_trip_here_and_in_ptufile(tmp_path: Path, family: str) -> None:
    rng = np.random.default_rng(7)
    res = 4 if family == "PicoHarp" else 1
    # spans of ~50 overflow periods, so overflow records occur between most photons
    chans = [_tags(rng, 500, 10**9, res), _tags(rng, 300, 10**9, res), _tags(rng, 50, 10**9, res)]
    p = write_ptu(tmp_path / "t2.ptu", chans, mode="T2", resolution_ps=res, record_type=family)
    meta, got = read_ptu(p)
    assert meta.mode == "T2"
    assert meta.resolution_ps == res
    assert meta.record_type == family + "T2"
    assert sorted(got) == [0, 1, 2]
    for c, t in enumerate(chans):
        np.testing.assert_array_equal(got[c], t)
    ref = _ptufile_records(p)
    for c, t in enumerate(chans):
        np.testing.assert_array_equal(ref["time"][ref["channel"] == c].astype(np.int64) * res, t)


@pytest.mark.parametrize("family", FAMILIES)
def test_t3_round_trip_here_and_in_ptufile(tmp_path: Path, family: str) -> None:
    rng = np.random.default_rng(8)
    period, res = 12_500, 16  # 80 MHz sync, 16 ps bins: dtime < 782 fits every layout
    chans = []
    for n in (400, 250):
        sync = np.sort(rng.integers(0, 3 * 10**6, n))  # ~46 PicoHarp, ~3000 HydraHarp wraps
        t = sync * period + rng.integers(0, period // res, n) * res
        chans.append(np.sort(t))
    p = write_ptu(
        tmp_path / "t3.ptu", chans, mode="T3", resolution_ps=res, sync_period_ps=period,
        record_type=family,
    )  # fmt: skip
    meta, got = read_ptu(p)
    assert (meta.mode, meta.resolution_ps, meta.global_resolution_ps) == ("T3", res, period)
    assert meta.sync_rate_hz == 80e6
    for c, t in enumerate(chans):
        np.testing.assert_array_equal(got[c], t)
    ref = _ptufile_records(p)
    for c, t in enumerate(chans):
        sel = ref["channel"] == c
        t_ref = (
            ref["time"][sel].astype(np.int64) * period + ref["dtime"][sel].astype(np.int64) * res
        )
        np.testing.assert_array_equal(np.sort(t_ref), t)


def test_multi_overflow_records_are_compressed(tmp_path: Path) -> None:
    gap = 10_000 * 33_554_432  # 10^4 HydraHarp V2 overflow periods between two photons
    t = [np.array([5, gap + 7], dtype=np.int64)]
    v2 = write_ptu(tmp_path / "v2.ptu", t, record_type="HydraHarp2")
    assert read_ptu_header(v2).n_records == 3  # photon, ONE overflow record, photon
    t_v1 = [np.array([5, 10_000 * 33_552_000 + 7], dtype=np.int64)]
    v1 = write_ptu(tmp_path / "v1.ptu", t_v1, record_type="HydraHarp")
    assert read_ptu_header(v1).n_records == 10_002  # one record per overflow in V1
    np.testing.assert_array_equal(read_ptu(v2)[1][0], t[0])
    np.testing.assert_array_equal(read_ptu(v1)[1][0], t_v1[0])
    huge = [np.array([0, (2**25 + 5) * 33_554_432], dtype=np.int64)]  # > one record's count
    p = write_ptu(tmp_path / "huge.ptu", huge)
    assert read_ptu_header(p).n_records == 4
    np.testing.assert_array_equal(read_ptu(p)[1][0], huge[0])


def test_streaming_writer_patches_count_and_keeps_order(tmp_path: Path) -> None:
    p = tmp_path / "s.ptu"
    with PtuWriter(p, mode="T2", record_type="HydraHarp2", n_channels=2) as w:
        assert not p.exists()  # written under a temporary name until closed
        w.write(np.array([0, -1, 1]), np.array([10, 20, 30]))
        w.write(np.array([-1 - 3, 0]), np.array([35, 10**10]))  # marker bits 3, then a photon
    meta = read_ptu_header(p)
    assert meta.n_records == w.n_records == 6  # 5 events + 1 compressed overflow
    assert meta.tags["TTResult_NumberOfRecords"] == 6
    assert meta.acquisition_time_s == pytest.approx(0.01)  # patched from the last tag (1e10 ps)
    (chunk,) = list(iter_ptu(p))
    np.testing.assert_array_equal(chunk.channel, [0, -1, 1, 0])
    np.testing.assert_array_equal(chunk.t_ps, [10, 20, 30, 10**10])
    np.testing.assert_array_equal(chunk.marker_channel, [3])
    np.testing.assert_array_equal(chunk.marker_t_ps, [35])
    raw = p.read_bytes()
    n_off = raw.index(b"TTResult_NumberOfRecords") + 40
    assert struct.unpack("<q", raw[n_off : n_off + 8])[0] == 6


def test_failed_write_leaves_no_file(tmp_path: Path) -> None:
    p = tmp_path / "f.ptu"

    def write_backwards() -> None:
        with PtuWriter(p) as w:
            w.write(np.array([0]), np.array([100]))
            w.write(np.array([0]), np.array([50]))

    with pytest.raises(ParameterError, match="non-decreasing"):
        write_backwards()
    assert list(tmp_path.iterdir()) == []


def test_writer_rejects_what_the_layout_cannot_hold(tmp_path: Path) -> None:
    with pytest.raises(ParameterError, match="multiples of resolution_ps=4"):
        write_ptu(tmp_path / "a.ptu", [np.array([5])], resolution_ps=4, record_type="PicoHarp")
    with pytest.raises(ParameterError, match="cannot be encoded"):
        write_ptu(tmp_path / "b.ptu", [np.array([1])] * 6, record_type="PicoHarp")  # channel 5
    with pytest.raises(ParameterError, match="cannot be encoded"):  # dtime 5000 > 12 bits
        write_ptu(
            tmp_path / "c.ptu", [np.array([5000])], mode="T3", sync_period_ps=10**6,
            record_type="PicoHarp",
        )  # fmt: skip
    with pytest.raises(ParameterError, match="sorted"):
        write_ptu(tmp_path / "d.ptu", [np.array([3, 1])])
    with pytest.raises(ParameterError, match="record_type"):
        write_ptu(tmp_path / "e.ptu", [np.array([1])], record_type="FooHarp")
    with pytest.raises(ParameterError, match="sync_period_ps"):
        write_ptu(tmp_path / "f.ptu", [np.array([1])], mode="T3")
    with pytest.raises(ParameterError, match=">= 0"):
        write_ptu(tmp_path / "g.ptu", [np.array([-4, 1])])
    assert not any(p.name.endswith(".ptu") for p in tmp_path.iterdir())


@settings(max_examples=40, deadline=None)
@given(
    family=st.sampled_from(FAMILIES),
    gaps=st.lists(st.lists(st.integers(0, 2**36), max_size=30), min_size=1, max_size=4),
)
def test_t2_round_trip_property(
    tmp_path_factory: pytest.TempPathFactory, family: str, gaps: list[list[int]]
) -> None:
    # cumulative gaps up to 2^36 units: up to hundreds of overflow periods between photons
    res = 4 if family == "PicoHarp" else 1
    chans = [np.cumsum(np.array(g, dtype=np.int64)) * res for g in gaps]
    p = tmp_path_factory.mktemp("w") / "x.ptu"
    write_ptu(p, chans, record_type=family, resolution_ps=res)
    _, got = read_ptu(p)
    for c, t in enumerate(chans):
        np.testing.assert_array_equal(got.get(c, np.zeros(0, np.int64)), t)


_EVENT = st.tuples(st.integers(0, 3), st.integers(0, 2**31), st.integers(0, 4095))


@settings(max_examples=150, deadline=None)
@given(
    name=st.sampled_from(sorted(r.name for r in RECORD_TYPES.values())),
    raw=st.lists(_EVENT, max_size=40),
    kinds=st.lists(st.sampled_from(["photon", "sync", "marker"]), max_size=40),
)
def test_encoder_equals_oracle(
    name: str, raw: list[tuple[int, int, int]], kinds: list[str]
) -> None:
    # Events with increasing times (gaps up to 2^31 units: many overflow periods), channel
    # codes of every kind the layout can hold; the kernel must emit exactly the oracle's
    # records, and decoding them must give the events back.
    rtype = next(r for r in RECORD_TYPES.values() if r.name == name)
    t3 = rtype.mode == "T3"
    events, t = [], 0
    for i, (c, gap, d) in enumerate(raw):
        t += gap
        kind = kinds[i] if i < len(kinds) else "photon"
        code = c
        if kind == "sync" and not t3 and rtype.layout != PH_T2:
            code = -1
        elif kind == "marker":
            code = -1 - (c % 15 + 1)
        events.append((code, t, d if t3 else 0))
    chan = np.array([e[0] for e in events], np.int16)
    time = np.array([e[1] for e in events], np.int64)
    dtime = np.array([e[2] for e in events], np.int64)
    recs, _, bad = encode_records(chan, time, dtime, rtype.layout, 0)
    assert bad == -1
    assert recs.tolist() == ptu_encode(events, name)
    dec_events, dec_markers = ptu_decode(recs.tolist(), name)
    photons = [e for e in events if e[0] >= -1]
    assert dec_events == photons
    wants = [
        (-1 - e[0], e[1] - (e[1] % 16 if rtype.layout == PH_T2 else 0)) for e in events if e[0] < -1
    ]
    # PicoHarp T2 markers: the low 4 time bits carry the marker bits, so time is coarse
    got = [(b, t - (t % 16 if rtype.layout == PH_T2 else 0)) for b, t in dec_markers]
    assert got == wants


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(-1, 5), st.integers(-(2**40), 2**40)), max_size=50))
def test_group_by_channel_equals_oracle(pairs: list[tuple[int, int]]) -> None:
    chan = np.array([p[0] for p in pairs], np.int8)
    t = np.array([p[1] for p in pairs], np.int64)
    got = {c: v.tolist() for c, v in group_by_channel(chan, t).items()}
    assert got == ptu_group_by_channel(chan.tolist(), t.tolist())
    assert first_unsorted(t) == next((i for i in range(1, t.size) if t[i] < t[i - 1]), -1)
