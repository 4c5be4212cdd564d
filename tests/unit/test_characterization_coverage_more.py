"""Coverage of the spectrum and blinking 95 % intervals on the twin (slow).

Each trial's interval contains the truth with probability 0.95 when honest. Over 20 trials
the number of hits is Binomial(20, 0.95): P(X <= 15) = 0.016 %, so fewer than 16 hits means
intervals too narrow (not bad luck); the upper side (20/20 = 36 % likely) cannot tell wide
intervals apart and is recorded by ``benchmarks/coverage_spectrum_blinking.py`` instead.
"""

from __future__ import annotations

import collections

import pytest
from tests.characterization_more import TwinSpectra, blinking_trial

N_TRIALS = 20
MIN_HITS = 16


@pytest.mark.slow
def test_blinking_intervals_cover_the_truth() -> None:
    hits: collections.Counter[str] = collections.Counter()
    for seed in range(N_TRIALS):
        hits.update(k for k, v in blinking_trial(seed, duration_s=3.0).items() if v)
    assert len(hits) == 3
    assert min(hits.values()) >= MIN_HITS, hits


@pytest.mark.slow
def test_spectrum_intervals_cover_the_truth() -> None:
    ts = TwinSpectra(exposure_s=0.5)
    hits: collections.Counter[str] = collections.Counter()
    for _ in range(N_TRIALS):
        hits.update(k for k, v in ts.trial().items() if v)
    assert len(hits) == 3
    assert min(hits.values()) >= MIN_HITS, hits
