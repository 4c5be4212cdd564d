"""Layer 2: time-tag data model, file formats and correlation kernels.

* :func:`cross_correlate` — all-pairs histogram of two sorted int64-ps channels.
* :func:`g2_cw`, :func:`g2_at_zero`, :func:`g2_pulsed_ratio` — normalised g2.
* :func:`write_photon_hdf5`, :func:`read_photon_hdf5` — Photon-HDF5 0.5 files.
* :func:`g2_pulsed` — pulsed g2 normalised by side peaks or by ``N1·N2/(f_rep·T)``.
* :func:`multitau_correlate` — log-binned correlation, ns to seconds.
* :func:`lifetime_histogram_t3`, :func:`lifetime_histogram_t2` — TCSPC histograms.
* :func:`intensity_trace`, :func:`photon_counting_histogram` — time trace and PCH.
* :func:`count_coincidences` — N-channel coincidences.

Files larger than memory: :mod:`qlight.timetags.streaming` (chunked, exact).
"""

from qlight.timetags.coincidence import CoincidenceCount, count_coincidences
from qlight.timetags.correlate import cross_correlate
from qlight.timetags.g2 import G2Histogram, PulsedG2, g2_at_zero, g2_cw, g2_pulsed_ratio
from qlight.timetags.g2_pulsed import PulsedG2Histogram, g2_pulsed
from qlight.timetags.lifetime import (
    LifetimeHistogram,
    lifetime_histogram_t2,
    lifetime_histogram_t3,
)
from qlight.timetags.multitau import MultiTauCorrelation, multitau_correlate
from qlight.timetags.photon_hdf5 import (
    DetectorInfo,
    PhotonData,
    read_photon_hdf5,
    write_photon_hdf5,
)
from qlight.timetags.trace import IntensityTrace, intensity_trace, photon_counting_histogram

__all__ = [
    "CoincidenceCount",
    "DetectorInfo",
    "G2Histogram",
    "IntensityTrace",
    "LifetimeHistogram",
    "MultiTauCorrelation",
    "PhotonData",
    "PulsedG2",
    "PulsedG2Histogram",
    "count_coincidences",
    "cross_correlate",
    "g2_at_zero",
    "g2_cw",
    "g2_pulsed",
    "g2_pulsed_ratio",
    "intensity_trace",
    "lifetime_histogram_t2",
    "lifetime_histogram_t3",
    "multitau_correlate",
    "photon_counting_histogram",
    "read_photon_hdf5",
    "write_photon_hdf5",
]
