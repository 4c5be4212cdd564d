"""g2 normalisations: exact against oracles, unbiased on synthetic streams of known g2."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray
from tests.naive import tt_g2_cw, tt_pulsed_peaks

from qlight.errors import ParameterError
from qlight.timetags.g2 import G2Histogram, g2_at_zero, g2_cw, g2_pulsed_ratio
from qlight.timetags.g2_pulsed import g2_pulsed

_tags = st.lists(st.integers(min_value=0, max_value=400), min_size=1, max_size=20).map(sorted)


@settings(max_examples=150, deadline=None)
@given(a=_tags, b=_tags, bin_ps=st.integers(1, 30), n_half=st.integers(1, 8))
def test_g2_cw_matches_oracle(a: list[int], b: list[int], bin_ps: int, n_half: int) -> None:
    window = bin_ps * n_half
    duration = max(401, window + 1)
    h = g2_cw(np.array(a), np.array(b), window_ps=window, bin_ps=bin_ps, duration_ps=duration)
    want_g2, want_err = tt_g2_cw(a, b, window, bin_ps, duration)
    np.testing.assert_allclose(h.g2, want_g2, rtol=1e-12)
    np.testing.assert_allclose(h.g2_err, want_err, rtol=1e-12)
    np.testing.assert_allclose(h.center_ps, h.lags_ps + bin_ps / 2)
    assert (h.n_a, h.n_b, h.duration_ps, h.bin_ps, h.window_ps) == (
        len(a),
        len(b),
        duration,
        bin_ps,
        window,
    )


def test_g2_cw_is_flat_for_independent_streams_up_to_half_the_record() -> None:
    # R independent records, each with N uniform tags per channel over T, correlated out to
    # |τ| = T/2 where the overlap factor (T − |τ|)/T halves the raw counts. g2 must stay at 1
    # there: without the factor it would read ≈ 0.55 in the outermost bins.
    # Tolerance: 4 standard errors of the mean over records, estimated from the records'
    # own scatter (pair counts of one record are not Poisson when N·bin/T is not small).
    rng = np.random.default_rng(7)
    T, N, R = 1_000_000, 40, 400
    outer, inner = [], []
    for _ in range(R):
        a = np.sort(rng.integers(0, T, N))
        b = np.sort(rng.integers(0, T, N))
        h = g2_cw(a, b, window_ps=T // 2, bin_ps=T // 20, duration_ps=T)
        far = np.abs(h.center_ps) > 0.4 * T
        outer.append(h.counts[far].sum() / h.expected[far].sum())
        inner.append(h.counts[~far].sum() / h.expected[~far].sum())
    for values in (np.array(outer), np.array(inner)):
        sem = values.std(ddof=1) / math.sqrt(R)
        assert abs(values.mean() - 1.0) < 4 * sem


def test_g2_cw_errors_have_unit_pull_for_poisson_streams() -> None:
    # Sparse regime (≈ 40 expected pairs per bin, N·window/T = 0.2): bins are ≈ independent
    # Poisson counts, so the pulls (g2 − 1)/g2_err over 200 bins have standard deviation 1
    # with standard error 1/sqrt(2·200) = 0.05; tolerance 4 × 0.05.
    rng = np.random.default_rng(11)
    T = 100_000_000_000
    a = np.sort(rng.integers(0, T, 20_000))
    b = np.sort(rng.integers(0, T, 20_000))
    h = g2_cw(a, b, window_ps=1_000_000, bin_ps=10_000, duration_ps=T)
    pull = (h.g2 - 1.0) / h.g2_err
    assert abs(pull.std(ddof=1) - 1.0) < 0.2
    # Dividing by sqrt(c) instead of sqrt(e) biases the mean pull by −1/(2·sqrt(e)) to first
    # order; the mean of 200 pulls has standard error 1/sqrt(200).
    bias = -0.5 / math.sqrt(h.expected.mean())
    assert abs(pull.mean() - bias) < 4 / math.sqrt(200)


def test_g2_cw_detects_antibunching_and_bunching() -> None:
    # b holds a copy of every a tag shifted by +5 ns: a delta peak at τ = 5 ns, nothing else
    # correlated. The 5 ns bin must be far above 1 and the bins around it near 1.
    rng = np.random.default_rng(3)
    T = 10_000_000_000
    a = np.sort(rng.integers(0, T - 10_000, 5000))
    b = np.sort(np.concatenate([a + 5000, rng.integers(0, T, 5000)]))
    h = g2_cw(a, b, window_ps=20_000, bin_ps=1000, duration_ps=T)
    k = int(np.flatnonzero(h.lags_ps == 5000)[0])
    assert h.counts[k] >= 5000
    assert h.g2[k] > 100


def test_g2_cw_empty_channel_gives_nan() -> None:
    h = g2_cw(
        np.array([], dtype=np.int64), np.array([1, 2]), window_ps=10, bin_ps=5, duration_ps=100
    )
    assert np.isnan(h.g2).all()
    assert np.isnan(h.g2_err).all()
    assert h.counts.tolist() == [0, 0, 0, 0]
    assert all(math.isnan(x) for x in g2_at_zero(h, half_width_ps=5))


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"duration_ps": 0}, "duration_ps"),
        ({"duration_ps": 1.5e6}, "duration_ps"),
        ({"duration_ps": 50}, "duration_ps"),  # tags span 90 ps
        ({"window_ps": 1000}, "window_ps"),  # not < duration
        ({"bin_ps": 3}, "window_ps"),
        ({"a_ps": np.array([5, 1])}, "a_ps"),
    ],
)
def test_g2_cw_rejects_bad_input(kwargs: dict[str, object], name: str) -> None:
    args: dict[str, object] = {
        "a_ps": np.array([0, 90]),
        "b_ps": np.array([10]),
        "window_ps": 10,
        "bin_ps": 5,
        "duration_ps": 1000,
    }
    args.update(kwargs)
    with pytest.raises(ParameterError, match=rf"^{name}="):
        g2_cw(args.pop("a_ps"), args.pop("b_ps"), **args)  # type: ignore[arg-type]


def test_g2_at_zero_pools_the_central_bins() -> None:
    counts = np.array([10, 20, 3, 5, 30, 10], dtype=np.int64)
    lags = np.arange(-300, 300, 100, dtype=np.int64)
    zeros = np.zeros(6, dtype=np.float64)  # g2 and g2_err are not used by g2_at_zero
    h = G2Histogram(lags, counts, zeros, zeros, 100, 300, 100, 100, 1_000_000)
    g, err = g2_at_zero(h, half_width_ps=100)  # centres −50 and 50
    e = h.expected
    assert g == pytest.approx((3 + 5) / (e[2] + e[3]), rel=1e-12)
    assert err == pytest.approx(math.sqrt(8) / (e[2] + e[3]), rel=1e-12)
    g4, _ = g2_at_zero(h, half_width_ps=200)  # centres −150 … 150
    assert g4 == pytest.approx((20 + 3 + 5 + 30) / e[1:5].sum(), rel=1e-12)
    for bad in (40, 301):
        with pytest.raises(ParameterError, match=r"^half_width_ps="):
            g2_at_zero(h, half_width_ps=bad)


def _pulsed_stream(
    rng: np.random.Generator, n_pulses: int, period: int, p_n: list[float], eta: float
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Tags of a pulsed source with photon-number distribution p_n, split 50:50.

    Each photon is detected with probability eta, arrives within ±period/8 of its pulse,
    and goes to a or b with probability 1/2; g2(0) = <n(n−1)>/<n>² (binomial thinning and
    splitting keep it).
    """
    n = rng.choice(len(p_n), size=n_pulses, p=p_n)
    pulse = np.repeat(np.arange(n_pulses, dtype=np.int64) * period, n)
    keep = rng.random(pulse.size) < eta
    t = pulse[keep] + rng.integers(-period // 8, period // 8, keep.sum())
    to_a = rng.random(t.size) < 0.5
    return np.sort(t[to_a]) + period, np.sort(t[~to_a]) + period


@pytest.mark.parametrize(
    "p_n",
    [
        [0.2, 0.7, 0.1],  # g2(0) = 0.2/0.81
        [math.exp(-0.6) * 0.6**k / math.factorial(k) for k in range(7)],  # ≈ Poisson: 1
    ],
)
def test_g2_pulsed_ratio_recovers_known_g2(p_n: list[float]) -> None:
    # Tolerance: 4 × the reported standard error, which propagates Poisson errors of the
    # central and side-peak areas; the areas here are hundreds to thousands of pairs.
    p_n = list(np.array(p_n) / np.sum(p_n))
    mean = sum(k * p for k, p in enumerate(p_n))
    want = sum(k * (k - 1) * p for k, p in enumerate(p_n)) / mean**2
    rng = np.random.default_rng(5)
    a, b = _pulsed_stream(rng, 200_000, 12_500, p_n, eta=0.2)
    res = g2_pulsed_ratio(a, b, period_ps=12_500, n_side_peaks=5)
    assert res.side_counts.size == 10
    assert abs(res.g2_0 - want) < 4 * res.g2_0_err
    assert res.g2_0_err < 0.1 * max(want, 0.25)  # the test has power


def test_g2_pulsed_ratio_of_a_perfect_single_photon_source_is_zero() -> None:
    rng = np.random.default_rng(9)
    a, b = _pulsed_stream(rng, 50_000, 10_000, [0.3, 0.7], eta=0.3)
    res = g2_pulsed_ratio(a, b, period_ps=10_000, n_side_peaks=3, peak_width_ps=5000)
    assert res.center_counts == 0
    assert res.g2_0 == 0.0
    mean_side = res.side_counts.sum() / 6
    assert res.g2_0_err == pytest.approx(1.0 / mean_side)


@settings(max_examples=60, deadline=None)
@given(
    a=st.lists(st.integers(0, 200), max_size=15).map(sorted),
    b=st.lists(st.integers(0, 200), max_size=15).map(sorted),
    period=st.integers(2, 40),
    n_side=st.integers(1, 3),
    frac=st.floats(0.05, 1.0),
    delay=st.integers(-20, 20),
)
def test_g2_pulsed_peaks_match_oracle(
    a: list[int], b: list[int], period: int, n_side: int, frac: float, delay: int
) -> None:
    width = max(1, int(period * frac))
    res = g2_pulsed_ratio(
        np.array(a, dtype=np.int64),
        np.array(b, dtype=np.int64),
        period_ps=period,
        n_side_peaks=n_side,
        peak_width_ps=width,
        delay_b_ps=delay,
    )
    peaks = tt_pulsed_peaks(a, b, period, n_side, width, delay)
    assert res.center_counts == peaks[n_side]
    assert res.side_counts.tolist() == peaks[:n_side] + peaks[n_side + 1 :]
    if sum(res.side_counts) == 0:
        assert math.isnan(res.g2_0)
    else:
        c, s = peaks[n_side], sum(res.side_counts)
        mean_side = s / (2 * n_side)
        assert res.g2_0 == pytest.approx(c / mean_side)
        # var(C/m) = C/m² + (C/m)²/S for Poisson C and S (S = 2n·m); C → 1 when C = 0
        assert res.g2_0_err == pytest.approx(
            math.sqrt(max(c, 1) / mean_side**2 + (c / mean_side) ** 2 / s)
        )


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"period_ps": 0}, "period_ps"),
        ({"period_ps": 12.5}, "period_ps"),
        ({"n_side_peaks": 0}, "n_side_peaks"),
        ({"peak_width_ps": 0}, "peak_width_ps"),
        ({"peak_width_ps": 101}, "peak_width_ps"),
    ],
)
def test_g2_pulsed_ratio_rejects_bad_input(kwargs: dict[str, object], name: str) -> None:
    args: dict[str, object] = {"period_ps": 100}
    args.update(kwargs)
    with pytest.raises(ParameterError, match=rf"^{name}="):
        g2_pulsed_ratio(np.array([0]), np.array([1]), **args)  # type: ignore[arg-type]


