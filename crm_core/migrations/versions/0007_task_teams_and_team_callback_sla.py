"""tasks belong to a team (its pool: who may see and hand out unassigned tasks) and teams may set their own callback SLA

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26 09:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

# Tasks written before teams: the assignee's team, else the creator's. Unassigned callbacks written by the service
# (no creator) stay without a team, visible to admins only, until a new missed call from the number (the CRM
# writer gives it that call's team) or an admin (PATCH team_id) places them.
BACKFILL = (
    (
        "UPDATE tasks SET team_id = (SELECT users.team_id FROM users WHERE users.id = tasks.assignee_id)"
        " WHERE assignee_id IS NOT NULL"
    ),
    (
        "UPDATE tasks SET team_id = (SELECT users.team_id FROM users WHERE users.id = tasks.created_by_id)"
        " WHERE team_id IS NULL AND created_by_id IS NOT NULL"
    ),
)


def upgrade() -> None:
    with op.batch_alter_table("teams", schema=None) as batch_op:
        batch_op.add_column(sa.Column("callback_sla_s", sa.Double(), nullable=True))
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("team_id", ID, nullable=True))
        batch_op.create_foreign_key(batch_op.f("fk_tasks_team_id_teams"), "teams", ["team_id"], ["id"], ondelete="SET NULL")
        batch_op.create_index(batch_op.f("ix_tasks_team_id"), ["team_id"], unique=False)
    for statement in BACKFILL:
        op.execute(sa.text(statement))


def downgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tasks_team_id"))
        batch_op.drop_constraint(batch_op.f("fk_tasks_team_id_teams"), type_="foreignkey")
        batch_op.drop_column("team_id")
    with op.batch_alter_table("teams", schema=None) as batch_op:
        batch_op.drop_column("callback_sla_s")
