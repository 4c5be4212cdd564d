"""Reader of single-spot Photon-HDF5 files (see :mod:`qlight.timetags.photon_hdf5`).

References
----------
Photon-HDF5 0.5 format definition: https://photon-hdf5.readthedocs.io/en/0.5/phdata.html;
mandatory ``/setup`` fields as validated by phconvert (``phconvert/hdf5.py``).
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import h5py
import numpy as np
from numpy.typing import NDArray

from qlight.errors import FileFormatError, ParameterError
from qlight.timetags._photon_hdf5_model import FORMAT_NAME, PS_PER_S, PhotonData, hdf5_text

__all__ = ["read_photon_hdf5"]


#: Fields of ``/setup`` that Photon-HDF5 0.5 makes mandatory (as validated by phconvert).
_SETUP_MANDATORY = (
    "num_pixels",
    "num_spots",
    "num_spectral_ch",
    "num_polarization_ch",
    "num_split_ch",
    "modulated_excitation",
    "lifetime",
)
#: Per-photon arrays that are not copied into ``PhotonData.metadata``.
_PHOTON_ARRAYS = ("timestamps", "detectors", "nanotimes", "particles")


def read_photon_hdf5(path: str | os.PathLike[str]) -> PhotonData:
    """Read a single-spot Photon-HDF5 file into per-detector picosecond tags.

    Parameters
    ----------
    path : str or os.PathLike
        A Photon-HDF5 file (version 0.4 or 0.5 layout, single ``/photon_data`` group).

    Returns
    -------
    PhotonData
        Tags per detector converted to ps (exactly when ``timestamps_unit`` is an integer
        number of ps, otherwise rounded to the nearest ps), unit, duration, description,
        the other standard fields and the qlight parameters when present.

    Raises
    ------
    ParameterError
        If ``path`` is not an existing file.
    FileFormatError
        If the file is not HDF5 or is truncated, is not Photon-HDF5, lacks a mandatory
        group or field, holds a field of the wrong type or shape, or has unsorted timestamps
        within a detector.

    References
    ----------
    Photon-HDF5 0.5 format definition (see module docstring).
    """
    p = Path(path)
    if not p.is_file():
        raise ParameterError("path", str(p), "must be an existing file")
    if not h5py.is_hdf5(p):
        raise FileFormatError(f"{p}: not an HDF5 file (no HDF5 signature)")
    try:
        with h5py.File(p, "r") as f:
            return _read(f, p)
    except FileFormatError:
        raise
    except (OSError, KeyError, ValueError, TypeError, RuntimeError) as exc:
        raise FileFormatError(f"{p}: unreadable or truncated HDF5 file ({exc})") from None


def _fail(p: Path, what: str) -> FileFormatError:
    return FileFormatError(f"{p}: {what}")


def _dataset(f: h5py.File, p: Path, name: str) -> h5py.Dataset:
    """Return the dataset ``name`` or raise naming the missing group or field."""
    parts = name.strip("/").split("/")
    node: Any = f
    for depth, part in enumerate(parts):
        here = "/" + "/".join(parts[: depth + 1])
        if not isinstance(node, h5py.Group) or part not in node:
            kind = "field" if depth == len(parts) - 1 else "group"
            raise _fail(p, f"missing {kind} {here} (required by Photon-HDF5)")
        node = node[part]
    if not isinstance(node, h5py.Dataset):
        raise _fail(p, f"{name} must be a dataset, found a group")
    return node


def _plain(value: Any) -> Any:
    """A metadata value as a plain Python object (bytes decoded, NumPy scalars unwrapped)."""
    if isinstance(value, bytes | np.bytes_):
        return hdf5_text(value)
    if isinstance(value, np.generic):
        return value.item()
    return value


def _scalar(f: h5py.File, p: Path, name: str) -> float:
    ds = _dataset(f, p, name)
    if ds.shape != () or ds.dtype.kind not in "iuf":
        raise _fail(p, f"{name} must be a numeric scalar, found {ds.dtype} of shape {ds.shape}")
    value = float(ds[()])
    if not math.isfinite(value):
        raise _fail(p, f"{name} must be finite, found {value}")
    return value


def _format_name(f: h5py.File) -> str | None:
    if "format_name" in f.attrs:
        return hdf5_text(f.attrs["format_name"])
    ident = f.get("identity")
    if isinstance(ident, h5py.Group) and isinstance(ident.get("format_name"), h5py.Dataset):
        return hdf5_text(ident["format_name"][()])
    return None


def _to_ps(raw: NDArray[np.int64], unit_s: float, p: Path) -> NDArray[np.int64]:
    """Convert timestamps in units of ``unit_s`` to integer ps (exact for integer ratios)."""
    factor = unit_s * PS_PER_S
    k = round(factor)
    if k >= 1 and abs(factor - k) <= 1e-9 * factor:
        if k == 1:
            return raw
        if raw.size and int(np.abs(raw).max()) > np.iinfo(np.int64).max // k:
            raise _fail(p, "timestamps overflow int64 when converted to ps")
        return raw * np.int64(k)
    return np.round(raw.astype(np.float64) * factor).astype(np.int64)


def _nanotimes(
    f: h5py.File, p: Path, n: int
) -> tuple[NDArray[np.int64] | None, float | None, int | None]:
    """``/photon_data/nanotimes`` (int64), ``tcspc_unit`` in s and ``tcspc_num_bins``."""
    if "nanotimes" not in f["photon_data"]:
        return None, None, None
    ds = _dataset(f, p, "/photon_data/nanotimes")
    if ds.ndim != 1 or ds.dtype.kind not in "iu" or ds.shape[0] != n:
        raise _fail(
            p,
            "/photon_data/nanotimes must be a 1-D integer array as long as timestamps "
            f"({n}), found {ds.dtype} {ds.shape}",
        )
    unit_s = _scalar(f, p, "/photon_data/nanotimes_specs/tcspc_unit")
    if unit_s <= 0:
        raise _fail(p, f"/photon_data/nanotimes_specs/tcspc_unit must be > 0, found {unit_s}")
    num_bins: int | None = None
    if "/photon_data/nanotimes_specs/tcspc_num_bins" in f:
        value = _scalar(f, p, "/photon_data/nanotimes_specs/tcspc_num_bins")
        if value < 1 or value != int(value):
            raise _fail(p, f"tcspc_num_bins must be a positive integer, found {value}")
        num_bins = int(value)
    values = np.asarray(ds[()]).astype(np.int64)
    if values.size and int(values.min()) < 0:
        raise _fail(p, "/photon_data/nanotimes must be >= 0")
    return values, unit_s, num_bins


def _read(f: h5py.File, p: Path) -> PhotonData:
    name = _format_name(f)
    if name != FORMAT_NAME:
        raise _fail(p, f"not a Photon-HDF5 file (format_name={name!r})")
    ts = _dataset(f, p, "/photon_data/timestamps")
    if ts.ndim != 1 or ts.dtype.kind not in "iu":
        raise _fail(
            p, f"/photon_data/timestamps must be a 1-D integer array, found {ts.dtype} {ts.shape}"
        )
    unit_s = _scalar(f, p, "/photon_data/timestamps_specs/timestamps_unit")
    if unit_s <= 0:
        raise _fail(p, f"timestamps_unit must be > 0, found {unit_s}")
    duration_s = _scalar(f, p, "/acquisition_duration")
    if duration_s < 0:
        raise _fail(p, f"/acquisition_duration must be >= 0, found {duration_s}")
    description = hdf5_text(_dataset(f, p, "/description")[()])
    for field_name in _SETUP_MANDATORY:
        _scalar(f, p, f"/setup/{field_name}")

    raw = np.asarray(ts[()]).astype(np.int64)
    if "detectors" in f["photon_data"]:
        dset = _dataset(f, p, "/photon_data/detectors")
        if dset.ndim != 1 or dset.dtype.kind not in "iu" or dset.shape[0] != raw.size:
            raise _fail(
                p,
                "/photon_data/detectors must be a 1-D integer array as long as timestamps "
                f"({raw.size}), found {dset.dtype} {dset.shape}",
            )
        det = np.asarray(dset[()]).astype(np.int64)
    else:
        det = np.zeros(raw.size, dtype=np.int64)
    t_all = _to_ps(raw, unit_s, p)
    ids = [int(d) for d in np.unique(det)]
    if "/setup/detectors/id" in f:
        ids = sorted(set(ids) | {int(d) for d in np.asarray(f["/setup/detectors/id"][()]).ravel()})
    nano_all, tcspc_unit_s, tcspc_num_bins = _nanotimes(f, p, raw.size)
    t_ps: dict[int, NDArray[np.int64]] = {}
    nanotimes: dict[int, NDArray[np.int64]] | None = None if nano_all is None else {}
    for d in ids:
        mask = det == d
        if nanotimes is not None and nano_all is not None:
            nanotimes[d] = np.ascontiguousarray(nano_all[mask])
        tags = np.ascontiguousarray(t_all[mask])
        if tags.size > 1 and np.any(np.diff(tags) < 0):
            i = int(np.argmax(np.diff(tags) < 0))
            raise _fail(
                p, f"timestamps of detector {d} are not sorted (index {i} of that detector)"
            )
        t_ps[d] = tags

    metadata: dict[str, Any] = {}

    def visit(obj_name: str, obj: Any) -> None:
        full = "/" + obj_name
        if not isinstance(obj, h5py.Dataset) or full.startswith("/user/"):
            return
        if full.startswith("/photon_data/") and obj_name.split("/")[-1] in _PHOTON_ARRAYS:
            return
        value = obj[()]
        if isinstance(value, np.ndarray):
            metadata[full] = [_plain(v) for v in value.ravel()]
        else:
            metadata[full] = _plain(value)

    f.visititems(visit)

    parameters: dict[str, Any] | None = None
    duration_ps = round(duration_s * PS_PER_S)
    if "/user/qlight/parameters_json" in f:
        try:
            loaded = json.loads(hdf5_text(f["/user/qlight/parameters_json"][()]))
        except (json.JSONDecodeError, TypeError) as exc:
            raise _fail(p, f"/user/qlight/parameters_json is not valid JSON ({exc})") from None
        if not isinstance(loaded, dict):
            raise _fail(p, "/user/qlight/parameters_json must hold a JSON object")
        parameters = loaded
    if "/user/qlight/duration_ps" in f:
        exact = _dataset(f, p, "/user/qlight/duration_ps")
        if exact.shape != () or exact.dtype.kind not in "iu":
            raise _fail(p, "/user/qlight/duration_ps must be an integer scalar")
        duration_ps = int(exact[()])
    return PhotonData(
        t_ps=t_ps,
        unit_s=unit_s,
        duration_s=duration_s,
        duration_ps=duration_ps,
        description=description,
        metadata=metadata,
        parameters=parameters,
        nanotimes=nanotimes,
        tcspc_unit_s=tcspc_unit_s,
        tcspc_num_bins=tcspc_num_bins,
    )
