"""The characterization certificate (``qlight characterize --report``) rendered in Chromium:
every figure decodes, the results table shows values with their 95 % intervals, and the page
makes no request beyond itself and logs no error."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from tests.browser._chromium import Watched
from tests.characterization_twin import simulate_cw
from tests.system._cli import json_run

from qlight.timetags.photon_hdf5 import write_photon_hdf5

pytestmark = pytest.mark.browser

_NUMBER = r"[-+]?\d[\d.]*(?:e[-+]?\d+)?"


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A full certificate from twin data: a 0.3 s CW record at 1 mW, three short records at
    other powers (saturation) and an analyser series (polarization), as in the CLI test."""
    d = tmp_path_factory.mktemp("report")
    for i, (p_mw, dur_s) in enumerate(((1.0, 0.3), (0.3, 0.05), (3.0, 0.05), (0.6, 0.05))):
        tags = simulate_cw(p_mw * 1e-3, dur_s, seed=21 + i)
        write_photon_hdf5(d / f"cw{i}.h5", tags.t_ps, duration_ps=tags.duration_ps)
    angles = np.arange(0, 180, 15)
    counts = np.random.default_rng(4).poisson(2000.0 * (1 + 0.8 * np.cos(np.radians(2 * angles))))
    rows = "".join(f"{a},{n},0.1\n" for a, n in zip(angles, counts, strict=True))
    (d / "pol.csv").write_text("angle_deg,counts,duration_s\n" + rows)
    out = json_run(["characterize", "cw0.h5", "cw1.h5", "cw2.h5", "cw3.h5",
                    "--report", "cert.html", "--irf-sigma-ps", "210",
                    "--background-cps", "2000", "--powers-mw", "1,0.3,3,0.6",
                    "--polarization-csv", "pol.csv"], d, timeout_s=240)  # fmt: skip
    assert out["results"]["g2_0_raw"]["value"] is not None
    return d / "cert.html"


def test_certificate_renders(watched_page: Watched, report: Path) -> None:
    page = watched_page.page
    blocked: list[str] = []

    def guard(route: object) -> None:  # anything but the file itself and inline data is refused
        url: str = route.request.url  # type: ignore[attr-defined]
        if url.startswith(("data:", report.as_uri())):
            route.continue_()  # type: ignore[attr-defined]
        else:
            blocked.append(url)
            route.abort()  # type: ignore[attr-defined]

    page.route("**/*", guard)  # type: ignore[attr-defined]
    page.goto(report.as_uri())  # type: ignore[attr-defined]
    page.wait_for_load_state("load")  # type: ignore[attr-defined]
    images = page.evaluate(  # type: ignore[attr-defined]
        """() => [...document.images].map(i => ({alt: i.alt, ok: i.complete,
            w: i.naturalWidth, h: i.naturalHeight, shown: i.getBoundingClientRect().width}))"""
    )
    captions = {i["alt"] for i in images}
    assert {"Saturation", "Polarization"} <= captions, captions
    assert len(images) >= 5
    for img in images:
        assert img["ok"], img
        assert min(img["w"], img["h"]) > 100, img  # decoded, not a stub
        assert img["shown"] > 100, img  # and laid out visibly
    # results table: value and 95 % interval per quantity, or a stated reason
    rows = page.evaluate(  # type: ignore[attr-defined]
        """() => Object.fromEntries([...document.querySelector('table').rows]
            .filter(r => r.querySelector('code'))
            .map(r => [r.querySelector('code').textContent,
                       [...r.cells].map(c => c.textContent)]))"""
    )
    for key in ("g2_0_raw", "g2_0_corrected", "count_rate_cps", "i_inf_cps", "p_sat_w"):
        cells = rows[key]
        value = float(cells[2])
        m = re.fullmatch(rf"\[({_NUMBER}), ({_NUMBER})\]", cells[3], re.IGNORECASE)
        assert m is not None, cells
        lo, hi = float(m.group(1)), float(m.group(2))
        assert lo <= value <= hi, cells
        assert lo < hi, cells
    assert rows["lifetime_ns"][2] == "not determined"  # CW data: stated, never invented
    assert rows["lifetime_ns"][4].strip() != ""  # with a reason
    assert blocked == []
    assert watched_page.external_requests(None) == [report.as_uri()]
    assert watched_page.console_errors == []
    assert watched_page.page_errors == []
