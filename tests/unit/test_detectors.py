"""Detector model (split, jitter, dark counts, dead time, afterpulsing) and the time tagger."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from qlight.errors import ParameterError
from qlight.physics.detectors import (
    INGAAS_SPAD,
    SI_SPAD,
    SNSPD,
    SPADModel,
    TimeTaggerModel,
    apply_detector,
    registered_rate_per_s,
    split_and_jitter,
    tag_channel,
)


def _spad(dead_ps: int, p_ap: float, delay_ps: float, dark: float = 0.0) -> SPADModel:
    return SPADModel(((400.0, 0.5), (900.0, 0.5)), dark, dead_ps, 0.0, p_ap, delay_ps)


def _renewal_interval_moments(r: float, dead: float, p: float, a: float) -> tuple[float, float]:
    """Interval τd + Y, Y ~ Exp(r) w.p. 1 − p, Exp(r + a) w.p. p: mean and variance (s)."""
    m1 = (1 - p) / r + p / (r + a)
    m2 = 2 * (1 - p) / r**2 + 2 * p / (r + a) ** 2
    return dead + m1, m2 - m1 * m1


@pytest.mark.parametrize(
    ("rate", "dead_ps", "p_ap", "delay_ps"),
    [(2e6, 22_000, 0.0, 0.0), (1e7, 50_000, 0.3, 200_000.0)],
)
def test_poisson_input_is_the_documented_renewal_process(
    rate: float, dead_ps: int, p_ap: float, delay_ps: float
) -> None:
    # second case: a photon often comes before the pending afterpulse (r > 1/d), which the
    # model then releases; r τd up to 0.5
    spad = _spad(dead_ps, p_ap, delay_ps)
    dur = 2 * 10**10  # 20 ms
    t = apply_detector(np.zeros(0, np.int64), spad, dur, np.random.default_rng(3), extra_cps=rate)
    d = np.diff(t).astype(float)
    assert d.min() >= dead_ps
    r, a = rate * 1e-12, 1 / delay_ps if delay_ps > 0 else 0.0
    y = d - dead_ps

    def cdf(x: np.ndarray) -> np.ndarray:
        return 1 - (1 - p_ap) * np.exp(-r * x) - p_ap * np.exp(-(r + a) * x)

    # 30 equiprobable bins of the exact law (inverted numerically), χ² with 29 dof
    grid = np.linspace(0, 40 / r, 200_001)
    edges = np.interp(np.linspace(0, 1, 31)[1:-1], cdf(grid), grid)
    obs = np.bincount(np.searchsorted(edges, y + 0.5), minlength=30)  # +0.5: ps floor
    chi2 = float(np.sum((obs - y.size / 30) ** 2 / (y.size / 30)))
    assert stats.chi2.sf(chi2, 29) > 1e-3, chi2
    # mean rate against the closed form; renewal counting: Var N = (T/μ) var/μ²
    mean_s, var_s = _renewal_interval_moments(rate, dead_ps * 1e-12, p_ap, a * 1e12)
    expected = registered_rate_per_s(rate, spad) * dur * 1e-12
    assert 1 / mean_s == pytest.approx(registered_rate_per_s(rate, spad), rel=1e-12)
    assert abs(t.size - expected) < 5 * math.sqrt(expected * var_s / mean_s**2)


def test_registered_rate_limits() -> None:
    spad = _spad(22_000, 0.0, 0.0)
    assert registered_rate_per_s(1e6, spad) == pytest.approx(1e6 / (1 + 1e6 * 22e-9))
    ap = _spad(0, 0.2, 1e5)
    assert registered_rate_per_s(1.0, ap) == pytest.approx(1 / 0.8, rel=1e-6)  # r/(1 − p)
    assert registered_rate_per_s(0.0, ap) == 0.0
    with pytest.raises(ParameterError, match=r"^incoming_rate_per_s="):
        registered_rate_per_s(-1.0, spad)


@settings(max_examples=30, deadline=None)
@given(
    rate=st.floats(1e5, 5e7),
    dead_ps=st.integers(0, 200_000),
    p_ap=st.floats(0.0, 0.9),
    delay_ps=st.floats(0.0, 1e5),
    sigma=st.floats(0.0, 5e4),
    seed=st.integers(0, 2**32 - 1),
)
def test_dead_time_never_violated(
    rate: float, dead_ps: int, p_ap: float, delay_ps: float, sigma: float, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    dur = 10**9
    photons = np.sort(rng.uniform(-1e5, dur + 1e5, int(rate * 1e-3)))
    t0, t1 = split_and_jitter(photons, 0.5, (sigma, sigma), rng)
    spad = _spad(dead_ps, p_ap, delay_ps, dark=1e5)
    for t in (t0, t1):
        out = apply_detector(t, spad, dur, rng, extra_cps=rate)
        assert out.dtype == np.int64
        assert np.all(np.diff(out) >= max(dead_ps, 0))
        if dead_ps == 0:
            assert np.all(np.diff(out) >= 0)
        assert out.size == 0 or (out[0] >= 0 and out[-1] < dur)


def test_split_is_exact_bernoulli_and_sorted() -> None:
    rng = np.random.default_rng(9)
    n = 2_000_000
    t = np.cumsum(rng.exponential(1e3, n))
    for p in (0.3, 0.5, 0.9999):
        a, b = split_and_jitter(t, p, (0.0, 0.0), rng)
        assert a.size + b.size == n
        assert abs(a.size - n * p) < 5 * math.sqrt(n * p * (1 - p))
        np.testing.assert_array_equal(np.sort(np.concatenate([a, b])), np.floor(t))
    a, b = split_and_jitter(t[:1000], 0.0, (0.0, 0.0), rng)
    assert a.size == 0
    assert b.size == 1000
    a, b = split_and_jitter(t[:1000], 1.0, (0.0, 0.0), rng)
    assert a.size == 1000


def test_jitter_law_exact() -> None:
    # photons 1 µs apart, σ = 800 ps: no reordering, so each output is floor(t + J) and with
    # integer t the residual is floor(J): P(floor(J) < e) = Φ(e/σ) for integer edges e.
    n, sigma = 200_000, 800.0
    t = np.arange(n, dtype=float) * 1e6
    out, rest = split_and_jitter(t, 1.0, (sigma, 0.0), np.random.default_rng(10))
    assert rest.size == 0
    resid = out - t.astype(np.int64)
    edges = np.round(sigma * np.linspace(-2.5, 2.5, 21)).astype(np.int64)
    cdf = stats.norm.cdf(np.concatenate([[-np.inf], edges, [np.inf]]) / sigma)
    expected = np.diff(cdf) * n
    obs = np.bincount(np.searchsorted(edges, resid, side="right"), minlength=22)
    chi2 = float(np.sum((obs - expected) ** 2 / expected))
    assert stats.chi2.sf(chi2, 21) > 1e-3, chi2


def test_heavy_jitter_output_sorted() -> None:
    rng = np.random.default_rng(12)
    t = np.arange(100_000, dtype=float) * 100.0  # spacing 100 ps ≪ σ: many reorderings
    a, b = split_and_jitter(t, 0.5, (1000.0, 3000.0), rng)
    assert a.size + b.size == t.size
    assert np.all(np.diff(a) >= 0)
    assert np.all(np.diff(b) >= 0)
    # mean residual of the merged stream ≈ mean floor offset −0.5 ps (σ/√n ≈ 7 ps)
    both = np.sort(np.concatenate([a, b]))
    assert abs(np.mean(both - t) + 0.5) < 5 * 3000.0 / math.sqrt(t.size)


def test_tagger_floors_and_delays() -> None:
    t = np.array([-5, -1, 0, 3, 4, 7, 8], dtype=np.int64)
    tagger = TimeTaggerModel(resolution_ps=4, channel_delays_ps=(0, 10))
    np.testing.assert_array_equal(tag_channel(t, tagger, 0), [-8, -4, 0, 0, 4, 4, 8])
    np.testing.assert_array_equal(tag_channel(t, tagger, 1), [4, 8, 8, 12, 12, 16, 16])
    out = tag_channel(t, tagger, 1)
    assert out.dtype == np.int64
    assert np.all(np.diff(out) >= 0)
    np.testing.assert_array_equal(t, [-5, -1, 0, 3, 4, 7, 8])  # input untouched
    same = tag_channel(t, tagger, 0, in_place=True)
    assert same is t
    with pytest.raises(ParameterError, match=r"^channel="):
        tag_channel(t, tagger, 2)


def test_models_validate() -> None:
    for spad in (SI_SPAD, INGAAS_SPAD, SNSPD):
        assert 0.0 <= spad.efficiency_at(650.0) <= 1.0
    assert SI_SPAD.efficiency_at(600.0) == pytest.approx(0.65)
    assert SI_SPAD.efficiency_at(650.0) == pytest.approx(0.675)  # linear interpolation
    assert SI_SPAD.efficiency_at(2000.0) == 0.0  # outside the curve
    assert SI_SPAD.jitter_sigma_ps == pytest.approx(350.0 / 2.3548, rel=1e-4)
    good = {
        "efficiency_curve": ((500.0, 0.5),),
        "dark_cps": 1.0,
        "dead_time_ps": 10,
        "jitter_fwhm_ps": 1.0,
        "afterpulse_prob": 0.0,
        "afterpulse_delay_ps": 0.0,
    }
    bad_values = {
        "efficiency_curve": ((600.0, 0.5), (500.0, 0.5)),
        "dark_cps": -1.0,
        "dead_time_ps": 2.5,
        "jitter_fwhm_ps": math.nan,
        "afterpulse_prob": 1.0,
        "afterpulse_delay_ps": -3.0,
    }
    for name, bad in bad_values.items():
        with pytest.raises(ParameterError, match=rf"^{name}="):
            SPADModel(**{**good, name: bad})  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match=r"^efficiency_curve="):
        SPADModel(**{**good, "efficiency_curve": ((500.0, 1.5),)})  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match=r"^resolution_ps="):
        TimeTaggerModel(resolution_ps=0)
    with pytest.raises(ParameterError, match=r"^channel_delays_ps="):
        TimeTaggerModel(channel_delays_ps=(0,))
    with pytest.raises(ParameterError, match=r"^duration_ps="):
        apply_detector(np.zeros(0, np.int64), SI_SPAD, 0, np.random.default_rng(0))
    with pytest.raises(ParameterError, match=r"^t_ps="):
        apply_detector(np.array([3, 1]), SI_SPAD, 10, np.random.default_rng(0))
    with pytest.raises(ParameterError, match=r"^p0="):
        split_and_jitter(np.zeros(3), 1.5, (0.0, 0.0), np.random.default_rng(0))
