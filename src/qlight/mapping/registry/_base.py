"""The part of :class:`~qlight.mapping.registry.store.Registry` every operation shares.

Holds the engine, runs each write in one ``BEGIN IMMEDIATE`` transaction and each read in
one consistent transaction, and turns driver errors into registry errors.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session as OrmSession

from qlight.errors import ParameterError
from qlight.mapping.registry import models as m
from qlight.mapping.registry._engine import DatabaseTarget, translate_errors
from qlight.mapping.registry.errors import RegistryError, UnknownRecordError

__all__ = ["RegistryBase", "when"]


def when(name: str, value: datetime | None) -> datetime:
    """``value`` if it is a timezone-aware datetime, now (UTC) if ``None``, else raise."""
    if value is None:
        return m.utc_now()
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise ParameterError(name, value, "must be a timezone-aware datetime")
    return value


class RegistryBase:
    """Engine, transactions and lookups shared by the registry operations."""

    def __init__(self, engine: Engine, target: DatabaseTarget, busy_timeout_s: float) -> None:
        self._engine = engine
        self._writer = engine.execution_options(qlight_begin="IMMEDIATE")
        self._target = target
        self._busy_timeout_s = busy_timeout_s
        self._closed = False

    @property
    def url(self) -> str:
        """The database URL (password hidden)."""
        return self._target.url.render_as_string()

    @property
    def path(self) -> Path | None:
        """The SQLite file, or ``None`` for a server database."""
        return self._target.path

    def close(self) -> None:
        """Release every connection (idempotent)."""
        if not self._closed:
            self._engine.dispose()
            self._closed = True

    @contextmanager
    def _write(self) -> Iterator[OrmSession]:
        if self._closed:
            raise RegistryError(f"registry {self._target.label} is closed")
        with (
            translate_errors(self._target, self._busy_timeout_s),
            OrmSession(self._writer, expire_on_commit=False) as s,
            s.begin(),
        ):
            yield s

    @contextmanager
    def _read(self) -> Iterator[OrmSession]:
        if self._closed:
            raise RegistryError(f"registry {self._target.label} is closed")
        with (
            translate_errors(self._target, self._busy_timeout_s),
            OrmSession(self._engine) as s,
            s.begin(),
        ):
            yield s

    def integrity_check(self) -> list[str]:
        """``["ok"]`` when the database is consistent (SQLite ``PRAGMA integrity_check``)."""
        if not self._target.is_sqlite:
            return ["ok"]
        with self._read() as s:
            return [str(r) for r in s.execute(text("PRAGMA integrity_check")).scalars()]

    @staticmethod
    def _need(s: OrmSession, model: type[Any], key: object, what: str) -> Any:
        row = s.get(model, key)
        if row is None:
            raise UnknownRecordError(f"no {what} {key!r} in the registry")
        return row
