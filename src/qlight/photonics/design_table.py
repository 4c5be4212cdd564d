"""Bullseye design table over wavelength: layouts per emitter ZPL and the twin's tables.

One chip has one membrane and one spacer, so a design table fixes the vertical stack and
varies only the lateral geometry (period, trench width, disc radius) with the wavelength.
The committed table (``photonics/data/bullseye_table.json``, produced by
``scripts/make_bullseye_table.py``, documented in docs/photonics-design.md) holds, for each
wavelength, the geometry and its FDFD results for an in-plane dipole on the axis:
collection efficiency into the table's NA and Purcell factor, at the stated resolution.

* :meth:`BullseyeTable.design_for` — the geometry for any wavelength inside the table,
  interpolated linearly in the lateral dimensions (the second-order Bragg condition
  n_eff(λ)(Λ − w) + w = λ is smooth in λ, so the lateral scale is nearly linear);
* :meth:`BullseyeTable.twin_tables` — ``(zpl_nm, factor)`` pairs for
  :attr:`qlight.physics.chipconfig.ChipConfig.structure_collection_table` (collection gain
  over the twin's flat-surface value η_h of
  :func:`qlight.physics.optics.planar_collection_efficiencies`) and ``(zpl_nm, purcell)``
  pairs.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from qlight.errors import FileFormatError, ParameterError
from qlight.photonics.design import BullseyeDesign
from qlight.physics.optics import planar_collection_efficiencies

__all__ = ["BullseyeTable", "TableEntry", "load_design_table"]

F64 = NDArray[np.float64]
_LATERAL = ("period_nm", "trench_nm", "disc_radius_nm")


@dataclass(frozen=True)
class TableEntry:
    """One wavelength of the table: geometry and its in-plane-dipole results."""

    design: BullseyeDesign
    collection_efficiency: float
    purcell: float


@dataclass(frozen=True)
class BullseyeTable:
    """Designs at increasing wavelengths sharing one vertical stack (see module docstring)."""

    na: float
    resolution_nm: float
    entries: tuple[TableEntry, ...]
    source: str = ""

    def __post_init__(self) -> None:
        if not self.entries:
            raise ParameterError("entries", 0, "need at least one wavelength")
        lam = self.wavelengths_nm
        if np.any(np.diff(lam) <= 0):
            raise ParameterError("wavelengths", lam.tolist(), "must increase strictly")
        d0 = self.entries[0].design
        for e in self.entries:
            d = e.design
            same = (d.membrane_nm, d.etch_nm, d.spacer_nm, d.spacer, d.reflector, d.membrane)
            if same != (
                d0.membrane_nm,
                d0.etch_nm,
                d0.spacer_nm,
                d0.spacer,
                d0.reflector,
                d0.membrane,
            ):
                raise ParameterError(
                    "entries", d.wavelength_nm, "must share the vertical stack of the first"
                )

    @property
    def wavelengths_nm(self) -> F64:
        """Design wavelengths (increasing)."""
        return np.array([e.design.wavelength_nm for e in self.entries], dtype=np.float64)

    def _check(self, wavelength_nm: float) -> float:
        lam = self.wavelengths_nm
        w = float(wavelength_nm)
        if not (math.isfinite(w) and lam[0] - 1e-9 <= w <= lam[-1] + 1e-9):
            raise ParameterError(
                "wavelength_nm",
                wavelength_nm,
                f"must be within the table, {lam[0]:g}-{lam[-1]:g} nm",
            )
        return w

    def design_for(self, wavelength_nm: float) -> BullseyeDesign:
        """The geometry for ``wavelength_nm``: lateral sizes interpolated linearly (0.1 nm)."""
        w = self._check(wavelength_nm)
        lam = self.wavelengths_nm
        base = self.entries[int(np.argmin(np.abs(lam - w)))].design
        lateral: dict[str, Any] = {
            name: round(
                float(np.interp(w, lam, [getattr(e.design, name) for e in self.entries])), 1
            )
            for name in _LATERAL
        }
        return replace(base, wavelength_nm=w, **lateral)

    def collection_efficiency(self, wavelength_nm: float) -> float:
        """In-plane dipole's collection into the table's NA, interpolated."""
        w = self._check(wavelength_nm)
        return float(
            np.interp(w, self.wavelengths_nm, [e.collection_efficiency for e in self.entries])
        )

    def purcell(self, wavelength_nm: float) -> float:
        """In-plane dipole's Purcell factor, interpolated."""
        w = self._check(wavelength_nm)
        return float(np.interp(w, self.wavelengths_nm, [e.purcell for e in self.entries]))

    def twin_tables(
        self, n_medium: float = 2.4
    ) -> tuple[tuple[tuple[float, float], ...], tuple[tuple[float, float], ...]]:
        """``(collection factor table, Purcell table)`` keyed by ZPL (nm) for the twin.

        factor = η_bullseye,h / η_flat,h with η_flat,h the twin's own deep-dipole value
        under a flat surface of index ``n_medium`` into the same NA
        (:func:`~qlight.physics.optics.planar_collection_efficiencies`), so that the twin's
        ``collection_factor`` reproduces the bullseye's collection for in-plane dipoles.
        """
        eta_flat_h, _ = planar_collection_efficiencies(self.na, n_medium)
        coll = tuple(
            (e.design.wavelength_nm, e.collection_efficiency / eta_flat_h) for e in self.entries
        )
        purc = tuple((e.design.wavelength_nm, e.purcell) for e in self.entries)
        return coll, purc

    def to_dict(self) -> dict[str, Any]:
        """JSON form (the committed file's layout)."""
        return {
            "na": self.na,
            "resolution_nm": self.resolution_nm,
            "source": self.source,
            "entries": [
                {
                    "design": e.design.to_dict(),
                    "collection_efficiency": e.collection_efficiency,
                    "purcell": e.purcell,
                }
                for e in self.entries
            ],
        }


def _from_dict(obj: Any, where: str) -> BullseyeTable:
    try:
        entries = tuple(
            TableEntry(
                BullseyeDesign(**e["design"]),
                float(e["collection_efficiency"]),
                float(e["purcell"]),
            )
            for e in obj["entries"]
        )
        return BullseyeTable(
            float(obj["na"]), float(obj["resolution_nm"]), entries, str(obj.get("source", ""))
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise FileFormatError(f"{where}: not a bullseye design table ({exc})") from exc


def load_design_table(path: str | Path | None = None) -> BullseyeTable:
    """Read a design table (JSON); ``None``: the committed GaN table at NA 0.9.

    Raises
    ------
    FileFormatError
        Unreadable or malformed file.
    """
    try:
        if path is None:
            ref = resources.files("qlight.photonics").joinpath("data/bullseye_table.json")
            text, where = ref.read_text(encoding="utf-8"), "bullseye_table.json"
        else:
            text, where = Path(path).read_text(encoding="utf-8"), str(path)
        obj = json.loads(text)
    except (OSError, json.JSONDecodeError) as exc:
        raise FileFormatError(f"cannot read design table {path}: {exc}") from exc
    return _from_dict(obj, where)
