"""A small, fully populated registry shared by the registry tests."""

from __future__ import annotations

from datetime import UTC, datetime

from qlight.mapping.registry import Registry


def populate(reg: Registry) -> None:
    """Two chips, two sessions, four emitters, observations, a transform and events."""
    reg.add_chip("GaN-A", description="first chip")
    reg.add_chip("GaN-B")
    s1 = reg.start_session(
        "GaN-A", kind="discovery", notes="first boot", started_at=datetime(2026, 1, 2, tzinfo=UTC)
    )
    e1 = reg.add_emitter(
        "GaN-A",
        x_chip_m=12.345678901234e-6,
        y_chip_m=-3.3e-6,
        z_chip_m=1e-7,
        sigma_x_m=4.2e-9,
        sigma_y_m=5.1e-9,
        sigma_z_m=3e-8,
        fingerprint={"zpl_nm": 611.25, "g2_0": 0.12, "neighbours_m": [[2.1e-6, 0.5]]},
        quality_score=0.91,
        session_id=s1.id,
    )
    e2 = reg.add_emitter(
        "GaN-A", x_chip_m=1e-6, y_chip_m=2e-6, sigma_x_m=1e-8, sigma_y_m=1e-8, quality_score=0.5
    )
    reg.add_emitter(
        "GaN-A", x_chip_m=0.0, y_chip_m=0.0, sigma_x_m=1e-8, sigma_y_m=1e-8, quality_score=None
    )
    reg.add_emitter(
        "GaN-B", x_chip_m=5e-6, y_chip_m=5e-6, sigma_x_m=2e-8, sigma_y_m=2e-8, quality_score=0.99
    )
    reg.record_observation(
        e1.id,
        session_id=s1.id,
        x_stage_m=1.1e-3,
        y_stage_m=2.2e-3,
        z_stage_m=3e-6,
        x_chip_m=e1.x_chip_m,
        y_chip_m=e1.y_chip_m,
        sigma_x_m=4e-9,
        sigma_y_m=5e-9,
        count_rate_per_s=1.5e5,
        g2_0=0.12,
        outcome="verified",
    )
    reg.record_transform(
        s1.id,
        tx_m=3.1e-5,
        ty_m=-1.2e-5,
        rotation_rad=0.01,
        scale=1.0001,
        covariance=[[1e-18 if i == j else 0.0 for j in range(4)] for i in range(4)],
        method="marks",
        residual_m=2e-8,
        n_matches=12,
    )
    s2 = reg.start_session("GaN-A", kind="return")
    reg.record_observation(e1.id, session_id=s2.id, outcome="ok", count_rate_per_s=1.4e5)
    reg.set_status(e2.id, "bleached", reason="no counts above background", session_id=s2.id)
    reg.record_event("skipped", "g2(0)=0.7 > 0.5", session_id=s2.id, data={"g2_0": 0.7})
    reg.end_session(s2.id)
