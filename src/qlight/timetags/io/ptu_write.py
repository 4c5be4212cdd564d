"""PicoQuant PTU writer: streams records and patches the record count at the end.

:class:`PtuWriter` writes any supported record type (HydraHarp V2 by default; PicoHarp,
HydraHarp V1, TimeHarp 260 and MultiHarp/generic layouts as well), inserting the overflow
records the layout needs (one record per overflow for PicoHarp and HydraHarp V1, compressed
multi-overflow records for V2 and later). The file is written under a temporary name in the
same folder; :meth:`PtuWriter.close` patches ``TTResult_NumberOfRecords``,
``MeasDesc_AcquisitionTime`` and ``TTResult_StopAfter`` and renames it, so an interrupted
write never leaves a file that claims records it does not hold.

References
----------
PicoQuant, "PicoQuant Time-Tagged File Format Demos" (tag names, units, record layouts; see
:mod:`qlight.timetags.io._ptu_records`).
"""

from __future__ import annotations

import contextlib
import os
import struct
import tempfile
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from qlight import __version__
from qlight.errors import ParameterError
from qlight.timetags.io._ptu_header import MAGIC, RECORD_TYPES, RecordType, encode_tag
from qlight.timetags.io._ptu_records import encode_records

__all__ = ["PtuWriter", "merge_channels", "write_ptu"]

_PS_PER_S = 1e12
_FAMILIES = {r.name[:-2]: r for r in RECORD_TYPES.values()}


def _record_type(family: str, mode: str) -> RecordType:
    if mode not in ("T2", "T3"):
        raise ParameterError("mode", mode, "must be 'T2' or 'T3'")
    name = family if family.endswith(("T2", "T3")) else family + mode
    for r in RECORD_TYPES.values():
        if r.name == name and r.mode == mode:
            return r
    names = sorted(_FAMILIES)
    raise ParameterError("record_type", family, f"must be one of {names} (with mode {mode})")


def _whole_ps(name: str, value: float) -> int:
    whole = round(value)
    if not (np.isfinite(value) and whole >= 1 and abs(value - whole) <= 1e-9 * value):
        raise ParameterError(name, value, "must be a whole number of ps >= 1")
    return int(whole)


