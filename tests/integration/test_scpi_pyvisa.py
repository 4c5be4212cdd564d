"""The SCPI server as PyVISA sees it: ``TCPIP::host::port::SOCKET`` with the pyvisa-py backend."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.fake_device_c import FakeDevice

from qlight.api.scpi import ScpiServerHandle, start_scpi_server
from qlight.device.service_types import DeviceState

pyvisa = pytest.importorskip("pyvisa")


@pytest.fixture
def dev() -> FakeDevice:
    return FakeDevice(seed=5)


@pytest.fixture
def server(dev: FakeDevice) -> Iterator[ScpiServerHandle]:
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
    server: ScpiServerHandle, dev: FakeDevice, rm: pyvisa.ResourceManager
) -> None:
    inst = _open(rm, server.port)
    try:
        assert inst.query("*IDN?").split(",") == ["qlight", "GaN-SPS-1", "TWIN-0001", "0.1.0"]
        inst.write("*CLS")
        assert inst.query("*OPC?") == "1"
        assert inst.query("STAT?") == "EMITTING"
        rate = float(inst.query("SOURce:RATE?"))
        assert 5e4 < rate < 2e5  # the fake's 1.2e5 ± 4e3 counts/s
        g2 = inst.query_ascii_values("MEAS:G2?")[0]
        lo, hi = inst.query_ascii_values("MEAS:G2:CI?")
        assert lo <= g2 <= hi
        ids = inst.query("EMIT:LIST?").replace('"', "").split(",")
        assert ids == ["E001", "E002", "E003", "E004", "E005"]
        inst.write('EMIT:SEL "E002"')
        assert inst.query("EMIT?") == '"E002"'
        inst.write("SYST:STBY")
        assert inst.query("STAT?") == "STANDBY"
        inst.write("SYST:RES")
        # a write returns before the server has read the line: *OPC? answers only after it
        assert inst.query("*OPC?") == "1"
        assert dev.status().state is DeviceState.EMITTING
        inst.write("NOT:A:COMMAND")
        inst.write('EMIT:SEL "nobody"')
        assert inst.query("SYST:ERR?").startswith("-113,")
        assert inst.query("SYST:ERR?").startswith("-224,")
        assert inst.query("SYST:ERR?") == '0,"No error"'
        assert dev.commands == ["select_emitter:E002", "standby", "resume"]
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
