"""WebSocket ``/api/v1/stream``: message format, update rate, slow and vanishing clients."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import anyio
import httpx
import pytest
from tests.api_fakes import FakeDeviceService, serve_in_thread
from websockets.sync.client import connect

from qlight.api.app import create_app
from qlight.api.stream import StreamSettings, _pump, _Streamer
from qlight.device.service_types import DeviceState, DeviceStatus, Event, G2Snapshot, RateSample

TOKEN = "stream-token-" + "z" * 20


@pytest.fixture
def live() -> Iterator[tuple[FakeDeviceService, str]]:
    svc = FakeDeviceService(seed=5, state=DeviceState.POWER_ON, tick_s=0.05)
    app = create_app(svc, api_token=TOKEN, dashboard=False)
    with serve_in_thread(app) as url:
        svc.start()
        try:
            yield svc, url
        finally:
            svc.stop()


def _ws(url: str) -> str:
    return url.replace("http://", "ws://") + "/api/v1/stream"


def _recv(ws: Any) -> dict[str, Any]:
    msg = json.loads(ws.recv(timeout=5.0))
    assert isinstance(msg, dict)
    return msg


def test_messages_follow_the_documented_format(live: tuple[FakeDeviceService, str]) -> None:
    _, url = live
    seen: dict[str, list[dict[str, Any]]] = {}
    with connect(_ws(url), open_timeout=5.0) as ws:
        first = _recv(ws)
        assert first["type"] == "status"
        DeviceStatus.model_validate(first["data"])
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline:
            msg = _recv(ws)
            assert set(msg) == {"type", "seq", "data"}
            seen.setdefault(msg["type"], []).append(msg)
            emitted = any(
                e["state_to"] == "EMITTING" for m in seen.get("event", []) for e in m["data"]
            )
            if emitted and {"status", "rate", "g2"} <= set(seen):
                break
    assert {"status", "rate", "g2", "event"} <= set(seen)
    for m in seen["rate"]:
        [RateSample.model_validate(r) for r in m["data"]]
    for m in seen["g2"]:
        G2Snapshot.model_validate(m["data"])
    events = [Event.model_validate(e) for m in seen["event"] for e in m["data"]]
    ids = [e.id for e in events]
    assert ids == sorted(set(ids))  # each event once, in order
    assert any(e.state_to is DeviceState.EMITTING for e in events)
    seqs = [m["seq"] for m in seen["status"]]
    assert seqs == sorted(seqs)


def test_at_least_two_status_updates_per_second_while_emitting(
    live: tuple[FakeDeviceService, str],
) -> None:
    _, url = live
    with connect(_ws(url), open_timeout=5.0) as ws:
        deadline = time.monotonic() + 10.0
        while True:
            msg = _recv(ws)
            if msg["type"] == "status" and msg["data"]["state"] == "EMITTING":
                break
            assert time.monotonic() < deadline
        t0 = time.monotonic()
        n = 0
        while time.monotonic() - t0 < 2.0:
            n += _recv(ws)["type"] == "status"
    # The stream sends a status on every change (the fake changes every 50 ms) but at most
    # every 0.1 s, and at least every 0.25 s: 8-20 per 2 s. The goal is >= 2 Hz, i.e. >= 4.
    assert n >= 4


def test_heartbeat_keeps_the_rate_when_nothing_changes() -> None:
    svc = FakeDeviceService(seed=6, state=DeviceState.EMITTING)  # not started: never changes
    app = create_app(svc, api_token=TOKEN, dashboard=False)
    with serve_in_thread(app) as url, connect(_ws(url), open_timeout=5.0) as ws:
        t0 = time.monotonic()
        n = 0
        while time.monotonic() - t0 < 1.5:
            msg = _recv(ws)
            n += msg["type"] == "status"
            assert msg["seq"] == svc.status().update_seq
    # heartbeat 0.25 s: ~6 in 1.5 s; >= 2 Hz means >= 3.
    assert n >= 3


def test_vanishing_and_silent_clients_do_not_hurt_others(
    live: tuple[FakeDeviceService, str],
) -> None:
    _, url = live
    host, port = url.removeprefix("http://").split(":")
    # A client that completes the handshake, then never reads and finally vanishes.
    raw = socket.create_connection((host, int(port)), timeout=5.0)
    raw.sendall(
        b"GET /api/v1/stream HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        b"Sec-WebSocket-Version: 13\r\n\r\n"
    )
    assert raw.recv(12) == b"HTTP/1.1 101"
    with connect(_ws(url), open_timeout=5.0) as ws:
        t0 = time.monotonic()
        n = 0
        while time.monotonic() - t0 < 1.0:
            n += _recv(ws)["type"] == "status"
        assert n >= 2
        raw.close()  # no close frame
        t0 = time.monotonic()
        n = 0
        while time.monotonic() - t0 < 1.0:
            n += _recv(ws)["type"] == "status"
        assert n >= 2
    metrics = ""
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline:  # both connections end server-side
        metrics = httpx.get(f"{url}/metrics", timeout=5.0).text
        if "qlight_websocket_clients 0.0" in metrics:
            break
        time.sleep(0.05)
    assert "qlight_websocket_clients 0.0" in metrics


class _StuckSocket:
    """A WebSocket whose sends never complete (a client that stopped reading)."""

    def __init__(self) -> None:
        self.sent = 0

    async def send_text(self, text: str) -> None:
        self.sent += 1
        await anyio.sleep_forever()


def test_a_send_that_does_not_finish_times_out() -> None:
    svc = FakeDeviceService(seed=7, state=DeviceState.EMITTING)
    cfg = StreamSettings(send_timeout_s=0.05)
    ws = _StuckSocket()

    async def main() -> None:
        with anyio.fail_after(5.0), pytest.raises(TimeoutError):
            await _pump(ws, _Streamer(svc, cfg), cfg)  # type: ignore[arg-type]

    anyio.run(main)
    assert ws.sent == 1


class _CountingService(FakeDeviceService):
    """The fake device, recording the ``limit`` of every ``rate_history`` call."""

    def __init__(self) -> None:
        super().__init__(seed=8, state=DeviceState.EMITTING)  # not started: step() by hand
        self.limits: list[int] = []

    def rate_history(self, limit: int = 600) -> list[RateSample]:
        self.limits.append(limit)
        return super().rate_history(limit)


def _rates(messages: list[str]) -> list[float]:
    out: list[float] = []
    for text in messages:
        msg = json.loads(text)
        if msg["type"] == "rate":
            out += [r["sim_time_s"] for r in msg["data"]]
    return out


def test_later_messages_carry_and_read_only_new_rate_samples() -> None:
    svc = _CountingService()
    for _ in range(40):
        svc.step()
    backlog = [r.sim_time_s for r in svc.rate_history(600)]
    assert len(backlog) == 41  # the fake publishes one sample when it is built
    svc.limits.clear()
    streamer = _Streamer(svc, StreamSettings(rate_backlog=600))
    assert _rates(streamer.messages(first=True)) == backlog  # the backlog on connect
    assert svc.limits == [600]
    for _ in range(3):
        svc.step()
    second = _rates(streamer.messages(first=False))
    assert svc.limits[1:] == [16]  # a short window was read, not the backlog
    assert second == [r.sim_time_s for r in svc.rate_history(3)]  # the 3 new ones only
    assert second[0] > backlog[-1]
    assert _rates(streamer.messages(first=False)) == []  # nothing new: no rate message
    # A burst larger than the window: the backlog is read again, nothing is skipped.
    for _ in range(50):
        svc.step()
    n_calls = len(svc.limits)
    burst = _rates(streamer.messages(first=False))
    assert svc.limits[n_calls:] == [16, 600]
    assert burst == [r.sim_time_s for r in svc.rate_history(50)]
    # ... and the next window is sized from the burst (2 x 50), so 60 new samples fit.
    for _ in range(60):
        svc.step()
    n_calls = len(svc.limits)
    after = _rates(streamer.messages(first=False))
    assert svc.limits[n_calls:] == [100]
    assert after == [r.sim_time_s for r in svc.rate_history(60)]


def test_a_reconnect_gets_the_backlog_again() -> None:
    svc = _CountingService()
    for _ in range(5):
        svc.step()
    cfg = StreamSettings(rate_backlog=600)
    first = _Streamer(svc, cfg)
    first.messages(first=True)
    first.messages(first=False)
    svc.step()
    again = _rates(_Streamer(svc, cfg).messages(first=True))
    assert again == [r.sim_time_s for r in svc.rate_history(600)]
    assert len(again) == 7
