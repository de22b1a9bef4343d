"""a call belongs to its team (activities.team_id: whose supervisors see it while no member of theirs took it);
one-time tickets for WebSockets and login links (auth_tickets), and browser sessions made from a login link
(api_tokens.parent_id)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 09:45:00
"""
from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("activities", schema=None) as batch_op:
        batch_op.add_column(sa.Column("team_id", ID, nullable=True))
        batch_op.create_foreign_key(batch_op.f("fk_activities_team_id_teams"), "teams", ["team_id"], ["id"], ondelete="SET NULL")
        batch_op.create_index(batch_op.f("ix_activities_team_id"), ["team_id"], unique=False)
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("parent_id", ID, nullable=True))
        batch_op.create_foreign_key(batch_op.f("fk_api_tokens_parent_id_api_tokens"), "api_tokens", ["parent_id"], ["id"], ondelete="CASCADE")
        batch_op.create_index(batch_op.f("ix_api_tokens_parent_id"), ["parent_id"], unique=False)
    op.create_table(
        "auth_tickets",
        sa.Column("id", ID, nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("token_id", ID, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["token_id"], ["api_tokens.id"], name=op.f("fk_auth_tickets_token_id_api_tokens"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_auth_tickets")),
        sa.UniqueConstraint("secret_hash", name=op.f("uq_auth_tickets_secret_hash")),
    )
    op.create_index(op.f("ix_auth_tickets_token_id"), "auth_tickets", ["token_id"], unique=False)
    op.create_index(op.f("ix_auth_tickets_expires_at"), "auth_tickets", ["expires_at"], unique=False)
    _backfill_call_teams()


def _backfill_call_teams() -> None:
    """Calls logged before: the team of their last routing decision (call_meta.routing), as the CRM team of that name.
    A call with no decision stays without a team (admins only): the DID's team lives in the service's settings,
    which a migration does not read."""
    conn = op.get_bind()
    teams = {name: team_id for team_id, name in conn.execute(sa.text("SELECT id, name FROM teams"))}
    if not teams:
        return
    rows = conn.execute(sa.text("SELECT id, call_meta FROM activities WHERE kind = 'call' AND call_meta IS NOT NULL"))
    for activity_id, meta in rows.fetchall():
        meta = json.loads(meta) if isinstance(meta, str) else meta
        decisions = meta.get("routing") if isinstance(meta, dict) else None
        names = [d.get("team") for d in decisions or () if isinstance(d, dict) and d.get("team")]
        if names and names[-1] in teams:
            conn.execute(sa.text("UPDATE activities SET team_id = :t WHERE id = :id"), {"t": teams[names[-1]], "id": activity_id})


def downgrade() -> None:
    op.drop_index(op.f("ix_auth_tickets_expires_at"), table_name="auth_tickets")
    op.drop_index(op.f("ix_auth_tickets_token_id"), table_name="auth_tickets")
    op.drop_table("auth_tickets")
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_tokens_parent_id"))
        batch_op.drop_constraint(batch_op.f("fk_api_tokens_parent_id_api_tokens"), type_="foreignkey")
        batch_op.drop_column("parent_id")
    with op.batch_alter_table("activities", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_activities_team_id"))
        batch_op.drop_constraint(batch_op.f("fk_activities_team_id_teams"), type_="foreignkey")
        batch_op.drop_column("team_id")
