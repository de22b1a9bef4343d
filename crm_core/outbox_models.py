"""The durable outbox between the call path and the workers (migration 0019, docs/architecture.md "Processes").

The call path appends the facts it publishes (call and agent events, FastAGI's decisions) and the API appends the
CRM facts it commits (a deal's stage change, in the same transaction); worker processes read them in id order, each
consumer from its own cursor, and move the cursor only once everything it handed on is done. ``dedupe_key`` makes
the same fact written by two instances (each reads AMI itself) one row.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Float, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from crm_core.models import Base
from crm_core.types import BigId


class OutboxEvent(Base):
    __tablename__ = "event_outbox"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(40))  # the event's or fact's class name (callcenter.outbox.codec)
    payload: Mapped[str] = mapped_column(Text)  # JSON
    written_at_s: Mapped[float] = mapped_column(Float)  # epoch seconds: the age a consumer's lag is measured by


class OutboxCursor(Base):
    """One per consumer: how far it has handled the outbox, and which worker holds it (a lease: one at a time)."""

    __tablename__ = "outbox_cursors"

    consumer: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_id: Mapped[int] = mapped_column(BigInteger, default=0)
    holder: Mapped[str | None] = mapped_column(String(120))
    held_until_s: Mapped[float | None] = mapped_column(Float)


__all__ = ["OutboxCursor", "OutboxEvent"]
