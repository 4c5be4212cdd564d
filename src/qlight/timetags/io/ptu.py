"""PicoQuant PTU reader: typed header metadata and chunked, bounded-memory record decoding.

Supported record types: PicoHarp 300 T2/T3, HydraHarp 400 V1 and V2 T2/T3, TimeHarp 260 N/P
T2/T3, MultiHarp and PicoHarp 330 (the generic format) T2/T3, with overflow records (including
compressed multi-overflow records), markers and T2 sync records; see
:mod:`qlight.timetags.io._ptu_records` for the bit layouts and overflow periods.

Times are integer picoseconds: T2 ``t_ps = time tag × resolution``; T3
``t_ps = rint(sync index × sync period) + microtime``, ``microtime = rint(dtime × resolution)``.
A product by a whole number of ps is exact integer arithmetic; a fractional unit (a
sync period of 200 001.6 ps) is multiplied in float64 and rounded to the nearest ps.

References
----------
PicoQuant, "PicoQuant Time-Tagged File Format Demos" (``PTU/Python/Read_PTU.py``,
``PTU/C/ptudemo.c``): record layouts, overflow periods, tag names and units (resolutions in
seconds, ``MeasDesc_AcquisitionTime`` in ms, ``TTResult_SyncRate`` in Hz).
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from qlight.errors import FileFormatError, ParameterError
from qlight.timetags.io._ptu_header import RECORD_TYPES, ParsedHeader, RecordType, parse_header
from qlight.timetags.io._ptu_records import (
    ERR_BAD_CHANNEL,
    ERR_NON_MONOTONIC,
    PH_T2,
    decode_records,
    first_unsorted,
    group_by_channel,
)

__all__ = [
    "DEFAULT_CHUNK_RECORDS",
    "SYNC_CHANNEL",
    "TTTRChunk",
    "TTTRMetadata",
    "iter_ptu",
    "read_ptu",
    "read_ptu_header",
    "scale_to_ps",
    "split_channels",
]

#: Channel number of T2 sync records (HydraHarp and later) in decoded streams.
SYNC_CHANNEL = -1
#: Records decoded per chunk by default (16 MB of records, ~100 MB of decoded arrays).
DEFAULT_CHUNK_RECORDS = 4_000_000
_PS_PER_S = 1e12


@dataclass(frozen=True)
class TTTRMetadata:
    """Typed header of a time-tag file.

    Attributes
    ----------
    path : str
        The file.
    instrument : str
        ``"PicoHarp 300"``, ``"HydraHarp 400"``, ``"MultiHarp"``, ``"TimeHarp 260 P"``, … or
        ``"Photon-HDF5"``.
    record_type : str
        PicoQuant record-type name (``"HydraHarp2T2"``) or ``"Photon-HDF5"``.
    mode : {"T2", "T3"}
        T2: absolute time tags; T3: sync number and microtime.
    format_version : str
        File format version string.
    resolution_ps : float
        T2 time-tag unit; T3 microtime (dtime) bin.
    global_resolution_ps : float
        T2: equal to ``resolution_ps``; T3: the sync period (macrotime unit).
    sync_rate_hz : float or None
        Sync rate reported by the instrument (None when absent or zero).
    acquisition_time_s : float or None
        Duration of the run from the header (``TTResult_StopAfter``, else
        ``MeasDesc_AcquisitionTime``).
    n_records : int
        Number of records (PTU) or photons (Photon-HDF5).
    n_channels : int
        Number of detector input channels the header declares (PicoHarp T2: plus the sync
        input, which is timing channel 0 there).
    tags : dict
        Every decoded header tag with its typed value.
    """

    path: str
    instrument: str
    record_type: str
    mode: Literal["T2", "T3"]
    format_version: str
    resolution_ps: float
    global_resolution_ps: float
    sync_rate_hz: float | None
    acquisition_time_s: float | None
    n_records: int
    n_channels: int
    tags: dict[str, object] = field(repr=False)


@dataclass(frozen=True)
class TTTRChunk:
    """Decoded records ``[first_record, first_record + n_records)`` of a file.

    Events (photons and T2 sync records, ``channel == SYNC_CHANNEL``) are in file order:
    non-decreasing ``t_ps`` in T2, non-decreasing ``sync_index`` in T3.

    Attributes
    ----------
    channel : ndarray of int8
        0-based detector channel of each event (PicoHarp T3 channel 1 is 0).
    t_ps : ndarray of int64
        Absolute time of each event in ps.
    microtime_ps, dtime, sync_index : ndarray of int64 or None
        T3 only: microtime in ps, raw microtime bin, absolute sync number.
    marker_channel : ndarray of int8
        Marker bits (1–15) of each marker record.
    marker_t_ps : ndarray of int64
        Time of each marker in ps (markers have coarser timing and may be out of order).
    first_record, n_records : int
        Record range of the chunk in the file.
    """

    channel: NDArray[np.int8]
    t_ps: NDArray[np.int64]
    microtime_ps: NDArray[np.int64] | None
    dtime: NDArray[np.int64] | None
    sync_index: NDArray[np.int64] | None
    marker_channel: NDArray[np.int8]
    marker_t_ps: NDArray[np.int64]
    first_record: int
    n_records: int


def scale_to_ps(values: NDArray[np.int64], unit_ps: float) -> NDArray[np.int64]:
    """``values × unit_ps`` as int64 ps: exact for a whole-ps unit, else rounded float64."""
    whole = round(unit_ps)
    if whole == 1 and abs(unit_ps - 1.0) <= 1e-9:
        return values  # 1 ps tags: no copy
    if whole >= 1 and abs(unit_ps - whole) <= 1e-9 * unit_ps:
        out: NDArray[np.int64] = values * np.int64(whole)
        return out
    scaled: NDArray[np.float64] = np.rint(values * unit_ps)
    return scaled.astype(np.int64)


def _check_file(path: str | os.PathLike[str]) -> Path:
    p = Path(path)
    if not p.is_file():
        raise ParameterError("path", str(p), "must be an existing file")
    return p


def _number(tags: dict[str, object], name: str) -> float | None:
    value = tags.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _instrument(rtype: RecordType, tags: dict[str, object]) -> str:
    hw = tags.get("HW_Type")
    if rtype.instrument == "MultiHarp" and isinstance(hw, str) and hw.strip():
        return hw.strip()  # the generic format: MultiHarp 150/160, PicoHarp 330
    return rtype.instrument


def _metadata(p: Path, head: ParsedHeader, size: int) -> tuple[TTTRMetadata, RecordType]:
    """Typed metadata from the parsed tags, with every consistency check."""
    tags = head.tags
    code = tags.get("TTResultFormat_TTTRRecType")
    if not isinstance(code, int) or isinstance(code, bool):
        raise FileFormatError(f"{p}: header lacks the tag TTResultFormat_TTTRRecType")
    if code not in RECORD_TYPES:
        off = head.value_offsets["TTResultFormat_TTTRRecType"]
        raise FileFormatError(f"{p}: unknown record type 0x{code:08X} at byte offset {off}")
    rtype = RECORD_TYPES[code]
    n_rec = tags.get("TTResult_NumberOfRecords")
    if not isinstance(n_rec, int) or isinstance(n_rec, bool) or n_rec < 0:
        raise FileFormatError(f"{p}: header lacks a valid TTResult_NumberOfRecords ({n_rec!r})")
    available = (size - head.data_offset) // 4
    if n_rec > available:
        raise FileFormatError(
            f"{p}: truncated file: header declares {n_rec} records, the data from byte offset "
            f"{head.data_offset} hold {available} (record {available} missing)"
        )
    res_s = _number(tags, "MeasDesc_Resolution")
    glob_s = _number(tags, "MeasDesc_GlobalResolution")
    sync_hz = _number(tags, "TTResult_SyncRate")
    sync_hz = sync_hz if sync_hz is not None and sync_hz > 0 else None
    if rtype.mode == "T2":
        unit_s = glob_s if glob_s is not None and glob_s > 0 else res_s
        res_ps = glob_ps = (unit_s or 0.0) * _PS_PER_S
    else:
        res_ps = (res_s or 0.0) * _PS_PER_S
        glob_ps = (glob_s or 0.0) * _PS_PER_S
        if not glob_ps > 0 and sync_hz is not None:
            glob_ps = _PS_PER_S / sync_hz
    for name, value in (("resolution", res_ps), ("global resolution", glob_ps)):
        if not (np.isfinite(value) and 0 < value < 1e15):
            raise FileFormatError(f"{p}: invalid {name} {value!r} ps in the header")
    # TTResult_StopAfter is the time the run actually lasted (a run stopped early, e.g. on a
    # count overflow, is shorter than the MeasDesc_AcquisitionTime that was set); both in ms.
    acq = _number(tags, "TTResult_StopAfter")
    if acq is None or acq <= 0:
        acq = _number(tags, "MeasDesc_AcquisitionTime")
    enabled = tags.get("HWInpChan_Enabled")
    n_ch_tag = _number(tags, "HW_InpChannels")
    n_ch = len(enabled) if isinstance(enabled, list) else int(n_ch_tag or 0)
    if rtype.layout == PH_T2:
        n_ch += 1  # in PicoHarp T2 the sync input is timing channel 0 (router inputs 1-4)
    meta = TTTRMetadata(
        path=str(p),
        instrument=_instrument(rtype, tags),
        record_type=rtype.name,
        mode=rtype.mode,
        format_version=head.version,
        resolution_ps=float(res_ps),
        global_resolution_ps=float(glob_ps),
        sync_rate_hz=sync_hz,
        acquisition_time_s=None if acq is None else acq / 1000.0,
        n_records=n_rec,
        n_channels=n_ch,
        tags=tags,
    )
    return meta, rtype


def _open(p: Path) -> tuple[io.BufferedReader, TTTRMetadata, RecordType, int]:
    f = p.open("rb")
    try:
        size = os.fstat(f.fileno()).st_size
        head = parse_header(f, str(p), size)
        meta, rtype = _metadata(p, head, size)
    except BaseException:
        f.close()
        raise
    return f, meta, rtype, head.data_offset


def read_ptu_header(path: str | os.PathLike[str]) -> TTTRMetadata:
    """Read the header of a PTU file into typed metadata.

    Parameters
    ----------
    path : str or os.PathLike
        A PicoQuant ``.ptu`` file.

    Returns
    -------
    TTTRMetadata
        Instrument, record type, resolutions, sync rate, acquisition time, record count and
        every tag (typed: bool, int, float, datetime, str, float array, bytes).

    Raises
    ------
    ParameterError
        If ``path`` is not an existing file.
    FileFormatError
        Wrong magic, truncated or corrupted header, unknown record type, or fewer records
        than the header declares; the message names the file and the byte offset.
    """
    p = _check_file(path)
    f, meta, _, _ = _open(p)
    f.close()
    return meta


def _raise_record_error(meta: TTTRMetadata, data_offset: int, index: int, code: int) -> None:
    what = {
        ERR_NON_MONOTONIC: "time tag goes backwards (non-monotonic)",
        ERR_BAD_CHANNEL: "invalid channel or special record",
    }.get(code, "invalid record")
    raise FileFormatError(
        f"{meta.path}: {what} at record {index} (byte offset {data_offset + 4 * index}) "
        f"of a {meta.record_type} file"
    )


def iter_ptu(
    path: str | os.PathLike[str], *, chunk_records: int = DEFAULT_CHUNK_RECORDS
) -> Iterator[TTTRChunk]:
    """Decode a PTU file chunk by chunk with bounded memory.

    The overflow state is carried across chunks, so concatenating the chunks gives exactly
    the whole-file decoding. Memory is about ``50 × chunk_records`` bytes, whatever the file
    size.

    Parameters
    ----------
    path : str or os.PathLike
        A PicoQuant ``.ptu`` file.
    chunk_records : int, optional
        Records per chunk (>= 1).

    Yields
    ------
    TTTRChunk
        The events and markers of consecutive record ranges (a file without records yields
        nothing).

    Raises
    ------
    ParameterError
        If ``path`` is not a file or ``chunk_records`` < 1.
    FileFormatError
        For a bad header or a bad record (invalid channel, time going backwards, file
        shorter than declared): the message names the file, the record index and byte offset.
    """
    if isinstance(chunk_records, bool) or not isinstance(chunk_records, int | np.integer):
        raise ParameterError("chunk_records", chunk_records, "must be an integer")
    if chunk_records < 1:
        raise ParameterError("chunk_records", chunk_records, "must be >= 1")
    p = _check_file(path)
    f, meta, rtype, data_offset = _open(p)
    with f:
        f.seek(data_offset)
        buf = np.empty(min(int(chunk_records), max(meta.n_records, 1)), np.uint32)
        ofl = last = 0
        first = 0
        t3 = meta.mode == "T3"
        while first < meta.n_records:
            n = min(buf.size, meta.n_records - first)
            got = f.readinto(buf[:n].data.cast("B"))
            if got != 4 * n:
                bad = first + (got or 0) // 4
                raise FileFormatError(
                    f"{p}: truncated file: record {bad} (byte offset {data_offset + 4 * bad}) "
                    "is missing"
                )
            chan, time, dtime, mk_bits, mk_time, ofl, last, err_i, err = decode_records(
                buf[:n], rtype.layout, ofl, last
            )
            if err_i >= 0:
                _raise_record_error(meta, data_offset, first + err_i, err)
            if t3:
                micro = scale_to_ps(dtime, meta.resolution_ps)
                t_ps = scale_to_ps(time, meta.global_resolution_ps) + micro
                chunk = TTTRChunk(
                    chan,
                    t_ps,
                    micro,
                    dtime,
                    time,
                    mk_bits,
                    scale_to_ps(mk_time, meta.global_resolution_ps),
                    first,
                    n,
                )
            else:
                chunk = TTTRChunk(
                    chan,
                    scale_to_ps(time, meta.resolution_ps),
                    None,
                    None,
                    None,
                    mk_bits,
                    scale_to_ps(mk_time, meta.resolution_ps),
                    first,
                    n,
                )
            yield chunk
            first += n


def split_channels(
    channel: NDArray[np.int8], t_ps: NDArray[np.int64], *, ordered: bool = False
) -> dict[int, NDArray[np.int64]]:
    """Split one event stream into sorted per-channel arrays.

    A stable O(n) counting sort by channel; unless the stream is known to be ``ordered``
    (T2: the decoder rejects backwards times), a channel's tags are sorted again (stable)
    when they are not already in order (T3 microtimes beyond the sync period).
    """
    out = group_by_channel(channel, t_ps)
    if ordered:
        return out
    for c, t in out.items():
        if first_unsorted(t) >= 0:
            out[c] = np.sort(t, kind="stable")
    return out


def read_ptu(
    path: str | os.PathLike[str], *, chunk_records: int = DEFAULT_CHUNK_RECORDS
) -> tuple[TTTRMetadata, dict[int, NDArray[np.int64]]]:
    """Read a whole PTU file into sorted int64 ps tags per channel.

    Parameters
    ----------
    path : str or os.PathLike
        A PicoQuant ``.ptu`` file.
    chunk_records : int, optional
        Records decoded at a time.

    Returns
    -------
    metadata : TTTRMetadata
        The typed header.
    t_ps : dict of int to ndarray of int64
        Sorted tags of each channel present (T3: ``rint(sync × period) + microtime``; key
        :data:`SYNC_CHANNEL` for T2 sync records).

    Raises
    ------
    ParameterError, FileFormatError
        As :func:`iter_ptu`.
    """
    parts: dict[int, list[NDArray[np.int64]]] = {}
    meta = read_ptu_header(path)
    t2 = meta.mode == "T2"
    for chunk in iter_ptu(path, chunk_records=chunk_records):
        for c, t in split_channels(chunk.channel, chunk.t_ps, ordered=t2).items():
            parts.setdefault(c, []).append(t)
    out: dict[int, NDArray[np.int64]] = {}
    for c in sorted(parts):
        if len(parts[c]) == 1:
            out[c] = parts[c][0]
            continue
        t = np.concatenate(parts[c])
        if not t2 and first_unsorted(t) >= 0:  # T3 microtimes beyond the sync period
            t = np.sort(t, kind="stable")
        out[c] = t
    return meta, out
