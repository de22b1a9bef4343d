"""Contact-centre analytics: call figures per agent, team, DID, queue and interval; agent occupancy and pauses.

Definitions: docs/reports.md ("Definitions"); the maths in callcenter.reports.figures and .agent_figures.
Who sees what: supervisors their own team, admins any team or all; agents no call report (it is team figures) and,
in the agent report, their own row only.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import Any

from pydantic import BaseModel

from callcenter.api.framework import Api, BadRequest, Call, enum_schema
from callcenter.api.report_routes import _check_instant, _team
from callcenter.reports import store
from callcenter.reports.figures import CallRow, Group
from callcenter.reports.intervals import Interval
from callcenter.reports.period import Period, PeriodError, parse_period
from callcenter.reports.report import did_team_of
from callcenter.reports.service import agent_report, call_report
from callcenter.routing.rules import RoutingRules
from callcenter.app_keys import ROUTING_RULES, SETTINGS
from crm_core.errors import Forbidden
from crm_core.models import Role

api = Api()
V1 = "/api/v1"


class CallFiguresOut(BaseModel):
    key: str | None  # the team, agent, DID or queue; null: calls without one (e.g. abandoned before any agent rang)
    start_iso: str
    end_iso: str
    start_s: float
    end_s: float
    offered: int
    answered: int
    missed: int
    abandoned: int
    failed: int
    short_abandoned: int
    abandon_wait_mean_s: float | None
    abandon_wait_max_s: float | None
    answered_within_threshold: int
    service_level_pct: float | None
    service_level_offered_pct: float | None
    asa_s: float | None
    aht_s: float | None
    talk_s: float
    wrapup_s: float
    transferred: int
    fcr_calls: int
    fcr_resolved: int
    fcr_pct: float | None
    approximate: int
    callbacks_done: int | None  # per team and per agent only
    callbacks_done_in_sla: int | None
    callback_sla_pct: float | None


class CallReportOut(BaseModel):
    group: str
    interval: str
    team: str | None  # null: every team (admins)
    timezone: str
    from_iso: str
    to_iso: str
    from_s: float
    to_s: float
    threshold_s: float
    short_abandon_s: float
    fcr_days: int
    intervals: list[str]  # the start of every interval of the period, empty ones included
    rows: list[CallFiguresOut]  # per key and interval, where something happened
    totals: list[CallFiguresOut]  # per key over the period


class AgentFiguresOut(BaseModel):
    agent: str
    user_id: int | None
    name: str | None
    team: str | None
    logged_in_s: float
    available_s: float
    ringing_s: float
    talking_s: float
    wrapup_s: float
    paused_s: float
    pause_by_reason_s: dict[str, float]
    occupancy_pct: float | None
    calls_answered: int
    aht_s: float | None


class AgentReportOut(BaseModel):
    team: str | None
    timezone: str
    from_iso: str
    to_iso: str
    from_s: float
    to_s: float
    rows: list[AgentFiguresOut]


def _zone_team(rules: RoutingRules, team: str | None) -> Any:
    return (rules.teams.get(team or "") or rules.teams[rules.default_team]).hours.zone


def _period(call: Call, zone: Any, max_days: int, now_s: float) -> Period:
    raw_from, raw_to = call.query_str("from", max_length=64), call.query_str("to", max_length=64)
    for name, raw in (("from", raw_from), ("to", raw_to)):
        _check_instant(name, raw)
    try:
        return parse_period(raw_from, raw_to, zone=zone, now_s=now_s, max_days=max_days)
    except PeriodError as exc:
        raise BadRequest(str(exc), field=exc.field) from None
    except (OverflowError, ValueError) as exc:  # a bound at the very edge of the calendar, in the team's zone
        raise BadRequest(f"from/to out of range: {exc}", field="from") from None


def _row_json(row: CallRow, period: Period) -> dict[str, Any]:
    return {
        "key": row.key, "start_iso": period.iso(row.start_s), "end_iso": period.iso(row.end_s),
        "start_s": row.start_s, "end_s": row.end_s, **asdict(row.figures),
        "callbacks_done": row.callbacks_done, "callbacks_done_in_sla": row.callbacks_done_in_sla,
        "callback_sla_pct": row.callback_sla_pct,
    }


@api.route(
    "GET", V1 + "/reports/calls",
    summary="Calls per team, agent, DID or queue and per 15 minutes, hour, day or week in the team's time zone: "
    "offered, answered, missed, abandoned, service level, ASA, AHT, transfers, first-contact resolution, callbacks "
    "(default: today, per team, per hour)",
    response=CallReportOut, query=("group", "interval", "team", "from", "to"), tag="reports",
    query_schemas={"group": enum_schema(Group), "interval": enum_schema(Interval)},
)
async def calls_report(call: Call) -> Any:
    rules, settings = call.request.app[ROUTING_RULES], call.request.app[SETTINGS].reports
    group = call.query_enum("group", Group) or Group.TEAM
    interval = call.query_enum("interval", Interval) or Interval.HOUR
    team = await _team(call, set(rules.teams))
    period = _period(call, _zone_team(rules, team), settings.max_range_days, time.time())
    rule = settings.rule()
    starts, table = await call_report(
        call.session, period=period, group=group, interval=interval, team=team, did_team=did_team_of(rules),
        rule=rule, fcr_days=settings.fcr_days,
    )
    return {
        "group": group.value, "interval": interval.value, "team": team, "timezone": period.zone.key,
        "from_iso": period.iso(period.from_s), "to_iso": period.iso(period.to_s),
        "from_s": period.from_s, "to_s": period.to_s, "threshold_s": rule.threshold_s,
        "short_abandon_s": rule.short_abandon_s, "fcr_days": settings.fcr_days,
        "intervals": [period.iso(s) for s in starts],
        "rows": [_row_json(r, period) for r in table.rows],
        "totals": [_row_json(r, period) for r in table.totals],
    }


@api.route(
    "GET", V1 + "/reports/agents",
    summary="Per agent for [from, to): logged-in, available, ringing, talking, wrap-up and paused time, pause time by "
    "reason, occupancy, calls answered and AHT (default: today; agents see their own row)",
    response=AgentReportOut, query=("team", "from", "to"), tag="reports",
)
async def agents_report(call: Call) -> Any:
    rules, settings = call.request.app[ROUTING_RULES], call.request.app[SETTINGS].reports
    agent: str | None = None
    if call.principal.role is Role.AGENT:
        # An agent sees their own row only (their extension's), in their team's time zone.
        agent, own_team = await store.extension_and_team(call.session, call.principal.user_id)
        asked = call.query_str("team", max_length=120)
        if asked is not None and asked != own_team:
            raise Forbidden("agents see their own figures only", field="team")
        team, zone = None, _zone_team(rules, own_team)
    else:
        team = await _team(call, set(rules.teams))
        zone = _zone_team(rules, team)
    now_s = time.time()
    period = _period(call, zone, settings.max_range_days, now_s)
    mine_only = call.principal.role is Role.AGENT
    rows = [] if mine_only and agent is None else await agent_report(
        call.session, period=period, team=team, agent=agent, did_team=did_team_of(rules), now_s=now_s
    )
    return {
        "team": team, "timezone": period.zone.key, "from_iso": period.iso(period.from_s),
        "to_iso": period.iso(period.to_s), "from_s": period.from_s, "to_s": period.to_s,
        "rows": [{**asdict(r.figures), "name": r.name, "team": r.team, "calls_answered": r.calls_answered,
                  "aht_s": r.aht_s} for r in rows],
    }
