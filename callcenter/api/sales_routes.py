"""Sales analytics: funnel per pipeline, stuck deals, lead-source conversion, activity per manager, lost reasons.

Role scope (callcenter.reports.sales_store.owner_scope): agents see the figures of their own deals, leads and
activities; supervisors their team's (with the unassigned pool); admins everything, or one team's with ``team=``.
Periods as the other reports (callcenter.reports.period): ``from`` / ``to`` in the team's time zone (the caller's
team without ``team=``; UTC without either), at most ``MAX_PERIOD_DAYS`` days; none: today.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any, overload
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.api.framework import Api, BadRequest, Call
from callcenter.reports import sales, sales_store
from callcenter.reports.period import Period, PeriodError, parse_period
from callcenter.app_keys import DATABASE
from crm_core.errors import Forbidden, Invalid, NotFound
from crm_core.models import Pipeline, Role, Team

api = Api()
V1 = "/api/v1"

Money = dict[str, Decimal]  # amount per currency
_DAYS = {"type": "integer", "minimum": 1, "maximum": sales.MAX_STUCK_DAYS}


class PeriodOut(BaseModel):
    team: str | None  # null: everything the caller may see
    timezone: str
    from_iso: str
    to_iso: str
    from_s: float
    to_s: float


class FunnelStageOut(BaseModel):
    stage_id: int
    name: str
    kind: str
    position: int
    reached_deals: int
    reached_amount: Money
    entered_deals: int
    entered_amount: Money
    to_next_pct: float | None
    stays: int
    mean_in_stage_s: float | None
    median_in_stage_s: float | None
    stuck_deals: int


class FunnelOut(PeriodOut):
    pipeline_id: int
    pipeline: str
    stuck_days: int | None  # null: stuck means longer than 2 x the stage's median in this period
    stages: list[FunnelStageOut]
    deals: int
    amount: Money
    won_deals: int
    won_amount: Money
    lost_deals: int
    lost_amount: Money
    won_of_reached_pct: float | None
    win_rate_pct: float | None


class StuckDealOut(BaseModel):
    deal_id: int
    title: str
    stage_id: int
    stage: str
    responsible_id: int | None
    amount: Decimal | None
    currency: str
    entered_iso: str
    in_stage_s: float
    threshold_s: float


class StuckStageOut(BaseModel):
    stage_id: int
    name: str
    threshold_s: float | None  # null: no median yet, so nothing counts as stuck there
    stuck_deals: int


class StuckDealsOut(BaseModel):
    pipeline_id: int
    pipeline: str
    team: str | None
    stuck_days: int | None
    # Without days: the period of the medians the thresholds are 2 x of.
    medians_from_iso: str | None
    medians_to_iso: str | None
    now_iso: str
    stages: list[StuckStageOut]
    total: int
    deals: list[StuckDealOut]  # the longest in their stage first, at most STUCK_LIST_MAX


class LeadSourceOut(BaseModel):
    source: str
    channel: str | None
    leads: int
    converted: int
    converted_pct: float | None
    won_deals: int
    won_amount: Money
    median_to_convert_s: float | None


class LeadSourcesOut(PeriodOut):
    rows: list[LeadSourceOut]
    leads: int
    converted: int
    converted_pct: float | None
    won_deals: int
    won_amount: Money


class ManagerOut(BaseModel):
    user_id: int
    name: str
    team_id: int | None
    calls_inbound: int
    calls_inbound_answered: int
    calls_outbound: int
    calls_outbound_answered: int
    talk_s: float
    meetings: int
    emails: int
    notes: int
    tasks_done: int
    callbacks_done: int
    deals_won: int
    won_amount: Money


class ManagerActivityOut(PeriodOut):
    managers: list[ManagerOut]


class LostReasonOut(BaseModel):
    reason: str | None
    deals: int
    amount: Money
    share_pct: float | None


class LostReasonsOut(PeriodOut):
    pipeline_id: int | None
    reasons: list[LostReasonOut]
    lost_deals: int


# -- request parsing --------------------------------------------------------------------------------------------------


@asynccontextmanager
async def _reading(call: Call) -> AsyncIterator[AsyncSession]:
    """The reports only read, for seconds on large data: a read-only transaction (on SQLite it holds no write lock,
    so call events and CRM writes go on meanwhile), not the request's writing one."""
    async with call.request.app[DATABASE].read_session() as session:
        yield session



async def _team(call: Call, session: AsyncSession) -> Team | None:
    """The team asked for: any for admins, only their own for everyone else."""
    name = call.query_str("team", max_length=120)
    if name is None:
        return None
    team = await session.scalar(select(Team).where(Team.name == name))
    if team is None:
        raise Invalid(f"unknown team {name!r}", field="team")
    if call.principal.role is not Role.ADMIN and team.id != call.principal.team_id:
        raise Forbidden("you may see the sales figures of your own team only", field="team")
    return team


