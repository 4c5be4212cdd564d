"""Errors of the emitter registry; each names the database and what went wrong."""

from __future__ import annotations

from qlight.errors import FileFormatError, QlightError

__all__ = ["RegistryCorruptError", "RegistryError", "RegistryLockedError", "UnknownRecordError"]


class RegistryError(QlightError):
    """The registry cannot do what was asked (conflicting ID, newer schema, bad URL, ...)."""


class RegistryLockedError(RegistryError):
    """Another connection held the database lock for longer than the busy timeout."""


class RegistryCorruptError(RegistryError, FileFormatError):
    """The database file is not a SQLite database or fails its integrity check.

    The file is never recreated or modified: it is left for the operator to inspect.
    """


class UnknownRecordError(RegistryError, KeyError):
    """No emitter, chip, session or transform with the given ID exists."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else "unknown record"
