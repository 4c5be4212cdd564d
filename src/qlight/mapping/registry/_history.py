"""Registry operations on the history: observations, frame transforms, events."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from qlight._validation import check_finite, check_positive
from qlight.errors import ParameterError
from qlight.mapping.registry import models as m
from qlight.mapping.registry._base import RegistryBase, when
from qlight.mapping.registry._convert import (
    check_covariance,
    check_json_object,
    check_label,
    opt_finite,
    opt_positive,
    to_emitter,
    to_event,
    to_observation,
    to_transform,
)
from qlight.mapping.registry.records import (
    EmitterHistory,
    EventRecord,
    ObservationRecord,
    TransformRecord,
)

__all__ = ["HistoryOps"]


class HistoryOps(RegistryBase):
    """Observations, transforms, events and emitter histories (part of ``Registry``)."""

    def record_observation(
        self,
        emitter_id: str,
        *,
        session_id: int | None = None,
        outcome: str = "ok",
        observed_at: datetime | None = None,
        x_stage_m: float | None = None,
        y_stage_m: float | None = None,
        z_stage_m: float | None = None,
        x_chip_m: float | None = None,
        y_chip_m: float | None = None,
        sigma_x_m: float | None = None,
        sigma_y_m: float | None = None,
        count_rate_per_s: float | None = None,
        g2_0: float | None = None,
    ) -> ObservationRecord:
        """Record one measurement of an emitter (position, rate, g2(0), outcome)."""
        floats = {
            "x_stage_m": x_stage_m,
            "y_stage_m": y_stage_m,
            "z_stage_m": z_stage_m,
            "x_chip_m": x_chip_m,
            "y_chip_m": y_chip_m,
            "g2_0": g2_0,
        }
        values: dict[str, Any] = {k: opt_finite(k, v) for k, v in floats.items()}
        values["sigma_x_m"] = opt_positive("sigma_x_m", sigma_x_m)
        values["sigma_y_m"] = opt_positive("sigma_y_m", sigma_y_m)
        rate = opt_finite("count_rate_per_s", count_rate_per_s)
        if rate is not None and rate < 0:
            raise ParameterError("count_rate_per_s", count_rate_per_s, "must be >= 0")
        values["count_rate_per_s"] = rate
        check_label("outcome", outcome)
        with self._write() as s:
            self._need(s, m.Emitter, emitter_id, "emitter")
            if session_id is not None:
                self._need(s, m.Session, session_id, "session")
            row = m.Observation(
                emitter_id=emitter_id,
                session_id=session_id,
                outcome=outcome,
                observed_at=when("observed_at", observed_at),
                **values,
            )
            s.add(row)
            s.flush()
            return to_observation(row)

    def record_transform(
        self,
        session_id: int,
        *,
        tx_m: float,
        ty_m: float,
        rotation_rad: float,
        scale: float = 1.0,
        method: str,
        covariance: list[list[float]] | None = None,
        residual_m: float | None = None,
        n_matches: int | None = None,
    ) -> TransformRecord:
        """Record the chip → stage transform found in a session (see :class:`TransformRecord`)."""
        values = {
            "tx_m": check_finite("tx_m", tx_m),
            "ty_m": check_finite("ty_m", ty_m),
            "rotation_rad": check_finite("rotation_rad", rotation_rad),
            "scale": check_positive("scale", scale),
            "covariance": check_covariance(covariance),
            "method": check_label("method", method),
            "residual_m": opt_finite("residual_m", residual_m),
        }
        if n_matches is not None and (not isinstance(n_matches, int) or n_matches < 0):
            raise ParameterError("n_matches", n_matches, "must be an integer >= 0")
        with self._write() as s:
            self._need(s, m.Session, session_id, "session")
            row = m.FrameTransform(
                session_id=session_id, n_matches=n_matches, created_at=m.utc_now(), **values
            )
            s.add(row)
            s.flush()
            return to_transform(row)

    def transforms(self, session_id: int | None = None) -> list[TransformRecord]:
        """Frame transforms, oldest first, optionally of one session."""
        q = select(m.FrameTransform).order_by(m.FrameTransform.id)
        if session_id is not None:
            q = q.where(m.FrameTransform.session_id == session_id)
        with self._read() as s:
            return [to_transform(r) for r in s.scalars(q)]

    def latest_transform(self, chip_id: str) -> TransformRecord | None:
        """The most recently recorded transform of any session on ``chip_id``."""
        q = (
            select(m.FrameTransform)
            .join(m.Session, m.Session.id == m.FrameTransform.session_id)
            .where(m.Session.chip_id == chip_id)
            .order_by(m.FrameTransform.id.desc())
            .limit(1)
        )
        with self._read() as s:
            row = s.scalars(q).first()
            return None if row is None else to_transform(row)

    def record_event(
        self,
        kind: str,
        message: str,
        *,
        session_id: int | None = None,
        emitter_id: str | None = None,
        data: dict[str, Any] | None = None,
    ) -> EventRecord:
        """Record an event or outcome and its reason (``"skipped"``, ``"fallback"``, ...)."""
        check_label("kind", kind)
        payload = check_json_object("data", data)
        with self._write() as s:
            if session_id is not None:
                self._need(s, m.Session, session_id, "session")
            if emitter_id is not None:
                self._need(s, m.Emitter, emitter_id, "emitter")
            row = m.Event(
                kind=kind,
                message=message,
                session_id=session_id,
                emitter_id=emitter_id,
                data=payload,
                created_at=m.utc_now(),
            )
            s.add(row)
            s.flush()
            return to_event(row)

    def events(
        self, *, session_id: int | None = None, emitter_id: str | None = None
    ) -> list[EventRecord]:
        """Events, oldest first, optionally of one session and/or emitter."""
        q = select(m.Event).order_by(m.Event.id)
        if session_id is not None:
            q = q.where(m.Event.session_id == session_id)
        if emitter_id is not None:
            q = q.where(m.Event.emitter_id == emitter_id)
        with self._read() as s:
            return [to_event(r) for r in s.scalars(q)]

    def history(self, emitter_id: str) -> EmitterHistory:
        """An emitter with all its observations and events, oldest first."""
        with self._read() as s:
            row = self._need(s, m.Emitter, emitter_id, "emitter")
            obs = s.scalars(
                select(m.Observation)
                .where(m.Observation.emitter_id == emitter_id)
                .order_by(m.Observation.observed_at, m.Observation.id)
            )
            ev = s.scalars(
                select(m.Event).where(m.Event.emitter_id == emitter_id).order_by(m.Event.id)
            )
            return EmitterHistory(
                to_emitter(row), [to_observation(o) for o in obs], [to_event(e) for e in ev]
            )
