"""Solid immersion lens (SIL) on the emitter: a ray-optics collection model.

The lens is made of the emitter's own medium (a GaN SIL milled into the GaN, or an
index-matched one), so the emitter radiates as in the bulk:
dP/dΩ = (3/8π)(1 − sin²θ cos²φ) (horizontal dipole along x) or (3/8π) sin²θ (vertical),
Novotny & Hecht, *Principles of Nano-Optics*, Eq. 8.72. Rays leave through the spherical
surface with the Fresnel power transmissions T_s, T_p (Born & Wolf §1.5.3); the flat base
and rays that miss the objective are lost; the lens is large against the wavelength (no
near-field coupling to its surface) and aberration-free.

* **hemispherical** SIL, emitter at the centre: every ray meets the surface at normal
  incidence and leaves undeviated, T = 1 − ((n − 1)/(n + 1))²; the objective accepts
  θ ≤ asin(NA).
* **Weierstrass** (super-hemispherical, aplanatic) SIL, emitter at the aplanatic point R/n
  below the centre: a ray leaving the emitter at θᵢ meets the surface at incidence α with
  sin α = sin θᵢ / n (sine rule in the triangle centre–emitter–surface point) and leaves at
  angle θₒ to the axis with sin θᵢ = n sin θₒ, so the objective accepts
  sin θᵢ ≤ min(1, n·NA) (the n² gain in NA of the aplanatic SIL: Born & Wolf §4.2.3;
  Mansfield & Kino, Appl. Phys. Lett. 57, 2615 (1990)); the lower half space (θᵢ > 90°)
  never reaches the objective.

Comparison with the measurement (REFERENCES.md: GaN SILs raise collection 4–5× at NA 0.9,
Geng et al., Sci. Rep. 13, 8678 (2023)): the ideal hemispherical SIL gives 6.3× (horizontal
dipole), 44× (vertical) and 7.8× (isotropic) over a deep dipole under a flat surface; the
measured 4–5× is what an imperfect lens (emitter off the centre by a fraction of the radius,
surface roughness, finite size) reaches of that ideal (docs/photonics.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from scipy.integrate import quad

from qlight._validation import check_finite, check_positive
from qlight.errors import ParameterError

__all__ = ["SILCollection", "sil_collection"]

SILKind = Literal["hemispherical", "weierstrass"]


def _fresnel_t(n: float, alpha: float) -> tuple[float, float]:
    """Power transmissions (T_s, T_p) from index n into air at incidence angle α."""
    ca = math.cos(alpha)
    sb = n * math.sin(alpha)
    if sb >= 1.0:
        return 0.0, 0.0
    cb = math.sqrt(1.0 - sb * sb)
    rs = (n * ca - cb) / (n * ca + cb)
    rp = (cb - n * ca) / (cb + n * ca)
    return 1.0 - rs * rs, 1.0 - rp * rp


@dataclass(frozen=True, slots=True)
class SILCollection:
    """Fractions of the emitted power collected through a SIL (no Purcell change: P = P₀).

    Attributes
    ----------
    kind, na, n : the lens, the objective's NA, the lens (and emitter medium) index.
    eta_h, eta_v : float
        Collected fraction for a horizontal / vertical dipole.
    """

    kind: str
    na: float
    n: float
    eta_h: float
    eta_v: float

    @property
    def eta_iso(self) -> float:
        """Collected fraction of an isotropic emitter, (2η_h + η_v)/3."""
        return (2.0 * self.eta_h + self.eta_v) / 3.0


def sil_collection(kind: SILKind, na: float, n: float = 2.4) -> SILCollection:
    """Collection efficiency through an ideal SIL of index ``n`` into an objective of ``na``.

    The φ-integrated emission per polar angle θᵢ inside the lens is (3/8)(1 + cos²θᵢ) sinθᵢ
    for a horizontal dipole, split into s, (3/8) sinθᵢ, and p, (3/8) cos²θᵢ sinθᵢ, and
    (3/4) sin³θᵢ for a vertical one (p only); each is weighted by T_s or T_p at the surface
    (module docstring).

    Examples
    --------
    >>> r = sil_collection("hemispherical", 0.9)
    >>> round(r.eta_h, 4), round(r.eta_v, 4)
    (0.2709, 0.1609)
    """
    a = check_positive("na", na)
    if a >= 1.0:
        raise ParameterError("na", na, "must be < 1 (dry objective in air)")
    n_lens = check_finite("n", n)
    if n_lens <= 1.0:
        raise ParameterError("n", n, "must be > 1")
    if kind == "hemispherical":
        theta_max = math.asin(a)

        def alpha(theta: float) -> float:
            return 0.0 * theta

    elif kind == "weierstrass":
        theta_max = math.asin(min(1.0, n_lens * a))

        def alpha(theta: float) -> float:
            return math.asin(math.sin(theta) / n_lens)

    else:
        raise ParameterError("kind", kind, "must be 'hemispherical' or 'weierstrass'")

    def f_h(t: float) -> float:
        ts, tp = _fresnel_t(n_lens, alpha(t))
        return 0.375 * (ts + tp * math.cos(t) ** 2) * math.sin(t)

    def f_v(t: float) -> float:
        return 0.75 * _fresnel_t(n_lens, alpha(t))[1] * math.sin(t) ** 3

    eta_h = quad(f_h, 0.0, theta_max, epsabs=1e-13, epsrel=1e-11)[0]
    eta_v = quad(f_v, 0.0, theta_max, epsabs=1e-13, epsrel=1e-11)[0]
    return SILCollection(kind, a, n_lens, float(eta_h), float(eta_v))
