"""The device service on the real twin: boot, restart, faults, commands, kill -9.

Pace "fast" (simulated time runs as fast as the twin computes) and a small mapping region
(12 µm square in 6 µm tiles: ≈ 90 s simulated, a few s of wall time) keep this module short.
One first boot maps a template data directory; the other tests start from copies of it.
"""

from __future__ import annotations

import math
import queue
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from qlight.device.service import Device
from qlight.device.service_types import (
    CommandRejectedError,
    DeviceState,
    DeviceStatus,
    FaultKind,
)
from qlight.device.settings import load_settings
from qlight.mapping.registry import Registry

S = DeviceState
SEED = 0
MAPPING = {"region_um": 12.0, "tile_um": 6.0}
TIMEOUT_S = 120.0


def _settings(data_dir: Path, **kw: Any) -> Any:
    return load_settings(None, data_dir=data_dir, twin_seed=SEED, mapping=MAPPING, **kw)


def wait_for(
    dev: Device, pred: Callable[[DeviceStatus], bool], timeout_s: float = TIMEOUT_S
) -> DeviceStatus:
    """Wait (on ``wait_update``) until ``pred(status)``; fail after the timeout."""
    end = time.monotonic() + timeout_s
    seq = 0
    while time.monotonic() < end:
        st = dev.status()
        if pred(st):
            return st
        seq = dev.wait_update(max(seq, st.update_seq), 0.5)
    st = dev.status()
    raise AssertionError(f"timed out in {st.state} ({st.state_reason})")


def emitting(st: DeviceStatus) -> bool:
    return st.state is S.EMITTING


def _reasons(dev: Device, after: int = 0) -> list[str]:
    return [e.reason for e in dev.events(after, 10_000)]


@pytest.fixture
def device_factory() -> Iterator[Callable[..., Device]]:
    made: list[Device] = []

    def make(data_dir: Path, **kw: Any) -> Device:
        dev = Device(_settings(data_dir, **kw))
        made.append(dev)
        dev.start()
        return dev

    yield make
    for d in made:
        d.stop()
        assert d.controller.bugs == []


