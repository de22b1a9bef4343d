"""callbacks: number, merged missed calls, attempts; one open callback per number

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 09:45:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

OPEN_CALLBACK = sa.text("status = 'open' AND kind = 'callback'")


def upgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("callback_e164", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("missed_count", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("attempt_count", sa.Integer(), nullable=False, server_default="0"))
    op.create_index(
        "uq_tasks_open_callback", "tasks", ["callback_e164"], unique=True,
        sqlite_where=OPEN_CALLBACK, postgresql_where=OPEN_CALLBACK,
    )


def downgrade() -> None:
    op.drop_index("uq_tasks_open_callback", table_name="tasks")
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_column("attempt_count")
        batch_op.drop_column("missed_count")
        batch_op.drop_column("callback_e164")
