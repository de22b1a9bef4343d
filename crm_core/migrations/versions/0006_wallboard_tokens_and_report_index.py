"""restricted API tokens (scope + team ids: read-only wallboard links for a TV) and the reports' period index

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25 12:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("scope", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("team_ids", sa.JSON(), nullable=True))
    with op.batch_alter_table("activities", schema=None) as batch_op:
        batch_op.create_index("ix_activities_kind_started", ["kind", "started_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("activities", schema=None) as batch_op:
        batch_op.drop_index("ix_activities_kind_started")
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_column("team_ids")
        batch_op.drop_column("scope")
