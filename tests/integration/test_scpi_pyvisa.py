"""The SCPI server as PyVISA sees it: ``TCPIP::host::port::SOCKET`` with the pyvisa-py backend."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.api_fakes import FakeDeviceService

from qlight import __version__
from qlight.api.scpi import ScpiServerHandle, start_scpi_server
from qlight.device.service_types import DeviceState

pyvisa = pytest.importorskip("pyvisa")


@pytest.fixture
def dev() -> FakeDeviceService:
    return FakeDeviceService(5, state=DeviceState.EMITTING, n_emitters=5)


@pytest.fixture
def server(dev: FakeDeviceService) -> Iterator[ScpiServerHandle]:
    h = start_scpi_server(dev, "127.0.0.1", 0)
    yield h
    h.close()


@pytest.fixture
def rm() -> Iterator[pyvisa.ResourceManager]:
    manager = pyvisa.ResourceManager("@py")
    yield manager
    manager.close()


def _open(rm: pyvisa.ResourceManager, port: int) -> pyvisa.resources.MessageBasedResource:
    inst = rm.open_resource(f"TCPIP::127.0.0.1::{port}::SOCKET")
    inst.read_termination = "\n"
    inst.write_termination = "\n"
    inst.timeout = 5000  # ms: every read has a bound, no test can hang
    return inst


def test_pyvisa_session(
    server: ScpiServerHandle, dev: FakeDeviceService, rm: pyvisa.ResourceManager
) -> None:
    inst = _open(rm, server.port)
    try:
        assert inst.query("*IDN?").split(",") == ["qlight", "GaN-SPS-1", "FAKE-0001", __version__]
        inst.write("*CLS")
        assert inst.query("*OPC?") == "1"
        assert inst.query("STAT?") == "EMITTING"
        rate = float(inst.query("SOURce:RATE?"))
        assert rate == pytest.approx(dev.status().count_rate_cps, rel=1e-6)  # no ticker
        g2 = inst.query_ascii_values("MEAS:G2?")[0]
        lo, hi = inst.query_ascii_values("MEAS:G2:CI?")
        assert lo <= g2 <= hi
        ids = inst.query("EMIT:LIST?").replace('"', "").split(",")
        assert ids == [e.id for e in dev.emitters()]
        inst.write('EMIT:SEL "E0002"')
        assert inst.query("EMIT?") == '"E0002"'
        inst.write("SYST:STBY")
        assert inst.query("STAT?") == "STANDBY"
        inst.write("SYST:RES")
        # a write returns before the server has read the line: *OPC? answers only after it
        assert inst.query("*OPC?") == "1"
        assert dev.status().state is DeviceState.LOCATING  # on its way back to EMITTING
        inst.write("NOT:A:COMMAND")
        inst.write('EMIT:SEL "nobody"')
        assert inst.query("SYST:ERR?").startswith("-113,")
        assert inst.query("SYST:ERR?").startswith("-224,")
        assert inst.query("SYST:ERR?") == '0,"No error"'
        commands = [e.reason for e in dev.events() if e.kind == "command"]
        assert commands == ["select_emitter", "standby", "resume"]
    finally:
        inst.close()


def test_two_pyvisa_clients(server: ScpiServerHandle, rm: pyvisa.ResourceManager) -> None:
    a, b = _open(rm, server.port), _open(rm, server.port)
    try:
        a.write("GARBAGE?")
        assert b.query("*IDN?").startswith("qlight,")
        assert b.query("SYST:ERR?") == '0,"No error"'  # queues are per connection
        assert a.query("SYST:ERR?").startswith("-113,")
    finally:
        a.close()
        b.close()
