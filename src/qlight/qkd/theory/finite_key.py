"""Finite-key three-intensity decoy-state BB84 (Lim, Curty, Walenta, Xu, Zbinden 2014).

Lim, Curty, Walenta, Xu, Zbinden, "Concise security bounds for practical decoy-state quantum
key distribution", PRA 89, 022307 (2014) (cited as LCWXZ). Alice sends intensities
μ1 > μ2 + μ3, μ2 > μ3 >= 0 with probabilities p1, p2, p3 and chooses the X basis with
probability p_X (Bob too); X gives the key, Z the phase-error estimate. As in the paper's
simulations, the observed counts are set to their expected values for the channel model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from qlight._validation import check_positive
from qlight.errors import ParameterError
from qlight.qkd.theory.channel import (
    DetectorModel,
    WeakCoherentSource,
    gain_and_qber,
    raw_gain_and_qber,
)
from qlight.qkd.theory.result import KeyRateResult, binary_entropy, zero_rate

__all__ = [
    "FiniteKeySettings",
    "ThreeIntensityParams",
    "finite_key_decoy_rate",
    "hoeffding_delta",
    "sampling_gamma",
]


class FiniteKeySettings:
    """Security parameters of the finite-key analyses (Lim et al., PRA 89, 022307 (2014)).

    Parameters
    ----------
    n_pulses : float
        Number N of pulses Alice sends (> 0).
    eps_sec : float
        Secrecy parameter ε_sec in (0, 1) (default 1e-10 as in Lim et al.).
    eps_cor : float
        Correctness parameter ε_cor in (0, 1) (default 1e-15 as in Lim et al.).
    """

    def __init__(self, n_pulses: float, eps_sec: float = 1e-10, eps_cor: float = 1e-15) -> None:
        self.n_pulses = check_positive("n_pulses", n_pulses)
        for name, eps in (("eps_sec", eps_sec), ("eps_cor", eps_cor)):
            if not 0.0 < eps < 1.0:
                raise ParameterError(name, eps, "must be in (0, 1)")
        self.eps_sec = float(eps_sec)
        self.eps_cor = float(eps_cor)

    @property
    def eps1(self) -> float:
        """ε_sec/21: the failure probability given to each estimate (Lim et al., Eq. (1))."""
        return self.eps_sec / 21.0

    def penalty_bits(self) -> float:
        """``6 log2(21/ε_sec) + log2(2/ε_cor)`` (Lim et al., Eq. (1))."""
        return 6.0 * math.log2(21.0 / self.eps_sec) + math.log2(2.0 / self.eps_cor)


def hoeffding_delta(n: float, eps: float) -> float:
    """Hoeffding deviation δ(n, ε) = √(n ln(1/ε) / 2) (Lim et al., PRA 89, 022307, Eq. (3))."""
    return math.sqrt(max(n, 0.0) / 2.0 * math.log(1.0 / eps))


def sampling_gamma(a: float, b: float, c: float, d: float) -> float:
    """Random-sampling correction γ(a, b, c, d) of the phase-error rate (Lim et al., Eq. (5)).

    ``γ = √((c + d)(1 − b) b / (c d ln 2) · log2((c + d) / (c d (1 − b) b a²)))``;
    returns ``inf`` when undefined (c or d <= 0) and 0 for b in {0, 1}.
    """
    if c <= 0.0 or d <= 0.0:
        return math.inf
    if b <= 0.0 or b >= 1.0:
        return 0.0
    arg = (c + d) / (c * d * (1.0 - b) * b * a * a)
    if arg <= 1.0:
        return 0.0
    return math.sqrt((c + d) * (1.0 - b) * b / (c * d * math.log(2.0)) * math.log2(arg))


@dataclass(frozen=True)
class ThreeIntensityParams:
    """Intensities and probabilities of the three-intensity protocol (LCWXZ Sec. II).

    Parameters
    ----------
    mu1, mu2, mu3 : float
        Signal and decoy intensities, ``mu1 > mu2 + mu3``, ``mu2 > mu3 >= 0``.
    p1, p2 : float
        Probabilities of mu1 and mu2 (``p3 = 1 − p1 − p2 > 0``).
    p_x : float
        Probability of the X (key) basis for Alice and for Bob, in (0, 1).
    """

    mu1: float
    mu2: float
    mu3: float
    p1: float
    p2: float
    p_x: float

    def __post_init__(self) -> None:
        if not (self.mu3 >= 0.0 and self.mu2 > self.mu3 and self.mu1 > self.mu2 + self.mu3):
            raise ParameterError(
                "intensities",
                (self.mu1, self.mu2, self.mu3),
                "must satisfy mu1 > mu2 + mu3, mu2 > mu3 >= 0 (LCWXZ)",
            )
        if self.mu1 > 1.0:
            raise ParameterError("mu1", self.mu1, "must be <= 1")
        if not (self.p1 > 0.0 and self.p2 > 0.0 and self.p1 + self.p2 < 1.0):
            raise ParameterError(
                "probabilities", (self.p1, self.p2), "must satisfy p1, p2 > 0, p1 + p2 < 1"
            )
        if not 0.0 < self.p_x < 1.0:
            raise ParameterError("p_x", self.p_x, "must be in (0, 1)")

    @property
    def intensities(self) -> tuple[float, float, float]:
        """(μ1, μ2, μ3)."""
        return self.mu1, self.mu2, self.mu3

    @property
    def probabilities(self) -> tuple[float, float, float]:
        """(p1, p2, p3)."""
        return self.p1, self.p2, 1.0 - self.p1 - self.p2


def _tau(n: int, mus: tuple[float, ...], ps: tuple[float, ...]) -> float:
    """τ_n = Σ_k p_k e^{−μ_k} μ_k^n / n! (LCWXZ, below Eq. (2))."""
    return sum(p * math.exp(-m) * m**n / math.factorial(n) for m, p in zip(mus, ps, strict=True))


def _vacuum_and_single(
    counts: tuple[float, float, float],
    total: float,
    mus: tuple[float, float, float],
    ps: tuple[float, float, float],
    eps: float,
) -> tuple[float, float]:
    """Lower bounds s_0, s_1 from per-intensity counts (LCWXZ Eqs. (2), (3))."""
    mu1, mu2, mu3 = mus
    d = hoeffding_delta(total, eps)
    lo = [math.exp(m) / p * (c - d) for m, p, c in zip(mus, ps, counts, strict=True)]
    hi = [math.exp(m) / p * (c + d) for m, p, c in zip(mus, ps, counts, strict=True)]
    tau0, tau1 = _tau(0, mus, ps), _tau(1, mus, ps)
    s0 = max(tau0 * (mu2 * lo[2] - mu3 * hi[1]) / (mu2 - mu3), 0.0)
    s1 = (
        tau1
        * mu1
        * (lo[1] - hi[2] - (mu2**2 - mu3**2) / mu1**2 * (hi[0] - s0 / tau0))
        / (mu1 * (mu2 - mu3) - mu2**2 + mu3**2)
    )
    return s0, s1


def finite_key_decoy_rate(
    transmittance: float,
    detector: DetectorModel,
    settings: FiniteKeySettings | None,
    params: ThreeIntensityParams,
    *,
    f_ec: float = 1.16,
    background_yield: float = 0.0,
) -> KeyRateResult:
    """Secret bits per sent pulse of three-intensity decoy BB84 (LCWXZ).

    ``ℓ = s_X0 + s_X1 (1 − h(φ_X)) − λ_EC − 6 log2(21/ε_sec) − log2(2/ε_cor)`` (Eq. (1)),
    with s_X0, s_X1 (and s_Z0, s_Z1) from Eqs. (2)–(3) using the Hoeffding bounds
    ``n^±_{X,k} = e^{μ_k}/p_k (n_{X,k} ± δ(n_X, ε1))``, the Z-basis single-photon errors
    ``v_Z1 <= τ1 (m^+_{Z,2} − m^−_{Z,3})/(μ2 − μ3)`` (Eq. (4)), the phase-error rate
    ``φ_X <= v_Z1/s_Z1 + γ(ε_sec/21, v_Z1/s_Z1, s_Z1, s_X1)`` (Eq. (5)) and
    ``λ_EC = f n_X h(E_X)``. Expected counts: ``n_{X,k} = N p_k p_X² Q_k``,
    ``m_{Z,k} = N p_k (1 − p_X)² Q_k E_k``.

    ``settings=None`` gives the asymptotic limit of the same protocol (no fluctuation
    terms, no ε penalty): ``ℓ/N`` converges to it as N grows.

    Returns
    -------
    KeyRateResult
        ``rate_per_pulse = ℓ/N``; details hold ``s_x0``, ``s_x1``, ``phi_x``, ``n_x``.
    """
    if f_ec < 1.0:
        raise ParameterError("f_ec", f_ec, "must be >= 1 (Shannon limit)")
    mus, ps = params.intensities, params.probabilities
    p_x, p_z = params.p_x, 1.0 - params.p_x
    n = 1.0 if settings is None else settings.n_pulses
    eps1 = 1.0 if settings is None else settings.eps1  # δ(·, 1) = 0: no fluctuations
    q_raw = [
        raw_gain_and_qber(
            WeakCoherentSource(max(m, 1e-300)),
            transmittance,
            detector,
            background_yield=background_yield,
        )[0]
        for m in mus
    ]
    q_mean = sum(p * qq for p, qq in zip(ps, q_raw, strict=True))
    qe = [_gain_qber(m, transmittance, detector, background_yield, q_mean) for m in mus]
    n_xk = (
        n * ps[0] * p_x**2 * qe[0][0],
        n * ps[1] * p_x**2 * qe[1][0],
        n * ps[2] * p_x**2 * qe[2][0],
    )
    n_zk = (
        n * ps[0] * p_z**2 * qe[0][0],
        n * ps[1] * p_z**2 * qe[1][0],
        n * ps[2] * p_z**2 * qe[2][0],
    )
    m_xk = (n_xk[0] * qe[0][1], n_xk[1] * qe[1][1], n_xk[2] * qe[2][1])
    m_zk = (n_zk[0] * qe[0][1], n_zk[1] * qe[1][1], n_zk[2] * qe[2][1])
    n_x, n_z, m_x, m_z = sum(n_xk), sum(n_zk), sum(m_xk), sum(m_zk)
    gain, e_x = qe[0][0], (m_x / n_x if n_x > 0 else 0.0)
    s_x0, s_x1 = _vacuum_and_single(n_xk, n_x, mus, ps, eps1)
    _, s_z1 = _vacuum_and_single(n_zk, n_z, mus, ps, eps1)
    mu2, mu3 = mus[1], mus[2]
    d_m = hoeffding_delta(m_z, eps1)
    m_hi2 = math.exp(mu2) / ps[1] * (m_zk[1] + d_m)
    m_lo3 = math.exp(mu3) / ps[2] * (m_zk[2] - d_m)
    v_z1 = _tau(1, mus, ps) * (m_hi2 - m_lo3) / (mu2 - mu3)
    penalty = 0.0 if settings is None else settings.penalty_bits()
    leak = f_ec * n_x * binary_entropy(e_x)
    details = {"n_x": n_x, "s_x0": s_x0, "s_x1": s_x1, "s_z1": s_z1, "v_z1": v_z1, "e_x": e_x}
    if s_x1 <= 0.0 or s_z1 <= 0.0:
        ell = s_x0 - leak - penalty
        why = "decoy bounds give no single-photon detections (finite key)"
    else:
        b = min(max(v_z1 / s_z1, 0.0), 0.5)
        gamma = 0.0 if settings is None else sampling_gamma(eps1, b, s_z1, s_x1)
        phi = min(b + gamma, 0.5)
        details["phi_x"] = phi
        ell = s_x0 + s_x1 * (1.0 - binary_entropy(phi)) - leak - penalty
        why = "finite-key corrections and error correction consume the whole key"
    return zero_rate(ell / n, gain, e_x, details, why)


def _gain_qber(
    mu: float,
    transmittance: float,
    detector: DetectorModel,
    background_yield: float,
    mean_raw_gain: float | None,
) -> tuple[float, float]:
    # μ3 = 0 is the vacuum: a WCP of μ = 1e-300 has exactly its gain (dark clicks, error 1/2)
    return gain_and_qber(
        WeakCoherentSource(max(mu, 1e-300)),
        transmittance,
        detector,
        background_yield=background_yield,
        mean_raw_gain=mean_raw_gain,
    )
