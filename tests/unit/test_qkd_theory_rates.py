"""Asymptotic key rates: GYS validation, PLOB, GLLP, decoy bounds, zero-rate reasons."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qlight.errors import ParameterError
from qlight.qkd.theory import (
    GYS,
    MODERN,
    DetectorModel,
    KeyRateResult,
    Protocol,
    SinglePhotonSource,
    WeakCoherentSource,
    binary_entropy,
    decoy_key_rate,
    gain_and_qber,
    get_preset,
    gllp_rate,
    key_rate,
    max_distance_km,
    optimize_scalar,
    plob_bound,
    protocol_max_distance_km,
    sps_key_rate,
    transmittance_at_km,
    wcp_key_rate,
)

DET = GYS.detector


def test_gys_reproduces_the_published_infinite_decoy_values() -> None:
    # Ma, Qi, Zhao, Lo PRA 72, 012326 (2005) with the GYS set: mu_opt ~ 0.48,
    # R(0) = 2.555e-3 per pulse (q = 1/2) and 142.05 km; required: 0.1 % and 0.5 km.
    op = key_rate(Protocol("wcp-decoy"), 1.0, GYS)
    assert op.mu == pytest.approx(0.48, abs=0.01)
    assert op.result.rate_per_pulse == pytest.approx(2.555e-3, rel=1e-3)
    assert protocol_max_distance_km(Protocol("wcp-decoy"), GYS) == pytest.approx(142.05, abs=0.5)
    # with mu fixed at the published optimum the cut-off is 142.01 km
    assert protocol_max_distance_km(Protocol("wcp-decoy", mu=0.48), GYS) == pytest.approx(
        142.05, abs=0.1
    )


def test_plob_bound() -> None:
    assert plob_bound(0.5) == pytest.approx(1.0)
    assert plob_bound(0.0) == 0.0
    assert math.isinf(plob_bound(1.0))
    eta = np.array([1e-6, 1e-3, 0.9])
    # log2(1 - eta) itself loses ~1e-16/eta to cancellation: rtol 1e-9 covers eta = 1e-6
    np.testing.assert_allclose(plob_bound(eta), -np.log2(1 - eta), rtol=1e-9)
    assert plob_bound(1e-9) == pytest.approx(1e-9 / math.log(2), rel=1e-6)
    for bad in (-0.1, 1.1, math.nan):
        with pytest.raises(ParameterError):
            plob_bound(bad)


_RATES = {
    "sps": lambda mu, t, det: sps_key_rate(SinglePhotonSource(mu, 0.05), t, det),
    "wcp": lambda mu, t, det: wcp_key_rate(mu, t, det),
    "infinite": lambda mu, t, det: decoy_key_rate(mu, t, det),
    "vacuum+weak": lambda mu, t, det: decoy_key_rate(
        mu, t, det, decoys="vacuum+weak", nu=(0.4 * mu,)
    ),
    "two": lambda mu, t, det: decoy_key_rate(mu, t, det, decoys="two", nu=(0.4 * mu, 0.05 * mu)),
}


@settings(max_examples=60, deadline=None)
@given(
    kind=st.sampled_from(sorted(_RATES)),
    mu=st.floats(0.01, 1.0),
    t1=st.floats(1e-9, 1.0),
    t2=st.floats(1e-9, 1.0),
    eff=st.floats(0.01, 1.0),
    y0=st.floats(0.0, 1e-4),
    ed=st.floats(0.0, 0.1),
)
def test_rates_decrease_with_loss_and_stay_below_plob(
    kind: str, mu: float, t1: float, t2: float, eff: float, y0: float, ed: float
) -> None:
    det = DetectorModel(eff, y0, ed)
    lo, hi = sorted((t1, t2))
    r_lo = _RATES[kind](mu, lo, det).rate_per_pulse
    r_hi = _RATES[kind](mu, hi, det).rate_per_pulse
    assert 0.0 <= r_lo <= r_hi * (1 + 1e-12) + 1e-300
    assert r_hi <= plob_bound(hi * eff)
    assert r_lo <= plob_bound(lo * eff)


@settings(max_examples=40, deadline=None)
@given(mu=st.floats(0.05, 1.0), t=st.floats(1e-7, 1.0), frac=st.floats(0.02, 0.45))
def test_finite_decoys_lie_below_infinite_decoys(mu: float, t: float, frac: float) -> None:
    inf = decoy_key_rate(mu, t, DET)
    vw = decoy_key_rate(mu, t, DET, decoys="vacuum+weak", nu=(frac * mu,))
    two = decoy_key_rate(mu, t, DET, decoys="two", nu=(frac * mu, 0.3 * frac * mu))
    for r in (vw, two):
        assert r.rate_per_pulse <= inf.rate_per_pulse * (1 + 1e-9)
        if r.details.get("y1", 0.0) > 0:  # the estimates bound the true values
            assert r.details["y1"] <= inf.details["y1"] * (1 + 1e-9)
            assert r.details["e1"] >= inf.details["e1"] * (1 - 1e-9)


@pytest.mark.parametrize("km", [0.0, 50.0, 100.0])
def test_weak_decoys_approach_infinite_decoys_as_nu_goes_to_zero(km: float) -> None:
    t = transmittance_at_km(km, GYS)
    inf = decoy_key_rate(0.48, t, DET, f_ec=1.22).rate_per_pulse
    gaps = []
    for nu in (0.2, 0.05, 0.01, 1e-3):
        vw = decoy_key_rate(0.48, t, DET, decoys="vacuum+weak", nu=(nu,), f_ec=1.22)
        two = decoy_key_rate(0.48, t, DET, decoys="two", nu=(nu, nu / 10), f_ec=1.22)
        gaps.append(inf - vw.rate_per_pulse)
        assert two.rate_per_pulse <= inf
    assert all(g2 < g1 for g1, g2 in itertools.pairwise(gaps))
    # MQZL Eq. (35): the error of Y1^L is O(nu), so the rate gap shrinks like nu
    assert gaps[-1] < 0.01 * inf
    assert gaps[-1] / gaps[-2] == pytest.approx(0.1, rel=0.2)


def test_two_decoys_with_vacuum_second_decoy_is_vacuum_plus_weak() -> None:
    t = 1e-3
    a = decoy_key_rate(0.5, t, DET, decoys="two", nu=(0.1, 0.0))
    b = decoy_key_rate(0.5, t, DET, decoys="vacuum+weak", nu=(0.1,))
    assert a.rate_per_pulse == pytest.approx(b.rate_per_pulse, rel=1e-12)


@pytest.mark.parametrize(
    ("decoys", "nu"),
    [
        ("vacuum+weak", (0.6,)),
        ("two", (0.3, 0.3)),
        ("two", (0.4, 0.2)),
        ("two", (0.1,)),
        ("vacuum+weak", (0.1, 0.0)),
        ("three", (0.1,)),
    ],
)
def test_impossible_decoy_intensities_are_refused(decoys: str, nu: tuple[float, ...]) -> None:
    with pytest.raises(ParameterError):
        decoy_key_rate(0.5, 0.1, DET, decoys=decoys, nu=nu)  # type: ignore[arg-type]


def test_gllp_with_perfect_source_is_the_bb84_formula() -> None:
    # g2 = 0: no tagged pulses, R = q Q [1 - h(E) - f h(E)] (Shor-Preskill with EC)
    q, e = gain_and_qber(SinglePhotonSource(0.3, 0.0), 1e-2, DET)
    r = sps_key_rate(SinglePhotonSource(0.3, 0.0), 1e-2, DET, f_ec=1.22)
    assert r.rate_per_pulse == pytest.approx(0.5 * q * (1 - 2.22 * binary_entropy(e)), rel=1e-12)
    # by hand: Q = 1, E = 2 %, p_multi = 0.1: Delta = 0.1, e1 = 0.02/0.9
    g = gllp_rate(1.0, 0.02, 0.1, f_ec=1.0, q=1.0)
    want = 0.9 * (1 - binary_entropy(0.02 / 0.9)) - binary_entropy(0.02)
    assert g.rate_per_pulse == pytest.approx(want, rel=1e-12)


def test_a_good_sps_beats_wcp_without_decoys_at_long_distance() -> None:
    t = transmittance_at_km(60.0, GYS)
    sps = key_rate(Protocol("sps", g2=0.01), t, GYS).result
    wcp = key_rate(Protocol("wcp"), t, GYS).result
    assert sps.rate_per_pulse > 0
    assert wcp.rate_per_pulse == 0.0
    assert wcp.reason is not None


def test_qber_above_eleven_percent_gives_zero_with_the_reason() -> None:
    det = DetectorModel(0.5, 1e-6, 0.12)
    for r in (
        sps_key_rate(SinglePhotonSource(0.5, 0.0), 0.5, det),
        decoy_key_rate(0.5, 0.5, det),
        wcp_key_rate(0.5, 0.5, det),
    ):
        assert r.rate_per_pulse == 0.0
        assert r.qber >= 0.11
        assert r.reason is not None
        assert "QBER" in r.reason
        assert r.unclipped_rate < 0


def test_multi_photon_limit_is_reported() -> None:
    r = sps_key_rate(SinglePhotonSource(0.5, 0.5), 1e-2, DET)
    assert r.rate_per_pulse == 0.0
    assert r.reason is not None
    assert "multi-photon" in r.reason


def test_optimizer_and_max_distance_solver() -> None:
    best, _ = optimize_scalar(_parabola, 0.01, 10.0)
    assert best == pytest.approx(2.0, rel=1e-6)
    assert max_distance_km(lambda km: 100.0 - km, tol_km=1e-6) == pytest.approx(100.0, abs=1e-5)
    assert max_distance_km(lambda km: -1.0) == 0.0
    assert max_distance_km(lambda km: 1.0, upper_km=50.0) == 50.0
    with pytest.raises(ParameterError):
        optimize_scalar(_parabola, 2.0, 1.0)


def _parabola(x: float) -> KeyRateResult:
    return KeyRateResult(0.0, None, 0.0, 0.0, {"unclipped_rate": -((x - 2.0) ** 2)})


def test_presets() -> None:
    assert get_preset("gys") is GYS
    assert get_preset("modern") is MODERN
    assert (GYS.loss_db_per_km, GYS.f_ec, GYS.q) == (0.21, 1.22, 0.5)
    assert (DET.efficiency, DET.dark_yield, DET.misalignment) == (0.045, 1.7e-6, 0.033)
    with pytest.raises(ParameterError):
        get_preset("future")
    # the modern receiver reaches further than GYS
    assert protocol_max_distance_km(Protocol("wcp-decoy"), MODERN) > 200.0


@pytest.mark.parametrize(
    "make",
    [
        lambda: Protocol("laser"),
        lambda: Protocol("sps", g2=-0.1),
        lambda: Protocol("sps", mu=0.0, g2=0.1),
        lambda: Protocol("wcp", mu=-1.0),
        lambda: Protocol("wcp-decoy", decoys="many"),  # type: ignore[arg-type]
        lambda: Protocol("wcp-decoy", n_pulses=0.0),
        lambda: gllp_rate(0.1, 0.01, 0.0, f_ec=0.9),
    ],
)
def test_bad_protocols(make: object) -> None:
    with pytest.raises(ParameterError):
        make()  # type: ignore[operator]


def test_wcp_source_helper() -> None:
    assert WeakCoherentSource(0.5).mu == 0.5
