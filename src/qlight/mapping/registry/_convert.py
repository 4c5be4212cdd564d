"""ORM row → record conversion and input validation shared by the store and io modules."""

from __future__ import annotations

import dataclasses
import json
import math
from typing import TYPE_CHECKING, Any, TypeVar

from qlight._validation import check_finite, check_positive
from qlight.errors import ParameterError
from qlight.mapping.registry import models as m
from qlight.mapping.registry.records import (
    EMITTER_STATUSES,
    ChipRecord,
    EmitterRecord,
    EventRecord,
    ObservationRecord,
    SessionRecord,
    TransformRecord,
)

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

__all__ = [
    "check_json_object",
    "check_label",
    "check_status",
    "opt_finite",
    "opt_positive",
    "to_chip",
    "to_emitter",
    "to_event",
    "to_observation",
    "to_session",
    "to_transform",
]


def opt_finite(name: str, value: float | None) -> float | None:
    """``None`` or a finite float."""
    return None if value is None else check_finite(name, value)


def opt_positive(name: str, value: float | None) -> float | None:
    """``None`` or a finite float > 0."""
    return None if value is None else check_positive(name, value)


def check_label(name: str, value: str, max_len: int = 32) -> str:
    """A non-empty string of at most ``max_len`` characters."""
    if not isinstance(value, str) or not value.strip() or len(value) > max_len:
        raise ParameterError(name, value, f"must be a non-empty string of <= {max_len} characters")
    return value


def check_status(value: str) -> str:
    """One of :data:`~qlight.mapping.registry.records.EMITTER_STATUSES`."""
    if value not in EMITTER_STATUSES:
        raise ParameterError("status", value, f"must be one of {', '.join(EMITTER_STATUSES)}")
    return value


def check_json_object(name: str, value: Any) -> dict[str, Any]:
    """A dict that JSON can store exactly (string keys, no NaN or infinities)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ParameterError(name, value, "must be a JSON object (dict)")
    try:
        text = json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ParameterError(
            name, value, f"must be JSON-serialisable without NaN ({exc})"
        ) from None
    out: dict[str, Any] = json.loads(text)
    if out != value:
        raise ParameterError(name, value, "must have string keys and JSON values only")
    return out


def check_covariance(value: Any) -> list[list[float]] | None:
    """``None`` or a 4×4 nested list of finite floats (order tx, ty, rotation, scale)."""
    if value is None:
        return None
    try:
        rows = [[float(v) for v in row] for row in value]
    except (TypeError, ValueError):
        raise ParameterError("covariance", value, "must be a 4x4 matrix of numbers") from None
    if (
        len(rows) != 4
        or any(len(r) != 4 for r in rows)
        or not all(math.isfinite(v) for r in rows for v in r)
    ):
        raise ParameterError("covariance", value, "must be a 4x4 matrix of finite numbers")
    return rows


_R = TypeVar("_R", bound="DataclassInstance")


def _record(cls: type[_R], row: Any, **override: Any) -> _R:
    """A record of ``cls`` whose fields are the row's attributes of the same names."""
    values = {f.name: getattr(row, f.name) for f in dataclasses.fields(cls)}
    return cls(**(values | override))


def to_chip(row: m.Chip) -> ChipRecord:
    """Record of a chip row."""
    return _record(ChipRecord, row)


def to_session(row: m.Session) -> SessionRecord:
    """Record of a session row."""
    return _record(SessionRecord, row)


def to_emitter(row: m.Emitter) -> EmitterRecord:
    """Record of an emitter row."""
    return _record(EmitterRecord, row, fingerprint=dict(row.fingerprint))


def to_observation(row: m.Observation) -> ObservationRecord:
    """Record of an observation row."""
    return _record(ObservationRecord, row)


def to_transform(row: m.FrameTransform) -> TransformRecord:
    """Record of a frame-transform row."""
    cov = None if row.covariance is None else [list(r) for r in row.covariance]
    return _record(TransformRecord, row, covariance=cov)


def to_event(row: m.Event) -> EventRecord:
    """Record of an event row."""
    return _record(EventRecord, row, data=dict(row.data))
