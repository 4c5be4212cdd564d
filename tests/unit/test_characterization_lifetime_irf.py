"""Lifetime reconvolution with a measured IRF (the twin's scattered-light response)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from tests import naive
from tests.characterization_twin import (
    ETA,
    PHOTOPHYSICS,
    REP_RATE_HZ,
    lifetime_truth_ns,
    setup,
    sync_tags,
)

from qlight.characterization.lifetime import fit_lifetime
from qlight.characterization.lifetime_irf import prepare_irf, reconvolve
from qlight.characterization.uncertainty import Estimate, Undetermined
from qlight.errors import ParameterError
from qlight.physics.emitter import EmitterPhotophysics
from qlight.physics.hbt import Excitation, PhotonSource, simulate_hbt
from qlight.timetags.lifetime import LifetimeHistogram, lifetime_histogram_t2


def _hist(ph: EmitterPhotophysics, seed: int, duration_s: float) -> LifetimeHistogram:
    exc = Excitation(2e-3, rep_rate_hz=REP_RATE_HZ, pulse_width_ps=50.0)
    tags = simulate_hbt([PhotonSource(ph, ETA)], exc, setup(0.0), duration_s,
                        np.random.default_rng(seed))  # fmt: skip
    merged = np.sort(np.concatenate(tags.t_ps))
    return lifetime_histogram_t2(sync_tags(tags), merged, bin_ps=50, range_ps=50_000)


@pytest.fixture(scope="module")
def data_and_irf() -> tuple[LifetimeHistogram, LifetimeHistogram]:
    # The IRF is measured like on a real setup: the same detectors and laser on a "sample"
    # with a 5 ps decay (scattered light), so it has the detectors' jitter and the pulse.
    scatter = dataclasses.replace(PHOTOPHYSICS, k21_per_ns=200.0, k23_per_ns=0.0)
    return _hist(PHOTOPHYSICS, 3, 0.05), _hist(scatter, 4, 0.02)


def test_reconvolution_matches_the_naive_circular_sum() -> None:
    rng = np.random.default_rng(0)
    irf = rng.random(32)
    decay = np.exp(-np.arange(32) / 5.0)
    for shift in (0.0, 2.3, -1.7, 31.5):
        got = reconvolve(irf, shift, decay)
        want = naive.char_reconvolve(list(irf), shift, list(decay))
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def test_twin_lifetime_lies_in_the_interval(
    data_and_irf: tuple[LifetimeHistogram, LifetimeHistogram],
) -> None:
    h, irf = data_and_irf
    f = fit_lifetime(h, irf=irf.counts.astype(np.float64))
    assert isinstance(f.lifetime_ns, Estimate)
    assert f.lifetime_ns.contains(lifetime_truth_ns())
    assert "measured IRF" in f.lifetime_ns.method
    assert abs(f.t0_ns) < 0.2  # same detectors and sync: the fitted IRF shift is small
    # Not a bad fit: deviance below 5 σ over its χ² mean (most bins hold < 5 counts, where
    # the Poisson deviance's mean is below one per bin, so only the upper side is tested).
    assert f.deviance < f.dof + 5 * np.sqrt(2 * f.dof)
    # The IRF shift is fitted: an IRF recorded 0.5 ns late gives the same lifetime.
    late = np.roll(irf.counts, 10).astype(np.float64)
    g = fit_lifetime(h, irf=late)
    assert isinstance(g.lifetime_ns, Estimate)
    assert g.lifetime_ns.value == pytest.approx(f.lifetime_ns.value, rel=1e-3)
    assert g.t0_ns == pytest.approx(f.t0_ns - 0.5, abs=0.01)


def test_biexponential_and_too_few_photons(
    data_and_irf: tuple[LifetimeHistogram, LifetimeHistogram],
) -> None:
    h, irf = data_and_irf
    f2 = fit_lifetime(h, irf=irf.counts.astype(np.float64), components=2)
    assert isinstance(f2.lifetime_ns, Undetermined)
    assert len(f2.tau_ns) == 2
    tiny = dataclasses.replace(h, counts=np.zeros_like(h.counts))
    f0 = fit_lifetime(tiny, irf=irf.counts.astype(np.float64))
    assert isinstance(f0.lifetime_ns, Undetermined)
    assert "photons" in f0.lifetime_ns.reason


def test_bad_irf_raises() -> None:
    with pytest.raises(ParameterError):
        prepare_irf(np.ones(10), 12)
    with pytest.raises(ParameterError):
        prepare_irf(np.ones(12), 12)  # flat: no response above its floor
    with pytest.raises(ParameterError):
        prepare_irf(-np.ones(12), 12)
