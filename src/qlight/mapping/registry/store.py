"""The emitter registry: a database of chips, emitters and their full history.

:class:`Registry` is the only way the rest of qlight reads or writes the map. Every write is
one transaction (all or nothing); reads return detached, immutable records
(:mod:`qlight.mapping.registry.records`). A SQLite file is the default (see
:mod:`qlight.mapping.registry._engine` for the crash-safety settings); a fleet can share a
PostgreSQL database by URL (``postgresql+psycopg://user@host/db``, extra ``postgres``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Final

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session as OrmSession

from qlight._validation import check_finite, check_positive
from qlight.errors import ParameterError
from qlight.mapping.registry import models as m
from qlight.mapping.registry._base import when
from qlight.mapping.registry._convert import (
    check_json_object,
    check_label,
    check_status,
    opt_finite,
    opt_positive,
    to_chip,
    to_emitter,
    to_session,
)
from qlight.mapping.registry._engine import DatabaseTarget, connect
from qlight.mapping.registry._history import HistoryOps
from qlight.mapping.registry._snapshot import load_snapshot, take_snapshot
from qlight.mapping.registry.errors import RegistryError
from qlight.mapping.registry.records import (
    ChipRecord,
    EmitterRecord,
    RegistrySnapshot,
    SessionRecord,
)

__all__ = ["DEFAULT_BUSY_TIMEOUT_S", "Registry"]

#: How long a write waits for another connection's lock before RegistryLockedError.
DEFAULT_BUSY_TIMEOUT_S: Final = 5.0
_UNSET: Final[Any] = object()
_ID_LOCK_KEY: Final = 0x71_6C_69_67  # pg advisory lock serialising emitter-ID allocation


class Registry(HistoryOps):
    """A registry database; open it with :meth:`open`, use it as a context manager.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> with tempfile.TemporaryDirectory() as d, Registry.open(pathlib.Path(d) / "r.db") as reg:
    ...     _ = reg.add_chip("C1")
    ...     e = reg.add_emitter("C1", x_chip_m=1e-5, y_chip_m=2e-5, sigma_x_m=5e-9,
    ...                         sigma_y_m=5e-9, quality_score=0.9)
    ...     print(e.id, reg.best_emitters("C1")[0].id)
    E-0001 E-0001
    """

    # ------------------------------------------------------------------ lifecycle
    @classmethod
    def open(
        cls,
        target: str | Path,
        *,
        busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S,
        create: bool = True,
    ) -> Registry:
        """Open (and create, and migrate to the newest schema) a registry.

        Parameters
        ----------
        target : str or Path
            A file path or ``sqlite:///path`` (SQLite), or ``postgresql+psycopg://...``.
        busy_timeout_s : float
            How long a write waits for a lock held by another connection.
        create : bool
            Create a missing SQLite file; when false a missing file is an error.

        Raises
        ------
        RegistryCorruptError
            The file is not a SQLite database or fails its integrity check; it is left as is.
        RegistryLockedError
            A migration was needed but another connection held the lock past the timeout.
        RegistryError
            Missing file with ``create=False``, or a schema newer than this qlight.
        """
        busy = check_positive("busy_timeout_s", busy_timeout_s)
        db = DatabaseTarget(target)
        return cls(connect(db, busy_timeout_s=busy, create=create), db, busy)

    def __enter__(self) -> Registry:
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # ------------------------------------------------------------------ chips, sessions
    def add_chip(self, chip_id: str, *, description: str = "") -> ChipRecord:
        """Add a chip, or return it unchanged if it exists (idempotent)."""
        check_label("chip_id", chip_id, 64)
        with self._write() as s:
            row = s.get(m.Chip, chip_id)
            if row is None:
                row = m.Chip(id=chip_id, description=description, created_at=m.utc_now())
                s.add(row)
            return to_chip(row)

    def chips(self) -> list[ChipRecord]:
        """All chips, by ID."""
        with self._read() as s:
            return [to_chip(r) for r in s.scalars(select(m.Chip).order_by(m.Chip.id))]

    def start_session(
        self,
        chip_id: str,
        *,
        kind: str = "return",
        notes: str = "",
        started_at: datetime | None = None,
    ) -> SessionRecord:
        """Record the start of a power-on session on ``chip_id``."""
        check_label("kind", kind)
        with self._write() as s:
            self._need(s, m.Chip, chip_id, "chip")
            row = m.Session(
                chip_id=chip_id,
                kind=kind,
                notes=notes,
                started_at=when("started_at", started_at),
                ended_at=None,
            )
            s.add(row)
            s.flush()
            return to_session(row)

    def end_session(self, session_id: int, *, ended_at: datetime | None = None) -> SessionRecord:
        """Record the end of a session."""
        with self._write() as s:
            row = self._need(s, m.Session, session_id, "session")
            row.ended_at = when("ended_at", ended_at)
            return to_session(row)

    def sessions(self, chip_id: str | None = None) -> list[SessionRecord]:
        """Sessions, oldest first, optionally of one chip."""
        q = select(m.Session).order_by(m.Session.id)
        if chip_id is not None:
            q = q.where(m.Session.chip_id == chip_id)
        with self._read() as s:
            return [to_session(r) for r in s.scalars(q)]

    # ------------------------------------------------------------------ emitters
    def _next_emitter_id(self, s: OrmSession) -> str:
        if s.get_bind().dialect.name == "postgresql":
            s.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _ID_LOCK_KEY})
        ids = s.scalars(select(m.Emitter.id).where(m.Emitter.id.like("E-%"))).all()
        numbers = [int(i[2:]) for i in ids if i[2:].isdigit()]
        return f"E-{max(numbers, default=0) + 1:04d}"

    def add_emitter(
        self,
        chip_id: str,
        *,
        x_chip_m: float,
        y_chip_m: float,
        sigma_x_m: float,
        sigma_y_m: float,
        z_chip_m: float = 0.0,
        sigma_z_m: float | None = None,
        fingerprint: dict[str, Any] | None = None,
        quality_score: float | None = None,
        session_id: int | None = None,
        emitter_id: str | None = None,
        status: str = "active",
    ) -> EmitterRecord:
        """Add an emitter in the chip frame; its stable ID is ``E-0001``, ``E-0002``, ...

        ``emitter_id`` may be given (e.g. a UUID) instead; it must be unused.
        """
        values = {
            "x_chip_m": check_finite("x_chip_m", x_chip_m),
            "y_chip_m": check_finite("y_chip_m", y_chip_m),
            "z_chip_m": check_finite("z_chip_m", z_chip_m),
            "sigma_x_m": check_positive("sigma_x_m", sigma_x_m),
            "sigma_y_m": check_positive("sigma_y_m", sigma_y_m),
            "sigma_z_m": opt_positive("sigma_z_m", sigma_z_m),
            "fingerprint": check_json_object("fingerprint", fingerprint),
            "quality_score": opt_finite("quality_score", quality_score),
            "status": check_status(status),
        }
        if emitter_id is not None:
            check_label("emitter_id", emitter_id, 64)
        with self._write() as s:
            self._need(s, m.Chip, chip_id, "chip")
            if session_id is not None:
                self._need(s, m.Session, session_id, "session")
            new_id = emitter_id if emitter_id is not None else self._next_emitter_id(s)
            if s.get(m.Emitter, new_id) is not None:
                raise RegistryError(f"emitter {new_id} already exists")
            now = m.utc_now()
            row = m.Emitter(
                id=new_id,
                chip_id=chip_id,
                discovered_session_id=session_id,
                created_at=now,
                updated_at=now,
                **values,
            )
            s.add(row)
            s.flush()
            return to_emitter(row)

    def update_emitter(
        self,
        emitter_id: str,
        *,
        x_chip_m: float = _UNSET,
        y_chip_m: float = _UNSET,
        z_chip_m: float = _UNSET,
        sigma_x_m: float = _UNSET,
        sigma_y_m: float = _UNSET,
        sigma_z_m: float | None = _UNSET,
        fingerprint: dict[str, Any] = _UNSET,
        quality_score: float | None = _UNSET,
    ) -> EmitterRecord:
        """Change the given fields of an emitter (others stay); status: :meth:`set_status`."""
        checks: dict[str, tuple[Any, Callable[[str, Any], Any]]] = {
            "x_chip_m": (x_chip_m, check_finite),
            "y_chip_m": (y_chip_m, check_finite),
            "z_chip_m": (z_chip_m, check_finite),
            "sigma_x_m": (sigma_x_m, check_positive),
            "sigma_y_m": (sigma_y_m, check_positive),
            "sigma_z_m": (sigma_z_m, opt_positive),
            "fingerprint": (fingerprint, check_json_object),
            "quality_score": (quality_score, opt_finite),
        }
        new = {k: f(k, v) for k, (v, f) in checks.items() if v is not _UNSET}
        with self._write() as s:
            row = self._need(s, m.Emitter, emitter_id, "emitter")
            for key, value in new.items():
                setattr(row, key, value)
            row.updated_at = m.utc_now()
            return to_emitter(row)

    def set_status(
        self, emitter_id: str, status: str, *, reason: str, session_id: int | None = None
    ) -> EmitterRecord:
        """Mark an emitter active, bleached or retired, and record why (one transaction)."""
        check_status(status)
        with self._write() as s:
            row = self._need(s, m.Emitter, emitter_id, "emitter")
            old = row.status
            row.status = status
            row.updated_at = m.utc_now()
            s.add(
                m.Event(
                    kind="status",
                    message=reason,
                    session_id=session_id,
                    emitter_id=emitter_id,
                    data={"from": old, "to": status},
                    created_at=row.updated_at,
                )
            )
            return to_emitter(row)

    def emitter(self, emitter_id: str) -> EmitterRecord:
        """One emitter; :class:`UnknownRecordError` if there is none with that ID."""
        with self._read() as s:
            return to_emitter(self._need(s, m.Emitter, emitter_id, "emitter"))

    def emitters(
        self, chip_id: str | None = None, *, status: str | None = None
    ) -> list[EmitterRecord]:
        """Emitters by ID, optionally of one chip and/or one status."""
        q = select(m.Emitter).order_by(m.Emitter.id)
        if chip_id is not None:
            q = q.where(m.Emitter.chip_id == chip_id)
        if status is not None:
            q = q.where(m.Emitter.status == check_status(status))
        with self._read() as s:
            return [to_emitter(r) for r in s.scalars(q)]

    def best_emitters(
        self,
        chip_id: str | None = None,
        *,
        limit: int | None = None,
        min_score: float | None = None,
    ) -> list[EmitterRecord]:
        """Active, scored emitters, best quality score first (ties: lower ID first)."""
        q = select(m.Emitter).where(
            m.Emitter.status == "active", m.Emitter.quality_score.is_not(None)
        )
        if chip_id is not None:
            q = q.where(m.Emitter.chip_id == chip_id)
        if min_score is not None:
            q = q.where(m.Emitter.quality_score >= check_finite("min_score", min_score))
        q = q.order_by(m.Emitter.quality_score.desc(), m.Emitter.id)
        if limit is not None:
            if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
                raise ParameterError("limit", limit, "must be an integer >= 0")
            q = q.limit(limit)
        with self._read() as s:
            return [to_emitter(r) for r in s.scalars(q)]

    def counts(self) -> dict[str, int]:
        """Number of rows per table."""
        tables = {
            "chips": m.Chip,
            "sessions": m.Session,
            "emitters": m.Emitter,
            "observations": m.Observation,
            "transforms": m.FrameTransform,
            "events": m.Event,
        }
        with self._read() as s:
            return {
                k: int(s.scalar(select(func.count()).select_from(t)) or 0)
                for k, t in tables.items()
            }

    # ------------------------------------------------------------------ whole content
    def snapshot(self) -> RegistrySnapshot:
        """Everything in the registry, in one consistent read."""
        with self._read() as s:
            return take_snapshot(s)

    def load(self, snapshot: RegistrySnapshot) -> None:
        """Insert a snapshot, keeping every ID, in one transaction (all or nothing).

        Raises
        ------
        RegistryError
            A record of the snapshot has an ID that already exists here.
        """
        with self._write() as s:
            load_snapshot(s, snapshot)