@pytest.mark.parametrize("normalization", ["side_peaks", "poisson"])
@pytest.mark.parametrize(
    "p_n",
    [
        [0.2, 0.7, 0.1],  # g2(0) = 0.2/0.81
        [math.exp(-0.6) * 0.6**k / math.factorial(k) for k in range(7)],  # ≈ Poisson: 1
    ],
)
def test_g2_pulsed_both_normalisations_recover_known_g2(
    p_n: list[float], normalization: str
) -> None:
    # Independent pulses: the side-peak area is N_pulses·<n_a><n_b> = N1·N2·P/T up to the
    # edge factor (T − k·P)/T ≥ 1 − 7/200_002, far below the statistical error. So both
    # references must give the known g2(0) and side peaks of 1, within 4 reported errors.
    p_n = list(np.array(p_n) / np.sum(p_n))
    mean = sum(k * p for k, p in enumerate(p_n))
    want = sum(k * (k - 1) * p for k, p in enumerate(p_n)) / mean**2
    rng = np.random.default_rng(11)
    period = 12_500
    a, b = _pulsed_stream(rng, 200_000, period, p_n, eta=0.2)
    res = g2_pulsed(
        a,
        b,
        period_ps=period,
        duration_ps=200_002 * period,
        bin_ps=500,
        n_side_peaks=3,
        integration_ps=period // 2,
        normalization=normalization,
    )
    assert res.normalization == normalization
    assert res.peak_k.tolist() == [-3, -2, -1, 0, 1, 2, 3]
    assert abs(res.g2_0 - want) < 4 * res.g2_0_err
    assert res.g2_0 == res.peak_g2[3]
    side = np.delete(np.arange(7), 3)
    assert np.all(np.abs(res.peak_g2[side] - 1.0) < 4 * res.peak_g2_err[side])
    # peak areas are exact pair counts in [k·P − w/2, k·P + w/2)
    want_peaks = tt_pulsed_peaks(list(a[:300]), list(b[:300]), period, 3, period // 2)
    small = g2_pulsed(
        a[:300],
        b[:300],
        period_ps=period,
        duration_ps=200_002 * period,
        bin_ps=125,
        n_side_peaks=3,
        integration_ps=period // 2,
        normalization=normalization,
    )
    assert small.peak_counts.tolist() == want_peaks
    # the histogram covers the peaks: its bins inside each window sum to the peak area
    # (here bins of 125 ps tile [k·P − P/4, k·P + P/4) exactly)
    for k, c in zip(small.peak_k, small.peak_counts, strict=True):
        sel = (small.lags_ps >= k * period - period // 4) & (
            small.lags_ps < k * period + period // 4
        )
        assert small.counts[sel].sum() == c


def test_g2_pulsed_poisson_reference_is_n1_n2_over_frep_t() -> None:
    a = np.array([0, 1000, 2000, 3000])
    b = np.array([10, 1010, 2500])
    res = g2_pulsed(
        a, b, period_ps=1000, duration_ps=4000, bin_ps=100, n_side_peaks=1, normalization="poisson"
    )
    assert res.reference_area == pytest.approx(4 * 3 * 1000 / 4000)
    # central peak [−500, 500): pairs (0,10), (1000,1010), (2000, 2500)? 500 is out → 2 pairs
    assert res.peak_counts.tolist() == tt_pulsed_peaks(list(a), list(b), 1000, 1, 1000)
    assert res.g2_0 == pytest.approx(res.peak_counts[1] / 3.0)
    np.testing.assert_allclose(res.g2 * 3.0 * 100 / 1000, res.counts)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"normalization": "area"}, "normalization"),
        ({"duration_ps": 0}, "duration_ps"),
        ({"duration_ps": 10}, "duration_ps"),
        ({"bin_ps": 0}, "bin_ps"),
        ({"period_ps": -1}, "period_ps"),
        ({"integration_ps": 2000}, "peak_width_ps"),
    ],
)
def test_g2_pulsed_rejects_bad_input(kwargs: dict[str, object], name: str) -> None:
    args: dict[str, object] = {"period_ps": 1000, "duration_ps": 10_000, "bin_ps": 100}
    args.update(kwargs)
    with pytest.raises(ParameterError, match=rf"^{name}="):
        g2_pulsed(np.array([0, 5000]), np.array([100, 900]), **args)  # type: ignore[arg-type]
