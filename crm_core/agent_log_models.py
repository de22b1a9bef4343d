"""Agent state spells (available, ringing, talking, wrap-up, paused with reason) as the reports read them for
occupancy and pause time (migration 0010).

A spell is one stretch of one state of one agent: written by ``callcenter.reports.agent_log`` from the bus's
``AgentStateChanged``, keyed by agent and start so that a replayed or resynced event writes nothing twice. Offline
time is not stored: it is the gaps between spells. ``ended_at`` is null while the spell goes on.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from crm_core.models import Base
from crm_core.types import BigId


class AgentStateSpell(Base):
    __tablename__ = "agent_state_spells"
    __table_args__ = (
        UniqueConstraint("agent", "started_at", name="uq_agent_state_spells_agent_started_at"),
        # Reports read the spells overlapping a period: those that started before its end...
        Index("ix_agent_state_spells_started_at", "started_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    agent: Mapped[str] = mapped_column(String(32))  # the agent's extension, as AMI and the routing name them
    user_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL"), nullable=True, index=True
    )
    state: Mapped[str] = mapped_column(String(16))  # an AgentState value other than offline
    reason: Mapped[str | None] = mapped_column(String(120))  # the pause reason
    call_id: Mapped[str | None] = mapped_column(String(64))  # the call a ringing / talking / wrap-up spell is about
    started_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]


__all__ = ["AgentStateSpell"]
