"""Time-tag file formats and streaming (layer 2).

* :func:`read_ptu_header`, :func:`iter_ptu`, :func:`read_ptu` — PicoQuant PTU files of every
  PicoHarp, HydraHarp, TimeHarp 260 and MultiHarp record type, decoded chunk by chunk.
* :func:`write_ptu`, :class:`PtuWriter` — PTU writer (HydraHarp V2 by default, every layout).
* :func:`iter_channels`, :func:`read_header` — any PTU or Photon-HDF5 file, per-channel
  sorted ps tags chunk by chunk (bounded memory).
* :func:`read_photon_hdf5`, :func:`write_photon_hdf5` — Photon-HDF5 0.5 (from
  :mod:`qlight.timetags.photon_hdf5`).
"""

from qlight.timetags.io.ptu import (
    DEFAULT_CHUNK_RECORDS,
    SYNC_CHANNEL,
    TTTRChunk,
    TTTRMetadata,
    iter_ptu,
    read_ptu,
    read_ptu_header,
)
from qlight.timetags.io.ptu_write import PtuWriter, write_ptu
from qlight.timetags.io.stream import file_kind, iter_channels, read_header
from qlight.timetags.photon_hdf5 import (
    DetectorInfo,
    PhotonData,
    read_photon_hdf5,
    write_photon_hdf5,
)

__all__ = [
    "DEFAULT_CHUNK_RECORDS",
    "SYNC_CHANNEL",
    "DetectorInfo",
    "PhotonData",
    "PtuWriter",
    "TTTRChunk",
    "TTTRMetadata",
    "file_kind",
    "iter_channels",
    "iter_ptu",
    "read_header",
    "read_photon_hdf5",
    "read_ptu",
    "read_ptu_header",
    "write_photon_hdf5",
    "write_ptu",
]
