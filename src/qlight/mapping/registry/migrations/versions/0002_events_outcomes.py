"""Events and outcomes: the ``events`` table and ``observations.outcome``.

Existing observations get the outcome ``"ok"``.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add ``observations.outcome`` and the ``events`` table."""
    with op.batch_alter_table("observations") as batch:
        batch.add_column(sa.Column("outcome", sa.String(32), nullable=False, server_default="ok"))
    op.create_table(
        "events",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("message", sa.String(2000), nullable=False),
        sa.Column(
            "session_id",
            sa.Integer(),
            sa.ForeignKey("sessions.id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column(
            "emitter_id",
            sa.String(64),
            sa.ForeignKey("emitters.id", ondelete="CASCADE"),
            nullable=True,
        ),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_events_kind", "events", ["kind"])
    op.create_index("ix_events_session_id", "events", ["session_id"])
    op.create_index("ix_events_emitter_id", "events", ["emitter_id"])


def downgrade() -> None:
    """Drop the ``events`` table and ``observations.outcome``."""
    op.drop_table("events")
    with op.batch_alter_table("observations") as batch:
        batch.drop_column("outcome")
