"""SCPI parser and session (no sockets) and the TCP server with plain sockets."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.api_fakes import FakeDeviceService

from qlight import __version__
from qlight.api.scpi import start_scpi_server
from qlight.api.scpi_commands import (
    ERROR_MESSAGES,
    MAX_LINE_BYTES,
    QUEUE_SIZE,
    SCPI_NAN,
    ScpiSession,
    command_table,
)
from qlight.device.service_types import DeviceState
from qlight.errors import ParameterError

#: Registry statuses of the fake's emitters E0001…E0005 (E0003 is known but not selectable).
STATUSES = ("qualified", "qualified", "bleached", "qualified", "rejected")


def _fake(seed: int) -> FakeDeviceService:
    return FakeDeviceService(seed, state=DeviceState.EMITTING, n_emitters=5, statuses=STATUSES)


def _commands(dev: FakeDeviceService) -> list[str]:
    return [e.reason for e in dev.events() if e.kind == "command"]


@pytest.fixture
def dev() -> FakeDeviceService:
    return _fake(3)


@pytest.fixture
def s(dev: FakeDeviceService) -> ScpiSession:
    return ScpiSession(dev)


def q(s: ScpiSession, line: str) -> str | None:
    return s.handle_line(line.encode())


def err(s: ScpiSession) -> int:
    out = q(s, "SYST:ERR?")
    assert out is not None
    return int(out.split(",", 1)[0])


def test_idn_and_no_error(s: ScpiSession) -> None:
    assert q(s, "*IDN?") == f"qlight,GaN-SPS-1,FAKE-0001,{__version__}"
    assert q(s, "SYST:ERR?") == '0,"No error"'
    assert q(s, "SYSTem:ERRor:NEXT?") == '0,"No error"'


@pytest.mark.parametrize(
    "spelling", ["STAT?", "STATUS?", "stat?", "Status:State?", ":STAT:STAT?", "status?"]
)
def test_short_long_case_insensitive(s: ScpiSession, spelling: str) -> None:
    assert q(s, spelling) == "EMITTING"
    assert err(s) == 0


@pytest.mark.parametrize("spelling", ["STATU?", "STA?", "SYST:ERRO?", "SOURC:RATE?"])
def test_partial_mnemonics_are_undefined(s: ScpiSession, spelling: str) -> None:
    # SCPI-99 §6.2.1: only the short or the long form, nothing in between.
    assert q(s, spelling) is None
    assert err(s) == -113


def test_values(s: ScpiSession, dev: FakeDeviceService) -> None:
    st_ = dev.status()
    assert float(q(s, "SOUR:RATE?") or "") == pytest.approx(st_.count_rate_cps, rel=1e-6)
    assert float(q(s, "MEAS:G2?") or "") == pytest.approx(st_.g2_0, rel=1e-6)
    lo, hi = (float(x) for x in (q(s, "MEAS:G2:CI?") or "").split(","))
    assert lo <= float(q(s, "MEAS:G2?") or "") <= hi
    assert q(s, "EMIT?") == '"E0001"'
    assert q(s, "EMIT:LIST?") == '"E0001","E0002","E0003","E0004","E0005"'
    assert float(q(s, "MEAS:TEMP?") or "") == pytest.approx(st_.temperature_k)


def test_unavailable_value_is_scpi_nan(s: ScpiSession, dev: FakeDeviceService) -> None:
    dev.standby()  # rate and g2 are gone outside EMITTING
    assert q(s, "SOUR:RATE?") == SCPI_NAN
    assert q(s, "MEAS:G2?") == SCPI_NAN


def test_compound_line_and_relative_path(s: ScpiSession) -> None:
    out = q(s, "*IDN?;SOUR:RATE?;MEAS:G2?;STAT?")
    assert out is not None
    assert len(out.split(";")) == 4
    # after SYST:ERR? the node SYST is current: ERR:COUN? resolves to SYST:ERR:COUN?
    assert q(s, "SYST:ERR?;ERR:COUN?") == '0,"No error";0'


def test_commands_reach_service(s: ScpiSession, dev: FakeDeviceService) -> None:
    assert q(s, "SYST:STBY") is None
    assert dev.status().state is DeviceState.STANDBY
    assert q(s, "system:resume") is None
    assert dev.status().state is DeviceState.LOCATING
    for _ in range(2):  # LOCATING → ACQUIRING → EMITTING
        dev.step()
    assert q(s, 'EMIT:SEL "E0002"') is None
    assert q(s, "EMIT?") == '"E0002"'
    dev.step()  # ACQUIRING → EMITTING
    assert q(s, "EMITter:SELect E0004") is None
    assert _commands(dev) == ["standby", "resume", "select_emitter", "select_emitter"]
    assert q(s, "EMIT?") == '"E0004"'
    assert err(s) == 0


@pytest.mark.parametrize(
    ("line", "code"),
    [
        ("FOO:BAR?", -113),
        ("EMIT:SEL", -109),
        ('EMIT:SEL "E999"', -224),  # unknown emitter
        ('EMIT:SEL "E0003"', -221),  # known, not qualified: the service rejects it
        ('EMIT:SEL "a b;c"', -224),
        ('EMIT:SEL "E001', -151),
        ("*IDN? 3", -108),
        ("SYST:STBY now", -108),
        ("1234", -102),
        ("*ESE 300", -224),
    ],
)
def test_errors(s: ScpiSession, line: str, code: int) -> None:
    assert q(s, line) is None
    assert err(s) == code
    assert err(s) == 0


def test_non_utf8_control_and_long_lines(s: ScpiSession) -> None:
    assert s.handle_line(b"\xff\xfe*IDN?") is None
    assert err(s) == -101
    assert s.handle_line(b"*IDN?\x00") is None
    assert err(s) == -101
    assert s.handle_line(b"*IDN?" + b" " * MAX_LINE_BYTES) is None
    assert err(s) == -363


def test_queue_overflow_and_cls(s: ScpiSession) -> None:
    for _ in range(QUEUE_SIZE + 5):
        q(s, "NOPE")
    assert q(s, "SYST:ERR:COUN?") == str(QUEUE_SIZE)
    codes = [err(s) for _ in range(QUEUE_SIZE)]
    assert codes[:-1] == [-113] * (QUEUE_SIZE - 1)
    assert codes[-1] == -350
    q(s, "NOPE")
    q(s, "*CLS")
    assert err(s) == 0


def test_esr_bits(s: ScpiSession) -> None:
    q(s, "NOPE")  # command error: bit 5
    q(s, 'EMIT:SEL "E999"')  # execution error: bit 4
    assert q(s, "*ESR?") == str(0x20 | 0x10)
    assert q(s, "*ESR?") == "0"  # reading clears
    q(s, "*OPC")
    assert q(s, "*ESR?") == "1"
    assert q(s, "*OPC?") == "1"
    q(s, "*ESE 32")
    assert q(s, "*ESE?") == "32"
    q(s, "*RST")
    assert q(s, "*ESE?") == "0"


@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_raise(data: bytes) -> None:
    sess = ScpiSession(_fake(0))
    for line in data.split(b"\n"):
        out = sess.handle_line(line)
        assert out is None or isinstance(out, str)
    # the session still works afterwards
    assert sess.handle_line(b"*OPC?") == "1"


def _ask(f: socket.socket, line: bytes) -> bytes:
    f.sendall(line)
    buf = b""
    while not buf.endswith(b"\n"):
        chunk = f.recv(4096)
        assert chunk, "server closed the connection"
        buf += chunk
    return buf


def test_server_survives_garbage_and_serves_many_clients(dev: FakeDeviceService) -> None:
    with start_scpi_server(dev, "127.0.0.1", 0) as h:
        assert h.port > 0
        clients = [socket.create_connection(("127.0.0.1", h.port), timeout=5) for _ in range(5)]
        try:
            bad = clients[0]
            bad.sendall(b"\xff\x00garbage\r\n" + b"A" * (3 * MAX_LINE_BYTES) + b"\nNOPE?\n")
            for c in clients[1:]:
                assert _ask(c, b"*IDN?\n").startswith(b"qlight,")
            assert _ask(bad, b"SYST:ERR?;SYST:ERR?;SYST:ERR?;SYST:ERR?\n") == (
                b'-101,"Invalid character;non-ASCII byte in program message";'
                b'-363,"Input buffer overrun;line of 12288 bytes > 4096";'
                b'-113,"Undefined header;NOPE?";0,"No error"\n'
            )
            # error queues are per client
            assert _ask(clients[1], b"SYST:ERR?\n") == b'0,"No error"\n'
            assert _ask(clients[2], b"*idn?\r\n").startswith(b"qlight,")
            clients[3].close()  # an abrupt disconnect does not disturb the others
            assert _ask(clients[4], b"STAT?\n") == b"EMITTING\n"
        finally:
            for c in clients:
                c.close()
    assert not h._thread.is_alive()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", h.port), timeout=2)


def test_bad_port(dev: FakeDeviceService) -> None:
    with pytest.raises(ParameterError, match="port"):
        start_scpi_server(dev, "127.0.0.1", 70000)
    with start_scpi_server(dev, "127.0.0.1", 0) as h, pytest.raises(ParameterError):
        start_scpi_server(dev, "127.0.0.1", h.port)


def test_docs_list_every_command_and_error() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "scpi.md").read_text(encoding="utf-8")
    for header, _ in command_table():
        assert f"| `{header}` |" in doc, header
    for code in ERROR_MESSAGES:
        assert f"| {code} | {ERROR_MESSAGES[code]} |" in doc, code
