"""Staffing: agents needed per 15-minute interval (Erlang C / A on measured traffic) and what-if simulation.

"How many agents on Monday 10:00 for 80/20?": GET /reports/staffing?weekday=mon&time=10:00&target_pct=80&threshold_s=20
answers the number by Erlang C and by Erlang A, each with the inputs it came from. Supervisors ask about their own
team, admins about any team, agents not at all.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field

from callcenter.api.framework import Api, BadRequest, Call, ServiceUnavailable
from callcenter.api.team_scope import visible_teams
from callcenter.reports.erlang import Staffing
from callcenter.reports.period import Period
from callcenter.reports.report import did_team_of
from callcenter.reports.staffing import INTERVAL_S, WEEKDAYS, StaffingPlan, Target, plan_staffing, weeks_before
from callcenter.reports.staffing_store import team_calls, team_day_occupancy
from callcenter.reports.staffing_whatif import ANSWER_MEDIAN_S, DayFigures, NothingToReplay, WhatIf, what_if
from callcenter.routing.rules import RoutingRules, Strategy
from callcenter.app_keys import ROUTING_RULES, SETTINGS
from crm_core.errors import Forbidden, Invalid

api = Api()
V1 = "/api/v1"
MAX_WEEKS = 12
MAX_WHATIF_AGENTS = 1000
# What-if runs are CPU work in threads: at most this many at once, the next one is told to retry.
_WHATIF_SLOTS = threading.BoundedSemaphore(2)


class WeekOut(BaseModel):
    start: str  # local date the 7 days start on
    from_iso: str
    to_iso: str


class TargetOut(BaseModel):
    target_pct: float
    threshold_s: float
    max_occupancy_pct: float


class StaffOut(BaseModel):
    agents: int
    limited_by: str  # service_level, occupancy or no_traffic
    load_erlang: float
    service_level_pct: float
    asa_s: float | None
    p_wait_pct: float
    abandon_pct: float
    occupancy_pct: float


class IntervalOut(BaseModel):
    weekday: str
    time: str
    weeks_used: list[str]
    calls_per_week: list[int]
    offered_mean: float
    rate_per_s: float
    calls_per_hour: float
    answered: int
    aht_s: float | None
    aht_source: str | None
    erlang_c: StaffOut | None
    erlang_a: StaffOut | None


class PatienceOut(BaseModel):
    mean_s: float | None  # None: no abandoned call in the window (Erlang A is then Erlang C)
    abandoned: int
    total_wait_s: float
    calls: int


class StaffingOut(BaseModel):
    team: str
    timezone: str
    weekday: str
    weeks: list[WeekOut]
    target: TargetOut
    patience: PatienceOut
    window_aht_s: float | None
    intervals: list[IntervalOut]


class WhatIfIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    team: str | None = Field(default=None, min_length=1, max_length=120)
    day: date
    agents: int = Field(ge=1, le=MAX_WHATIF_AGENTS)
    strategy: Strategy | None = None  # None: the team's own
    queue_only: bool = False  # straight to the Asterisk queue with that strategy, no FastAGI
    seed: int = Field(default=1, ge=0, le=2**31 - 1)
    threshold_s: float | None = Field(default=None, ge=0, le=3600)


class DayOut(BaseModel):
    offered: int
    answered: int
    service_level_pct: float | None
    asa_s: float | None
    unanswered_pct: float | None
    occupancy_pct: float | None
    agents: int | None  # simulated: the scenario's; actual: the team's agents logged in that day (null: no history)


class WhatIfInputsOut(BaseModel):
    agents: int
    strategy: str
    queue_only: bool
    seed: int
    threshold_s: float
    answer_median_s: float
    patience_s: float | None
    calls: int
    resampled: int


class WhatIfOut(BaseModel):
    team: str
    timezone: str
    day: str
    from_iso: str
    to_iso: str
    inputs: WhatIfInputsOut
    simulated: DayOut
    actual: DayOut


async def _team(call: Call, rules: RoutingRules, asked: str | None) -> str:
    """The team asked for, checked against what the caller may see; none asked: the caller's only team."""
    visible = await visible_teams(call.session, call.principal)
    known = set(rules.teams)
    if asked is not None and asked not in known:
        raise Invalid(f"unknown team {asked!r}; teams: {', '.join(sorted(known))}", field="team")
    if asked is None:
        if visible is not None and len(visible) == 1 and next(iter(visible)) in known:
            return next(iter(visible))
        raise BadRequest("name the team (team=...)", field="team")
    if visible is not None and asked not in visible:
        raise Forbidden(f"you may see the staffing of {', '.join(sorted(visible)) or 'no team'} only", field="team")
    return asked


