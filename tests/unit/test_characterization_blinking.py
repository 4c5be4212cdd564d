"""Blinking: two-state Poisson HMM, Viterbi segmentation, dwell times and their laws."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests import naive
from tests.characterization_twin import PHOTOPHYSICS, setup

from qlight.characterization.blinking import (
    BLINKING_KEYS,
    HMMFit,
    analyse_blinking,
    dwell_times,
    fit_dwell_laws,
    hmm_poisson2,
    viterbi_poisson2,
)
from qlight.characterization.uncertainty import Estimate, Undetermined
from qlight.errors import ParameterError
from qlight.physics.emitter import Blinking
from qlight.physics.hbt import Excitation, PhotonSource, simulate_hbt
from qlight.timetags.trace import intensity_trace

K_OFF_PER_S, K_ON_PER_S = 25.0, 50.0  # truth: mean on 40 ms, mean off 20 ms


def _telegraph(seed: int, n_bins: int, rates: tuple[float, float]) -> np.ndarray:
    rng = np.random.default_rng(seed)
    state = np.zeros(n_bins, dtype=np.int64)
    s = 1
    for t in range(n_bins):
        if rng.random() < 0.05:
            s = 1 - s
        state[t] = s
    return rng.poisson(np.where(state == 1, rates[1], rates[0]))


def test_forward_backward_likelihood_matches_the_naive_forward_recursion() -> None:
    counts = _telegraph(1, 300, (1.0, 12.0))
    fit = hmm_poisson2(counts)
    want = naive.char_hmm_loglik(
        list(counts), list(fit.rates), fit.transition.tolist(), list(fit.initial)
    )
    # After convergence the last E-step's likelihood belongs to the previous parameters;
    # EM's improvement below tol·(1 + |lnL|) = 1e-8 · ~700 bounds the difference.
    assert fit.log_likelihood == pytest.approx(want, abs=1e-4)
    assert fit.rates[0] < 2.0 < 9.0 < fit.rates[1]


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(0, 15), min_size=2, max_size=10), st.floats(0.01, 0.4))
def test_viterbi_is_the_brute_force_best_path(counts: list[int], p_switch: float) -> None:
    trans = np.array([[1 - p_switch, p_switch], [p_switch, 1 - p_switch]])
    fit = HMMFit(np.array([1.0, 8.0]), trans, np.array([0.4, 0.6]), 0.0, 0, True)
    got = viterbi_poisson2(counts, fit)
    want = naive.char_viterbi_bruteforce(counts, [1.0, 8.0], trans.tolist(), [0.4, 0.6])

    # Ties between equally probable paths are possible in principle: compare path scores.
    def score(path: list[int]) -> float:
        v = np.log([0.4, 0.6][path[0]])
        for t, s in enumerate(path):
            v += (np.log(trans[path[t - 1], s]) if t else 0.0) + counts[t] * np.log(
                [1.0, 8.0][s]) - [1.0, 8.0][s]  # fmt: skip
        return float(v)

    assert score(list(got)) == pytest.approx(score(want), abs=1e-9)


@given(st.lists(st.integers(0, 1), max_size=60))
def test_dwell_times_are_the_inner_run_lengths(path: list[int]) -> None:
    on, off = dwell_times(path)
    won, woff = naive.char_run_lengths(path)
    assert on.tolist() == won
    assert off.tolist() == woff
    assert on.sum() + off.sum() <= len(path)


@pytest.fixture(scope="module")
def twin_trace() -> np.ndarray:
    ph = dataclasses.replace(PHOTOPHYSICS, blinking=Blinking(0.0, K_OFF_PER_S, K_ON_PER_S))
    tags = simulate_hbt([PhotonSource(ph, 0.002)], Excitation(0.1e-3), setup(500.0), 4.0,
                        np.random.default_rng(1))  # fmt: skip
    tr = intensity_trace(list(tags.t_ps), bin_ps=10**9, stop_ps=tags.duration_ps)
    return tr.counts


def test_twin_blinking_rates_lie_in_the_intervals(twin_trace: np.ndarray) -> None:
    ba = analyse_blinking(twin_trace, 1e-3)
    assert ba.blinking
    on, off = ba.results["blinking_on_time_s"], ba.results["blinking_off_time_s"]
    frac = ba.results["blinking_on_fraction"]
    assert isinstance(on, Estimate)
    assert isinstance(off, Estimate)
    assert isinstance(frac, Estimate)
    assert on.contains(1.0 / K_OFF_PER_S)
    assert off.contains(1.0 / K_ON_PER_S)
    assert frac.contains(K_ON_PER_S / (K_ON_PER_S + K_OFF_PER_S))
    # ~4 s / 60 ms = 67 cycles: the exact interval's relative half-width ≈ 1.96/√67 ≈ 0.24.
    assert 0.15 < (on.ci95[1] - on.ci95[0]) / (2 * on.value) < 0.35
    assert ba.on_law is not None
    assert ba.on_law.preferred == "exponential"  # the twin's telegraph process
    assert set(ba.results) == set(BLINKING_KEYS)
    assert ba.as_json()["n_on_periods"] == ba.on_dwell_bins.size


def test_no_blinking_is_stated_not_invented() -> None:
    counts = np.random.default_rng(3).poisson(30.0, 3000)
    ba = analyse_blinking(counts, 1e-3)
    assert not ba.blinking
    assert "no blinking" in ba.reason
    r = ba.results["blinking_on_time_s"]
    assert isinstance(r, Undetermined)
    assert r.as_json()["value"] is None
    few = analyse_blinking(np.zeros(50, dtype=np.int64), 1e-3)
    assert "photons in the trace" in few.reason


def test_dwell_laws_tell_exponential_from_power_law() -> None:
    rng = np.random.default_rng(4)
    expo = np.ceil(rng.exponential(20.0, 300)).astype(np.int64)
    law = fit_dwell_laws(expo, 20_000)
    assert law.preferred == "exponential"
    assert law.rate_exp_per_bin == pytest.approx(1 / np.mean(expo), rel=0.05)
    # Power law α = 1.6 (Pareto, k >= 1), 300 periods: LR far above the 95 % point.
    k = np.arange(1, 20_001)
    pk = k**-1.6
    pareto = rng.choice(k, size=300, p=pk / pk.sum())  # exact discrete power law on 1…K
    law2 = fit_dwell_laws(pareto, 20_000)
    assert law2.preferred == "truncated power law"
    assert isinstance(law2.alpha, Estimate)
    assert law2.alpha.contains(1.6)


def test_bad_input_raises() -> None:
    with pytest.raises(ParameterError):
        analyse_blinking(np.ones(10), 0.0)
    with pytest.raises(ParameterError):
        analyse_blinking(-np.ones(10), 1e-3)
    with pytest.raises(ParameterError):
        fit_dwell_laws([0, 1, 2], 10)
