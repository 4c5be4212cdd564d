"""The dashboard in headless Chromium, served by the real app (``create_app``) over a fake
device running in the background: live values update, the badge follows the device's state,
commands with the token reach the device, the page falls back to polling without the
WebSocket, and nothing goes wrong in the console or leaves the origin."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from tests.api_fakes import FakeDeviceService, serve_in_thread
from tests.browser._chromium import Watched

from qlight.api.app import create_app
from qlight.api.dashboard import STATIC_DIR
from qlight.device.service_types import DeviceState

pytestmark = pytest.mark.browser

TOKEN = "browser-test-token"


@pytest.fixture
def device() -> Iterator[FakeDeviceService]:
    dev = FakeDeviceService(seed=11, state=DeviceState.EMITTING, tick_s=0.1)
    dev.start()
    yield dev
    dev.stop()


@pytest.fixture
def base_url(device: FakeDeviceService) -> Iterator[str]:
    with serve_in_thread(create_app(device, api_token=TOKEN)) as url:
        yield url


def _stats(page: Any) -> dict[str, Any]:
    out: dict[str, Any] = page.evaluate("() => ({...window.qlightStats})")
    return out


def _ink(page: Any, canvas_id: str) -> int:
    """Number of non-transparent pixels of a canvas (0 for a blank one)."""
    n: int = page.evaluate(
        """(id) => { const c = document.getElementById(id);
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n; }""",
        canvas_id,
    )
    return n


def _wait_state(device: FakeDeviceService, state: DeviceState, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while device.status().state is not state:
        assert time.monotonic() < deadline, f"device never reached {state}"
        time.sleep(0.05)


def test_live_values_and_state(
    watched_page: Watched, base_url: str, device: FakeDeviceService
) -> None:
    page = watched_page.page
    page.goto(base_url + "/")  # type: ignore[attr-defined]
    page.wait_for_function("() => window.qlightStats && window.qlightStats.mode === 'live'")  # type: ignore[attr-defined]
    page.wait_for_function(
        "() => document.getElementById('state-badge').textContent === 'EMITTING'"
    )  # type: ignore[attr-defined]
    assert page.inner_text("#emitter-id") == "E0001"  # type: ignore[attr-defined]
    # count rate text changes (a new Poisson sample per tick of the fake)
    first = page.inner_text("#rate-value")  # type: ignore[attr-defined]
    page.wait_for_function(  # type: ignore[attr-defined]
        "(v) => { const t = document.getElementById('rate-value').textContent;"
        " return t !== v && t !== '—'; }",
        arg=first,
    )
    # the g2 histogram redraws, with g2(0) and its interval shown
    draws = int(page.get_attribute("#g2-canvas", "data-draws"))  # type: ignore[attr-defined]
    page.wait_for_function(  # type: ignore[attr-defined]
        "(n) => +document.getElementById('g2-canvas').dataset.draws >= n + 2", arg=draws
    )
    assert page.inner_text("#g2-ci").startswith("95 % CI [")  # type: ignore[attr-defined]
    assert 0.0 <= float(page.inner_text("#g2-value")) < 0.5  # type: ignore[attr-defined]
    for canvas in ("g2-canvas", "rate-canvas", "map-canvas"):
        assert _ink(page, canvas) > 2000, f"{canvas} looks blank"
    assert page.locator("#emitters tbody tr").count() == 4  # type: ignore[attr-defined]
    # updates at >= 2 Hz: the fake publishes every 0.1 s, the stream at <= 10 Hz; over 2 s
    # at least 4 distinct updates must be rendered (2 Hz × 2 s).
    s0 = _stats(page)
    time.sleep(2.0)
    s1 = _stats(page)
    assert s1["updates"] - s0["updates"] >= 4
    # the badge follows a state change of the device
    device.standby("maintenance window")
    page.wait_for_function("() => document.getElementById('state-badge').textContent === 'STANDBY'")  # type: ignore[attr-defined]
    assert page.inner_text("#state-reason") == "maintenance window"  # type: ignore[attr-defined]
    page.wait_for_function(  # type: ignore[attr-defined]
        "() => [...document.querySelectorAll('#events td')]"
        ".some(t => t.textContent === 'EMITTING → STANDBY')"
    )
    assert watched_page.console_errors == []
    assert watched_page.page_errors == []
    assert watched_page.external_requests(base_url) == []


def test_commands_with_token(
    watched_page: Watched, base_url: str, device: FakeDeviceService
) -> None:
    page = watched_page.page
    page.goto(base_url + "/")  # type: ignore[attr-defined]
    page.wait_for_function(
        "() => document.getElementById('state-badge').textContent === 'EMITTING'"
    )  # type: ignore[attr-defined]
    # first command: the page asks for the token; a wrong one is refused and asked again
    page.click("#btn-standby")  # type: ignore[attr-defined]
    page.fill("#token-input", "wrong")  # type: ignore[attr-defined]
    page.click("#token-ok")  # type: ignore[attr-defined]
    page.wait_for_selector("#token-dialog[open]")  # type: ignore[attr-defined]
    page.fill("#token-input", TOKEN)  # type: ignore[attr-defined]
    page.click("#token-ok")  # type: ignore[attr-defined]
    page.wait_for_function(
        "() => document.getElementById('cmd-result').textContent.includes('accepted')"
    )  # type: ignore[attr-defined]
    _wait_state(device, DeviceState.STANDBY)
    page.wait_for_function("() => document.getElementById('state-badge').textContent === 'STANDBY'")  # type: ignore[attr-defined]
    # later commands reuse the token kept in sessionStorage: no dialog
    page.click("#btn-resume")  # type: ignore[attr-defined]
    assert not page.is_visible("#token-dialog")  # type: ignore[attr-defined]
    _wait_state(device, DeviceState.EMITTING)
    page.wait_for_function(
        "() => document.getElementById('state-badge').textContent === 'EMITTING'"
    )  # type: ignore[attr-defined]
    # select an emitter from the list
    page.wait_for_selector("button[data-emitter='E0003']:not([disabled])")  # type: ignore[attr-defined]
    page.click("button[data-emitter='E0003']")  # type: ignore[attr-defined]
    page.wait_for_function("() => document.getElementById('emitter-id').textContent === 'E0003'")  # type: ignore[attr-defined]
    # a rejected command shows its reason (resume while EMITTING is not allowed)
    _wait_state(device, DeviceState.EMITTING)
    page.click("#btn-resume")  # type: ignore[attr-defined]
    page.wait_for_function(
        "() => document.getElementById('cmd-result').textContent.includes('nothing to resume')"
    )  # type: ignore[attr-defined]
    commands = [e.reason for e in device.events(limit=1000) if e.kind == "command"]
    assert commands == ["standby", "resume", "select_emitter"]
    assert page.evaluate("() => sessionStorage.getItem('qlight.apiToken')") == TOKEN  # type: ignore[attr-defined]
    # the only console errors are Chromium's notes of the 401 and 409 this test provoked
    assert [e.rsplit("status of ", 1)[-1] for e in watched_page.console_errors] == [
        "401 (Unauthorized)",
        "409 (Conflict)",
    ], watched_page.console_errors
    assert watched_page.page_errors == []
    assert watched_page.external_requests(base_url) == []


def test_polling_when_the_socket_drops(
    watched_page: Watched, base_url: str, device: FakeDeviceService
) -> None:
    page = watched_page.page
    # every WebSocket to the stream is closed by the "network" at once
    page.route_web_socket("**/api/v1/stream", lambda ws: ws.close())  # type: ignore[attr-defined]
    page.goto(base_url + "/")  # type: ignore[attr-defined]
    page.wait_for_function("() => window.qlightStats.mode === 'polling'")  # type: ignore[attr-defined]
    s0 = _stats(page)
    time.sleep(2.0)
    s1 = _stats(page)
    # POLL_MS = 400 → about 5 polls in 2 s; the fake changes every 0.1 s, so each poll is
    # a new update: ≥ 4 updates = 2 Hz.
    assert s1["updates"] - s0["updates"] >= 4
    assert s1["wsMessages"] == 0
    device.standby("socket test")
    page.wait_for_function("() => document.getElementById('state-badge').textContent === 'STANDBY'")  # type: ignore[attr-defined]
    assert watched_page.page_errors == []


def test_axis_ticks(watched_page: Watched) -> None:
    """plot.js ticks: 1-2-5 steps, inside the range, about the requested count."""
    page = watched_page.page
    page.set_content("<canvas></canvas>")  # type: ignore[attr-defined]
    page.add_script_tag(path=str(STATIC_DIR / "plot.js"))  # type: ignore[attr-defined]
    cases = [(146.1, 154.4, 4), (-30.0, 0.0, 3), (0.0, 1.4, 5), (1e-4, 1.7e-4, 5), (-50, 50, 6)]
    for lo, hi, n in cases:
        t = page.evaluate("([lo, hi, n]) => ticks(lo, hi, n)", [lo, hi, n])  # type: ignore[attr-defined]
        step, values = t["step"], t["values"]
        mantissa = step / 10 ** np.floor(np.log10(step))
        assert min(abs(mantissa - m) for m in (1, 2, 5, 10)) < 1e-9, t
        assert all(lo - 1e-12 <= v <= hi + 1e-12 for v in values), t
        assert all(abs(v / step - round(v / step)) < 1e-6 for v in values), t
        assert n / 2.5 <= (hi - lo) / step <= n * 2.5, t  # nearest 1-2-5 step to (hi-lo)/n
    assert watched_page.page_errors == []
