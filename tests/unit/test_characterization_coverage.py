"""Coverage of the 95 % intervals on the twin (small run; the 200-seed run is
``benchmarks/coverage_characterization.py``, figures in ``docs/characterization.md``)."""

from __future__ import annotations

import pytest
from scipy import stats
from tests.characterization_twin import coverage_trial

N_SEEDS = 40


@pytest.mark.slow
def test_intervals_cover_the_truth_at_95_percent() -> None:
    # With true coverage 0.95 the number of hits k ~ Binomial(40, 0.95) (mean 38, sd 1.4).
    # The test fails when P(K <= k) < 0.001, i.e. k <= 32 (P(K <= 32) = 0.0007), which
    # honest 95 % intervals produce about once in 1400 runs; k = 33 (P = 0.0034) passes.
    # Too-wide intervals cannot be rejected with 40 seeds (P(k = 40) = 0.13); the 200-seed
    # run (benchmarks/coverage_characterization.py) checks the 93-97 % band.
    trials = [coverage_trial(seed) for seed in range(N_SEEDS)]
    for key in trials[0]:
        k = sum(t[key] for t in trials)
        assert stats.binom.cdf(k, N_SEEDS, 0.95) >= 1e-3, f"{key}: {k}/{N_SEEDS} covered"
