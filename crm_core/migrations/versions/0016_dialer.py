"""dialer campaigns, their attempts and do-not-call lists

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 15:30:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = sa.DateTime(timezone=True)
SYSTEM_WIDE = sa.text("campaign_id IS NULL")


def upgrade() -> None:
    op.create_table(
        "dialer_campaigns",
        sa.Column("id", ID, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("saved_report_id", ID, nullable=True),
        sa.Column("team_id", ID, nullable=True),
        sa.Column("mode", sa.String(length=32), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("state_reason", sa.String(length=300), nullable=True),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("created_by_id", ID, nullable=True),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("updated_at", WHEN, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["saved_report_id"], ["saved_reports.id"],
                                name=op.f("fk_dialer_campaigns_saved_report_id_saved_reports"), ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"], name=op.f("fk_dialer_campaigns_team_id_teams"),
                                ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["created_by_id"], ["users.id"], name=op.f("fk_dialer_campaigns_created_by_id_users"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dialer_campaigns")),
    )
    op.create_index(op.f("ix_dialer_campaigns_saved_report_id"), "dialer_campaigns", ["saved_report_id"])
    op.create_index(op.f("ix_dialer_campaigns_team_id"), "dialer_campaigns", ["team_id"])
    op.create_index("ix_dialer_campaigns_state_priority", "dialer_campaigns", ["state", "priority"])

    op.create_table(
        "dialer_dnc",
        sa.Column("id", ID, nullable=False),
        sa.Column("e164", sa.String(length=20), nullable=False),
        sa.Column("campaign_id", ID, nullable=True),
        sa.Column("reason", sa.String(length=300), nullable=False),
        sa.Column("added_by_id", ID, nullable=True),
        sa.Column("added_at", WHEN, nullable=False),
        sa.ForeignKeyConstraint(["campaign_id"], ["dialer_campaigns.id"],
                                name=op.f("fk_dialer_dnc_campaign_id_dialer_campaigns"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["added_by_id"], ["users.id"], name=op.f("fk_dialer_dnc_added_by_id_users"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dialer_dnc")),
        sa.UniqueConstraint("e164", "campaign_id", name="uq_dialer_dnc_e164_campaign_id"),
    )
    op.create_index(op.f("ix_dialer_dnc_campaign_id"), "dialer_dnc", ["campaign_id"])
    op.create_index("uq_dialer_dnc_system_e164", "dialer_dnc", ["e164"], unique=True,
                    postgresql_where=SYSTEM_WIDE, sqlite_where=SYSTEM_WIDE)

    op.create_table(
        "dialer_attempts",
        sa.Column("id", ID, nullable=False),
        sa.Column("campaign_id", ID, nullable=False),
        sa.Column("e164", sa.String(length=20), nullable=False),
        sa.Column("contact_id", ID, nullable=True),
        sa.Column("lead_id", ID, nullable=True),
        sa.Column("attempt_no", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("outcome", sa.String(length=32), nullable=True),
        sa.Column("amd_result", sa.String(length=32), nullable=True),
        sa.Column("abandoned", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("dialled_at", WHEN, nullable=True),
        sa.Column("answered_at", WHEN, nullable=True),
        sa.Column("ended_at", WHEN, nullable=True),
        sa.Column("agent_id", ID, nullable=True),
        sa.Column("activity_id", ID, nullable=True),
        sa.Column("action_id", sa.String(length=64), nullable=True),
        sa.Column("refusal_reason", sa.String(length=32), nullable=True),
        sa.Column("created_at", WHEN, nullable=False),
        sa.ForeignKeyConstraint(["campaign_id"], ["dialer_campaigns.id"],
                                name=op.f("fk_dialer_attempts_campaign_id_dialer_campaigns"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["contact_id"], ["contacts.id"], name=op.f("fk_dialer_attempts_contact_id_contacts"),
                                ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["lead_id"], ["leads.id"], name=op.f("fk_dialer_attempts_lead_id_leads"),
                                ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["agent_id"], ["users.id"], name=op.f("fk_dialer_attempts_agent_id_users"),
                                ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["activity_id"], ["activities.id"],
                                name=op.f("fk_dialer_attempts_activity_id_activities"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dialer_attempts")),
        sa.UniqueConstraint("action_id", name=op.f("uq_dialer_attempts_action_id")),
        sa.UniqueConstraint("campaign_id", "e164", "attempt_no", name="uq_dialer_attempts_campaign_id_e164_attempt_no"),
    )
    op.create_index(op.f("ix_dialer_attempts_contact_id"), "dialer_attempts", ["contact_id"])
    op.create_index(op.f("ix_dialer_attempts_lead_id"), "dialer_attempts", ["lead_id"])
    op.create_index("ix_dialer_attempts_campaign_ended", "dialer_attempts", ["campaign_id", "ended_at"])
    op.create_index("ix_dialer_attempts_e164_ended", "dialer_attempts", ["e164", "ended_at"])


def downgrade() -> None:
    op.drop_table("dialer_attempts")  # its indexes go with it
    op.drop_table("dialer_dnc")
    op.drop_table("dialer_campaigns")
