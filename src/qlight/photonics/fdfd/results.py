"""Dipole emission in an axisymmetric structure: Purcell factor, collection, far field.

For each dipole orientation on the axis (h: one m = +1 solve; v: one m = 0 solve,
:mod:`.source`):

* ``purcell`` — power delivered by the dipole (−½Re∫J*·E) relative to the same dipole in
  the bulk of its own medium, the bulk solved on the same grid spacing with the same node
  placement, so that the discretisation of the source cancels to leading order;
* ``collection_efficiency`` — power into the objective's cone (NA, in the top medium)
  from the plane transform (:mod:`.farfield`) relative to the total power of the dipole;
* ``radiated_to_top`` — power radiated into the whole top half-space (the cone NA = n_top
  of the plane transform) relative to the total power (the Poynting flux through the
  finite plane would also count the evanescent tails of guided modes, which carry power
  sideways above the plane);
* the far-field pattern dP/dΩ(θ) in the top medium per total power.

``iso`` mixes (2X_h + X_v)/3 of the powers like :mod:`qlight.photonics.planar`.

The domain: the structure out to its outermost feature plus ``margin_nm`` (default 1.5 λ)
in r, from the lowest interface (or the emitter) minus ``margin_below_nm`` to the plane
``plane_above_nm`` above the highest surface plus a gap, each closed by a PML of
``pml_nm`` (default 0.8 λ).
"""

from __future__ import annotations

import functools
import math
import time
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from qlight.errors import ParameterError
from qlight.photonics.fdfd.farfield import plane_spectrum
from qlight.photonics.fdfd.grid import BorGrid, make_grid
from qlight.photonics.fdfd.solve import BorSolution, solve_dipole
from qlight.photonics.fdfd.source import axis_dipole
from qlight.photonics.layers import Layer
from qlight.photonics.materials import Material
from qlight.photonics.structures import AxisymmetricStructure

__all__ = ["AxisymmetricEmission", "OrientationResult", "axisymmetric_emission", "bulk_power"]

F64 = NDArray[np.float64]
Dipole = Literal["h", "v", "iso"]


@dataclass(frozen=True)
class OrientationResult:
    """Powers of one orientation (per bulk power of the same dipole)."""

    orientation: str
    purcell: float
    top: float
    na_power: float
    theta_rad: F64 = field(repr=False)
    pattern_per_bulk: F64 = field(repr=False)
    n_unknowns: int = 0
    seconds: float = 0.0


@dataclass(frozen=True)
class AxisymmetricEmission:
    """Result of :func:`axisymmetric_emission` (all powers per bulk power)."""

    wavelength_nm: float
    na: float
    resolution_nm: float
    results: dict[str, OrientationResult]

    def _mix(self, attr: str, dipole: Dipole) -> float:
        if dipole == "iso":
            h = getattr(self.results["h"], attr)
            v = getattr(self.results["v"], attr)
            return float((2.0 * h + v) / 3.0)
        return float(getattr(self.results[dipole], attr))

    def purcell(self, dipole: Dipole = "h") -> float:
        """Total power relative to the bulk dipole."""
        return self._mix("purcell", dipole)

    def collection_efficiency(self, dipole: Dipole = "h") -> float:
        """Fraction of the emitted power inside the NA."""
        return self._mix("na_power", dipole) / self._mix("purcell", dipole)

    def radiated_to_top(self, dipole: Dipole = "h") -> float:
        """Fraction of the emitted power crossing the plane above the structure."""
        return self._mix("top", dipole) / self._mix("purcell", dipole)

    @property
    def seconds(self) -> float:
        """Wall time of all solves."""
        return sum(r.seconds for r in self.results.values())

    def summary(self, dipole: Dipole = "h") -> dict[str, float | str]:
        """Flat dictionary for the CLI and docs."""
        return {
            "dipole": dipole,
            "wavelength_nm": self.wavelength_nm,
            "na": self.na,
            "resolution_nm": self.resolution_nm,
            "purcell": self.purcell(dipole),
            "collection_efficiency": self.collection_efficiency(dipole),
            "radiated_to_top": self.radiated_to_top(dipole),
            "seconds": self.seconds,
        }


def _bulk_structure(mat: Material) -> AxisymmetricStructure:
    return AxisymmetricStructure((Layer(mat), Layer(mat)), (), 0.0)


@functools.lru_cache(maxsize=32)
def bulk_power(
    mat: Material,
    wavelength_nm: float,
    resolution_nm: float,
    orientation: str,
    pml_nm: float,
    solver: str = "auto",
) -> float:
    """Source power of the dipole in the bulk of ``mat`` on a grid of the same spacing.

    The bulk is a cylinder of radius and half-height max(0.5 λ/n, 8 cells) in a PML of
    ``pml_nm``; cached.
    """
    n = mat.n(wavelength_nm).real
    half = max(0.5 * wavelength_nm / n, 8 * resolution_nm)
    grid = make_grid(
        wavelength_nm=wavelength_nm,
        resolution_nm=resolution_nm,
        r_max_nm=half,
        z_lo_nm=-half,
        z_hi_nm=half,
        anchor_z_nm=0.0,
        anchor_half=orientation == "v",
        pml_nm=pml_nm,
    )
    s = _bulk_structure(mat)
    return solve_dipole(s, grid, axis_dipole(grid, orientation, 0.0), solver=solver).source_power


