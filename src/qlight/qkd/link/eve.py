"""Eve's attacks and the photon-number table at Bob's detectors that they produce.

The link kernel needs, per intensity class ``k``, the joint probability ``W[k, m, tag]`` that
``m`` photons reach (and would be registered by) Bob's detectors, with ``tag`` saying what
Eve did to that pulse: :data:`TAG_NONE`, :data:`TAG_PNS` (Eve holds a copy of the photon,
so she learns the bit after basis reconciliation) or :data:`TAG_RESENT` (intercepted,
measured and re-prepared).

Attacks
-------
* **None** — each of the ``n`` photons survives channel and detector with ``η = t η_Bob``,
  so ``m ~ Binomial(n, η)``.
* **Intercept-resend, fraction F** — Eve, at Alice's output, intercepts a fraction ``F`` of
  the non-empty pulses, measures each in a random basis with a perfect detector and
  re-prepares ``n`` photons in the state she found; the pulse then crosses the channel as
  before, so the gain is unchanged and the QBER grows by ``F/4`` (Bennett & Brassard 1984;
  Gisin et al., RMP 74, 145 (2002), Sec. VI.A): ``E ≈ e_d + F (1 − 2 e_d)/4``.
* **Photon-number splitting** (Brassard, Lütkenhaus, Mor, Sanders, PRL 85, 1330 (2000)) —
  Eve replaces the channel by a lossless one. From each multi-photon pulse she keeps one
  photon and forwards the other ``n − 1`` (with probability ``r``); single photons she
  forwards with probability ``s`` and blocks otherwise. She picks ``s`` (then ``r``) so that
  Bob's expected photon-click probability on the *signal* class equals the one without
  attack: singles are blocked as far as possible. She cannot tell decoy from signal pulses,
  so the same ``s, r`` apply to every class — which is what decoy states detect (Hwang, PRL
  91, 057901 (2003); Lo, Ma, Chen, PRL 94, 230504 (2005)). Bob's own detector efficiency
  stays trusted (Eve cannot raise it), so ``m ~ Binomial(n − 1, η_Bob)`` for forwarded
  multi-photon pulses.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.stats import binom

from qlight._validation import check_fraction
from qlight.errors import ParameterError

__all__ = [
    "TAG_NONE",
    "TAG_PNS",
    "TAG_RESENT",
    "Eve",
    "bob_photon_table",
    "parse_eve",
    "pns_strategy",
]

TAG_NONE = 0
TAG_PNS = 1
TAG_RESENT = 2
N_TAGS = 3


@dataclass(frozen=True)
class Eve:
    """An eavesdropper: ``kind`` is ``"none"``, ``"intercept-resend"`` or ``"pns"``.

    ``fraction`` is the intercepted fraction F for intercept-resend (ignored otherwise).
    """

    kind: str = "none"
    fraction: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in ("none", "intercept-resend", "pns"):
            raise ParameterError("eve", self.kind, "must be none, intercept-resend:F or pns")
        check_fraction("fraction", self.fraction)

    def label(self) -> str:
        """The CLI spelling (``none``, ``intercept-resend:F``, ``pns``)."""
        if self.kind == "intercept-resend":
            return f"intercept-resend:{self.fraction:g}"
        return self.kind


def parse_eve(spec: str) -> Eve:
    """Parse ``none``, ``pns`` or ``intercept-resend:F`` (F in [0, 1], default 1)."""
    text = spec.strip().lower()
    if text in ("none", "pns"):
        return Eve(text)
    if text == "intercept-resend" or text.startswith("intercept-resend:"):
        _, _, frac = text.partition(":")
        try:
            f = float(frac) if frac else 1.0
        except ValueError:
            raise ParameterError("eve", spec, "fraction must be a number in [0, 1]") from None
        return Eve("intercept-resend", check_fraction("eve fraction", f))
    raise ParameterError("eve", spec, "must be none, intercept-resend:F or pns")


def _thinned(p_n: NDArray[np.float64], eta: float, m_max: int) -> NDArray[np.float64]:
    """``P(m) = Σ_n p_n Binomial(m; n, η)`` for m = 0 … m_max."""
    n = np.arange(p_n.size)
    m = np.arange(m_max + 1)
    kernel = binom.pmf(m[:, None], n[None, :], eta)  # [m, n]
    out: NDArray[np.float64] = kernel @ p_n
    return out


def pns_strategy(
    p_signal: NDArray[np.float64], eta_channel: float, eta_bob: float
) -> tuple[float, float]:
    """Eve's forwarding probabilities ``(s, r)`` for singles and multi-photon pulses.

    Target: Bob's photon-click probability without attack,
    ``G = Σ_n p_n [1 − (1 − t η_B)^n]``. Eve's: ``s p_1 η_B + r Σ_{n≥2} p_n [1 − (1 − η_B)^{n−1}]``.
    If the multi-photon pulses alone reach ``G``, ``s = 0`` and ``r = G / M``; otherwise
    ``r = 1`` and ``s = (G − M)/(p_1 η_B)``, capped at 1 (then Eve cannot hide fully: at
    low loss there is not enough loss to hide behind).
    """
    n = np.arange(p_signal.size)
    target = float(np.sum(p_signal * -np.expm1(n * math.log1p(-eta_channel * eta_bob))))
    if eta_bob == 0.0:
        return 0.0, 0.0
    multi = float(np.sum(p_signal[2:] * -np.expm1((n[2:] - 1) * math.log1p(-eta_bob))))
    if multi >= target:
        return 0.0, (target / multi if multi > 0.0 else 0.0)
    single = float(p_signal[1]) * eta_bob if p_signal.size > 1 else 0.0
    if single <= 0.0:
        return 0.0, 1.0
    return min(1.0, (target - multi) / single), 1.0


def bob_photon_table(
    photons: NDArray[np.float64], eta_channel: float, eta_bob: float, eve: Eve
) -> NDArray[np.float64]:
    """``W[k, m, tag]`` for the photon-number table ``photons[k, n]`` (module docstring)."""
    k_count, n_size = photons.shape
    m_max = n_size - 1
    table = np.zeros((k_count, m_max + 1, N_TAGS), dtype=np.float64)
    if eve.kind == "pns":
        s, r = pns_strategy(photons[0], eta_channel, eta_bob)
        for k in range(k_count):
            p = photons[k]
            single = p[1] if n_size > 1 else 0.0
            table[k, 0, TAG_NONE] += p[0] + single * (1.0 - s * eta_bob)
            if n_size > 1:
                table[k, 1, TAG_NONE] += single * s * eta_bob
            # forwarded multi-photon pulses: n - 1 photons through Bob's efficiency
            shifted = np.zeros(n_size, dtype=np.float64)
            shifted[1:-1] = p[2:]
            table[k, :, TAG_PNS] += r * _thinned(shifted, eta_bob, m_max)
            table[k, 0, TAG_PNS] += (1.0 - r) * float(np.sum(p[2:]))  # split, then blocked
        return table
    for k in range(k_count):
        base = _thinned(photons[k], eta_channel * eta_bob, m_max)
        f = eve.fraction if eve.kind == "intercept-resend" else 0.0
        table[k, :, TAG_NONE] = base * (1.0 - f)
        table[k, 1:, TAG_RESENT] = base[1:] * f
        # m = 0 from an intercepted (non-empty) pulse keeps its tag: a dark count or an
        # afterpulse in that slot still gives Eve Alice's bit
        table[k, 0, TAG_RESENT] = f * (base[0] - photons[k, 0])
        table[k, 0, TAG_NONE] = base[0] - table[k, 0, TAG_RESENT]
    return table
