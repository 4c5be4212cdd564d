"""Crash safety: kill -9 mid-write, a locked database, corrupted files."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from tests.unit._registry_data import populate

from qlight.errors import FileFormatError
from qlight.mapping.registry import (
    EmitterRecord,
    ObservationRecord,
    Registry,
    RegistryCorruptError,
    RegistryLockedError,
    RegistrySnapshot,
)

_N_OBS = 300  # observations written with each emitter, in the same transaction

# The writer commits, in a loop, one transaction holding an emitter and _N_OBS observations,
# then prints the emitter ID: a printed ID is committed. It is killed with SIGKILL while it
# is writing the next one.
_WRITER = textwrap.dedent(
    f"""
    import sys
    from datetime import UTC, datetime
    from qlight.mapping.registry import EmitterRecord, ObservationRecord, Registry, RegistrySnapshot
    now = datetime.now(UTC)
    with Registry.open(sys.argv[1]) as reg:
        reg.add_chip("K")
        print("ready", flush=True)
        i = 0
        while True:
            i += 1
            eid = f"E-{{i:04d}}"
            e = EmitterRecord(eid, "K", i * 1e-6, 0.0, 0.0, 1e-9, 1e-9, None, {{"i": i}}, 0.5,
                              "active", None, now, now)
            obs = [ObservationRecord(i * {_N_OBS} + k, eid, None, now, float(k), None, None,
                                     None, None, None, None, 1e5, 0.1, "ok")
                   for k in range({_N_OBS})]
            reg.load(RegistrySnapshot(emitters=[e], observations=obs))
            print(eid, flush=True)
    """
)


def test_kill_9_mid_write_leaves_every_committed_row_and_no_partial_one(tmp_path: Path) -> None:
    path = tmp_path / "crash.db"
    proc = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(path)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).parents[2],
    )
    committed: list[str] = []
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        while len(committed) < 40:
            line = proc.stdout.readline().strip()
            assert line, "the writer stopped early"
            committed.append(line)
    finally:
        os.kill(proc.pid, signal.SIGKILL)  # mid-way through the next transaction
        proc.wait(timeout=30)
        if proc.stdout is not None:
            # lines still in the pipe were printed after their commit: committed too
            committed += proc.stdout.read().split()
            proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    # the kill left a hot WAL (no checkpoint, no clean close) for reopening to recover
    assert (tmp_path / "crash.db-wal").exists()
    with Registry.open(path) as reg:
        assert reg.integrity_check() == ["ok"]
        ids = [e.id for e in reg.emitters()]
        assert ids[: len(committed)] == committed  # all committed rows present
        # at most the transaction in flight may have committed before it could print its ID
        assert len(ids) - len(committed) in (0, 1)
        counts = reg.counts()
        assert counts["observations"] == _N_OBS * len(ids)
        for eid in ids[-3:]:
            obs = reg.history(eid).observations
            assert [o.x_stage_m for o in obs] == [float(k) for k in range(_N_OBS)]
        # and the registry is writable again
        reg.add_emitter("K", x_chip_m=0, y_chip_m=0, sigma_x_m=1, sigma_y_m=1)


def test_locked_database_gives_a_clear_error_after_the_timeout(tmp_path: Path) -> None:
    path = tmp_path / "lock.db"
    with Registry.open(path) as reg:
        populate(reg)
        before = reg.snapshot()
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        holder.execute("DELETE FROM observations")  # uncommitted, must never be seen
        with Registry.open(path, busy_timeout_s=0.3) as reg:
            assert reg.snapshot() == before  # readers are not blocked (WAL)
            start = time.perf_counter()
            with pytest.raises(RegistryLockedError) as info:
                reg.add_emitter("GaN-A", x_chip_m=0, y_chip_m=0, sigma_x_m=1, sigma_y_m=1)
            waited = time.perf_counter() - start
            msg = str(info.value)
            assert str(path) in msg
            assert "0.3 s busy timeout" in msg
            assert waited >= 0.25  # it waited for the lock before giving up
            holder.execute("ROLLBACK")
            # lock released: the same registry object writes again, nothing was lost
            e = reg.add_emitter("GaN-A", x_chip_m=0, y_chip_m=0, sigma_x_m=1, sigma_y_m=1)
            assert e.id == "E-0005"
            assert reg.snapshot().observations == before.observations
            assert reg.integrity_check() == ["ok"]
    finally:
        holder.close()


def test_migration_under_a_lock_fails_cleanly(tmp_path: Path) -> None:
    # an empty database needs its schema; a held write lock makes open fail, leaving no table
    path = tmp_path / "m.db"
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("PRAGMA journal_mode=WAL")
        holder.execute("BEGIN IMMEDIATE")
        with pytest.raises(RegistryLockedError, match="locked"):
            Registry.open(path, busy_timeout_s=0.2)
        holder.execute("ROLLBACK")
    finally:
        holder.close()
    with Registry.open(path) as reg:
        assert sum(reg.counts().values()) == 0


def test_a_file_that_is_not_a_database_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_text("these are my notes, not a database\n" * 20)
    before = path.read_bytes()
    with pytest.raises(RegistryCorruptError, match=r"notes\.db is not a SQLite database"):
        Registry.open(path)
    assert path.read_bytes() == before
    assert not (tmp_path / "notes.db-wal").exists()
    assert issubclass(RegistryCorruptError, FileFormatError)


@pytest.mark.parametrize("damage", ["pages", "truncate"])
def test_a_damaged_database_is_refused_and_never_recreated(tmp_path: Path, damage: str) -> None:
    path = tmp_path / "dmg.db"
    with Registry.open(path) as reg:
        populate(reg)
        for i in range(200):  # a few pages of rows
            reg.record_observation("E-0001", count_rate_per_s=float(i), outcome="ok")
    assert not (tmp_path / "dmg.db-wal").exists() or (tmp_path / "dmg.db-wal").stat().st_size == 0
    data = bytearray(path.read_bytes())
    page = int.from_bytes(data[16:18], "big")
    assert len(data) >= 4 * page
    if damage == "pages":
        data[page:] = bytes((i * 131 + 7) % 256 for i in range(len(data) - page))
    else:
        data = data[: page // 2]
    path.write_bytes(bytes(data))
    before = path.read_bytes()
    with pytest.raises(RegistryCorruptError) as info:
        Registry.open(path)
    assert str(path) in str(info.value)
    assert path.read_bytes() == before  # not repaired, not recreated


def test_records_are_usable_after_close(tmp_path: Path) -> None:
    # the crash-test writer builds records directly; make sure those types stay importable
    now = datetime.now(UTC)
    e = EmitterRecord("X", "K", 0.0, 0.0, 0.0, 1.0, 1.0, None, {}, None, "active", None, now, now)
    o = ObservationRecord(
        1, "X", None, now, None, None, None, None, None, None, None, None, None, "ok"
    )
    with Registry.open(tmp_path / "r.db") as reg:
        reg.add_chip("K")
        reg.load(RegistrySnapshot(emitters=[e], observations=[o]))
        assert reg.snapshot().emitters == [e]
