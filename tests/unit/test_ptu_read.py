"""PTU reader: real PicoQuant files, the numba decoder against the record-by-record oracle,
chunking, and clear errors for bad files."""

from __future__ import annotations

import struct
import warnings
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests._data import PICOQUANT_DIR, needs_picoquant
from tests.naive import ptu_decode

from qlight.errors import FileFormatError, ParameterError
from qlight.timetags.io import iter_ptu, read_ptu, read_ptu_header, write_ptu
from qlight.timetags.io._ptu_header import RECORD_TYPES, encode_tag
from qlight.timetags.io._ptu_records import (
    ERR_BAD_CHANNEL,
    ERR_NON_MONOTONIC,
    ERR_NONE,
    HH1_T2,
    HH1_T3,
    HH2_T2,
    HH2_T3,
    PH_T2,
    PH_T3,
    decode_records,
)

DATA = PICOQUANT_DIR
needs_data = needs_picoquant

LAYOUT_NAMES = {
    PH_T2: "PicoHarpT2",
    PH_T3: "PicoHarpT3",
    HH1_T2: "HydraHarpT2",
    HH1_T3: "HydraHarpT3",
    HH2_T2: "HydraHarp2T2",
    HH2_T3: "HydraHarp2T3",
}

# name: (record type, mode, n_records, resolution ps, global resolution ps, sync Hz, acq s,
#        n_channels, photons per channel)
EXPECTED = {
    "hydraharp_v10_t3.ptu": (
        "HydraHarpT3",
        "T3",
        167801,
        128.0,
        400000.0,
        2.5e6,
        30.0,
        2,
        {0: 48001, 1: 46559},
    ),
    "hydraharp_v20_t2.ptu": ("HydraHarp2T2", "T2", 435319, 1.0, 1.0, None, 5.0, 2, {0: 305565}),
    "hydraharp_v20_t3.ptu": (
        "HydraHarp2T3",
        "T3",
        106349,
        64.0,
        200001.6,
        4999960.0,
        10.0,
        2,
        {0: 45012, 1: 32871},
    ),
    "picoharp_v30_t2.ptu": (
        "PicoHarpT2",
        "T2",
        929254,
        4.0,
        4.0,
        70198.0,
        7.652,
        2,
        {0: 531477, 1: 388700},
    ),
}  # header values (ptufile 2026.2.6 prints the same); the PicoHarp run stopped
#   after 7.652 s of the 60 s set (TTResult_StopAfter), and its sync input is channel 0


def _records(path: Path) -> np.ndarray:
    meta = read_ptu_header(path)
    size = path.stat().st_size
    return np.fromfile(path, "<u4", offset=size - 4 * meta.n_records)


@needs_data
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_real_file_header_is_typed(name: str) -> None:
    rtype, mode, n_rec, res, glob, sync, acq, n_ch, _ = EXPECTED[name]
    meta = read_ptu_header(DATA / name)
    assert (meta.record_type, meta.mode, meta.n_records) == (rtype, mode, n_rec)
    assert meta.resolution_ps == pytest.approx(res, rel=1e-6)  # float32-stored in the file
    assert meta.global_resolution_ps == pytest.approx(glob, rel=1e-9)
    assert meta.sync_rate_hz == sync
    assert meta.acquisition_time_s == acq
    assert meta.n_channels == n_ch
    assert meta.format_version == "1.0.00"
    assert isinstance(meta.tags["File_CreatingTime"], datetime)
    assert isinstance(meta.tags["TTResultFormat_BitsPerRecord"], int)
    assert meta.tags["TTResultFormat_BitsPerRecord"] == 32


@needs_data
def test_indexed_and_typed_tags() -> None:
    tags = read_ptu_header(DATA / "hydraharp_v10_t3.ptu").tags
    assert tags["HWInpChan_Enabled"] == [True, True]  # Bool8 array
    assert tags["HWInpChan_Offset"] == [1000, 1248]  # Int8 array
    assert tags["UsrHeadName"] == {1: "405.0nm (DC405)", 3: "485.0nm (DC485)"}  # sparse index
    assert tags["CreatorSW_Name"] == "SymPhoTime 64"  # AnsiString
    assert isinstance(tags["UsrPowerDiode"], float)  # Float8


