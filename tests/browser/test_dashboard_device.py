"""The dashboard of the real device: ``qlight run --pace fast`` on the twin, in Chromium."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from tests.browser._chromium import Watched
from tests.system._server import start_server, wait_for_state

pytestmark = [pytest.mark.browser, pytest.mark.slow]  # one boot of the twin (~15-30 s)


def test_live_dashboard_of_the_twin(watched_page: Watched, tmp_path: Path) -> None:
    with start_server(tmp_path / "data") as srv:
        st = wait_for_state(srv, {"EMITTING"}, timeout_s=180.0)
        base = srv.api.removesuffix("/api/v1")
        page = watched_page.page
        page.goto(base + "/")  # type: ignore[attr-defined]
        page.wait_for_function("() => window.qlightStats.mode === 'live'")  # type: ignore[attr-defined]
        page.wait_for_function(  # type: ignore[attr-defined]
            "() => document.getElementById('state-badge').textContent === 'EMITTING'"
        )
        assert page.inner_text("#emitter-id") == st["emitter_id"]  # type: ignore[attr-defined]
        first = page.inner_text("#rate-value")  # type: ignore[attr-defined]
        page.wait_for_function(  # type: ignore[attr-defined]
            "(v) => { const t = document.getElementById('rate-value').textContent;"
            " return t !== v && t !== '—'; }",
            arg=first,
            timeout=20_000,
        )
        page.wait_for_function(  # type: ignore[attr-defined]
            "() => +document.getElementById('g2-canvas').dataset.draws >= 2"
            " && document.getElementById('g2-ci').textContent.startsWith('95 % CI')",
            timeout=30_000,
        )
        n_emitters = page.locator("#emitters tbody tr").count()  # type: ignore[attr-defined]
        assert n_emitters == len(httpx.get(f"{srv.api}/emitters", timeout=10.0).json())
        assert page.locator("#events tbody tr").count() > 5  # type: ignore[attr-defined]
    assert watched_page.console_errors == []
    assert watched_page.page_errors == []
    assert watched_page.external_requests(base) == []
