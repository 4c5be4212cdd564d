"""Far field of an order-m solution from the fields on a plane above the structure.

Above the structure the top medium is homogeneous, so the tangential fields on a plane
z = z_p determine the radiation through their two-dimensional Fourier transform (angular
spectrum; Novotny & Hecht, *Principles of Nano-Optics*, §3.2; the plane version of the
near-to-far transform, Taflove & Hagness ch. 8). For an order-m field write
E± = E_r ± iE_φ, so that E_x ± iE_y = E± e^{i(m±1)φ}; the Fourier transform of f(r)e^{inφ}
is 2π(−i)ⁿe^{inψ} ∫ f(r) J_n(kr) r dr (a Hankel transform). With
a±(k) = ∫ E±(r) J_{m±1}(kr) r dr, b± likewise for H, and Parseval's theorem, the power
carried by plane waves with in-plane wavenumber below k is

    P(<k) = (π/2) Re[−i ∫₀^k (a₋ b₋* − a₊ b₊*) k' dk'],

and the power per solid angle in the top medium (index n, k = n k₀ sin θ, averaged over the
azimuth ψ) is dP/dΩ = n²k₀² cos θ · g(k)/(2π), g the integrand above. Power into an
objective of numerical aperture NA: k ≤ NA·k₀. Evanescent waves (k > n k₀) carry no power.

The plane is truncated where the r PML starts (a finite aperture). Guided modes of the
structure have evanescent tails on the plane that reach its edge undamped (they decay as
r^{-1/2}); an abrupt truncation would leak their spectral peak at k = n_eff k₀ into the
cone. The fields are therefore multiplied by a cosine taper over the outer
``taper_fraction`` of the aperture (a Tukey window; Harris, Proc. IEEE 66, 51 (1978)), which
makes the leakage decay quickly away from the peak; radiation crossing the plane in the
tapered zone (grazing angles, far outside any NA < 0.99 for the default plane heights) is
attenuated. Errors of both kinds are part of the validation against the exact planar solver
(tests and docs/photonics-fdfd.md).
"""

from __future__ import annotations

import functools
import math

import numpy as np
import scipy.special as sc
from numpy.typing import NDArray

from qlight.errors import ParameterError
from qlight.photonics.fdfd.solve import BorSolution

__all__ = ["PlaneSpectrum", "plane_spectrum"]

F64 = NDArray[np.float64]
C128 = NDArray[np.complex128]


@functools.lru_cache(maxsize=8)
def _gauss_legendre(n: int) -> tuple[F64, F64]:
    """Gauss–Legendre nodes and weights on [−1, 1] (cached: an n×n eigenproblem each)."""
    x, w = np.polynomial.legendre.leggauss(n)
    return np.asarray(x, dtype=np.float64), np.asarray(w, dtype=np.float64)


class PlaneSpectrum:
    """Angular spectrum of one solution on the plane z = z_j, in a medium of index n."""

    def __init__(
        self,
        sol: BorSolution,
        j: int,
        n_top: float,
        n_nodes: int = 256,
        taper_fraction: float = 0.3,
    ) -> None:
        g = sol.grid
        if not (0 < j < g.nz) or not (g.z_pml_lo_nm < g.z_int_nm[j] < g.z_pml_hi_nm):
            raise ParameterError("plane", j, "must lie between the z PMLs")
        n = g.nr - g.pml_r
        self.n_top = n_top
        self.k0 = g.k0_per_nm
        self.m = sol.m
        r = g.r_half_nm[:n]
        er = sol.e_r[:n, j]
        ephi = 0.5 * (sol.e_phi[:n, j] + sol.e_phi[1 : n + 1, j])
        hphi = 0.5 * (sol.h_phi[:n, j - 1] + sol.h_phi[:n, j])
        hr_i = 0.5 * (sol.h_r[:, j - 1] + sol.h_r[:, j])
        hr = 0.5 * (hr_i[:n] + hr_i[1 : n + 1])
        if not 0.0 <= taper_fraction < 1.0:
            raise ParameterError("taper_fraction", taper_fraction, "must be in [0, 1)")
        r_edge = n * g.dr_nm
        r_taper = (1.0 - taper_fraction) * r_edge
        x = np.clip((r - r_taper) / max(r_edge - r_taper, 1e-300), 0.0, 1.0)
        window = np.cos(0.5 * math.pi * x) ** 2
        self._r = r
        self._dr = g.dr_nm
        self._e = (window * (er + 1j * ephi), window * (er - 1j * ephi))
        self._h = (window * (hr + 1j * hphi), window * (hr - 1j * hphi))
        # Gauss–Legendre in θ of the top medium, 0 … π/2
        x, w = _gauss_legendre(n_nodes)
        self.theta = (x + 1.0) * math.pi / 4.0
        self._w_theta = w * math.pi / 4.0
        self._g = self._density(n_top * self.k0 * np.sin(self.theta))

    def _density(self, k: F64) -> F64:
        """g(k) = (π/2) Re[−i(a₋b₋* − a₊b₊*)] (module docstring)."""
        kr = k[:, None] * self._r[None, :]
        wr = self._r * self._dr
        jp = sc.jv(self.m + 1, kr) * wr
        jm = sc.jv(self.m - 1, kr) * wr
        ap, bp = jp @ self._e[0], jp @ self._h[0]
        am, bm = jm @ self._e[1], jm @ self._h[1]
        return np.asarray(0.5 * math.pi * np.real(-1j * (am * np.conj(bm) - ap * np.conj(bp))))

    def pattern(self) -> tuple[F64, F64]:
        """(θ, dP/dΩ) in the top medium, averaged over the azimuth."""
        kt = self.n_top * self.k0
        return self.theta, kt * kt * np.cos(self.theta) * self._g / (2.0 * math.pi)

    def power_into_na(self, na: float) -> float:
        """Power radiated into the cone sin θ ≤ NA/n (NA ≤ n)."""
        if not (0.0 < na <= self.n_top + 1e-12):
            raise ParameterError("na", na, f"must be in (0, {self.n_top:g}] (top medium index)")
        theta_max = math.asin(min(1.0, na / self.n_top))
        x, w = _gauss_legendre(256)
        theta = (x + 1.0) * theta_max / 2.0
        kt = self.n_top * self.k0
        g = self._density(kt * np.sin(theta))
        dens = kt * kt * np.sin(theta) * np.cos(theta) * g
        return float(np.sum(w * dens) * theta_max / 2.0)


def plane_spectrum(sol: BorSolution, z_nm: float, n_top: float) -> PlaneSpectrum:
    """The angular spectrum on the integer z node nearest to ``z_nm``."""
    j = round((z_nm - sol.grid.z0_nm) / sol.grid.dz_nm)
    return PlaneSpectrum(sol, j, n_top)
