"""Finite-key rates: three-intensity decoy BB84 (Lim et al. 2014) and GLLP-tagged SPS."""

from __future__ import annotations

import itertools
import math

import pytest

from qlight.errors import ParameterError
from qlight.qkd.theory import (
    GYS,
    FiniteKeySettings,
    Protocol,
    SinglePhotonSource,
    ThreeIntensityParams,
    finite_key_decoy_rate,
    key_rate,
    optimize_three_intensity,
    plob_bound,
    sps_finite_key_rate,
    sps_key_rate,
    transmittance_at_km,
)
from qlight.qkd.theory.finite_key import hoeffding_delta, sampling_gamma

DET = GYS.detector
T50 = transmittance_at_km(50.0, GYS)


def test_statistical_terms_by_hand() -> None:
    # delta(n, eps) = sqrt(n ln(1/eps) / 2); n = 1e6, eps = e^-2 -> sqrt(1e6) = 1000
    assert hoeffding_delta(1e6, math.exp(-2.0)) == pytest.approx(1000.0, rel=1e-12)
    # gamma(a, b, c, d), Lim et al. Eq. (5), written out for a = 1e-10, b = 0.02, c = d = 1e6
    a, b, c, d = 1e-10, 0.02, 1e6, 1e6
    want = math.sqrt(
        (c + d)
        * (1 - b)
        * b
        / (c * d * math.log(2))
        * math.log2((c + d) / (c * d * (1 - b) * b * a * a))
    )
    assert sampling_gamma(a, b, c, d) == pytest.approx(want, rel=1e-12)
    assert sampling_gamma(a, 0.0, c, d) == 0.0
    assert math.isinf(sampling_gamma(a, b, 0.0, d))


def test_finite_rate_converges_to_the_same_protocol_asymptotically_like_one_over_sqrt_n() -> None:
    # Fixed parameters: every correction is a Hoeffding/sampling term ∝ sqrt(N) in the
    # count, so the relative gap to the N -> inf rate falls by 10 per factor 100 in N.
    p = ThreeIntensityParams(0.45, 0.1, 2e-4, 0.8, 0.1, 0.9)
    asym = finite_key_decoy_rate(T50, DET, None, p, f_ec=1.22).rate_per_pulse
    gaps = [
        1
        - finite_key_decoy_rate(T50, DET, FiniteKeySettings(n), p, f_ec=1.22).rate_per_pulse / asym
        for n in (1e14, 1e16, 1e18)
    ]
    assert 0 < gaps[2] < gaps[1] < gaps[0]
    assert gaps[0] / gaps[1] == pytest.approx(10.0, rel=0.05)
    assert gaps[1] / gaps[2] == pytest.approx(10.0, rel=0.05)


def test_optimised_finite_rate_increases_with_n_towards_the_asymptote() -> None:
    asym = optimize_three_intensity(T50, DET, None, f_ec=1.22)[1].rate_per_pulse
    rates = [
        optimize_three_intensity(T50, DET, FiniteKeySettings(n), f_ec=1.22)[1].rate_per_pulse
        for n in (1e9, 1e11, 1e13, 1e15, 1e17)
    ]
    assert rates[0] > 0
    assert all(r2 > r1 for r1, r2 in itertools.pairwise(rates))
    assert rates[-1] < asym
    assert rates[-1] > 0.8 * asym
    # the asymptotic three-intensity optimum is the infinite-decoy rate with q -> 1
    inf = key_rate(Protocol("wcp-decoy"), T50, GYS).result.rate_per_pulse / GYS.q
    assert asym == pytest.approx(inf, rel=2e-3)
    assert asym <= plob_bound(T50 * DET.efficiency)


def test_tagged_finite_rate_increases_with_n_and_approaches_gllp() -> None:
    src = SinglePhotonSource(0.1, 0.02)
    t = transmittance_at_km(20.0, GYS)
    gllp = sps_key_rate(src, t, DET, f_ec=1.22, q=0.9**2).rate_per_pulse
    rates = [
        sps_finite_key_rate(src, t, DET, FiniteKeySettings(n), p_x=0.9, f_ec=1.22).rate_per_pulse
        for n in (1e9, 1e11, 1e13, 1e15, 1e17)
    ]
    assert all(r2 > r1 for r1, r2 in itertools.pairwise(rates))
    assert rates[-1] < gllp
    assert rates[-1] == pytest.approx(gllp, rel=0.01)


def test_too_few_pulses_give_zero_with_a_reason() -> None:
    r = sps_finite_key_rate(
        SinglePhotonSource(0.1, 0.02), T50, DET, FiniteKeySettings(1e5), f_ec=1.22
    )
    assert r.rate_per_pulse == 0.0
    assert r.reason is not None
    op = key_rate(Protocol("wcp-decoy", n_pulses=1e6), T50, GYS)
    assert op.result.rate_per_pulse == 0.0
    assert op.result.reason is not None


def test_finite_key_protocol_optimises_p_x_and_intensities() -> None:
    op = key_rate(Protocol("wcp-decoy", n_pulses=1e12), T50, GYS)
    assert op.three_intensity is not None
    assert op.p_x is not None
    assert 0.5 < op.p_x < 1.0
    assert op.result.rate_per_pulse > 0
    fixed = key_rate(Protocol("wcp-decoy", mu=0.3, nu=(0.05, 0.0), n_pulses=1e12), T50, GYS)
    assert fixed.three_intensity is not None
    assert fixed.three_intensity.mu1 == 0.3
    assert fixed.three_intensity.mu2 == 0.05
    assert fixed.result.rate_per_pulse <= op.result.rate_per_pulse * (1 + 1e-6)


@pytest.mark.parametrize(
    "make",
    [
        lambda: ThreeIntensityParams(0.3, 0.2, 0.15, 0.5, 0.3, 0.5),
        lambda: ThreeIntensityParams(0.5, 0.1, 0.0, 0.7, 0.4, 0.5),
        lambda: ThreeIntensityParams(0.5, 0.1, 0.0, 0.7, 0.2, 1.0),
        lambda: ThreeIntensityParams(1.5, 0.1, 0.0, 0.7, 0.2, 0.5),
        lambda: FiniteKeySettings(-1.0),
        lambda: FiniteKeySettings(1e10, eps_sec=0.0),
        lambda: sps_finite_key_rate(
            SinglePhotonSource(0.1, 0.0), 0.1, DET, FiniteKeySettings(1e9), p_x=1.0
        ),
    ],
)
def test_bad_finite_key_parameters(make: object) -> None:
    with pytest.raises(ParameterError):
        make()  # type: ignore[operator]