@needs_data
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_real_file_matches_ptufile_exactly(name: str) -> None:
    # ptufile (C. Gohlke) is an independent reader; compare integer fields, not rounded ps.
    ptufile = pytest.importorskip("ptufile")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ptufile warns about the sparse UsrHeadName index
        with ptufile.PtuFile(DATA / name) as f:
            ref = f.decode_records()
    photons = ref[(ref["channel"] >= 0) & (ref["marker"] == 0)]
    meta = read_ptu_header(DATA / name)
    chunks = list(iter_ptu(DATA / name))
    chan = np.concatenate([c.channel for c in chunks])
    np.testing.assert_array_equal(chan, photons["channel"])
    if meta.mode == "T3":
        np.testing.assert_array_equal(
            np.concatenate([c.sync_index for c in chunks]), photons["time"]
        )  # type: ignore[misc]
        np.testing.assert_array_equal(np.concatenate([c.dtime for c in chunks]), photons["dtime"])  # type: ignore[misc]
    else:
        t_units = np.concatenate([c.t_ps for c in chunks]) // round(meta.resolution_ps)
        np.testing.assert_array_equal(t_units, photons["time"])
    _, per_channel = read_ptu(DATA / name)
    assert {c: t.size for c, t in per_channel.items()} == EXPECTED[name][-1]


@needs_data
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_real_file_matches_the_oracle(name: str) -> None:
    meta = read_ptu_header(DATA / name)
    recs = _records(DATA / name)[:40_000]  # the pure-Python oracle takes ~1 s per 10^5
    events, markers = ptu_decode([int(r) for r in recs], meta.record_type)
    layout = RECORD_TYPES[meta.tags["TTResultFormat_TTTRRecType"]].layout  # type: ignore[index]
    chan, time, dtime, mk_bits, mk_time, _, _, err_i, err = decode_records(recs, layout, 0, 0)
    assert (err_i, err) == (-1, ERR_NONE)
    dtime = dtime if dtime.size else np.zeros_like(time)  # T2 decoding returns no dtime
    assert [(int(c), int(t), int(d)) for c, t, d in zip(chan, time, dtime, strict=True)] == events
    assert [(int(b), int(t)) for b, t in zip(mk_bits, mk_time, strict=True)] == markers


@needs_data
def test_chunked_equals_whole_on_a_real_file() -> None:
    path = DATA / "hydraharp_v20_t2.ptu"  # holds multi-overflow records between photons
    whole = next(iter_ptu(path, chunk_records=10**7))
    parts = list(iter_ptu(path, chunk_records=997))
    np.testing.assert_array_equal(np.concatenate([c.t_ps for c in parts]), whole.t_ps)
    assert [c.first_record for c in parts[:3]] == [0, 997, 1994]
    assert sum(c.n_records for c in parts) == whole.n_records == 435319


@settings(max_examples=150, deadline=None)
@given(
    layout=st.sampled_from(sorted(LAYOUT_NAMES)),
    words=st.lists(st.integers(0, 2**32 - 1), max_size=60),
    special_bias=st.lists(st.sampled_from([0, 0xF0000000, 0xFE000000, 0x80000000]), max_size=60),
)
def test_decoder_equals_oracle_on_arbitrary_records(
    layout: int, words: list[int], special_bias: list[int]
) -> None:
    # Arbitrary words, OR-ed with special/overflow bit patterns so that every record class
    # (overflow, marker, sync, photon, invalid) occurs. The kernel stops at the first invalid
    # or backwards record; before it, it must agree exactly with the oracle.
    recs = [w | (special_bias[i] if i < len(special_bias) else 0) for i, w in enumerate(words)]
    arr = np.array(recs, dtype=np.uint32)
    chan, time, dtime, mk_bits, mk_time, _, _, err_i, err = decode_records(arr, layout, 0, 0)
    stop = len(recs) if err_i < 0 else err_i
    events, markers = ptu_decode(recs[:stop], LAYOUT_NAMES[layout])
    dtime = dtime if dtime.size else np.zeros_like(time)  # T2 decoding returns no dtime
    assert [(int(c), int(t), int(d)) for c, t, d in zip(chan, time, dtime, strict=True)] == events
    assert [(int(b), int(t)) for b, t in zip(mk_bits, mk_time, strict=True)] == markers
    if err_i >= 0:  # record err_i is invalid or its event goes back in time
        try:
            ev_next, _ = ptu_decode(recs[: stop + 1], LAYOUT_NAMES[layout])
        except ValueError:
            assert err == ERR_BAD_CHANNEL
            return
        assert err == ERR_NON_MONOTONIC
        assert len(ev_next) == len(events) + 1
        assert ev_next[-1][1] < max(e[1] for e in events)


def _header(tags: list[bytes], magic: bytes = b"PQTTTR\0\0") -> bytes:
    return magic + b"1.0.00\0\0" + b"".join(tags)


