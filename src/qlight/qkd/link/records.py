"""The link simulator's output: both parties' raw data for every pulse Bob registered.

A :class:`LinkRecord` holds, for each registered pulse (one row per pulse slot in which at
least one of Bob's detectors clicked): the pulse index and time stamp, Alice's basis, bit
and intensity class, Bob's basis and bit, and flags (double click, afterpulse, Eve knows the
bit). Pulses Bob did not register are not stored — Alice keeps only the rows Bob announces —
but the number of pulses sent per intensity class is, so gains can be computed. Bases:
0 = Z (rectilinear / time), 1 = X (diagonal / phase). Saved as ``.npz`` or HDF5 (``.h5``);
the post-processing stage reads either with :func:`load_record`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from qlight.errors import FileFormatError

__all__ = [
    "FLAG_AFTERPULSE",
    "FLAG_DOUBLE",
    "FLAG_EVE_KNOWS",
    "LinkRecord",
    "load_record",
    "save_record",
]

FLAG_DOUBLE = 1
FLAG_AFTERPULSE = 2
FLAG_EVE_KNOWS = 4

FORMAT = "qlight-bb84-link"
VERSION = 1

_ARRAYS: dict[str, type[np.generic]] = {
    "pulse_index": np.int64,
    "t_ps": np.int64,
    "alice_basis": np.uint8,
    "alice_bit": np.uint8,
    "intensity": np.uint8,
    "bob_basis": np.uint8,
    "bob_bit": np.uint8,
    "flags": np.uint8,
}


@dataclass(frozen=True)
class LinkRecord:
    """Raw data of a simulated BB84 link (see the module docstring).

    Attributes
    ----------
    pulse_index, t_ps : int64 arrays
        Pulse slot and time stamp (slot × period + timing jitter) of each registration.
    alice_basis, alice_bit, intensity, bob_basis, bob_bit, flags : uint8 arrays
        Per registration; ``flags`` holds :data:`FLAG_DOUBLE`, :data:`FLAG_AFTERPULSE`,
        :data:`FLAG_EVE_KNOWS` (simulation truth, not known to Alice and Bob).
    n_pulses : int
        Pulses sent.
    sent_per_intensity : int64 array
        Pulses sent in each intensity class.
    intensities : tuple of float
        Mean photon number of each class (index 0 = signal).
    metadata : dict
        Everything else that defines the run (source, channel, detectors, Eve, seed).
    """

    pulse_index: NDArray[np.int64]
    t_ps: NDArray[np.int64]
    alice_basis: NDArray[np.uint8]
    alice_bit: NDArray[np.uint8]
    intensity: NDArray[np.uint8]
    bob_basis: NDArray[np.uint8]
    bob_bit: NDArray[np.uint8]
    flags: NDArray[np.uint8]
    n_pulses: int
    sent_per_intensity: NDArray[np.int64]
    intensities: tuple[float, ...]
    metadata: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.pulse_index.size)

    @property
    def sifted(self) -> NDArray[np.bool_]:
        """Rows where Alice's and Bob's bases agree."""
        out: NDArray[np.bool_] = self.alice_basis == self.bob_basis
        return out

    @property
    def errors(self) -> NDArray[np.bool_]:
        """Rows where Bob's bit differs from Alice's (meaningful on sifted rows)."""
        out: NDArray[np.bool_] = self.alice_bit != self.bob_bit
        return out

    @property
    def eve_knows(self) -> NDArray[np.bool_]:
        """Rows whose bit Eve knows (simulation truth)."""
        out: NDArray[np.bool_] = (self.flags & FLAG_EVE_KNOWS) != 0
        return out


def _header(record: LinkRecord) -> str:
    return json.dumps(
        {
            "format": FORMAT,
            "version": VERSION,
            "n_pulses": record.n_pulses,
            "intensities": list(record.intensities),
            "metadata": record.metadata,
        }
    )


def _from_parts(header_text: str, arrays: dict[str, Any], path: Path) -> LinkRecord:
    try:
        header = json.loads(header_text)
        if header.get("format") != FORMAT or header.get("version") != VERSION:
            raise FileFormatError(f"{path}: not a {FORMAT} v{VERSION} file")
        cols = {name: np.ascontiguousarray(arrays[name], dtype=dt) for name, dt in _ARRAYS.items()}
        sent = np.ascontiguousarray(arrays["sent_per_intensity"], dtype=np.int64)
        n_pulses = int(header["n_pulses"])
        intensities = tuple(float(x) for x in header["intensities"])
        metadata = dict(header["metadata"])
    except FileFormatError:
        raise
    except (KeyError, ValueError, TypeError) as exc:
        raise FileFormatError(f"{path}: corrupted link record ({exc})") from None
    sizes = {c.size for c in cols.values()}
    if len(sizes) != 1 or sent.size != len(intensities) or int(sent.sum()) != n_pulses:
        raise FileFormatError(f"{path}: inconsistent array sizes in link record")
    return LinkRecord(
        **cols,
        n_pulses=n_pulses,
        sent_per_intensity=sent,
        intensities=intensities,
        metadata=metadata,
    )


def save_record(record: LinkRecord, path: str | Path) -> Path:
    """Write ``record`` to ``path``: HDF5 if it ends in ``.h5``/``.hdf5``, else ``.npz``."""
    p = Path(path)
    arrays = {name: getattr(record, name) for name in _ARRAYS}
    if p.suffix.lower() in (".h5", ".hdf5"):
        import h5py

        with h5py.File(p, "w") as f:
            f.attrs["header"] = _header(record)
            for name, arr in arrays.items():
                f.create_dataset(name, data=arr, compression="gzip")
            f.create_dataset("sent_per_intensity", data=record.sent_per_intensity)
        return p
    if p.suffix.lower() != ".npz":
        p = p.with_suffix(p.suffix + ".npz") if p.suffix else p.with_suffix(".npz")
    np.savez_compressed(
        p,
        header=np.array(_header(record)),
        sent_per_intensity=record.sent_per_intensity,
        **arrays,
    )
    return p


def load_record(path: str | Path) -> LinkRecord:
    """Read a record written by :func:`save_record` (``.npz`` or HDF5)."""
    p = Path(path)
    if not p.is_file():
        raise FileFormatError(f"{p}: no such file")
    if p.suffix.lower() in (".h5", ".hdf5"):
        import h5py

        try:
            with h5py.File(p, "r") as f:
                header = str(f.attrs["header"])
                arrays = {name: f[name][()] for name in [*_ARRAYS, "sent_per_intensity"]}
        except (OSError, KeyError) as exc:
            raise FileFormatError(f"{p}: not a readable link record ({exc})") from None
        return _from_parts(header, arrays, p)
    try:
        with np.load(p, allow_pickle=False) as data:
            header = str(data["header"])
            arrays = {name: data[name] for name in [*_ARRAYS, "sent_per_intensity"]}
    except (OSError, KeyError, ValueError) as exc:
        raise FileFormatError(f"{p}: not a readable link record ({exc})") from None
    return _from_parts(header, arrays, p)
