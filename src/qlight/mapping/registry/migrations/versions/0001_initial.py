"""Initial schema: chips, sessions, emitters, observations, frame transforms.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the version-1 tables."""
    op.create_table(
        "chips",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("description", sa.String(1000), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "sessions",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "chip_id", sa.String(64), sa.ForeignKey("chips.id", ondelete="RESTRICT"), nullable=False
        ),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("ended_at", sa.DateTime(), nullable=True),
        sa.Column("notes", sa.String(1000), nullable=False),
    )
    op.create_index("ix_sessions_chip_id", "sessions", ["chip_id"])
    op.create_table(
        "emitters",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column(
            "chip_id", sa.String(64), sa.ForeignKey("chips.id", ondelete="RESTRICT"), nullable=False
        ),
        sa.Column("x_chip_m", sa.Float(), nullable=False),
        sa.Column("y_chip_m", sa.Float(), nullable=False),
        sa.Column("z_chip_m", sa.Float(), nullable=False),
        sa.Column("sigma_x_m", sa.Float(), nullable=False),
        sa.Column("sigma_y_m", sa.Float(), nullable=False),
        sa.Column("sigma_z_m", sa.Float(), nullable=True),
        sa.Column("fingerprint", sa.JSON(), nullable=False),
        sa.Column("quality_score", sa.Float(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column(
            "discovered_session_id",
            sa.Integer(),
            sa.ForeignKey("sessions.id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint("status IN ('active', 'bleached', 'retired')", name="ck_emitter_status"),
    )
    op.create_index(
        "ix_emitters_chip_status_score", "emitters", ["chip_id", "status", "quality_score"]
    )
    op.create_table(
        "observations",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "emitter_id",
            sa.String(64),
            sa.ForeignKey("emitters.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "session_id",
            sa.Integer(),
            sa.ForeignKey("sessions.id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column("observed_at", sa.DateTime(), nullable=False),
        sa.Column("x_stage_m", sa.Float(), nullable=True),
        sa.Column("y_stage_m", sa.Float(), nullable=True),
        sa.Column("z_stage_m", sa.Float(), nullable=True),
        sa.Column("x_chip_m", sa.Float(), nullable=True),
        sa.Column("y_chip_m", sa.Float(), nullable=True),
        sa.Column("sigma_x_m", sa.Float(), nullable=True),
        sa.Column("sigma_y_m", sa.Float(), nullable=True),
        sa.Column("count_rate_per_s", sa.Float(), nullable=True),
        sa.Column("g2_0", sa.Float(), nullable=True),
    )
    op.create_index("ix_observations_emitter_id", "observations", ["emitter_id"])
    op.create_index("ix_observations_session_id", "observations", ["session_id"])
    op.create_table(
        "frame_transforms",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "session_id",
            sa.Integer(),
            sa.ForeignKey("sessions.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("tx_m", sa.Float(), nullable=False),
        sa.Column("ty_m", sa.Float(), nullable=False),
        sa.Column("rotation_rad", sa.Float(), nullable=False),
        sa.Column("scale", sa.Float(), nullable=False),
        sa.Column("covariance", sa.JSON(), nullable=True),
        sa.Column("method", sa.String(32), nullable=False),
        sa.Column("residual_m", sa.Float(), nullable=True),
        sa.Column("n_matches", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_frame_transforms_session_id", "frame_transforms", ["session_id"])


def downgrade() -> None:
    """Drop every table."""
    for table in ("frame_transforms", "observations", "emitters", "sessions", "chips"):
        op.drop_table(table)
