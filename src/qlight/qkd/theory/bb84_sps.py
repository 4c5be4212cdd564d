"""BB84 with a sub-Poissonian source: GLLP tagging, asymptotic and finite-key.

The source is described by its mean photon number μ and g2(0); the multi-photon probability
is bounded by ``p_multi <= g2(0) μ²/2`` (since ``g2(0) μ² = Σ n(n−1) p_n >= 2 p(n>=2)``) and,
following Gottesman, Lo, Lütkenhaus and Preskill (GLLP), QIC 4, 325 (2004), every
multi-photon pulse is counted as *tagged*: Eve may know its bit, and in the worst case all of
them reach Bob. The same analysis applies to weak coherent pulses without decoy states
(``p_multi = 1 − (1 + μ) e^{−μ}``), which is how the photon-number-splitting attack limits
them (Lütkenhaus, PRA 61, 052304 (2000)).
"""

from __future__ import annotations

import math

from qlight._validation import check_positive
from qlight.errors import ParameterError
from qlight.qkd.theory.channel import (
    DetectorModel,
    SinglePhotonSource,
    Source,
    WeakCoherentSource,
    gain_and_qber,
)
from qlight.qkd.theory.finite_key import FiniteKeySettings, hoeffding_delta, sampling_gamma
from qlight.qkd.theory.result import KeyRateResult, binary_entropy, zero_rate

__all__ = [
    "gllp_rate",
    "multi_photon_probability",
    "sps_finite_key_rate",
    "sps_key_rate",
    "wcp_key_rate",
]


def multi_photon_probability(source: Source) -> float:
    """Upper bound of p(n >= 2): g2(0) μ²/2 for the SPS, 1 − (1 + μ) e^{−μ} for a WCP."""
    if isinstance(source, WeakCoherentSource):
        return -math.expm1(-source.mu) - source.mu * math.exp(-source.mu)
    return source.p_multi


def _check_ec(f_ec: float, q: float) -> None:
    if check_positive("f_ec", f_ec) < 1.0:
        raise ParameterError("f_ec", f_ec, "must be >= 1 (Shannon limit)")
    if not 0.0 < q <= 1.0:
        raise ParameterError("q", q, "must be in (0, 1]")


def gllp_rate(
    gain: float, qber: float, p_multi: float, *, f_ec: float = 1.16, q: float = 0.5
) -> KeyRateResult:
    """GLLP key rate from the signal gain, QBER and multi-photon probability.

    ``R = q {Q (1 − Δ)[1 − h(E / (1 − Δ))] − f Q h(E)}`` with ``Δ = p_multi / Q``
    (GLLP, QIC 4, 325 (2004), Eq. (1); Lo, Ma, Chen, PRL 94, 230504 (2005), Eq. (1) with
    ``Q1 >= Q − p_multi`` and ``e1 <= E Q / Q1``).

    Parameters
    ----------
    gain, qber : float
        Signal gain Q and QBER E.
    p_multi : float
        Upper bound of the multi-photon probability per pulse.
    f_ec : float
        Error-correction inefficiency f >= 1.
    q : float
        Sifting factor (1/2 for standard BB84).
    """
    _check_ec(f_ec, q)
    details = {"p_multi": p_multi, "delta": p_multi / gain if gain > 0 else math.inf}
    if gain <= p_multi:
        return zero_rate(
            -q * f_ec * gain * binary_entropy(qber),
            gain,
            qber,
            details,
            f"multi-photon probability {p_multi:.3g} >= gain {gain:.3g}: every click may "
            "come from a tagged (multi-photon) pulse",
        )
    q1 = gain - p_multi
    e1 = min(qber * gain / q1, 0.5)
    rate = q * (q1 * (1.0 - binary_entropy(e1)) - f_ec * gain * binary_entropy(qber))
    details.update({"q1": q1, "e1": e1})
    return zero_rate(
        rate,
        gain,
        qber,
        details,
        "error correction leaks more than privacy amplification leaves (GLLP)",
    )


def sps_key_rate(
    source: SinglePhotonSource,
    transmittance: float,
    detector: DetectorModel,
    *,
    f_ec: float = 1.16,
    q: float = 0.5,
    background_yield: float = 0.0,
) -> KeyRateResult:
    """Asymptotic BB84 key rate per pulse of a sub-Poissonian source (GLLP).

    Gain and QBER from :func:`~qlight.qkd.theory.channel.gain_and_qber`, the multi-photon
    bound ``g2(0) μ²/2`` (REFERENCES.md), then :func:`gllp_rate`.
    """
    gain, qber = gain_and_qber(source, transmittance, detector, background_yield=background_yield)
    return gllp_rate(gain, qber, multi_photon_probability(source), f_ec=f_ec, q=q)


