"""FDFD sparse solver backends: MKL PARDISO fast path, SuperLU fallback, selection."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.csgraph as csgraph
import scipy.sparse.linalg as spla
from hypothesis import given, settings
from hypothesis import strategies as st

from qlight.errors import ParameterError
from qlight.photonics.fdfd import (
    AxisDipole,
    BorGrid,
    assemble,
    axis_dipole,
    make_grid,
    solve_dipole,
)
from qlight.photonics.fdfd import solve as solve_mod
from qlight.photonics.fdfd.ordering import grid_coordinates, nested_dissection
from qlight.photonics.fdfd.pardiso import pardiso_available, pardiso_solve
from qlight.photonics.layers import Layer
from qlight.photonics.materials import material
from qlight.photonics.structures import AxisymmetricStructure, bullseye

LAM = 650.0
needs_pardiso = pytest.mark.skipif(not pardiso_available(), reason="pypardiso not installed")


def _system(zero_diagonal: bool) -> tuple[np.ndarray, np.ndarray]:
    # structurally symmetric complex matrix, condition number < 1e4 (checked)
    rng = np.random.default_rng(5)
    n = 60
    pattern = sp.random(n, n, density=0.08, random_state=1)
    pattern = ((pattern + pattern.T) != 0).astype(float)
    a = pattern.toarray() * (rng.normal(size=(n, n)) + 1j * rng.normal(size=(n, n)))
    a += np.diag(np.zeros(n) if zero_diagonal else 8.0 + 2.0j * np.ones(n))
    if zero_diagonal:  # forces off-diagonal pivots
        a += np.eye(n, k=1) * 6.0 + np.eye(n, k=-1) * 6.0
    assert np.linalg.cond(a) < 1e4
    b = rng.normal(size=n) + 1j * rng.normal(size=n)
    return a, b


@needs_pardiso
@pytest.mark.parametrize("zero_diagonal", [False, True])
@pytest.mark.parametrize("fmt", ["csr", "csc"])
def test_pardiso_matches_dense_solve(zero_diagonal: bool, fmt: str) -> None:
    # backward-stable LU: forward error <= cond·n·eps ≈ 1e4·60·2e-16 ≈ 1e-10 -> 1e-9
    a, b = _system(zero_diagonal)
    m = sp.csr_matrix(a) if fmt == "csr" else sp.csc_matrix(a)
    x = pardiso_solve(m, b)
    np.testing.assert_allclose(x, np.linalg.solve(a, b), rtol=1e-9, atol=1e-9 * np.abs(x).max())


def _bullseye_case(
    orientation: str, r_max_nm: float = 1800.0
) -> tuple[AxisymmetricStructure, BorGrid, AxisDipole]:
    s = bullseye(membrane_nm=160, period_nm=320, trench_nm=100, disc_radius_nm=400, n_rings=2)
    g = make_grid(
        wavelength_nm=LAM,
        resolution_nm=25.0,
        r_max_nm=r_max_nm,
        z_lo_nm=-600.0,
        z_hi_nm=400.0,
        anchor_z_nm=s.emitter_z_nm,
        anchor_half=orientation == "v",
        pml_nm=400.0,
    )
    return s, g, axis_dipole(g, orientation, s.emitter_z_nm)


@needs_pardiso
@pytest.mark.parametrize("orientation", ["h", "v"])
def test_pardiso_and_superlu_give_the_same_fields(orientation: str) -> None:
    s, g, d = _bullseye_case(orientation)
    a = solve_dipole(s, g, d, solver="pardiso")
    b = solve_dipole(s, g, d, solver="superlu")
    assert (a.backend, b.backend) == ("pardiso", "superlu")
    # both residuals <= 1e-6·|b| (checked in the solver); the FDFD operator at 25 nm has
    # cond ≲ 1e6, so the two solutions agree to ≲ 1e-9 relative in practice; 1e-7 leaves
    # margin for the PML-dominated conditioning while still catching a wrong solve (a
    # wrong permutation or conjugation gives O(1) differences)
    for f in ("e_r", "e_phi", "e_z", "h_r", "h_phi", "h_z"):
        fa, fb = getattr(a, f), getattr(b, f)
        scale = max(np.abs(fb).max(), 1e-300)
        np.testing.assert_allclose(fa, fb, rtol=0, atol=1e-7 * scale)
    assert a.source_power == pytest.approx(b.source_power, rel=1e-7)


def test_auto_falls_back_to_superlu_without_pardiso(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(solve_mod, "pardiso_available", lambda: False)
    a, b = _system(False)
    x, backend = solve_mod._solve(sp.csc_matrix(a), b, "auto")
    assert backend == "superlu"
    np.testing.assert_allclose(x, np.linalg.solve(a, b), rtol=1e-9, atol=1e-9 * np.abs(x).max())
    with pytest.raises(ParameterError, match="pypardiso"):
        solve_mod._solve(sp.csc_matrix(a), b, "pardiso")


def test_auto_falls_back_when_pardiso_residual_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    # a fast path that returns a wrong answer must be caught by the residual check
    monkeypatch.setattr(solve_mod, "pardiso_available", lambda: True)
    monkeypatch.setattr(solve_mod, "pardiso_solve", lambda m, r: np.zeros_like(r))
    a, b = _system(True)
    x, backend = solve_mod._solve(sp.csc_matrix(a), b, "auto")
    assert backend == "superlu"
    np.testing.assert_allclose(x, np.linalg.solve(a, b), rtol=1e-9, atol=1e-9 * np.abs(x).max())
    with pytest.raises(solve_mod.NotConvergedError):
        solve_mod._solve(sp.csc_matrix(a), b, "pardiso")


def test_unknown_solver_is_rejected() -> None:
    a, b = _system(False)
    with pytest.raises(ParameterError, match="solver"):
        solve_mod._solve(sp.csc_matrix(a), b, "umfpack")


# ------------------------------------------------------------ nested dissection


@settings(max_examples=25, deadline=None)
@given(
    nr=st.integers(5, 30),
    nz=st.integers(5, 30),
    m=st.sampled_from([0, 1, 2]),
    leaf=st.integers(1, 100),
)
def test_nested_dissection_is_a_permutation(nr: int, nz: int, m: int, leaf: int) -> None:
    g = make_grid(
        wavelength_nm=LAM,
        resolution_nm=20.0,
        r_max_nm=20.0 * nr,
        z_lo_nm=-10.0,
        z_hi_nm=20.0 * nz - 10.0,
        anchor_z_nm=0.0,
        anchor_half=False,
        pml_nm=80.0,
    )
    op = assemble(_bulk(), g, m)
    coords = grid_coordinates(g, op.keep)
    assert coords.shape == (op.keep.size, 2)
    p = nested_dissection(op.matrix, coords, leaf)
    assert np.array_equal(np.sort(p), np.arange(op.keep.size))


def _bulk() -> AxisymmetricStructure:
    mat = material("n=1.5")
    return AxisymmetricStructure((Layer(mat), Layer(mat)), (), 0.0)


def test_nested_dissection_separates_and_reduces_fill() -> None:
    # 5-point Laplacian on a 60 x 60 grid: natural (banded) order fills the band, ≈ 2·60
    # per row (≈ 4.3e5 in L + U); nested dissection is O(N log N) (≈ 1e5). A wrong or
    # random ordering gives more fill than the band, so "< half the banded fill" can fail.
    k = 60
    t = sp.diags([-np.ones(k - 1), 4 * np.ones(k), -np.ones(k - 1)], [-1, 0, 1])
    lap = (
        sp.kron(sp.identity(k), t)
        + sp.kron(sp.diags([-np.ones(k - 1), -np.ones(k - 1)], [-1, 1]), sp.identity(k))
    ).tocsc()
    i, j = np.meshgrid(np.arange(k), np.arange(k), indexing="ij")
    coords = np.column_stack([i.ravel(), j.ravel()]).astype(float)
    p = nested_dissection(lap, coords, 16)
    opts = {"diag_pivot_thresh": 0.0, "options": {"SymmetricMode": True}}
    natural = spla.splu(lap, permc_spec="NATURAL", **opts)
    nd = spla.splu(lap[p][:, p].tocsc(), permc_spec="NATURAL", **opts)
    fill_nat = natural.L.nnz + natural.U.nnz
    fill_nd = nd.L.nnz + nd.U.nnz
    assert fill_nd < 0.5 * fill_nat
    # the last block of the order is the top separator: removing it disconnects the graph
    last = p[-k:]
    keep = np.setdiff1d(np.arange(k * k), last)
    ncomp, _ = csgraph.connected_components(lap[keep][:, keep], directed=False)
    assert ncomp >= 2


def test_superlu_nested_dissection_matches_unpermuted_solve() -> None:
    # bullseye at 25 nm: ND + NATURAL against SuperLU on the unpermuted matrix (COLAMD,
    # partial pivoting). Both residuals <= RESIDUAL_RTOL·|b| are checked; the operator's cond ≲ 1e6
    # gives ≲ 1e-9 relative agreement in practice; 1e-7 still catches a wrong
    # (un)permutation, an O(1) error.
    s, g, d = _bullseye_case("h", r_max_nm=900.0)
    op = assemble(s, g, d.m)
    rng = np.random.default_rng(3)
    b = rng.normal(size=op.keep.size) + 1j * rng.normal(size=op.keep.size)
    x_nd = solve_mod._direct_solve(op.matrix, b, grid_coordinates(g, op.keep))
    x_ref = spla.splu(op.matrix, permc_spec="COLAMD").solve(b)
    for x in (x_nd, x_ref):
        assert np.linalg.norm(op.matrix @ x - b) <= solve_mod.RESIDUAL_RTOL * np.linalg.norm(b)
    np.testing.assert_allclose(x_nd, x_ref, rtol=0, atol=1e-7 * np.abs(x_ref).max())


def test_nested_dissection_rejects_bad_input() -> None:
    a = sp.identity(4, format="csr")
    with pytest.raises(ParameterError, match="coords"):
        nested_dissection(a, np.zeros((3, 2)))
    with pytest.raises(ParameterError, match="leaf_size"):
        nested_dissection(a, np.zeros((4, 2)), 0)
    with pytest.raises(ParameterError, match="matrix"):
        nested_dissection(sp.csr_matrix((3, 4)), np.zeros((3, 2)))


def test_pardiso_solve_rejects_bad_shapes() -> None:
    with pytest.raises(ParameterError, match="matrix"):
        pardiso_solve(sp.csr_matrix((3, 4), dtype=complex), np.zeros(3, complex))
    with pytest.raises(ParameterError, match="rhs"):
        pardiso_solve(sp.identity(3, format="csr", dtype=complex), np.zeros(4, complex))


def test_superlu_falls_back_to_minimum_degree_when_nd_residual_fails(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # force the first (nested-dissection) residual check to fail: the MMD factorisation
    # must then be used and still give the dense answer (tolerance as in _system's tests)
    calls: list[bool] = []
    real = solve_mod._residual_ok

    def first_fails(m: sp.csc_matrix, x: np.ndarray, r: np.ndarray) -> tuple[bool, float]:
        ok, res = real(m, x, r)
        calls.append(ok)
        return (ok and len(calls) > 1), res

    monkeypatch.setattr(solve_mod, "_residual_ok", first_fails)
    a, b = _system(False)
    k = a.shape[0]
    coords = np.column_stack([np.arange(k), np.zeros(k)]).astype(float)
    x = solve_mod._direct_solve(sp.csc_matrix(a), b, coords)
    assert len(calls) == 2
    assert calls[0]  # the ND solve itself was fine; only the forced failure moved on
    np.testing.assert_allclose(x, np.linalg.solve(a, b), rtol=1e-9, atol=1e-9 * np.abs(x).max())


def test_superlu_runs_with_one_blas_thread() -> None:
    # SuperLU's many small BLAS calls stall when OpenBLAS threads must synchronise on a
    # loaded machine; the solver limits BLAS to one thread while it factorises
    threadpoolctl = pytest.importorskip("threadpoolctl")
    with solve_mod._one_blas_thread():
        inside = [
            i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"
        ]
    assert inside
    assert all(n == 1 for n in inside)
