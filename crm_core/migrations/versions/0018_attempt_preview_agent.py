"""a dial attempt's previewing agent: the extension of the agent who dialled it from a preview card, so the campaign
AGI on any instance gives that agent the answered call

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 19:10:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("dialer_attempts", sa.Column("preview_agent", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("dialer_attempts") as batch:
        batch.drop_column("preview_agent")
