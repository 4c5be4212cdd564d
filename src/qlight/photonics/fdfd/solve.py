"""Solve the order-m problem for an axis dipole: fields, source power, Poynting flux.

The sparse system (∇×∇× − k₀²ε)E = i k₀ J (:mod:`.operator`) is solved by a direct sparse
LU, so the answer does not depend on an iteration tolerance (the residual is checked):
MKL PARDISO (:mod:`.pardiso`, multithreaded, METIS ordering) when the optional
``pypardiso`` wheel is installed, otherwise SuperLU (``scipy.sparse.linalg.splu``) on the
matrix permuted by a geometric nested-dissection ordering (:mod:`.ordering`), with the
minimum degree ordering of A + Aᵀ and COLAMD as fallbacks. ``solver="superlu"`` forces
SuperLU.
H = (∇×E)/(i k₀) in units of the vacuum impedance.

Power delivered by the source, P = −½ Re ∫ J*·E dV (Jackson §6.8), over the source
node's cell V (:mod:`.source`).
"""

from __future__ import annotations

import contextlib
import importlib
import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from numpy.typing import NDArray

from qlight.errors import ParameterError
from qlight.photonics._stackoptics import NotConvergedError
from qlight.photonics.fdfd.grid import BorGrid
from qlight.photonics.fdfd.operator import BorOperator, assemble
from qlight.photonics.fdfd.ordering import grid_coordinates, nested_dissection
from qlight.photonics.fdfd.pardiso import PardisoError, pardiso_available, pardiso_solve
from qlight.photonics.fdfd.source import AxisDipole
from qlight.photonics.structures import AxisymmetricStructure

__all__ = ["BorSolution", "solve_dipole"]

C128 = NDArray[np.complex128]
F64 = NDArray[np.float64]


@dataclass(frozen=True)
class BorSolution:
    """Fields of one solve (full arrays, zero on removed nodes) and the source power."""

    grid: BorGrid
    m: int
    dipole: AxisDipole
    e_r: C128
    e_phi: C128
    e_z: C128
    h_r: C128
    h_phi: C128
    h_z: C128
    source_power: float
    n_unknowns: int
    seconds: float
    factor_seconds: float = 0.0
    backend: str = "superlu"

    def flux_z(self, j: int, r_max_nm: float) -> float:
        """Power crossing the plane z = z_j upwards within r < r_max (½Re∮(E×H*)·ẑ dA).

        E_r, E_φ at z_j, H_r, H_φ averaged from z_{j±½}, all moved to r_{i+½}; midpoint
        rule with dA = 2π r Δr.
        """
        g = self.grid
        n = min(g.nr, round(r_max_nm / g.dr_nm))
        er = self.e_r[:n, j]
        ephi = 0.5 * (self.e_phi[:n, j] + self.e_phi[1 : n + 1, j])
        hphi = 0.5 * (self.h_phi[:n, j - 1] + self.h_phi[:n, j])
        hr_i = 0.5 * (self.h_r[:, j - 1] + self.h_r[:, j])
        hr = 0.5 * (hr_i[:n] + hr_i[1 : n + 1])
        s = er * np.conj(hphi) - ephi * np.conj(hr)
        r = g.r_half_nm[:n]
        return float(0.5 * np.real(np.sum(s * 2 * np.pi * r)) * g.dr_nm)

    def flux_r(self, i: int, j_lo: int, j_hi: int) -> float:
        """Power crossing the cylinder r = r_i outwards between z_{j_lo} and z_{j_hi}."""
        g = self.grid
        js = np.arange(j_lo, j_hi)  # half nodes z_{j+½}
        ez = self.e_z[i, js]
        ephi = 0.5 * (self.e_phi[i, js] + self.e_phi[i, js + 1])
        hphi = 0.5 * (self.h_phi[i - 1, js] + self.h_phi[i, js])
        hz_i = 0.5 * (self.h_z[i - 1, :] + self.h_z[i, :])
        hz = 0.5 * (hz_i[js] + hz_i[js + 1])
        s = ephi * np.conj(hz) - ez * np.conj(hphi)
        return float(0.5 * np.real(np.sum(s)) * 2 * np.pi * g.r_int_nm[i] * g.dz_nm)

    def box_flux(self, r_nm: float, z_lo_nm: float, z_hi_nm: float) -> float:
        """Power leaving the closed cylinder r < r_nm, z_lo < z < z_hi (nodes rounded)."""
        g = self.grid
        i = round(r_nm / g.dr_nm)
        j_lo = round((z_lo_nm - g.z0_nm) / g.dz_nm)
        j_hi = round((z_hi_nm - g.z0_nm) / g.dz_nm)
        return (
            self.flux_z(j_hi, i * g.dr_nm)
            - self.flux_z(j_lo, i * g.dr_nm)
            + self.flux_r(i, j_lo, j_hi)
        )


