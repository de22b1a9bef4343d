"""call dispositions: the agent's wrap-up of a call on its activity (notes go in the body)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 09:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("activities", schema=None) as batch_op:
        batch_op.add_column(sa.Column("disposition", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("disposition_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("activities", schema=None) as batch_op:
        batch_op.drop_column("disposition_at")
        batch_op.drop_column("disposition")
