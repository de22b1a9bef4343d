"""saved reports, their versions and shares; consent and do-not-call flags on contacts and leads

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 11:40:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
FLAGGED = ("contacts", "leads")


def upgrade() -> None:
    for table in FLAGGED:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("do_not_call", sa.Boolean(), server_default=sa.false(), nullable=False))
            batch_op.add_column(sa.Column("call_consent", sa.String(length=32), server_default="unknown", nullable=False))
            batch_op.add_column(sa.Column("tags", sa.JSON(), server_default=sa.text("'[]'"), nullable=False))
    op.create_table(
        "saved_reports",
        sa.Column("id", ID, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("owner_id", ID, nullable=False),
        sa.Column("team_id", ID, nullable=True),
        sa.Column("entity", sa.String(length=32), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["owner_id"], ["users.id"], name=op.f("fk_saved_reports_owner_id_users"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"], name=op.f("fk_saved_reports_team_id_teams"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_saved_reports")),
    )
    op.create_index(op.f("ix_saved_reports_owner_id"), "saved_reports", ["owner_id"], unique=False)
    op.create_index(op.f("ix_saved_reports_team_id"), "saved_reports", ["team_id"], unique=False)
    op.create_table(
        "saved_report_versions",
        sa.Column("id", ID, nullable=False),
        sa.Column("report_id", ID, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("team_id", ID, nullable=True),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("changed_by_id", ID, nullable=True),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["report_id"], ["saved_reports.id"], name=op.f("fk_saved_report_versions_report_id_saved_reports"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["changed_by_id"], ["users.id"], name=op.f("fk_saved_report_versions_changed_by_id_users"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_saved_report_versions")),
        sa.UniqueConstraint("report_id", "version", name="uq_saved_report_versions_report_id_version"),
    )
    op.create_index(op.f("ix_saved_report_versions_report_id"), "saved_report_versions", ["report_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_saved_report_versions_report_id"), table_name="saved_report_versions")
    op.drop_table("saved_report_versions")
    op.drop_index(op.f("ix_saved_reports_team_id"), table_name="saved_reports")
    op.drop_index(op.f("ix_saved_reports_owner_id"), table_name="saved_reports")
    op.drop_table("saved_reports")
    for table in FLAGGED:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("tags")
            batch_op.drop_column("call_consent")
            batch_op.drop_column("do_not_call")
