"""agent state spells for occupancy and pause time by reason

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 11:40:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "agent_state_spells",
        sa.Column("id", ID, nullable=False),
        sa.Column("agent", sa.String(length=32), nullable=False),
        sa.Column("user_id", ID, nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=120), nullable=True),
        sa.Column("call_id", sa.String(length=64), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_agent_state_spells_user_id_users"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent_state_spells")),
        sa.UniqueConstraint("agent", "started_at", name="uq_agent_state_spells_agent_started_at"),
    )
    op.create_index("ix_agent_state_spells_started_at", "agent_state_spells", ["started_at"], unique=False)
    op.create_index(op.f("ix_agent_state_spells_user_id"), "agent_state_spells", ["user_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_agent_state_spells_user_id"), table_name="agent_state_spells")
    op.drop_index("ix_agent_state_spells_started_at", table_name="agent_state_spells")
    op.drop_table("agent_state_spells")
