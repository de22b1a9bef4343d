"""Team figures from the CRM: the one function behind both the reports API and the wallboard's figures."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.reports import store
from callcenter.reports.figures import CallFact, Figures, ServiceLevelRule
from callcenter.reports.period import Period
from callcenter.reports.report import DidTeam, figures_by_team

__all__ = ["TeamReport", "team_report"]


@dataclass(frozen=True, slots=True)
class TeamReport:
    figures: dict[str | None, Figures]
    calls: list[CallFact]  # every inbound call read (the union of the periods), for lists beside the figures


async def team_report(
    session: AsyncSession,
    *,
    periods: Mapping[str | None, Period],
    did_team: DidTeam,
    rule: ServiceLevelRule,
    now_s: float,
) -> TeamReport:
    """Two queries whatever the number of teams: the calls over the union of the periods, and open callbacks."""
    if not periods:
        return TeamReport(figures={}, calls=[])
    from_s = min(p.from_s for p in periods.values())
    to_s = max(p.to_s for p in periods.values())
    calls = await store.inbound_calls(session, from_s=from_s, to_s=to_s, did_team=did_team)
    callbacks = await store.open_callbacks(session, did_team=did_team)
    return TeamReport(
        figures=figures_by_team(calls, callbacks, periods=periods, now_s=now_s, rule=rule), calls=calls
    )
