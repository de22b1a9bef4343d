"""call figures per quarter-hour kept on write: call_sums_quarter (the sums), call_sums_changes (the quarter-hours whose
calls changed, appended by triggers on activities) and call_sums_basis (the settings the sums were made with)

Nothing is backfilled here: the sums depend on the service's [reports] settings, so the service builds them on start
(callcenter.reports.call_rollup.CallSumsKeeper) and reports add the calls up themselves until then.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 15:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from crm_core.call_rollup_triggers import create_triggers, drop_triggers

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "call_sums_quarter",
        sa.Column("grouping", sa.String(length=8), nullable=False),
        sa.Column("quarter_s", sa.BigInteger(), nullable=False),
        sa.Column("routed_team", sa.String(length=120), nullable=False),
        sa.Column("team_did", sa.String(length=64), nullable=False),
        sa.Column("group_key", sa.String(length=120), nullable=False),
        *[sa.Column(name, sa.Integer(), nullable=False) for name in (
            "offered", "answered", "missed", "abandoned", "short_abandoned")],
        sa.Column("abandon_wait_sum_s", sa.Double(), nullable=False),
        sa.Column("abandon_wait_max_s", sa.Double(), nullable=True),
        sa.Column("answered_within_threshold", sa.Integer(), nullable=False),
        *[sa.Column(name, sa.Double(), nullable=False) for name in (
            "answered_wait_sum_s", "talk_sum_s", "wrapup_sum_s")],
        *[sa.Column(name, sa.Integer(), nullable=False) for name in (
            "transferred", "fcr_calls", "fcr_resolved", "approximate")],
        sa.PrimaryKeyConstraint("grouping", "quarter_s", "routed_team", "team_did", "group_key",
                                name=op.f("pk_call_sums_quarter")),
    )
    op.create_table(
        "call_sums_changes",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("quarter_s", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_call_sums_changes")),
    )
    op.create_index("ix_call_sums_changes_quarter_s", "call_sums_changes", ["quarter_s"], unique=False)
    op.create_table(
        "call_sums_basis",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("threshold_s", sa.Double(), nullable=False),
        sa.Column("short_abandon_s", sa.Double(), nullable=False),
        sa.Column("fcr_window_s", sa.Double(), nullable=False),
        sa.Column("built_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_call_sums_basis")),
    )
    create_triggers(op.get_bind())


def downgrade() -> None:
    drop_triggers(op.get_bind())
    op.drop_table("call_sums_basis")
    op.drop_index("ix_call_sums_changes_quarter_s", table_name="call_sums_changes")
    op.drop_table("call_sums_changes")
    op.drop_table("call_sums_quarter")