def wcp_key_rate(
    mu: float,
    transmittance: float,
    detector: DetectorModel,
    *,
    f_ec: float = 1.16,
    q: float = 0.5,
    background_yield: float = 0.0,
) -> KeyRateResult:
    """Asymptotic BB84 with weak coherent pulses and no decoy states (GLLP).

    ``p_multi = 1 − (1 + μ) e^{−μ}``; the rate falls to zero where the gain drops below the
    multi-photon probability (the PNS limit, Lütkenhaus PRA 61, 052304 (2000)).
    """
    source = WeakCoherentSource(mu)
    gain, qber = gain_and_qber(source, transmittance, detector, background_yield=background_yield)
    return gllp_rate(gain, qber, multi_photon_probability(source), f_ec=f_ec, q=q)


def sps_finite_key_rate(
    source: Source,
    transmittance: float,
    detector: DetectorModel,
    settings: FiniteKeySettings,
    *,
    p_x: float = 0.9,
    f_ec: float = 1.16,
    background_yield: float = 0.0,
) -> KeyRateResult:
    """Finite-key BB84 rate per pulse with GLLP tagging (SPS, or WCP without decoys).

    Efficient BB84: both parties choose the key basis X with probability ``p_x``; the key
    comes from X, the phase error is estimated from Z. Counts are set to their expected
    values (``n_X = N p_X² Q``, ``m_Z = N p_Z² Q E``), as in Lim et al.'s simulations.
    Per basis B the single-photon (untagged) clicks are bounded by Hoeffding over the
    ``n_B`` detections, each tagged with probability at most ``Δ = p_multi/Q``:
    ``s_B >= n_B (1 − Δ) − δ(n_B, ε1)``. The phase-error rate is
    ``φ_X <= m_Z / s_Z + γ(ε1, m_Z/s_Z, s_Z, s_X)`` (all errors on untagged pulses) and
    ``ℓ = s_X (1 − h(φ_X)) − f n_X h(E) − 6 log2(21/ε_sec) − log2(2/ε_cor)``
    (Lim, Curty, Walenta, Xu, Zbinden, PRA 89, 022307 (2014), Eqs. (1)–(5), with the decoy
    estimates replaced by the GLLP tagging bound). Using Lim et al.'s ε-budget of 21 terms,
    although fewer estimates are made here, is conservative.

    Returns
    -------
    KeyRateResult
        ``rate_per_pulse = ℓ / N``; details hold ``n_x``, ``s_x``, ``s_z``, ``phi_x``.
    """
    if not 0.0 < p_x < 1.0:
        raise ParameterError("p_x", p_x, "must be in (0, 1)")
    _check_ec(f_ec, 1.0)
    gain, qber = gain_and_qber(source, transmittance, detector, background_yield=background_yield)
    p_multi = multi_photon_probability(source)
    n = settings.n_pulses
    e1 = settings.eps1
    n_x = n * p_x**2 * gain
    n_z = n * (1.0 - p_x) ** 2 * gain
    m_z = n_z * qber
    delta = min(p_multi / gain, 1.0) if gain > 0.0 else 1.0
    s_x = n_x * (1.0 - delta) - hoeffding_delta(n_x, e1)
    s_z = n_z * (1.0 - delta) - hoeffding_delta(n_z, e1)
    details = {"n_x": n_x, "n_z": n_z, "s_x": s_x, "s_z": s_z, "p_multi": p_multi, "p_x": p_x}
    leak = f_ec * n_x * binary_entropy(qber)
    if s_x <= 0.0 or s_z <= 0.0:
        ell = -leak - settings.penalty_bits()
        why = "too few untagged detections to bound the phase error (finite key)"
    else:
        b = min(m_z / s_z, 0.5)
        phi = min(b + sampling_gamma(e1, b, s_z, s_x), 0.5)
        details["phi_x"] = phi
        ell = s_x * (1.0 - binary_entropy(phi)) - leak - settings.penalty_bits()
        why = "finite-key corrections and error correction consume the whole key"
    return zero_rate(ell / n, gain, qber, details, why)
