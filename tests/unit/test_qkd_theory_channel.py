"""qlight.qkd.theory.channel: photon statistics, channels, gain and QBER."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import poisson
from tests.naive import qkd_gain_and_qber, qkd_poisson

from qlight.errors import ParameterError
from qlight.qkd.theory import (
    DetectorModel,
    FibreChannel,
    FreeSpaceChannel,
    SinglePhotonSource,
    WeakCoherentSource,
    gain_and_qber,
    photon_number_distribution,
    raw_gain_and_qber,
)

GYS_DET = DetectorModel(efficiency=0.045, dark_yield=1.7e-6, misalignment=0.033)


def test_poisson_distribution_matches_scipy_and_the_recursion() -> None:
    for mu in (1e-3, 0.48, 5.0):
        p = photon_number_distribution(WeakCoherentSource(mu), 30)
        np.testing.assert_allclose(p, poisson.pmf(np.arange(31), mu), rtol=1e-12, atol=1e-300)
        np.testing.assert_allclose(p, qkd_poisson(mu, 30), rtol=1e-12)


@given(mu=st.floats(1e-4, 1.0), g2=st.floats(0.0, 1.0))
def test_sps_distribution_has_the_given_mean_and_g2(mu: float, g2: float) -> None:
    p = photon_number_distribution(SinglePhotonSource(mu, g2), 5)
    n = np.arange(6)
    assert np.all(p >= 0)
    assert p.sum() == pytest.approx(1.0, abs=1e-14)
    assert float(n @ p) == pytest.approx(mu, rel=1e-12)
    assert float((n * (n - 1)) @ p) / mu**2 == pytest.approx(g2, rel=1e-9, abs=1e-12)
    assert p[2] == pytest.approx(g2 * mu**2 / 2)
    assert np.all(p[3:] == 0)


@pytest.mark.parametrize(
    ("make", "name"),
    [
        (lambda: SinglePhotonSource(0.1, -0.01), "g2"),
        (lambda: SinglePhotonSource(0.0, 0.1), "mu"),
        (lambda: SinglePhotonSource(1.5, 0.1), "mu"),
        (lambda: SinglePhotonSource(0.8, 2.0), "g2"),
        (lambda: WeakCoherentSource(0.0), "mu"),
        (lambda: WeakCoherentSource(-0.5), "mu"),
        (lambda: WeakCoherentSource(math.nan), "mu"),
        (lambda: DetectorModel(1.2, 1e-6, 0.01), "efficiency"),
        (lambda: DetectorModel(-0.1, 1e-6, 0.01), "efficiency"),
        (lambda: DetectorModel(0.5, 1.0, 0.01), "dark_yield"),
        (lambda: DetectorModel(0.5, -1e-6, 0.01), "dark_yield"),
        (lambda: DetectorModel(0.5, 1e-6, 0.6), "misalignment"),
        (lambda: DetectorModel(0.5, 1e-6, 0.01, afterpulse_prob=1.0), "afterpulse_prob"),
        (lambda: DetectorModel(0.5, 1e-6, 0.01, dead_time_pulses=-1.0), "dead_time_pulses"),
        (lambda: FibreChannel(-1.0), "length_km"),
        (lambda: FreeSpaceChannel(1e3, 800e-9, 0.0, 0.1), "tx_waist_m"),
        (lambda: gain_and_qber(WeakCoherentSource(0.5), 1.5, GYS_DET), "transmittance"),
        (lambda: photon_number_distribution(WeakCoherentSource(0.5), 0), "n_max"),
    ],
)
def test_bad_parameters_raise_naming_the_parameter(make: object, name: str) -> None:
    with pytest.raises(ParameterError) as info:
        make()  # type: ignore[operator]
    assert info.value.name == name


def test_wcp_gain_and_qber_match_the_closed_form_and_the_naive_sum() -> None:
    # Ma et al. 2005 Eqs. (3)-(4): Q = 1 - (1 - Y0) exp(-eta mu), E Q = Y0/2 + e_d (Q - Y0)
    for t, mu in ((1.0, 0.48), (1e-3, 0.3), (1e-7, 0.9)):
        eta = t * GYS_DET.efficiency
        q, e = gain_and_qber(WeakCoherentSource(mu), t, GYS_DET)
        want_q = 1 - (1 - 1.7e-6) * math.exp(-eta * mu)
        assert q == pytest.approx(want_q, rel=1e-12)
        assert e * q == pytest.approx(0.5 * 1.7e-6 + 0.033 * (want_q - 1.7e-6), rel=1e-12)
        nq, ne = qkd_gain_and_qber(qkd_poisson(mu, 40), eta, 1.7e-6, 0.033)
        assert q == pytest.approx(nq, rel=1e-10)
        assert e == pytest.approx(ne, rel=1e-10)


@given(
    mu=st.floats(1e-3, 1.0),
    g2=st.floats(0.0, 1.0),
    # the naive oracle multiplies out 1 - (1 - Y0)(1 - eta)^n, which cancels below ~1e-6
    t=st.one_of(st.just(0.0), st.floats(1e-6, 1.0)),
    y0=st.one_of(st.just(0.0), st.floats(1e-6, 1e-3)),
    ed=st.floats(0.0, 0.5),
)
def test_sps_gain_and_qber_match_the_naive_sum(
    mu: float, g2: float, t: float, y0: float, ed: float
) -> None:
    det = DetectorModel(0.6, y0, ed)
    source = SinglePhotonSource(mu, g2)
    q, e = gain_and_qber(source, t, det)
    if q == 0.0:
        assert y0 == 0.0
        assert t == 0.0
        return
    nq, ne = qkd_gain_and_qber(list(photon_number_distribution(source, 2)), 0.6 * t, y0, ed)
    assert q == pytest.approx(nq, rel=1e-9, abs=1e-300)
    assert e == pytest.approx(ne, rel=1e-9, abs=1e-15)
    assert 0.0 <= e <= 0.5


@given(t1=st.floats(0.0, 1.0), t2=st.floats(0.0, 1.0), mu=st.floats(1e-3, 1.0))
def test_gain_increases_with_transmittance(t1: float, t2: float, mu: float) -> None:
    lo, hi = sorted((t1, t2))
    for src in (WeakCoherentSource(mu), SinglePhotonSource(mu, 0.1)):
        assert gain_and_qber(src, lo, GYS_DET)[0] <= gain_and_qber(src, hi, GYS_DET)[0]


def test_ideal_detector_is_the_raw_model_and_dead_time_alone_saturates() -> None:
    src = WeakCoherentSource(0.5)
    assert gain_and_qber(src, 0.3, GYS_DET) == raw_gain_and_qber(src, 0.3, GYS_DET)
    # p_ap = 0: non-paralysable dead time of d pulses gives R = Q / (1 + d Q)
    det = DetectorModel(0.5, 1e-5, 0.02, dead_time_pulses=40.0)
    q_raw, e_raw = raw_gain_and_qber(src, 0.3, det)
    q, e = gain_and_qber(src, 0.3, det)
    assert q == pytest.approx(q_raw / (1 + 40.0 * q_raw), rel=1e-12)
    assert e == pytest.approx(e_raw, rel=1e-12)  # dead time alone leaves the QBER


def test_afterpulses_add_clicks_with_error_one_half() -> None:
    # d = 0: R = Q/(1 - p_ap (1 - Q)) (each registered click causes an afterpulse with
    # p_ap, which may itself afterpulse; it adds a click where the pulse gave none); the
    # extra clicks carry error 1/2.
    src = WeakCoherentSource(0.5)
    det = DetectorModel(0.5, 1e-5, 0.02, afterpulse_prob=0.05)
    q_raw, e_raw = raw_gain_and_qber(src, 0.3, det)
    q, e = gain_and_qber(src, 0.3, det)
    assert q == pytest.approx(q_raw / (1 - 0.05 * (1 - q_raw)), rel=1e-12)
    extra = q - q_raw
    assert e * q == pytest.approx(e_raw * q_raw + 0.5 * extra, rel=1e-10)
    assert e > e_raw


@given(q_bar=st.floats(0.0, 1.0), d=st.floats(0.0, 1e3), p_ap=st.floats(0.0, 0.99))
def test_registered_rate_solves_the_mean_field_balance(q_bar: float, d: float, p_ap: float) -> None:
    det = DetectorModel(1.0, 0.0, 0.0, afterpulse_prob=p_ap, dead_time_pulses=d)
    src = WeakCoherentSource(1.0)
    q, _ = gain_and_qber(src, 0.5, det, mean_raw_gain=q_bar)
    q_raw, _ = raw_gain_and_qber(src, 0.5, det)
    # R solves R = (1 - d R)(Q + a (1 - Q)), a = p_ap R; Q(src) = s (Q_raw + a (1 - Q_raw))
    from qlight.qkd.theory.channel import _registered_rate

    r = _registered_rate(q_bar, d, p_ap)
    assert 0.0 <= r <= min(1.0, 1.0 / d if d > 0 else 1.0) + 1e-12
    a = p_ap * r
    assert r == pytest.approx((1 - d * r) * (q_bar + a * (1 - q_bar)), rel=1e-9, abs=1e-15)
    assert q == pytest.approx((1 - d * r) * (q_raw + a * (1 - q_raw)), rel=1e-9, abs=1e-15)
    assert 0.0 <= q <= 1.0


def test_fibre_transmittance() -> None:
    assert FibreChannel(100.0, 0.2).transmittance() == pytest.approx(1e-2, rel=1e-12)
    assert FibreChannel(0.0, 0.21, extra_loss_db=3.0).transmittance() == pytest.approx(
        10**-0.3, rel=1e-12
    )
    assert FibreChannel(10.0).background_yield == 0.0


def test_free_space_geometric_loss_follows_the_gaussian_beam() -> None:
    # far field: w(L) -> lambda L / (pi w0); a small aperture collects 2 a^2 / w^2
    ch = FreeSpaceChannel(
        length_m=1e6, wavelength_m=800e-9, tx_waist_m=0.05, rx_aperture_radius_m=0.1
    )
    w = 800e-9 * 1e6 / (math.pi * 0.05)
    assert ch.beam_radius_m() == pytest.approx(w, rel=1e-4)
    assert ch.transmittance() == pytest.approx(2 * 0.1**2 / w**2, rel=1e-3)
    near = FreeSpaceChannel(0.0, 800e-9, 0.01, 0.1, atmospheric_loss_db_per_km=1.0)
    assert near.transmittance() == pytest.approx(1.0, rel=1e-12)
    lossy = FreeSpaceChannel(
        2e3, 800e-9, 0.01, 1.0, atmospheric_loss_db_per_km=1.5, extra_loss_db=1.0
    )
    assert lossy.transmittance() == pytest.approx(
        -math.expm1(-2 / lossy.beam_radius_m() ** 2) * 10 ** (-0.4), rel=1e-12
    )


def test_background_light_adds_to_the_dark_yield() -> None:
    src = WeakCoherentSource(0.5)
    det = DetectorModel(0.5, 1e-6, 0.02)
    q, e = gain_and_qber(src, 1e-3, det, background_yield=1e-4)
    y0 = 1 - (1 - 1e-6) * (1 - 1e-4)
    assert q == pytest.approx(1 - (1 - y0) * math.exp(-0.5 * 1e-3 * 0.5), rel=1e-12)
    assert e > gain_and_qber(src, 1e-3, det)[1]


def test_tiny_yields_do_not_cancel_to_zero() -> None:
    # pinned from a hypothesis failure: Q = 1 - (1 - Y0)(1 - ...) used to cancel to 0
    det = DetectorModel(0.6, 3e-59, 0.0)
    q, e = gain_and_qber(SinglePhotonSource(1.0, 0.0), 0.0, det)
    assert q == pytest.approx(3e-59, rel=1e-12)
    assert e == pytest.approx(0.5)
    q, _ = gain_and_qber(WeakCoherentSource(1e-3), 1e-12, DetectorModel(1.0, 0.0, 0.0))
    assert q == pytest.approx(1e-15, rel=1e-9)
