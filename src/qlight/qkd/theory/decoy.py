"""Decoy-state BB84 with weak coherent pulses (asymptotic).

Ma, Qi, Zhao, Lo, "Practical decoy state for quantum key distribution", PRA 72, 012326
(2005) (cited below as MQZL), and Lo, Ma, Chen, PRL 94, 230504 (2005). The key rate is
``R = q {−Q_μ f h(E_μ) + Q_1 [1 − h(e_1)]}`` (MQZL Eq. (1)) with the single-photon gain
``Q_1 = Y_1 μ e^{−μ}`` and error ``e_1`` either known exactly (infinitely many decoys) or
bounded from the decoy gains (vacuum + weak, general two decoys).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

from qlight._validation import check_finite, check_nonnegative
from qlight.errors import ParameterError
from qlight.qkd.theory.channel import (
    E0,
    DetectorModel,
    SinglePhotonSource,
    WeakCoherentSource,
    gain_and_qber,
    raw_gain_and_qber,
)
from qlight.qkd.theory.result import KeyRateResult, binary_entropy, zero_rate

__all__ = ["DECOY_METHODS", "DecoyMethod", "decoy_key_rate", "single_photon_yield_and_error"]

DecoyMethod = Literal["infinite", "vacuum+weak", "two"]
#: The decoy methods, as the CLI names them.
DECOY_METHODS: tuple[DecoyMethod, ...] = ("infinite", "vacuum+weak", "two")


def single_photon_yield_and_error(
    transmittance: float,
    detector: DetectorModel,
    *,
    background_yield: float = 0.0,
    mean_raw_gain: float = 0.0,
) -> tuple[float, float, float]:
    """Exact Y0, Y1 and e1 of the channel and detector model (the infinite-decoy values).

    ``Y1 = 1 − (1 − Y0)(1 − η)`` and ``e1 Y1 = Y0/2 + e_d (Y1 − Y0)`` (MQZL Eqs. (2), (3)),
    with the same mean-field afterpulse/dead-time correction as
    :func:`~qlight.qkd.theory.channel.gain_and_qber` driven by ``mean_raw_gain``.
    """
    # A Fock state |1> is the n <= 2 SPS with mu = 1, g2 = 0.
    one = SinglePhotonSource(1.0, 0.0)
    y1, e1 = gain_and_qber(
        one,
        transmittance,
        detector,
        background_yield=background_yield,
        mean_raw_gain=mean_raw_gain,
    )
    y0, _ = gain_and_qber(
        one, 0.0, detector, background_yield=background_yield, mean_raw_gain=mean_raw_gain
    )
    return y0, y1, e1


def _check_intensities(mu: float, nu: Sequence[float], method: DecoyMethod) -> tuple[float, float]:
    if method == "vacuum+weak":
        if len(nu) != 1:
            raise ParameterError("decoy_intensities", list(nu), "vacuum+weak needs one value NU1")
        nu1, nu2 = float(nu[0]), 0.0
    else:
        if len(nu) != 2:
            raise ParameterError("decoy_intensities", list(nu), "two decoys need NU1,NU2")
        nu1, nu2 = float(nu[0]), float(nu[1])
    check_finite("nu1", nu1)
    check_nonnegative("nu2", nu2)
    if not 0.0 <= nu2 < nu1:
        raise ParameterError("decoy_intensities", list(nu), "must satisfy 0 <= NU2 < NU1")
    if nu1 + nu2 >= mu:
        raise ParameterError(
            "decoy_intensities", list(nu), f"must satisfy NU1 + NU2 < mu (mu={mu}) (MQZL)"
        )
    return nu1, nu2


def decoy_key_rate(
    mu: float,
    transmittance: float,
    detector: DetectorModel,
    *,
    decoys: DecoyMethod = "infinite",
    nu: Sequence[float] = (),
    f_ec: float = 1.16,
    q: float = 0.5,
    background_yield: float = 0.0,
) -> KeyRateResult:
    """Asymptotic decoy-state BB84 key rate per pulse with WCP signal intensity ``mu``.

    Parameters
    ----------
    mu : float
        Signal intensity (> 0).
    transmittance : float
        Channel transmittance in [0, 1].
    detector : DetectorModel
        Bob's detection system.
    decoys : {"infinite", "vacuum+weak", "two"}
        ``"infinite"``: Y1 and e1 exactly known (MQZL Sec. III);
        ``"vacuum+weak"``: ``nu = (ν,)``, bounds of MQZL Eqs. (34)–(37)
        (``Y1^L = μ/(μν − ν²) [Q_ν e^ν − Q_μ e^μ ν²/μ² − (μ² − ν²)/μ² Y0]``,
        ``e1^U = (E_ν Q_ν e^ν − e0 Y0)/(Y1^L ν)``);
        ``"two"``: ``nu = (ν1, ν2)``, ``ν1 > ν2 >= 0``, ``ν1 + ν2 < μ``, bounds of MQZL
        Eqs. (18)–(21): ``Y0^L = max{(ν1 Q_ν2 e^ν2 − ν2 Q_ν1 e^ν1)/(ν1 − ν2), 0}``,
        ``Y1^L = μ/(μν1 − μν2 − ν1² + ν2²) [Q_ν1 e^ν1 − Q_ν2 e^ν2 −
        (ν1² − ν2²)/μ² (Q_μ e^μ − Y0^L)]``, ``e1^U = (E_ν1 Q_ν1 e^ν1 − E_ν2 Q_ν2 e^ν2)/
        ((ν1 − ν2) Y1^L)``. With ν2 = 0 it is the vacuum + weak case.
    nu : sequence of float
        Decoy intensities (see ``decoys``).
    f_ec : float
        Error-correction inefficiency (1.22 in the GYS set).
    q : float
        Sifting factor, 1/2 for BB84 (the GYS/MQZL convention: R per sent pulse).
    background_yield : float
        Background clicks per pulse (error 1/2).

    Returns
    -------
    KeyRateResult
        Details hold ``y1``, ``e1``, ``q1`` (and the true values ``y1_true``, ``e1_true``).
    """
    if f_ec < 1.0:
        raise ParameterError("f_ec", f_ec, "must be >= 1 (Shannon limit)")
    if not 0.0 < q <= 1.0:
        raise ParameterError("q", q, "must be in (0, 1]")
    signal = WeakCoherentSource(mu)
    q_raw, _ = raw_gain_and_qber(signal, transmittance, detector, background_yield=background_yield)
    gain, qber = gain_and_qber(
        signal, transmittance, detector, background_yield=background_yield, mean_raw_gain=q_raw
    )
    y0, y1, e1 = single_photon_yield_and_error(
        transmittance, detector, background_yield=background_yield, mean_raw_gain=q_raw
    )
    details: dict[str, float] = {"y1_true": y1, "e1_true": e1, "y0_true": y0, "mu": mu}
    if decoys == "infinite":
        pass
    elif decoys in ("vacuum+weak", "two"):
        nu1, nu2 = _check_intensities(mu, nu, decoys)

        def qe(x: float) -> tuple[float, float]:
            if x == 0.0:
                return y0, E0
            return gain_and_qber(
                WeakCoherentSource(x),
                transmittance,
                detector,
                background_yield=background_yield,
                mean_raw_gain=q_raw,
            )

        q1_, ee1 = qe(nu1)
        q2_, ee2 = qe(nu2)
        g1, g2 = q1_ * math.exp(nu1), q2_ * math.exp(nu2)
        y0_l = max((nu1 * g2 - nu2 * g1) / (nu1 - nu2), 0.0)
        denom = mu * nu1 - mu * nu2 - nu1**2 + nu2**2
        y1 = mu / denom * (g1 - g2 - (nu1**2 - nu2**2) / mu**2 * (gain * math.exp(mu) - y0_l))
        details.update({"nu1": nu1, "nu2": nu2, "y0_lower": y0_l})
        if y1 <= 0.0:
            return zero_rate(
                -q * f_ec * gain * binary_entropy(qber),
                gain,
                qber,
                {**details, "y1": y1},
                "decoy estimate of the single-photon yield is not positive",
            )
        e1 = min((ee1 * g1 - ee2 * g2) / ((nu1 - nu2) * y1), 0.5)
    else:
        raise ParameterError("decoys", decoys, f"must be one of {', '.join(DECOY_METHODS)}")
    q1 = y1 * mu * math.exp(-mu)
    rate = q * (q1 * (1.0 - binary_entropy(e1)) - f_ec * gain * binary_entropy(qber))
    details.update({"y1": y1, "e1": e1, "q1": q1})
    return zero_rate(
        rate,
        gain,
        qber,
        details,
        "error correction leaks more than the single-photon part leaves (decoy GLLP)",
    )
