"""Certificate and HTML report: stable JSON keys, honest 'not determined', self-contained HTML."""

from __future__ import annotations

import base64
import json
import re

import numpy as np
import pytest
from tests.characterization_twin import (
    BACKGROUND_CPS,
    g2_raw_true,
    irf_sigma_ps,
    lifetime_truth_ns,
    simulate_cw,
    simulate_pulsed,
)

from qlight.characterization.certificate import (
    RESULT_KEYS,
    CertificateSettings,
    characterize_tags,
    count_rate_batch_means,
)
from qlight.characterization.report import render_html
from qlight.characterization.saturation import SaturationSeries
from qlight.characterization.uncertainty import Estimate, Undetermined
from qlight.errors import ParameterError

SETTINGS = CertificateSettings(
    irf_sigma_ps=irf_sigma_ps(), background_cps=BACKGROUND_CPS, g2_window_ps=150_000,
    g2_bin_ps=300, trace_bin_s=1e-3,
)  # fmt: skip


@pytest.fixture(scope="module")
def cw_cert() -> object:
    tags = simulate_cw(1e-3, 0.5, seed=21)
    series = SaturationSeries(
        np.array([0.2, 0.5, 1.0, 2.0, 4.0]) * 1e-3,
        np.array([30_000, 60_000, 90_000, 120_000, 140_000]),
        np.full(5, 0.1),
    )
    return characterize_tags(
        tags.t_ps[0], tags.t_ps[1], duration_ps=tags.duration_ps, settings=SETTINGS,
        saturation=series, provenance={"files": [{"path": "x", "sha256": "0" * 64}]},
    )  # fmt: skip


def test_json_has_every_stable_key_in_the_issue_format(cw_cert: object) -> None:
    out = cw_cert.as_json()  # type: ignore[attr-defined]
    text = json.dumps(out)  # plain JSON (no NaN objects or numpy types)
    assert "NaN" not in text
    res = out["results"]
    assert list(res) == list(RESULT_KEYS)
    for key in ("g2_0_raw", "g2_0_corrected", "count_rate_cps", "i_inf_cps", "p_sat_w"):
        r = res[key]
        assert isinstance(r["value"], float)
        assert len(r["ci95"]) == 2
        assert "unit" in r
        assert r["ci95"][0] <= r["value"] <= r["ci95"][1]
    # CW data: no lifetime, stated with the reason and a null value, never a number.
    assert res["lifetime_ns"]["value"] is None
    assert "no laser sync" in res["lifetime_ns"]["note"]
    assert res["count_rate_cps"]["unit"] == "1/s"
    assert out["provenance"]["software"].startswith("qlight ")
    assert out["uncertainty_budget"]


def test_cw_certificate_values(cw_cert: object) -> None:
    raw = cw_cert.results["g2_0_raw"]  # type: ignore[attr-defined]
    assert isinstance(raw, Estimate)
    assert raw.contains(g2_raw_true(1e-3))


def test_html_is_self_contained_and_has_the_figures(cw_cert: object) -> None:
    page = render_html(cw_cert)  # type: ignore[arg-type]
    assert page.startswith("<!DOCTYPE html>")
    # No external resource: every src is an inline data URI, no stylesheet or script links.
    srcs = re.findall(r'src="([^"]*)"', page)
    assert len(srcs) >= 4  # g2, trace, Allan deviation, saturation
    for s in srcs:
        assert s.startswith("data:image/png;base64,")
        assert base64.b64decode(s.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<link" not in page
    assert "<script" not in page
    for key in ("g2_0_raw", "lifetime_ns", "Uncertainty budget", "Provenance", "sha256"):
        assert key in page


def test_pulsed_certificate_has_lifetime_and_pulsed_g2() -> None:
    tags = simulate_pulsed(2e-3, 0.05, seed=3)
    period = tags.sync_period_ps
    assert period is not None
    sync = np.round(np.arange(0.0, tags.duration_ps, period)).astype(np.int64)
    cert = characterize_tags(tags.t_ps[0], tags.t_ps[1], duration_ps=tags.duration_ps,
                             settings=SETTINGS, sync_ps=sync, period_ps=period)  # fmt: skip
    life = cert.results["lifetime_ns"]
    assert isinstance(life, Estimate)
    assert life.contains(lifetime_truth_ns())
    g2p = cert.results["g2_0_pulsed"]
    assert isinstance(g2p, Estimate)
    assert g2p.ci95[1] < 0.3
    assert isinstance(cert.results["g2_0_raw"], Undetermined)
    assert 'src="data:image/png' in render_html(cert)


def test_tiny_record_reports_not_determined_with_the_count() -> None:
    tags = simulate_cw(1e-3, 2e-4, seed=4)  # ~500 tags per detector: a handful of pairs
    cert = characterize_tags(tags.t_ps[0], tags.t_ps[1], duration_ps=tags.duration_ps,
                             settings=SETTINGS)  # fmt: skip
    g = cert.as_json()["results"]["g2_0_raw"]  # type: ignore[index]
    assert g["value"] is None
    assert re.search(r"not determined: \d+ coincidences", g["note"])
    assert "not determined" in render_html(cert)


def test_count_rate_interval() -> None:
    # Poisson stream at 1e5/s for 1 s: the interval must contain the rate (sd 316/s).
    rng = np.random.default_rng(3)
    t = np.sort(rng.integers(0, 10**12, 100_000))
    r = count_rate_batch_means([t], 10**12)
    assert isinstance(r, Estimate)
    assert r.contains(1e5)
    assert isinstance(count_rate_batch_means([t[:0]], 10**12), Undetermined)


def test_bad_settings() -> None:
    with pytest.raises(ParameterError, match="g2_window_ps"):
        CertificateSettings(g2_window_ps=1000, g2_bin_ps=300)
    with pytest.raises(ParameterError, match="irf_sigma_ps"):
        CertificateSettings(irf_sigma_ps=-1.0)
