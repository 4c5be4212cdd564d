"""Lifetime reconvolution fit: model against quadrature, twin data, bi-exponential, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from tests import naive
from tests.characterization_twin import lifetime_truth_ns, simulate_pulsed, sync_tags

from qlight.characterization.lifetime import decay_shape, fit_lifetime
from qlight.characterization.uncertainty import Estimate, Undetermined
from qlight.errors import ParameterError
from qlight.timetags.lifetime import LifetimeHistogram, lifetime_histogram_t2


@pytest.mark.parametrize("t_ns", [-0.1, 0.0, 0.3, 5.0, 49.9])
def test_decay_shape_matches_quadrature(t_ns: float) -> None:
    # Both the wrapped earlier pulses and the next pulse's rise at the range end are included.
    got = float(decay_shape(np.array([t_ns]), 2.0, 0.05, 0.15, 50.0)[0])
    assert got == pytest.approx(naive.hl_periodic_decay(t_ns, 2.0, 0.05, 0.15, 50.0), rel=1e-5)


def _hist(counts: np.ndarray, bin_ps: int) -> LifetimeHistogram:
    t = np.arange(counts.size, dtype=np.int64) * bin_ps
    return LifetimeHistogram(t, counts.astype(np.int64), bin_ps, bin_ps * counts.size,
                             int(counts.sum()), 0)  # fmt: skip


def test_twin_lifetime_interval_contains_the_truth() -> None:
    # Fixed seed; truth 1/(k21 + k23) of the level-2 decay after the pulse.
    tags = simulate_pulsed(2e-3, 0.05, seed=3)
    t = np.sort(np.concatenate(tags.t_ps))
    h = lifetime_histogram_t2(sync_tags(tags), t, bin_ps=50, range_ps=50_000)
    fit = fit_lifetime(h)
    assert isinstance(fit.lifetime_ns, Estimate)
    assert fit.lifetime_ns.contains(lifetime_truth_ns())
    # ~15k photons: relative standard error ≈ 1/√N ≈ 0.8 %, so the interval is 2–5 % wide.
    width = fit.lifetime_ns.ci95[1] - fit.lifetime_ns.ci95[0]
    assert 0.01 < width / lifetime_truth_ns() < 0.06
    # The fitted IRF is the detector jitter (σ = 350/2.355 = 149 ps) with the 50 ps pulse.
    assert 0.12 < fit.irf_sigma_ns < 0.18


def test_bi_exponential_recovers_both_components() -> None:
    # Synthetic Poisson data: 60 % at 0.8 ns, 40 % at 6 ns, σ = 0.1 ns, flat background.
    t = (np.arange(1000) + 0.5) * 0.05
    s1 = decay_shape(t, 0.8, 1.0, 0.1, 50.0)
    s2 = decay_shape(t, 6.0, 1.0, 0.1, 50.0)
    mu = 2e5 * (0.6 * s1 / s1.sum() + 0.4 * s2 / s2.sum()) + 2.0
    counts = np.random.default_rng(4).poisson(mu)
    fit = fit_lifetime(_hist(counts, 50), components=2)
    taus = sorted(r.value for r in fit.tau_ns if isinstance(r, Estimate))
    intervals = sorted(r.ci95 for r in fit.tau_ns if isinstance(r, Estimate))
    assert len(taus) == 2
    assert intervals[0][0] <= 0.8 <= intervals[0][1]
    assert intervals[1][0] <= 6.0 <= intervals[1][1]
    # No interval for the amplitude-weighted mean: stated, not invented.
    assert isinstance(fit.lifetime_ns, Undetermined)


def test_few_photons_not_determined() -> None:
    counts = np.zeros(100, dtype=np.int64)
    counts[10] = 12
    fit = fit_lifetime(_hist(counts, 100))
    assert isinstance(fit.lifetime_ns, Undetermined)
    assert "12 photons" in fit.lifetime_ns.reason


def test_bad_components() -> None:
    with pytest.raises(ParameterError, match="components"):
        fit_lifetime(_hist(np.ones(10, dtype=np.int64), 100), components=3)
