"""Axisymmetric FDFD solver: operator, sources, conservation, planar validation (fast)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from tests.naive import fd_curl_e_loops

from qlight.errors import ParameterError
from qlight.photonics import parse_stack, planar_emission
from qlight.photonics.fdfd import (
    assemble,
    axis_dipole,
    axisymmetric_emission,
    make_grid,
    plane_spectrum,
    solve_dipole,
)
from qlight.photonics.layers import Layer
from qlight.photonics.materials import material
from qlight.photonics.structures import (
    AxisymmetricStructure,
    bullseye,
    planar_structure,
)

LAM = 650.0
K0 = 2 * math.pi / LAM


def _bulk(n: float) -> AxisymmetricStructure:
    mat = material(f"n={n}")
    return AxisymmetricStructure((Layer(mat), Layer(mat)), (), 0.0)


def _grid(h: float, half: bool, r_max: float = 300.0, z: float = 300.0) -> object:
    return make_grid(
        wavelength_nm=LAM,
        resolution_nm=h,
        r_max_nm=r_max,
        z_lo_nm=-z,
        z_hi_nm=z,
        anchor_z_nm=0.0,
        anchor_half=half,
        pml_nm=400.0,
    )


# ------------------------------------------------------------------ operator vs loops


@pytest.mark.parametrize("m", [0, 1, 2])
def test_curl_matches_node_by_node_oracle(m: int) -> None:
    # small grid with all three PMLs active; random complex E on every node
    g = make_grid(
        wavelength_nm=LAM,
        resolution_nm=40.0,
        r_max_nm=200.0,
        z_lo_nm=-200.0,
        z_hi_nm=200.0,
        anchor_z_nm=0.0,
        anchor_half=False,
        pml_nm=160.0,
    )
    op = assemble(_bulk(1.5), g, m)
    rng = np.random.default_rng(7)
    shapes = op.e_shapes
    parts = [rng.normal(size=s) + 1j * rng.normal(size=s) for s in shapes]
    if m != 0:  # E_z = 0 on the axis for m ≠ 0 (regularity); E_φ(0) does not enter
        parts[2][0, :] = 0.0
    h = op.curl_e @ np.concatenate([p.ravel() for p in parts])
    hr, hp, hz = fd_curl_e_loops(g, m, parts[0].tolist(), parts[1].tolist(), parts[2].tolist())
    want = np.concatenate([np.array(hr).ravel(), np.array(hp).ravel(), np.array(hz).ravel()])
    # the same arithmetic in another order: agreement to rounding (1e-12 relative)
    np.testing.assert_allclose(h, want, rtol=1e-12, atol=1e-12 * np.abs(want).max())


# ------------------------------------------------------------------ dipole in the bulk


@pytest.mark.parametrize("n", [1.0, 2.38])
@pytest.mark.parametrize("orientation", ["h", "v"])
def test_bulk_dipole_power_matches_larmor(n: float, orientation: str) -> None:
    # A unit current moment radiates n k0² / (12π) per Cartesian component (Jackson §9.2,
    # Z0 = 1). The scheme is second order: the relative error is C (k0 n h)² with C ≈ 0.14
    # measured at h = 10 nm (docs/photonics-fdfd.md); tolerance 0.3 (k0 n h)² (C doubled).
    h = 16.0
    g = _grid(h, orientation == "v")
    d = axis_dipole(g, orientation, 0.0)
    sol = solve_dipole(_bulk(n), g, d)
    p0 = d.n_cartesian * n * K0**2 / (12 * math.pi)
    assert sol.source_power / p0 == pytest.approx(1.0, abs=0.3 * (K0 * n * h) ** 2)


@pytest.mark.parametrize("orientation", ["h", "v"])
def test_energy_conservation_closed_box(orientation: str) -> None:
    # Lossless structure (dipole 100 nm under flat GaN): the Poynting flux out of a closed
    # cylinder around the dipole equals the power it delivers. The flux samples staggered
    # fields averaged over one cell: error C (k0 n h)² with n = 2.38 (GaN); measured
    # C ≈ 0.03 (5.7e-3 at h = 20 nm, 2e-4 in air at 10 nm); tolerance with C = 0.06.
    s = planar_structure(parse_stack("air/GaN@100"))
    g = make_grid(
        wavelength_nm=LAM,
        resolution_nm=20.0,
        r_max_nm=400.0,
        z_lo_nm=-400.0,
        z_hi_nm=200.0,
        anchor_z_nm=-100.0,
        anchor_half=orientation == "v",
        pml_nm=240.0,
    )
    sol = solve_dipole(s, g, axis_dipole(g, orientation, -100.0))
    flux = sol.box_flux(300.0, -350.0, 150.0)
    tol = 0.06 * (K0 * 2.38 * 20.0) ** 2
    assert flux / sol.source_power == pytest.approx(1.0, abs=tol)
    # and a box entirely above the dipole (no source inside) has zero net flux
    empty = sol.box_flux(300.0, 0.0, 150.0)
    assert abs(empty) < tol * sol.source_power


def test_in_plane_dipole_axis_fields_are_regular() -> None:
    # m = +1: on the axis E_φ = i E_r (circular polarisation), set from regularity; the
    # solved E_φ one cell off the axis must agree to O(h²): 1 %.
    g = _grid(10.0, False, r_max=150.0, z=150.0)
    sol = solve_dipole(_bulk(1.0), g, axis_dipole(g, "h", 0.0))
    j = axis_dipole(g, "h", 0.0).j + 12
    assert abs(sol.e_phi[1, j] - 1j * sol.e_r[0, j]) < 0.01 * abs(sol.e_r[0, j])


# --------------------------------------------------------- against the exact planar solver


@pytest.mark.parametrize("spec", ["air/GaN@150", "air/GaN:150@75/SiO2"])
def test_purcell_matches_planar_solver_coarse(spec: str) -> None:
    # Purcell factor = source power / bulk power on the same grid: the source discretisation
    # cancels; measured deviation 0.15–0.25 % at h = 10 nm. Tolerance 1 % (the issue's
    # criterion) at h = 13 nm.
    stack = parse_stack(spec)
    exact = planar_emission(stack, LAM, na=0.9)
    ax = axisymmetric_emission(
        planar_structure(stack), LAM, na=0.9, resolution_nm=13.0, r_max_nm=600.0, pml_nm=350.0
    )
    for o in ("h", "v"):
        assert ax.purcell(o) == pytest.approx(exact.purcell(o), rel=0.01)  # type: ignore[arg-type]


def test_collection_matches_planar_solver_coarse() -> None:
    # Coarse grid, small aperture (1.5 µm): the finite-aperture error of the plane transform
    # falls as 1/R and the grid error as h²; at h = 13 nm, R = 1.5 µm the measured
    # deviation is < 5 % (docs convergence table); the 1 % check at converged settings is
    # the slow test.
    stack = parse_stack("air/GaN@150")
    exact = planar_emission(stack, LAM, na=0.9)
    ax = axisymmetric_emission(
        planar_structure(stack), LAM, na=0.9, resolution_nm=13.0, r_max_nm=1500.0
    )
    assert ax.collection_efficiency("h") == pytest.approx(
        exact.collection_efficiency("h"), rel=0.05
    )
    assert ax.radiated_to_top("h") == pytest.approx(exact.radiated_to_top("h"), rel=0.05)
    theta, pattern = ax.results["h"].theta_rad, ax.results["h"].pattern_per_bulk
    assert theta.shape == pattern.shape
    assert np.all(np.isfinite(pattern))


def test_solve_is_deterministic() -> None:
    s = planar_structure(parse_stack("air/GaN@100"))
    a = axisymmetric_emission(s, LAM, resolution_nm=20.0, r_max_nm=600.0, orientations=("v",))
    b = axisymmetric_emission(s, LAM, resolution_nm=20.0, r_max_nm=600.0, orientations=("v",))
    assert a.purcell("v") == b.purcell("v")
    assert a.collection_efficiency("v") == b.collection_efficiency("v")


# ---------------------------------------------------------------------- structures


def test_bullseye_geometry() -> None:
    s = bullseye(
        membrane_nm=160, period_nm=320, trench_nm=100, disc_radius_nm=400, n_rings=3, etch_nm=80
    )
    assert s.emitter_z_nm == -80.0
    assert s.emitter_material.name == "GaN"
    # trench k from 400 + 320k to 500 + 320k, etched 80 nm from the top
    assert s.material_at(450.0, -40.0).name == "air"
    assert s.material_at(450.0, -120.0).name == "GaN"
    assert s.material_at(550.0, -40.0).name == "GaN"
    assert s.material_at(400.0 + 2 * 320 + 50, -10.0).name == "air"
    assert s.material_at(400.0 + 3 * 320 + 50, -10.0).name == "GaN"
    assert s.material_at(0.0, -170.0).name == "air"  # suspended membrane
    assert s.max_feature_radius_nm == 400 + 2 * 320 + 100
    on_au = bullseye(
        membrane_nm=160,
        period_nm=320,
        trench_nm=100,
        disc_radius_nm=400,
        n_rings=2,
        spacer_nm=200,
        reflector="Au",
    )
    assert [layer.material.name for layer in on_au.layers] == ["air", "GaN", "SiO2", "Au"]
    eps = on_au.epsilon(np.array([0.0, 450.0]), np.array([-80.0, -80.0]), LAM)
    assert eps[0] == pytest.approx(material("GaN").epsilon(LAM))
    assert eps[1] == 1.0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"trench_nm": 400},
        {"n_rings": -1},
        {"etch_nm": 200},
        {"membrane_nm": -5},
        {"spacer_nm": -1},
        {"emitter_depth_nm": 170},
    ],
)
def test_bullseye_rejects_bad_geometry(kwargs: dict[str, float]) -> None:
    base: dict[str, float] = {
        "membrane_nm": 160,
        "period_nm": 320,
        "trench_nm": 100,
        "disc_radius_nm": 400,
        "n_rings": 3,
    }
    base.update(kwargs)
    with pytest.raises(ParameterError):
        bullseye(**base)  # type: ignore[arg-type]


def test_bad_input_is_rejected() -> None:
    s = planar_structure(parse_stack("air/GaN@100"))
    with pytest.raises(ParameterError, match="na"):
        axisymmetric_emission(s, LAM, na=1.2, resolution_nm=20.0)
    with pytest.raises(ParameterError, match="resolution_nm"):
        axisymmetric_emission(s, LAM, resolution_nm=50.0)  # < 8 cells per λ/n in GaN
    with pytest.raises(ParameterError, match="resolution_nm"):
        axisymmetric_emission(
            planar_structure(parse_stack("air/GaN:15@7/SiO2")), LAM, resolution_nm=10.0
        )
    with pytest.raises(ParameterError, match="PEC"):
        AxisymmetricStructure((Layer(material("air")), Layer(material("PEC"))), (), 10.0)
    with pytest.raises(ParameterError, match="emitter medium"):
        axisymmetric_emission(
            AxisymmetricStructure((Layer(material("air")), Layer(material("Au"))), (), -10.0),
            LAM,
            resolution_nm=10.0,
        )


def test_plane_must_avoid_pml() -> None:
    g = _grid(20.0, True)
    sol = solve_dipole(_bulk(1.0), g, axis_dipole(g, "v", 0.0))
    with pytest.raises(ParameterError, match="plane"):
        plane_spectrum(sol, g.z0_nm + 2 * g.dz_nm, 1.0)


@pytest.mark.parametrize("zero_diagonal", [False, True])
def test_direct_solve_matches_dense_solve(zero_diagonal: bool) -> None:
    # The symmetric-mode MMD factorisation (with its COLAMD fallback) against numpy's dense
    # LU on a structurally symmetric complex matrix; a zero diagonal forces off-diagonal
    # pivots. Both are backward stable: forward errors <= cond(A)·n·eps ≈ 1e4·60·2e-16
    # ≈ 1e-10, so 1e-9 relative (the condition number is checked).
    import scipy.sparse as sp

    from qlight.photonics.fdfd.solve import _direct_solve

    rng = np.random.default_rng(5)
    n = 60
    pattern = sp.random(n, n, density=0.08, random_state=1)
    pattern = ((pattern + pattern.T) != 0).astype(float)
    vals = rng.normal(size=(n, n)) + 1j * rng.normal(size=(n, n))
    a = pattern.toarray() * vals
    a += np.diag(np.zeros(n) if zero_diagonal else 8.0 + 2.0j * np.ones(n))
    if zero_diagonal:
        a += np.eye(n, k=1) * 6.0 + np.eye(n, k=-1) * 6.0
    assert np.linalg.cond(a) < 1e4
    b = rng.normal(size=n) + 1j * rng.normal(size=n)
    x = _direct_solve(sp.csc_matrix(a), b)
    np.testing.assert_allclose(x, np.linalg.solve(a, b), rtol=1e-9, atol=1e-9 * np.abs(x).max())