class PtuWriter:
    """Stream time-tag records into a PTU file.

    Parameters
    ----------
    path : str or os.PathLike
        Output file (replaced if it exists).
    mode : {"T2", "T3"}
        Measurement mode.
    resolution_ps : float
        T2 time-tag unit or T3 microtime bin, a whole number of ps.
    sync_period_ps : float, optional
        T3 sync period (required in T3), any positive number of ps.
    record_type : str, optional
        Record family (``"HydraHarp2"``, ``"HydraHarp"``, ``"PicoHarp"``, ``"MultiHarp"``,
        ``"TimeHarp260N"``, ``"TimeHarp260P"``) or full name
        (``"HydraHarp2T2"``).
    n_channels : int, optional
        Declared detector inputs (``HW_InpChannels``).
    sync_rate_hz : float, optional
        ``TTResult_SyncRate`` (T3 default: 1 / sync period).
    acquisition_time_s : float, optional
        ``MeasDesc_AcquisitionTime``; default: the time of the last event written.
    comment : str, optional
        ``File_Comment``.

    Notes
    -----
    Events are written with :meth:`write` (raw units), :meth:`write_t2_ps` or
    :meth:`write_t3`; each call's events must continue in time from the previous call.
    Channel codes: 0–63 detectors (PicoHarp: 0–4 in T2, 0–3 in T3), -1 a T2 sync record
    (HydraHarp-style layouts), ``-1 - b`` a marker with bits ``b`` in 1–15.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        mode: Literal["T2", "T3"] = "T2",
        resolution_ps: float = 1.0,
        sync_period_ps: float | None = None,
        record_type: str = "HydraHarp2",
        n_channels: int = 2,
        sync_rate_hz: float | None = None,
        acquisition_time_s: float | None = None,
        comment: str = "",
    ) -> None:
        self.record_type = _record_type(record_type, mode)
        self.mode = mode
        self.resolution_ps = float(_whole_ps("resolution_ps", resolution_ps))
        if mode == "T3":
            if sync_period_ps is None or not (np.isfinite(sync_period_ps) and sync_period_ps > 0):
                raise ParameterError("sync_period_ps", sync_period_ps, "must be > 0 in T3 mode")
            self.unit_ps = float(sync_period_ps)
        else:
            self.unit_ps = self.resolution_ps
        if isinstance(n_channels, bool) or not 1 <= int(n_channels) <= 64:
            raise ParameterError("n_channels", n_channels, "must be in [1, 64]")
        if sync_rate_hz is None and mode == "T3":
            sync_rate_hz = _PS_PER_S / self.unit_ps
        self._acq_s = acquisition_time_s
        self.n_records = 0
        self._base = 0
        self._last = 0
        out = Path(path)
        if out.is_dir() or not (out.parent if str(out.parent) else Path(".")).is_dir():
            raise ParameterError("path", str(out), "cannot be written (folder missing)")
        self.path = out
        fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
        self._tmp = Path(tmp)
        self._f: BinaryIO = os.fdopen(fd, "w+b")
        self._offsets: dict[str, int] = {}
        glob_ps = self.unit_ps
        tags: list[tuple[str, object, str]] = [
            ("File_GUID", "{" + str(uuid.uuid4()).upper() + "}", "AnsiString"),
            ("File_CreatingTime", datetime.now(UTC), "TDateTime"),
            ("File_Comment", comment, "AnsiString"),
            ("CreatorSW_Name", "qlight", "AnsiString"),
            ("CreatorSW_Version", __version__, "AnsiString"),
            ("Measurement_Mode", 2 if mode == "T2" else 3, "Int8"),
            ("Measurement_SubMode", 0, "Int8"),
            ("HW_Type", self.record_type.instrument, "AnsiString"),
            ("HW_InpChannels", int(n_channels), "Int8"),
            ("TTResultFormat_TTTRRecType", self.record_type.code, "Int8"),
            ("TTResultFormat_BitsPerRecord", 32, "Int8"),
            ("MeasDesc_Resolution", self.resolution_ps / _PS_PER_S, "Float8"),
            ("MeasDesc_GlobalResolution", glob_ps / _PS_PER_S, "Float8"),
            ("TTResult_SyncRate", round(sync_rate_hz or 0), "Int8"),
            ("MeasDesc_AcquisitionTime", 0, "Int8"),
            ("TTResult_StopAfter", 0, "Int8"),
            ("TTResult_NumberOfRecords", 0, "Int8"),
            ("Header_End", None, "Empty8"),
        ]
        self._f.write(MAGIC + b"1.0.00\0\0")
        for ident, value, typ in tags:
            self._offsets[ident] = self._f.tell() + 40
            self._f.write(encode_tag(ident, value, typ=typ))

    def write(self, channel: ArrayLike, time: ArrayLike, dtime: ArrayLike | None = None) -> None:
        """Append events in raw units (T2 time tags, T3 absolute sync numbers + dtime bins).

        Raises
        ------
        ParameterError
            Times before the previous event or negative, a channel code the layout cannot
            hold, a dtime outside the layout's range, or arrays of different lengths.
        """
        chan = np.asarray(channel)
        t = np.asarray(time)
        d = np.zeros(t.shape, np.int64) if dtime is None else np.asarray(dtime)
        if not (chan.shape == t.shape == d.shape and t.ndim == 1):
            raise ParameterError(
                "channel/time/dtime",
                (chan.shape, t.shape, d.shape),
                "must be 1-D arrays of one length",
            )
        for name, a in (("channel", chan), ("time", t), ("dtime", d)):
            if a.size and not np.issubdtype(a.dtype, np.integer):
                raise ParameterError(name, str(a.dtype), "must be an integer array")
        if t.size == 0:
            return
        t = t.astype(np.int64)
        photon = chan.astype(np.int64) >= -1  # markers may be out of order, events may not
        tp = t[photon]
        if tp.size and (int(tp[0]) < self._last or bool(np.any(tp[1:] < tp[:-1]))):
            raise ParameterError(
                "time", "decreasing values", "must be non-decreasing across writes"
            )
        recs, base, bad = encode_records(
            chan.astype(np.int16), t, d.astype(np.int64), self.record_type.layout, self._base
        )
        if bad >= 0:
            raise ParameterError(
                f"event[{bad}]",
                (int(chan[bad]), int(t[bad]), int(d[bad])),
                f"cannot be encoded as a {self.record_type.name} record "
                "(channel, time or dtime out of range)",
            )
        self._f.write(recs.astype("<u4").tobytes())
        self.n_records += recs.size
        self._base = base
        if tp.size:
            self._last = int(tp[-1])

    def write_t2_ps(self, channel: ArrayLike, t_ps: ArrayLike) -> None:
        """Append T2 events given in ps (each a whole multiple of ``resolution_ps``)."""
        if self.mode != "T2":
            raise ParameterError("mode", self.mode, "must be 'T2' for write_t2_ps")
        t = np.asarray(t_ps, dtype=np.int64)
        res = int(self.resolution_ps)
        if t.size and bool(np.any(t % res)):
            raise ParameterError("t_ps", "values", f"must be multiples of resolution_ps={res}")
        self.write(channel, t // res)

    def write_t3(self, channel: ArrayLike, sync_index: ArrayLike, dtime: ArrayLike) -> None:
        """Append T3 events: channel, absolute sync number, microtime bin."""
        if self.mode != "T3":
            raise ParameterError("mode", self.mode, "must be 'T3' for write_t3")
        self.write(channel, sync_index, dtime)

    def close(self) -> Path:
        """Patch the record count and acquisition time, close and move into place."""
        if self._f.closed:
            return self.path
        acq_s = self._acq_s if self._acq_s is not None else self._last * self.unit_ps / _PS_PER_S
        for ident, value in (
            ("TTResult_NumberOfRecords", self.n_records),
            ("MeasDesc_AcquisitionTime", round(acq_s * 1000.0)),
            ("TTResult_StopAfter", round(acq_s * 1000.0)),
        ):
            self._f.seek(self._offsets[ident])
            self._f.write(struct.pack("<q", value))
        self._f.flush()
        os.fsync(self._f.fileno())
        self._f.close()
        umask = os.umask(0)
        os.umask(umask)
        self._tmp.chmod(0o666 & ~umask)
        os.replace(self._tmp, self.path)
        return self.path

    def abort(self) -> None:
        """Close and delete the partial file."""
        if not self._f.closed:
            self._f.close()
        with contextlib.suppress(FileNotFoundError):
            self._tmp.unlink()

    def __enter__(self) -> PtuWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def merge_channels(
    t_ps: Sequence[ArrayLike],
) -> tuple[NDArray[np.int16], NDArray[np.int64]]:
    """Merge per-channel sorted tags into one time-ordered stream (ties: lower channel first)."""
    from qlight.timetags.correlate import as_time_tags

    chans = [as_time_tags(f"t_ps[{i}]", t) for i, t in enumerate(t_ps)]
    times = np.concatenate(chans) if chans else np.zeros(0, np.int64)
    ids = (
        np.concatenate([np.full(c.size, i, np.int16) for i, c in enumerate(chans)])
        if chans
        else np.zeros(0, np.int16)
    )
    order = np.argsort(times, kind="stable")
    return ids[order], times[order]


def write_ptu(
    path: str | os.PathLike[str],
    t_ps: Sequence[ArrayLike],
    *,
    mode: Literal["T2", "T3"] = "T2",
    resolution_ps: float = 1.0,
    sync_period_ps: float | None = None,
    record_type: str = "HydraHarp2",
    sync_rate_hz: float | None = None,
    acquisition_time_s: float | None = None,
    comment: str = "",
) -> Path:
    """Write per-channel sorted ps tags to a PTU file.

    Parameters
    ----------
    path : str or os.PathLike
        Output file.
    t_ps : sequence of array_like of int
        Sorted, non-negative tags of channel 0, 1, … in ps. T2: multiples of
        ``resolution_ps``. T3: ``t = sync × sync_period_ps + dtime × resolution_ps`` with a
        whole-ps sync period and ``0 <= dtime × resolution_ps < sync_period_ps``.
    mode, resolution_ps, sync_period_ps, record_type, sync_rate_hz, acquisition_time_s, comment
        As :class:`PtuWriter`.

    Returns
    -------
    pathlib.Path
        The path written; :func:`qlight.timetags.io.read_ptu` returns ``t_ps`` exactly.

    Raises
    ------
    ParameterError
        Unsorted or negative tags, tags not on the resolution grid, or values the record
        type cannot hold.
    """
    if not 1 <= len(t_ps) <= 64:
        raise ParameterError("t_ps", f"{len(t_ps)} channels", "must hold 1 to 64 channels")
    chan, t = merge_channels(t_ps)
    if t.size and int(t[0]) < 0:
        raise ParameterError("t_ps", int(t[0]), "must be >= 0")
    with PtuWriter(
        path,
        mode=mode,
        resolution_ps=resolution_ps,
        sync_period_ps=sync_period_ps,
        record_type=record_type,
        n_channels=len(t_ps),
        sync_rate_hz=sync_rate_hz,
        acquisition_time_s=acquisition_time_s,
        comment=comment,
    ) as w:
        if mode == "T2":
            w.write_t2_ps(chan, t)
        else:
            period = _whole_ps("sync_period_ps", w.unit_ps)
            res = int(w.resolution_ps)
            sync, micro = np.divmod(t, period)
            if bool(np.any(micro % res)):
                raise ParameterError(
                    "t_ps", "values", f"microtimes must be multiples of resolution_ps={res}"
                )
            w.write_t3(chan, sync, micro // res)
    return Path(path)
