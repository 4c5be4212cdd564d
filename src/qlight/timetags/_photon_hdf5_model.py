"""Constants and data types shared by the Photon-HDF5 writer and reader.

See :mod:`qlight.timetags.photon_hdf5` for the layout and its references.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "FORMAT_NAME",
    "FORMAT_URL",
    "FORMAT_VERSION",
    "PS_PER_S",
    "TIMESTAMPS_UNIT_S",
    "DetectorInfo",
    "PhotonData",
    "as_hdf5_string",
]

FORMAT_NAME = "Photon-HDF5"
FORMAT_VERSION = "0.5"
FORMAT_URL = "http://photon-hdf5.org/"
#: Unit of the timestamps written by qlight: one picosecond.
TIMESTAMPS_UNIT_S = 1e-12
PS_PER_S = 1e12


@dataclass(frozen=True)
class DetectorInfo:
    """Per-pixel metadata stored in ``/setup/detectors`` (optional fields may be None).

    Attributes
    ----------
    label : str
        Human-readable name of the detector (``"SPAD A"``).
    dark_cps : float or None
        Dark count rate in counts per second (``/setup/detectors/dcr``).
    afterpulse_prob : float or None
        Afterpulsing probability (``/setup/detectors/afterpulsing``).
    """

    label: str
    dark_cps: float | None = None
    afterpulse_prob: float | None = None


@dataclass(frozen=True)
class PhotonData:
    """Time tags and metadata read from a Photon-HDF5 file.

    Attributes
    ----------
    t_ps : dict of int to numpy.ndarray of int64
        Sorted tags of each detector pixel id, converted to picoseconds.
    unit_s : float
        ``timestamps_unit`` of the file in seconds.
    duration_s : float
        ``/acquisition_duration`` in seconds.
    duration_ps : int
        The duration in ps (exact when the file was written by qlight).
    description : str
        ``/description``.
    metadata : dict
        Other standard fields, flattened by HDF5 path (``"/setup/num_pixels"``).
    parameters : dict or None
        The qlight simulation parameters (``/user/qlight/parameters_json``), if present.
    nanotimes : dict of int to numpy.ndarray of int64, or None
        TCSPC nanotimes (``/photon_data/nanotimes``, in units of ``tcspc_unit_s``) of each
        detector, aligned with ``t_ps``; None when the file has none.
    tcspc_unit_s : float or None
        ``/photon_data/nanotimes_specs/tcspc_unit`` in seconds (None without nanotimes).
    tcspc_num_bins : int or None
        ``/photon_data/nanotimes_specs/tcspc_num_bins`` (None when absent).
    """

    t_ps: dict[int, NDArray[np.int64]]
    unit_s: float
    duration_s: float
    duration_ps: int
    description: str
    metadata: dict[str, Any] = field(default_factory=dict)
    parameters: dict[str, Any] | None = None
    nanotimes: dict[int, NDArray[np.int64]] | None = None
    tcspc_unit_s: float | None = None
    tcspc_num_bins: int | None = None


def as_hdf5_string(text: str) -> np.bytes_:
    """A scalar fixed-length byte string, the Photon-HDF5 string type."""
    return np.bytes_(text.encode("utf-8"))


def hdf5_text(value: Any) -> str:
    """Decode a Photon-HDF5 string (bytes or str) to ``str``."""
    if isinstance(value, bytes | np.bytes_):
        return bytes(value).decode("utf-8", errors="replace")
    return str(value)
