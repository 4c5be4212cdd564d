"""Planar collection efficiencies in the form the twin uses (issue 10: results feed the twin).

The twin (:mod:`qlight.physics.optics`) models the collected fraction of an emitter whose
dipole makes the polar angle θ with the surface normal as sin²θ·η_h + cos²θ·η_v, with
(η_h, η_v) of a deep dipole under flat GaN (REFERENCES.md), times the emitter's
``collection_factor``. :func:`collection_efficiency_table` computes, for any stack, the
exact collected fraction of such a dipole,

    η(θ) = (sin²θ·C_h + cos²θ·C_v) / (sin²θ·P_h + cos²θ·P_v),

with C the power into the NA and P the total power, both per bulk power
(:func:`qlight.photonics.planar.planar_emission`), and its Purcell factor. To feed a twin
emitter at a structure site, set its ``collection_factor`` to
``table.factor_vs_twin(θ)`` = η(θ) / (sin²θ·η_h,twin + cos²θ·η_v,twin), computed with the
twin's own (η_h, η_v); the twin itself is unchanged (docs/photonics.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from qlight.errors import ParameterError
from qlight.photonics.layers import Stack
from qlight.photonics.planar import PlanarEmission, planar_emission

__all__ = ["CollectionTable", "collection_efficiency_table"]

F64 = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class CollectionTable:
    """Collected fraction and Purcell factor versus dipole polar angle for one stack and NA."""

    polar_rad: F64
    collection_efficiency: F64
    purcell: F64
    emission: PlanarEmission

    def factor_vs_twin(self, eta_h_twin: float, eta_v_twin: float) -> F64:
        """The twin's ``collection_factor`` that reproduces this stack at each polar angle."""
        s2 = np.sin(self.polar_rad) ** 2
        twin = s2 * eta_h_twin + (1.0 - s2) * eta_v_twin
        if np.any(twin <= 0.0):
            raise ParameterError("eta_twin", (eta_h_twin, eta_v_twin), "must be > 0")
        result: F64 = self.collection_efficiency / twin
        return result


def collection_efficiency_table(
    stack: Stack, wavelength_nm: float, na: float, polar_rad: ArrayLike
) -> CollectionTable:
    """Exact planar collection efficiency η(θ) and Purcell factor at dipole polar angles θ.

    Examples
    --------
    >>> from qlight.photonics.layers import parse_stack
    >>> t = collection_efficiency_table(parse_stack("air/n=2.4@1000"), 650.0, 0.9, [1.5708])
    >>> round(float(t.emission.na_h), 5)
    0.04298
    """
    theta = np.atleast_1d(np.asarray(polar_rad, dtype=np.float64))
    if theta.ndim != 1 or not np.all(np.isfinite(theta)):
        raise ParameterError("polar_rad", polar_rad, "must be a finite 1-D array of angles")
    res = planar_emission(stack, wavelength_nm, na=na)
    s2 = np.sin(theta) ** 2
    total = s2 * res.total_h + (1.0 - s2) * res.total_v
    collected = s2 * res.na_h + (1.0 - s2) * res.na_v
    return CollectionTable(theta, collected / total, total, res)
