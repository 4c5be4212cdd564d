"""Reading and inserting a whole registry (:class:`RegistrySnapshot`) in one transaction."""

from __future__ import annotations

import dataclasses
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session as OrmSession

from qlight.mapping.registry import models as m
from qlight.mapping.registry._convert import (
    to_chip,
    to_emitter,
    to_event,
    to_observation,
    to_session,
    to_transform,
)
from qlight.mapping.registry.errors import RegistryError
from qlight.mapping.registry.records import RegistrySnapshot

__all__ = ["load_snapshot", "take_snapshot"]

# (snapshot field, model) in foreign-key order
_TABLES: tuple[tuple[str, type[Any]], ...] = (
    ("chips", m.Chip),
    ("sessions", m.Session),
    ("emitters", m.Emitter),
    ("observations", m.Observation),
    ("transforms", m.FrameTransform),
    ("events", m.Event),
)


def take_snapshot(s: OrmSession) -> RegistrySnapshot:
    """Every row of every table, ordered by ID."""
    return RegistrySnapshot(
        chips=[to_chip(r) for r in s.scalars(select(m.Chip).order_by(m.Chip.id))],
        sessions=[to_session(r) for r in s.scalars(select(m.Session).order_by(m.Session.id))],
        emitters=[to_emitter(r) for r in s.scalars(select(m.Emitter).order_by(m.Emitter.id))],
        observations=[
            to_observation(r) for r in s.scalars(select(m.Observation).order_by(m.Observation.id))
        ],
        transforms=[
            to_transform(r)
            for r in s.scalars(select(m.FrameTransform).order_by(m.FrameTransform.id))
        ],
        events=[to_event(r) for r in s.scalars(select(m.Event).order_by(m.Event.id))],
    )


def load_snapshot(s: OrmSession, snap: RegistrySnapshot) -> None:
    """Insert every record of ``snap`` keeping its ID; refuse IDs that already exist."""
    for name, model in _TABLES:
        for rec in getattr(snap, name):
            if s.get(model, rec.id) is not None:
                raise RegistryError(f"cannot import: {name[:-1]} {rec.id!r} already exists")
            s.add(model(**dataclasses.asdict(rec)))
        s.flush()
    if s.get_bind().dialect.name == "postgresql":  # explicit IDs do not advance sequences
        for name, model in _TABLES[1:]:
            if name == "emitters":
                continue
            table = model.__tablename__
            top = s.scalar(select(func.max(model.id)))
            if top is not None:
                s.execute(
                    text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), :v)"),
                    {"v": top},
                )
