"""Numba decoders and encoders of PicoQuant 32-bit TTTR records.

One decoder kernel handles every supported record layout; the layout is a small integer
(:data:`PH_T2` … :data:`HH2_T3`) fixed for a whole file, so the branch on it is perfectly
predicted. The overflow state is carried in and out, so a file decodes in independent chunks.

Record layouts (bit 0 = least significant), from PicoQuant's file-format demos
(``PicoQuant-Time-Tagged-File-Format-Demos``, ``PTU/Python/Read_PTU.py`` and ``PTU/C``):

* PicoHarp T2: ``time:28 | channel:4``; channel 15 is special: low 4 time bits are marker bits,
  0 means one overflow of 210 698 240 time units.
* PicoHarp T3: ``nsync:16 | dtime:12 | channel:4``; channel 15 is special: ``dtime == 0``
  means one overflow of 65 536 syncs, otherwise a marker (bits ``dtime & 0xF``); photon
  channels 1–4.
* HydraHarp V1 T2: ``timetag:25 | channel:6 | special:1``; special channel 63 is one overflow of
  33 552 000 units, channels 1–15 markers, channel 0 the sync input.
* HydraHarp V2, TimeHarp 260 N/P, MultiHarp and PicoHarp 330 ("generic") T2: as V1, overflow period
  33 554 432 and one overflow record carries ``timetag`` overflows (0 meaning one).
* HydraHarp V1/V2 (and generic) T3: ``nsync:10 | dtime:15 | channel:6 | special:1``; special
  channel 63 is an overflow of 1024 syncs (V2+: ``nsync`` of them, 0 meaning one), 1–15 markers.
"""

from __future__ import annotations

import numpy as np
from numba import njit
from numpy.typing import NDArray

from qlight._numba import JIT

__all__ = [
    "ERR_BAD_CHANNEL",
    "ERR_BAD_VALUE",
    "ERR_NONE",
    "ERR_NON_MONOTONIC",
    "HH1_T2",
    "HH1_T3",
    "HH2_T2",
    "HH2_T3",
    "PH_T2",
    "PH_T3",
    "WRAP",
    "decode_records",
    "encode_records",
    "first_unsorted",
    "group_by_channel",
]

#: Layout codes of the decoder.
PH_T2, PH_T3, HH1_T2, HH1_T3, HH2_T2, HH2_T3 = 0, 1, 2, 3, 4, 5

#: Overflow period of each layout, in time units (T2) or sync periods (T3); see module docstring.
WRAP = {
    PH_T2: 210_698_240,
    PH_T3: 65_536,
    HH1_T2: 33_552_000,
    HH1_T3: 1024,
    HH2_T2: 33_554_432,
    HH2_T3: 1024,
}

ERR_NONE, ERR_NON_MONOTONIC, ERR_BAD_CHANNEL, ERR_BAD_VALUE = 0, 1, 2, 3


@njit(**JIT)  # type: ignore[untyped-decorator]
def _decode_records(
    recs: NDArray[np.uint32],
    layout: int,
    ofl: int,
    last: int,
    chan: NDArray[np.int8],
    time: NDArray[np.int64],
    dtime: NDArray[np.int64],
    mk_bits: NDArray[np.int8],
    mk_time: NDArray[np.int64],
) -> tuple[int, int, int, int, int, int]:  # pragma: no cover - numba
    """Decode ``recs``; returns (n_events, n_markers, ofl, last, error index, error code)."""
    n = 0
    m = 0
    is_t3 = layout in (PH_T3, HH1_T3, HH2_T3)
    if layout == PH_T2:
        wrap = 210_698_240
    elif layout == PH_T3:
        wrap = 65_536
    elif layout == HH1_T2:
        wrap = 33_552_000
    elif layout == HH2_T2:
        wrap = 33_554_432
    else:
        wrap = 1024
    multi = layout in (HH2_T2, HH2_T3)
    for i in range(recs.size):
        r = int(recs[i])
        c = -2  # -2: overflow / nothing; -3: marker; >= -1: event channel
        t = 0
        d = 0
        bits = 0
        if layout == PH_T2:
            ch = (r >> 28) & 0xF
            t = r & 0x0FFFFFFF
            if ch == 15:
                bits = t & 0xF
                if bits == 0:
                    ofl += wrap
                else:
                    t = t & 0x0FFFFFF0  # the low 4 bits hold the marker bits
                    c = -3
            elif ch <= 4:
                c = ch
            else:
                return n, m, ofl, last, i, ERR_BAD_CHANNEL
        elif layout == PH_T3:
            ch = (r >> 28) & 0xF
            d = (r >> 16) & 0xFFF
            t = r & 0xFFFF
            if ch == 15:
                if d == 0:
                    ofl += wrap
                else:
                    bits = d & 0xF
                    c = -3
            elif 1 <= ch <= 4:
                c = ch - 1
            else:
                return n, m, ofl, last, i, ERR_BAD_CHANNEL
        else:
            special = (r >> 31) & 1
            ch = (r >> 25) & 0x3F
            if is_t3:
                t = r & 0x3FF
                d = (r >> 10) & 0x7FFF
            else:
                t = r & 0x1FFFFFF
            if special == 1:
                if ch == 63:
                    if multi and t != 0:
                        ofl += wrap * t
                    else:
                        ofl += wrap
                elif 1 <= ch <= 15:
                    bits = ch
                    c = -3
                elif ch == 0 and not is_t3:
                    c = -1
                else:
                    return n, m, ofl, last, i, ERR_BAD_CHANNEL
            else:
                c = ch
        if c == -3:
            mk_bits[m] = bits
            mk_time[m] = ofl + t
            m += 1
        elif c >= -1:
            tt = ofl + t
            if tt < last:
                return n, m, ofl, last, i, ERR_NON_MONOTONIC
            last = tt
            chan[n] = c
            time[n] = tt
            if is_t3:
                dtime[n] = d
            n += 1
    return n, m, ofl, last, -1, ERR_NONE


