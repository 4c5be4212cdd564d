"""Plane-wave optics of a planar stack: recursive Fresnel coefficients and quadrature.

Private helpers of :mod:`qlight.photonics.planar` (see its docstring for the physics):
normalised k_z on the physical sheet, Fresnel coefficients (s: E field, p: H field),
generalised reflection/transmission of the media on one side of the emitter, the stack
evaluated at one wavelength, and a vectorised adaptive Gauss–Legendre quadrature.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from qlight._validation import check_positive
from qlight.errors import ParameterError, QlightError
from qlight.photonics.layers import Stack

C128 = NDArray[np.complex128]
F64 = NDArray[np.float64]

_GL_X, _GL_W = np.polynomial.legendre.leggauss(16)
#: Relative Im ε below which a medium counts as lossless.
LOSSLESS = 1e-12


# ----------------------------------------------------------------- Fresnel and the stack


def w_normal(eps: complex, u: C128) -> C128:
    """Normalised k_z = (ε − u²)^½ on the physical sheet (Im ≥ 0)."""
    w: C128 = np.sqrt(eps - u * u + 0j)
    return np.where(w.imag < 0.0, -w, w)


def _fresnel(pol: str, ea: complex, eb: complex, wa: C128, wb: C128) -> tuple[C128, C128]:
    """Reflection and transmission from medium a into b (s: E field, p: H field)."""
    if pol == "s":
        den = wa + wb
        return (wa - wb) / den, 2.0 * wa / den
    den = eb * wa + ea * wb
    return (eb * wa - ea * wb) / den, 2.0 * eb * wa / den


def _side(
    pol: str,
    eps: list[complex | None],
    thick_nm: list[float],
    eps_e: complex,
    w_e: C128,
    k0: float,
    u: C128,
) -> tuple[C128, C128]:
    """Generalised (R, T) seen from the dipole's medium looking towards one side.

    ``eps``/``thick_nm`` list the media on that side from the far (semi-infinite) medium
    to the one next to the dipole's medium (``None``: PEC; the far medium's thickness is
    unused). R is the reflection at the boundary of the dipole's medium; T maps the
    amplitude leaving that boundary to the amplitude in the far medium at its interface
    (zero beyond a PEC). Recursive Fresnel formulas: Born & Wolf, *Principles of Optics*,
    §1.6.4 (Airy summation per layer).
    """
    pec_r = -1.0 if pol == "s" else 1.0
    n = len(eps)
    ws: list[C128 | None] = [None if e is None else w_normal(e, u) for e in eps]
    gamma: C128 = np.zeros_like(u)
    factors: list[tuple[C128, C128]] = []
    blocked = False
    r_in: C128 = gamma
    for j in range(n):
        e_j, w_j = eps[j], ws[j]
        e_in = eps_e if j + 1 == n else eps[j + 1]
        w_in = w_e if j + 1 == n else ws[j + 1]
        if e_j is None or w_j is None:
            blocked = True
            factors = []
            r_in = np.full_like(u, pec_r)
        elif e_in is not None and w_in is not None:
            r, t = _fresnel(pol, e_in, e_j, w_in, w_j)
            den = 1.0 + r * gamma
            r_in = (r + gamma) / den
            factors.append((t, den))
        if j + 1 < n and w_in is not None:
            phase = np.exp(1j * k0 * w_in * thick_nm[j + 1])
            gamma = r_in * phase * phase
    if blocked:
        return r_in, np.zeros_like(u)
    trans: C128 = np.ones_like(u)
    for j in range(n - 1, -1, -1):
        t, den = factors[j]
        trans = trans * t / den
        if j >= 1:
            w_j = ws[j]
            assert w_j is not None
            trans = trans * np.exp(1j * k0 * w_j * thick_nm[j])
    return r_in, trans


@dataclass(frozen=True, slots=True)
class Geometry:
    """A stack evaluated at one wavelength (permittivities, distances, k₀)."""

    eps: tuple[complex | None, ...]
    thick_nm: tuple[float, ...]
    e: int
    eps1: float
    d_top_nm: float
    d_bottom_nm: float
    k0_per_nm: float

    @property
    def n1(self) -> float:
        return math.sqrt(self.eps1)

    @classmethod
    def of(cls, stack: Stack, wavelength_nm: float) -> Geometry:
        lam = check_positive("wavelength_nm", wavelength_nm)
        eps: list[complex | None] = []
        for layer in stack.layers:
            eps.append(None if layer.material.is_pec else layer.material.epsilon(lam))
        e1 = eps[stack.emitter_layer]
        assert e1 is not None
        if abs(e1.imag) > LOSSLESS * abs(e1) or e1.real <= 0.0:
            name = stack.layers[stack.emitter_layer].material.name
            raise ParameterError(
                "emitter medium", name, f"must be a lossless dielectric (ε = {e1:.4g})"
            )
        thick = [layer.thickness_nm or 0.0 for layer in stack.layers]
        d_t, d_b = stack.distances_nm()
        return cls(
            tuple(eps), tuple(thick), stack.emitter_layer, e1.real, d_t, d_b, 2.0 * math.pi / lam
        )

    def coefficients(self, pol: str, u: C128) -> tuple[C128, C128, C128, C128, C128]:
        """(w₁, ρ_t, ρ_b, T_t e^{ik₀w₁d_t}, T_b e^{ik₀w₁d_b}) at the in-plane u."""
        w1 = w_normal(self.eps1, u)
        e = self.e
        out: list[C128] = []
        for side in ("top", "bottom"):
            if side == "top":
                eps = list(self.eps[:e])
                thick = list(self.thick_nm[:e])
                d = self.d_top_nm
            else:
                eps = list(self.eps[e + 1 :][::-1])
                thick = list(self.thick_nm[e + 1 :][::-1])
                d = self.d_bottom_nm
            if not eps:
                out += [np.zeros_like(u), np.ones_like(u)]
                continue
            r, t = _side(pol, eps, thick, self.eps1, w1, self.k0_per_nm, u)
            half = np.exp(1j * self.k0_per_nm * w1 * d)
            out += [r * half * half, t * half]
        return w1, out[0], out[2], out[1], out[3]

    def singular_u(self) -> list[float]:
        """Real u of the branch points (outer media, the dipole's medium)."""
        pts = [self.n1]
        for e in (self.eps[0], self.eps[-1]):
            if e is not None and e.real > 0.0:
                pts.append(math.sqrt(e.real))
        return pts

    def contour_end(self) -> float:
        """u_c: beyond every branch point, guided mode and surface-plasmon pole."""
        top = [self.n1]
        diel = [e for e in self.eps if e is not None and e.real > 0.0]
        top += [math.sqrt(abs(e)) for e in diel]
        metals = [e for e in self.eps if e is not None and e.real <= 0.0]
        for m in metals:
            for d in diel:
                s = m + d
                if abs(s) > 1e-9:
                    top.append(abs(np.sqrt(m * d / s)))
        return 1.2 * max(top) + 0.2

    def optical_phase(self) -> float:
        """Largest round-trip phase 2k₀ Σ Re(n)·h, for the initial quadrature panels."""
        total = 0.0
        for e, h in zip(self.eps, self.thick_nm, strict=True):
            if e is not None and h > 0.0:
                total += abs(np.sqrt(e)) * h
        for d in (self.d_top_nm, self.d_bottom_nm):
            if math.isfinite(d):
                total += self.n1 * d
        return 2.0 * self.k0_per_nm * total


# ----------------------------------------------------------------------- quadrature


class NotConvergedError(QlightError):
    """An integral over the in-plane wavevector did not converge (a pole on the path)."""


def adaptive(
    f: Callable[[F64], F64],
    edges: list[float],
    tol: float,
    max_rounds: int = 40,
    max_panels: int = 4096,
) -> F64:
    """∫ f over [edges[0], edges[-1]] by vectorised adaptive Gauss–Legendre (16 nodes).

    ``f`` maps an array of t to an array of shape (m, len(t)). A panel is accepted when
    its 16-node value and the sum over its two halves agree within a tolerance
    proportional to its width (relative to the running total); accepted panels keep the
    finer value. Raises :class:`NotConvergedError` when the panels would exceed
    ``max_panels`` or the integrand is not finite (a singularity on the path).
    """
    lo = np.asarray(edges[:-1], dtype=np.float64)
    hi = np.asarray(edges[1:], dtype=np.float64)
    span = edges[-1] - edges[0]
    total: F64 | None = None
    for _ in range(max_rounds):
        mid = 0.5 * (lo + hi)
        allp = [(lo, hi), (lo, mid), (mid, hi)]
        nodes = np.concatenate(
            [(0.5 * (b - a))[:, None] * _GL_X[None, :] + (0.5 * (a + b))[:, None] for a, b in allp]
        )
        vals = f(nodes.ravel())
        m = vals.shape[0]
        vals = vals.reshape(m, 3, lo.size, _GL_X.size)
        halfw = np.stack([0.5 * (b - a) for a, b in allp])  # (3, P)
        integ = np.einsum("mkpn,n->mkp", vals, _GL_W) * halfw[None]
        coarse, fine = integ[:, 0], integ[:, 1] + integ[:, 2]
        if total is None:
            total = np.zeros(m, dtype=np.float64)
        scale = max(1.0, float(np.max(np.abs(total + fine.sum(axis=1)))))
        err = np.max(np.abs(fine - coarse), axis=0)
        # accuracy floor of the integrand itself near sharp resonances (cancellation in
        # 1 − ρ_tρ_b): ~1e-12 of the panel's ∫|f|
        mag = np.einsum("mkpn,n->kp", np.abs(vals), _GL_W)[0] * halfw[0]
        floor = 4e-12 * mag
        ok = err <= np.maximum(tol * scale * np.maximum((hi - lo) / span, 1e-6), floor)
        total = total + fine[:, ok].sum(axis=1)
        if np.all(ok):
            return total
        lo, hi, mid = lo[~ok], hi[~ok], mid[~ok]
        if 2 * lo.size > max_panels or not np.all(np.isfinite(fine)):
            break
        lo, hi = np.concatenate([lo, mid]), np.concatenate([mid, hi])
    raise NotConvergedError(
        "the emission integral does not converge: a pole on the integration path "
        "(e.g. a cavity mode exactly at its cut-off); change a thickness slightly"
    )


def total_integrand(geo: Geometry, u: C128) -> C128:
    """Integrands (h_s, h_p, v) of P/P₀ in u: the s and p parts of the horizontal dipole's
    and the vertical dipole's total power (:mod:`qlight.photonics.planar`, Novotny & Hecht
    Eqs. 10.26-10.27 with the two-sided cavity factors F_σ)."""
    n1 = geo.n1
    w1, rt_s, rb_s, _, _ = geo.coefficients("s", u)
    _, rt_p, rb_p, _, _ = geo.coefficients("p", u)
    den_p = 1.0 - rt_p * rb_p
    f_s = (1.0 + rt_s) * (1.0 + rb_s) / (1.0 - rt_s * rb_s)
    f_pp = (1.0 + rt_p) * (1.0 + rb_p) / den_p
    f_pm = (1.0 - rt_p) * (1.0 - rb_p) / den_p
    g_hs = 0.75 * u / (n1 * w1) * f_s
    g_hp = 0.75 * u * w1 / (n1 * geo.eps1) * f_pm
    g_v = 1.5 * u**3 / (n1**3 * w1) * f_pp
    return np.stack([g_hs, g_hp, g_v])