def _query_float(call: Call, name: str, *, default: float, low: float, high: float, open_low: bool = False,
                 open_high: bool = False) -> float:
    raw = call.query_str(name, max_length=32)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise BadRequest(f"{name} must be a number, got {raw!r}", field=name) from None
    too_low = value <= low if open_low else value < low
    too_high = value >= high if open_high else value > high
    if not math.isfinite(value) or too_low or too_high:
        lo, hi = ("(" if open_low else "[") + f"{low:g}", f"{high:g}" + (")" if open_high else "]")
        raise BadRequest(f"{name} must be in {lo}, {hi}, got {raw}", field=name)
    return value


def _interval(raw: str) -> int:
    """'10:00' -> 40 (the index of its 15-minute interval); the time must start an interval."""
    try:
        hours, minutes = raw.split(":")
        h, m = int(hours), int(minutes)
    except ValueError:
        raise BadRequest(f"time must be HH:MM (e.g. 10:00), got {raw!r}", field="time") from None
    if not (0 <= h < 24 and 0 <= m < 60) or len(minutes) != 2:
        raise BadRequest(f"time must be HH:MM between 00:00 and 23:45, got {raw!r}", field="time")
    if m % 15:
        raise BadRequest(f"time must start a 15-minute interval (:00, :15, :30, :45), got {raw!r}", field="time")
    return (h * 60 + m) // 15


def _local_date(call: Call, name: str, zone: ZoneInfo) -> date:
    raw = call.query_str(name, max_length=10)
    if raw is None:
        return datetime.now(zone).date()
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        raise BadRequest(f"{name} must be a date (2026-03-02), got {raw!r}", field=name) from None
    if not date(1971, 1, 1) <= day <= date(9999, 1, 1):
        raise BadRequest(f"{name} must be between 1971-01-01 and 9999-01-01", field=name)
    return day


def _staff(s: Staffing | None) -> dict[str, Any] | None:
    if s is None:
        return None
    f = s.figures
    return {
        "agents": s.agents, "limited_by": s.limited_by, "load_erlang": round(f.load_erlang, 3),
        "service_level_pct": round(100 * f.service_level, 1), "asa_s": None if f.asa_s is None else round(f.asa_s, 1),
        "p_wait_pct": round(100 * f.p_wait, 1), "abandon_pct": round(100 * f.abandon, 1),
        "occupancy_pct": round(100 * f.occupancy, 1),
    }


def _plan_json(team: str, zone: ZoneInfo, weekday: str, plan: StaffingPlan) -> dict[str, Any]:
    iso = lambda s: datetime.fromtimestamp(s, zone).isoformat()  # noqa: E731
    return {
        "team": team,
        "timezone": plan.zone,
        "weekday": weekday,
        "weeks": [{"start": w.start.isoformat(), "from_iso": iso(w.from_s), "to_iso": iso(w.to_s)} for w in plan.weeks],
        "target": {"target_pct": plan.target.target_pct, "threshold_s": plan.target.threshold_s,
                   "max_occupancy_pct": round(100 * plan.target.max_occupancy, 1)},
        "patience": {"mean_s": None if plan.patience_s is None else round(plan.patience_s, 1),
                     "abandoned": plan.abandoned, "total_wait_s": round(plan.total_wait_s, 1), "calls": plan.calls},
        "window_aht_s": None if plan.window_aht_s is None else round(plan.window_aht_s, 1),
        "intervals": [
            {
                "weekday": i.weekday, "time": i.time, "weeks_used": [d.isoformat() for d in i.weeks_used],
                "calls_per_week": list(i.calls_per_week), "offered_mean": round(i.offered_mean, 3),
                "rate_per_s": round(i.rate_per_s, 6), "calls_per_hour": round(i.offered_mean * 3600 / INTERVAL_S, 2),
                "answered": i.answered, "aht_s": None if i.aht_s is None else round(i.aht_s, 1),
                "aht_source": i.aht_source, "erlang_c": _staff(i.erlang_c), "erlang_a": _staff(i.erlang_a),
            }
            for i in plan.intervals
        ],
    }


