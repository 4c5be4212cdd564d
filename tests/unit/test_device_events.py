"""The device's persistent event log and state store."""

from __future__ import annotations

import math
import sqlite3
from pathlib import Path

import pytest

from qlight.device.events import EventLog
from qlight.device.service_types import DeviceState
from qlight.errors import ConfigurationError


def test_append_read_and_page(tmp_path: Path) -> None:
    log = EventLog(tmp_path / "d" / "device.db")
    e1 = log.append(
        "transition", "power on", sim_time_s=0.0,
        state_from=DeviceState.POWER_ON, state_to=DeviceState.SELF_TEST,
    )  # fmt: skip
    e2 = log.append("health", "low", sim_time_s=1.5, data={"rate": 3.0, "x": math.nan, "o": [1]})
    assert e2.id == e1.id + 1
    assert e2.data == {"rate": 3.0, "x": None, "o": "[1]"}
    got = log.events()
    assert [e.id for e in got] == [e1.id, e2.id]
    assert got[0] == e1
    assert got[0].state_to is DeviceState.SELF_TEST
    assert log.events(after_id=e1.id) == [e2]
    assert log.events(limit=1) == [e1]
    assert log.events(limit=0) == []
    assert log.last_id() == e2.id
    log.close()
    log.close()  # idempotent


def test_persistence_across_reopen_and_wal(tmp_path: Path) -> None:
    p = tmp_path / "device.db"
    log = EventLog(p)
    log.append("info", "one", sim_time_s=1.0)
    log.put(boot_count=3, current_emitter="E-0002", tiles=[0, 1])
    log.put(boot_count=4)
    log.close()
    again = EventLog(p)
    assert [e.reason for e in again.events()] == ["one"]
    assert again.get("boot_count") == 4
    assert again.get("current_emitter") == "E-0002"
    assert again.get("tiles") == [0, 1]
    assert again.get("missing", "dflt") == "dflt"
    mode = sqlite3.connect(p).execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"
    again.close()


def test_state_write_is_atomic(tmp_path: Path) -> None:
    log = EventLog(tmp_path / "device.db")
    log.put(a=1, b=2)

    class Bad:
        pass

    with pytest.raises(TypeError):
        log.put(a=10, b=Bad())
    assert (log.get("a"), log.get("b")) == (1, 2)  # rolled back as a whole
    log.close()


def test_not_a_database(tmp_path: Path) -> None:
    p = tmp_path / "device.db"
    p.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(ConfigurationError, match="device database"):
        EventLog(p)
