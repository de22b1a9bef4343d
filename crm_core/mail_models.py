"""Scheduled report deliveries and the e-mail outbox."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Index, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from crm_core.models import Base, DeliveryStatus
from crm_core.types import BigId, StrEnumType, utcnow


class ReportSchedule(Base):
    """A saved report delivered daily or weekly at a local time in a zone, by e-mail and/or webhook.

    ``next_run_at`` is also the claim: a scheduler owns a run only if its conditional UPDATE moved it on."""

    __tablename__ = "report_schedules"
    __table_args__ = (Index("ix_report_schedules_due", "active", "next_run_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # The saved report (callcenter.reports.saved); evaluated with the owner's scope at run time.
    saved_report_id: Mapped[int] = mapped_column(BigId, ForeignKey("saved_reports.id", ondelete="CASCADE"), index=True)
    owner_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    cadence: Mapped[str] = mapped_column(String(16))  # daily | weekly
    weekday: Mapped[str | None] = mapped_column(String(16))  # monday..sunday (weekly only)
    local_time: Mapped[str] = mapped_column(String(5))  # HH:MM in `timezone`
    timezone: Mapped[str] = mapped_column(String(64))
    format: Mapped[str] = mapped_column(String(8))  # csv | xlsx
    recipients: Mapped[list[str]] = mapped_column(JSON, default=list)
    webhook_url: Mapped[str | None] = mapped_column(String(2000))
    # Signs the webhook (X-Callcenter-Signature); written, never read back through the API.
    webhook_secret: Mapped[str | None] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    next_run_at: Mapped[datetime]
    last_run_at: Mapped[datetime | None]
    # The slot being run and until when that claim holds: a run whose process died is taken over after it.
    claimed_slot_at: Mapped[datetime | None]
    claimed_until: Mapped[datetime | None]
    last_status: Mapped[str | None] = mapped_column(String(32))  # queued | failed | stopped
    last_error: Mapped[str | None] = mapped_column(String(500))
    last_row_count: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class MailMessage(Base):
    """Outbox of e-mails: written in the transaction of the fact that caused it, sent with retries and backoff.

    The attachment is stored with the row, so any instance's sender can send it."""

    __tablename__ = "mail_outbox"
    __table_args__ = (Index("ix_mail_outbox_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # What wrote it: "schedule" (a scheduled report) or "rule" (an automation rule).
    source: Mapped[str] = mapped_column(String(32))
    # Keyed by its cause (a schedule's run, a rule and fact), so a replay never sends twice.
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    schedule_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("report_schedules.id", ondelete="SET NULL"), index=True)
    to_addrs: Mapped[list[str]] = mapped_column(JSON, default=list)
    subject: Mapped[str] = mapped_column(String(500))
    body: Mapped[str] = mapped_column(Text, default="")
    attachment_name: Mapped[str | None] = mapped_column(String(255))
    attachment_type: Mapped[str | None] = mapped_column(String(100))
    attachment: Mapped[bytes | None] = mapped_column(LargeBinary)
    status: Mapped[DeliveryStatus] = mapped_column(StrEnumType(DeliveryStatus), default=DeliveryStatus.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
