"""Bullseye (circular Bragg grating) design: the geometry, design rules and one evaluation.

A bullseye in a membrane (:func:`qlight.photonics.structures.bullseye`) funnels the light of
an in-plane dipole on its axis into a narrow upward beam: the trenches form a radial Bragg
reflector that confines the membrane's TE₀ mode around the central disc (a cavity: the
Purcell factor) and, being a *second-order* grating, scatter it vertically; a bottom mirror
below a spacer sends the downward half back up (Davanco et al., APL 99, 041102 (2011);
the "hybrid" grating on a gold mirror: Liu et al., Nat. Nanotechnol. 14, 586 (2019)).

This module holds the geometry (:class:`BullseyeDesign`), the design rules
(:func:`initial_design`), one evaluation (:func:`evaluate_design`) and the result type;
the optimiser is :mod:`qlight.photonics.design_search`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from qlight.errors import ParameterError
from qlight.photonics.fdfd.results import AxisymmetricEmission, axisymmetric_emission
from qlight.photonics.layers import parse_stack
from qlight.photonics.materials import material
from qlight.photonics.modes import guided_modes
from qlight.photonics.structures import AxisymmetricStructure, bullseye

__all__ = [
    "BullseyeDesign",
    "DesignResult",
    "evaluate_design",
    "far_field_summary",
    "initial_design",
    "scale_lateral",
]

F64 = NDArray[np.float64]


@dataclass(frozen=True)
class BullseyeDesign:
    """A bullseye geometry (lengths in nm) for one wavelength (see :func:`bullseye`)."""

    wavelength_nm: float
    membrane_nm: float
    period_nm: float
    trench_nm: float
    disc_radius_nm: float
    n_rings: int
    etch_nm: float
    spacer_nm: float
    spacer: str = "air"
    reflector: str | None = "Au"
    membrane: str = "GaN"

    def structure(self) -> AxisymmetricStructure:
        """The axisymmetric structure (emitter on the axis at mid-membrane)."""
        return bullseye(
            membrane_nm=self.membrane_nm,
            period_nm=self.period_nm,
            trench_nm=self.trench_nm,
            disc_radius_nm=self.disc_radius_nm,
            n_rings=self.n_rings,
            etch_nm=self.etch_nm,
            spacer_nm=self.spacer_nm,
            spacer=self.spacer,
            reflector=self.reflector,
            membrane=self.membrane,
        )

    def ring_radii_nm(self) -> F64:
        """(inner, outer) radius of each trench, shape (n_rings, 2)."""
        k = np.arange(self.n_rings, dtype=np.float64)
        inner = self.disc_radius_nm + k * self.period_nm
        return np.column_stack([inner, inner + self.trench_nm])

    @property
    def outer_radius_nm(self) -> float:
        """Radius of the outermost trench edge (the disc radius without rings)."""
        if self.n_rings == 0:
            return self.disc_radius_nm
        return self.disc_radius_nm + (self.n_rings - 1) * self.period_nm + self.trench_nm

    def to_dict(self) -> dict[str, Any]:
        """Plain dictionary (JSON)."""
        return asdict(self)


@dataclass(frozen=True)
class DesignResult:
    """Outcome of :func:`optimize_bullseye`.

    ``collection_efficiency``/``purcell``/``radiated_to_top`` are the in-plane dipole's at
    ``final_resolution_nm``; ``convergence`` lists (resolution, Purcell, collection) of the
    final design at each resolution evaluated; ``history`` the merit of each evaluation in
    order (resolution, merit).
    """

    design: BullseyeDesign
    na: float
    emission: AxisymmetricEmission
    search_resolution_nm: float
    final_resolution_nm: float
    n_evaluations: int
    seconds: float
    convergence: tuple[tuple[float, float, float], ...]
    history: tuple[tuple[float, float], ...] = field(repr=False)
    initial_merit: float = float("nan")

    @property
    def collection_efficiency(self) -> float:
        """Fraction of the in-plane dipole's power into the NA (final resolution)."""
        return self.emission.collection_efficiency("h")

    @property
    def purcell(self) -> float:
        """Purcell factor of the in-plane dipole (final resolution)."""
        return self.emission.purcell("h")

    def summary(self) -> dict[str, Any]:
        """Flat dictionary for the CLI and docs."""
        em = self.emission
        out: dict[str, Any] = {
            "wavelength_nm": self.design.wavelength_nm,
            "na": self.na,
            "geometry": self.design.to_dict(),
            "collection_efficiency": self.collection_efficiency,
            "purcell": self.purcell,
            "radiated_to_top": em.radiated_to_top("h"),
            "resolution_nm": self.final_resolution_nm,
            "search_resolution_nm": self.search_resolution_nm,
            "n_evaluations": self.n_evaluations,
            "seconds": self.seconds,
            "convergence": [
                {"resolution_nm": h, "purcell": p, "collection_efficiency": c}
                for h, p, c in self.convergence
            ],
            "far_field": far_field_summary(em, "h"),
        }
        if "v" in em.results:
            out["iso"] = {
                "purcell": em.purcell("iso"),
                "collection_efficiency": em.collection_efficiency("iso"),
            }
            out["v"] = {
                "purcell": em.purcell("v"),
                "collection_efficiency": em.collection_efficiency("v"),
            }
        return out


