"""Multi-tau correlation: exact counts against the oracle, normalisation against linear g2."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.naive import tt2_multitau_counts

from qlight.errors import ParameterError
from qlight.timetags.correlate import cross_correlate
from qlight.timetags.multitau import multitau_correlate, multitau_lags

_tags = st.lists(st.integers(min_value=0, max_value=5000), max_size=30).map(sorted)


@settings(max_examples=120, deadline=None)
@given(
    a=_tags,
    b=_tags,
    base=st.integers(1, 40),
    points=st.sampled_from([4, 6, 8]),
    levels=st.integers(1, 8),
)
def test_counts_match_oracle(
    a: list[int], b: list[int], base: int, points: int, levels: int
) -> None:
    # max_lag chosen so that exactly `levels` levels are made; the duration of 10^5 makes
    # the b spacing large, so the fine-level pass (exact pairs) is exercised as well as the
    # coarsening cascade (see the next test for the other split).
    max_lag = (points - 1) * (base << (levels - 1))
    r = multitau_correlate(
        np.array(a, dtype=np.int64),
        np.array(b, dtype=np.int64),
        duration_ps=max(100_000, max_lag + 1),
        max_lag_ps=max_lag,
        base_ps=base,
        points_per_level=points,
    )
    assert r.counts.tolist() == tt2_multitau_counts(a, b, base, levels, points)
    lags, res = multitau_lags(base_ps=base, n_levels=levels, points_per_level=points)
    assert r.lags_ps.tolist() == lags.tolist()
    assert r.resolution_ps.tolist() == res.tolist()


@pytest.mark.parametrize("duration", [6_000, 10**9])
def test_fine_pass_and_cascade_agree(duration: int) -> None:
    # duration 6 000 → spacing ~ 60 ps: no fine levels, all cascade; 10^9 → all levels fine
    # for the same tags (the normalisation differs, the counts must not).
    rng = np.random.default_rng(2)
    a = np.sort(rng.integers(0, 6_000, 100))
    b = np.sort(rng.integers(0, 6_000, 100))
    r = multitau_correlate(
        a, b, duration_ps=duration, max_lag_ps=5_000, base_ps=3, points_per_level=8
    )
    levels = (r.lags_ps.size - 8) // 4 + 1
    assert r.counts.tolist() == tt2_multitau_counts(list(a), list(b), 3, levels, 8)


def test_merged_tags_keep_the_counts() -> None:
    # Dense streams (many tags per coarse bin) make the cascade merge tags with weights.
    rng = np.random.default_rng(3)
    a = np.sort(rng.integers(0, 2_000, 300))
    b = np.sort(rng.integers(0, 2_000, 300))
    r = multitau_correlate(a, b, duration_ps=2_001, max_lag_ps=1_000, base_ps=1, points_per_level=4)
    levels = (r.lags_ps.size - 4) // 2 + 1
    assert r.counts.tolist() == tt2_multitau_counts(list(a), list(b), 1, levels, 4)


def test_uncorrelated_streams_give_one_and_agree_with_linear_g2() -> None:
    # Poisson streams, 200 kcps each over 0.5 s (10^5 tags, mean spacing 5 µs). While a coarse
    # bin holds ≪ 1 tag (resolution ≤ 100 ns here, ≤ 0.02 tags) each lag's count is a sum of
    # nearly independent rare pairs, hence Poisson: |g − 1| < 5 σ with σ the reported error,
    # and the mean pull over the lags is 0 within 5/sqrt(n_lags). (At coarser levels counts
    # of a bin pair are products of many tags and the Poisson error underestimates; see
    # the module docstring.)
    rng = np.random.default_rng(4)
    T = 500_000_000_000
    a = np.sort(rng.integers(0, T, 100_000))
    b = np.sort(rng.integers(0, T, 100_000))
    r = multitau_correlate(a, b, duration_ps=T, max_lag_ps=10**10, base_ps=10_000)
    ok = (r.counts > 100) & (r.resolution_ps <= 100_000)
    assert ok.sum() > 20
    pull = (r.g2[ok] - 1.0) / r.g2_err[ok]
    assert np.all(np.abs(pull) < 5)
    assert abs(pull.mean()) < 5 / math.sqrt(ok.sum())
    # Overlap with the linear histogram: level-0 lag d·Δ0 covers true delays with the
    # triangle weight; summing linear bins of width Δ0 at [(d−1)Δ0, dΔ0) and [dΔ0, (d+1)Δ0)
    # weighted 1/2 each is the same expectation, so both g2 agree within their errors.
    lags, counts = cross_correlate(a, b, window_ps=200_000, bin_ps=10_000)
    for d in (3, 7, 12):
        sel = (lags == (d - 1) * 10_000) | (lags == d * 10_000)
        linear = counts[sel].sum() / 2 / (a.size * b.size * 10_000 * (T - d * 10_000) / T**2)
        i = int(np.flatnonzero(r.lags_ps == d * 10_000)[0])
        assert abs(linear - r.g2[i]) < 5 * r.g2_err[i]


def test_no_counts_where_no_pair_delay_reaches() -> None:
    # a on a 100 ns grid, b = a + 50 ns: every pair delay is 50 ns + k·100 ns. A lag L of
    # resolution Δ only sees delays in (L − Δ, L + Δ), so lags with L + Δ ≤ 50 ns stay empty
    # and the first lag beyond does not.
    a = np.arange(0, 10**9, 100_000, dtype=np.int64)
    b = a + 50_000
    r = multitau_correlate(a, b, duration_ps=2 * 10**9, max_lag_ps=10**6, base_ps=1000)
    blind = r.lags_ps + r.resolution_ps <= 50_000
    assert blind.sum() > 10
    assert np.all(r.counts[blind] == 0)
    assert r.counts[np.flatnonzero(~blind)[0]] > 0


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"base_ps": 0}, "base_ps"),
        ({"points_per_level": 5}, "points_per_level"),
        ({"points_per_level": 2}, "points_per_level"),
        ({"max_lag_ps": 0}, "max_lag_ps"),
        ({"duration_ps": 100}, "duration_ps"),
        ({"duration_ps": 10_000}, "duration_ps"),
        ({"a_ps": np.array([-5, 3])}, "a_ps"),
        ({"b_ps": np.array([3, 2])}, "b_ps"),
    ],
)
def test_rejects_bad_input(kwargs: dict[str, object], name: str) -> None:
    args: dict[str, object] = {
        "a_ps": np.array([0, 10]),
        "b_ps": np.array([5, 50_000]),
        "duration_ps": 10**6,
        "max_lag_ps": 1000,
        "base_ps": 10,
    }
    args.update(kwargs)
    with pytest.raises(ParameterError, match=rf"^{name}="):
        multitau_correlate(args.pop("a_ps"), args.pop("b_ps"), **args)  # type: ignore[arg-type]


def test_empty_channel_gives_nan() -> None:
    r = multitau_correlate(
        np.zeros(0, np.int64), np.array([1, 2]), duration_ps=10**6, max_lag_ps=100, base_ps=10
    )
    assert np.all(r.counts == 0)
    assert np.all(np.isnan(r.g2))
