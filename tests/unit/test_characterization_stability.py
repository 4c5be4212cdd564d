"""Allan deviation: the cumulative-sum kernel against the written-out oracle, shot noise."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests import naive

from qlight.characterization.stability import allan_deviation, octave_factors
from qlight.errors import ParameterError


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 1000), min_size=4, max_size=60).filter(lambda c: sum(c) > 0))
def test_matches_the_oracle(counts: list[int]) -> None:
    bin_s = 0.01
    ad = allan_deviation(counts, bin_s)
    y = [c / bin_s for c in counts]
    mean = sum(y) / len(y)
    for m, v in zip(octave_factors(len(counts)), ad.adev, strict=True):
        assert v == pytest.approx(naive.hl_allan_deviation(y, int(m)) / mean, rel=1e-9, abs=1e-12)


def test_poisson_trace_follows_shot_noise() -> None:
    # White Poisson counts: σ_y(τ)/ȳ = 1/√(ȳτ). At m = 1 the estimate rests on ~20000
    # differences: relative standard error of a deviation ≈ 1/√(2·20000) = 0.5 %; 3 % is 6σ.
    counts = np.random.default_rng(0).poisson(500.0, 20_000)
    ad = allan_deviation(counts, 1e-3)
    assert ad.adev[0] == pytest.approx(ad.shot_noise[0], rel=0.03)
    assert ad.mean_rate_per_s == pytest.approx(5e5, rel=0.01)


def test_telegraph_blinking_rises_above_shot_noise() -> None:
    # Blinking with 100-bin dwell times adds variance at τ ≈ dwell: more than 3× shot noise.
    rng = np.random.default_rng(1)
    state = np.repeat(rng.integers(0, 2, 200), 100)
    counts = rng.poisson(np.where(state == 1, 500.0, 50.0))
    ad = allan_deviation(counts, 1e-3)
    k = int(np.argmin(np.abs(ad.tau_s - 0.064)))
    assert ad.adev[k] > 3.0 * ad.shot_noise[k]


def test_bad_input() -> None:
    with pytest.raises(ParameterError, match="counts"):
        allan_deviation([1, 2, 3], 0.1)
    with pytest.raises(ParameterError, match="factors"):
        allan_deviation([1, 2, 3, 4], 0.1, factors=[3])
    with pytest.raises(ParameterError, match="bin_s"):
        allan_deviation([1, 2, 3, 4], 0.0)
