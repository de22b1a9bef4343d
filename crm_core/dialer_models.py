"""Dialer campaigns, their attempts and the do-not-call lists (issue 15).

A campaign keeps its whole definition (callcenter.dialer.campaign, as JSON with every default written out) and, as
columns, what is queried: its name, report, team, mode, state, priority. An attempt is written BEFORE its Originate
(state ``planned``, a fresh ``action_id``), so an instance that dies mid-dial leaves a row that says so, and the unique
(campaign, number, attempt number) makes a second instance's copy of the same attempt fail instead of dialling twice.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, String, UniqueConstraint, false, text
from sqlalchemy.orm import Mapped, mapped_column

from callcenter.dialer.outcomes import AttemptOutcome, CampaignMode, CampaignState
from callcenter.dialer.verdict import Reason
from crm_core.models import Base
from crm_core.types import BigId, StrEnumType, utcnow

__all__ = ["AttemptState", "Campaign", "CampaignAttempt", "DncEntry"]


class AttemptState(enum.StrEnum):
    PLANNED = "planned"  # written, not yet sent: a crash here dials nothing
    DIALLING = "dialling"  # Originate sent (action_id correlates its response and events)
    ANSWERED = "answered"
    ENDED = "ended"  # outcome set
    REFUSED = "refused"  # checked immediately before the dial and not dialled: refusal_reason says why


class Campaign(Base):
    __tablename__ = "dialer_campaigns"
    __audited__ = True
    # The dialer's loop: running campaigns, highest priority first.
    __table_args__ = (Index("ix_dialer_campaigns_state_priority", "state", "priority"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    # Nullable: deleting the report stops nothing by itself; the campaign then has no list (a state with a reason).
    saved_report_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("saved_reports.id", ondelete="SET NULL"), index=True
    )
    team_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("teams.id", ondelete="SET NULL"), index=True)
    mode: Mapped[CampaignMode] = mapped_column(StrEnumType(CampaignMode))
    state: Mapped[CampaignState] = mapped_column(StrEnumType(CampaignState), default=CampaignState.DRAFT)
    state_reason: Mapped[str | None] = mapped_column(String(300))  # why it paused / stopped / finished
    priority: Mapped[int] = mapped_column(default=5)
    definition: Mapped[dict[str, Any]]
    created_by_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(default=1)  # bumped on every change: a stale edit is refused


class DncEntry(Base):
    """A number not to call: system-wide (``campaign_id`` NULL) or for one campaign. Numbers are E.164 keys as
    crm_core.phones makes them."""

    __tablename__ = "dialer_dnc"
    __audited__ = True
    __table_args__ = (
        # One entry per (number, campaign); leading e164 is also the index the check before each dial reads.
        UniqueConstraint("e164", "campaign_id", name="uq_dialer_dnc_e164_campaign_id"),
        # NULLs are never equal, so the unique key above lets a system-wide entry repeat: this one does not.
        Index("uq_dialer_dnc_system_e164", "e164", unique=True,
              postgresql_where=text("campaign_id IS NULL"), sqlite_where=text("campaign_id IS NULL")),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    e164: Mapped[str] = mapped_column(String(20))
    campaign_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("dialer_campaigns.id", ondelete="CASCADE"), index=True
    )
    reason: Mapped[str] = mapped_column(String(300), default="")
    added_by_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("users.id", ondelete="SET NULL"))
    added_at: Mapped[datetime] = mapped_column(default=utcnow)


class CampaignAttempt(Base):
    """One dial of one number by one campaign (or its refusal immediately before it)."""

    __tablename__ = "dialer_attempts"
    __table_args__ = (
        UniqueConstraint("campaign_id", "e164", "attempt_no", name="uq_dialer_attempts_campaign_id_e164_attempt_no"),
        # The abandon rate over the campaign's rolling window.
        Index("ix_dialer_attempts_campaign_ended", "campaign_id", "ended_at"),
        # A number's latest abandoned call, by any campaign (no redial within 72 h).
        Index("ix_dialer_attempts_e164_ended", "e164", "ended_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(BigId, ForeignKey("dialer_campaigns.id", ondelete="CASCADE"))
    e164: Mapped[str] = mapped_column(String(20))
    contact_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("contacts.id", ondelete="SET NULL"), index=True)
    lead_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("leads.id", ondelete="SET NULL"), index=True)
    attempt_no: Mapped[int]  # 1 for the first dial of this number by this campaign
    state: Mapped[AttemptState] = mapped_column(StrEnumType(AttemptState), default=AttemptState.PLANNED)
    outcome: Mapped[AttemptOutcome | None] = mapped_column(StrEnumType(AttemptOutcome))
    amd_result: Mapped[str | None] = mapped_column(String(32))  # Asterisk AMD()'s AMDSTATUS (HUMAN, MACHINE, ...)
    abandoned: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    dialled_at: Mapped[datetime | None]
    answered_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    agent_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("users.id", ondelete="SET NULL"))
    # Preview mode: the extension of the agent who dialled it from a card; the campaign AGI, on whichever instance,
    # gives them the answered call (callcenter.dialer.runner.agent_for). agent_id is who talked.
    preview_agent: Mapped[str | None] = mapped_column(String(32))
    activity_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("activities.id", ondelete="SET NULL"))
    # The AMI ActionID of its Originate (NULL for a refusal: nothing was sent).
    action_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    refusal_reason: Mapped[Reason | None] = mapped_column(StrEnumType(Reason))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
