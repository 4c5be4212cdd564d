"""Certificate with spectrum, blinking and a measured IRF: JSON keys, notes, HTML figures."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from tests.characterization_twin import (
    BACKGROUND_CPS,
    PHOTOPHYSICS,
    irf_sigma_ps,
    lifetime_truth_ns,
    setup,
    simulate_cw,
    simulate_pulsed,
    sync_tags,
)

from qlight.characterization.blinking import BLINKING_KEYS
from qlight.characterization.certificate import (
    RESULT_KEYS,
    CertificateSettings,
    SpectrumData,
    characterize_tags,
)
from qlight.characterization.report import LABELS, render_html
from qlight.characterization.spectrum import spectrum_model
from qlight.errors import ParameterError
from qlight.physics.emitter import Blinking
from qlight.physics.hbt import Excitation, PhotonSource, simulate_hbt

SETTINGS = CertificateSettings(
    irf_sigma_ps=irf_sigma_ps(), background_cps=BACKGROUND_CPS, g2_window_ps=150_000,
    g2_bin_ps=300, trace_bin_s=1e-3,
)  # fmt: skip
NEW_KEYS = ("zpl_nm", "zpl_fwhm_nm", "debye_waller", *BLINKING_KEYS)


def _spectrum(seed: int) -> SpectrumData:
    lam = 600.0 + 0.2 * np.arange(400)
    mu = spectrum_model(lam, [2e5, 0.55, 640.0, 3.0, 92.0, 60.0, 2.0], resolution_nm=0.5)
    return SpectrumData(lam, np.random.default_rng(seed).poisson(mu).astype(np.float64), 0.5)


def test_new_keys_are_stable_and_labelled() -> None:
    assert set(NEW_KEYS) <= set(RESULT_KEYS)
    assert set(RESULT_KEYS) <= set(LABELS)
    assert len(set(RESULT_KEYS)) == len(RESULT_KEYS)


def test_blinking_cw_record_with_a_spectrum() -> None:
    ph = dataclasses.replace(PHOTOPHYSICS, blinking=Blinking(0.0, 25.0, 50.0))
    tags = simulate_hbt([PhotonSource(ph, 0.002)], Excitation(0.1e-3), setup(500.0), 2.0,
                        np.random.default_rng(8))  # fmt: skip
    cert = characterize_tags(tags.t_ps[0], tags.t_ps[1], duration_ps=tags.duration_ps,
                             settings=SETTINGS, spectrum=_spectrum(1))  # fmt: skip
    out = cert.as_json()
    res = out["results"]
    assert isinstance(res, dict)
    for k in NEW_KEYS:
        assert set(res[k]) >= {"value", "ci95", "unit"}
        assert res[k]["value"] is not None, (k, res[k])
    assert res["zpl_nm"]["ci95"][0] <= 640.0 <= res["zpl_nm"]["ci95"][1]
    assert res["debye_waller"]["ci95"][0] <= 0.55 <= res["debye_waller"]["ci95"][1]
    assert res["blinking_on_time_s"]["ci95"][0] <= 0.04 <= res["blinking_on_time_s"]["ci95"][1]
    blink = out["blinking"]
    assert isinstance(blink, dict)
    assert blink["blinking"] is True
    assert blink["on_law"]["preferred"] in ("exponential", "truncated power law")
    assert any("blinking on times" in n for n in cert.notes)
    assert any(b.result == "debye_waller" for b in cert.budget)
    page = render_html(cert)
    for caption in ("Spectrum: zero-phonon line", "Blinking: on/off segmentation",
                    "Blinking: dwell-time distributions"):  # fmt: skip
        assert caption in page
    assert "not measured (no spectrum given)" not in page


def test_steady_emitter_states_no_blinking_and_no_spectrum() -> None:
    tags = simulate_cw(1e-3, 0.3, seed=5)
    cert = characterize_tags(tags.t_ps[0], tags.t_ps[1], duration_ps=tags.duration_ps,
                             settings=SETTINGS)  # fmt: skip
    res = cert.as_json()["results"]
    assert isinstance(res, dict)
    assert res["blinking_on_time_s"]["value"] is None
    assert "no blinking" in res["blinking_on_time_s"]["note"]
    assert res["zpl_nm"]["note"] == "no spectrum given"
    assert any("no blinking" in n for n in cert.notes)
    page = render_html(cert)
    assert "not measured (no spectrum given)" in page
    assert "Blinking: on/off segmentation" not in page


def test_flat_spectrum_and_measured_irf_on_a_pulsed_record() -> None:
    tags = simulate_pulsed(2e-3, 0.05, seed=2)
    scatter = dataclasses.replace(PHOTOPHYSICS, k21_per_ns=200.0, k23_per_ns=0.0)
    exc = Excitation(2e-3, rep_rate_hz=20e6, pulse_width_ps=50.0)
    irf_tags = simulate_hbt([PhotonSource(scatter, 0.02)], exc, setup(0.0), 0.02,
                            np.random.default_rng(9))  # fmt: skip
    from qlight.timetags.lifetime import lifetime_histogram_t2

    merged = np.sort(np.concatenate(irf_tags.t_ps))
    irf = lifetime_histogram_t2(sync_tags(irf_tags), merged, bin_ps=50, range_ps=50_000)
    lam = 600.0 + 0.1 * np.arange(300)
    flat = SpectrumData(lam, np.random.default_rng(3).poisson(50.0, 300).astype(np.float64), 0.5)
    cert = characterize_tags(
        tags.t_ps[0], tags.t_ps[1], duration_ps=tags.duration_ps, settings=SETTINGS,
        sync_ps=sync_tags(tags), period_ps=tags.sync_period_ps, spectrum=flat,
        irf_counts=irf.counts.astype(np.float64),
    )  # fmt: skip
    res = cert.as_json()["results"]
    assert isinstance(res, dict)
    life = res["lifetime_ns"]
    assert life["ci95"][0] <= lifetime_truth_ns() <= life["ci95"][1]
    assert "measured IRF" in life["method"]
    assert "no emission line" in res["debye_waller"]["note"]
    assert "Spectrum: zero-phonon line" in render_html(cert)  # the data are still shown
    with pytest.raises(ParameterError):
        characterize_tags(
            tags.t_ps[0], tags.t_ps[1], duration_ps=tags.duration_ps, settings=SETTINGS,
            sync_ps=sync_tags(tags), period_ps=tags.sync_period_ps, irf_counts=np.ones(7),
        )  # fmt: skip
