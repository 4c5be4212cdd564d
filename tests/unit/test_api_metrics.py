"""Prometheus ``/metrics`` of the app: parses with prometheus_client's own parser."""

from __future__ import annotations

import math

import httpx
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample
from tests.api_fakes import FakeDeviceService, serve_in_thread

from qlight.api.app import create_app
from qlight.device.service_types import DeviceState

TOKEN = "metrics-token-" + "y" * 20


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            assert isinstance(s, Sample)
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_metrics_report_the_device_and_http_traffic() -> None:
    svc = FakeDeviceService(seed=1, state=DeviceState.EMITTING)
    svc.step()
    app = create_app(svc, api_token=TOKEN, dashboard=False)
    with serve_in_thread(app) as url, httpx.Client(base_url=url, timeout=10.0) as c:
        for _ in range(3):
            assert c.get("/api/v1/device").status_code == 200
        assert c.get("/api/v1/emitters/E0002").status_code == 200
        assert c.get("/api/v1/emitters/XX").status_code == 404
        assert c.post("/api/v1/device/standby").status_code == 401
        assert c.get("/no/such/path").status_code == 404
        r = c.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    m = _samples(r.text)
    st = svc.status()
    for state in DeviceState:
        assert m[("qlight_device_state", (("state", state.value),))] == (state is st.state)
    assert m[("qlight_count_rate_cps", ())] == st.count_rate_cps
    assert m[("qlight_g2_zero", ())] == st.g2_0
    assert m[("qlight_power_on_to_emitting_seconds", ())] == 0.0
    assert m[("qlight_uptime_seconds", ())] > 0.0
    assert m[("qlight_temperature_kelvin", ())] == 295.0
    n_events = len(svc.events(limit=1000))
    total = sum(v for (name, _), v in m.items() if name == "qlight_events_total")
    assert total == n_events
    get = (("method", "GET"),)
    assert (
        m[("qlight_http_requests_total", (*get, ("route", "/api/v1/device"), ("status", "200")))]
        == 3
    )
    route_1 = ("route", "/api/v1/emitters/{emitter_id}")
    assert m[("qlight_http_requests_total", (*get, route_1, ("status", "200")))] == 1
    assert m[("qlight_http_requests_total", (*get, route_1, ("status", "404")))] == 1
    assert (
        m[("qlight_http_requests_total", (*get, ("route", "<unmatched>"), ("status", "404")))] == 1
    )
    post = (("method", "POST"), ("route", "/api/v1/device/standby"), ("status", "401"))
    assert m[("qlight_http_requests_total", post)] == 1
    count = m[("qlight_http_request_duration_seconds_count", (*get, ("route", "/api/v1/device")))]
    assert count == 3
    assert m[("qlight_websocket_clients", ())] == 0


def test_missing_values_are_nan_and_events_count_incrementally() -> None:
    svc = FakeDeviceService(seed=2, state=DeviceState.POWER_ON)
    app = create_app(svc, api_token=TOKEN, dashboard=False)
    with serve_in_thread(app) as url, httpx.Client(base_url=url, timeout=10.0) as c:
        m1 = _samples(c.get("/metrics").text)
        assert math.isnan(m1[("qlight_count_rate_cps", ())])
        assert math.isnan(m1[("qlight_g2_zero", ())])
        assert math.isnan(m1[("qlight_power_on_to_emitting_seconds", ())])
        assert m1[("qlight_device_state", (("state", "POWER_ON"),))] == 1
        for _ in range(5):
            svc.step()  # walks the boot to EMITTING: five transitions
        m2 = _samples(c.get("/metrics").text)
    key = ("qlight_events_total", (("kind", "transition"),))
    assert m2[key] - m1.get(key, 0.0) == 5
    assert m2[("qlight_device_state", (("state", "EMITTING"),))] == 1
    assert m2[("qlight_power_on_to_emitting_seconds", ())] == 5.0
