"""Three-level photophysics: closed forms against matrix-exponential oracles and limits."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from tests.naive import (
    emitter_g2_convolved_numeric,
    emitter_g2_expm,
    emitter_pulsed_areas_grid,
    emitter_stationary_expm,
)

from qlight.errors import ParameterError
from qlight.physics.emitter import (
    Blinking,
    EmitterPhotophysics,
    ThreeLevelRates,
    emission_rate_per_s,
    g2_exact,
    g2_kurtsiefer_params,
    g2_markov,
    g2_with_background,
    g2_with_jitter,
    rate_matrix,
    saturation_curve,
    steady_state,
)
from qlight.physics.emitter_spectrum import (
    HC_EV_NM,
    dipole_unit_vector,
    spectral_average,
)
from qlight.physics.pulsed import PulsedModel, pulsed_rates

REAL = ThreeLevelRates(k12_per_ns=0.3, k21_per_ns=0.5, k23_per_ns=0.02, k31_per_ns=0.01, qe=0.8)
COMPLEX = ThreeLevelRates(k12_per_ns=5.0, k21_per_ns=0.5, k23_per_ns=3.0, k31_per_ns=2.0)
TWO_LEVEL = ThreeLevelRates(k12_per_ns=0.7, k21_per_ns=0.4, k23_per_ns=0.0, k31_per_ns=0.05)
TAU_PS = np.array([-40_000.0, -1500.0, 0.0, 120.0, 900.0, 3000.0, 25_000.0, 400_000.0])


def _degenerate() -> ThreeLevelRates:
    """Rates with b² = 4c exactly in k31 (double eigenvalue): solve the quadratic in k31."""
    k12, k21, k23 = 1.0, 0.5, 0.3
    # b = s + k31, c = k12 k23 + k31 (k12 + k21 + k23) with s = k12 + k21 + k23:
    # (s + k31)² − 4 (k12 k23 + s k31) = 0  ⇒  k31² − 2 s k31 + s² − 4 k12 k23 = 0
    s = k12 + k21 + k23
    k31 = s - 2.0 * math.sqrt(k12 * k23)
    return ThreeLevelRates(k12, k21, k23, k31)


@pytest.mark.parametrize("rates", [REAL, COMPLEX, TWO_LEVEL, _degenerate()])
def test_g2_exact_matches_matrix_exponential(rates: ThreeLevelRates) -> None:
    ref = emitter_g2_expm(rate_matrix(rates).tolist(), TAU_PS.tolist())
    np.testing.assert_allclose(g2_exact(TAU_PS, rates), ref, rtol=1e-9, atol=1e-12)


def test_steady_state_and_rate_match_oracle() -> None:
    for rates in (REAL, COMPLEX, TWO_LEVEL):
        ref = emitter_stationary_expm(rate_matrix(rates).tolist())
        np.testing.assert_allclose(steady_state(rates), ref, rtol=1e-9)
        expected = rates.qe * rates.k21_per_ns * ref[1] * 1e9
        assert emission_rate_per_s(rates) == pytest.approx(expected, rel=1e-9)


def test_two_level_limit() -> None:
    # k23 = 0: g2 = 1 − exp(−(k12 + k21)|τ|)
    tau_ns = np.abs(TAU_PS) * 1e-3
    expected = 1.0 - np.exp(-(TWO_LEVEL.k12_per_ns + TWO_LEVEL.k21_per_ns) * tau_ns)
    np.testing.assert_allclose(g2_exact(TAU_PS, TWO_LEVEL), expected, rtol=1e-12, atol=1e-14)


def test_low_power_rate_limit() -> None:
    # p2 → k12 / (k21 + k23) for k12 → 0: R → qe k12 k21 / (k21 + k23); relative error ~ k12/k31
    low = ThreeLevelRates(1e-7, 0.5, 0.02, 0.01, 0.8)
    expected = 0.8 * 1e-7 * 0.5 / 0.52 * 1e9
    assert emission_rate_per_s(low) == pytest.approx(expected, rel=1e-4)


def test_saturation_closed_form() -> None:
    ph = EmitterPhotophysics(1e3, 0.5, 0.02, 0.01, qe=0.8)
    i_inf, p_sat = ph.saturation()
    # I∞ = qe k21 k31/(k31 + k23), P_sat = k31 (k21 + k23)/(α (k31 + k23))
    assert i_inf == pytest.approx(0.8 * 0.5 * 0.01 / 0.03 * 1e9, rel=1e-12)
    assert p_sat == pytest.approx(0.01 * 0.52 / (1e3 * 0.03), rel=1e-12)
    powers = np.array([0.0, 1e-6, p_sat, 7 * p_sat, 1e3 * p_sat])
    rates = [ph.emission_rate_at(p) for p in powers]
    np.testing.assert_allclose(rates, saturation_curve(powers, i_inf, p_sat), rtol=1e-12)
    assert ph.emission_rate_at(1e6) == pytest.approx(i_inf, rel=1e-6)
    with_bg = saturation_curve(powers, i_inf, p_sat, background_per_s_per_w=1e6)
    np.testing.assert_allclose(with_bg - saturation_curve(powers, i_inf, p_sat), 1e6 * powers)


def test_kurtsiefer_parameters() -> None:
    a, tau1, tau2 = g2_kurtsiefer_params(REAL)
    t = np.abs(TAU_PS) * 1e-3
    kurt = 1.0 - (1.0 + a) * np.exp(-t / tau1) + a * np.exp(-t / tau2)
    np.testing.assert_allclose(kurt, g2_exact(TAU_PS, REAL), rtol=1e-9, atol=1e-12)
    # the published form: τ1,2 = 2/(A ± √(A² − 4B)), a = (1 − τ2 k31)/(k31 (τ2 − τ1))
    k12, k21, k23, k31 = 0.3, 0.5, 0.02, 0.01
    big_a = k12 + k21 + k23 + k31
    big_b = k12 * k23 + k12 * k31 + k21 * k31 + k23 * k31
    root = math.sqrt(big_a**2 - 4 * big_b)
    t1, t2 = 2 / (big_a + root), 2 / (big_a - root)
    assert (tau1, tau2) == pytest.approx((t1, t2), rel=1e-12)
    assert a == pytest.approx((1 - t2 * k31) / (k31 * (t2 - t1)), rel=1e-9)
    with pytest.raises(ParameterError, match=r"^rates="):
        g2_kurtsiefer_params(COMPLEX)


@pytest.mark.parametrize("rates", [REAL, COMPLEX])
def test_jitter_convolution(rates: ThreeLevelRates) -> None:
    sigma = 300.0
    tau = [-2000.0, -300.0, 0.0, 150.0, 700.0, 5000.0]
    ref = emitter_g2_convolved_numeric(lambda x: g2_exact(x, rates), tau, sigma)
    np.testing.assert_allclose(g2_with_jitter(tau, rates, sigma), ref, atol=2e-6)
    far = g2_with_jitter([1e9, -1e9], rates, sigma)  # no overflow far out
    np.testing.assert_allclose(far, 1.0)
    np.testing.assert_array_equal(g2_with_jitter(tau, rates, 0.0), g2_exact(tau, rates))


def test_background_brouri() -> None:
    g2 = np.array([0.0, 0.5, 1.3])
    np.testing.assert_allclose(g2_with_background(g2, 0.8), 1 - 0.64 + 0.64 * g2)
    np.testing.assert_allclose(g2_with_background(g2, 0.8, 0.5), 1 + 0.4 * (g2 - 1))
    with pytest.raises(ParameterError, match=r"^rho0="):
        g2_with_background(g2, 1.2)


def test_blinking_four_state_chain() -> None:
    blink = Blinking(off_rate_per_s_per_w=2e8, off_rate_per_s=1e4, on_rate_per_s=5e4)
    ph = EmitterPhotophysics(1e3, 0.5, 0.02, 0.01, qe=0.8, blinking=blink)
    power = 3e-4
    k_off, _ = blink.rates_per_s(power)
    assert k_off == pytest.approx(1e4 + 2e8 * power)
    q = ph.rate_matrix_at(power)
    assert q.shape == (4, 4)
    np.testing.assert_allclose(q.sum(axis=0), 0.0, atol=1e-15)
    tau = [0.0, 800.0, 2e5, 3e7, 2e8]
    ref = emitter_g2_expm(q.tolist(), tau)
    np.testing.assert_allclose(ph.g2_at(tau, power), ref, rtol=1e-7, atol=1e-12)
    # the bright/dark indicator is itself a telegraph: beyond the emitter's µs dynamics
    # g2 ≈ 1 + (1/p_on − 1) e^{−(k_on + k_off) τ}; the restart from the ground state after a
    # dark period changes this by ~ (k_on + k_off) τ2 ≈ 1 %.
    p_on = blink.on_fraction(power)
    for tau_s in (2e-6, 1e-5):
        telegraph = 1 + (1 / p_on - 1) * math.exp(-(k_off + 5e4) * tau_s)
        np.testing.assert_allclose(g2_markov([tau_s * 1e12], q), telegraph, rtol=0.02)
    pops = emitter_stationary_expm(q.tolist())
    assert ph.mean_emission_rate_at(power) == pytest.approx(0.4 * pops[1] * 1e9, rel=1e-9)
    # dark state entered from any level: the on-fraction is exactly k_on/(k_on + k_off)
    assert 1 - pops[3] == pytest.approx(p_on, rel=1e-9)
    plain = EmitterPhotophysics(1e3, 0.5, 0.02, 0.01, qe=0.8)
    np.testing.assert_array_equal(plain.g2_at(tau, power), g2_exact(tau, plain.rates_at(power)))


def test_spectrum_normalized_and_sampler() -> None:
    ph = EmitterPhotophysics(1e3, 0.5, 0.02, 0.01, zpl_nm=628.7, zpl_fwhm_nm=3.0)
    lam = np.linspace(400.0, 1200.0, 800_001)
    dens = ph.spectrum(lam)
    assert np.trapezoid(dens, lam) == pytest.approx(1.0, abs=1e-5)
    # ZPL window ±20 FWHM holds DW plus the PSB's small share there
    zpl = np.abs(lam - 628.7) <= 60.0
    assert np.trapezoid(np.where(zpl, dens, 0.0), lam) > ph.debye_waller
    rng = np.random.default_rng(7)
    x = ph.sample_wavelengths_nm(50_000, rng)
    cdf = np.cumsum(dens) * (lam[1] - lam[0])
    res = stats.kstest(x, lambda v: np.interp(v, lam, cdf / cdf[-1]))
    assert res.pvalue > 1e-3
    # mean wavelength within 5 standard errors of ∫ λ S(λ) dλ
    mean = np.trapezoid(lam * dens, lam)
    assert abs(x.mean() - mean) < 5 * x.std() / math.sqrt(x.size)
    # the PSB alone (DW = 0) peaks at hc/(E_zpl − 92 meV) (LO-phonon replica)
    psb_only = EmitterPhotophysics(1e3, 0.5, 0.02, 0.01, zpl_nm=628.7, debye_waller=0.0)
    peak = lam[np.argmax(psb_only.spectrum(lam))]
    # density per nm peaks slightly red of hc/E_mean (Jacobian hc/λ²): within 1 nm here
    assert peak == pytest.approx(HC_EV_NM / (HC_EV_NM / 628.7 - 0.092), abs=1.0)
    assert spectral_average(ph, ((300.0, 1.0), (1500.0, 1.0))) == pytest.approx(1.0, abs=1e-6)
    assert spectral_average(ph, ((1000.0, 1.0), (1500.0, 1.0))) == pytest.approx(0.0, abs=1e-6)


def test_polarization_malus_visibility() -> None:
    ph = EmitterPhotophysics(1e3, 0.5, 0.02, 0.01, dipole_azimuth_rad=0.4)
    theta = np.linspace(0.0, math.pi, 1801)
    t = ph.polarization_transmission(theta)
    assert t.max() == pytest.approx(0.95, abs=1e-6)
    assert t.min() == pytest.approx(0.05, abs=1e-6)
    assert theta[np.argmax(t)] == pytest.approx(0.4, abs=1e-3)
    assert (t.max() - t.min()) / (t.max() + t.min()) == pytest.approx(0.9, abs=1e-6)
    v = dipole_unit_vector(ph)
    assert np.linalg.norm(v) == pytest.approx(1.0)
    assert v[2] == pytest.approx(0.0, abs=1e-15)  # in-plane by default (GaN: ⟂ c-axis)


@pytest.mark.parametrize(
    ("field", "bad"),
    [
        ("k12_per_ns", -1.0),
        ("k21_per_ns", 0.0),
        ("k23_per_ns", math.nan),
        ("k31_per_ns", -0.1),
        ("qe", 1.5),
    ],
)
def test_rates_validation_names_parameter(field: str, bad: float) -> None:
    kwargs = {"k12_per_ns": 1.0, "k21_per_ns": 0.5, "k23_per_ns": 0.1, "k31_per_ns": 0.01}
    kwargs[field] = bad
    with pytest.raises(ParameterError, match=f"^{field}="):
        ThreeLevelRates(**kwargs)


def test_photophysics_validation() -> None:
    with pytest.raises(ParameterError, match=r"^k12_per_ns_per_w="):
        EmitterPhotophysics(-1.0, 0.5, 0.02, 0.01)
    with pytest.raises(ParameterError, match=r"^photon_budget="):
        EmitterPhotophysics(1.0, 0.5, 0.02, 0.01, photon_budget=0.0)
    with pytest.raises(ParameterError, match=r"^debye_waller="):
        EmitterPhotophysics(1.0, 0.5, 0.02, 0.01, debye_waller=1.1)
    with pytest.raises(ParameterError, match=r"^on_rate_per_s="):
        Blinking(1.0, 1.0, 0.0)
    with pytest.raises(ParameterError, match=r"^power_w="):
        EmitterPhotophysics(1.0, 0.5, 0.02, 0.01).rates_at(-1e-3)
    with pytest.raises(ParameterError, match=r"^k12_per_ns="):
        g2_exact([0.0], ThreeLevelRates(0.0, 0.5, 0.02, 0.01))
    with pytest.raises(ParameterError, match=r"^tau_ps="):
        g2_exact([math.nan], REAL)


# ------------------------------------------------------------------------------- pulsed


def test_pulsed_peak_areas_match_grid_oracle() -> None:
    rates_on = ThreeLevelRates(2.0, 0.5, 0.02, 0.05, 0.8)
    width_ps = 1000.0  # 16 grid steps of P/200 at 80 MHz
    model = PulsedModel(rates_on, 80e6, width_ps)
    off = ThreeLevelRates(0.0, 0.5, 0.02, 0.05, 0.8)
    ref = emitter_pulsed_areas_grid(
        rate_matrix(rates_on).tolist(),
        rate_matrix(off).tolist(),
        [0.0, 0.4, 0.0],
        12.5,
        1.0,
        2,
        200,
    )
    # the grid oracle converges slowly (≈ O(h)); at h = P/200 it is within 7e-4 of the
    # limit it approaches when refined (checked up to P/3200)
    np.testing.assert_allclose(model.peak_areas(2), ref, atol=1.5e-3)


def test_pulsed_short_pulse_limit() -> None:
    # w ≪ 1/k21, k23 = 0: at most one photon per pulse, N_pp = qe (1 − e^{−k12 w})
    rates_on = ThreeLevelRates(20.0, 0.5, 0.0, 0.05, 0.9)
    model = PulsedModel(rates_on, 20e6, 10.0)
    assert model.emission_per_pulse() == pytest.approx(0.9 * (1 - math.exp(-0.2)), rel=5e-3)
    g = model.peak_areas(2)
    assert g[0] < 5e-3  # re-excitation within 10 ps of a 2 ns lifetime: O(w k21)
    # memoryless between pulses (k23 = 0): 1 up to the tail e^{−k21 P/2} ≈ 4e-6 crossing windows
    np.testing.assert_allclose(g[1:], 1.0, atol=1e-5)
    # a long pulse re-excites: g2(0) > 0
    long_pulse = PulsedModel(ThreeLevelRates(0.5, 0.5, 0.0, 0.05, 0.9), 20e6, 20_000.0)
    assert long_pulse.peak_areas(1)[0] > 0.3


def test_pulsed_cw_limit_and_rates() -> None:
    ph = EmitterPhotophysics(1e3, 0.5, 0.02, 0.01, qe=0.8)
    rates_on = pulsed_rates(ph, 2e-4, 80e6, 12_500.0)  # pulse fills the period: CW
    assert rates_on.k12_per_ns == pytest.approx(0.2)
    model = PulsedModel(rates_on, 80e6, 12_500.0)
    assert model.emission_per_pulse() * 80e6 == pytest.approx(ph.emission_rate_at(2e-4), rel=1e-9)
    with pytest.raises(ParameterError, match=r"^pulse_width_ps="):
        pulsed_rates(ph, 2e-4, 80e6, 20_000.0)
    with pytest.raises(ParameterError, match=r"^rep_rate_hz="):
        PulsedModel(rates_on, -1.0, 50.0)
