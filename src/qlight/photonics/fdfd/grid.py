"""The (r, z) staggered grid of the body-of-revolution solver and its PML stretching.

Fields of azimuthal order m are ``F(r, z) exp(imφ)``. The six components are staggered like
Yee's cell cut along φ (Taflove & Hagness, *Computational Electrodynamics*, 3rd ed., ch. 12,
body-of-revolution FDTD): with integer nodes r_i = i·Δr, z_j = z₀ + j·Δz and half nodes
r_{i+½}, z_{j+½},

==========  =====================  ==========  =====================
component   position               component   position
==========  =====================  ==========  =====================
E_r         (r_{i+½}, z_j)         H_r         (r_i, z_{j+½})
E_φ         (r_i, z_j)             H_φ         (r_{i+½}, z_{j+½})
E_z         (r_i, z_{j+½})         H_z         (r_{i+½}, z_j)
==========  =====================  ==========  =====================

so E_φ, E_z and H_r live on the axis (i = 0), where the axis conditions of
:mod:`~qlight.photonics.fdfd.operator` apply. The outer walls (r = r_max, z = z₀, z_max)
are perfect conductors behind perfectly matched layers.

PML: complex coordinate stretching (Chew & Weedon 1994; Teixeira & Chew, IEEE MGWL 7, 371
(1997) for cylindrical coordinates; the Meep convention, Oskooi et al., CPC 181, 687
(2010)): ∂/∂x → (1/s_x) ∂/∂x with s = 1 + i·a·(d/L)² at depth d into a layer of
thickness L, and, in cylindrical coordinates, r → r̃ = r + i·a·L/3·(d/L)³ wherever r
itself appears (1/r̃, r̃E_φ). An outgoing wave in a medium of index n is attenuated by
exp(−k₀ n a L/3) on its way through; ``a`` is chosen for a round-trip reflection of
``pml_reflection`` at normal incidence for n = 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from qlight.errors import ParameterError

__all__ = ["BorGrid", "make_grid"]

F64 = NDArray[np.float64]
C128 = NDArray[np.complex128]


@dataclass(frozen=True, slots=True)
class BorGrid:
    """A uniform staggered (r, z) grid with PML layers (lengths in nm).

    ``nr`` cells in r from the axis to ``nr·dr_nm``; ``nz`` cells in z from ``z0_nm``.
    ``pml_r``, ``pml_zlo``, ``pml_zhi`` are the PML thicknesses in cells.
    """

    dr_nm: float
    dz_nm: float
    nr: int
    nz: int
    z0_nm: float
    pml_r: int
    pml_zlo: int
    pml_zhi: int
    wavelength_nm: float
    pml_reflection: float = 1e-8

    @property
    def k0_per_nm(self) -> float:
        """Vacuum wavenumber 2π/λ (rad/nm)."""
        return 2.0 * math.pi / self.wavelength_nm

    @property
    def r_int_nm(self) -> F64:
        """r_i, i = 0 … nr."""
        return np.arange(self.nr + 1, dtype=np.float64) * self.dr_nm

    @property
    def r_half_nm(self) -> F64:
        """r_{i+½}, i = 0 … nr−1."""
        return (np.arange(self.nr, dtype=np.float64) + 0.5) * self.dr_nm

    @property
    def z_int_nm(self) -> F64:
        """z_j, j = 0 … nz."""
        return self.z0_nm + np.arange(self.nz + 1, dtype=np.float64) * self.dz_nm

    @property
    def z_half_nm(self) -> F64:
        """z_{j+½}, j = 0 … nz−1."""
        return self.z0_nm + (np.arange(self.nz, dtype=np.float64) + 0.5) * self.dz_nm

    @property
    def r_pml_start_nm(self) -> float:
        """Radius where the r PML begins."""
        return (self.nr - self.pml_r) * self.dr_nm

    @property
    def z_pml_lo_nm(self) -> float:
        """Top of the lower PML."""
        return self.z0_nm + self.pml_zlo * self.dz_nm

    @property
    def z_pml_hi_nm(self) -> float:
        """Bottom of the upper PML."""
        return self.z0_nm + (self.nz - self.pml_zhi) * self.dz_nm

    def _strength(self, cells: int, step: float) -> float:
        length = cells * step
        return 3.0 * math.log(1.0 / self.pml_reflection) / (2.0 * self.k0_per_nm * length)

    def stretch_r(self, r_nm: F64) -> tuple[C128, C128]:
        """(s_r, r̃) at radii ``r_nm``."""
        r = np.asarray(r_nm, dtype=np.float64)
        if self.pml_r == 0:
            return np.ones_like(r, dtype=np.complex128), r.astype(np.complex128)
        length = self.pml_r * self.dr_nm
        a = self._strength(self.pml_r, self.dr_nm)
        d = np.clip((r - self.r_pml_start_nm) / length, 0.0, None)
        s = np.asarray(1.0 + 1j * a * d**2, dtype=np.complex128)
        return s, np.asarray(r + 1j * a * length / 3.0 * d**3, dtype=np.complex128)

    def stretch_z(self, z_nm: F64) -> C128:
        """s_z at heights ``z_nm``."""
        z = np.asarray(z_nm, dtype=np.float64)
        s = np.ones_like(z, dtype=np.complex128)
        if self.pml_zlo:
            length = self.pml_zlo * self.dz_nm
            d = np.clip((self.z_pml_lo_nm - z) / length, 0.0, None)
            s = s + 1j * self._strength(self.pml_zlo, self.dz_nm) * d**2
        if self.pml_zhi:
            length = self.pml_zhi * self.dz_nm
            d = np.clip((z - self.z_pml_hi_nm) / length, 0.0, None)
            s = s + 1j * self._strength(self.pml_zhi, self.dz_nm) * d**2
        return s

    @property
    def n_cells(self) -> int:
        """Number of (r, z) cells."""
        return self.nr * self.nz


def make_grid(
    *,
    wavelength_nm: float,
    resolution_nm: float,
    r_max_nm: float,
    z_lo_nm: float,
    z_hi_nm: float,
    anchor_z_nm: float,
    anchor_half: bool,
    pml_nm: float,
) -> BorGrid:
    """A grid with Δr = Δz = ``resolution_nm`` covering [0, r_max] × [z_lo, z_hi] plus PML.

    ``anchor_z_nm`` falls exactly on an integer z node (``anchor_half`` False: E_φ, the
    in-plane dipole) or a half node (True: E_z, the vertical dipole).
    """
    h = resolution_nm
    if not (math.isfinite(h) and h > 0):
        raise ParameterError("resolution_nm", h, "must be finite and > 0")
    if not (r_max_nm > 4 * h and z_hi_nm - z_lo_nm > 4 * h):
        raise ParameterError("resolution_nm", h, "is too coarse for the domain")
    if not (z_lo_nm < anchor_z_nm < z_hi_nm):
        raise ParameterError("anchor_z_nm", anchor_z_nm, "must be inside the domain")
    npml = max(4, math.ceil(pml_nm / h))
    nr = math.ceil(r_max_nm / h) + npml
    below = math.ceil((anchor_z_nm - z_lo_nm) / h)
    above = math.ceil((z_hi_nm - anchor_z_nm) / h)
    offset = 0.5 if anchor_half else 0.0
    j_anchor = below + npml
    z0 = anchor_z_nm - (j_anchor + offset) * h
    nz = j_anchor + above + npml + 1
    return BorGrid(h, h, nr, nz, z0, npml, npml, npml, wavelength_nm)
