"""sales reporting: deal lost reasons, indexes for the funnel (a period's stage changes) and won / lost in a period

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 11:40:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("deals", schema=None) as batch_op:
        batch_op.add_column(sa.Column("lost_reason", sa.String(length=200), nullable=True))
        batch_op.create_index(batch_op.f("ix_deals_closed_at"), ["closed_at"], unique=False)
    with op.batch_alter_table("deal_stage_history", schema=None) as batch_op:
        batch_op.create_index("ix_deal_stage_history_period", ["changed_at", "deal_id", "to_stage_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("deal_stage_history", schema=None) as batch_op:
        batch_op.drop_index("ix_deal_stage_history_period")
    with op.batch_alter_table("deals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_deals_closed_at"))
        batch_op.drop_column("lost_reason")
