""":class:`qlight.api.server.DeviceServer` in-process with the fake device (no subprocess)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from tests.api_fakes import FakeDeviceService

from qlight.api.booting import LOADING_REASON
from qlight.api.server import DeviceServer
from qlight.device.service_types import DeviceService, DeviceState
from qlight.device.settings import DeviceSettings, load_settings
from qlight.errors import ConfigurationError


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> DeviceSettings:
    monkeypatch.delenv("QLIGHT_API_TOKEN", raising=False)
    return load_settings(None, data_dir=tmp_path, port=0, scpi_port=0)


def _serve(server: DeviceServer) -> tuple[threading.Thread, list[int]]:
    code: list[int] = []
    thread = threading.Thread(target=lambda: code.append(server.serve()), daemon=True)
    thread.start()
    return thread, code


def test_open_serve_and_clean_shutdown(settings: DeviceSettings, tmp_path: Path) -> None:
    svc = FakeDeviceService(seed=1, state=DeviceState.POWER_ON, tick_s=0.02)
    server = DeviceServer(settings, factory=lambda s: svc)
    info = server.open()
    assert info.port > 0
    assert info.scpi_port > 0
    d = info.as_dict()
    assert d["api_url"] == f"http://127.0.0.1:{info.port}/api/v1"
    assert d["ws_url"] == f"ws://127.0.0.1:{info.port}/api/v1/stream"
    assert d["api_token"] == (tmp_path / "api_token").read_text().strip()
    # The socket listens before serve(): a connection made now is queued, then answered.
    early = socket.create_connection(("127.0.0.1", info.port), timeout=5.0)
    thread, code = _serve(server)
    try:
        early.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert early.recv(4096).startswith(b"HTTP/1.1 200")
        with httpx.Client(base_url=d["api_url"], timeout=10.0) as c:
            deadline = time.monotonic() + 10.0
            while c.get("/device").json()["serial"] != "FAKE-0001":  # loader attached it
                assert time.monotonic() < deadline
                time.sleep(0.01)
            headers = {"Authorization": f"Bearer {d['api_token']}"}
            assert c.post("/device/power-cycle", headers=headers).status_code == 200
        with socket.create_connection(("127.0.0.1", info.scpi_port), timeout=5.0) as scpi:
            scpi.sendall(b"*IDN?\n")
            assert b"FAKE-0001" in scpi.recv(4096)
    finally:
        early.close()
        server.request_exit()
        thread.join(15.0)
    assert not thread.is_alive()
    assert code == [0]
    assert svc._stop.is_set()  # the device was stopped
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", info.port), timeout=1.0)


def _gated(
    svc: FakeDeviceService, gate: threading.Event
) -> Callable[[DeviceSettings], DeviceService]:
    def factory(s: DeviceSettings) -> DeviceService:
        assert gate.wait(10.0)
        return svc

    return factory


def test_answers_while_the_device_software_loads(settings: DeviceSettings) -> None:
    gate = threading.Event()
    svc = FakeDeviceService(seed=2, state=DeviceState.EMITTING)
    server = DeviceServer(settings, factory=_gated(svc, gate))
    info = server.open()
    thread, code = _serve(server)
    try:
        with httpx.Client(base_url=info.as_dict()["api_url"], timeout=10.0) as c:
            st = c.get("/device").json()
            assert (st["state"], st["state_reason"]) == ("POWER_ON", LOADING_REASON)
            assert st["serial"] == settings.serial
            assert c.get("/emitters").json() == []
            assert c.get("/measurements/g2").json() is None
            assert c.get("/emitters/E0001").status_code == 404
            r = c.post("/device/standby", headers={"Authorization": f"Bearer {info.token.value}"})
            assert r.status_code == 409
            assert r.json()["detail"] == "the device is still starting"
            gate.set()
            deadline = time.monotonic() + 10.0
            while c.get("/device").json()["state"] != "EMITTING":
                assert time.monotonic() < deadline
                time.sleep(0.01)
            assert len(c.get("/emitters").json()) == 4
    finally:
        gate.set()
        server.request_exit()
        thread.join(15.0)
    assert code == [0]


def test_a_device_that_cannot_be_built_ends_serve_with_2(settings: DeviceSettings) -> None:
    def broken(s: DeviceSettings) -> DeviceService:
        raise ConfigurationError("twin.chip: unknown field 'colour'")

    server = DeviceServer(settings, factory=broken)
    server.open()
    thread, code = _serve(server)
    thread.join(15.0)
    assert code == [2]
    assert server.error == "twin.chip: unknown field 'colour'"
    st = server.service.status()
    assert (st.state, st.state_reason) == (DeviceState.FAULT, server.error)


def test_a_device_loaded_after_shutdown_is_never_started(settings: DeviceSettings) -> None:
    gate = threading.Event()
    svc = FakeDeviceService(seed=3)
    server = DeviceServer(settings, factory=_gated(svc, gate))
    server.open()
    thread, code = _serve(server)
    deadline = time.monotonic() + 10.0
    while server._server is None or not server._server.started:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    server.request_exit()
    while not server._booting._closed:  # close() runs, and waits for the loader
        assert time.monotonic() < deadline
        time.sleep(0.01)
    gate.set()  # only now does the device arrive
    thread.join(15.0)
    assert code == [0]
    assert svc._thread is None  # never started
    assert svc._stop.is_set()  # but closed


def test_port_in_use_is_a_configuration_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        settings = load_settings(None, data_dir=tmp_path, port=port, scpi_port=0)
        with pytest.raises(ConfigurationError, match=f"cannot listen on 127.0.0.1:{port}"):
            DeviceServer(settings, factory=lambda s: FakeDeviceService()).open()
