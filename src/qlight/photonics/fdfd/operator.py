"""Sparse Maxwell operator of one azimuthal order m on the (r, z) grid.

With fields ``F(r, z) e^{imφ}``, time dependence e^{−iωt}, H scaled by the vacuum impedance
and lengths in nm, Maxwell's equations read ∇×E = i k₀ H, ∇×H = −i k₀ ε E + J, so

    (∇×∇× − k₀² ε) E = i k₀ J,

with the curl of an order-m field in cylindrical coordinates (∂_φ → im)

    (∇×F)_r = (im/r) F_z − ∂_z F_φ,  (∇×F)_φ = ∂_z F_r − ∂_r F_z,
    (∇×F)_z = (1/r) ∂_r(r F_φ) − (im/r) F_r,

discretised by central differences on the staggered grid (:mod:`.grid`; Taflove & Hagness,
ch. 12) and stretched in the PMLs (∂_x → ∂_x/s_x, r → r̃). Axis (r = 0) conditions from
the regularity of an order-m field (Taflove & Hagness §12.4; Mohammadi et al., JOSA A 22,
1555 (2005)): m = 0 — E_φ = H_r = 0 on the axis and (∇×H)_z = 4H_φ(Δr/2)/Δr there (Stokes
on the disc of radius Δr/2); |m| ≥ 1 — E_z = 0 on the axis. For |m| = 1 the axis E_φ and
H_r are not zero but enter no other equation (Stokes on the cell [0, Δr] weighs E_φ(0) by
r = 0): left as unknowns they form a spurious one-dimensional line along the axis. They are
therefore removed and set afterwards from regularity, E_r + i·sgn(m)E_φ = 0 on the axis
(the field there is a circularly polarised in-plane vector), E_φ(0) = i·sgn(m)E_r(Δr/2),
H_r(0) = −i·sgn(m)H_φ(Δr/2) (second order: E_r is even in r).

Permittivity: subpixel averaging (Farjadpour et al., Opt. Lett. 31, 2972 (2006), the
concept behind Meep's smoothing) specialised to interfaces along r or z: each E component
gets the arithmetic mean of ε along directions tangential to it and the harmonic mean along
the direction normal to it, over its own cell, sampled on ``sub`` × ``sub`` points.
Simplification: the average is not weighted by r and corners of features are treated as a
product of the two one-dimensional rules.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from qlight.photonics.fdfd.grid import BorGrid
from qlight.photonics.structures import AxisymmetricStructure

__all__ = ["BorOperator", "assemble", "component_epsilon"]

C128 = NDArray[np.complex128]


def _d_i2h(n: int, step: float) -> sp.csr_matrix:
    """(n, n+1): (f_{k+1} − f_k)/step, integer → half nodes."""
    return sp.diags([-np.ones(n), np.ones(n)], [0, 1], shape=(n, n + 1), format="csr") / step


def _d_h2i(n: int, step: float) -> sp.csr_matrix:
    """(n+1, n): (g_k − g_{k−1})/step, half → integer nodes (end rows one-sided)."""
    return sp.diags([np.ones(n), -np.ones(n)], [0, -1], shape=(n + 1, n), format="csr") / step


def _eye(n: int) -> sp.csr_matrix:
    return sp.identity(n, dtype=np.complex128, format="csr")


def _dg(v: NDArray[np.complexfloating] | NDArray[np.floating]) -> sp.csr_matrix:
    return sp.diags(np.asarray(v, dtype=np.complex128), 0, format="csr")


@dataclass(frozen=True)
class BorOperator:
    """The assembled operator of one order.

    ``matrix`` acts on the kept E unknowns (``keep`` indexes the full E vector
    [E_r (nr, nz+1), E_φ (nr+1, nz+1), E_z (nr+1, nz)], C order); ``curl_e`` maps the full
    E vector to ∇×E on the full H vector [H_r (nr+1, nz), H_φ (nr, nz), H_z (nr, nz+1)].
    """

    grid: BorGrid
    m: int
    matrix: sp.csc_matrix
    keep: NDArray[np.intp]
    curl_e: sp.csr_matrix
    eps_full: C128

    @property
    def e_shapes(self) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int]]:
        """Shapes of E_r, E_φ, E_z."""
        g = self.grid
        return (g.nr, g.nz + 1), (g.nr + 1, g.nz + 1), (g.nr + 1, g.nz)

    @property
    def h_shapes(self) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int]]:
        """Shapes of H_r, H_φ, H_z."""
        g = self.grid
        return (g.nr + 1, g.nz), (g.nr, g.nz), (g.nr, g.nz + 1)


def _mean_eps(
    structure: AxisymmetricStructure,
    r_c: NDArray[np.float64],
    z_c: NDArray[np.float64],
    grid: BorGrid,
    rule: str,
    sub: int,
) -> C128:
    off = (np.arange(sub) + 0.5) / sub - 0.5
    rf = (r_c[:, None] + off[None, :] * grid.dr_nm).ravel()
    zf = (z_c[:, None] + off[None, :] * grid.dz_nm).ravel()
    eps = structure.epsilon(rf[:, None], zf[None, :], grid.wavelength_nm)
    e4 = eps.reshape(r_c.size, sub, z_c.size, sub)
    if rule == "r":  # E_r: harmonic along r, arithmetic along z
        return np.asarray((1.0 / (1.0 / e4).mean(axis=1)).mean(axis=2), dtype=np.complex128)
    if rule == "z":  # E_z: arithmetic along r, harmonic along z
        return np.asarray(1.0 / (1.0 / e4.mean(axis=1)).mean(axis=2), dtype=np.complex128)
    return np.asarray(e4.mean(axis=(1, 3)), dtype=np.complex128)


def component_epsilon(
    structure: AxisymmetricStructure, grid: BorGrid, sub: int = 8
) -> tuple[C128, C128, C128]:
    """Subpixel-averaged ε at the E_r, E_φ and E_z positions (module docstring)."""
    g = grid
    return (
        _mean_eps(structure, g.r_half_nm, g.z_int_nm, g, "r", sub),
        _mean_eps(structure, g.r_int_nm, g.z_int_nm, g, "phi", sub),
        _mean_eps(structure, g.r_int_nm, g.z_half_nm, g, "z", sub),
    )


def _curls(grid: BorGrid, m: int) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    g = grid
    nr, nz = g.nr, g.nz
    im = 1j * m
    s_ri, rt_i = g.stretch_r(g.r_int_nm)
    s_rh, rt_h = g.stretch_r(g.r_half_nm)
    s_zi = g.stretch_z(g.z_int_nm)
    s_zh = g.stretch_z(g.z_half_nm)
    inv_rt_i = np.zeros(nr + 1, dtype=np.complex128)
    inv_rt_i[1:] = 1.0 / rt_i[1:]  # axis rows are set below
    dzi2h = _dg(1.0 / s_zh) @ _d_i2h(nz, g.dz_nm)
    dzh2i = _dg(1.0 / s_zi) @ _d_h2i(nz, g.dz_nm)
    dri2h = _d_i2h(nr, g.dr_nm)
    drh2i = _d_h2i(nr, g.dr_nm)
    ri, rh, zi, zh = _eye(nr + 1), _eye(nr), _eye(nz + 1), _eye(nz)

    # C_e: E -> curl E, blocks [H_r; H_φ; H_z] x [E_r, E_φ, E_z]
    hr = [None, -sp.kron(ri, dzi2h), sp.kron(_dg(im * inv_rt_i), zh)]
    hphi = [sp.kron(rh, dzi2h), None, -sp.kron(_dg(1.0 / s_rh) @ dri2h, zh)]
    hz = [
        -sp.kron(_dg(im / rt_h), zi),
        sp.kron(_dg(1.0 / (rt_h * s_rh)) @ dri2h @ _dg(rt_i), zi),
        None,
    ]
    curl_e = sp.bmat([hr, hphi, hz], format="csr")

    # C_h: H -> curl H, blocks [E_r; E_φ; E_z] x [H_r, H_φ, H_z]
    drh2i_hz = _dg(1.0 / s_ri) @ drh2i
    ez_hphi = _dg(inv_rt_i / s_ri) @ drh2i @ _dg(rt_h)
    if m == 0:  # Stokes on the axis disc: 4 H_φ(Δr/2)/Δr
        ez_hphi = ez_hphi + sp.csr_matrix(([4.0 / g.dr_nm], ([0], [0])), shape=(nr + 1, nr))
    er = [None, -sp.kron(rh, dzh2i), sp.kron(_dg(im / rt_h), zi)]
    ephi = [sp.kron(ri, dzh2i), None, -sp.kron(drh2i_hz, zi)]
    ez = [-sp.kron(_dg(im * inv_rt_i), zh), sp.kron(ez_hphi, zh), None]
    curl_h = sp.bmat([er, ephi, ez], format="csr")
    return curl_e, curl_h


def _keep(grid: BorGrid, m: int) -> NDArray[np.intp]:
    nr, nz = grid.nr, grid.nz
    er = np.zeros((nr, nz + 1), bool)
    er[:, 1:nz] = True
    ephi = np.zeros((nr + 1, nz + 1), bool)
    ephi[1:nr, 1:nz] = True  # axis E_φ: zero (m ≠ ±1) or set from regularity
    ez = np.zeros((nr + 1, nz), bool)
    ez[:nr, :] = True
    if m != 0:
        ez[0, :] = False
    mask = np.concatenate([er.ravel(), ephi.ravel(), ez.ravel()])
    return np.flatnonzero(mask).astype(np.intp)


def assemble(structure: AxisymmetricStructure, grid: BorGrid, m: int, sub: int = 8) -> BorOperator:
    """Assemble ∇×∇× − k₀²ε for azimuthal order ``m`` on ``grid`` (module docstring)."""
    curl_e, curl_h = _curls(grid, m)
    eps = np.concatenate([e.ravel() for e in component_epsilon(structure, grid, sub)])
    k0 = grid.k0_per_nm
    full = (curl_h @ curl_e - k0 * k0 * _dg(eps)).tocsr()
    keep = _keep(grid, m)
    matrix = full[keep][:, keep].tocsc()
    return BorOperator(grid, m, matrix, keep, curl_e, eps)
