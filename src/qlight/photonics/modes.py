"""Guided modes of a lossless planar stack and the power a dipole couples into each.

In a lossless stack, the total-power integrand of :mod:`qlight.photonics.planar` is purely
imaginary on the real u axis wherever every outer medium is evanescent
(u > u_lo = max index of the transparent outer media), except at its poles u_m = n_eff:
the guided modes. The physical integral passes below each pole (the limit of a small
absorption, which moves the poles into Im u > 0), so each contributes
P_m = Re(iπ·Res g(u_m)) = ½ Re ∮ g du around it (Novotny & Hecht, *Principles of
Nano-Optics*, §10.6 and §12.1; Paulus et al., Phys. Rev. E 62, 5797 (2000)).

Poles are found on the real axis from the dispersion relation at the emitter's layer,
1 − ρ_t ρ_b = 0 (ρ: the reflections of the two sides including the propagation to the
dipole), and, for an emitter in a semi-infinite medium, from 1/ρ = 0; the residues are
taken by the trapezoidal rule on a small circle, which converges exponentially for an
analytic integrand. Perfect-conductor walls on both sides add the TEM mode at u = n₁.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import brentq

from qlight.errors import ParameterError
from qlight.photonics._stackoptics import LOSSLESS, Geometry, total_integrand
from qlight.photonics.layers import Stack

__all__ = ["GuidedMode", "guided_modes"]

C128 = NDArray[np.complex128]
F64 = NDArray[np.float64]

_ROWS = {"s": (0,), "p": (1, 2)}


@dataclass(frozen=True, slots=True)
class GuidedMode:
    """One guided mode and the power a dipole emits into it, per bulk power P₀.

    ``power_h`` is for a horizontal dipole (averaged over its in-plane azimuth),
    ``power_v`` for a vertical one (TE modes: 0).
    """

    polarization: str
    n_eff: float
    power_h: float
    power_v: float


def _dispersion(geo: Geometry, pol: str, u: F64, below_n1: bool) -> F64:
    """A real function of real u whose sign changes bracket the poles (module docstring)."""
    uc = u.astype(np.complex128)
    _, rt, rb, _, _ = geo.coefficients(pol, uc)
    both = math.isfinite(geo.d_top_nm) and math.isfinite(geo.d_bottom_nm)
    if not both:
        rho = rt if math.isfinite(geo.d_top_nm) else rb
        with np.errstate(divide="ignore", invalid="ignore"):
            inv = 1.0 / rho
        out: F64 = (inv.real / (1.0 + np.abs(inv))).astype(np.float64)
        return out
    x = rt * rb
    if below_n1:
        return np.asarray(x.imag, dtype=np.float64)
    return np.asarray(((1.0 - x) / (1.0 + np.abs(x))).real, dtype=np.float64)


def _is_pole(geo: Geometry, pol: str, u: float) -> bool:
    """True if the integrand really diverges at u (not a sign change through infinity)."""
    rows = _ROWS[pol]
    near = np.array([u + 1e-9, u + 1e-7], dtype=np.complex128) - 1e-12j
    g = np.abs(total_integrand(geo, near)[list(rows)]).max(axis=0)
    return bool(g[0] > 30.0 * g[1] and g[0] > 1e3)


def _residue_power(geo: Geometry, pol: str, u_m: float, radius: float) -> tuple[float, float]:
    """(P_h, P_v) = ½ Re ∮ g du on a circle of ``radius`` around u_m (64-point trapezoid)."""
    phi = 2.0 * math.pi * np.arange(64) / 64.0
    z = radius * np.exp(1j * phi)
    rows = total_integrand(geo, u_m + z)
    loop = (rows * (1j * z)[None, :]).sum(axis=1) * (2.0 * math.pi / 64.0)
    p = 0.5 * loop.real
    if pol == "s":
        return float(p[0]), 0.0
    return float(p[1]), float(p[2])


def guided_modes(stack: Stack, wavelength_nm: float, *, grid: int = 4000) -> list[GuidedMode]:
    """The guided modes of a lossless stack and the power the emitter sends into each.

    Parameters
    ----------
    stack : Stack
        A stack without absorbing media (PEC allowed).
    wavelength_nm : float
        Vacuum wavelength.
    grid : int
        Number of samples of the dispersion function between the cut-off and the highest
        index (modes closer than that spacing could be missed).

    Returns
    -------
    list of GuidedMode
        Sorted by decreasing effective index, TE before TM at equal index.

    Raises
    ------
    ParameterError
        If a medium absorbs (guided and absorbed power cannot be separated then).
    """
    geo = Geometry.of(stack, wavelength_nm)
    if any(e is not None and abs(e.imag) > LOSSLESS * abs(e) for e in geo.eps):
        raise ParameterError("layers", stack.spec(), "must be lossless to separate guided modes")
    outer = [e.real for e in (geo.eps[0], geo.eps[-1]) if e is not None]
    u_lo = math.sqrt(max(outer)) if outer else 0.0
    u_hi = max(math.sqrt(e.real) for e in geo.eps if e is not None)
    found: list[tuple[str, float]] = []
    if u_hi > u_lo:
        for pol in ("s", "p"):
            cuts = sorted({u_lo, u_hi} | ({geo.n1} if u_lo < geo.n1 < u_hi else set()))
            for a, b in itertools.pairwise(cuts):
                below = b <= geo.n1
                span = b - a
                us = np.linspace(a + 1e-9 * span, b - 1e-9 * span, grid)
                vals = _dispersion(geo, pol, us, below)
                idx = np.nonzero(np.sign(vals[:-1]) * np.sign(vals[1:]) < 0)[0]
                for i in idx:

                    def f(x: float, pol: str = pol, below: bool = below) -> float:
                        return float(_dispersion(geo, pol, np.array([x]), below)[0])

                    root = float(brentq(f, us[i], us[i + 1], xtol=1e-15, rtol=1e-15))
                    if _is_pole(geo, pol, root):
                        found.append((pol, root))
    e = geo.e
    if 0 < e < len(geo.eps) - 1 and geo.eps[e - 1] is None and geo.eps[e + 1] is None:
        found.append(("p", geo.n1))  # TEM mode between two perfect conductors
    specials = sorted({u_lo, u_hi, geo.n1})
    modes = []
    for pol, u_m in found:
        others = [abs(u_m - v) for p2, v in found if p2 == pol and v != u_m]
        others += [abs(u_m - v) for v in specials if abs(u_m - v) > 1e-12]
        radius = min([1e-3, *(0.3 * d for d in others)])
        p_h, p_v = _residue_power(geo, pol, u_m, radius)
        modes.append(GuidedMode("TE" if pol == "s" else "TM", u_m, p_h, p_v))
    modes.sort(key=lambda m: (-m.n_eff, m.polarization))
    return modes