@api.route(
    "GET", V1 + "/reports/staffing",
    summary="Agents needed for a service-level target on a weekday, per 15-minute interval (time=HH:MM: that one), "
    "by Erlang C and Erlang A from the team's last weeks of calls, with the inputs (calls per week, AHT, patience)",
    response=StaffingOut, query=("team", "weekday", "time", "target_pct", "threshold_s", "weeks", "max_occupancy_pct",
                                 "until"),
    tag="reports",
    query_schemas={
        "weekday": {"type": "string", "enum": list(WEEKDAYS)},
        "time": {"type": "string", "pattern": "^([01][0-9]|2[0-3]):(00|15|30|45)$"},
        "target_pct": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 100},
        "threshold_s": {"type": "number", "minimum": 0, "maximum": 3600},
        "weeks": {"type": "integer", "minimum": 1, "maximum": MAX_WEEKS},
        "max_occupancy_pct": {"type": "number", "exclusiveMinimum": 0, "maximum": 100},
        "until": {"type": "string", "format": "date"},
    },
)
async def staffing(call: Call) -> Any:
    rules, settings = call.request.app[ROUTING_RULES], call.request.app[SETTINGS].reports
    team = await _team(call, rules, call.query_str("team", max_length=120))
    zone = rules.teams[team].hours.zone
    raw_day = call.query_str("weekday", max_length=16)
    if raw_day is None or raw_day.lower() not in WEEKDAYS:
        raise BadRequest(f"weekday must be one of {', '.join(WEEKDAYS)}, got {raw_day!r}", field="weekday")
    weekday = WEEKDAYS.index(raw_day.lower())
    raw_time = call.query_str("time", max_length=8)
    intervals = [_interval(raw_time)] if raw_time is not None else list(range(24 * 3600 // INTERVAL_S))
    target = Target(
        target_pct=_query_float(call, "target_pct", default=80.0, low=0, high=100, open_low=True, open_high=True),
        threshold_s=_query_float(call, "threshold_s", default=settings.service_level_s, low=0, high=3600),
        max_occupancy=_query_float(call, "max_occupancy_pct", default=85.0, low=0, high=100, open_low=True) / 100,
    )
    weeks_n = call.query_int("weeks", default=4, low=1, high=MAX_WEEKS) or 4
    weeks = weeks_before(_local_date(call, "until", zone), weeks_n, zone)
    calls = await team_calls(call.session, team=team, from_s=weeks[0].from_s, to_s=weeks[-1].to_s,
                             did_team=did_team_of(rules))
    plan = await asyncio.to_thread(plan_staffing, calls, weeks=weeks, zone=zone, weekday=weekday, intervals=intervals,
                                   target=target)
    return _plan_json(team, zone, WEEKDAYS[weekday], plan)


def _day_json(f: DayFigures) -> dict[str, Any]:
    return {"offered": f.offered, "answered": f.answered, "service_level_pct": f.service_level_pct, "asa_s": f.asa_s,
            "unanswered_pct": f.unanswered_pct, "occupancy_pct": f.occupancy_pct, "agents": f.agents}


@api.route(
    "POST", V1 + "/reports/staffing/what-if",
    summary="Replay a real day of the team's calls through the routing simulation with another number of agents or "
    "another strategy: simulated service level, ASA, unanswered and occupancy next to what really happened",
    body=WhatIfIn, response=WhatIfOut, tag="reports",
)
async def staffing_what_if(call: Call) -> Any:
    body: WhatIfIn = call.body
    rules, settings = call.request.app[ROUTING_RULES], call.request.app[SETTINGS].reports
    team = await _team(call, rules, body.team)
    policy = rules.teams[team]
    zone = policy.hours.zone
    if not date(1971, 1, 1) <= body.day <= date(9999, 1, 1):
        raise Invalid("day must be between 1971-01-01 and 9999-01-01", field="day")
    from_s = datetime(body.day.year, body.day.month, body.day.day, tzinfo=zone).timestamp()
    after = body.day + timedelta(days=1)
    to_s = datetime(after.year, after.month, after.day, tzinfo=zone).timestamp()
    if from_s > time.time():
        raise Invalid(f"day {body.day} has not happened yet", field="day")
    calls = await team_calls(call.session, team=team, from_s=from_s, to_s=to_s, did_team=did_team_of(rules))
    occupancy, agents = await team_day_occupancy(call.session, team=team, period=Period(from_s, to_s, zone),
                                                 did_team=did_team_of(rules), now_s=time.time())
    threshold_s = settings.service_level_s if body.threshold_s is None else body.threshold_s
    scenario = WhatIf(agents=body.agents, strategy=body.strategy or policy.strategy, queue_only=body.queue_only,
                      seed=body.seed, threshold_s=threshold_s)
    if not _WHATIF_SLOTS.acquire(blocking=False):
        raise ServiceUnavailable("other what-if runs are using the CPU; retry in a few seconds", field="agents")
    try:
        result = await asyncio.to_thread(what_if, calls, from_s=from_s, to_s=to_s, team=policy, scenario=scenario,
                                         actual_occupancy_pct=occupancy, actual_agents=agents)
    except NothingToReplay as exc:
        raise Invalid(f"{exc} ({body.day}, team {team})", field="day") from None
    finally:
        _WHATIF_SLOTS.release()
    return {
        "team": team,
        "timezone": zone.key,
        "day": body.day.isoformat(),
        "from_iso": datetime.fromtimestamp(from_s, zone).isoformat(),
        "to_iso": datetime.fromtimestamp(to_s, zone).isoformat(),
        "inputs": {"agents": scenario.agents, "strategy": scenario.strategy.value, "queue_only": scenario.queue_only,
                   "seed": scenario.seed, "threshold_s": scenario.threshold_s, "answer_median_s": ANSWER_MEDIAN_S,
                   "patience_s": None if result.patience_s is None else round(result.patience_s, 1),
                   "calls": result.calls, "resampled": result.resampled},
        "simulated": _day_json(result.simulated),
        "actual": _day_json(result.actual),
    }
