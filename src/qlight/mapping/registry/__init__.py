"""The emitter registry: chips, emitters in the chip frame, and their full history.

A real database through SQLAlchemy (a crash-safe SQLite file by default, PostgreSQL by URL),
with Alembic migrations shipped in the package and applied at :meth:`Registry.open`.
See ``docs/registry.md``.
"""

from qlight.mapping.registry.errors import (
    RegistryCorruptError,
    RegistryError,
    RegistryLockedError,
    UnknownRecordError,
)
from qlight.mapping.registry.records import (
    EMITTER_STATUSES,
    ChipRecord,
    EmitterHistory,
    EmitterRecord,
    EventRecord,
    ObservationRecord,
    RegistrySnapshot,
    SessionRecord,
    TransformRecord,
)
from qlight.mapping.registry.store import DEFAULT_BUSY_TIMEOUT_S, Registry

__all__ = [
    "DEFAULT_BUSY_TIMEOUT_S",
    "EMITTER_STATUSES",
    "ChipRecord",
    "EmitterHistory",
    "EmitterRecord",
    "EventRecord",
    "ObservationRecord",
    "Registry",
    "RegistryCorruptError",
    "RegistryError",
    "RegistryLockedError",
    "RegistrySnapshot",
    "SessionRecord",
    "TransformRecord",
    "UnknownRecordError",
]
