"""Reports: a team's figures for a period. The wallboard's figures come from the same function (team_report).

Supervisors read their own team's figures, admins any team's or all teams' together, agents none.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from crm_core.input_rules import check_datetime
from callcenter.api.framework import Api, BadRequest, Call
from callcenter.api.team_scope import visible_teams
from callcenter.reports.period import PeriodError, parse_period
from callcenter.reports.report import did_team_of, figures_json
from callcenter.reports.service import team_report
from crm_core.errors import Forbidden, Invalid

api = Api()
V1 = "/api/v1"


class SlotOut(BaseModel):
    start_s: float
    offered: int
    answered: int
    missed: int
    abandoned: int
    service_level_pct: float | None


class TeamFiguresOut(BaseModel):
    team: str | None  # null: every team
    timezone: str
    from_iso: str
    to_iso: str
    from_s: float
    to_s: float
    threshold_s: float
    short_abandon_s: float
    slot_s: int
    offered: int
    answered: int
    missed: int
    abandoned: int
    failed: int
    short_abandoned: int
    answered_within_threshold: int
    service_level_pct: float | None
    asa_s: float | None
    aht_s: float | None
    callbacks_open: int
    callbacks_overdue: int
    series: list[SlotOut]
    approximate: int = 0  # of the calls counted, those whose times are estimates (ended while AMI was down)


async def _team(call: Call, known: set[str]) -> str | None:
    """The team asked for, checked against what the caller may see; none asked: the caller's only team, or all."""
    visible = await visible_teams(call.session, call.principal)
    team = call.query_str("team", max_length=120)
    if team is not None and team not in known | (visible or set()):
        raise Invalid(f"unknown team {team!r}; teams: {', '.join(sorted(known))}", field="team")
    if visible is None:
        return team
    if team is None and len(visible) == 1:
        return next(iter(visible))
    if team is None or team not in visible:
        raise Forbidden(f"you may see the figures of {', '.join(sorted(visible)) or 'no team'} only", field="team")
    return team


def _check_instant(name: str, raw: str | None) -> None:
    """A date-time with an offset must exist in UTC (0001-01-01T00:00:00+14:00 does not)."""
    if not raw:
        return
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        return  # parse_period says what is wrong with it
    try:
        check_datetime(value)
    except ValueError as exc:
        raise BadRequest(f"{name} {exc}", field=name) from None


@api.route(
    "GET", V1 + "/reports/team-figures",
    summary="A team's figures for [from, to): offered, answered, missed, abandoned, service level, ASA, AHT, callbacks, "
    "15-minute series (default: today in the team's time zone; no team: all teams, admins)",
    response=TeamFiguresOut, query=("team", "from", "to"), tag="reports",
)
async def team_figures(call: Call) -> Any:
    from callcenter.app import ROUTING_RULES, SETTINGS  # the composition root owns these keys

    rules, settings = call.request.app[ROUTING_RULES], call.request.app[SETTINGS].reports
    team = await _team(call, set(rules.teams))
    zone = (rules.teams.get(team or "") or rules.teams[rules.default_team]).hours.zone
    now_s = time.time()
    raw_from, raw_to = call.query_str("from", max_length=64), call.query_str("to", max_length=64)
    for name, raw in (("from", raw_from), ("to", raw_to)):
        _check_instant(name, raw)
    try:
        period = parse_period(raw_from, raw_to, zone=zone, now_s=now_s, max_days=settings.max_range_days)
    except PeriodError as exc:
        raise BadRequest(str(exc), field=exc.field) from None
    except (OverflowError, ValueError) as exc:  # a bound at the very edge of the calendar, in the team's zone
        raise BadRequest(f"from/to out of range: {exc}", field="from") from None
    report = await team_report(
        call.session, periods={team: period}, did_team=did_team_of(rules), rule=settings.rule(), now_s=now_s
    )
    return figures_json(team, period, report.figures[team])