def far_field_summary(em: AxisymmetricEmission, orientation: str = "h") -> dict[str, Any]:
    """Peak angle, half-power cone and a 5° sampled pattern of dP/dΩ in the top medium.

    ``upward_fraction``: ∫ dP/dΩ dΩ over the upper half-space (trapezoid rule), per total
    power; ``half_power_angle_deg``: polar angle of the cone holding half of it;
    ``pattern`` is dP/dΩ per total power, azimuthally averaged, at 0°, 5°, …, 85°.
    """
    r = em.results[orientation]
    theta = np.asarray(r.theta_rad, dtype=np.float64)
    pat = np.asarray(r.pattern_per_bulk, dtype=np.float64) / r.purcell
    dp = 2.0 * math.pi * pat * np.sin(theta)  # dP/dθ
    cum = np.concatenate([[0.0], np.cumsum(0.5 * (dp[1:] + dp[:-1]) * np.diff(theta))])
    half = float(np.interp(0.5 * cum[-1], cum, theta)) if cum[-1] > 0 else float("nan")
    grid = np.radians(np.arange(0.0, 90.0, 5.0))
    return {
        "upward_fraction": float(cum[-1]),
        "peak_angle_deg": float(np.degrees(theta[int(np.argmax(pat))])),
        "half_power_angle_deg": math.degrees(half),
        "angles_deg": np.degrees(grid).tolist(),
        "pattern_per_sr": np.interp(grid, theta, pat).tolist(),
    }


def _te0_index(membrane: str, membrane_nm: float, top: str, wavelength_nm: float) -> float:
    """TE₀ effective index of the free membrane (exact planar solver)."""
    spec = f"{top}/{membrane}:{membrane_nm:.6g}@{membrane_nm / 2:.6g}/{top}"
    modes_te = [
        m.n_eff for m in guided_modes(parse_stack(spec), wavelength_nm) if m.polarization == "TE"
    ]
    if not modes_te:
        raise ParameterError(
            "membrane_nm", membrane_nm, f"guides no TE mode at {wavelength_nm:g} nm"
        )
    return float(max(modes_te))


def initial_design(
    wavelength_nm: float,
    *,
    membrane_nm: float = 160.0,
    n_rings: int = 10,
    spacer: str = "air",
    reflector: str | None = "Au",
    membrane: str = "GaN",
) -> BullseyeDesign:
    """Starting geometry from the usual design rules (module docstring, step 1).

    With n_eff the TE₀ index of the free membrane: period Λ = λ/n_eff (the second-order
    grating of Davanco et al., APL 99, 041102 (2011)), trench w = 0.3 Λ, disc radius
    R₀ = 1.25 λ/n_eff, full etch. Spacer: the mirror image of the in-plane dipole adds in
    phase upwards (metal reflection phase π) when the optical distance from the dipole
    (mid-membrane) to the mirror is an odd multiple of λ/4,
    n_m t_m/2 + n_s t_s = (2k+1) λ/4, with the smallest k giving t_s ≥ λ/(8 n_s).
    """
    if not (math.isfinite(wavelength_nm) and wavelength_nm > 0):
        raise ParameterError("wavelength_nm", wavelength_nm, "must be finite and > 0")
    if not (math.isfinite(membrane_nm) and membrane_nm > 0):
        raise ParameterError("membrane_nm", membrane_nm, "must be finite and > 0")
    n_eff = _te0_index(membrane, membrane_nm, "air", wavelength_nm)
    period = wavelength_nm / n_eff
    spacer_nm = 0.0
    if reflector is not None:
        n_sp = material(spacer).n(wavelength_nm).real
        n_m = material(membrane).n(wavelength_nm).real
        k = 0
        while True:
            spacer_nm = ((2 * k + 1) * wavelength_nm / 4 - n_m * membrane_nm / 2) / n_sp
            if spacer_nm >= wavelength_nm / (8 * n_sp):
                break
            k += 1
    return BullseyeDesign(
        wavelength_nm=wavelength_nm,
        membrane_nm=membrane_nm,
        period_nm=period,
        trench_nm=0.3 * period,
        disc_radius_nm=1.25 * wavelength_nm / n_eff,
        n_rings=n_rings,
        etch_nm=membrane_nm,
        spacer_nm=spacer_nm,
        spacer=spacer,
        reflector=reflector,
        membrane=membrane,
    )


def evaluate_design(
    design: BullseyeDesign,
    na: float,
    resolution_nm: float,
    orientations: tuple[str, ...] = ("h",),
    domain: Mapping[str, float] | None = None,
) -> AxisymmetricEmission:
    """One axisymmetric FDFD solve per orientation of the design's dipole at mid-membrane.

    ``domain`` passes ``margin_nm``, ``margin_below_nm``, ``plane_above_nm``, ``pml_nm`` to
    :func:`~qlight.photonics.fdfd.axisymmetric_emission` (default: its defaults).
    """
    extra = dict(domain or {})
    unknown = set(extra) - {"margin_nm", "margin_below_nm", "plane_above_nm", "pml_nm"}
    if unknown:
        raise ParameterError("domain", sorted(unknown), "are not domain settings")
    return axisymmetric_emission(
        design.structure(),
        design.wavelength_nm,
        na=na,
        resolution_nm=resolution_nm,
        orientations=orientations,
        margin_nm=extra.get("margin_nm"),
        margin_below_nm=extra.get("margin_below_nm"),
        plane_above_nm=extra.get("plane_above_nm"),
        pml_nm=extra.get("pml_nm"),
    )


def scale_lateral(d: BullseyeDesign, scale: float) -> BullseyeDesign:
    """The design with period, trench and disc radius multiplied by ``scale`` (0.1 nm)."""
    return replace(
        d,
        period_nm=round(d.period_nm * scale, 1),
        trench_nm=round(d.trench_nm * scale, 1),
        disc_radius_nm=round(d.disc_radius_nm * scale, 1),
    )
