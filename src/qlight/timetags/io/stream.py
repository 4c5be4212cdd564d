"""Chunked, bounded-memory iteration over any supported time-tag file (PTU or Photon-HDF5).

:func:`iter_channels` yields, chunk by chunk, each channel's sorted int64 ps tags; the
correlation kernels consume it to process files larger than memory. The format is found from
the file's signature (``PQTTTR`` magic or the HDF5 signature), not its extension.

References
----------
PicoQuant PTU: see :mod:`qlight.timetags.io.ptu`. Photon-HDF5 0.5:
https://photon-hdf5.readthedocs.io/en/0.5/phdata.html (``/photon_data/timestamps``,
``detectors``, ``timestamps_specs/timestamps_unit``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import h5py
import numpy as np
from numpy.typing import NDArray

from qlight.errors import FileFormatError, ParameterError
from qlight.timetags.io._ptu_header import MAGIC
from qlight.timetags.io.ptu import (
    DEFAULT_CHUNK_RECORDS,
    TTTRMetadata,
    iter_ptu,
    read_ptu_header,
    split_channels,
)

__all__ = ["file_kind", "iter_channels", "iter_nanotimes", "read_header", "tcspc_specs"]


def file_kind(path: str | os.PathLike[str]) -> str:
    """``"ptu"`` or ``"hdf5"`` from the file's signature.

    Raises
    ------
    ParameterError
        If ``path`` is not an existing file.
    FileFormatError
        If it is neither a PTU nor an HDF5 file.
    """
    p = Path(path)
    if not p.is_file():
        raise ParameterError("path", str(p), "must be an existing file")
    with p.open("rb") as f:
        head = f.read(8)
    if head == MAGIC:
        return "ptu"
    if h5py.is_hdf5(p):
        return "hdf5"
    raise FileFormatError(f"{p}: neither a PTU nor a Photon-HDF5 file (first bytes {head!r})")


def _h5_scalar(f: h5py.File, name: str) -> float | None:
    if name not in f:
        return None
    value = np.asarray(f[name][()])
    return float(value.reshape(-1)[0]) if value.size else None


def _h5_layout(f: h5py.File, p: Path) -> tuple[h5py.Dataset, h5py.Dataset, float]:
    try:
        ts = f["photon_data/timestamps"]
        det = f["photon_data/detectors"]
        unit = _h5_scalar(f, "photon_data/timestamps_specs/timestamps_unit")
    except (KeyError, TypeError) as exc:
        raise FileFormatError(f"{p}: not a single-spot Photon-HDF5 file ({exc})") from None
    if unit is None or not (np.isfinite(unit) and unit > 0):
        raise FileFormatError(f"{p}: invalid /photon_data/timestamps_specs/timestamps_unit")
    if ts.shape != det.shape or len(ts.shape) != 1:
        raise FileFormatError(f"{p}: timestamps and detectors differ in shape")
    return ts, det, unit


def read_header(path: str | os.PathLike[str]) -> TTTRMetadata:
    """Typed metadata of a PTU or Photon-HDF5 file (Photon-HDF5 reads as T2, 1 tag = 1 record).

    Raises
    ------
    ParameterError
        If ``path`` is not an existing file.
    FileFormatError
        For an unsupported or corrupted file.
    """
    if file_kind(path) == "ptu":
        return read_ptu_header(path)
    p = Path(path)
    try:
        with h5py.File(p, "r") as f:
            ts, _det, unit = _h5_layout(f, p)
            n_pix = _h5_scalar(f, "setup/num_pixels")
            duration = _h5_scalar(f, "acquisition_duration")
            rep = _h5_scalar(f, "photon_data/measurement_specs/laser_repetition_rate")
            version = f.attrs.get("format_version", b"")
            version = version.decode() if isinstance(version, bytes) else str(version)
            n = int(ts.shape[0])
            tags: dict[str, object] = {
                "format_version": version,
                "timestamps_unit": unit,
                "acquisition_duration": duration,
                "num_pixels": n_pix,
            }
    except (OSError, KeyError, ValueError, TypeError) as exc:
        raise FileFormatError(f"{p}: unreadable Photon-HDF5 file ({exc})") from None
    return TTTRMetadata(
        path=str(p),
        instrument="Photon-HDF5",
        record_type="Photon-HDF5",
        mode="T2",
        format_version=version,
        resolution_ps=unit * 1e12,
        global_resolution_ps=unit * 1e12,
        sync_rate_hz=rep,
        acquisition_time_s=duration,
        n_records=n,
        n_channels=int(n_pix) if n_pix is not None else 0,
        tags=tags,
    )


def tcspc_specs(path: str | os.PathLike[str]) -> tuple[float, int | None] | None:
    """``(tcspc_unit_s, tcspc_num_bins)`` of a Photon-HDF5 file with nanotimes, else None.

    Raises
    ------
    FileFormatError
        For an unreadable file or an invalid ``/photon_data/nanotimes_specs/tcspc_unit``.
    """
    p = Path(path)
    try:
        with h5py.File(p, "r") as f:
            if "photon_data/nanotimes" not in f:
                return None
            unit = _h5_scalar(f, "photon_data/nanotimes_specs/tcspc_unit")
            bins = _h5_scalar(f, "photon_data/nanotimes_specs/tcspc_num_bins")
    except (OSError, KeyError, ValueError, TypeError) as exc:
        raise FileFormatError(f"{p}: unreadable Photon-HDF5 file ({exc})") from None
    if unit is None or not (np.isfinite(unit) and unit > 0):
        raise FileFormatError(f"{p}: invalid /photon_data/nanotimes_specs/tcspc_unit")
    return unit, None if bins is None else int(bins)


def iter_nanotimes(
    path: str | os.PathLike[str], *, chunk_records: int = DEFAULT_CHUNK_RECORDS
) -> Iterator[tuple[NDArray[np.int64], NDArray[np.int64]]]:
    """Iterate ``(detector id, nanotime)`` of a Photon-HDF5 file chunk by chunk (file order).

    Raises
    ------
    FileFormatError
        If the file has no ``/photon_data/nanotimes`` or it differs in shape from the
        timestamps, or a chunk cannot be read.
    """
    p = Path(path)
    try:
        f = h5py.File(p, "r")
    except OSError as exc:
        raise FileFormatError(f"{p}: unreadable HDF5 file ({exc})") from None
    with f:
        ts, det, _unit = _h5_layout(f, p)
        if "photon_data/nanotimes" not in f:
            raise FileFormatError(f"{p}: no /photon_data/nanotimes")
        nano = f["photon_data/nanotimes"]
        if not isinstance(nano, h5py.Dataset) or nano.shape != ts.shape:
            raise FileFormatError(f"{p}: nanotimes and timestamps differ in shape")
        n = int(ts.shape[0])
        for start in range(0, n, chunk_records):
            stop = min(n, start + chunk_records)
            try:
                d = np.asarray(det[start:stop]).astype(np.int64)
                m = np.asarray(nano[start:stop]).astype(np.int64)
            except (OSError, ValueError) as exc:
                raise FileFormatError(f"{p}: unreadable photons {start}..{stop} ({exc})") from None
            yield d, m


def _iter_hdf5(p: Path, chunk_records: int) -> Iterator[dict[int, NDArray[np.int64]]]:
    try:
        f = h5py.File(p, "r")
    except OSError as exc:
        raise FileFormatError(f"{p}: unreadable HDF5 file ({exc})") from None
    with f:
        ts, det, unit = _h5_layout(f, p)
        unit_ps = unit * 1e12
        whole = round(unit_ps)
        exact = whole >= 1 and abs(unit_ps - whole) <= 1e-9 * unit_ps
        n = int(ts.shape[0])
        last = np.iinfo(np.int64).min
        for start in range(0, n, chunk_records):
            stop = min(n, start + chunk_records)
            try:
                t = np.asarray(ts[start:stop], dtype=np.int64)
                d = np.asarray(det[start:stop]).astype(np.int64)
            except (OSError, ValueError) as exc:
                raise FileFormatError(f"{p}: unreadable photons {start}..{stop} ({exc})") from None
            if t.size:
                if int(t[0]) < last:
                    raise FileFormatError(f"{p}: timestamps not sorted at photon {start}")
                steps = np.flatnonzero(t[1:] < t[:-1])
                if steps.size:
                    raise FileFormatError(
                        f"{p}: timestamps not sorted at photon {start + 1 + int(steps[0])}"
                    )
                last = int(t[-1])
            t_ps = t * np.int64(whole) if exact else np.rint(t * unit_ps).astype(np.int64)
            if d.size and (int(d.min()) < 0 or int(d.max()) > 127):
                raise FileFormatError(f"{p}: detector id outside 0..127 near photon {start}")
            yield split_channels(d.astype(np.int8), t_ps, ordered=True)  # checked above


def iter_channels(
    path: str | os.PathLike[str],
    *,
    chunk_records: int = DEFAULT_CHUNK_RECORDS,
    channels: tuple[int, ...] | None = None,
) -> Iterator[dict[int, NDArray[np.int64]]]:
    """Iterate a PTU or Photon-HDF5 file chunk by chunk as sorted ps tags per channel.

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    chunk_records : int, optional
        Records (PTU) or photons (Photon-HDF5) per chunk; memory is bounded by it.
    channels : tuple of int, optional
        Keep only these channels; each yielded dict then has every one of them as a key
        (empty arrays where a chunk has none). Default: the channels present in each chunk.

    Yields
    ------
    dict of int to ndarray of int64
        Each channel's tags of one chunk, sorted. Chunks follow each other in time: in T2
        and Photon-HDF5 every tag of a chunk is >= every tag of the previous chunk; in T3
        chunk borders fall between records, so only when microtimes stay below the sync
        period is the same true. T2 sync records are channel -1.

    Raises
    ------
    ParameterError, FileFormatError
        As :func:`qlight.timetags.io.iter_ptu`; unsorted Photon-HDF5 timestamps name the
        photon index.
    """
    if isinstance(chunk_records, bool) or not isinstance(chunk_records, int | np.integer):
        raise ParameterError("chunk_records", chunk_records, "must be an integer")
    if chunk_records < 1:
        raise ParameterError("chunk_records", chunk_records, "must be >= 1")
    kind = file_kind(path)
    p = Path(path)
    source: Iterator[dict[int, NDArray[np.int64]]]
    if kind == "ptu":
        source = (
            split_channels(c.channel, c.t_ps, ordered=c.microtime_ps is None)
            for c in iter_ptu(p, chunk_records=int(chunk_records))
        )
    else:
        source = _iter_hdf5(p, int(chunk_records))
    for chunk in source:
        if channels is None:
            yield chunk
        else:
            empty = np.zeros(0, np.int64)
            yield {c: chunk.get(c, empty) for c in channels}
