"""Eve on the simulated link: intercept-resend raises the QBER by F/4; PNS breaks WCP BB84
without decoys, gains nothing on a good single-photon source, and decoy states detect it."""

from __future__ import annotations

import math

import numpy as np
import pytest

from qlight.errors import ParameterError
from qlight.qkd.link import (
    BobDetectors,
    Eve,
    LinkChannel,
    LinkConfig,
    LinkSource,
    estimate_key_rates,
    link_statistics,
    parse_eve,
    simulate_link,
)
from qlight.qkd.link.estimate import LinkStatistics
from qlight.qkd.link.eve import bob_photon_table, pns_strategy
from qlight.qkd.link.source import photon_number_table
from qlight.qkd.theory import SinglePhotonSource, decoy_key_rate, sps_key_rate
from qlight.qkd.theory.channel import DetectorModel, FibreChannel, gain_and_qber

GYS = DetectorModel(0.045, 1.7e-6, 0.033)


def _run(source: LinkSource, km: float, eve: Eve, n: int, seed: int) -> LinkStatistics:
    config = LinkConfig(source, LinkChannel.from_theory(FibreChannel(km)), BobDetectors(GYS), eve)
    return link_statistics(simulate_link(config, n, np.random.default_rng(seed)))


def _within(observed: float, expected: float, sigma: float, n_sigma: float = 4.0) -> None:
    assert abs(observed - expected) <= n_sigma * sigma, (observed, expected, sigma)


@pytest.mark.parametrize("fraction", [0.4, 1.0])
def test_intercept_resend_raises_the_qber_by_f_over_4(fraction: float) -> None:
    # Intercepted pulses reach Bob in Eve's random basis: error 1/4 on sifted rows, then
    # misalignment flips: E = e_d + F (1 − 2 e_d)/4 (dark counts add O(Y0/Q) ≈ 1e-4).
    # σ_E = √(E(1−E)/n_sifted); the gain is unchanged (σ_Q binomial).
    src = LinkSource("wcp", (0.5,))
    s = _run(src, 10.0, Eve("intercept-resend", fraction), 10_000_000, 4).signal
    q0, e0 = gain_and_qber(src.theory_source(), FibreChannel(10.0).transmittance(), GYS)
    expected = e0 + fraction * (1 - 2 * GYS.misalignment) / 4
    _within(s.qber, expected, math.sqrt(expected * (1 - expected) / s.sifted))
    _within(s.gain, q0, math.sqrt(q0 * (1 - q0) / s.sent))


def test_pns_strategy_keeps_the_expected_photon_click_rate() -> None:
    # Bob's photon-click probability on the signal class is the same with and without PNS.
    src = LinkSource("wcp", (0.48, 0.1, 0.0), (0.8, 0.1, 0.1))
    table = photon_number_table(src)
    for t in (0.5, 0.1, 0.01):
        none = bob_photon_table(table, t, 0.045, Eve())
        pns = bob_photon_table(table, t, 0.045, Eve("pns"))
        assert 1 - pns[0, 0].sum() == pytest.approx(1 - none[0, 0].sum(), rel=1e-9)
        np.testing.assert_allclose(pns.sum(axis=(1, 2)), 1.0, rtol=1e-12)
    s, r = pns_strategy(table[0], 0.01, 0.045)
    assert s == 0.0
    assert 0.0 < r < 1.0


def test_pns_breaks_wcp_without_decoys() -> None:
    # 50 km, μ = 0.48: Eve blocks all single photons and forwards multi-photon pulses; the
    # observed gain and QBER equal the no-attack theory within 4σ (binomial), so nothing
    # reveals her, yet she knows (almost) every sifted bit. The rate a system claims by
    # treating every detection as a single photon is positive and broken; GLLP, which
    # tags all multi-photon pulses, refuses (Δ ≫ 1) — it is safe, not fooled.
    src = LinkSource("wcp", (0.48,))
    stats = _run(src, 50.0, Eve("pns"), 40_000_000, 21)
    q0, e0 = gain_and_qber(src.theory_source(), FibreChannel(50.0).transmittance(), GYS)
    s = stats.signal
    _within(s.gain, q0, math.sqrt(q0 * (1 - q0) / s.sent))
    _within(s.qber, e0, math.sqrt(e0 * (1 - e0) / s.sifted))
    assert stats.eve_known_fraction > 0.99
    rates = estimate_key_rates(stats, kind="wcp", p_multi=src.p_multi, f_ec=1.22)
    assert rates["naive"].rate_per_pulse > 0
    assert rates["naive"].compromised
    assert rates["gllp"].rate_per_pulse == 0.0
    assert not rates["gllp"].compromised
    # without Eve the same naive claim is not compromised (Eve knows nothing)
    clean = _run(src, 50.0, Eve(), 40_000_000, 22)
    assert clean.eve_known_fraction == 0.0
    assert not estimate_key_rates(clean, kind="wcp", p_multi=src.p_multi)["naive"].compromised


