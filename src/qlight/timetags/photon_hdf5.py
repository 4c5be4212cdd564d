"""Photon-HDF5 (format version 0.5) writer and reader for two-detector HBT time tags.

Layout written by :func:`write_photon_hdf5` (one spot, TCSPC nanotimes optional)::

    /                        attrs format_name="Photon-HDF5", format_version="0.5", format_url
    /acquisition_duration    float, seconds
    /description             string
    /photon_data/timestamps                       int64, merged and time-sorted
    /photon_data/detectors                        uint8, pixel id of each timestamp (0, 1, …)
    /photon_data/timestamps_specs/timestamps_unit float, 1e-12 s (1 ps)
    /photon_data/nanotimes                        uint16 (or wider), TCSPC bin of each photon
    /photon_data/nanotimes_specs/tcspc_unit, tcspc_num_bins, tcspc_range   (with nanotimes)
    /photon_data/measurement_specs/measurement_type  "generic"
    /photon_data/measurement_specs/laser_repetition_rate  Hz (pulsed excitation only)
    /photon_data/measurement_specs/detectors_specs/split_ch1, split_ch2, …  uint8 arrays
    /setup/num_pixels, num_spots, num_spectral_ch, num_polarization_ch, num_split_ch,
           modulated_excitation, lifetime (1 with nanotimes), excitation_cw, excitation_alternated,
           detection_split_ch_ratios, [excitation_wavelengths, excitation_input_powers,
           detection_wavelengths, laser_repetition_rates]
    /setup/detectors/id, label, counts, [dcr, afterpulsing]
    /identity/software="qlight", software_version, creation_time, filename, format_name,
              format_version, format_url
    /user/qlight/parameters_json, duration_ps   qlight-specific (free-form user group)

An HBT measurement splits the light of one spectral band and one polarisation on a
non-polarising beam splitter, which the specification describes with the "generic"
measurement type and ``num_split_ch = 2`` / ``detectors_specs/split_chN``.

Strings are stored as fixed-length byte strings, booleans as uint8, as the reference
library phconvert does.

References
----------
Photon-HDF5 format definition and "generic" measurement type, version 0.5:
https://photon-hdf5.readthedocs.io/en/0.5/phdata.html and
https://photon-hdf5.readthedocs.io/en/0.5/generic.html; mandatory ``/setup`` and
``/identity`` fields as validated by phconvert (``phconvert/hdf5.py``). Ingargiola et al.,
Biophys. J. 110, 26 (2016).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import h5py
import numpy as np
from numpy.typing import ArrayLike, NDArray

from qlight import __version__
from qlight._validation import check_fraction, check_nonnegative, check_positive
from qlight.errors import ParameterError
from qlight.timetags._photon_hdf5_model import (
    FORMAT_NAME,
    FORMAT_URL,
    FORMAT_VERSION,
    PS_PER_S,
    TIMESTAMPS_UNIT_S,
    DetectorInfo,
    PhotonData,
    as_hdf5_string,
)
from qlight.timetags._photon_hdf5_read import read_photon_hdf5
from qlight.timetags.correlate import as_time_tags, check_integer

__all__ = [
    "FORMAT_NAME",
    "FORMAT_URL",
    "FORMAT_VERSION",
    "TIMESTAMPS_UNIT_S",
    "DetectorInfo",
    "PhotonData",
    "read_photon_hdf5",
    "write_photon_hdf5",
]


def _merge(
    channels: Sequence[NDArray[np.int64]],
) -> tuple[NDArray[np.int64], NDArray[np.uint8], NDArray[np.intp]]:
    """Merge sorted channels into one time-sorted stream; ties keep the lower detector first.

    Also returns the permutation of the concatenated channels (to align per-photon arrays).
    """
    times = np.concatenate(channels) if channels else np.zeros(0, np.int64)
    dets = np.concatenate([np.full(c.size, i, dtype=np.uint8) for i, c in enumerate(channels)])
    order = np.argsort(times, kind="stable")
    return times[order], dets[order], order


def _check_nanotimes(
    nanotimes: Sequence[ArrayLike] | None,
    channels: Sequence[NDArray[np.int64]],
    tcspc_unit_s: float | None,
    tcspc_num_bins: int | None,
) -> tuple[list[NDArray[np.int64]] | None, float | None, int | None]:
    """Validate the per-channel nanotimes; return them as int64, the unit and the bin count."""
    if nanotimes is None:
        if tcspc_unit_s is not None or tcspc_num_bins is not None:
            raise ParameterError(
                "nanotimes", None, "must be given with tcspc_unit_s or tcspc_num_bins"
            )
        return None, None, None
    if len(nanotimes) != len(channels):
        raise ParameterError(
            "nanotimes", f"{len(nanotimes)} channels", f"must have {len(channels)} like t_ps"
        )
    out: list[NDArray[np.int64]] = []
    for i, (nt, c) in enumerate(zip(nanotimes, channels, strict=True)):
        arr = np.asarray(nt)
        if arr.ndim != 1 or (arr.size and arr.dtype.kind not in "iu"):
            raise ParameterError(
                f"nanotimes[{i}]", f"{arr.dtype} of shape {arr.shape}", "must be 1-D integers"
            )
        if arr.shape != c.shape:
            raise ParameterError(
                f"nanotimes[{i}]", f"shape {arr.shape}", f"must match t_ps[{i}] shape {c.shape}"
            )
        if arr.size and int(arr.min()) < 0:
            raise ParameterError(f"nanotimes[{i}]", int(arr.min()), "must be >= 0")
        out.append(arr.astype(np.int64))
    if tcspc_unit_s is None:
        raise ParameterError("tcspc_unit_s", None, "must be given with nanotimes")
    unit = check_positive("tcspc_unit_s", tcspc_unit_s)
    top = max((int(a.max()) for a in out if a.size), default=0)
    if tcspc_num_bins is None:
        num_bins = top + 1
    else:
        num_bins = check_integer("tcspc_num_bins", tcspc_num_bins)
        if num_bins < 1 or top >= num_bins:
            raise ParameterError(
                "tcspc_num_bins", tcspc_num_bins, f"must be >= 1 and > every nanotime ({top})"
            )
    return out, unit, num_bins


def _nanotime_dtype(num_bins: int) -> type[np.unsignedinteger[Any]]:
    """uint16 (the usual Photon-HDF5 type), or the smallest wider unsigned type that fits."""
    for dtype in (np.uint16, np.uint32):
        if num_bins - 1 <= np.iinfo(dtype).max:
            return dtype
    return np.uint64


def _optional_positive(name: str, value: float | None) -> float | None:
    return None if value is None else check_positive(name, value)


def write_photon_hdf5(
    path: str | os.PathLike[str],
    t_ps: Sequence[ArrayLike],
    *,
    duration_ps: int,
    description: str = "",
    parameters: Mapping[str, Any] | None = None,
    detectors: Sequence[DetectorInfo] | None = None,
    split_ratios: Sequence[float] | None = None,
    excitation_wavelength_m: float | None = None,
    excitation_power_w: float | None = None,
    detection_wavelength_m: float | None = None,
    rep_rate_hz: float | None = None,
    author: str | None = None,
    nanotimes: Sequence[ArrayLike] | None = None,
    tcspc_unit_s: float | None = None,
    tcspc_num_bins: int | None = None,
) -> Path:
    """Write the tags of two or more beam-split detectors to a Photon-HDF5 0.5 file.

    The channels are merged into one time-sorted ``/photon_data/timestamps`` array (int64,
    unit 1 ps) with the pixel id (0, 1, …, the index in ``t_ps``) in
    ``/photon_data/detectors``. The file is written to a temporary name in the same folder
    and renamed, so a crash never leaves a truncated file under ``path``.

    Parameters
    ----------
    path : str or os.PathLike
        Output file; an existing file is replaced.
    t_ps : sequence of array_like of int
        Sorted tags of each detector in ps (at least two channels, at most 256).
    duration_ps : int
        Acquisition duration in ps (> 0, covering every tag).
    description : str, optional
        Free-text ``/description``.
    parameters : mapping, optional
        JSON-serialisable parameters stored in ``/user/qlight/parameters_json``.
    detectors : sequence of DetectorInfo, optional
        Per-detector labels and data-sheet values (one per channel).
    split_ratios : sequence of float, optional
        Power fraction reaching each detector (default equal split).
    excitation_wavelength_m, excitation_power_w, detection_wavelength_m : float, optional
        Setup description (metres, watts).
    rep_rate_hz : float, optional
        Laser repetition rate; ``None`` means CW excitation.
    author : str, optional
        ``/identity/author``.
    nanotimes : sequence of array_like of int, optional
        TCSPC nanotimes (microtime bins, >= 0) of each channel, one per tag of ``t_ps``
        (same shapes). Written merged like the timestamps as ``/photon_data/nanotimes``
        (uint16, or wider if needed), with ``/setup/lifetime = True``.
    tcspc_unit_s : float, optional
        Nanotime bin width in seconds (required with ``nanotimes``).
    tcspc_num_bins : int, optional
        Number of TCSPC bins (default: the largest nanotime + 1); ``tcspc_range`` is
        ``tcspc_unit_s × tcspc_num_bins``.

    Returns
    -------
    pathlib.Path
        The path written.

    Raises
    ------
    ParameterError
        For invalid tags (unsorted, not integer, negative), a duration that does not cover
        them, inconsistent metadata lengths, nanotimes of the wrong number, shape or type
        (or without ``tcspc_unit_s``), parameters that are not JSON-serialisable, or a path
        that cannot be written.

    References
    ----------
    Photon-HDF5 0.5 format definition (see module docstring).
    """
    channels = [as_time_tags(f"t_ps[{i}]", t) for i, t in enumerate(t_ps)]
    if not 2 <= len(channels) <= 256:
        raise ParameterError("t_ps", f"{len(channels)} channels", "must hold 2 to 256 channels")
    duration = check_integer("duration_ps", duration_ps)
    if duration <= 0:
        raise ParameterError("duration_ps", duration_ps, "must be > 0")
    for i, c in enumerate(channels):
        if c.size and (int(c[0]) < 0 or int(c[-1]) > duration):
            raise ParameterError(
                f"t_ps[{i}]", f"tags in [{int(c[0])}, {int(c[-1])}]", f"must lie in [0, {duration}]"
            )
    n_pix = len(channels)
    dets = (
        list(detectors)
        if detectors is not None
        else [DetectorInfo(f"detector {i}") for i in range(n_pix)]
    )
    if len(dets) != n_pix:
        raise ParameterError("detectors", f"{len(dets)} entries", f"must have {n_pix} entries")
    ratios = [1.0 / n_pix] * n_pix if split_ratios is None else list(split_ratios)
    if len(ratios) != n_pix:
        raise ParameterError("split_ratios", ratios, f"must have {n_pix} entries")
    ratios = [check_fraction("split_ratios", r) for r in ratios]
    exc_wl = _optional_positive("excitation_wavelength_m", excitation_wavelength_m)
    exc_p = (
        None
        if excitation_power_w is None
        else check_nonnegative("excitation_power_w", excitation_power_w)
    )
    nano, tcspc_unit, num_bins = _check_nanotimes(nanotimes, channels, tcspc_unit_s, tcspc_num_bins)
    det_wl = _optional_positive("detection_wavelength_m", detection_wavelength_m)
    rep = _optional_positive("rep_rate_hz", rep_rate_hz)
    try:
        params_json = json.dumps(dict(parameters or {}), sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ParameterError(
            "parameters", "mapping", f"must be JSON-serialisable ({exc})"
        ) from None

    out = Path(path)
    folder = out.parent if str(out.parent) else Path(".")
    if out.is_dir():
        raise ParameterError("path", str(out), "is a directory, not a file")
    if not folder.is_dir():
        raise ParameterError("path", str(out), f"cannot be written: folder {folder} does not exist")
    timestamps, det_ids, order = _merge(channels)
    tcspc: tuple[NDArray[np.unsignedinteger[Any]], float, int] | None = None
    if nano is not None and tcspc_unit is not None and num_bins is not None:
        merged = np.concatenate(nano)[order] if nano else np.zeros(0, np.int64)
        tcspc = (merged.astype(_nanotime_dtype(num_bins)), tcspc_unit, num_bins)
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise ParameterError("path", str(out), f"cannot be written: {exc.strerror}") from None
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        with h5py.File(tmp, "w") as f:
            _write_layout(
                f,
                out=out,
                timestamps=timestamps,
                det_ids=det_ids,
                counts=[c.size for c in channels],
                duration_ps=duration,
                description=description,
                params_json=params_json,
                dets=dets,
                ratios=ratios,
                exc_wl=exc_wl,
                exc_p=exc_p,
                det_wl=det_wl,
                rep=rep,
                author=author,
                tcspc=tcspc,
            )
        umask = os.umask(0)
        os.umask(umask)
        tmp.chmod(0o666 & ~umask)  # mkstemp creates 0600; give the file the usual mode
        os.replace(tmp, out)
    except OSError as exc:
        raise ParameterError("path", str(out), f"cannot be written: {exc}") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return out


def _write_layout(
    f: h5py.File,
    *,
    out: Path,
    timestamps: NDArray[np.int64],
    det_ids: NDArray[np.uint8],
    counts: list[int],
    duration_ps: int,
    description: str,
    params_json: str,
    dets: list[DetectorInfo],
    ratios: list[float],
    exc_wl: float | None,
    exc_p: float | None,
    det_wl: float | None,
    rep: float | None,
    author: str | None,
    tcspc: tuple[NDArray[np.unsignedinteger[Any]], float, int] | None = None,
) -> None:
    """Create every group and field of the layout documented in the module docstring."""
    n_pix = len(counts)
    f.attrs["format_name"] = as_hdf5_string(FORMAT_NAME)
    f.attrs["format_version"] = as_hdf5_string(FORMAT_VERSION)
    f.attrs["format_url"] = as_hdf5_string(FORMAT_URL)
    f["acquisition_duration"] = np.float64(duration_ps / PS_PER_S)
    f["description"] = as_hdf5_string(description)

    ph = f.create_group("photon_data")
    ph.create_dataset(
        "timestamps",
        data=timestamps,
        dtype=np.int64,
        chunks=True if timestamps.size else None,
        compression="gzip" if timestamps.size else None,
    )
    ph.create_dataset(
        "detectors",
        data=det_ids,
        dtype=np.uint8,
        chunks=True if det_ids.size else None,
        compression="gzip" if det_ids.size else None,
    )
    ph.create_group("timestamps_specs")["timestamps_unit"] = np.float64(TIMESTAMPS_UNIT_S)
    if tcspc is not None:
        nano, unit_s, num_bins = tcspc
        ph.create_dataset(
            "nanotimes",
            data=nano,
            dtype=nano.dtype,
            chunks=True if nano.size else None,
            compression="gzip" if nano.size else None,
        )
        specs = ph.create_group("nanotimes_specs")
        specs["tcspc_unit"] = np.float64(unit_s)
        specs["tcspc_num_bins"] = np.int64(num_bins)
        specs["tcspc_range"] = np.float64(unit_s * num_bins)
    ms = ph.create_group("measurement_specs")
    ms["measurement_type"] = as_hdf5_string("generic")
    if rep is not None:
        ms["laser_repetition_rate"] = np.float64(rep)
    ds = ms.create_group("detectors_specs")
    for i in range(n_pix):
        ds[f"split_ch{i + 1}"] = np.array([i], dtype=np.uint8)

    setup = f.create_group("setup")
    setup["num_pixels"] = np.int64(n_pix)
    setup["num_spots"] = np.int64(1)
    setup["num_spectral_ch"] = np.int64(1)
    setup["num_polarization_ch"] = np.int64(1)
    setup["num_split_ch"] = np.int64(n_pix)
    setup["modulated_excitation"] = np.uint8(0)
    setup["lifetime"] = np.uint8(tcspc is not None)
    setup["excitation_cw"] = np.array([rep is None], dtype=np.uint8)
    setup["excitation_alternated"] = np.array([False], dtype=np.uint8)
    setup["detection_split_ch_ratios"] = np.array(ratios, dtype=np.float64)
    if exc_wl is not None:
        setup["excitation_wavelengths"] = np.array([exc_wl], dtype=np.float64)
    if exc_p is not None:
        setup["excitation_input_powers"] = np.array([exc_p], dtype=np.float64)
    if det_wl is not None:
        setup["detection_wavelengths"] = np.array([det_wl], dtype=np.float64)
    if rep is not None:
        setup["laser_repetition_rates"] = np.array([rep], dtype=np.float64)
    sd = setup.create_group("detectors")
    sd["id"] = np.arange(n_pix, dtype=np.uint8)
    sd["label"] = np.array([d.label.encode("utf-8") for d in dets], dtype=np.bytes_)
    sd["counts"] = np.array(counts, dtype=np.int64)
    if all(d.dark_cps is not None for d in dets):
        sd["dcr"] = np.array([d.dark_cps for d in dets], dtype=np.float64)
    if all(d.afterpulse_prob is not None for d in dets):
        sd["afterpulsing"] = np.array([d.afterpulse_prob for d in dets], dtype=np.float64)

    ident = f.create_group("identity")
    ident["software"] = as_hdf5_string("qlight")
    ident["software_version"] = as_hdf5_string(__version__)
    ident["creation_time"] = as_hdf5_string(datetime.now().strftime("%Y-%m-%d %H:%M:%S"))
    ident["filename"] = as_hdf5_string(out.name)
    ident["filename_full"] = as_hdf5_string(str(out.resolve()))
    ident["format_name"] = as_hdf5_string(FORMAT_NAME)
    ident["format_version"] = as_hdf5_string(FORMAT_VERSION)
    ident["format_url"] = as_hdf5_string(FORMAT_URL)
    if author is not None:
        ident["author"] = as_hdf5_string(author)

    user = f.create_group("user").create_group("qlight")
    user["parameters_json"] = as_hdf5_string(params_json)
    user["duration_ps"] = np.int64(duration_ps)