def _grid_for(
    s: AxisymmetricStructure,
    wavelength_nm: float,
    resolution_nm: float,
    orientation: str,
    r_max_nm: float,
    margin_below_nm: float,
    plane_above_nm: float,
    pml_nm: float,
) -> tuple[BorGrid, float]:
    z_lo = min(s.z_bottom_nm, s.emitter_z_nm) - margin_below_nm
    z_plane = max(s.top_feature_nm, s.emitter_z_nm) + plane_above_nm
    z_hi = z_plane + max(4 * resolution_nm, 0.1 * wavelength_nm)
    grid = make_grid(
        wavelength_nm=wavelength_nm,
        resolution_nm=resolution_nm,
        r_max_nm=r_max_nm,
        z_lo_nm=z_lo,
        z_hi_nm=z_hi,
        anchor_z_nm=s.emitter_z_nm,
        anchor_half=orientation == "v",
        pml_nm=pml_nm,
    )
    return grid, z_plane


def axisymmetric_emission(
    structure: AxisymmetricStructure,
    wavelength_nm: float,
    *,
    na: float = 0.9,
    resolution_nm: float = 10.0,
    orientations: tuple[str, ...] = ("h", "v"),
    r_max_nm: float | None = None,
    margin_nm: float | None = None,
    margin_below_nm: float | None = None,
    plane_above_nm: float | None = None,
    pml_nm: float | None = None,
    solver: str = "auto",
) -> AxisymmetricEmission:
    """Purcell factor, collection into ``na`` and far field of an on-axis dipole (FDFD).

    ``solver`` picks the sparse backend (:func:`~qlight.photonics.fdfd.solve.solve_dipole`):
    ``"auto"`` (MKL PARDISO when installed, else SuperLU), ``"pardiso"`` or ``"superlu"``.

    Raises
    ------
    ParameterError
        For an NA above the top medium's index, an absorbing top medium or emitter medium,
        a resolution that does not resolve the wavelength in the densest medium (< 8 cells
        per wavelength) or the thinnest layer (< 2 cells).
    """
    lam = wavelength_nm
    if not (math.isfinite(lam) and lam > 0):
        raise ParameterError("wavelength_nm", lam, "must be finite and > 0")
    top = structure.layers[0].material
    n_top_c = top.n(lam)
    emitter = structure.emitter_material
    n_em = emitter.n(lam)
    if abs(n_top_c.imag) > 1e-12:
        raise ParameterError("top medium", top.name, "must be lossless (the objective is there)")
    if abs(n_em.imag) > 1e-12:
        raise ParameterError("emitter medium", emitter.name, "must be lossless")
    n_top = n_top_c.real
    if not (0.0 < na <= n_top):
        raise ParameterError("na", na, f"must be in (0, {n_top:g}] (top medium index)")
    n_max = max(abs(layer.material.n(lam)) for layer in structure.layers)
    n_max = max([n_max] + [abs(f.material.n(lam)) for f in structure.features])
    if not (math.isfinite(resolution_nm) and 0 < resolution_nm <= lam / (8.0 * n_max)):
        raise ParameterError(
            "resolution_nm",
            resolution_nm,
            f"must be in (0, {lam / (8.0 * n_max):.3g}] nm (8 cells per wavelength in the"
            " densest medium)",
        )
    thin = [layer.thickness_nm for layer in structure.layers[1:-1] if layer.thickness_nm]
    if thin and min(thin) < 2 * resolution_nm:
        raise ParameterError(
            "resolution_nm", resolution_nm, f"must resolve the {min(thin):g} nm layer (2 cells)"
        )
    pml = 0.8 * lam if pml_nm is None else pml_nm
    margin = 1.5 * lam if margin_nm is None else margin_nm
    rmax = structure.max_feature_radius_nm + margin if r_max_nm is None else r_max_nm
    below = 0.5 * lam if margin_below_nm is None else margin_below_nm
    above = max(3 * resolution_nm, 0.25 * lam) if plane_above_nm is None else plane_above_nm
    results: dict[str, OrientationResult] = {}
    for o in orientations:
        t0 = time.perf_counter()
        grid, z_plane = _grid_for(structure, lam, resolution_nm, o, rmax, below, above, pml)
        sol: BorSolution = solve_dipole(
            structure, grid, axis_dipole(grid, o, structure.emitter_z_nm), solver=solver
        )
        p_bulk = bulk_power(emitter, lam, resolution_nm, o, pml, solver)
        spec = plane_spectrum(sol, z_plane, n_top)
        theta, pattern = spec.pattern()
        results[o] = OrientationResult(
            o,
            sol.source_power / p_bulk,
            spec.power_into_na(n_top) / p_bulk,
            spec.power_into_na(na) / p_bulk,
            theta,
            pattern / p_bulk,
            sol.n_unknowns,
            time.perf_counter() - t0,
        )
    return AxisymmetricEmission(lam, na, resolution_nm, results)


def convergence_study(
    structure: AxisymmetricStructure,
    wavelength_nm: float,
    resolutions_nm: tuple[float, ...],
    *,
    na: float = 0.9,
    orientations: tuple[str, ...] = ("h", "v"),
    r_max_nm: float | None = None,
    pml_nm: float | None = None,
) -> list[AxisymmetricEmission]:
    """:func:`axisymmetric_emission` at each resolution (coarse to fine), same domain."""
    return [
        axisymmetric_emission(
            structure,
            wavelength_nm,
            na=na,
            resolution_nm=h,
            orientations=orientations,
            r_max_nm=r_max_nm,
            pml_nm=pml_nm,
        )
        for h in resolutions_nm
    ]