async def _zone(call: Call, session: AsyncSession, team: Team | None) -> ZoneInfo:
    if team is None and call.principal.team_id is not None:
        team = await session.get(Team, call.principal.team_id)
    try:
        return ZoneInfo(team.timezone) if team is not None else ZoneInfo("UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _period(call: Call, zone: ZoneInfo, now_s: float) -> Period:
    raw_from, raw_to = call.query_str("from", max_length=64), call.query_str("to", max_length=64)
    try:
        period = parse_period(raw_from, raw_to, zone=zone, now_s=now_s, max_days=sales.MAX_PERIOD_DAYS)
    except PeriodError as exc:
        raise BadRequest(str(exc), field=exc.field) from None
    except (OverflowError, ValueError) as exc:  # a bound at the very edge of the calendar, in the zone
        raise BadRequest(f"from/to out of range: {exc}", field="from") from None
    for name, epoch_s in (("from", period.from_s), ("to", period.to_s)):
        try:
            period.iso(epoch_s)
            datetime.fromtimestamp(epoch_s, tz=timezone.utc)
        except (OverflowError, ValueError, OSError):
            raise BadRequest(f"{name} is out of range", field=name) from None
    return period


@overload
async def _pipeline(call: Call, session: AsyncSession) -> Pipeline: ...
@overload
async def _pipeline(call: Call, session: AsyncSession, *, default: bool) -> Pipeline | None: ...


async def _pipeline(call: Call, session: AsyncSession, *, default: bool = True) -> Pipeline | None:
    """The pipeline asked for; none asked: the default pipeline (``default``), else None (every pipeline)."""
    pipeline_id = call.query_int("pipeline_id")
    if pipeline_id is None:
        if not default:
            return None
        first = select(Pipeline).order_by(Pipeline.is_default.desc(), Pipeline.id).limit(1)
        pipeline = await session.scalar(first)
        if pipeline is None:
            raise NotFound("no pipeline exists yet", field="pipeline_id")
        return pipeline
    pipeline = await session.get(Pipeline, pipeline_id) if pipeline_id > 0 else None
    if pipeline is None:
        raise NotFound(f"pipeline {pipeline_id} not found", field="pipeline_id")
    return pipeline


def _days(call: Call) -> int | None:
    raw = call.request.query.get("days")
    if raw is None or raw == "":
        return None
    try:
        days = int(raw)
    except ValueError:
        raise BadRequest(f"days must be an integer, got {raw[:40]!r}", field="days") from None
    if not 1 <= days <= sales.MAX_STUCK_DAYS:
        raise Invalid(f"days must be between 1 and {sales.MAX_STUCK_DAYS}", field="days")
    return days


async def _scope_and_period(
    call: Call, session: AsyncSession
) -> tuple[Team | None, sales_store.Scope, Period, float]:
    team = await _team(call, session)
    now_s = time.time()
    period = _period(call, await _zone(call, session, team), now_s)
    return team, sales_store.owner_scope(call.principal, team.id if team else None), period, now_s


def _period_json(team: Team | None, period: Period) -> dict[str, Any]:
    return {
        "team": team.name if team else None,
        "timezone": period.zone.key,
        "from_iso": period.iso(period.from_s),
        "to_iso": period.iso(period.to_s),
        "from_s": period.from_s,
        "to_s": period.to_s,
    }


# -- routes -----------------------------------------------------------------------------------------------------------


@api.route(
    "GET", V1 + "/reports/funnel",
    summary="A pipeline's funnel for [from, to): deals and amount that reached each stage, conversion to the next and "
    "to won, time in stage (mean / median), stuck deals now, won / lost (default: the default pipeline, today)",
    response=FunnelOut, query=("pipeline_id", "from", "to", "team", "days"), tag="reports",
    query_schemas={"days": _DAYS},
)
async def funnel(call: Call) -> Any:
    async with _reading(call) as session:
        pipeline = await _pipeline(call, session)
        days = _days(call)
        team, scope, period, now_s = await _scope_and_period(call, session)
        figures = await sales_store.funnel_report(
            session, pipeline_id=pipeline.id, from_s=period.from_s, to_s=period.to_s, scope=scope, now_s=now_s,
            days=days,
        )
    return {
        **_period_json(team, period), "pipeline_id": pipeline.id, "pipeline": pipeline.name, "stuck_days": days,
        **asdict(figures),
    }


@api.route(
    "GET", V1 + "/reports/stuck-deals",
    summary="Open deals of a pipeline in their stage longer than days= (default: 2 x the stage's median time in "
    "stage over [from, to), by default the last 30 days), longest first",
    response=StuckDealsOut, query=("pipeline_id", "days", "team", "from", "to"), tag="reports",
    query_schemas={"days": _DAYS},
)
async def stuck_deals(call: Call) -> Any:
    async with _reading(call) as session:
        pipeline = await _pipeline(call, session)
        days = _days(call)
        team = await _team(call, session)
        scope = sales_store.owner_scope(call.principal, team.id if team else None)
        now_s = time.time()
        zone = await _zone(call, session, team)
        if call.query_str("from", max_length=64) or call.query_str("to", max_length=64):
            period = _period(call, zone, now_s)
        else:
            period = Period(now_s - sales.STUCK_MEDIAN_WINDOW_DAYS * sales.DAY_S, now_s, zone)
        stages = await sales_store.stages_of(session, pipeline.id)
        thresholds = await sales_store.stuck_limits(
            session, stages, pipeline_id=pipeline.id, days=days, from_s=period.from_s, to_s=period.to_s, scope=scope
        )
        args = {"pipeline_id": pipeline.id, "thresholds_s": thresholds, "now_s": now_s, "scope": scope}
        counts = await sales_store.stuck_counts(session, **args)
        deals = await sales_store.stuck_deals(session, **args, limit=sales.STUCK_LIST_MAX)
    names = {s.id: s.name for s in stages}
    return {
        "pipeline_id": pipeline.id,
        "pipeline": pipeline.name,
        "team": team.name if team else None,
        "stuck_days": days,
        "medians_from_iso": period.iso(period.from_s) if days is None else None,
        "medians_to_iso": period.iso(period.to_s) if days is None else None,
        "now_iso": datetime.fromtimestamp(now_s, zone).isoformat(),
        "stages": [
            {"stage_id": s.id, "name": s.name, "threshold_s": thresholds.get(s.id), "stuck_deals": counts.get(s.id, 0)}
            for s in stages
            if s.kind == sales.OPEN
        ],
        "total": sum(counts.values()),
        "deals": [
            {
                **{k: v for k, v in asdict(d).items() if k != "entered_s"},
                "stage": names.get(d.stage_id, ""),
                "entered_iso": datetime.fromtimestamp(d.entered_s, zone).isoformat(),
            }
            for d in deals
        ],
    }


@api.route(
    "GET", V1 + "/reports/lead-sources",
    summary="Leads created in [from, to) per source and channel (the DID of phone leads, a form, a campaign): "
    "converted share, deals won from them and their amount, median time to conversion",
    response=LeadSourcesOut, query=("from", "to", "team"), tag="reports",
)
async def lead_sources(call: Call) -> Any:
    async with _reading(call) as session:
        team, scope, period, _ = await _scope_and_period(call, session)
        figures = await sales_store.lead_sources_report(session, from_s=period.from_s, to_s=period.to_s, scope=scope)
    return {**_period_json(team, period), **asdict(figures)}


@api.route(
    "GET", V1 + "/reports/manager-activity",
    summary="Per manager in [from, to): calls in / out and answered, talk time, meetings, e-mails, notes, tasks and "
    "callbacks done, deals won and their amount",
    response=ManagerActivityOut, query=("from", "to", "team"), tag="reports",
)
async def manager_activity(call: Call) -> Any:
    async with _reading(call) as session:
        team, scope, period, _ = await _scope_and_period(call, session)
        rows = await sales_store.manager_report(session, from_s=period.from_s, to_s=period.to_s, scope=scope)
    return {**_period_json(team, period), "managers": [asdict(r) for r in rows]}


@api.route(
    "GET", V1 + "/reports/lost-reasons",
    summary="Deals lost in [from, to) per lost reason: count, amount, share (all pipelines, or pipeline_id=)",
    response=LostReasonsOut, query=("from", "to", "pipeline_id", "team"), tag="reports",
)
async def lost_reasons(call: Call) -> Any:
    async with _reading(call) as session:
        pipeline = await _pipeline(call, session, default=False)
        team, scope, period, _ = await _scope_and_period(call, session)
        reasons = await sales_store.lost_reasons_report(
            session, pipeline_id=pipeline.id if pipeline else None, from_s=period.from_s, to_s=period.to_s,
            scope=scope,
        )
    return {
        **_period_json(team, period),
        "pipeline_id": pipeline.id if pipeline else None,
        "reasons": [asdict(r) for r in reasons],
        "lost_deals": sum(r.deals for r in reasons),
    }
