"""inbound call scripts per team, by deal stage or client segment (tag); a callback task's dialer campaign

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 18:20:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "call_scripts",
        sa.Column("id", ID, nullable=False),
        sa.Column("team_id", ID, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("stage_id", ID, nullable=True),
        sa.Column("segment", sa.String(length=64), nullable=True),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("created_by_id", ID, nullable=True),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("updated_at", WHEN, nullable=False),
        sa.CheckConstraint("(CASE WHEN stage_id IS NULL THEN 0 ELSE 1 END)"
                           " + (CASE WHEN segment IS NULL THEN 0 ELSE 1 END) = 1",
                           name=op.f("ck_call_scripts_one_key")),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"], name=op.f("fk_call_scripts_team_id_teams"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["stage_id"], ["pipeline_stages.id"],
                                name=op.f("fk_call_scripts_stage_id_pipeline_stages"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["created_by_id"], ["users.id"], name=op.f("fk_call_scripts_created_by_id_users"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_call_scripts")),
        sa.UniqueConstraint("team_id", "stage_id", name="uq_call_scripts_team_id_stage_id"),
        sa.UniqueConstraint("team_id", "segment", name="uq_call_scripts_team_id_segment"),
    )
    op.create_index(op.f("ix_call_scripts_team_id"), "call_scripts", ["team_id"])
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("campaign_id", ID, nullable=True))
        batch_op.create_foreign_key(batch_op.f("fk_tasks_campaign_id_dialer_campaigns"), "dialer_campaigns",
                                    ["campaign_id"], ["id"], ondelete="SET NULL")
        batch_op.create_index(batch_op.f("ix_tasks_campaign_id"), ["campaign_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tasks_campaign_id"))
        batch_op.drop_constraint(batch_op.f("fk_tasks_campaign_id_dialer_campaigns"), type_="foreignkey")
        batch_op.drop_column("campaign_id")
    op.drop_table("call_scripts")
