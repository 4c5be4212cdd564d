"""HBT acquisition: g2 from generated tags against the exact rate-equation g2 (χ² tests)."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
from numpy.typing import NDArray
from scipy import stats
from tests.naive import stream_pair_histogram

from qlight.errors import ParameterError
from qlight.physics.detectors import (
    SI_SPAD,
    SPADModel,
    TimeTaggerModel,
    apply_detector,
    split_and_jitter,
)
from qlight.physics.emitter import (
    Blinking,
    EmitterPhotophysics,
    g2_with_background,
    g2_with_jitter,
)
from qlight.physics.hbt import (
    ChunkJoiner,
    EmitterState,
    Excitation,
    HBTSetup,
    PhotonSource,
    count_rates_expected,
    detected_photon_rate_per_s,
    eta_from_collection,
    expected_count_rate_per_s,
    simulate_hbt,
)
from qlight.physics.photons import generate_arrivals

ALPHA = 1e3
FLAT = ((300.0, 0.6), (1500.0, 0.6))


def _det(dead_ps: int = 0, fwhm_ps: float = 0.0, p_ap: float = 0.0, dark: float = 0.0) -> SPADModel:
    return SPADModel(FLAT, dark, dead_ps, fwhm_ps, p_ap, 50_000.0)


def _chi2_g2(
    tags: tuple[NDArray[np.int64], NDArray[np.int64]],
    duration_ps: int,
    g2: Callable[[NDArray[np.float64]], NDArray[np.float64]],
    window_ps: int,
    bin_ps: int,
) -> tuple[float, int]:
    """χ² of the pair histogram against N1·N2/T² ∫_bin g2(τ)(T − |τ|) dτ (Simpson, 17 pts).

    Pair counts in disjoint bins are ≈ independent Poisson (each pair is a rare event among
    N1·N2 candidates), so the χ² has one degree of freedom per bin.
    """
    a, b = tags
    edges = np.arange(-window_ps, window_ps + 1, bin_ps, dtype=np.int64)
    counts = np.asarray(stream_pair_histogram(a, b, edges))
    t = float(duration_ps)
    x = edges[:-1, None] + np.linspace(0.0, bin_ps, 17)[None, :]
    w = np.array([1, 4, 2, 4, 2, 4, 2, 4, 2, 4, 2, 4, 2, 4, 2, 4, 1]) * bin_ps / 48.0
    integrand = g2(x) * (t - np.abs(x))
    expected = a.size * b.size / t**2 * (integrand @ w)
    return float(np.sum((counts - expected) ** 2 / expected)), edges.size - 1


def _assert_chi2(chi2_dof: tuple[float, int]) -> None:
    chi2, dof = chi2_dof
    assert stats.chi2.sf(chi2, dof) > 1e-3, (chi2, dof)


def _source(
    k12: float, k21: float, k23: float, k31: float, qe: float, eta: float, **kw: object
) -> tuple[PhotonSource, float]:
    ph = EmitterPhotophysics(ALPHA, k21, k23, k31, qe, **kw)  # type: ignore[arg-type]
    return PhotonSource(ph, eta), k12 / ALPHA


def test_g2_chi2_ideal_detectors() -> None:
    src, power = _source(0.3, 0.5, 0.02, 0.01, 0.8, 0.05)
    setup = HBTSetup((_det(), _det()))
    tags = simulate_hbt([src], Excitation(power), setup, 0.25, np.random.default_rng(21))
    ph = src.photophysics
    _assert_chi2(_chi2_g2(tags.t_ps, tags.duration_ps, lambda x: ph.g2_at(x, power), 20_000, 250))


def test_g2_chi2_complex_eigenvalues_with_background() -> None:
    src, power = _source(5.0, 0.5, 3.0, 2.0, 1.0, 0.03)
    bg_per_w = 1e8  # per detector: 0.5 Mcps of laser background at 5 mW
    setup = HBTSetup((_det(dark=2e4), _det(dark=2e4)), background_cps_per_w=bg_per_w)
    tags = simulate_hbt([src], Excitation(power), setup, 1.0, np.random.default_rng(22))
    signal = 0.5 * detected_photon_rate_per_s(src, Excitation(power))
    rho = signal / (signal + bg_per_w * power + 2e4)
    assert 0.5 < rho < 0.95
    ph = src.photophysics

    def expected(x: NDArray[np.float64]) -> NDArray[np.float64]:
        return g2_with_background(ph.g2_at(x, power), rho)

    # antibunching and the damped oscillation live within ~1 ns: 50 ps bins over ±3 ns
    _assert_chi2(_chi2_g2(tags.t_ps, tags.duration_ps, expected, 3000, 50))
    # the same data against the background-free g2 must fail: the test can tell them apart
    chi2, dof = _chi2_g2(tags.t_ps, tags.duration_ps, lambda x: ph.g2_at(x, power), 3000, 50)
    assert stats.chi2.sf(chi2, dof) < 1e-6


def test_g2_chi2_jitter_dead_time_afterpulsing_per_detector() -> None:
    # A fast emitter (antibunching time 1/(k12 + k21) = 200 ps) seen with 350/500 ps FWHM
    # jitter: the IRF fills the dip to g2(0) ≈ 0.6, so σ matters. Little bunching
    # (g2(τd) − 1 = 0.036) and r·τd ≈ 0.05: the per-detector dead time changes the
    # cross-correlation near τ = 0 by ~ r τd (g2(τd) − 1) ≈ 2e-3, below the 4 % errors.
    src, power = _source(3.0, 2.0, 0.01, 0.05, 0.9, 0.005)
    d0 = _det(dead_ps=22_000, fwhm_ps=350.0, p_ap=0.02, dark=300.0)
    d1 = _det(dead_ps=22_000, fwhm_ps=500.0, p_ap=0.02, dark=300.0)
    setup = HBTSetup((d0, d1))
    exc = Excitation(power)
    tags = simulate_hbt([src], exc, setup, 3.0, np.random.default_rng(23))
    sigma = math.hypot(d0.jitter_sigma_ps, d1.jitter_sigma_ps)
    signal = 0.5 * detected_photon_rate_per_s(src, exc)
    rho = signal / (signal + 300.0)
    rates = src.photophysics.rates_at(power)

    def expected(x: NDArray[np.float64]) -> NDArray[np.float64]:
        return g2_with_background(g2_with_jitter(x, rates, sigma), rho)

    assert 0.4 < float(expected(np.zeros(1))[0]) < 0.8
    _assert_chi2(_chi2_g2(tags.t_ps, tags.duration_ps, expected, 1500, 75))
    # dead time is never violated on either channel
    for t in tags.t_ps:
        assert np.all(np.diff(t) >= 22_000)


def test_shared_dead_time_would_destroy_the_cross_correlation() -> None:
    # The same photons: a dead time per detector keeps g2 near τ = 0; one dead time applied
    # before the beam splitter (a single detector, or a wrong model) empties |τ| < τd.
    src, power = _source(0.5, 0.4, 0.005, 0.05, 0.9, 0.02)
    rng = np.random.default_rng(24)
    dur = 5 * 10**11
    arr = generate_arrivals(src.photophysics, power, src.eta, float(dur), rng)
    dead = _det(dead_ps=22_000)
    g2 = lambda x: src.photophysics.g2_at(x, power)  # noqa: E731
    a, b = split_and_jitter(arr.t_ps, 0.5, (0.0, 0.0), rng)
    per_detector = (apply_detector(a, dead, dur, rng), apply_detector(b, dead, dur, rng))
    _assert_chi2(_chi2_g2(per_detector, dur, g2, 10_000, 250))
    merged = apply_detector(np.floor(arr.t_ps).astype(np.int64), dead, dur, rng)
    a2, b2 = split_and_jitter(merged.astype(np.float64), 0.5, (0.0, 0.0), rng)
    chi2, dof = _chi2_g2((a2, b2), dur, g2, 10_000, 250)
    assert stats.chi2.sf(chi2, dof) < 1e-12
    assert stream_pair_histogram(a2, b2, np.array([-10_000, 10_000]))[0] == 0


def test_g2_chi2_blinking() -> None:
    blink = Blinking(off_rate_per_s_per_w=3e8, off_rate_per_s=1e4, on_rate_per_s=1e5)
    src, power = _source(0.3, 0.5, 0.02, 0.05, 0.8, 0.05, blinking=blink)
    setup = HBTSetup((_det(), _det()))
    tags = simulate_hbt([src], Excitation(power), setup, 0.3, np.random.default_rng(25))
    ph = src.photophysics
    assert ph.g2_at([5000.0], power)[0] > 1.5  # the blinking bunching is visible
    _assert_chi2(_chi2_g2(tags.t_ps, tags.duration_ps, lambda x: ph.g2_at(x, power), 20_000, 400))


def test_g2_chi2_two_emitters_in_the_focus() -> None:
    s1, power = _source(0.3, 0.5, 0.02, 0.01, 0.8, 0.03)
    s2 = PhotonSource(EmitterPhotophysics(2 * ALPHA, 0.35, 0.01, 0.02, 0.9), 0.04)
    setup = HBTSetup((_det(), _det()))
    exc = Excitation(power)
    tags = simulate_hbt([s1, s2], exc, setup, 0.25, np.random.default_rng(26))
    r1, r2 = detected_photon_rate_per_s(s1, exc), detected_photon_rate_per_s(s2, exc)

    def expected(x: NDArray[np.float64]) -> NDArray[np.float64]:
        # independent sources: g2 = 1 + Σ R_i² (g2_i − 1) / (Σ R_i)²
        g_1 = s1.photophysics.g2_at(x, power) - 1
        g_2 = s2.photophysics.g2_at(x, power) - 1
        return 1 + (r1**2 * g_1 + r2**2 * g_2) / (r1 + r2) ** 2

    assert 0.4 < float(expected(np.zeros(1))[0]) + 1 - 1 < 0.6  # a pair: g2(0) ≈ 0.5
    _assert_chi2(_chi2_g2(tags.t_ps, tags.duration_ps, expected, 10_000, 250))


def test_count_rates_expected() -> None:
    # Poisson background only: the closed form is exact
    setup = HBTSetup((SI_SPAD, SI_SPAD), background_cps=3e6)
    exc = Excitation(1e-4)
    dur = 0.05
    tags = simulate_hbt([], exc, setup, dur, np.random.default_rng(27))
    for n, r in zip((t.size for t in tags.t_ps), count_rates_expected([], exc, setup), strict=True):
        # renewal count: Var N ≤ N here (dead time regularises), 5 Poisson standard errors
        assert abs(n - r * dur) < 5 * math.sqrt(r * dur)
    # with a single emitter (antibunched input) the closed form is a close approximation
    src, power = _source(0.3, 0.5, 0.02, 0.01, 0.8, 0.01)
    exc = Excitation(power)
    tags = simulate_hbt([src], exc, HBTSetup((SI_SPAD, SI_SPAD)), 0.2, np.random.default_rng(28))
    for n, r in zip(
        (t.size for t in tags.t_ps),
        count_rates_expected([src], exc, HBTSetup((SI_SPAD, SI_SPAD))),
        strict=True,
    ):
        assert n / 0.2 == pytest.approx(r, rel=0.01)
    total = expected_count_rate_per_s([src], exc, HBTSetup((SI_SPAD, SI_SPAD)))
    assert total == pytest.approx(
        sum(count_rates_expected([src], exc, HBTSetup((SI_SPAD, SI_SPAD))))
    )


def test_state_is_updated_in_place() -> None:
    ph = EmitterPhotophysics(ALPHA, 0.5, 0.02, 0.01, 0.8)
    state = EmitterState(remaining_budget=5000.0)
    src = PhotonSource(ph, 0.05, state)
    setup = HBTSetup((_det(), _det()))
    tags = simulate_hbt([src], Excitation(3e-4), setup, 1e-3, np.random.default_rng(29))
    assert state.bleached is True
    assert state.blink_on is True
    assert state.remaining_budget == 0.0
    assert tags.emitted_photons == (5000,)
    again = simulate_hbt([src], Excitation(3e-4), setup, 1e-3, np.random.default_rng(30))
    assert again.emitted_photons == (0,)
    assert all(t.size == 0 for t in again.t_ps)
    assert detected_photon_rate_per_s(src, Excitation(3e-4)) == 0.0
    fresh = EmitterState.fresh(
        EmitterPhotophysics(ALPHA, 0.5, 0.02, 0.01, photon_budget=1e6), np.random.default_rng(0)
    )
    assert 0 < fresh.remaining_budget < math.inf


def test_tagger_resolution_delays_and_seeds() -> None:
    src, power = _source(0.3, 0.5, 0.02, 0.01, 0.8, 0.05)
    tagger = TimeTaggerModel(resolution_ps=8, channel_delays_ps=(0, 1000))
    setup = HBTSetup((SI_SPAD, SI_SPAD), tagger=tagger, background_cps=1e4)
    a = simulate_hbt([src], Excitation(power), setup, 2e-3, np.random.default_rng(31))
    b = simulate_hbt([src], Excitation(power), setup, 2e-3, np.random.default_rng(31))
    c = simulate_hbt([src], Excitation(power), setup, 2e-3, np.random.default_rng(32))
    for ta, tb in zip(a.t_ps, b.t_ps, strict=True):
        np.testing.assert_array_equal(ta, tb)
        assert ta.dtype == np.int64
        assert np.all(ta % 8 == 0)
        assert np.all(np.diff(ta) >= 0)
    assert not np.array_equal(a.t_ps[0], c.t_ps[0])
    assert a.t_ps[1].min() >= 1000 - 8  # channel delay shifts channel 1
    assert a.duration_ps == 2 * 10**9


def test_pulsed_acquisition_reports_sync() -> None:
    src, _ = _source(0.3, 0.5, 0.02, 0.01, 0.8, 0.05)
    exc = Excitation(2e-4, rep_rate_hz=80e6, pulse_width_ps=100.0)
    tags = simulate_hbt([src], exc, HBTSetup((_det(), _det())), 1e-3, np.random.default_rng(33))
    assert tags.sync_period_ps == pytest.approx(12_500.0)
    photons = np.concatenate(tags.t_ps)
    phase = photons % 12_500
    assert np.mean(phase < 12_500 / 2) > 0.75  # emission follows the pulses (2 ns lifetime)
    rate = detected_photon_rate_per_s(src, exc)
    assert photons.size == pytest.approx(rate * 1e-3, rel=0.05)


def test_eta_from_collection_and_share() -> None:
    ph = EmitterPhotophysics(ALPHA, 0.5, 0.02, 0.01, zpl_nm=650.0)
    setup = HBTSetup((_det(), SPADModel(((300.0, 0.3), (1500.0, 0.3)), 0.0, 0, 0.0, 0.0, 0.0)))
    assert eta_from_collection(ph, setup, 0.1) == pytest.approx(0.1 * (0.5 * 0.6 + 0.5 * 0.3))
    assert setup.detector_share(ph) == pytest.approx(0.6 / 0.9)


@pytest.mark.parametrize(
    ("factory", "name"),
    [
        (lambda: Excitation(-1.0), "power_w"),
        (lambda: Excitation(1e-3, rep_rate_hz=1e9, pulse_width_ps=5000.0), "pulse_width_ps"),
        (lambda: Excitation(1e-3, rep_rate_hz=0.0), "rep_rate_hz"),
        (lambda: HBTSetup((SI_SPAD, SI_SPAD), split_ratio=1.2), "split_ratio"),
        (lambda: HBTSetup((SI_SPAD, SI_SPAD), background_cps=-1.0), "background_cps"),
        (lambda: PhotonSource(EmitterPhotophysics(1.0, 0.5, 0.0, 0.1), 1.01), "eta"),
        (lambda: EmitterState(remaining_budget=-5.0), "remaining_budget"),
        (
            lambda: simulate_hbt(
                [], Excitation(1e-3), HBTSetup((SI_SPAD, SI_SPAD)), 0.0, np.random.default_rng(0)
            ),
            "duration_s",
        ),
    ],
)
def test_bad_parameters_name_themselves(factory: Callable[[], object], name: str) -> None:
    with pytest.raises(ParameterError, match=rf"^{name}="):
        factory()


def test_chunk_joiner_never_violates_dead_time_across_chunks() -> None:
    # Background so dense (30 Mcps per detector, dead time 22 ns) that nearly every chunk
    # starts with a tag inside the previous chunk's dead time: the joined record must keep
    # every spacing >= the dead time and stay sorted, and only boundary tags may be lost.
    setup = HBTSetup((SI_SPAD, SI_SPAD), background_cps=3e7)
    dead = SI_SPAD.dead_time_ps
    rng = np.random.default_rng(31)
    joiner = ChunkJoiner((dead, dead))
    chunk_ps = 2_000_000  # 2 µs chunks: 500 boundaries in 1 ms
    n_raw = [0, 0]
    for k in range(500):
        tags = simulate_hbt([], Excitation(1e-3), setup, chunk_ps * 1e-12, rng)
        for ch in (0, 1):
            n_raw[ch] += tags.t_ps[ch].size
        joiner.add(tags.t_ps, k * chunk_ps)
    for ch, t in enumerate(joiner.result()):
        assert t.dtype == np.int64
        assert np.all(np.diff(t) >= dead)
        # at most one tag is dropped per boundary
        assert n_raw[ch] - 499 <= t.size <= n_raw[ch]
        assert t.size < n_raw[ch]  # the test really exercised the boundary rule


def test_chunk_joiner_empty_and_offsets() -> None:
    joiner = ChunkJoiner((10, 10))
    joiner.add((np.array([0, 50], np.int64), np.zeros(0, np.int64)), 0)
    joiner.add((np.array([5, 20], np.int64), np.array([3], np.int64)), 50)
    a, b = joiner.result()
    np.testing.assert_array_equal(a, [0, 50, 70])  # 55 is within 10 ps of 50
    np.testing.assert_array_equal(b, [53])
    assert ChunkJoiner((1, 1)).result()[0].size == 0