def _split(vec: C128, shapes: tuple[tuple[int, int], ...]) -> list[C128]:
    out, start = [], 0
    for shape in shapes:
        size = shape[0] * shape[1]
        out.append(vec[start : start + size].reshape(shape))
        start += size
    return out


SOLVERS = ("auto", "pardiso", "superlu")


RESIDUAL_RTOL = 1e-6
"""A direct solve is accepted when ``|A x − b| <= RESIDUAL_RTOL · |b|``."""


def _residual_ok(matrix: sp.csc_matrix, x: C128, rhs: C128) -> tuple[bool, float]:
    residual = float(np.linalg.norm(matrix @ x - rhs))
    return residual <= RESIDUAL_RTOL * float(np.linalg.norm(rhs)), residual


def _solve(
    matrix: sp.csc_matrix, rhs: C128, solver: str, coords: F64 | None = None
) -> tuple[C128, str]:
    """Solve with the requested backend; returns (x, backend used).

    ``auto``: PARDISO if available and its residual passes, else SuperLU. ``pardiso``:
    PARDISO only (ParameterError if it is not installed). ``coords`` ((n, 2) positions of
    the unknowns) enable the nested-dissection ordering for SuperLU.
    """
    if solver not in SOLVERS:
        raise ParameterError("solver", solver, f"must be one of {', '.join(SOLVERS)}")
    if solver == "pardiso" and not pardiso_available():
        raise ParameterError("solver", solver, "needs the optional pypardiso wheel (MKL)")
    if solver in ("auto", "pardiso") and pardiso_available():
        try:
            x = pardiso_solve(matrix, rhs)
        except PardisoError:
            if solver == "pardiso":
                raise
        else:
            ok, residual = _residual_ok(matrix, x, rhs)
            if ok:
                return x, "pardiso"
            if solver == "pardiso":
                raise NotConvergedError(f"PARDISO residual {residual:.3g} too large")
    return _direct_solve(matrix, rhs, coords), "superlu"


def _one_blas_thread() -> contextlib.AbstractContextManager[object]:
    """Limit OpenBLAS to one thread while SuperLU runs (``threadpoolctl``, if installed).

    SuperLU calls the BLAS for every small supernode block; with OpenBLAS's default of one
    thread per core, each call synchronises its worker threads, and on a loaded 2-core
    machine (other processes, or MKL's OpenMP threads still spinning after a PARDISO solve)
    every synchronisation waits for a scheduler slot: the same 20 nm bullseye factorisation
    measured 0.3 s with one BLAS thread and 4–55 s with two (docs/photonics-fdfd.md).
    """
    try:
        mod = importlib.import_module("threadpoolctl")
    except ImportError:  # pragma: no cover - threadpoolctl is a declared dependency
        return contextlib.nullcontext()
    limits: contextlib.AbstractContextManager[object] = mod.threadpool_limits(
        limits=1, user_api="blas"
    )
    return limits


