"""Reads what staffing needs (adapter): a team's inbound calls over a window, through the one call reader
(``store.inbound_calls``), so staffing counts exactly the calls the team figures count."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.reports import store
from callcenter.reports.agent_figures import occupancy_pct
from callcenter.reports.figures import CallFact
from callcenter.reports.period import Period
from callcenter.reports.report import DidTeam
from callcenter.reports.service import agent_report

__all__ = ["team_calls", "team_day_occupancy"]


async def team_calls(session: AsyncSession, *, team: str, from_s: float, to_s: float,
                     did_team: DidTeam) -> list[CallFact]:
    """The team's inbound calls that started in [from_s, to_s), oldest first (a call belongs to the team its last
    routing decision chose, else the team serving its DID: ``report.call_team``)."""
    calls = await store.inbound_calls(session, from_s=from_s, to_s=to_s, did_team=did_team)
    return [c for c in calls if c.team == team]


async def team_day_occupancy(session: AsyncSession, *, team: str, period: Period, did_team: DidTeam,
                             now_s: float) -> tuple[float | None, int | None]:
    """(occupancy %, agents logged in) of the team's agents over the period, from their state history, by the
    agent report's own definition summed over the team (``agent_figures.occupancy_pct``); (None, None) when no
    agent of the team has history in the period."""
    rows = [r for r in await agent_report(session, period=period, team=team, agent=None, did_team=did_team,
                                          now_s=now_s) if r.figures.logged_in_s > 0]
    if not rows:
        return None, None
    f = [r.figures for r in rows]
    return occupancy_pct(ringing_s=sum(x.ringing_s for x in f), talking_s=sum(x.talking_s for x in f),
                         wrapup_s=sum(x.wrapup_s for x in f), logged_in_s=sum(x.logged_in_s for x in f),
                         paused_s=sum(x.paused_s for x in f)), len(rows)