@pytest.fixture(scope="module")
def mapped(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """First boot from an empty data dir: MAPPING, then EMITTING; the dir is the template."""
    root = tmp_path_factory.mktemp("template")
    dev = Device(_settings(root))
    try:
        t0 = time.monotonic()
        dev.start()
        assert time.monotonic() - t0 < 1.0  # start() returns at once
        assert dev.status().state in (S.POWER_ON, S.SELF_TEST, S.HOMING)
        wait_for(dev, emitting)
        st = wait_for(dev, lambda s: s.g2_0 is not None and s.count_rate_cps is not None)
        info = {
            "dir": root,
            "status": st,
            "events": dev.events(0, 10_000),
            "emitters": dev.emitters(),
            "g2": dev.latest_g2(),
            "rates": dev.rate_history(),
            "map": dev.chip_map(),
            "bugs": list(dev.controller.bugs),
        }
    finally:
        dev.stop()
    return info


def _copy(mapped: dict[str, Any], tmp_path: Path) -> Path:
    dst = tmp_path / "data"
    shutil.copytree(mapped["dir"], dst)
    return dst


def test_first_boot_maps_then_emits(mapped: dict[str, Any]) -> None:
    st: DeviceStatus = mapped["status"]
    assert mapped["bugs"] == []
    path = [(e.state_from, e.state_to) for e in mapped["events"] if e.kind == "transition"]
    assert [b for _, b in path][:7] == [
        S.SELF_TEST, S.HOMING, S.LOCATING, S.MAPPING, S.LOCATING, S.ACQUIRING, S.EMITTING,
    ]  # fmt: skip
    assert any("first boot" in e.reason for e in mapped["events"])
    tiles = [e for e in mapped["events"] if e.reason.startswith("mapping tile")]
    assert len(tiles) == 4
    ems = mapped["emitters"]
    qualified = [e for e in ems if e.status == "qualified"]
    assert qualified
    assert st.emitter_id in {e.id for e in qualified}
    assert sum(e.is_current for e in ems) == 1
    # first boot includes mapping: a few simulated minutes at most
    assert st.power_on_to_emitting_s is not None
    assert st.power_on_to_emitting_s < 300.0
    assert st.count_rate_cps is not None
    assert st.count_rate_cps > 1e4
    g2 = mapped["g2"]
    assert g2 is not None
    assert g2.emitter_id == st.emitter_id
    assert len(g2.tau_ns) == len(g2.g2) == len(g2.counts) > 10
    assert g2.g2_0_ci95[0] <= g2.g2_0 <= g2.g2_0_ci95[1]
    assert mapped["rates"]
    cm = mapped["map"]
    assert cm.target_id == st.emitter_id
    assert cm.position_um is not None
    assert len(cm.marks) == 100
    assert len(cm.emitters) == len(ems)
    # the served emitter is where the map says the spot is (within the drift budget)
    cur = next(e for e in ems if e.is_current)
    assert math.hypot(cur.x_um - cm.position_um[0], cur.y_um - cm.position_um[1]) < 0.3


def test_restart_returns_to_same_emitter_quickly(
    mapped: dict[str, Any], tmp_path: Path, device_factory: Callable[..., Device]
) -> None:
    data = _copy(mapped, tmp_path)
    before = mapped["status"].emitter_id
    dev = device_factory(data)
    assert dev.status().emitter_id == before  # known from the persisted state at once
    st = wait_for(dev, emitting)
    assert st.emitter_id == before
    assert st.power_on_to_emitting_s is not None
    assert st.power_on_to_emitting_s <= 30.0
    since = dev.events(0, 10_000)[len(mapped["events"]) :]
    assert any(e.reason == "return: returned" for e in since)
    assert not any(e.state_to is S.MAPPING for e in dev.events(0, 10_000)[len(mapped["events"]) :])
    dev.stop()
    with Registry.open(data / "registry.db") as reg:
        tf = reg.transforms()
    sessions = sorted({t.session_id for t in tf})
    assert len(sessions) == 2  # first boot (registrations between tiles too), this boot
    new = [t for t in tf if t.session_id == sessions[1]]
    assert len(new) == 1  # a filled registry: one registration, no mapping
    old = [t for t in tf if t.session_id == sessions[0]][-1]
    assert math.hypot(old.tx_m - new[0].tx_m, old.ty_m - new[0].ty_m) > 10e-9  # new homing


def test_injected_faults_recover(
    mapped: dict[str, Any], tmp_path: Path, device_factory: Callable[..., Device]
) -> None:
    dev = device_factory(_copy(mapped, tmp_path))
    first = wait_for(dev, emitting).emitter_id

    def inject(kind: FaultKind, needle: str) -> DeviceStatus:
        mark = dev.events(0, 10_000)[-1].id
        res = dev.inject_fault(kind)
        assert res.accepted
        assert res.command == "fault"
        wait_for(dev, lambda s: any(needle in r for r in _reasons(dev, mark)))
        st = wait_for(dev, emitting)
        states = [e.state_to for e in dev.events(mark, 10_000) if e.kind == "transition"]
        assert {S.DEGRADED, S.RECOVERING} <= set(states), states
        return st

    assert inject(FaultKind.LASER_DROP, "laser power restored").emitter_id == first
    assert dev.status().laser_power_w == pytest.approx(1e-3)
    assert inject(FaultKind.DETECTOR_SATURATION, "saturation cleared").emitter_id == first
    # the sample slips 4 µm: re-registration finds the same emitter again
    assert inject(FaultKind.STAGE_ERROR, "serving").emitter_id == first
    mark = dev.events(0, 10_000)[-1].id
    st = inject(FaultKind.BLEACH, "next-best qualified emitter")
    assert st.emitter_id != first
    # the shared return flow (qlight.mapping.autoreturn) logged the switch with its outcome
    assert any(r.startswith("return: switched") for r in _reasons(dev, mark))
    assert dev.emitter(first).status == "bleached"
    assert dev.emitter(st.emitter_id).is_current


def test_fault_when_recoveries_exhausted_then_resume(
    mapped: dict[str, Any], tmp_path: Path, device_factory: Callable[..., Device]
) -> None:
    dev = device_factory(_copy(mapped, tmp_path), supervisor={"max_recoveries": 1})
    wait_for(dev, emitting)
    dev.inject_fault(FaultKind.LASER_DROP)
    wait_for(dev, lambda s: s.state is S.EMITTING and "restored" in s.state_reason)
    dev.inject_fault(FaultKind.LASER_DROP)
    st = wait_for(dev, lambda s: s.state is S.FAULT)
    assert "recoveries" in st.state_reason
    assert "laser" in st.state_reason
    with pytest.raises(CommandRejectedError):
        dev.standby()
    dev.resume()
    assert wait_for(dev, emitting).state_reason.startswith("serving")


def test_commands(
    mapped: dict[str, Any], tmp_path: Path, device_factory: Callable[..., Device]
) -> None:
    dev = device_factory(_copy(mapped, tmp_path))
    first = wait_for(dev, emitting).emitter_id
    with pytest.raises(CommandRejectedError, match="resume"):
        dev.resume()
    with pytest.raises(CommandRejectedError, match="no emitter"):
        dev.select_emitter("E-9999")
    with pytest.raises(CommandRejectedError, match="unknown fault"):
        dev.inject_fault("meteor")  # type: ignore[arg-type]
    unqualified = [e for e in dev.emitters() if e.status != "qualified"]
    if unqualified:
        with pytest.raises(CommandRejectedError, match="not a qualified"):
            dev.select_emitter(unqualified[0].id)

    seq = dev.status().update_seq
    res = dev.standby("test")
    assert res.accepted
    assert res.command == "standby"
    assert dev.wait_update(seq, 5.0) > seq
    st = wait_for(dev, lambda s: s.state is S.STANDBY)
    assert st.laser_power_w == 0.0
    assert "test" in st.state_reason
    with pytest.raises(CommandRejectedError):
        dev.standby()
    dev.resume()
    assert wait_for(dev, emitting).emitter_id == first

    other = next(e.id for e in dev.emitters() if e.status == "qualified" and e.id != first)
    dev.select_emitter(other)
    assert wait_for(dev, lambda s: emitting(s) and s.emitter_id == other).emitter_id == other

    mark = dev.events(0, 10_000)[-1].id
    dev.power_cycle()
    st = wait_for(dev, lambda s: emitting(s) and any(
        e.state_to is S.POWER_ON for e in dev.events(mark, 10_000)))  # fmt: skip
    assert st.emitter_id == other  # a power cycle returns to the served emitter
    assert st.power_on_to_emitting_s is not None
    assert st.power_on_to_emitting_s <= 30.0

    mark = dev.events(0, 10_000)[-1].id
    n_before = len(dev.emitters())
    dev.remap()
    wait_for(dev, lambda s: emitting(s) and any(
        e.state_to is S.MAPPING for e in dev.events(mark, 10_000)))  # fmt: skip
    assert len(dev.emitters()) == n_before  # the same region again: nothing duplicated
    assert sum(r.startswith("mapping tile") for r in _reasons(dev, mark)) == 4


# ---------------------------------------------------------------------- kill -9
class _Proc:
    """``python -m qlight.device`` in a subprocess, its state lines on a queue."""

    def __init__(self, data: Path, config: Path) -> None:
        self.p = subprocess.Popen(
            [sys.executable, "-m", "qlight.device", "--data-dir", str(data),
             "--twin-seed", str(SEED), "--config", str(config)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.p.stdout is not None
        for line in self.p.stdout:
            self.lines.put(line.rstrip("\n"))

    def wait_line(self, prefix: str, timeout_s: float = TIMEOUT_S) -> str:
        end = time.monotonic() + timeout_s
        seen = []
        while time.monotonic() < end:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                if self.p.poll() is not None:
                    break
                continue
            seen.append(line)
            if line.startswith(prefix):
                return line
        raise AssertionError(f"no line {prefix!r}; got {seen[-5:]}")

    def kill9(self) -> None:
        self.p.send_signal(signal.SIGKILL)
        self.p.wait(timeout=10)

    def close(self) -> None:
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait(timeout=5)
        if self.p.stdout is not None:
            self.p.stdout.close()


def _tiles_done(data: Path) -> int:
    uri = f"file:{data / 'device.db'}?mode=ro"
    try:
        with sqlite3.connect(uri, uri=True, timeout=1.0) as db:
            row = db.execute("SELECT value FROM state WHERE key='mapping_tiles_done'").fetchone()
    except sqlite3.OperationalError:
        return 0
    return 0 if row is None else len(row[0].strip("[]").split(",")) if row[0] != "[]" else 0


def _emitters(data: Path) -> dict[str, tuple[float, float]]:
    with Registry.open(data / "registry.db") as reg:
        return {e.id: (e.x_chip_m, e.y_chip_m) for e in reg.emitters()}


def test_kill9_during_mapping_and_emitting(tmp_path: Path) -> None:
    data = tmp_path / "data"
    cfg = tmp_path / "qlight.toml"
    cfg.write_text("[mapping]\nregion_um = 18.0\ntile_um = 6.0\n", encoding="utf-8")
    procs: list[_Proc] = []
    try:
        a = _Proc(data, cfg)
        procs.append(a)
        a.wait_line("state MAPPING")
        end = time.monotonic() + TIMEOUT_S
        while _tiles_done(data) < 2 and time.monotonic() < end:
            time.sleep(0.02)
        assert _tiles_done(data) >= 2
        a.kill9()
        found = _emitters(data)
        assert found  # something was mapped before the kill

        b = _Proc(data, cfg)
        procs.append(b)
        b.wait_line("state MAPPING")
        line = b.wait_line("state EMITTING")
        served = line.split()[2]
        after = _emitters(data)
        for eid, (x, y) in found.items():  # nothing already found was lost
            # (the served emitter's position is refined by its verified return)
            assert math.hypot(after[eid][0] - x, after[eid][1] - y) < 0.3e-6
        xy = np.array(list(after.values()))
        d = np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1))
        assert np.all(d[np.triu_indices(len(xy), 1)] > 0.3e-6)  # no duplicates
        assert _tiles_done(data) == 9
        b.kill9()

        c = _Proc(data, cfg)
        procs.append(c)
        line = c.wait_line("state EMITTING")
        assert line.split()[2] == served  # the same emitter after kill -9 while emitting
        assert set(_emitters(data)) == set(after)
    finally:
        for p in procs:
            p.close()
    with sqlite3.connect(data / "device.db") as db:
        reasons = [r[0] for r in db.execute("SELECT reason FROM events")]
    assert any("mapping interrupted at tile" in r for r in reasons)


def test_headless_entry_point_rejects_bad_settings(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text("[supervisor]\nmax_g2_0 = 2.0\n", encoding="utf-8")
    res = subprocess.run(
        [sys.executable, "-m", "qlight.device", "--data-dir", str(tmp_path / "d"),
         "--config", str(cfg)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "supervisor.max_g2_0" in lines[0]
    assert not (tmp_path / "d").exists()  # nothing created for invalid settings


def test_wall_paced_emission(
    mapped: dict[str, Any], tmp_path: Path, device_factory: Callable[..., Device]
) -> None:
    dev = device_factory(_copy(mapped, tmp_path), supervisor={"wall_paced": True})
    wait_for(dev, emitting)
    time.sleep(1.5)  # the first step (g2 of 5 s + a drift refocus of ≈ 5 s) runs ahead
    sim0, t0 = dev.status().sim_time_s, time.monotonic()
    time.sleep(3.0)
    sim = dev.status().sim_time_s - sim0
    wall = time.monotonic() - t0
    # paced: ahead of wall time by at most one step (a refocus ≈ 5 s, a sample 0.2 s);
    # unpaced, fast pace runs ≈ 40 simulated s per wall s here (measured)
    assert sim <= wall + 6.0
    assert dev.status().state is S.EMITTING
