"""The device's persistent store: structured event log and device state (one SQLite file).

``device.db`` in the data directory holds two tables:

* ``events`` — every state transition with its reason, commands, faults, health findings;
  append-only, ``id`` increasing;
* ``state`` — key → JSON value: the boot counter, the emitter being served, mapping
  progress (the tiles already written to the registry), the surface focus.

The database runs in WAL mode with ``synchronous=FULL`` and every write is one transaction,
so a ``kill -9`` at any moment leaves either the write or nothing (SQLite's atomic commit,
https://www.sqlite.org/atomiccommit.html). One connection is shared by the device's threads
under a lock; writes are a few rows, reads are indexed by ``id``.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from qlight.device.service_types import DeviceState, Event
from qlight.errors import ConfigurationError

__all__ = ["EventLog"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time_utc TEXT NOT NULL,
    sim_time_s REAL NOT NULL,
    kind TEXT NOT NULL,
    state_from TEXT,
    state_to TEXT,
    reason TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS state (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""

_Scalar = float | int | str | bool | None


def _clean(data: dict[str, Any] | None) -> dict[str, _Scalar]:
    out: dict[str, _Scalar] = {}
    for k, v in (data or {}).items():
        if isinstance(v, float) and v != v:  # NaN is not JSON
            out[str(k)] = None
        elif v is None or isinstance(v, bool | int | float | str):
            out[str(k)] = v
        else:
            out[str(k)] = str(v)
    return out


class EventLog:
    """Event log and key/value device state in ``path`` (created if missing).

    Raises
    ------
    qlight.errors.ConfigurationError
        The file cannot be opened or is not a SQLite database.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA busy_timeout=5000")
            self._db.executescript(_SCHEMA)
        except (OSError, sqlite3.DatabaseError) as exc:
            raise ConfigurationError(f"device database {self.path}: {exc}") from None
        self._closed = False

    def close(self) -> None:
        """Close the connection (idempotent)."""
        with self._lock:
            if not self._closed:
                self._db.close()
                self._closed = True

    # ------------------------------------------------------------------ events
    def append(
        self,
        kind: str,
        reason: str,
        *,
        sim_time_s: float,
        state_from: DeviceState | None = None,
        state_to: DeviceState | None = None,
        data: dict[str, Any] | None = None,
    ) -> Event:
        """Append one event (one transaction) and return it."""
        now = datetime.now(UTC).isoformat(timespec="milliseconds")
        payload = _clean(data)
        with self._lock:
            cur = self._db.execute(
                "INSERT INTO events (time_utc, sim_time_s, kind, state_from, state_to, reason,"
                " data) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    now,
                    float(sim_time_s),
                    kind,
                    None if state_from is None else state_from.value,
                    None if state_to is None else state_to.value,
                    reason,
                    json.dumps(payload),
                ),
            )
            new_id = int(cur.lastrowid or 0)
        return Event(
            id=new_id,
            time_utc=now,
            sim_time_s=float(sim_time_s),
            kind=kind,
            state_from=state_from,
            state_to=state_to,
            reason=reason,
            data=payload,
        )

    def events(self, after_id: int = 0, limit: int = 100) -> list[Event]:
        """Events with ``id > after_id``, oldest first, at most ``limit``."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, time_utc, sim_time_s, kind, state_from, state_to, reason, data"
                " FROM events WHERE id > ? ORDER BY id LIMIT ?",
                (int(after_id), max(0, int(limit))),
            ).fetchall()
        return [
            Event(
                id=r[0],
                time_utc=r[1],
                sim_time_s=r[2],
                kind=r[3],
                state_from=None if r[4] is None else DeviceState(r[4]),
                state_to=None if r[5] is None else DeviceState(r[5]),
                reason=r[6],
                data=json.loads(r[7]),
            )
            for r in rows
        ]

    def last_id(self) -> int:
        """Largest event id (0 when empty)."""
        with self._lock:
            row = self._db.execute("SELECT MAX(id) FROM events").fetchone()
        return int(row[0] or 0)

    # ------------------------------------------------------------------ state
    def get(self, key: str, default: Any = None) -> Any:
        """The stored JSON value of ``key`` (``default`` when absent)."""
        with self._lock:
            row = self._db.execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
        return default if row is None else json.loads(row[0])

    def put(self, **values: Any) -> None:
        """Store several keys in one transaction."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for k, v in values.items():
                    self._db.execute(
                        "INSERT INTO state (key, value) VALUES (?, ?)"
                        " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                        (k, json.dumps(v)),
                    )
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
