"""the durable outbox between the call path and the worker processes, and the consumers' cursors

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07 21:40:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "event_outbox",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("dedupe_key", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("written_at_s", sa.Float(), nullable=False),
        sa.UniqueConstraint("dedupe_key", name="uq_event_outbox_dedupe_key"),
    )
    op.create_table(
        "outbox_cursors",
        sa.Column("consumer", sa.String(length=64), primary_key=True),
        sa.Column("last_id", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("holder", sa.String(length=120), nullable=True),
        sa.Column("held_until_s", sa.Float(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("outbox_cursors")
    op.drop_table("event_outbox")
