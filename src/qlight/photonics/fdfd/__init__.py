"""Axisymmetric (body-of-revolution) finite-difference frequency-domain solver.

Issue 10: the emission of a dipole on the axis of a circular structure (pillar, bullseye,
planar stack), solved per azimuthal order on an (r, z) staggered grid with PMLs; Purcell
factor, collection into an NA and far field. See docs/photonics-fdfd.md.

* :mod:`.grid` — the staggered (r, z) grid and the PML stretching;
* :mod:`.operator` — the sparse Maxwell operator of order m, axis conditions, ε smoothing;
* :mod:`.source` — on-axis dipoles (h: m = +1, v: m = 0);
* :mod:`.solve` — direct sparse solve, fields, source power, Poynting fluxes;
* :mod:`.ordering` — geometric nested-dissection ordering for SuperLU;
* :mod:`.pardiso` — optional MKL PARDISO fast path;
* :mod:`.farfield` — plane-to-far-field transform, power into an NA, pattern;
* :mod:`.results` — :func:`axisymmetric_emission` and convergence studies.
"""

from qlight.photonics.fdfd.farfield import PlaneSpectrum, plane_spectrum
from qlight.photonics.fdfd.grid import BorGrid, make_grid
from qlight.photonics.fdfd.operator import BorOperator, assemble, component_epsilon
from qlight.photonics.fdfd.ordering import grid_coordinates, nested_dissection
from qlight.photonics.fdfd.pardiso import pardiso_available
from qlight.photonics.fdfd.results import (
    AxisymmetricEmission,
    OrientationResult,
    axisymmetric_emission,
    bulk_power,
    convergence_study,
)
from qlight.photonics.fdfd.solve import BorSolution, solve_dipole
from qlight.photonics.fdfd.source import AxisDipole, axis_dipole

__all__ = [
    "AxisDipole",
    "AxisymmetricEmission",
    "BorGrid",
    "BorOperator",
    "BorSolution",
    "OrientationResult",
    "PlaneSpectrum",
    "assemble",
    "axis_dipole",
    "axisymmetric_emission",
    "bulk_power",
    "component_epsilon",
    "convergence_study",
    "grid_coordinates",
    "make_grid",
    "nested_dissection",
    "pardiso_available",
    "plane_spectrum",
    "solve_dipole",
]
