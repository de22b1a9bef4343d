"""Call sums per UTC quarter-hour, kept on write (migration 0014), so a month of call figures reads thousands of rows,
not a million calls (callcenter.reports.call_rollup).

``call_sums_quarter`` holds, per grouping (team, agent, DID, queue), quarter-hour and key, the additive sums of the
inbound calls that started in it (callcenter.reports.call_sums.CallSums, field by field). Every zone in use has an
offset of whole quarter-hours, so a UTC quarter-hour lies inside one local 15 min / hour / day / week interval.

``call_sums_changes`` is the log of quarter-hours whose calls changed: database triggers on ``activities`` append to
it on every insert, update of a reported column and delete of an inbound call, whoever writes (the ORM, a bulk
UPDATE such as the next-call link of earlier calls, a cascade, a migration), so no writer can leave the sums stale.
Append-only: concurrent writers never wait on one another's row. Until the keeper recomputes a logged quarter, reports
add that quarter's calls up from ``activities`` in the same statement, so a figure is never stale.

``call_sums_basis`` says which service-level threshold, short-abandon and first-contact window the sums were made
with; reports with other settings add up the calls themselves.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Double, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from crm_core.models import Base
from crm_core.types import BigId

__all__ = ["CallSumsBasis", "CallSumsChange", "CallSumsQuarter"]


class CallSumsQuarter(Base):
    __tablename__ = "call_sums_quarter"

    grouping: Mapped[str] = mapped_column(String(8), primary_key=True)  # a reports.figures.Group value
    quarter_s: Mapped[int] = mapped_column(BigInteger, primary_key=True)  # the quarter-hour's start, UTC epoch seconds
    routed_team: Mapped[str] = mapped_column(String(120), primary_key=True)  # "": no routing decision named a team
    team_did: Mapped[str] = mapped_column(String(64), primary_key=True)  # without a routed team: its DID (its team)
    group_key: Mapped[str] = mapped_column(String(120), primary_key=True)  # agent, DID or queue; "": none (or team)
    offered: Mapped[int] = mapped_column(Integer)
    answered: Mapped[int] = mapped_column(Integer)
    missed: Mapped[int] = mapped_column(Integer)
    abandoned: Mapped[int] = mapped_column(Integer)
    short_abandoned: Mapped[int] = mapped_column(Integer)
    abandon_wait_sum_s: Mapped[float] = mapped_column(Double)
    abandon_wait_max_s: Mapped[float | None] = mapped_column(Double)
    answered_within_threshold: Mapped[int] = mapped_column(Integer)
    answered_wait_sum_s: Mapped[float] = mapped_column(Double)
    talk_sum_s: Mapped[float] = mapped_column(Double)
    wrapup_sum_s: Mapped[float] = mapped_column(Double)
    transferred: Mapped[int] = mapped_column(Integer)
    fcr_calls: Mapped[int] = mapped_column(Integer)
    fcr_resolved: Mapped[int] = mapped_column(Integer)
    approximate: Mapped[int] = mapped_column(Integer)


class CallSumsChange(Base):
    __tablename__ = "call_sums_changes"
    __table_args__ = (Index("ix_call_sums_changes_quarter_s", "quarter_s"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    quarter_s: Mapped[int] = mapped_column(BigInteger)


class CallSumsBasis(Base):
    __tablename__ = "call_sums_basis"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)  # always 1: one basis
    threshold_s: Mapped[float] = mapped_column(Double)
    short_abandon_s: Mapped[float] = mapped_column(Double)
    fcr_window_s: Mapped[float] = mapped_column(Double)
    built_at: Mapped[datetime]
