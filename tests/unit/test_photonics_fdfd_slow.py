"""Axisymmetric FDFD vs the exact planar solver at converged settings (issue 10: 1 %)."""

from __future__ import annotations

import pytest

from qlight.photonics import parse_stack, planar_emission
from qlight.photonics.fdfd import axisymmetric_emission
from qlight.photonics.structures import planar_structure


@pytest.mark.slow
def test_planar_structure_agrees_with_exact_solver_within_one_percent() -> None:
    # Issue 10 "Done when": Purcell factor and collection into NA 0.9 of a dipole 200 nm
    # under flat GaN within 1 % of planar_emission. Grid error ∝ h², aperture error ∝ 1/R;
    # at h = 8 nm, R = 6 µm the convergence table (docs/photonics-fdfd.md) puts every
    # quantity within 1 % (largest: collection h), so 1 % is the criterion, not a fit.
    stack = parse_stack("air/GaN@200")
    exact = planar_emission(stack, 650.0, na=0.9)
    ax = axisymmetric_emission(
        planar_structure(stack), 650.0, na=0.9, resolution_nm=8.0, r_max_nm=6000.0
    )
    for o in ("h", "v"):
        assert ax.purcell(o) == pytest.approx(exact.purcell(o), rel=0.01)  # type: ignore[arg-type]
        assert ax.collection_efficiency(o) == pytest.approx(  # type: ignore[arg-type]
            exact.collection_efficiency(o),  # type: ignore[arg-type]
            rel=0.01,
        )