def _minimal(rec_type: int = 0x01010204, n: int = 0) -> list[bytes]:
    return [
        encode_tag("TTResultFormat_TTTRRecType", rec_type, typ="Int8"),
        encode_tag("TTResult_NumberOfRecords", n, typ="Int8"),
        encode_tag("MeasDesc_Resolution", 1e-12, typ="Float8"),
        encode_tag("MeasDesc_GlobalResolution", 1e-12, typ="Float8"),
        encode_tag("Header_End", None, typ="Empty8"),
    ]


def test_wrong_magic_names_the_file(tmp_path: Path) -> None:
    p = tmp_path / "x.ptu"
    p.write_bytes(_header(_minimal(), magic=b"PQHISTO\0"))
    with pytest.raises(FileFormatError, match=r"x\.ptu.*not a PTU file.*byte offset 0"):
        read_ptu_header(p)


def test_unknown_record_type(tmp_path: Path) -> None:
    p = tmp_path / "x.ptu"
    p.write_bytes(_header(_minimal(rec_type=0x00AB0299)))
    # the value field of the first tag: 16 bytes of magic+version, 40 into the tag record
    with pytest.raises(FileFormatError, match=r"unknown record type 0x00AB0299 at byte offset 56"):
        read_ptu(p)


def test_unknown_tag_type(tmp_path: Path) -> None:
    bad = struct.pack("<32siI8s", b"Weird", -1, 0x12345678, bytes(8))
    p = tmp_path / "x.ptu"
    p.write_bytes(_header([bad, *_minimal()]))
    with pytest.raises(FileFormatError, match=r"unknown tag type 0x12345678.*byte offset 52"):
        read_ptu_header(p)


def test_truncated_header_and_records(tmp_path: Path) -> None:
    full = _header(_minimal(n=10)) + np.arange(10, dtype="<u4").tobytes()
    p = tmp_path / "x.ptu"
    p.write_bytes(full[:100])
    with pytest.raises(FileFormatError, match=r"truncated header.*byte offset 64"):
        read_ptu_header(p)
    p.write_bytes(full[:-5])
    with pytest.raises(FileFormatError, match=r"truncated file.*10 records.*holds? 8"):
        read_ptu(p)


def test_string_length_beyond_the_file(tmp_path: Path) -> None:
    tag = struct.pack("<32siIq", b"File_Comment", -1, 0x4001FFFF, 10**6)
    p = tmp_path / "x.ptu"
    p.write_bytes(_header([tag, *_minimal()]))
    with pytest.raises(FileFormatError, match=r"tag data length 1000000 outside the file"):
        read_ptu_header(p)


def test_backwards_time_names_record_and_offset(tmp_path: Path) -> None:
    recs = np.array([100, 200, 150, 300], dtype="<u4")  # HydraHarp V2 T2 photons, channel 0
    head = _header(_minimal(n=4))
    p = tmp_path / "x.ptu"
    p.write_bytes(head + recs.tobytes())
    with pytest.raises(
        FileFormatError, match=rf"non-monotonic\) at record 2 \(byte offset {len(head) + 8}\)"
    ):
        read_ptu(p)
    with pytest.raises(FileFormatError, match=r"at record 2 "):
        list(iter_ptu(p, chunk_records=2))  # the state carried across chunks catches it too


def test_invalid_channel(tmp_path: Path) -> None:
    recs = np.array([0x10000005, 0x90000005], dtype="<u4")  # PicoHarp T2 channel 1, then 9
    head = _header(_minimal(rec_type=0x00010203, n=2))
    p = tmp_path / "x.ptu"
    p.write_bytes(head + recs.tobytes())
    with pytest.raises(FileFormatError, match=r"invalid channel.*record 1"):
        read_ptu(p)


def test_missing_file_and_bad_chunk_size(tmp_path: Path) -> None:
    with pytest.raises(ParameterError, match="must be an existing file"):
        read_ptu_header(tmp_path / "none.ptu")
    p = write_ptu(tmp_path / "x.ptu", [np.array([1, 2])])
    with pytest.raises(ParameterError, match="chunk_records"):
        list(iter_ptu(p, chunk_records=0))


def test_empty_file_yields_nothing(tmp_path: Path) -> None:
    p = write_ptu(tmp_path / "x.ptu", [np.zeros(0, np.int64)])
    assert list(iter_ptu(p)) == []
    meta, tags = read_ptu(p)
    assert meta.n_records == 0
    assert tags == {}
