"""Qualification: g2(0) rejects clusters, background correction, ZPL fit, neighbour geometry."""

from __future__ import annotations

import math

import numpy as np
import pytest

from qlight.device.config import TwinConfig
from qlight.device.factory import build_twin
from qlight.errors import ParameterError
from qlight.instruments.protocols import Spectrum
from qlight.mapping.qualify import (
    background_corrected_g2,
    fit_zpl_nm,
    g2_duration_s,
    neighbour_geometry,
    qualify_here,
    quality_score,
)


def test_clusters_rejected_singles_accepted_on_the_twin() -> None:
    chip = {"size_x_m": 50e-6, "size_y_m": 50e-6, "cluster_probability": 0.4,
            "bleachable_fraction": 0.0, "spot_density_per_m2": 0.0}  # fmt: skip
    ins, truth = build_twin(TwinConfig(seed=3, chip=chip))
    ins.laser.set_power(1e-3)
    ins.laser.on()
    seen: set[int] = set()
    n_cluster = n_single = n_single_ok = 0
    for e0 in truth.emitters():
        if abs(e0.x_chip_m) > 20e-6 or abs(e0.y_chip_m) > 20e-6 or e0.cluster in seen:
            continue
        if e0.cluster >= 0:
            seen.add(e0.cluster)
        e = truth.emitters()[e0.index]  # stage position now (drift)
        members = truth.cluster_members(e.index)
        ins.stage.move_to(e.x_stage_m, e.y_stage_m, e.z_stage_m)
        _sig, bg, _ = truth.expected_rates_at(e.x_stage_m, e.y_stage_m, e.z_stage_m)
        q = qualify_here(
            ins.tagger, ins.spectrometer, background_rate_per_s=bg, max_g2_duration_s=20.0
        )
        if len(members) > 1:
            n_cluster += 1
            assert not q.single, f"cluster {members} accepted: {q.fingerprint}"
            assert "multi-emitter" in q.reason
            assert q.score == 0.0
        else:
            n_single += 1
            n_single_ok += q.single
            # the ZPL of an isolated emitter: within 0.1 nm (spectrometer 0.5 nm FWHM)
            assert abs(q.fingerprint.zpl_nm - e.zpl_nm) < 0.1
        if n_cluster + n_single >= 14:
            break
    assert n_cluster >= 3
    assert n_single >= 6
    # with 15 expected coincidences a single with g2(0) ≈ 0.1 passes g2 + 2σ < 0.5 with
    # probability ≳ 0.9; a seed-fixed run must accept the large majority
    assert n_single_ok >= 0.7 * n_single


def test_background_correction_and_score() -> None:
    # Brouri 2000: g2_raw = 1 − ρ² + ρ² g2_true
    rho = 0.8
    g_true = 0.1
    raw = 1 - rho**2 + rho**2 * g_true
    g, err = background_corrected_g2(raw, 0.05, 1e5, (1 - rho) * 1e5)
    assert g == pytest.approx(g_true, rel=1e-12)
    assert err == pytest.approx(0.05 / rho**2)
    assert background_corrected_g2(0.3, 0.1, 1e5, 0.0) == (0.3, 0.1)
    assert quality_score(0.2, 0.1, 1e5) == (True, pytest.approx(0.4), "")
    single, score, why = quality_score(0.45, 0.05, 1e6)
    assert not single
    assert score == 0.0
    assert "multi" in why
    assert not quality_score(math.nan, math.nan, 0.0)[0]


def test_g2_duration_targets_the_expected_coincidences() -> None:
    d = g2_duration_s(5e4, 5e4, half_width_ps=200, target_expected=15.0, max_s=1e9)
    assert 5e4 * 5e4 * 400e-12 * d == pytest.approx(15.0)
    assert g2_duration_s(0.0, 1e5, half_width_ps=200) == 0.5
    assert g2_duration_s(10.0, 10.0, half_width_ps=200) == 30.0


def test_zpl_fit_on_a_synthetic_spectrum() -> None:
    rng = np.random.default_rng(4)
    wl = np.linspace(600.0, 700.0, 1024)
    mu = 20.0 + 500.0 * np.exp(-0.5 * ((wl - 651.234) / 0.25) ** 2)
    spec = Spectrum(wl, rng.poisson(mu).astype(np.int64), 1.0)
    # centroid precision ≈ w/√(photons) ≈ 0.25/√(500·0.25/0.098·2.5) ≈ 5e-3 nm: 0.03 bound
    assert fit_zpl_nm(spec) == pytest.approx(651.234, abs=0.03)
    flat = Spectrum(wl, rng.poisson(np.full(1024, 20.0)).astype(np.int64), 1.0)
    assert math.isnan(fit_zpl_nm(flat))


def test_neighbour_geometry_is_rigid_motion_invariant() -> None:
    pts = np.array([[0.0, 0.0], [3e-6, 0.0], [0.0, 4e-6], [10e-6, 10e-6]])
    d, ang = neighbour_geometry(0.0, 0.0, pts[:, 0], pts[:, 1], k=2)
    assert d == pytest.approx((3e-6, 4e-6))
    assert ang == pytest.approx(math.pi / 2)
    th = 0.3
    rot = pts @ np.array([[math.cos(th), math.sin(th)], [-math.sin(th), math.cos(th)]]) + 7e-6
    d2, ang2 = neighbour_geometry(rot[0, 0], rot[0, 1], rot[:, 0], rot[:, 1], k=2)
    assert d2 == pytest.approx(d)
    assert ang2 == pytest.approx(ang)


def test_g2_needs_two_channels() -> None:
    class OneChannel:
        n_channels = 1

    from qlight.mapping.qualify import quick_g2

    with pytest.raises(ParameterError, match="tagger"):
        quick_g2(OneChannel(), 1.0)  # type: ignore[arg-type]
