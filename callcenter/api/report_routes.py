"""Reports: a team's figures for a period. The wallboard's figures come from the same function (team_report).

Supervisors read their own team's figures, admins any team's or all teams' together, agents none. Each report's chart
(SVG or PNG, callcenter.reports.charts) is read with the same team and period checks as its figures.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from pydantic import BaseModel

from crm_core.input_rules import check_datetime
from callcenter.api import sales_routes, staffing_routes
from callcenter.api.framework import Api, BadRequest, Call, enum_schema
from callcenter.api.team_scope import visible_teams
from callcenter.reports.charts import (
    MAX_HEIGHT_PX, MAX_WIDTH_PX, MEDIA_TYPES, MIN_HEIGHT_PX, MIN_WIDTH_PX, ChartFormat, ChartSize, Stage, calls_chart,
    figures_chart, funnel_chart, interval_bars, render,
)
from callcenter.reports.figures import Group
from callcenter.reports.intervals import Interval
from callcenter.reports.period import PeriodError, parse_period
from callcenter.reports.report import did_team_of, figures_json
from callcenter.reports.service import team_report
from callcenter.app_keys import ROUTING_RULES, SETTINGS
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
    figures, _ = await _team_figures(call)
    return figures


async def _team_figures(call: Call) -> tuple[dict[str, Any], ZoneInfo]:
    """The figures asked for (team, from, to checked against the caller) and the team's time zone."""
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
    return figures_json(team, period, report.figures[team]), period.zone


# --- charts (SVG / PNG) ------------------------------------------------------------------------------------------------

CHART_QUERY = ("format", "width", "height")
CHART_SCHEMAS: dict[str, dict[str, Any]] = {
    "format": enum_schema(ChartFormat),
    "width": {"type": "integer", "minimum": MIN_WIDTH_PX, "maximum": MAX_WIDTH_PX},
    "height": {"type": "integer", "minimum": MIN_HEIGHT_PX, "maximum": MAX_HEIGHT_PX},
}


def chart_request(call: Call) -> tuple[ChartFormat, ChartSize]:
    """format (svg, the default, or png) and the size in pixels, for every chart route."""
    fmt = call.query_enum("format", ChartFormat) or ChartFormat.SVG
    default = ChartSize()
    width = call.query_int("width", default=default.width_px, low=MIN_WIDTH_PX, high=MAX_WIDTH_PX)
    height = call.query_int("height", default=default.height_px, low=MIN_HEIGHT_PX, high=MAX_HEIGHT_PX)
    return fmt, ChartSize(width_px=width or default.width_px, height_px=height or default.height_px)


def chart_response(image: bytes, fmt: ChartFormat, name: str) -> web.Response:
    return web.Response(
        body=image, content_type=MEDIA_TYPES[fmt],
        headers={"Content-Disposition": f'inline; filename="{name}.{fmt.value}"', "Cache-Control": "no-store"},
    )


CHART_MEDIA = tuple(MEDIA_TYPES.values())


@api.route(
    "GET", V1 + "/reports/team-figures/chart",
    summary="The team figures' calls per 15 minutes (answered / missed / abandoned, stacked) and service level, "
    "as an image: format=svg (default) or png, width and height in pixels; team, from, to as for team-figures",
    query=("team", "from", "to", *CHART_QUERY), query_schemas=CHART_SCHEMAS, tag="reports", media=CHART_MEDIA,
)
async def team_figures_chart(call: Call) -> Any:
    fmt, size = chart_request(call)  # bad format or size: a 400 before any work
    figures, zone = await _team_figures(call)
    title = f"{figures['team'] or 'All teams'}: {figures['from_iso'][:16]} to {figures['to_iso'][:16]} ({zone.key})"
    image = await render(calls_chart, interval_bars(figures["series"], zone), title=title, fmt=fmt, size=size)
    return chart_response(image, fmt, "team-figures")


# Charts of the other reports: each calls the report's own route handler (same query, same checks, same figures) and
# draws what it answered, so a chart can never show other numbers than its report.


def _schemas_of(module: Any, path: str) -> dict[str, dict[str, Any]]:
    """The query schemas the report's own route declares, for its chart route to declare the same."""
    (route,) = [r for r in module.api.routes if r.method == "GET" and r.path == path]
    return dict(route.query_schemas or {})


