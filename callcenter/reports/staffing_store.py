"""Reads what staffing needs (adapter): a team's inbound calls over a window, through the one call reader
(``store.inbound_calls``), so staffing counts exactly the calls the team figures count."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.reports import store
from callcenter.reports.figures import CallFact
from callcenter.reports.report import DidTeam

__all__ = ["team_calls"]


async def team_calls(session: AsyncSession, *, team: str, from_s: float, to_s: float,
                     did_team: DidTeam) -> list[CallFact]:
    """The team's inbound calls that started in [from_s, to_s), oldest first (a call belongs to the team its last
    routing decision chose, else the team serving its DID: ``report.call_team``)."""
    calls = await store.inbound_calls(session, from_s=from_s, to_s=to_s, did_team=did_team)
    return [c for c in calls if c.team == team]
