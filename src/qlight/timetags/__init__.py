"""Layer 2: time-tag data model, file formats and correlation kernels.

* :func:`cross_correlate` — all-pairs histogram of two sorted int64-ps channels.
* :func:`g2_cw`, :func:`g2_at_zero`, :func:`g2_pulsed_ratio` — normalised g2.
* :func:`write_photon_hdf5`, :func:`read_photon_hdf5` — Photon-HDF5 0.5 files.
"""

from qlight.timetags.correlate import cross_correlate
from qlight.timetags.g2 import G2Histogram, PulsedG2, g2_at_zero, g2_cw, g2_pulsed_ratio
from qlight.timetags.photon_hdf5 import (
    DetectorInfo,
    PhotonData,
    read_photon_hdf5,
    write_photon_hdf5,
)

__all__ = [
    "DetectorInfo",
    "G2Histogram",
    "PhotonData",
    "PulsedG2",
    "cross_correlate",
    "g2_at_zero",
    "g2_cw",
    "g2_pulsed_ratio",
    "read_photon_hdf5",
    "write_photon_hdf5",
]
