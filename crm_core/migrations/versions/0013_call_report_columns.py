"""call activities carry what the reports add up as columns (routed team, agent, queue, wrap-up, transferred, estimated end, the
next call from the same number), derived from call_meta, so call figures are one GROUP BY in the database

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 12:10:00
"""
from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

from crm_core.call_facts import derived_columns

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

BATCH = 5_000


def upgrade() -> None:
    with op.batch_alter_table("activities", schema=None) as batch_op:
        batch_op.add_column(sa.Column("routed_team", sa.String(length=120), nullable=True))
        batch_op.add_column(sa.Column("agent_ext", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("queue", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("wrapup_s", sa.Double(), nullable=True))
        batch_op.add_column(sa.Column("transferred", sa.Boolean(), server_default=sa.text("false"), nullable=False))
        batch_op.add_column(sa.Column("end_estimated", sa.Boolean(), server_default=sa.text("false"), nullable=False))
        batch_op.add_column(sa.Column("next_call_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index("ix_activities_from_started", ["from_e164", "started_at"], unique=False)
    _backfill()


COLUMNS = ("routed_team", "agent_ext", "queue", "wrapup_s", "transferred", "end_estimated")


def _backfill() -> None:
    """Calls logged before: their columns from their call_meta (the same function the models apply on every write),
    a batch at a time (one UPDATE per batch on PostgreSQL), and each inbound call's next call from the same number."""
    conn = op.get_bind()
    postgres = conn.dialect.name == "postgresql"
    last_id = 0
    while True:
        rows = conn.execute(
            sa.text("SELECT id, result, call_meta FROM activities WHERE kind = 'call' AND id > :last ORDER BY id LIMIT :n"),
            {"last": last_id, "n": BATCH},
        ).fetchall()
        if not rows:
            break
        last_id = rows[-1][0]
        values = []
        for activity_id, result, meta in rows:
            derived = derived_columns("call", result, json.loads(meta) if isinstance(meta, str) else meta)
            if any(derived.values()):  # all empty: the defaults the new columns already hold
                values.append({"id": activity_id, **derived})
        if not values:
            continue
        if postgres:  # one statement per batch, the same each time: arrays unnested and joined on id
            conn.execute(sa.text(
                "UPDATE activities a SET routed_team = v.rt, agent_ext = v.ag, queue = v.qu, wrapup_s = v.wr,"
                " transferred = v.tr, end_estimated = v.ee FROM unnest(CAST(:id AS BIGINT[]), CAST(:rt AS VARCHAR[]),"
                " CAST(:ag AS VARCHAR[]), CAST(:qu AS VARCHAR[]), CAST(:wr AS DOUBLE PRECISION[]),"
                " CAST(:tr AS BOOLEAN[]), CAST(:ee AS BOOLEAN[])) AS v(id, rt, ag, qu, wr, tr, ee) WHERE a.id = v.id"
            ), {key: [row[name] for row in values] for key, name in zip(
                ("id", "rt", "ag", "qu", "wr", "tr", "ee"), ("id", *COLUMNS), strict=True)})
        else:
            conn.execute(sa.text(
                "UPDATE activities SET " + ", ".join(f"{c} = :{c}" for c in COLUMNS) + " WHERE id = :id"), values)
    conn.execute(sa.text(
        "UPDATE activities SET next_call_at = (SELECT min(b.started_at) FROM activities b"
        " WHERE b.kind = 'call' AND b.direction = 'inbound' AND b.from_e164 = activities.from_e164"
        " AND b.started_at > activities.started_at)"
        " WHERE kind = 'call' AND direction = 'inbound' AND from_e164 IS NOT NULL"
    ))


def downgrade() -> None:
    with op.batch_alter_table("activities", schema=None) as batch_op:
        batch_op.drop_index("ix_activities_from_started")
        for column in ("next_call_at", "end_estimated", "transferred", "wrapup_s", "queue", "agent_ext",
                       "routed_team"):
            batch_op.drop_column(column)
