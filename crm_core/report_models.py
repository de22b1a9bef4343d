"""Saved reports: their definitions, versions (who changed what) and team shares (issue 14)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from crm_core.models import Base
from crm_core.types import BigId, utcnow


class SavedReport(Base):
    """A user's report definition (callcenter.reports.definition.ReportDefinition as JSON), at its latest version.

    Shared with one team at most (``team_id``): that team's members read and run it, only its owner or an admin
    changes it. Whoever runs it sees only the rows they may read (the definition carries no rights)."""

    __tablename__ = "saved_reports"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    owner_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"), index=True)
    team_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("teams.id", ondelete="SET NULL"), index=True)
    entity: Mapped[str] = mapped_column(String(32))
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)
    version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class SavedReportVersion(Base):
    """Every save of a report, kept: who saved what when (the history the owner and the team read)."""

    __tablename__ = "saved_report_versions"
    __table_args__ = (UniqueConstraint("report_id", "version", name="uq_saved_report_versions_report_id_version"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    report_id: Mapped[int] = mapped_column(BigId, ForeignKey("saved_reports.id", ondelete="CASCADE"), index=True)
    version: Mapped[int]
    name: Mapped[str] = mapped_column(String(200))
    team_id: Mapped[int | None] = mapped_column(BigId)  # the share at that version (no key: the team may go)
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)
    changed_by_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("users.id", ondelete="SET NULL"))
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)