def decode_records(
    recs: NDArray[np.uint32], layout: int, ofl: int, last: int
) -> tuple[
    NDArray[np.int8],
    NDArray[np.int64],
    NDArray[np.int64],
    NDArray[np.int8],
    NDArray[np.int64],
    int,
    int,
    int,
    int,
]:
    """Decode a block of records (see the module docstring for the layouts).

    Parameters
    ----------
    recs : ndarray of uint32
        Consecutive records of one file.
    layout : int
        :data:`PH_T2` … :data:`HH2_T3`.
    ofl, last : int
        Overflow correction and last event time carried from the previous block (0, 0 at the
        start of a file).

    Returns
    -------
    tuple
        ``(channel, time, dtime, marker_bits, marker_time, ofl, last, err_index, err_code)``:
        events (photons, and T2 sync records as channel -1) in file order with their time in
        time units (T2) or absolute sync number (T3) and raw microtime bin (T3; empty in T2);
        markers; the state to carry on; the index of the first bad record in ``recs`` and its
        error code (``-1`` and :data:`ERR_NONE` if every record is valid).
    """
    recs = np.ascontiguousarray(recs, dtype=np.uint32)
    size = recs.size
    chan = np.empty(size, np.int8)
    time = np.empty(size, np.int64)
    dtime = np.empty(size if layout in (PH_T3, HH1_T3, HH2_T3) else 0, np.int64)
    mk_bits = np.empty(size, np.int8)
    mk_time = np.empty(size, np.int64)
    n, m, ofl, last, err_i, err = _decode_records(
        recs, layout, ofl, last, chan, time, dtime, mk_bits, mk_time
    )
    # copy the (few) markers out so that the record-sized scratch arrays are freed at once
    return (
        chan[:n],
        time[:n],
        dtime[:n],
        mk_bits[:m].copy(),
        mk_time[:m].copy(),
        ofl,
        last,
        err_i,
        err,
    )


@njit(**JIT)  # type: ignore[untyped-decorator]
def _encode_records(
    chan: NDArray[np.int16],
    time: NDArray[np.int64],
    dtime: NDArray[np.int64],
    layout: int,
    base: int,
    out: NDArray[np.uint32],
) -> tuple[int, int, int]:  # pragma: no cover - numba
    """Encode events; returns (records written, new base, index of a bad event or -1).

    ``chan``: detector 0–63 (PicoHarp: 0–4 in T2, 0–3 in T3), -1 sync (HydraHarp-style T2),
    -1 - b a marker with bits b (1–15). ``base`` is the overflow correction so far; times must
    be >= base and non-decreasing (markers excepted).
    """
    is_t3 = layout in (PH_T3, HH1_T3, HH2_T3)
    if layout == PH_T2:
        wrap = 210_698_240
    elif layout == PH_T3:
        wrap = 65_536
    elif layout == HH1_T2:
        wrap = 33_552_000
    elif layout == HH2_T2:
        wrap = 33_554_432
    else:
        wrap = 1024
    multi = layout in (HH2_T2, HH2_T3)
    max_count = 0x1FFFFFF if layout == HH2_T2 else 0x3FF
    k = 0
    for i in range(chan.size):
        t = time[i]
        if t < base:
            return k, base, i
        n_ofl = (t - base) // wrap
        while n_ofl > 0:
            if layout in (PH_T2, PH_T3):
                out[k] = np.uint32(0xF0000000)
                step = 1
            elif multi:
                step = min(n_ofl, max_count)
                out[k] = np.uint32((1 << 31) | (63 << 25) | step)
            else:
                out[k] = np.uint32((1 << 31) | (63 << 25))
                step = 1
            k += 1
            n_ofl -= step
            base += step * wrap
        lo = t - base
        c = int(chan[i])
        d = dtime[i]
        if layout == PH_T2:
            if c >= 0:
                if c > 4:
                    return k, base, i
                out[k] = np.uint32((c << 28) | lo)
            elif c <= -2:
                out[k] = np.uint32((15 << 28) | (lo & 0x0FFFFFF0) | (-1 - c))
            else:
                return k, base, i
        elif layout == PH_T3:
            if d < 0 or d > 0xFFF:
                return k, base, i
            if c >= 0:
                if c > 3:
                    return k, base, i
                out[k] = np.uint32(((c + 1) << 28) | (d << 16) | lo)
            elif c <= -2:
                out[k] = np.uint32((15 << 28) | ((-1 - c) << 16) | lo)
            else:
                return k, base, i
        else:
            if is_t3 and (d < 0 or d > 0x7FFF):
                return k, base, i
            low = (d << 10) | lo if is_t3 else lo
            if c >= 0:
                if c > 63:
                    return k, base, i
                out[k] = np.uint32((c << 25) | low)
            elif c == -1:
                if is_t3:
                    return k, base, i
                out[k] = np.uint32((1 << 31) | low)
            else:
                out[k] = np.uint32((1 << 31) | ((-1 - c) << 25) | low)
        k += 1
    return k, base, -1