def test_pns_gains_nothing_on_a_good_single_photon_source() -> None:
    # g2 = 0.01, μ = 0.5, 10 km: multi-photon pulses are 0.125 % of the pulses; Eve can keep
    # Bob's rate only by forwarding most single photons, learns just the multi-photon share
    # (below the fraction Δ that GLLP already tags), and the GLLP key rate stays positive,
    # unbroken and within 4σ of the no-attack one.
    src = LinkSource("sps", (0.5,), g2=0.01)
    attacked = _run(src, 10.0, Eve("pns"), 20_000_000, 31)
    clean = _run(src, 10.0, Eve(), 20_000_000, 32)
    ra = estimate_key_rates(attacked, kind="sps", p_multi=src.p_multi)["gllp"]
    rc = estimate_key_rates(clean, kind="sps", p_multi=src.p_multi)["gllp"]
    assert ra.rate_per_pulse > 0
    assert not ra.compromised
    assert attacked.eve_known_fraction + 4 * attacked.eve_known_err < ra.assumed_tagged
    # σ of the GLLP rate R = q_s[(Q − p)(1 − h(e1)) − f Q h(E)], e1 = E Q/(Q − p): the QBER
    # dominates, dR/dE = −q_s Q [h'(e1) + f h'(E)] with h'(x) = log2((1 − x)/x) and
    # σ_E = √(E(1 − E)/n_sifted); the gain adds |dR/dQ| σ_Q ≤ q_s σ_Q with σ_Q = √(Q/N).
    c = clean.signal
    e1 = rc.details["e1"]
    dr_de = 0.5 * c.gain * (math.log2((1 - e1) / e1) + 1.16 * math.log2((1 - c.qber) / c.qber))
    sigma_r = dr_de * math.sqrt(c.qber * (1 - c.qber) / c.sifted) + 0.5 * math.sqrt(c.gain / c.sent)
    # two independent runs: √2 σ
    assert abs(ra.rate_per_pulse - rc.rate_per_pulse) <= 4 * math.sqrt(2) * sigma_r
    # and the clean run agrees with the theory's GLLP rate (f = 1.16, q = 1/2)
    theory = sps_key_rate(SinglePhotonSource(0.5, 0.01), FibreChannel(10.0).transmittance(), GYS)
    assert abs(rc.rate_per_pulse - theory.rate_per_pulse) <= 4 * sigma_r


def test_decoy_states_detect_pns() -> None:
    # Vacuum + weak decoy (ν = 0.1): without Eve the estimated Y1 lower bound is close to the
    # true Y1 = 1 − (1 − Y0)(1 − η) (the bound is slightly low by construction) and the key
    # rate is positive; under PNS Eve cannot tell decoys from signals, the decoy gain drops,
    # the estimated Y1 collapses far below the no-attack value, and the key rate is zero.
    src = LinkSource("wcp", (0.48, 0.1, 0.0), (0.8, 0.1, 0.1))
    eta = FibreChannel(50.0).transmittance() * GYS.efficiency
    y1 = 1 - (1 - GYS.dark_yield) * (1 - eta)
    clean = _run(src, 50.0, Eve(), 40_000_000, 41)
    attacked = _run(src, 50.0, Eve("pns"), 40_000_000, 42)
    rc = estimate_key_rates(clean, kind="wcp", p_multi=src.p_multi)["decoy"]
    ra = estimate_key_rates(attacked, kind="wcp", p_multi=src.p_multi)["decoy"]
    # σ(Y1^L) is dominated by the weak-decoy gain: μ/(μν−ν²) e^ν σ_Qν
    w = clean.per_intensity[1]
    sigma_y1 = 0.48 / (0.48 * 0.1 - 0.01) * math.exp(0.1) * w.gain_err
    # the theory's vacuum+weak bound for this link (Ma et al. 2005), within 4σ
    theory = decoy_key_rate(
        0.48, FibreChannel(50.0).transmittance(), GYS, decoys="vacuum+weak", nu=(0.1,)
    )
    _within(rc.details["y1_lower"], theory.details["y1"], sigma_y1)
    assert theory.details["y1"] < y1
    assert rc.rate_per_pulse > 0
    assert not rc.compromised
    assert ra.details["y1_lower"] < y1 - 10 * sigma_y1
    assert ra.rate_per_pulse == 0.0
    # the signal alone still looks normal: Eve hides from everything but the decoys
    q0 = gain_and_qber(src.theory_source(), FibreChannel(50.0).transmittance(), GYS)[0]
    _within(attacked.signal.gain, q0, math.sqrt(q0 / attacked.signal.sent))


def test_parse_eve() -> None:
    assert parse_eve("none") == Eve()
    assert parse_eve("PNS").kind == "pns"
    assert parse_eve("intercept-resend:0.25") == Eve("intercept-resend", 0.25)
    assert parse_eve("intercept-resend").fraction == 1.0
    for bad in ("intercept-resend:2", "intercept-resend:x", "trojan"):
        with pytest.raises(ParameterError):
            parse_eve(bad)
