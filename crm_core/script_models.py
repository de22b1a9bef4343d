"""Inbound call scripts (issue 15): per team, one script per deal stage and one per client segment.

A campaign's own script lives in its definition (callcenter.dialer.campaign ``script``); an inbound call's is picked
from these by the caller's open deal's stage, else by a segment: a tag on the caller's contact or lead (``tags``, the
labels the CRM already picks people by, e.g. "vip"). The text is checked by callcenter.dialer.scripts when saved.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from crm_core.models import Base
from crm_core.types import BigId, utcnow

__all__ = ["CallScript"]


class CallScript(Base):
    __tablename__ = "call_scripts"
    __audited__ = True
    __table_args__ = (
        # One script per team and stage, one per team and segment: which one applies is never a tie.
        UniqueConstraint("team_id", "stage_id", name="uq_call_scripts_team_id_stage_id"),
        UniqueConstraint("team_id", "segment", name="uq_call_scripts_team_id_segment"),
        CheckConstraint("(CASE WHEN stage_id IS NULL THEN 0 ELSE 1 END)"
                        " + (CASE WHEN segment IS NULL THEN 0 ELSE 1 END) = 1", name="one_key"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    team_id: Mapped[int] = mapped_column(BigId, ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    stage_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("pipeline_stages.id", ondelete="CASCADE"))
    segment: Mapped[str | None] = mapped_column(String(64))  # a contact / lead tag
    # A caller with several tags that have scripts: the highest priority wins, then the oldest script.
    priority: Mapped[int] = mapped_column(default=0)
    created_by_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