def _direct_solve(matrix: sp.csc_matrix, rhs: C128, coords: F64 | None = None) -> C128:
    """SuperLU (one BLAS thread, :func:`_one_blas_thread`), residual checked.

    With ``coords``, the matrix is first permuted symmetrically by the geometric
    nested-dissection ordering of :mod:`.ordering` and factorised with SuperLU's NATURAL
    column order in symmetric mode (diagonal pivot threshold 0.1): on the 10-ring bullseye
    at 10 nm (301 659 unknowns) 0.7 s ordering + 2.9 s factorisation with 5.1e7 entries
    in L + U, against 9.5 s and 7.4e7 for the minimum-degree ordering below, which is the
    fallback (and the first choice without coordinates).

    The operator is structurally symmetric, so the multiple minimum degree ordering of
    A + Aᵀ with SuperLU's symmetric mode and a 0.1 diagonal pivot threshold (pivots stay on
    the diagonal unless one is 10× smaller than its column's largest entry) keeps the fill
    of the symmetric ordering: 4.2–4.9e6 against 6.9e6 for COLAMD with partial pivoting on
    a 34 000-unknown bullseye. If its residual fails, COLAMD with partial pivoting is
    tried (the earlier default).
    """
    attempts: tuple[dict[str, Any], ...] = (
        {
            "permc_spec": "MMD_AT_PLUS_A",
            "diag_pivot_thresh": 0.1,
            "options": {"SymmetricMode": True},
        },
        {"permc_spec": "COLAMD"},
    )
    with _one_blas_thread():
        return _superlu_attempts(matrix, rhs, coords, attempts)


def _superlu_attempts(
    matrix: sp.csc_matrix,
    rhs: C128,
    coords: F64 | None,
    attempts: tuple[dict[str, Any], ...],
) -> C128:
    residual = math.inf
    if coords is not None:
        p = nested_dissection(matrix, coords)
        lu = spla.splu(matrix[p][:, p].tocsc(), **{**attempts[0], "permc_spec": "NATURAL"})
        x = np.empty_like(rhs)
        x[p] = np.asarray(lu.solve(rhs[p]), dtype=np.complex128)
        ok, residual = _residual_ok(matrix, x, rhs)
        if ok:
            return x
    for kwargs in attempts:
        lu = spla.splu(matrix, **kwargs)
        x = np.asarray(lu.solve(rhs), dtype=np.complex128)
        ok, residual = _residual_ok(matrix, x, rhs)
        if ok:
            return x
    raise NotConvergedError(f"sparse solve residual {residual:.3g} too large")


def solve_dipole(
    structure: AxisymmetricStructure,
    grid: BorGrid,
    dipole: AxisDipole,
    *,
    operator: BorOperator | None = None,
    solver: str = "auto",
) -> BorSolution:
    """Solve for the fields of ``dipole`` in ``structure`` on ``grid``.

    ``solver``: ``"auto"`` (PARDISO when installed, SuperLU otherwise), ``"pardiso"`` or
    ``"superlu"`` (module docstring); the backend used is recorded in the solution.
    """
    t0 = time.perf_counter()
    op = operator if operator is not None else assemble(structure, grid, dipole.m)
    shapes = op.e_shapes
    sizes = [a * b for a, b in shapes]
    full_index = sum(sizes[: dipole.component]) + dipole.j
    # node (i=0, j) of the component: C-order offset i*(ncols)+j with i = 0
    rhs_full = np.zeros(sum(sizes), dtype=np.complex128)
    rhs_full[full_index] = 1j * grid.k0_per_nm * dipole.current
    rhs = rhs_full[op.keep]
    t1 = time.perf_counter()
    x, backend = _solve(op.matrix, rhs, solver, grid_coordinates(grid, op.keep))
    t_lu = time.perf_counter() - t1
    e_full = np.zeros(sum(sizes), dtype=np.complex128)
    e_full[op.keep] = x
    h_full = (op.curl_e @ e_full) / (1j * grid.k0_per_nm)
    e_r, e_phi, e_z = _split(e_full, shapes)
    h_r, h_phi, h_z = _split(h_full, op.h_shapes)
    if abs(dipole.m) == 1:  # axis values from regularity (operator module docstring)
        sign = 1j * np.sign(dipole.m)
        e_phi[0, :] = sign * e_r[0, :]
        h_r[0, :] = -sign * h_phi[0, :]
    e_src = e_full[full_index]
    power = -0.5 * float(np.real(np.conj(dipole.current) * e_src)) * dipole.volume_nm3
    return BorSolution(
        grid,
        dipole.m,
        dipole,
        e_r,
        e_phi,
        e_z,
        h_r,
        h_phi,
        h_z,
        power,
        int(op.keep.size),
        time.perf_counter() - t0,
        t_lu,
        backend,
    )
