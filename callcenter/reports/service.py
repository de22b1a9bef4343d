"""Figures from the CRM: team figures (the one function behind both the reports API and the wallboard's figures),
calls per group and interval, and agent figures (the analytics API)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.reports import store
from callcenter.reports.agent_figures import AgentFigures, agent_figures
from callcenter.reports.call_sums import CallSums, add
from callcenter.reports.call_sums_store import call_sums_by_group
from callcenter.reports.figures import (
    ANSWERED, CallFact, CallTable, Figures, Group, ServiceLevelRule, aht_s, table_from_sums,
)
from callcenter.reports.intervals import Interval, interval_index, interval_starts
from callcenter.reports.period import DAY_S, Period
from callcenter.reports.report import DidTeam, figures_by_team

LAST_INSTANT_S = datetime(9999, 12, 31, tzinfo=timezone.utc).timestamp()  # reading ahead stops where dates do

__all__ = ["AgentRow", "TeamReport", "agent_report", "call_report", "team_report"]


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


async def call_report(
    session: AsyncSession,
    *,
    period: Period,
    group: Group,
    interval: Interval,
    team: str | None,
    did_team: DidTeam,
    rule: ServiceLevelRule,
    fcr_days: int,
) -> tuple[list[float], CallTable]:
    """The interval starts and the call table of ``team``'s calls (None: every team's) in the period: the calls
    added up per group and local interval by the database (call_sums_store), callbacks done placed here."""
    starts = interval_starts(period.from_s, period.to_s, period.zone, interval)
    rows = await call_sums_by_group(
        session, from_s=period.from_s, to_s=period.to_s, zone=period.zone, interval=interval, group=group,
        team=team, rule=rule, fcr_window_s=fcr_days * DAY_S, did_team=did_team,
    )
    sums: dict[tuple[str | None, int], CallSums] = {}
    for row in rows:
        add(sums.setdefault((row.key, interval_index(starts, row.first_s)), CallSums()), row.sums)
    done = await store.done_callbacks(session, from_s=period.from_s, to_s=period.to_s)
    if team is not None:
        done = [cb for cb in done if cb.team == team]
    return starts, table_from_sums(sums, done, group=group, starts=starts, to_s=period.to_s)


@dataclass(frozen=True, slots=True)
class AgentRow:
    figures: AgentFigures
    name: str | None
    team: str | None  # the agent's CRM team
    calls_answered: int  # every team's calls the agent answered in the period
    aht_s: float | None


async def agent_report(
    session: AsyncSession,
    *,
    period: Period,
    team: str | None,
    agent: str | None,
    did_team: DidTeam,
    now_s: float,
) -> list[AgentRow]:
    """Per agent (only ``team``'s members, only ``agent``, when given): time per state, pauses, occupancy, and the
    calls they answered. An agent's time is not split by the teams whose calls they took: it is one agent's day."""
    spells = await store.agent_spells(session, from_s=period.from_s, to_s=period.to_s)
    calls = await store.inbound_calls(session, from_s=period.from_s, to_s=period.to_s, did_team=did_team)
    answered: dict[str, list[CallFact]] = {}
    for call in calls:
        if call.outcome == ANSWERED and call.agent:
            answered.setdefault(call.agent, []).append(call)
    rows = {r.agent: r for r in agent_figures(spells, from_s=period.from_s, to_s=period.to_s, now_s=now_s)}
    for ext in answered.keys() - rows.keys():
        rows[ext] = AgentFigures(agent=ext, user_id=None)  # took calls, no state history (written before the log)
    users = await store.users_by_extension(session, rows)
    out = []
    for ext in sorted(rows):
        user_id, name, user_team = users.get(ext, (None, None, None))
        if (agent is not None and ext != agent) or (team is not None and user_team != team):
            continue
        figures = rows[ext]
        figures.user_id = figures.user_id if figures.user_id is not None else user_id
        mine = answered.get(ext, [])
        out.append(AgentRow(figures=figures, name=name, team=user_team, calls_answered=len(mine), aht_s=aht_s(mine)))
    return out
