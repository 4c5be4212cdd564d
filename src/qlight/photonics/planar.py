"""Exact emission of a point dipole in a planar multilayer (angular-spectrum method).

The dipole field is expanded in plane waves of in-plane wavevector k_ρ = u·k₀ (Weyl
expansion); each s (TE) and p (TM) wave is reflected and transmitted by the stack with
recursive Fresnel coefficients. Everything is normalised to P₀, the power the same dipole
radiates in the bulk of its own (lossless) medium of index n₁.

**Total power** (Purcell factor), with w_j = (ε_j − u²)^½ (Im w_j ≥ 0), the generalised
reflection coefficients R_t, R_b of the stack above and below the dipole's medium (s: E
field, p: H field) and ρ_t = R_t e^{2ik₀w₁d_t}, ρ_b = R_b e^{2ik₀w₁d_b} at the distances
d_t, d_b of the dipole to its medium's interfaces:

    F_σ = (1 + σρ_t)(1 + σρ_b) / (1 − ρ_tρ_b),
    P_⊥/P₀ = (3/2) Re ∫₀^∞ u³/(n₁³ w₁) F_p⁺ du,
    P_∥/P₀ = (3/4) Re ∫₀^∞ u/(n₁ w₁) [F_s⁺ + (w₁²/n₁²) F_p⁻] du,

(Novotny & Hecht, *Principles of Nano-Optics*, 2nd ed., §10.6, Eqs. 10.26–10.27 for one
interface; the cavity form with both reflectors follows from summing the multiple
reflections, as in Chance, Prock & Silbey, Adv. Chem. Phys. 37, 1 (1978) and Polerecký et al.,
Appl. Opt. 39, 3968 (2000)). σ = ±1 is the relative sign of the up- and down-going source
waves: +1 for s and for the p wave of a vertical dipole, −1 for the p wave of a horizontal one.

The integrand has poles on (lossless) or just above (lossy) the real axis at guided and
surface-plasmon modes and branch points at the outer media's k; the integral is taken along
a contour deformed into the fourth quadrant, u = t − i·h·sin(πt/u_c) for t ∈ [0, u_c]
beyond all of them, then along the real axis (Paulus, Gay-Balmaz & Martin, Phys. Rev. E 62,
5797 (2000), §III), where only evanescent waves remain; with ``exp(-iωt)`` every w_j keeps
Im w_j > 0 on that contour, so no branch cut is crossed.

**Far field**: a plane wave reaching the top medium carries, per du (horizontal dipole
averaged over its in-plane azimuth, which equals the φ-average of its pattern),

    dP_v/du = (3/4) u³ Re(w_T/ε_T) |X_p⁺|² / (n₁ |w₁|²),
    dP_s/du = (3/8) u Re(w_T) |X_s⁺|² / (n₁ |w₁|²),
    dP_p/du = (3/8) u Re(w_T/ε_T) |X_p⁻|² / n₁,
    X_σ = T_t e^{ik₀w₁d_t} (1 + σρ_b)/(1 − ρ_tρ_b),

with T_t the generalised transmission from the dipole's medium into the top medium
(the bulk limit reproduces the classic (3/8π)(1 − sin²θcos²φ) and (3/8π)sin²θ patterns).
The objective of aperture NA in the top medium (index n_T) collects u = n_T sin θ ≤ NA.
The bottom half-space is the mirror image. In a lossless stack, guided power is
P − P_top − P_bottom; with absorption that remainder is guided + absorbed power.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from qlight._validation import check_finite, check_positive
from qlight.errors import ParameterError
from qlight.photonics._stackoptics import (
    LOSSLESS,
    Geometry,
    adaptive,
    total_integrand,
    w_normal,
)
from qlight.photonics.layers import Stack

__all__ = ["PlanarEmission", "angular_pattern", "planar_emission"]

C128 = NDArray[np.complex128]
F64 = NDArray[np.float64]


def _hv(rows: C128) -> C128:
    """(h, v) rows from the (h_s, h_p, v) rows of :func:`total_integrand`."""
    return np.stack([rows[0] + rows[1], rows[2]])


def _total_power(geo: Geometry, tol: float) -> tuple[float, float]:
    """(P_∥, P_⊥)/P₀ by the deformed contour plus the real-axis tail."""
    if not (math.isfinite(geo.d_top_nm) or math.isfinite(geo.d_bottom_nm)):
        return 1.0, 1.0
    u_c = geo.contour_end()
    depth = min(0.5, 0.2 * u_c)

    def on_contour(t: F64) -> F64:
        arg = math.pi * t / u_c
        u = t - 1j * depth * np.sin(arg)
        du = 1.0 - 1j * depth * (math.pi / u_c) * np.cos(arg)
        result: F64 = (_hv(total_integrand(geo, u)) * du[None, :]).real
        return result

    d_min = min(geo.d_top_nm, geo.d_bottom_nm)
    scale = 1.0 / (2.0 * geo.k0_per_nm * d_min)

    def on_tail(t: F64) -> F64:
        u = u_c + scale * t / (1.0 - t)
        du = scale / (1.0 - t) ** 2
        with np.errstate(over="ignore", invalid="ignore", under="ignore"):
            val = _hv(total_integrand(geo, u.astype(np.complex128))) * du[None, :]
        result: F64 = np.nan_to_num(val.real, nan=0.0, posinf=0.0, neginf=0.0)
        return result

    n_panels = 8 + math.ceil(geo.optical_phase() / math.pi)
    edges = list(np.linspace(0.0, u_c, n_panels + 1))
    part = adaptive(on_contour, edges, tol)
    tail = adaptive(on_tail, list(np.linspace(0.0, 1.0, 9)), tol)
    total = part + tail
    return float(total[0]), float(total[1])


def _far_field_density(geo: Geometry, side: str, u: C128) -> C128:
    """(dP_s/du, dP_p/du, dP_v/du) per P₀ into the top or bottom far medium at real u."""
    n1 = geo.n1
    far = geo.eps[0] if side == "top" else geo.eps[-1]
    assert far is not None
    w_far = w_normal(far, u)
    rows = []
    for pol, sigma in (("s", 1.0), ("p", -1.0), ("p", 1.0)):
        w1, rt, rb, tt, tb = geo.coefficients(pol, u)
        if side == "top":
            x = tt * (1.0 + sigma * rb) / (1.0 - rt * rb)
        else:
            x = tb * (1.0 + sigma * rt) / (1.0 - rt * rb)
        a2 = np.abs(x) ** 2
        if pol == "s":
            rows.append(0.375 * u * w_far.real * a2 / (n1 * np.abs(w1) ** 2))
        elif sigma < 0:
            rows.append(0.375 * u * (w_far / far).real * a2 / n1)
        else:
            rows.append(0.75 * u**3 * (w_far / far).real * a2 / (n1 * np.abs(w1) ** 2))
    return np.stack(rows).astype(np.complex128)


def _radiates_into(geo: Geometry, side: str) -> bool:
    far = geo.eps[0] if side == "top" else geo.eps[-1]
    return far is not None and far.real > 0.0 and abs(far.imag) <= LOSSLESS * abs(far)


def _far_power(geo: Geometry, side: str, u_max: float, tol: float) -> tuple[float, float]:
    """(P_∥, P_⊥)/P₀ radiated into the far medium of ``side`` with u ≤ u_max."""
    if not _radiates_into(geo, side) or u_max <= 0.0:
        return 0.0, 0.0
    far = geo.eps[0] if side == "top" else geo.eps[-1]
    assert far is not None
    n_far = math.sqrt(far.real)
    th_max = math.asin(min(1.0, u_max / n_far))
    cuts = sorted(
        {math.asin(p / n_far) for p in geo.singular_u() if 0.0 < p < min(u_max, n_far)}
        | {0.0, th_max}
    )
    # Between the cuts (square-root kinks at the branch points inside the range), integrate
    # in σ ∈ [k, k+1], s = σ − k, with θ = a + (b − a)·m(s): m(s) = 3s² − 2s³ with kinks at
    # both ends, s² or 1 − (1 − s)² with one, s with none. The map's derivative vanishes
    # at a kink, which makes the integrand smooth there for Gauss–Legendre.
    kinks = set(cuts[1:-1])
    lo = np.array(cuts[:-1])
    width = np.diff(np.array(cuts))
    left = np.array([c in kinks for c in cuts[:-1]])
    right = np.array([c in kinks for c in cuts[1:]])
    n_sub = 4 + math.ceil(geo.optical_phase() / math.pi)
    edges = list(np.linspace(0.0, float(lo.size), lo.size * n_sub + 1))

    def f(sigma: F64) -> F64:
        k = np.minimum(np.floor(sigma).astype(np.int64), lo.size - 1)
        x = sigma - k
        lk, rk = left[k], right[k]
        m = np.where(lk & rk, x * x * (3.0 - 2.0 * x), np.where(lk, x * x, x))
        m = np.where(rk & ~lk, 1.0 - (1.0 - x) ** 2, m)
        dm = np.where(lk & rk, 6.0 * x * (1.0 - x), np.where(lk, 2.0 * x, 1.0))
        dm = np.where(rk & ~lk, 2.0 * (1.0 - x), dm)
        theta = lo[k] + width[k] * m
        dtheta = width[k] * dm
        u = (n_far * np.sin(theta)).astype(np.complex128)
        jac = n_far * np.cos(theta) * dtheta
        # within ~1e-8 of grazing exit, sin θ rounds to 1 and w₁ to 0 when the far medium
        # is the emitter's own: the integrable 1/w₁ of the density meets the Jacobian's
        # cos θ. Such nodes carry weights ≲ 1e-8 of a bounded product; they count as 0.
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            dens = _far_field_density(geo, side, u).real * jac[None, :]
        result: F64 = np.where(np.isfinite(dens), dens, 0.0)
        return result

    vals = adaptive(f, edges, tol)
    return float(vals[0] + vals[1]), float(vals[2])


# --------------------------------------------------------------------------- public API

Dipole = str | float


def _weights(dipole: Dipole) -> tuple[float, float]:
    """(weight of the horizontal, weight of the vertical) result for an orientation."""
    if isinstance(dipole, str):
        key = dipole.lower()
        if key == "h":
            return 1.0, 0.0
        if key == "v":
            return 0.0, 1.0
        if key == "iso":
            return 2.0 / 3.0, 1.0 / 3.0
        raise ParameterError("dipole", dipole, "must be 'h', 'v', 'iso' or a polar angle")
    theta = check_finite("dipole", dipole)
    return math.sin(theta) ** 2, math.cos(theta) ** 2


@dataclass(frozen=True, slots=True)
class PlanarEmission:
    """Emission of a dipole in a planar stack, normalised to its bulk power P₀.

    ``*_h`` are for a dipole parallel to the layers, ``*_v`` perpendicular. A dipole at
    polar angle θ from the normal combines them as sin²θ·X_h + cos²θ·X_v (no cross terms
    survive the azimuthal integration); ``"iso"`` is the (2X_h + X_v)/3 of three
    incoherent orthogonal dipoles (a freely rotating emitter).

    Attributes
    ----------
    total_h, total_v : float
        Total power P/P₀ (the Purcell factor; includes absorption in metals).
    top_h, top_v, bottom_h, bottom_v : float
        Power radiated into the top and bottom far media (0 into PEC or absorbing media).
    na_h, na_v : float
        Power into the objective (top medium, sin θ ≤ NA/n_top); NaN when ``na`` is None.
    lossless : bool
        True when no medium absorbs; then ``total − top − bottom`` is guided power.
    """

    spec: str
    wavelength_nm: float
    na: float | None
    n_emitter: float
    total_h: float
    total_v: float
    top_h: float
    top_v: float
    bottom_h: float
    bottom_v: float
    na_h: float
    na_v: float
    lossless: bool

    def _mix(self, h: float, v: float, dipole: Dipole) -> float:
        a, b = _weights(dipole)
        return a * h + b * v

    def purcell(self, dipole: Dipole = "iso") -> float:
        """Total power relative to the same dipole in the bulk of its own medium."""
        return self._mix(self.total_h, self.total_v, dipole)

    def collection_efficiency(self, dipole: Dipole = "iso") -> float:
        """Fraction of the total emitted power collected within the NA."""
        return self._mix(self.na_h, self.na_v, dipole) / self.purcell(dipole)

    def radiated_to_top(self, dipole: Dipole = "iso") -> float:
        """Fraction of the total emitted power radiated into the top far medium."""
        return self._mix(self.top_h, self.top_v, dipole) / self.purcell(dipole)

    def radiated_to_bottom(self, dipole: Dipole = "iso") -> float:
        """Fraction of the total emitted power radiated into the bottom far medium."""
        return self._mix(self.bottom_h, self.bottom_v, dipole) / self.purcell(dipole)

    def guided_or_absorbed(self, dipole: Dipole = "iso") -> float:
        """Fraction 1 − top − bottom: guided modes (lossless stack) plus absorption."""
        return 1.0 - self.radiated_to_top(dipole) - self.radiated_to_bottom(dipole)

    def summary(self, dipole: Dipole = "iso") -> dict[str, float | str | bool | None]:
        """The numbers ``qlight design planar --json`` prints, for one orientation."""
        rest = self.guided_or_absorbed(dipole)
        return {
            "layers": self.spec,
            "wavelength_nm": self.wavelength_nm,
            "dipole": dipole if isinstance(dipole, str) else float(dipole),
            "na": self.na,
            "n_emitter": self.n_emitter,
            "collection_efficiency": self.collection_efficiency(dipole),
            "radiated_to_top": self.radiated_to_top(dipole),
            "radiated_to_bottom": self.radiated_to_bottom(dipole),
            "guided": rest if self.lossless else None,
            "guided_or_absorbed": rest,
            "purcell": self.purcell(dipole),
            "collected_per_bulk": self._mix(self.na_h, self.na_v, dipole),
            "lossless": self.lossless,
        }


def _check_na(geo: Geometry, stack: Stack, na: float | None) -> float | None:
    if na is None:
        return None
    a = check_positive("na", na)
    top = geo.eps[0]
    if top is None or not _radiates_into(geo, "top"):
        raise ParameterError(
            "na", na, f"needs a transparent top medium (the objective's); got {stack.top.name}"
        )
    n_top = math.sqrt(top.real)
    if a > n_top:
        raise ParameterError("na", na, f"must be <= the top medium's index {n_top:.4g}")
    return a


def planar_emission(
    stack: Stack, wavelength_nm: float, *, na: float | None = None, tol: float = 1e-9
) -> PlanarEmission:
    """Purcell factor, top/bottom radiation and collection into ``na`` of a dipole in a stack.

    Parameters
    ----------
    stack : Stack
        The layers and the emitter (:func:`qlight.photonics.layers.parse_stack`).
    wavelength_nm : float
        Vacuum wavelength.
    na : float, optional
        Numerical aperture of an objective in the top medium (≤ its index).
    tol : float
        Relative tolerance of the adaptive quadratures.

    Returns
    -------
    PlanarEmission

    Raises
    ------
    ParameterError
        NA above the top medium's index, an absorbing emitter medium, a wavelength outside
        a material's range.

    References
    ----------
    Novotny & Hecht, *Principles of Nano-Optics* (2012) ch. 10; Lukosz & Kunz, JOSA 67, 1607
    (1977); Chance, Prock & Silbey, Adv. Chem. Phys. 37, 1 (1978); Paulus et al., PRE 62,
    5797 (2000).

    Examples
    --------
    >>> from qlight.photonics.layers import parse_stack
    >>> res = planar_emission(parse_stack("air/n=2.4@1000"), 650.0, na=0.9)
    >>> round(res.na_h, 5), round(res.na_v, 5)
    (0.04298, 0.00364)
    """
    geo = Geometry.of(stack, wavelength_nm)
    a = _check_na(geo, stack, na)
    t = check_positive("tol", tol)
    if not 1e-12 <= t <= 1e-3:
        raise ParameterError("tol", tol, "must be in [1e-12, 1e-3]")
    total_h, total_v = _total_power(geo, t)
    top_h, top_v = _far_power(geo, "top", math.inf, t)
    bot_h, bot_v = _far_power(geo, "bottom", math.inf, t)
    na_h, na_v = (math.nan, math.nan) if a is None else _far_power(geo, "top", a, t)
    lossless = all(e is None or abs(e.imag) <= LOSSLESS * abs(e) for e in geo.eps)
    return PlanarEmission(
        spec=stack.spec(),
        wavelength_nm=float(wavelength_nm),
        na=a,
        n_emitter=geo.n1,
        total_h=total_h,
        total_v=total_v,
        top_h=top_h,
        top_v=top_v,
        bottom_h=bot_h,
        bottom_v=bot_v,
        na_h=na_h,
        na_v=na_v,
        lossless=lossless,
    )


@dataclass(frozen=True, slots=True)
class AngularPattern:
    """Radiant intensity dP/dΩ per P₀ in a far medium versus the polar angle there.

    ``h`` is the azimuthal average for a horizontal dipole, ``h_p``/``h_s`` its cuts in the
    plane containing the dipole (φ = 0, p-polarised) and perpendicular to it (φ = 90°,
    s-polarised), ``v`` the vertical dipole's (azimuthally uniform) pattern.
    """

    theta_rad: F64
    h: F64
    h_p: F64
    h_s: F64
    v: F64


def angular_pattern(
    stack: Stack, wavelength_nm: float, theta_rad: F64, *, side: str = "top"
) -> AngularPattern:
    """Far-field pattern into the top (or bottom) medium at polar angles θ ∈ [0, π/2).

    dP/dΩ = (dP/du)·n_far² cos θ / (2π u) with u = n_far sin θ (module docstring).
    """
    if side not in ("top", "bottom"):
        raise ParameterError("side", side, "must be 'top' or 'bottom'")
    geo = Geometry.of(stack, wavelength_nm)
    theta = np.asarray(theta_rad, dtype=np.float64)
    if theta.ndim != 1 or not np.all((theta >= 0.0) & (theta < 0.5 * math.pi)):
        raise ParameterError("theta_rad", "array", "must be 1-D with values in [0, π/2)")
    zeros = np.zeros_like(theta)
    if not _radiates_into(geo, side):
        return AngularPattern(theta, zeros, zeros, zeros, zeros.copy())
    far = geo.eps[0] if side == "top" else geo.eps[-1]
    assert far is not None
    n_far = math.sqrt(far.real)
    th = np.maximum(theta, 1e-9)
    u = n_far * np.sin(th)
    dens = _far_field_density(geo, side, u.astype(np.complex128)).real
    jac = n_far**2 * np.cos(th) / (2.0 * math.pi * u)
    s_part, p_part, v_part = dens[0] * jac, dens[1] * jac, dens[2] * jac
    return AngularPattern(theta, s_part + p_part, 2.0 * p_part, 2.0 * s_part, v_part)
