"""Cross-correlation of streams too large for memory, chunk by chunk.

:class:`StreamingCrossCorrelator` accumulates the all-pairs histogram of
:func:`qlight.timetags.correlate.cross_correlate` over consecutive chunks of two channels and
gives exactly the whole-stream result: pairs inside a chunk, and pairs across chunk borders
through a short retained tail of each channel. :func:`correlate_file` runs it over a PTU or
Photon-HDF5 file with bounded memory.

Why the tails suffice: with ``s = delay_b − delay_a`` a pair counts when
``−W ≤ b + s − a < W``. Every later ``b`` is ``≥ b_last`` (the last b so far), so an earlier
``a`` can still pair with a later ``b`` only if ``a > b_last + s − W``; likewise an earlier
``b`` only pairs with a later ``a`` if ``b ≥ a_last − s − W``. Older tags are dropped. Each
new chunk adds ``tail_a × new_b + new_a × tail_b + new_a × new_b``, so every pair is counted
once: memory is the chunk plus ``2·W + |s|`` worth of tags.

References
----------
All-pairs histogram conventions: ``REFERENCES.md`` ("Time tags").
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray

from qlight.errors import ParameterError
from qlight.timetags.correlate import as_time_tags, check_integer, cross_correlate
from qlight.timetags.io import (
    DEFAULT_CHUNK_RECORDS,
    SYNC_CHANNEL,
    iter_channels,
    iter_ptu,
    read_header,
)
from qlight.timetags.io.ptu import scale_to_ps
from qlight.timetags.io.stream import iter_nanotimes, tcspc_specs
from qlight.timetags.lifetime import (
    LifetimeHistogram,
    lifetime_histogram_t2,
    lifetime_histogram_t3,
)
from qlight.timetags.trace import IntensityTrace, intensity_trace

__all__ = [
    "FileCorrelation",
    "StreamingCrossCorrelator",
    "correlate_file",
    "file_duration_ps",
    "lifetime_file",
    "trace_file",
]


class StreamingCrossCorrelator:
    """Accumulate ``cross_correlate(a, b, …)`` over consecutive chunks of both channels.

    Parameters
    ----------
    window_ps, bin_ps, delay_a_ps, delay_b_ps : int
        As :func:`qlight.timetags.correlate.cross_correlate`.

    Notes
    -----
    Each call of :meth:`add` takes the next tags of each channel; within a channel they must
    be sorted and not earlier than that channel's previous tags. While one channel has no
    tag yet, the other's tags are all retained.

    Examples
    --------
    >>> s = StreamingCrossCorrelator(window_ps=100, bin_ps=50)
    >>> s.add([0], [50]); s.add([100], [120])
    >>> s.counts.tolist()
    [0, 1, 1, 1]
    """

    def __init__(
        self, *, window_ps: int, bin_ps: int, delay_a_ps: int = 0, delay_b_ps: int = 0
    ) -> None:
        self.lags_ps, self.counts = cross_correlate(
            [], [], window_ps=window_ps, bin_ps=bin_ps, delay_a_ps=delay_a_ps, delay_b_ps=delay_b_ps
        )
        self._args = {
            "window_ps": int(window_ps),
            "bin_ps": int(bin_ps),
            "delay_a_ps": int(delay_a_ps),
            "delay_b_ps": int(delay_b_ps),
        }
        self._shift = int(delay_b_ps) - int(delay_a_ps)
        self._window = int(window_ps)
        self._tail_a = np.zeros(0, dtype=np.int64)
        self._tail_b = np.zeros(0, dtype=np.int64)
        self._last_a: int | None = None
        self._last_b: int | None = None
        self.n_a = 0
        self.n_b = 0
        self.first_ps: int | None = None
        self.last_ps: int | None = None

    def _correlate(self, a: NDArray[np.int64], b: NDArray[np.int64]) -> None:
        if a.size and b.size:
            self.counts += cross_correlate(a, b, **self._args)[1]

    def add(self, a_ps: ArrayLike, b_ps: ArrayLike) -> None:
        """Add the next chunk of each channel (either may be empty).

        Raises
        ------
        ParameterError
            If a chunk is unsorted or starts before the end of that channel's previous tags.
        """
        a = as_time_tags("a_ps", a_ps)
        b = as_time_tags("b_ps", b_ps)
        for name, new, last in (("a_ps", a, self._last_a), ("b_ps", b, self._last_b)):
            if new.size and last is not None and int(new[0]) < last:
                raise ParameterError(
                    name, f"chunk starting at {int(new[0])}", f"must not start before {last}"
                )
        self._correlate(self._tail_a, b)
        self._correlate(a, self._tail_b)
        self._correlate(a, b)
        self.n_a += int(a.size)
        self.n_b += int(b.size)
        for arr in (a, b):
            if arr.size:
                lo, hi = int(arr[0]), int(arr[-1])
                self.first_ps = lo if self.first_ps is None else min(self.first_ps, lo)
                self.last_ps = hi if self.last_ps is None else max(self.last_ps, hi)
        if a.size:
            self._last_a = int(a[-1])
        if b.size:
            self._last_b = int(b[-1])
        tail_a = np.concatenate([self._tail_a, a]) if a.size else self._tail_a
        tail_b = np.concatenate([self._tail_b, b]) if b.size else self._tail_b
        if self._last_b is not None:
            keep = tail_a.searchsorted(self._last_b + self._shift - self._window)
            tail_a = tail_a[keep:]
        if self._last_a is not None:
            keep = tail_b.searchsorted(self._last_a - self._shift - self._window)
            tail_b = tail_b[keep:]
        self._tail_a = np.ascontiguousarray(tail_a)
        self._tail_b = np.ascontiguousarray(tail_b)


@dataclass(frozen=True)
class FileCorrelation:
    """Histograms of two channels of a file, accumulated chunk by chunk.

    Attributes
    ----------
    lags_ps, counts : numpy.ndarray of int64
        The requested histogram.
    n_a, n_b : int
        Tags of each channel.
    duration_ps : int
        Record length (see :func:`file_duration_ps`).
    extra : dict of str to (lags, counts)
        Further histograms requested through ``extra`` (same keys).
    """

    lags_ps: NDArray[np.int64]
    counts: NDArray[np.int64]
    n_a: int
    n_b: int
    duration_ps: int
    extra: dict[str, tuple[NDArray[np.int64], NDArray[np.int64]]] = field(default_factory=dict)


def file_duration_ps(
    path: str | os.PathLike[str], first_ps: int | None, last_ps: int | None
) -> int:
    """Record length: the header's acquisition time when it covers the tags, else their span.

    Raises
    ------
    ParameterError, FileFormatError
        As :func:`qlight.timetags.io.read_header`.
    """
    meta = read_header(path)
    span = 0 if first_ps is None or last_ps is None else last_ps - first_ps + 1
    acq = meta.acquisition_time_s
    if acq is not None and acq > 0:
        header_ps = round(acq * 1e12)
        if header_ps >= span:
            return max(header_ps, 1)
    return max(span, 1)


def correlate_file(
    path: str | os.PathLike[str],
    *,
    channel_a: int,
    channel_b: int,
    window_ps: int,
    bin_ps: int,
    delay_a_ps: int = 0,
    delay_b_ps: int = 0,
    extra: dict[str, dict[str, int]] | None = None,
    chunk_records: int = DEFAULT_CHUNK_RECORDS,
    on_chunk: Callable[[int], None] | None = None,
) -> FileCorrelation:
    """All-pairs histogram of two channels of a PTU or Photon-HDF5 file, in bounded memory.

    Parameters
    ----------
    path : str or os.PathLike
        The file (see :func:`qlight.timetags.io.iter_channels`).
    channel_a, channel_b : int
        Channel numbers (0-based detectors; −1 is the T2 sync channel).
    window_ps, bin_ps, delay_a_ps, delay_b_ps : int
        As :func:`qlight.timetags.correlate.cross_correlate`.
    extra : dict, optional
        Further histograms of the same pair of channels, by name: keyword arguments of
        :class:`StreamingCrossCorrelator` (used for the exact pulsed peak areas).
    chunk_records : int, optional
        Records per chunk (memory bound).
    on_chunk : callable, optional
        Called with the number of records of each chunk (progress).

    Returns
    -------
    FileCorrelation
        Identical to correlating the whole file at once.

    Raises
    ------
    ParameterError
        For bad parameters, equal channels, or a channel absent from the file.
    FileFormatError
        For an unreadable, corrupted or unsorted file (naming it).
    """
    ch_a = check_integer("channel_a", channel_a)
    ch_b = check_integer("channel_b", channel_b)
    if ch_a == ch_b:
        raise ParameterError("channel_b", ch_b, "must differ from channel_a")
    main = StreamingCrossCorrelator(
        window_ps=window_ps, bin_ps=bin_ps, delay_a_ps=delay_a_ps, delay_b_ps=delay_b_ps
    )
    others = {name: StreamingCrossCorrelator(**kw) for name, kw in (extra or {}).items()}
    meta = read_header(path)
    empty = np.zeros(0, dtype=np.int64)
    n_records = 0
    for chunk in iter_channels(path, chunk_records=chunk_records, channels=(ch_a, ch_b)):
        a = chunk.get(ch_a, empty)
        b = chunk.get(ch_b, empty)
        main.add(a, b)
        for corr in others.values():
            corr.add(a, b)
        n = sum(int(v.size) for v in chunk.values())
        n_records += n
        if on_chunk is not None:
            on_chunk(n)
    for ch, n in ((ch_a, main.n_a), (ch_b, main.n_b)):
        if n == 0:
            raise ParameterError(
                "channels", ch, f"has no tags in {meta.path} (channels hold {n_records} tags)"
            )
    duration = file_duration_ps(path, main.first_ps, main.last_ps)
    return FileCorrelation(
        lags_ps=main.lags_ps,
        counts=main.counts,
        n_a=main.n_a,
        n_b=main.n_b,
        duration_ps=duration,
        extra={name: (c.lags_ps, c.counts) for name, c in others.items()},
    )


def lifetime_file(
    path: str | os.PathLike[str],
    *,
    channel: int,
    bin_ps: int,
    range_ps: int | None = None,
    delay_ps: int = 0,
    chunk_records: int = DEFAULT_CHUNK_RECORDS,
    on_chunk: Callable[[int], None] | None = None,
) -> LifetimeHistogram:
    """TCSPC histogram of one channel of a PTU or Photon-HDF5 file, chunk by chunk.

    T3 files: the microtimes of ``channel``. T2 files: ``channel`` referenced to the sync
    records (channel −1), the last sync of each chunk carried into the next. Photon-HDF5
    files: the ``/photon_data/nanotimes`` of detector ``channel`` times ``tcspc_unit``
    (converted to ps exactly as PTU microtimes are, so a converted T3 file gives identical
    counts).

    Parameters
    ----------
    path : str or os.PathLike
        A PicoQuant PTU file (T3, or T2 with sync records) or a Photon-HDF5 file with
        nanotimes.
    channel : int
        Detector channel (0-based).
    bin_ps : int
        Bin width.
    range_ps : int, optional
        Histogram range; default the sync period rounded up to whole bins (Photon-HDF5:
        from the laser repetition rate, else ``tcspc_range``).
    delay_ps : int, optional
        T2 only: delay added to the photons.
    chunk_records : int, optional
        Records per chunk.
    on_chunk : callable, optional
        Called with the number of records of each chunk.

    Returns
    -------
    LifetimeHistogram

    Raises
    ------
    ParameterError
        For a file without sync information (Photon-HDF5 without nanotimes, T2 without sync
        records) or bad parameters.
    FileFormatError
        For an unreadable or corrupted file.
    """
    meta = read_header(path)
    width = check_integer("bin_ps", bin_ps)
    if width <= 0:
        raise ParameterError("bin_ps", bin_ps, "must be > 0")
    if meta.record_type == "Photon-HDF5":
        return _lifetime_hdf5(
            path,
            channel=channel,
            width=width,
            range_ps=range_ps,
            sync_rate_hz=meta.sync_rate_hz,
            chunk_records=chunk_records,
            on_chunk=on_chunk,
        )
    if range_ps is None:
        if meta.mode == "T3":
            period = meta.global_resolution_ps
        elif meta.sync_rate_hz:
            period = 1e12 / meta.sync_rate_hz
        else:
            raise ParameterError("range_ps", None, f"must be given: {meta.path} has no sync rate")
        range_ps = -(-round(period) // width) * width
    total: NDArray[np.int64] | None = None
    n_photons = 0
    n_outside = 0
    last_sync = np.zeros(0, dtype=np.int64)
    for chunk in iter_ptu(path, chunk_records=chunk_records):
        if meta.mode == "T3":
            assert chunk.microtime_ps is not None  # T3 chunks carry microtimes
            h = lifetime_histogram_t3(
                chunk.microtime_ps[chunk.channel == channel], bin_ps=width, range_ps=range_ps
            )
        else:
            sync = np.concatenate([last_sync, chunk.t_ps[chunk.channel == SYNC_CHANNEL]])
            h = lifetime_histogram_t2(
                sync,
                chunk.t_ps[chunk.channel == channel],
                bin_ps=width,
                range_ps=range_ps,
                delay_ps=delay_ps,
            )
            last_sync = sync[-1:]
        total = h.counts if total is None else total + h.counts
        n_photons += h.n_photons
        n_outside += h.n_outside
        if on_chunk is not None:
            on_chunk(chunk.n_records)
    if meta.mode == "T2" and last_sync.size == 0:
        raise ParameterError("path", meta.path, "has no sync records (T2 lifetime needs them)")
    if total is None or n_photons == 0:
        raise ParameterError("channel", channel, f"has no photons in {meta.path}")
    return LifetimeHistogram(
        t_ps=np.arange(0, range_ps, width, dtype=np.int64),
        counts=total,
        bin_ps=width,
        range_ps=int(range_ps),
        n_photons=n_photons,
        n_outside=n_outside,
    )


def _lifetime_hdf5(
    path: str | os.PathLike[str],
    *,
    channel: int,
    width: int,
    range_ps: int | None,
    sync_rate_hz: float | None,
    chunk_records: int,
    on_chunk: Callable[[int], None] | None,
) -> LifetimeHistogram:
    """:func:`lifetime_file` for Photon-HDF5: histogram of nanotimes × ``tcspc_unit``."""
    specs = tcspc_specs(path)
    if specs is None:
        raise ParameterError(
            "path",
            str(path),
            "has no /photon_data/nanotimes (a Photon-HDF5 lifetime needs TCSPC nanotimes)",
        )
    unit_ps = specs[0] * 1e12
    if range_ps is None:
        if sync_rate_hz:
            period = 1e12 / sync_rate_hz
        elif specs[1] is not None:
            period = unit_ps * specs[1]
        else:
            raise ParameterError("range_ps", None, f"must be given: {path} has no TCSPC range")
        range_ps = -(-round(period) // width) * width
    total = np.zeros(0, dtype=np.int64)
    n_photons = 0
    n_outside = 0
    for det, nano in iter_nanotimes(path, chunk_records=chunk_records):
        micro = scale_to_ps(nano[det == channel], unit_ps)
        h = lifetime_histogram_t3(micro, bin_ps=width, range_ps=range_ps)
        total = h.counts if total.size == 0 else total + h.counts
        n_photons += h.n_photons
        n_outside += h.n_outside
        if on_chunk is not None:
            on_chunk(int(det.size))
    if n_photons == 0:
        raise ParameterError("channel", channel, f"has no photons in {path}")
    return LifetimeHistogram(
        t_ps=np.arange(0, range_ps, width, dtype=np.int64),
        counts=total,
        bin_ps=width,
        range_ps=int(range_ps),
        n_photons=n_photons,
        n_outside=n_outside,
    )


def trace_file(
    path: str | os.PathLike[str],
    *,
    bin_ps: int,
    channels: tuple[int, ...] | None = None,
    chunk_records: int = DEFAULT_CHUNK_RECORDS,
    on_chunk: Callable[[int], None] | None = None,
) -> IntensityTrace:
    """Intensity time trace of a file (detector channels summed), chunk by chunk.

    Bins start at time 0 and end with the last whole bin of the record (the header's
    acquisition time, or the last tag when the header has none).

    Parameters
    ----------
    path : str or os.PathLike
        A PTU or Photon-HDF5 file.
    bin_ps : int
        Bin width.
    channels : tuple of int, optional
        Channels to add up (default every detector channel, not the sync).
    chunk_records : int, optional
        Records per chunk.
    on_chunk : callable, optional
        Called with the number of tags of each chunk.

    Returns
    -------
    IntensityTrace

    Raises
    ------
    ParameterError
        For bad parameters or a record shorter than one bin.
    FileFormatError
        For an unreadable or corrupted file.
    """
    meta = read_header(path)
    width = check_integer("bin_ps", bin_ps)
    if meta.acquisition_time_s:
        stop = round(meta.acquisition_time_s * 1e12)
    else:
        stop = 0
        for chunk in iter_channels(path, chunk_records=chunk_records, channels=channels):
            for c, t in chunk.items():
                if t.size and c != SYNC_CHANNEL:
                    stop = max(stop, int(t[-1]) + 1)
    total: NDArray[np.int64] | None = None
    outside = 0
    for chunk in iter_channels(path, chunk_records=chunk_records, channels=channels):
        tags = [t for c, t in chunk.items() if c != SYNC_CHANNEL]
        if tags:
            tr = intensity_trace(tags, bin_ps=width, start_ps=0, stop_ps=stop)
            total = tr.counts if total is None else total + tr.counts
            outside += tr.n_outside
        if on_chunk is not None:
            on_chunk(sum(int(t.size) for t in chunk.values()))
    if total is None:
        total = intensity_trace([[]], bin_ps=width, start_ps=0, stop_ps=stop).counts
    return IntensityTrace(
        t_ps=width * np.arange(total.size, dtype=np.int64),
        counts=total,
        bin_ps=width,
        n_outside=outside,
    )
