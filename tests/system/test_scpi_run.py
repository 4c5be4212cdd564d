"""SCPI against the real device: ``qlight run`` in a subprocess, PyVISA over TCP."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from tests.system._server import start_server, wait_for_state

pyvisa = pytest.importorskip("pyvisa")


def _until(inst: pyvisa.resources.MessageBasedResource, states: set[str], timeout_s: float) -> str:
    deadline = time.monotonic() + timeout_s
    while (state := inst.query("STAT?")) not in states:
        assert time.monotonic() < deadline, f"SCPI state {state}, waiting for {states}"
        time.sleep(0.2)
    return state


@pytest.mark.slow  # one boot of the twin to EMITTING (~15-30 s on the 2-core machine)
def test_pyvisa_drives_the_running_device(tmp_path: Path) -> None:
    with start_server(tmp_path / "data") as srv:
        rm = pyvisa.ResourceManager("@py")
        inst = rm.open_resource(srv.info["scpi_resource"])
        try:
            inst.read_termination = inst.write_termination = "\n"
            inst.timeout = 10_000  # ms
            maker, _model, serial, version = inst.query("*IDN?").split(",")
            assert maker == "qlight"
            rest = httpx.get(f"{srv.api}/device", timeout=10.0).json()
            assert (serial, version) == (rest["serial"], rest["version"])
            wait_for_state(srv, {"EMITTING"}, timeout_s=180.0)
            assert _until(inst, {"EMITTING"}, 10.0) == "EMITTING"
            emitter = inst.query("EMIT?").strip('"')
            assert emitter == httpx.get(f"{srv.api}/device", timeout=10.0).json()["emitter_id"]
            assert f'"{emitter}"' in inst.query("EMIT:LIST?").split(",")
            assert float(inst.query("SOUR:RATE?")) > 0
            inst.write("SYST:STBY")
            assert _until(inst, {"STANDBY"}, 30.0) == "STANDBY"
            inst.write("SYST:RES")
            assert _until(inst, {"EMITTING"}, 120.0) == "EMITTING"
            now = httpx.get(f"{srv.api}/device", timeout=10.0).json()["emitter_id"]
            assert inst.query("EMIT?").strip('"') == now
            inst.write("NO:SUCH:CMD")
            assert inst.query("SYST:ERR?").startswith("-113,")
            assert inst.query("SYST:ERR?") == '0,"No error"'
        finally:
            inst.close()
            rm.close()
