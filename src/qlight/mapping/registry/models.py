"""SQLAlchemy 2.0 typed ORM models of the emitter registry.

Tables: ``chips``, ``sessions``, ``emitters``, ``observations``, ``frame_transforms`` and
``events``. The schema is owned by the Alembic migrations in ``migrations/versions``; these
models must describe the head revision (a unit test compares them).

Times are stored as naive UTC and returned as timezone-aware UTC (:class:`UTCDateTime`), so
SQLite and PostgreSQL give identical values.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import JSON, CheckConstraint, DateTime, Float, ForeignKey, Index, Integer, String
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

__all__ = [
    "Base",
    "Chip",
    "Emitter",
    "Event",
    "FrameTransform",
    "Observation",
    "Session",
    "UTCDateTime",
    "utc_now",
]


def utc_now() -> datetime:
    """The current time, timezone-aware UTC, truncated to microseconds."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A datetime stored as naive UTC and read back as aware UTC."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("datetimes stored in the registry must be timezone-aware")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    """Declarative base of the registry models."""

    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
    }


class Chip(Base):
    """A chip (sample) identified by its serial or label."""

    __tablename__ = "chips"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    description: Mapped[str] = mapped_column(String(1000), default="")
    created_at: Mapped[datetime]


class Session(Base):
    """A power-on period of the device."""

    __tablename__ = "sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    chip_id: Mapped[str] = mapped_column(ForeignKey("chips.id", ondelete="RESTRICT"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    started_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    notes: Mapped[str] = mapped_column(String(1000), default="")


class Emitter(Base):
    """A mapped emitter, positioned in the chip frame."""

    __tablename__ = "emitters"
    __table_args__ = (
        CheckConstraint("status IN ('active', 'bleached', 'retired')", name="ck_emitter_status"),
        Index("ix_emitters_chip_status_score", "chip_id", "status", "quality_score"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    chip_id: Mapped[str] = mapped_column(ForeignKey("chips.id", ondelete="RESTRICT"))
    x_chip_m: Mapped[float] = mapped_column(Float)
    y_chip_m: Mapped[float] = mapped_column(Float)
    z_chip_m: Mapped[float] = mapped_column(Float)
    sigma_x_m: Mapped[float] = mapped_column(Float)
    sigma_y_m: Mapped[float] = mapped_column(Float)
    sigma_z_m: Mapped[float | None] = mapped_column(Float)
    fingerprint: Mapped[dict[str, Any]]
    quality_score: Mapped[float | None] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(16))
    discovered_session_id: Mapped[int | None] = mapped_column(
        ForeignKey("sessions.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Observation(Base):
    """One measurement of an emitter."""

    __tablename__ = "observations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    emitter_id: Mapped[str] = mapped_column(
        ForeignKey("emitters.id", ondelete="CASCADE"), index=True
    )
    session_id: Mapped[int | None] = mapped_column(
        ForeignKey("sessions.id", ondelete="SET NULL"), index=True
    )
    observed_at: Mapped[datetime]
    x_stage_m: Mapped[float | None] = mapped_column(Float)
    y_stage_m: Mapped[float | None] = mapped_column(Float)
    z_stage_m: Mapped[float | None] = mapped_column(Float)
    x_chip_m: Mapped[float | None] = mapped_column(Float)
    y_chip_m: Mapped[float | None] = mapped_column(Float)
    sigma_x_m: Mapped[float | None] = mapped_column(Float)
    sigma_y_m: Mapped[float | None] = mapped_column(Float)
    count_rate_per_s: Mapped[float | None] = mapped_column(Float)
    g2_0: Mapped[float | None] = mapped_column(Float)
    outcome: Mapped[str] = mapped_column(String(32), server_default="ok")


class FrameTransform(Base):
    """The chip → stage similarity transform registered in one session."""

    __tablename__ = "frame_transforms"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[int] = mapped_column(
        ForeignKey("sessions.id", ondelete="CASCADE"), index=True
    )
    tx_m: Mapped[float] = mapped_column(Float)
    ty_m: Mapped[float] = mapped_column(Float)
    rotation_rad: Mapped[float] = mapped_column(Float)
    scale: Mapped[float] = mapped_column(Float)
    covariance: Mapped[list[list[float]] | None] = mapped_column(JSON)
    method: Mapped[str] = mapped_column(String(32))
    residual_m: Mapped[float | None] = mapped_column(Float)
    n_matches: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime]


class Event(Base):
    """An event or outcome with its reason (revision 0002)."""

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32), index=True)
    message: Mapped[str] = mapped_column(String(2000))
    session_id: Mapped[int | None] = mapped_column(
        ForeignKey("sessions.id", ondelete="SET NULL"), index=True
    )
    emitter_id: Mapped[str | None] = mapped_column(
        ForeignKey("emitters.id", ondelete="CASCADE"), index=True
    )
    data: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]