@api.route(
    "GET", V1 + "/reports/calls/chart",
    summary="The call analytics (GET /reports/calls, same query) as an image: answered / missed / abandoned per "
    "interval, stacked over every key of the group, and the service level line when there is one key",
    query=("group", "interval", "team", "from", "to", *CHART_QUERY), tag="reports",
    query_schemas={**CHART_SCHEMAS, "group": enum_schema(Group), "interval": enum_schema(Interval)}, media=CHART_MEDIA,
)
async def calls_chart_route(call: Call) -> Any:
    from callcenter.api.analytics_routes import calls_report  # it imports this module's team checks

    fmt, size = chart_request(call)
    report = await calls_report(call)
    zone = ZoneInfo(report["timezone"])
    keys = {row["key"] for row in report["rows"]} | {row["key"] for row in report["totals"]}
    slots: dict[str, dict[str, Any]] = {
        start: {"start_s": datetime.fromisoformat(start).timestamp(), "answered": 0, "missed": 0, "abandoned": 0,
                "service_level_pct": None}
        for start in report["intervals"]
    }
    for row in report["rows"]:
        slot = slots.get(row["start_iso"])
        if slot is None:
            continue
        for name in ("answered", "missed", "abandoned"):
            slot[name] += row[name]
        if len(keys) == 1:  # a percentage of one key; of several it would need their definitions' counts
            slot["service_level_pct"] = row["service_level_pct"]
    label = "15 minutes" if report["interval"] == Interval.QUARTER else report["interval"]
    title = f"{report['team'] or 'All teams'}, per {label} and {report['group']}: {report['from_iso'][:16]} to {report['to_iso'][:16]}"
    image = await render(calls_chart, interval_bars(list(slots.values()), zone), title=title, fmt=fmt, size=size)
    return chart_response(image, fmt, "calls")


AGENT_STATES = (("available_s", "available"), ("talking_s", "talking"), ("wrapup_s", "wrap-up"), ("paused_s", "paused"))


@api.route(
    "GET", V1 + "/reports/agents/chart",
    summary="Each agent's time per state (GET /reports/agents, same query) as an image: minutes available, talking, in "
    "wrap-up and paused, side by side per agent",
    query=("team", "from", "to", *CHART_QUERY), query_schemas=CHART_SCHEMAS, tag="reports", media=CHART_MEDIA,
)
async def agents_chart_route(call: Call) -> Any:
    from callcenter.api.analytics_routes import agents_report  # it imports this module's team checks

    fmt, size = chart_request(call)
    report = await agents_report(call)
    rows = report["rows"]
    labels = [row["name"] or row["agent"] for row in rows]
    minutes = {label: [round(row[key] / 60, 1) for row in rows] for key, label in AGENT_STATES}
    title = f"{report['team'] or 'Agents'}: {report['from_iso'][:16]} to {report['to_iso'][:16]} ({report['timezone']})"
    image = await render(figures_chart, labels, minutes, kind="bar", title=title, fmt=fmt, size=size,
                         value_label="minutes")
    return chart_response(image, fmt, "agents")


@api.route(
    "GET", V1 + "/reports/funnel/chart",
    summary="A pipeline's funnel (GET /reports/funnel, same query) as an image: deals that reached each stage, "
    "with the conversion to the next",
    query=("pipeline_id", "from", "to", "team", "days", *CHART_QUERY), tag="reports",
    query_schemas={**_schemas_of(sales_routes, V1 + "/reports/funnel"), **CHART_SCHEMAS}, media=CHART_MEDIA,
)
async def funnel_chart_route(call: Call) -> Any:
    fmt, size = chart_request(call)
    report = await sales_routes.funnel(call)
    stages = [
        Stage(stage["name"], stage["reached_deals"],
              "" if stage["to_next_pct"] is None else f"{stage['to_next_pct']:g}% to next")
        for stage in report["stages"]
    ]
    title = f"{report['pipeline']}: {report['from_iso'][:10]} to {report['to_iso'][:10]}"
    image = await render(funnel_chart, stages, title=title, value_label="deals that reached the stage", fmt=fmt,
                         size=size)
    return chart_response(image, fmt, "funnel")


@api.route(
    "GET", V1 + "/reports/staffing/chart",
    summary="Agents needed per 15 minutes (GET /reports/staffing, same query) as an image: Erlang C and Erlang A",
    query=("team", "weekday", "time", "target_pct", "threshold_s", "weeks", "max_occupancy_pct", "until",
           *CHART_QUERY),
    tag="reports",
    query_schemas={**_schemas_of(staffing_routes, V1 + "/reports/staffing"), **CHART_SCHEMAS}, media=CHART_MEDIA,
)
async def staffing_chart_route(call: Call) -> Any:
    fmt, size = chart_request(call)
    plan = await staffing_routes.staffing(call)
    intervals = plan["intervals"]
    agents = lambda model: [None if i[model] is None else i[model]["agents"] for i in intervals]  # noqa: E731
    target = plan["target"]
    title = (f"{plan['team']}, {plan['weekday']}: agents for {target['target_pct']:g}% within "
             f"{target['threshold_s']:g} s")
    image = await render(figures_chart, [i["time"] for i in intervals],
                         {"Erlang C": agents("erlang_c"), "Erlang A": agents("erlang_a")}, kind="bar", title=title,
                         fmt=fmt, size=size, value_label="agents")
    return chart_response(image, fmt, "staffing")