def encode_records(
    chan: NDArray[np.int16],
    time: NDArray[np.int64],
    dtime: NDArray[np.int64],
    layout: int,
    base: int,
) -> tuple[NDArray[np.uint32], int, int]:
    """Encode events into records with the overflow records they need.

    Parameters
    ----------
    chan : ndarray of int16
        Channel codes (see :func:`_encode_records`).
    time : ndarray of int64
        Time in time units (T2) or absolute sync number (T3), non-decreasing, >= ``base``.
    dtime : ndarray of int64
        Microtime bins (T3; ignored in T2).
    layout : int
        :data:`PH_T2` … :data:`HH2_T3`.
    base : int
        Overflow correction already written (0 at the start of a file).

    Returns
    -------
    tuple
        ``(records, new_base, bad_index)``; ``bad_index`` is -1 when every event was valid.
    """
    if chan.size == 0:
        return np.zeros(0, np.uint32), base, -1
    wrap = WRAP[layout]
    span = int(time[-1]) - base
    if span < 0 or int(time.min()) < base:
        return np.zeros(0, np.uint32), base, int(np.argmax(time < base))
    n_ofl = span // wrap
    if layout in (HH2_T2, HH2_T3):  # one record per gap, plus one per full record count
        max_count = 0x1FFFFFF if layout == HH2_T2 else 0x3FF
        n_ofl = min(n_ofl, chan.size) + n_ofl // max_count + 1
    out = np.empty(chan.size + n_ofl, np.uint32)
    k, new_base, bad = _encode_records(
        np.ascontiguousarray(chan, np.int16),
        np.ascontiguousarray(time, np.int64),
        np.ascontiguousarray(dtime, np.int64),
        layout,
        base,
        out,
    )
    return out[:k], new_base, bad


@njit(**JIT)  # type: ignore[untyped-decorator]
def _group_by_channel(
    channel: NDArray[np.int8], t: NDArray[np.int64], out: NDArray[np.int64]
) -> NDArray[np.int64]:  # pragma: no cover - numba
    """Stable counting sort of ``t`` by ``channel + 128`` into ``out``; returns the offsets."""
    start = np.zeros(257, np.int64)
    for i in range(channel.size):
        start[int(channel[i]) + 129] += 1
    for k in range(256):
        start[k + 1] += start[k]
    fill = start[:-1].copy()
    for i in range(channel.size):
        k = int(channel[i]) + 128
        out[fill[k]] = t[i]
        fill[k] += 1
    return start


def group_by_channel(
    channel: NDArray[np.int8], t: NDArray[np.int64]
) -> dict[int, NDArray[np.int64]]:
    """Split one event stream into per-channel arrays, keeping the stream order in each.

    One stable counting-sort pass (O(n)); the arrays are views of one buffer.
    """
    out = np.empty(t.size, np.int64)
    start = _group_by_channel(
        np.ascontiguousarray(channel, np.int8), np.ascontiguousarray(t, np.int64), out
    )
    present = np.flatnonzero(np.diff(start)).tolist()
    return {k - 128: out[start[k] : start[k + 1]] for k in present}


@njit(**JIT)  # type: ignore[untyped-decorator]
def _first_unsorted(t: NDArray[np.int64]) -> int:  # pragma: no cover - numba
    for i in range(1, t.size):
        if t[i] < t[i - 1]:
            return i
    return -1


def first_unsorted(t: NDArray[np.int64]) -> int:
    """Index of the first element smaller than its predecessor, or -1 if ``t`` is sorted."""
    return int(_first_unsorted(np.ascontiguousarray(t, np.int64)))
