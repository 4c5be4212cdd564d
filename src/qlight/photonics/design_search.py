"""Bullseye optimisation for a wavelength and NA (geometry: :mod:`qlight.photonics.design`).

Method (efficient sweeps, no adjoint):

1. **Initial guess** from the membrane's TE₀ effective index n_eff (exact planar solver,
   :func:`qlight.photonics.modes.guided_modes`): Λ = λ/n_eff, w = 0.3 Λ,
   R₀ = 1.25 λ/n_eff, etch through (Davanco et al.), spacer for in-phase mirror reflection
   (:func:`initial_design`).
2. **Bounded Nelder–Mead** (``scipy.optimize.minimize``; Gao & Han, Comput. Optim. Appl.
   51, 259 (2012) adaptive parameters) over the free parameters, mapped to the unit box,
   each evaluation one axisymmetric FDFD solve of the in-plane dipole (m = +1,
   :func:`qlight.photonics.fdfd.axisymmetric_emission`) at the coarse ``search_resolution_nm``.
   Merit (maximised): η − p·max(0, 1 − F_P/F_target), η the fraction of the emitted power
   into the NA, F_P the Purcell factor, p = ``purcell_weight``.
3. **Ring count**: the optimum re-evaluated with fewer and more rings; the smallest count
   within 0.5 % of the best merit is kept (fewer rings: a smaller footprint).
4. **Refinement**: the same Nelder–Mead restarted from that optimum at the finer
   ``refine_resolution_nm`` (10 nm) on all free parameters (``refine_free``) with a simplex
   of 10 % of each range. The Purcell factor is a cavity resonance: on the coarse search grid
   it is off by up to 2× (docs/photonics-design.md), so the search finds the
   high-collection basin and the refinement, on a grid that places the resonance within a
   few nm, finds the cavity.
5. **Resonance centring** at ``final_resolution_nm`` (7.5 nm, :func:`_center_resonance`):
   the merit saturates at F_target, which leaves the design on the flank of a narrow
   resonance (quality factor ≈ 120 at 650 nm); scanning a common scale of the lateral
   geometry puts the resonance on the target wavelength, where F_P is largest and least
   sensitive to the grid and the geometry. Then the final design is evaluated at
   ``final_resolution_nm`` (both orientations) and, as a convergence check, at the search
   and refinement resolutions too (:class:`DesignResult.convergence`).

In-plane dipoles are the target (GaN defect emitters have dipoles nearly perpendicular to
the c axis, REFERENCES.md); ``iso`` values are reported at the final resolution.
Simplifications: the emitter is on the axis at mid-membrane; the grating is uniform
(one period and trench width for all rings); the coarse search resolution shifts
resonances by a few nm, which the refinement step corrects only locally.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import minimize

from qlight.errors import ParameterError
from qlight.photonics.design import (
    BullseyeDesign,
    DesignResult,
    evaluate_design,
    initial_design,
    scale_lateral,
)
from qlight.photonics.materials import material

__all__ = [
    "CENTER_POINTS",
    "CENTER_SPAN",
    "FREE_PARAMETERS",
    "PURCELL_TARGET",
    "optimize_bullseye",
    "planned_solves",
]

F64 = NDArray[np.float64]
ProgressFn = Callable[[float], None]

#: Default F_target of the merit: above the issue's goal of 5 so that the design keeps
#: F_P >= 5 through the remaining grid error (a few per cent at 10 nm, docs/photonics-design.md)
#: and small fabrication errors of the resonance.
PURCELL_TARGET = 8.0

#: Resonance centring (step 5): lateral scales over 1 ± CENTER_SPAN on CENTER_POINTS points,
#: twice (the second time around the best); the collection may lose at most _CENTER_ETA_LOSS.
CENTER_SPAN = 0.02
CENTER_POINTS = 9
_CENTER_ETA_LOSS = 0.02

#: Parameters the optimiser may vary (``etch_fraction``: etch depth / membrane thickness).
FREE_PARAMETERS = (
    "period_nm",
    "trench_fraction",
    "disc_radius_nm",
    "etch_fraction",
    "membrane_nm",
    "spacer_nm",
)


@dataclass
class _Box:
    """Maps the free parameters to the unit box and back (bounds in physical units)."""

    names: tuple[str, ...]
    lo: F64
    hi: F64
    base: BullseyeDesign

    def to_unit(self, values: F64) -> F64:
        return np.asarray((values - self.lo) / (self.hi - self.lo), dtype=np.float64)

    def values(self, d: BullseyeDesign) -> F64:
        return np.array([_get(d, n) for n in self.names], dtype=np.float64)

    def design(self, u: F64) -> BullseyeDesign:
        x = self.lo + np.clip(u, 0.0, 1.0) * (self.hi - self.lo)
        d = self.base
        for name, value in zip(self.names, x, strict=True):
            d = _set(d, name, float(value))
        return d


def _get(d: BullseyeDesign, name: str) -> float:
    if name == "trench_fraction":
        return d.trench_nm / d.period_nm
    if name == "etch_fraction":
        return d.etch_nm / d.membrane_nm
    return float(getattr(d, name))


def _set(d: BullseyeDesign, name: str, value: float) -> BullseyeDesign:
    # fractions keep the trench inside the period and the etch inside the membrane
    tf, ef = _get(d, "trench_fraction"), _get(d, "etch_fraction")
    if name == "trench_fraction":
        return replace(d, trench_nm=round(value * d.period_nm, 1))
    if name == "etch_fraction":
        return replace(d, etch_nm=round(value * d.membrane_nm, 1))
    changes: dict[str, Any] = {name: round(value, 1)}
    d = replace(d, **changes)
    if name == "period_nm":
        d = replace(d, trench_nm=round(tf * d.period_nm, 1))
    if name == "membrane_nm":
        d = replace(d, etch_nm=round(min(1.0, ef) * d.membrane_nm, 1))
    return d


def _bounds(name: str, d: BullseyeDesign, h: float) -> tuple[float, float]:
    lam = d.wavelength_nm
    table = {
        "period_nm": (0.7 * d.period_nm, 1.3 * d.period_nm),
        "trench_fraction": (0.12, 0.6),
        "disc_radius_nm": (0.3 * d.disc_radius_nm, 2.0 * d.disc_radius_nm),
        "etch_fraction": (0.4, 1.0),
        "membrane_nm": (max(3.0 * h, 0.5 * d.membrane_nm), 1.6 * d.membrane_nm),
        "spacer_nm": (3.0 * h, 0.75 * lam),
    }
    return table[name]


def _check_resolution(d: BullseyeDesign, h: float) -> None:
    """The grid checks of ``axisymmetric_emission`` up front (8 cells per wavelength in the
    densest medium, 2 per layer), so that a too coarse grid fails before any solve."""
    names = [d.membrane, "air"] + ([d.spacer] if d.spacer_nm > 0 else [])
    names += [d.reflector] if d.reflector else []
    n_max = max(abs(material(n).n(d.wavelength_nm)) for n in names)
    limit = d.wavelength_nm / (8.0 * n_max)
    if not (math.isfinite(h) and 0 < h <= limit):
        raise ParameterError(
            "resolution_nm", h, f"must be in (0, {limit:.3g}] nm (8 cells per wavelength)"
        )
    thinnest = min([d.membrane_nm] + ([d.spacer_nm] if d.spacer_nm > 0 else []))
    if thinnest < 2 * h:
        raise ParameterError("resolution_nm", h, f"must resolve the {thinnest:g} nm layer")


def planned_solves(
    max_evaluations: int,
    refine_evaluations: int,
    n_ring_candidates: int,
    refine: bool,
    center_points: int = 0,
) -> int:
    """Upper bound of the solver calls of :func:`optimize_bullseye` (progress bars;
    ``center_points``: 0 when the centring is skipped)."""
    center = 1 + center_points + center_points // 2 + 1 if center_points else 0
    refined = refine_evaluations if refine else 0
    return 1 + max_evaluations + n_ring_candidates + refined + center + 1


def _center_resonance(
    d: BullseyeDesign,
    score: Callable[[BullseyeDesign], tuple[float, float, float]],
    span: float,
    points: int,
) -> BullseyeDesign:
    """Step 5: move the cavity resonance onto the target wavelength.

    The merit saturates at F_target, so the refinement stops on the resonance's flank, where
    F_P changes fastest with the geometry and the grid (measured: a 0.5 % lateral scale
    moved F_P from 6.0 to 13.9). Scaling the lateral geometry by s shifts the resonance by
    ≈ s·λ; the scale with the largest F_P among those keeping the collection within
    ``_CENTER_ETA_LOSS`` of the start's is taken: first on ``points`` scales over 1 ± span,
    then on ``points // 2 + 1`` scales over ± one step around the best. Returns ``d``
    unchanged when no scale beats it.
    """
    _, c0, best_p = score(d)
    best_s = 1.0
    step = 2.0 * span / (points - 1)
    stages = (np.linspace(-span, span, points), np.linspace(-step, step, points // 2 + 1))
    for k, offsets in enumerate(stages):
        centre = 1.0 if k == 0 else best_s
        for off in offsets:
            _, c, p = score(scale_lateral(d, float(centre + off)))
            if c >= c0 - _CENTER_ETA_LOSS and p > best_p:
                best_s, best_p = float(centre + off), p
    return scale_lateral(d, best_s) if best_s != 1.0 else d


def _ring_candidates(n_rings: int, given: tuple[int, ...] | None) -> tuple[int, ...]:
    if given is not None:
        return given
    return tuple(k for k in (n_rings - 4, n_rings - 2, n_rings, n_rings + 2) if k >= 1)


def optimize_bullseye(
    wavelength_nm: float,
    na: float,
    *,
    membrane_nm: float = 160.0,
    free: tuple[str, ...] = FREE_PARAMETERS,
    n_rings: int = 10,
    ring_candidates: tuple[int, ...] | None = None,
    spacer: str = "air",
    reflector: str | None = "Au",
    purcell_target: float = PURCELL_TARGET,
    purcell_weight: float = 0.5,
    search_resolution_nm: float = 20.0,
    refine_resolution_nm: float | None = 10.0,
    final_resolution_nm: float = 7.5,
    max_evaluations: int = 120,
    refine_evaluations: int = 60,
    refine_free: tuple[str, ...] | None = None,
    refine_step: float = 0.1,
    center_span: float = CENTER_SPAN,
    center_points: int = CENTER_POINTS,
    start: BullseyeDesign | None = None,
    progress: ProgressFn | None = None,
    domain: Mapping[str, float] | None = None,
) -> DesignResult:
    """Optimise a bullseye for ``wavelength_nm`` and ``na`` (module docstring: the method).

    Parameters
    ----------
    wavelength_nm, na : float
        Target emission wavelength and the objective's numerical aperture (in air).
    membrane_nm : float
        Starting membrane thickness (varied when ``"membrane_nm"`` is in ``free``).
    free : tuple of str
        Parameters to optimise (subset of :data:`FREE_PARAMETERS`).
    n_rings : int
        Rings of the search; ``ring_candidates`` (default n−4, n−2, n, n+2) are compared
        at the optimum (step 3). An empty tuple skips that step.
    purcell_target, purcell_weight : float
        Penalty p·max(0, 1 − F_P/target) subtracted from the collection efficiency.
    search_resolution_nm, refine_resolution_nm, final_resolution_nm : float
        Grid spacings of the search, the refinement (``None``: skipped) and the reported
        evaluation.
    max_evaluations, refine_evaluations : int
        Solver calls allowed to each Nelder–Mead stage.
    refine_free : tuple of str, optional
        Parameters of the refinement (default: all of ``free``).
    refine_step : float
        Initial simplex size of the refinement, as a fraction of each parameter's range.
    center_span, center_points : float, int
        Resonance centring (step 5): lateral scales 1 ± ``center_span`` on
        ``center_points`` points, then a scan at a quarter of the step around the best;
        ``center_span = 0`` skips it.
    start : BullseyeDesign, optional
        Starting geometry (default :func:`initial_design`).
    domain : mapping, optional
        Domain settings for every solve (:func:`evaluate_design`).
    progress : callable, optional
        Called with the number of solves just completed (for a progress bar; the total is
        at most :func:`planned_solves`).

    Raises
    ------
    ParameterError
        Unknown free parameter, an NA above 1, a membrane guiding no TE mode, resolutions
        out of order or too coarse for the wavelength (see ``axisymmetric_emission``).
    """
    unknown = [f for f in free if f not in FREE_PARAMETERS]
    if unknown:
        raise ParameterError("free", unknown, f"must be among {', '.join(FREE_PARAMETERS)}")
    if not (0.0 < na <= 1.0):
        raise ParameterError("na", na, "must be in (0, 1] (objective in air)")
    if not (isinstance(n_rings, int) and 1 <= n_rings <= 60):
        raise ParameterError("n_rings", n_rings, "must be an integer in [1, 60]")
    if not (0 < final_resolution_nm <= search_resolution_nm):
        raise ParameterError(
            "final_resolution_nm", final_resolution_nm, "must be in (0, search_resolution_nm]"
        )
    if refine_free is not None and set(refine_free) - set(FREE_PARAMETERS):
        raise ParameterError("refine_free", refine_free, "must be among the free parameters")
    if not (0.0 <= center_span <= 0.1) or not (
        isinstance(center_points, int) and center_points >= 3
    ):
        raise ParameterError(
            "center_span", (center_span, center_points), "need span in [0, 0.1], >= 3 points"
        )
    if not (0.0 < refine_step <= 0.5):
        raise ParameterError("refine_step", refine_step, "must be in (0, 0.5]")
    if purcell_target <= 0 or purcell_weight < 0:
        raise ParameterError(
            "purcell_target", (purcell_target, purcell_weight), "need target > 0, weight >= 0"
        )
    t0 = time.perf_counter()
    base = start or initial_design(
        wavelength_nm,
        membrane_nm=membrane_nm,
        n_rings=n_rings,
        spacer=spacer,
        reflector=reflector,
    )
    if base.reflector is None:  # no mirror: the spacer is the semi-infinite bottom
        free = tuple(f for f in free if f != "spacer_nm")
    for h in (search_resolution_nm, refine_resolution_nm, final_resolution_nm):
        if h is not None:
            _check_resolution(base, h)
    tick: ProgressFn = progress or (lambda _n: None)
    history: list[tuple[float, float]] = []
    cache: dict[tuple[Any, ...], tuple[float, float, float]] = {}

    def score(d: BullseyeDesign, h: float) -> tuple[float, float, float]:
        """(merit, collection, Purcell) of the in-plane dipole, cached by geometry."""
        key = (h, *asdict(d).values())
        if key not in cache:
            try:
                em = evaluate_design(d, na, h, domain=domain)
                c, p = em.collection_efficiency("h"), em.purcell("h")
                m = c - purcell_weight * max(0.0, 1.0 - p / purcell_target)
                cache[key] = (m, c, p)
            except ParameterError:  # geometry the grid cannot resolve: outside the domain
                cache[key] = (-1.0, 0.0, 0.0)
            history.append((h, cache[key][0]))
            tick(1)
        return cache[key]

    def merit(d: BullseyeDesign, h: float) -> float:
        return score(d, h)[0]

    def nelder_mead(
        d0: BullseyeDesign, names: tuple[str, ...], h: float, budget: int, step: float
    ) -> BullseyeDesign:
        if not names or budget <= 0:
            return d0
        lo = np.array([_bounds(n, base, search_resolution_nm)[0] for n in names])
        hi = np.array([_bounds(n, base, search_resolution_nm)[1] for n in names])
        box = _Box(names, lo, hi, d0)
        u0 = np.clip(box.to_unit(box.values(d0)), 0.0, 1.0)
        simplex = np.vstack([u0] + [u0 + step * np.eye(len(names))[k] for k in range(len(names))])
        simplex = np.where(simplex > 1.0, simplex - 2 * step, simplex)
        seen: list[tuple[float, BullseyeDesign]] = []

        def cost(u: F64) -> float:
            d = box.design(np.asarray(u, dtype=np.float64))
            seen.append((merit(d, h), d))
            return -seen[-1][0]

        # the best design evaluated, not res.x: when maxfev stops an iteration midway,
        # scipy's returned vertex need not be the best one seen
        minimize(
            cost,
            u0,
            method="Nelder-Mead",
            bounds=[(0.0, 1.0)] * len(names),
            options={
                "maxfev": budget,
                "initial_simplex": simplex,
                "xatol": 2e-3,
                "fatol": 1e-3,
                "adaptive": True,
            },
        )
        return max(seen, key=lambda t: t[0])[1] if seen else d0

    m0 = merit(base, search_resolution_nm)
    best = nelder_mead(base, tuple(free), search_resolution_nm, max_evaluations, 0.15)
    candidates = _ring_candidates(n_rings, ring_candidates)
    if candidates:
        scored = [(merit(replace(best, n_rings=k), search_resolution_nm), k) for k in candidates]
        top = max(s for s, _ in scored)
        best = replace(best, n_rings=min(k for s, k in scored if s >= top - 0.005))
    if refine_resolution_nm is not None:
        local = tuple(n for n in (free if refine_free is None else refine_free) if n in free)
        best = nelder_mead(best, local, refine_resolution_nm, refine_evaluations, refine_step)
    if center_span > 0:
        best = _center_resonance(
            best, lambda d: score(d, final_resolution_nm), center_span, center_points
        )
    final = evaluate_design(best, na, final_resolution_nm, ("h", "v"), domain)
    tick(1)
    conv = []
    for h in sorted({search_resolution_nm, refine_resolution_nm or search_resolution_nm}):
        if h == final_resolution_nm:
            continue
        em = evaluate_design(best, na, h, domain=domain)
        conv.append((h, em.purcell("h"), em.collection_efficiency("h")))
    conv.append((final_resolution_nm, final.purcell("h"), final.collection_efficiency("h")))
    return DesignResult(
        design=best,
        na=na,
        emission=final,
        search_resolution_nm=search_resolution_nm,
        final_resolution_nm=final_resolution_nm,
        n_evaluations=len(history),
        seconds=time.perf_counter() - t0,
        convergence=tuple(sorted(conv, reverse=True)),
        history=tuple(history),
        initial_merit=m0,
    )
