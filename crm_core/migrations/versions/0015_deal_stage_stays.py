"""each stage change knows when the deal left that stage (time in stage read by a range)

deal_stage_history.left_at (the next change's changed_at; NULL while the deal is still in that stage) and
deals.stage_entered_at (its latest change's changed_at, else its creation), each indexed for the funnel's time in stage
and stuck deals; the models keep them on every write (crm_core.stage_stays).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 15:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

BATCH = 5_000  # deals per UPDATE on SQLite


def upgrade() -> None:
    with op.batch_alter_table("deal_stage_history", schema=None) as batch_op:
        batch_op.add_column(sa.Column("left_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("deals", schema=None) as batch_op:
        batch_op.add_column(sa.Column("stage_entered_at", sa.DateTime(timezone=True), nullable=True))
    _backfill()
    # After the backfill: filling an indexed column costs index writes per row.
    op.create_index("ix_deal_stage_history_left", "deal_stage_history",
                    ["to_stage_id", "left_at", "changed_at", "deal_id"], unique=False)
    op.create_index("ix_deals_stage_entered", "deals", ["pipeline_id", "status", "stage_id", "stage_entered_at"],
                    unique=False)


def _backfill() -> None:
    """PostgreSQL: one set-based UPDATE per table (lead() over each deal's changes, max() per deal). SQLite: a range
    of deal ids at a time, each change's next one by a correlated min() over the deal's changes (ix on deal_id)."""
    conn = op.get_bind()
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text(
            "UPDATE deal_stage_history h SET left_at = n.next_at FROM (SELECT id, lead(changed_at) OVER"
            " (PARTITION BY deal_id ORDER BY changed_at, id) AS next_at FROM deal_stage_history) n"
            " WHERE h.id = n.id AND n.next_at IS NOT NULL"
        ))
        conn.execute(sa.text(
            "UPDATE deals d SET stage_entered_at = m.latest FROM (SELECT deal_id, max(changed_at) AS latest"
            " FROM deal_stage_history GROUP BY deal_id) m WHERE d.id = m.deal_id"
        ))
        conn.execute(sa.text("UPDATE deals SET stage_entered_at = created_at WHERE stage_entered_at IS NULL"))
        return
    top = conn.execute(sa.text("SELECT max(id) FROM deals")).scalar() or 0
    for low in range(0, top + 1, BATCH):
        window = {"low": low, "high": low + BATCH}
        conn.execute(sa.text(
            "UPDATE deal_stage_history SET left_at = (SELECT min(n.changed_at) FROM deal_stage_history n"
            " WHERE n.deal_id = deal_stage_history.deal_id AND (n.changed_at > deal_stage_history.changed_at"
            " OR (n.changed_at = deal_stage_history.changed_at AND n.id > deal_stage_history.id)))"
            " WHERE deal_id >= :low AND deal_id < :high"
        ), window)
        conn.execute(sa.text(
            "UPDATE deals SET stage_entered_at = coalesce((SELECT max(h.changed_at) FROM deal_stage_history h"
            " WHERE h.deal_id = deals.id), created_at) WHERE id >= :low AND id < :high"
        ), window)


def downgrade() -> None:
    op.drop_index("ix_deals_stage_entered", table_name="deals")
    op.drop_index("ix_deal_stage_history_left", table_name="deal_stage_history")
    with op.batch_alter_table("deals", schema=None) as batch_op:
        batch_op.drop_column("stage_entered_at")
    with op.batch_alter_table("deal_stage_history", schema=None) as batch_op:
        batch_op.drop_column("left_at")
