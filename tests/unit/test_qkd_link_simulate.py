"""The BB84 link Monte Carlo: theory consistency, oracle agreement, determinism, validation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.naive import link_simulate_pulses

from qlight.errors import ParameterError
from qlight.qkd.link import (
    BobDetectors,
    Eve,
    LinkChannel,
    LinkConfig,
    LinkSource,
    link_statistics,
    simulate_link,
)
from qlight.qkd.link.eve import pns_strategy
from qlight.qkd.link.records import FLAG_AFTERPULSE, FLAG_DOUBLE
from qlight.qkd.link.source import photon_number_table
from qlight.qkd.theory.channel import DetectorModel, FibreChannel, gain_and_qber

GYS = DetectorModel(0.045, 1.7e-6, 0.033)


def _config(
    source: LinkSource,
    distance_km: float,
    model: DetectorModel = GYS,
    eve: Eve | None = None,
    **det: float,
) -> LinkConfig:
    channel = LinkChannel.from_theory(FibreChannel(distance_km))
    return LinkConfig(source, channel, BobDetectors(model, **det), eve or Eve())  # type: ignore[arg-type]


def _within(observed: float, expected: float, sigma: float, n_sigma: float = 4.0) -> None:
    assert abs(observed - expected) <= n_sigma * sigma, (observed, expected, sigma)


@pytest.mark.parametrize(
    ("source", "distance_km"),
    [
        (LinkSource("wcp", (0.48, 0.1, 0.0), (0.8, 0.1, 0.1)), 0.0),
        (LinkSource("wcp", (0.48, 0.1, 0.0), (0.8, 0.1, 0.1)), 40.0),
        (LinkSource("sps", (0.6,), (1.0,), g2=0.2), 10.0),
    ],
)
def test_gains_and_qber_match_the_theory(source: LinkSource, distance_km: float) -> None:
    # Q_k is a binomial proportion over N_k sent pulses: σ_Q = √(Q(1−Q)/N_k); E over the
    # n sifted rows: σ_E = √(E(1−E)/n) (theory values). The model differences (squashing of
    # double clicks vs the theory's e_n Y_n) are O(Y0 η) and O((ημ)²) ≪ σ. 4σ: a false alarm
    # 6e-5 per comparison.
    config = _config(source, distance_km)
    stats = link_statistics(simulate_link(config, 30_000_000, np.random.default_rng(11)))
    t = config.channel.transmittance
    for k, c in enumerate(stats.per_intensity):
        if c.mu == 0.0:
            _within(c.gain, GYS.dark_yield, math.sqrt(GYS.dark_yield / c.sent))
            continue
        q, e = gain_and_qber(source.theory_source(k), t, GYS)
        _within(c.gain, q, math.sqrt(q * (1 - q) / c.sent))
        _within(c.qber, e, math.sqrt(e * (1 - e) / c.sifted))
        for basis_n, basis_e in ((c.sifted_z, c.qber_z), (c.sifted_x, c.qber_x)):
            _within(basis_e, e, math.sqrt(e * (1 - e) / basis_n))
    sent = np.array([c.sent for c in stats.per_intensity])
    assert sent.sum() == 30_000_000
    pi = np.asarray(source.probabilities)
    # multinomial counts: σ_k = √(N π_k (1 − π_k))
    assert np.all(np.abs(sent - 30_000_000 * pi) <= 4 * np.sqrt(30_000_000 * pi * (1 - pi)))


def test_dead_time_matches_the_theory() -> None:
    # Shared dead time of d pulses after each click: the registered process is a renewal
    # process with mean cycle d + 1/Q, so R = Q/(1 + dQ), the theory's p_ap = 0 case exactly.
    model = DetectorModel(0.6, 1e-5, 0.01, 0.0, 20.0)
    source = LinkSource("wcp", (0.5,))
    config = _config(source, 5.0, model)
    stats = link_statistics(simulate_link(config, 5_000_000, np.random.default_rng(2)))
    q, e = gain_and_qber(source.theory_source(), config.channel.transmittance, model)
    c = stats.signal
    # the renewal count's variance is below the binomial one, so √(Q(1−Q)/N) is conservative
    _within(c.gain, q, math.sqrt(q * (1 - q) / c.sent))
    _within(c.qber, e, math.sqrt(e * (1 - e) / c.sifted))
    assert q < gain_and_qber(source.theory_source(), config.channel.transmittance, GYS)[0] * 20


def test_afterpulsing_adds_p_ap_over_1_minus_p_ap_clicks() -> None:
    # d = 0, afterpulse one pulse after the click (mean extra delay 0): R = Q/(1 − p_ap) in the
    # theory; the simulation loses an afterpulse only when it coincides with a photon click
    # of the same detector (relative O(Q/2) = 0.2 % of the afterpulse part, ≪ σ here).
    model = DetectorModel(0.045, 1.7e-6, 0.033, 0.05, 0.0)
    source = LinkSource("wcp", (0.48,))
    config = _config(source, 0.0, model)
    rec = simulate_link(config, 4_000_000, np.random.default_rng(5))
    stats = link_statistics(rec)
    q, e = gain_and_qber(source.theory_source(), config.channel.transmittance, model)
    _within(stats.signal.gain, q, math.sqrt(q * (1 - q) / stats.signal.sent))
    _within(stats.signal.qber, e, math.sqrt(e * (1 - e) / stats.signal.sifted))
    # fraction of registrations that are afterpulses: p_ap (binomial over registrations)
    n = len(rec)
    _within(stats.afterpulse_fraction, 0.05, math.sqrt(0.05 * 0.95 / n))


def test_time_bin_x_basis_error_from_the_visibility() -> None:
    # e_X = e_d (1 − v) + v (1 − e_d), v = (1 − V)/2; Z unchanged.
    source = LinkSource("wcp", (0.5,))
    channel = LinkChannel(0.5, encoding="time-bin", visibility=0.9)
    config = LinkConfig(source, channel, BobDetectors(DetectorModel(0.5, 1e-6, 0.02)))
    c = link_statistics(simulate_link(config, 2_000_000, np.random.default_rng(3))).signal
    e_x = 0.02 * 0.95 + 0.05 * 0.98
    _within(c.qber_x, e_x, math.sqrt(e_x * (1 - e_x) / c.sifted_x))
    _within(c.qber_z, 0.02, math.sqrt(0.02 * 0.98 / c.sifted_z))
    assert c.qber_x - c.qber_z > 10 * math.sqrt(e_x / c.sifted_x)


def _oracle_stats(rows: list[tuple[int, ...]], sent: list[int]) -> dict[str, float]:
    arr = np.array(rows, dtype=np.int64)
    sifted = arr[:, 1] == arr[:, 4]
    return {
        "rate": len(rows) / sum(sent),
        "double": float(np.mean(arr[:, 6] & FLAG_DOUBLE > 0)),
        "afterpulse": float(np.mean(arr[:, 6] & FLAG_AFTERPULSE > 0)),
        "qber": float(np.mean(arr[sifted, 2] != arr[sifted, 5])),
        "eve": float(np.mean(arr[sifted, 6] & 4 > 0)),
    }


@pytest.mark.parametrize(
    ("eve", "shared"), [(Eve("intercept-resend", 0.3), False), (Eve("pns"), True)]
)
def test_kernel_agrees_with_the_pulse_by_pulse_oracle(eve: Eve, shared: bool) -> None:
    # Bright, lossy-but-not-empty link with dead time, afterpulsing (long delays, so that
    # later clicks often release a pending afterpulse) and double clicks, so every branch is
    # exercised on 400k pulses. Both are samples of the same law: compare
    # each proportion within 4 combined binomial standard errors √(p(1−p)(1/n1 + 1/n2)).
    model = DetectorModel(0.5, 0.002, 0.1, 0.2, 3.0)
    source = LinkSource("wcp", (0.9, 0.2), (0.7, 0.3))
    channel = LinkChannel(0.6)
    det = BobDetectors(model, afterpulse_delay_pulses=20.0, shared_dead_time=shared)
    config = LinkConfig(source, channel, det, eve, basis_prob_z=0.7)
    n = 400_000
    rec = simulate_link(config, n, np.random.default_rng(8))
    s, r = pns_strategy(photon_number_table(source)[0], 0.6, 0.5)
    rows, sent = link_simulate_pulses(
        photon_number_table(source), list(source.probabilities), 0.6, 0.5,
        det.dark_prob(), 0.1, 0.1, 0.7, 3, shared, 0.2, 20.0, eve.kind, eve.fraction,
        s, r, n, np.random.default_rng(9),
    )  # fmt: skip
    o = _oracle_stats(rows, sent)
    sifted = rec.sifted
    k = {
        "rate": len(rec) / n,
        "double": float(np.mean(rec.flags & FLAG_DOUBLE > 0)),
        "afterpulse": float(np.mean(rec.flags & FLAG_AFTERPULSE > 0)),
        "qber": float(np.mean(rec.errors[sifted])),
        "eve": float(np.mean(rec.eve_knows[sifted])),
    }
    sizes = {
        "rate": (n, n),
        "double": (len(rec), len(rows)),
        "afterpulse": (len(rec), len(rows)),
        "qber": (int(sifted.sum()), int(sum(1 for x in rows if x[1] == x[4]))),
        "eve": (int(sifted.sum()), int(sum(1 for x in rows if x[1] == x[4]))),
    }
    for name, (n1, n2) in sizes.items():
        p = (k[name] + o[name]) / 2
        _within(k[name], o[name], math.sqrt(p * (1 - p) * (1 / n1 + 1 / n2)) + 1e-12)
    assert o["double"] > 0.01
    assert o["afterpulse"] > 0.01


@settings(max_examples=10, deadline=None)
@given(block=st.integers(1, 5000), seed=st.integers(0, 2**32 - 1))
def test_same_seed_same_record_whatever_the_block_size(block: int, seed: int) -> None:
    # The kernel stops before drawing anything at a block end, so blocks change nothing.
    model = DetectorModel(0.3, 0.01, 0.03, 0.05, 2.0)
    config = _config(LinkSource("wcp", (0.5, 0.1), (0.5, 0.5)), 1.0, model)
    a = simulate_link(config, 20_000, np.random.default_rng(seed))
    b = simulate_link(config, 20_000, np.random.default_rng(seed), block_pulses=block)
    for name in ("pulse_index", "alice_bit", "bob_bit", "flags", "sent_per_intensity"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert np.all(np.diff(a.pulse_index) > 0)


def test_bad_input_is_rejected() -> None:
    src = LinkSource("wcp", (0.5,))
    config = _config(src, 1.0)
    with pytest.raises(ParameterError, match="n_pulses"):
        simulate_link(config, 0, np.random.default_rng(0))
    with pytest.raises(ParameterError, match="rng"):
        simulate_link(config, 10, 3)  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="mu"):
        LinkSource("wcp", (0.0,))
    with pytest.raises(ParameterError, match="g2"):
        LinkSource("sps", (0.5,), g2=-0.1)
    with pytest.raises(ParameterError, match="probabilities"):
        LinkSource("wcp", (0.5, 0.1), (0.5, 0.4))
    with pytest.raises(ParameterError, match="visibility"):
        LinkChannel(0.5, visibility=0.9)
    with pytest.raises(ParameterError, match="efficiency"):
        DetectorModel(1.5, 0.0, 0.0)
    with pytest.raises(ParameterError, match="basis_prob_z"):
        LinkConfig(src, LinkChannel(0.5), BobDetectors(GYS), basis_prob_z=1.0)
