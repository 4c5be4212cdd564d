"""Plain, immutable views of registry rows, detached from any database session.

The :class:`~qlight.mapping.registry.store.Registry` returns these, never ORM objects, so
callers can keep them after the registry is closed and compare them for equality (the
import/export round trip relies on that). Coordinates are metres in the chip frame unless
named ``*_stage_m``; times are timezone-aware UTC datetimes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

__all__ = [
    "EMITTER_STATUSES",
    "ChipRecord",
    "EmitterHistory",
    "EmitterRecord",
    "EmitterStatus",
    "EventRecord",
    "ObservationRecord",
    "RegistrySnapshot",
    "SessionRecord",
    "TransformRecord",
]

EmitterStatus = Literal["active", "bleached", "retired"]
#: Allowed values of :attr:`EmitterRecord.status`.
EMITTER_STATUSES: tuple[str, ...] = ("active", "bleached", "retired")


@dataclass(frozen=True)
class ChipRecord:
    """A chip (sample); emitters are stored in its frame, defined by its fiducial marks."""

    id: str
    description: str
    created_at: datetime


@dataclass(frozen=True)
class SessionRecord:
    """One power-on period of the device (discovery, return, maintenance, ...)."""

    id: int
    chip_id: str
    kind: str
    started_at: datetime
    ended_at: datetime | None
    notes: str


@dataclass(frozen=True)
class EmitterRecord:
    """A mapped emitter: stable ID, chip-frame position with 1σ uncertainties, fingerprint."""

    id: str
    chip_id: str
    x_chip_m: float
    y_chip_m: float
    z_chip_m: float
    sigma_x_m: float
    sigma_y_m: float
    sigma_z_m: float | None
    fingerprint: dict[str, Any]
    quality_score: float | None
    status: str
    discovered_session_id: int | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class ObservationRecord:
    """One measurement of an emitter: where the stage found it, how bright, g2(0), outcome."""

    id: int
    emitter_id: str
    session_id: int | None
    observed_at: datetime
    x_stage_m: float | None
    y_stage_m: float | None
    z_stage_m: float | None
    x_chip_m: float | None
    y_chip_m: float | None
    sigma_x_m: float | None
    sigma_y_m: float | None
    count_rate_per_s: float | None
    g2_0: float | None
    outcome: str


@dataclass(frozen=True)
class TransformRecord:
    """Chip → stage similarity transform found in one session.

    ``x_stage = scale·(cos θ·x_chip − sin θ·y_chip) + tx`` and
    ``y_stage = scale·(sin θ·x_chip + cos θ·y_chip) + ty``; ``covariance`` is the 4×4
    covariance of ``(tx_m, ty_m, rotation_rad, scale)``.
    """

    id: int
    session_id: int
    tx_m: float
    ty_m: float
    rotation_rad: float
    scale: float
    covariance: list[list[float]] | None
    method: str
    residual_m: float | None
    n_matches: int | None
    created_at: datetime


@dataclass(frozen=True)
class EventRecord:
    """Something that happened and why: an emitter skipped, bleached, a fallback taken."""

    id: int
    kind: str
    message: str
    session_id: int | None
    emitter_id: str | None
    data: dict[str, Any]
    created_at: datetime


@dataclass(frozen=True)
class EmitterHistory:
    """An emitter with every observation and event that concerns it, oldest first."""

    emitter: EmitterRecord
    observations: list[ObservationRecord]
    events: list[EventRecord]


@dataclass(frozen=True)
class RegistrySnapshot:
    """The whole content of a registry (what export writes and import reads)."""

    chips: list[ChipRecord] = field(default_factory=list)
    sessions: list[SessionRecord] = field(default_factory=list)
    emitters: list[EmitterRecord] = field(default_factory=list)
    observations: list[ObservationRecord] = field(default_factory=list)
    transforms: list[TransformRecord] = field(default_factory=list)
    events: list[EventRecord] = field(default_factory=list)
