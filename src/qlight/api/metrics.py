"""Prometheus metrics of the device service (``GET /metrics``).

Each app has its own :class:`prometheus_client.CollectorRegistry` (several apps in one test
process must not share counters). Device metrics are read from
:meth:`DeviceService.status` when Prometheus scrapes, so they are never stale; HTTP metrics
are counted by a middleware with the *route template* as label (``/api/v1/emitters/{emitter_id}``),
so label cardinality stays bounded whatever paths clients request.

Metric names (all prefixed ``qlight_``):

===========================================  =========  ======================================
name                                         type       meaning
===========================================  =========  ======================================
``qlight_device_state{state}``               gauge      1 for the current state, 0 for others
``qlight_count_rate_cps``                    gauge      detected count rate (NaN if none)
``qlight_count_rate_unc_cps``                gauge      1σ Poisson uncertainty of the rate
``qlight_g2_zero``                           gauge      latest g2(0) estimate (NaN if none)
``qlight_uptime_seconds``                    gauge      wall seconds since the service started
``qlight_sim_time_seconds``                  gauge      instrument clock
``qlight_power_on_to_emitting_seconds``      gauge      instrument seconds power-on → EMITTING
``qlight_laser_power_watts``                 gauge      laser power at the sample
``qlight_temperature_kelvin``                gauge      temperature
``qlight_device_update_seq``                 gauge      published-change counter of the device
``qlight_events_total{kind}``                counter    event-log entries by kind
``qlight_http_requests_total{method,route,status}``  counter  HTTP requests answered
``qlight_http_request_duration_seconds{method,route}`` histogram  request latency
``qlight_websocket_clients``                 gauge      open ``/api/v1/stream`` connections
===========================================  =========  ======================================
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Gauge, Histogram
from prometheus_client import Counter as PromCounter
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from qlight.device.service_types import DeviceService, DeviceState

__all__ = ["CONTENT_TYPE_LATEST", "ApiMetrics", "MetricsMiddleware"]

_LATENCY_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
_EVENT_PAGE = 1000


def _value(x: float | None) -> float:
    return math.nan if x is None else float(x)


class _DeviceCollector(Collector):
    """Reads the device snapshot at scrape time; counts new event-log entries by kind."""

    def __init__(self, service: DeviceService) -> None:
        self._service = service
        self._lock = threading.Lock()
        self._last_event_id = 0
        self._event_counts: Counter[str] = Counter()

    def _count_events(self) -> None:
        with self._lock:
            while True:
                page = self._service.events(after_id=self._last_event_id, limit=_EVENT_PAGE)
                for event in page:
                    self._event_counts[event.kind] += 1
                    self._last_event_id = max(self._last_event_id, event.id)
                if len(page) < _EVENT_PAGE:
                    return

    def collect(self) -> Iterable[Metric]:
        st = self._service.status()
        state = GaugeMetricFamily(
            "qlight_device_state", "1 for the device's current state", labels=["state"]
        )
        for s in DeviceState:
            state.add_metric([s.value], 1.0 if s is st.state else 0.0)
        yield state
        gauges = (
            ("qlight_count_rate_cps", "Detected count rate (counts/s)", st.count_rate_cps),
            ("qlight_count_rate_unc_cps", "1 sigma uncertainty of the rate", st.count_rate_unc_cps),
            ("qlight_g2_zero", "Latest g2(0) estimate", st.g2_0),
            ("qlight_uptime_seconds", "Wall seconds since the service started", st.uptime_s),
            ("qlight_sim_time_seconds", "Instrument clock in seconds", st.sim_time_s),
            (
                "qlight_power_on_to_emitting_seconds",
                "Instrument seconds from power-on to the last entry into EMITTING",
                st.power_on_to_emitting_s,
            ),
            ("qlight_laser_power_watts", "Laser power at the sample", st.laser_power_w),
            ("qlight_temperature_kelvin", "Temperature", st.temperature_k),
            ("qlight_device_update_seq", "Published-change counter", float(st.update_seq)),
        )
        for name, doc, value in gauges:
            yield GaugeMetricFamily(name, doc, value=_value(value))
        self._count_events()
        events = CounterMetricFamily("qlight_events", "Event-log entries by kind", labels=["kind"])
        with self._lock:
            for kind, n in sorted(self._event_counts.items()):
                events.add_metric([kind], float(n))
        yield events


class ApiMetrics:
    """The metrics of one app: its registry and the ``/metrics`` body."""

    def __init__(self, service: DeviceService) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.registry.register(_DeviceCollector(service))
        self.requests = PromCounter(
            "qlight_http_requests",
            "HTTP requests answered",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "qlight_http_request_duration_seconds",
            "HTTP request latency",
            ["method", "route"],
            buckets=_LATENCY_BUCKETS_S,
            registry=self.registry,
        )
        self.websocket_clients = Gauge(
            "qlight_websocket_clients", "Open /api/v1/stream connections", registry=self.registry
        )

    def render(self) -> bytes:
        """The text exposition format of every metric of this app."""
        return generate_latest(self.registry)


class MetricsMiddleware:
    """Pure ASGI middleware counting and timing HTTP requests into :class:`ApiMetrics`.

    (Cheaper than Starlette's ``BaseHTTPMiddleware``: no extra task per request.) The route
    label is the matched route's template, read from the scope after the app ran.
    """

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        status = 500

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            route = getattr(scope.get("route"), "path", None) or "<unmatched>"
            method = str(scope.get("method", "?"))
            self.metrics.requests.labels(method, route, str(status)).inc()
            self.metrics.latency.labels(method, route).observe(time.perf_counter() - t0)
