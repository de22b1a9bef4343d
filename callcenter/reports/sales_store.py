"""Reads the sales figures' inputs from the CRM (adapter): GROUP BY aggregates pushed into the database.

Every function returns aggregate rows (per stage, per source, per user, per reason, per currency), never one row per
deal, lead or activity, so the work stays in the database on large data; medians too (PostgreSQL's
percentile_cont; on SQLite a ROW_NUMBER window picks the middle value(s) per group). callcenter/reports/sales.py
turns the rows into figures; the ``*_report`` functions at the end do both, one call per report (the routes' and the
bench's entry points).

Role scope: each function takes ``scope``, a condition on an owner column (``owner_scope``): agents their own deals,
leads, activities; supervisors their team's (and the unassigned pool); admins everything or one team's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Float,
    and_,
    bindparam,
    case,
    cast,
    distinct,
    func,
    literal,
    or_,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import True_

from callcenter.reports import sales
from callcenter.reports.sales import (
    DAY_S,
    ActivityCount,
    DealCount,
    LeadGroup,
    Reach,
    Stage,
    StayStats,
    User as UserFact,
)
from crm_core.access import Principal, owner_filter
from crm_core.models import (
    Activity,
    Deal,
    DealStageChange,
    DealStatus,
    Lead,
    PipelineStage,
    Role,
    StageKind,
    Task,
    TaskStatus,
    User,
)

__all__ = [
    "Scope",
    "StuckDeal",
    "activity_counts",
    "closed_counts",
    "deals_won_by_user",
    "funnel_report",
    "lead_groups",
    "lead_sources_report",
    "lead_won",
    "lost_reason_counts",
    "lost_reasons_report",
    "manager_report",
    "owner_scope",
    "reach_counts",
    "stages_of",
    "stay_stats",
    "stuck_counts",
    "stuck_deals",
    "stuck_limits",
    "tasks_done",
    "users_in_scope",
]

# A condition on an owner column (responsible_id, user_id, assignee_id) for what the caller may see.
Scope = Callable[[Any], ColumnElement[bool]]
CENT = Decimal("0.01")


def owner_scope(principal: Principal, team_id: int | None) -> Scope:
    """The caller's role scope (crm_core.access.owner_filter); an admin's narrowed to one team's members when asked.
    Others may only name their own team (the route checks), which is their scope already."""

    def scope(column: Any) -> ColumnElement[bool]:
        mine = owner_filter(principal, column)
        if team_id is None or principal.role is not Role.ADMIN:
            return mine
        return and_(mine, column.in_(select(User.id).where(User.team_id == team_id).scalar_subquery()))

    return scope


def _utc(epoch_s: float) -> datetime:
    return datetime.fromtimestamp(epoch_s, tz=timezone.utc)


def _between(column: Any, from_s: float, to_s: float) -> ColumnElement[bool]:
    """[from_s, to_s) on ``column``, the bounds written into the SQL: PostgreSQL plans each period with its real row
    counts. As parameters, a statement run a few times (asyncpg prepares it) gets a generic plan that guesses a
    fraction of a percent of the rows, and for the funnel's reach chose a parallel plan in which every worker
    re-aggregated all the period's changes (3x slower)."""
    return and_(column >= _instant(column, from_s), column < _instant(column, to_s))


def _instant(column: Any, epoch_s: float) -> Any:
    return bindparam(None, _utc(epoch_s), type_=column.type, literal_execute=True)


def _money(value: Any) -> Decimal:
    # SQLite sums NUMERIC as a float: back to cents.
    return Decimal(str(value or 0)).quantize(CENT)


def _seconds(session: AsyncSession, later: Any, earlier: Any) -> ColumnElement[float]:
    if session.get_bind().dialect.name == "sqlite":  # naive UTC text: julianday reads it
        return (func.julianday(later) - func.julianday(earlier)) * DAY_S
    # date_part is double precision: EXTRACT's numeric costs several times more per row.
    return cast(func.date_part("epoch", later - earlier), Float)


def _mean_median(session: AsyncSession, values: Any, keys: Sequence[str]) -> Any:
    """count, mean and median of ``values.c.v`` per ``keys`` (columns of ``values``), in SQL: the median of an even
    count is the mean of the middle two. PostgreSQL: ``percentile_cont(0.5)``, one aggregate that sorts each group
    in memory. SQLite has no percentile_cont: the middle one or two values by ROW_NUMBER (a sort of all the rows)."""
    parts = [values.c[k] for k in keys]
    if session.get_bind().dialect.name == "postgresql":
        median = func.percentile_cont(0.5).within_group(values.c.v)
        return select(*parts, func.count(), func.avg(values.c.v), median).group_by(*parts)
    ranked = select(
        *parts,
        values.c.v,
        func.row_number().over(partition_by=parts, order_by=values.c.v).label("rn"),
        func.count().over(partition_by=parts).label("n"),
    ).subquery()
    middle = or_(ranked.c.rn == (ranked.c.n + 1) // 2, ranked.c.rn == (ranked.c.n + 2) // 2)
    cols = [ranked.c[k] for k in keys]
    return select(
        *cols, func.count(), func.avg(ranked.c.v), func.avg(case((middle, ranked.c.v)))
    ).group_by(*cols)


def _round_s(value: Any) -> float | None:
    return None if value is None else round(float(value), 1)


# -- pipeline funnel --------------------------------------------------------------------------------------------------


async def stages_of(session: AsyncSession, pipeline_id: int) -> list[Stage]:
    rows = await session.execute(
        select(PipelineStage.id, PipelineStage.name, PipelineStage.position, PipelineStage.kind)
        .where(PipelineStage.pipeline_id == pipeline_id)
        .order_by(PipelineStage.position, PipelineStage.id)
    )
    return [Stage(id=i, name=n, position=p, kind=k.value) for i, n, p, k in rows]


def _deal_counts(rows: Any) -> list[DealCount]:
    return [
        DealCount(key=key.value if isinstance(key, DealStatus) else key, currency=cur, deals=n, amount=_money(amount))
        for key, cur, n, amount in rows
    ]


async def reach_counts(
    session: AsyncSession, *, pipeline_id: int, from_s: float, to_s: float, scope: Scope
) -> list[Reach]:
    """Deals grouped by what they did in the period: the furthest open / won stage position they entered and the
    set of stage positions they entered (a bit mask). One pass over the period's changes (read from the covering
    index), one row per deal in between, then a lookup of each deal's currency and amount; the answer has a row per
    distinct (furthest, mask, currency), a handful. ``sales.split_reach`` makes the funnel's counts of them.
    (A pipeline has at most 50 stages, so the mask fits in 64 bits.)"""
    bit = cast(literal(1), BigInteger).op("<<")(PipelineStage.position)
    postgres = session.get_bind().dialect.name == "postgresql"
    per_deal = (
        select(
            DealStageChange.deal_id,
            func.max(case((PipelineStage.kind != StageKind.LOST, PipelineStage.position))).label("pos"),
            # The same mask either way; PostgreSQL's bit_or lets it group by hashing (a DISTINCT aggregate sorts).
            (func.bit_or(bit) if postgres else func.sum(distinct(bit))).label("mask"),
        )
        .join(PipelineStage, PipelineStage.id == DealStageChange.to_stage_id)
        .where(PipelineStage.pipeline_id == pipeline_id, _between(DealStageChange.changed_at, from_s, to_s))
        .group_by(DealStageChange.deal_id)
        .subquery()
    )
    rows = await session.execute(
        select(per_deal.c.pos, per_deal.c.mask, Deal.currency, func.count(), func.sum(Deal.amount))
        .join(Deal, Deal.id == per_deal.c.deal_id)
        .where(scope(Deal.responsible_id))
        .group_by(per_deal.c.pos, per_deal.c.mask, Deal.currency)
    )
    return [
        Reach(furthest_position=pos, entered_mask=int(mask), currency=cur, deals=n, amount=_money(amount))
        for pos, mask, cur, n, amount in rows
    ]


async def closed_counts(
    session: AsyncSession, *, pipeline_id: int | None, from_s: float, to_s: float, scope: Scope
) -> list[DealCount]:
    """Deals now won / lost that closed in the period, keyed by status."""
    query = (
        select(Deal.status, Deal.currency, func.count(), func.sum(Deal.amount))
        .where(
            Deal.status.in_((DealStatus.WON, DealStatus.LOST)),
            _between(Deal.closed_at, from_s, to_s),
            scope(Deal.responsible_id),
        )
        .group_by(Deal.status, Deal.currency)
    )
    if pipeline_id is not None:
        query = query.where(Deal.pipeline_id == pipeline_id)
    return _deal_counts(await session.execute(query))


async def stay_stats(
    session: AsyncSession, *, pipeline_id: int, from_s: float, to_s: float, scope: Scope
) -> list[StayStats]:
    """Time in stage per stage: the stays (a stage change to the next one of the same deal) that ended in the
    period. Each change carries when the deal left its stage (``left_at``, kept on write: crm_core.stage_stays), so
    the period's stays are a range per stage of ix_deal_stage_history_left, which also holds their start; the
    deals are read only when the scope narrows them to some owners."""
    durations = select(
        DealStageChange.to_stage_id.label("stage_id"),
        _seconds(session, DealStageChange.left_at, DealStageChange.changed_at).label("v"),
    ).where(
        _between(DealStageChange.left_at, from_s, to_s),
        # The pipeline's stages: a deal only ever enters its own pipeline's stages (crm_core.deals checks).
        DealStageChange.to_stage_id.in_(select(PipelineStage.id).where(PipelineStage.pipeline_id == pipeline_id)),
    )
    visible = scope(Deal.responsible_id)
    if not isinstance(visible, True_):  # everything (an admin): the index alone, no look-up of each deal's owner
        durations = durations.join(Deal, Deal.id == DealStageChange.deal_id).where(visible)
    durations = durations.subquery()
    rows = await session.execute(_mean_median(session, durations, ["stage_id"]))
    return [StayStats(stage_id=s, stays=n, mean_s=_round_s(m), median_s=_round_s(md)) for s, n, m, md in rows]


def _stuck_where(thresholds_s: Mapping[int, float], now_s: float, scope: Scope) -> list[ColumnElement[bool]]:
    """Open deals of the pipeline in a stage with a threshold that entered it before now minus that threshold
    (``Deal.stage_entered_at``, kept on write): per stage one range of ix_deals_stage_entered."""
    return [
        Deal.status == DealStatus.OPEN,
        or_(*(
            and_(Deal.stage_id == stage, Deal.stage_entered_at < _instant(Deal.stage_entered_at, now_s - limit_s))
            for stage, limit_s in thresholds_s.items()
        )),
        scope(Deal.responsible_id),
    ]


async def stuck_counts(
    session: AsyncSession, *, pipeline_id: int, thresholds_s: Mapping[int, float], now_s: float, scope: Scope
) -> dict[int, int]:
    if not thresholds_s:
        return {}
    rows = await session.execute(
        select(Deal.stage_id, func.count())
        .where(Deal.pipeline_id == pipeline_id, *_stuck_where(thresholds_s, now_s, scope))
        .group_by(Deal.stage_id)
    )
    return {stage: n for stage, n in rows}


@dataclass(frozen=True, slots=True)
class StuckDeal:
    deal_id: int
    title: str
    stage_id: int
    responsible_id: int | None
    amount: Decimal | None
    currency: str
    entered_s: float
    in_stage_s: float
    threshold_s: float


async def stuck_deals(
    session: AsyncSession,
    *,
    pipeline_id: int,
    thresholds_s: Mapping[int, float],
    now_s: float,
    scope: Scope,
    limit: int,
) -> list[StuckDeal]:
    """The stuck deals longest in their stage first, at most ``limit``."""
    if not thresholds_s:
        return []
    rows = await session.execute(
        select(Deal.id, Deal.title, Deal.stage_id, Deal.responsible_id, Deal.amount, Deal.currency,
               Deal.stage_entered_at)
        .where(Deal.pipeline_id == pipeline_id, *_stuck_where(thresholds_s, now_s, scope))
        .order_by(Deal.stage_entered_at, Deal.id)
        .limit(limit)
    )
    return [
        StuckDeal(
            deal_id=i, title=t, stage_id=s, responsible_id=r, amount=a, currency=c,
            entered_s=e.timestamp(), in_stage_s=round(now_s - e.timestamp(), 1), threshold_s=thresholds_s[s],
        )
        for i, t, s, r, a, c, e in rows
    ]


# -- lead sources -----------------------------------------------------------------------------------------------------


def _leads_in(from_s: float, to_s: float, scope: Scope) -> list[ColumnElement[bool]]:
    return [_between(Lead.created_at, from_s, to_s), scope(Lead.responsible_id)]


async def lead_groups(session: AsyncSession, *, from_s: float, to_s: float, scope: Scope) -> list[LeadGroup]:
    """Leads created in the period per source and channel, those converted (at any time since), and the median
    time from creation to conversion."""
    where = _leads_in(from_s, to_s, scope)
    counts = await session.execute(
        select(Lead.source, Lead.channel, func.count(), func.count(Lead.converted_at))
        .where(*where)
        .group_by(Lead.source, Lead.channel)
    )
    durations = (
        select(Lead.source, Lead.channel, _seconds(session, Lead.converted_at, Lead.created_at).label("v"))
        .where(*where, Lead.converted_at.is_not(None))
        .subquery()
    )
    per_group = await session.execute(_mean_median(session, durations, ["source", "channel"]))
    medians = {(s, c): md for s, c, _n, _m, md in per_group}
    return [
        LeadGroup(source=s, channel=c, leads=n, converted=conv, median_to_convert_s=_round_s(medians.get((s, c))))
        for s, c, n, conv in counts
    ]


async def lead_won(session: AsyncSession, *, from_s: float, to_s: float, scope: Scope) -> list[DealCount]:
    """Won deals made from the period's leads (both in scope), keyed by the lead's (source, channel)."""
    rows = await session.execute(
        select(Lead.source, Lead.channel, Deal.currency, func.count(), func.sum(Deal.amount))
        .join(Deal, Deal.lead_id == Lead.id)
        .where(*_leads_in(from_s, to_s, scope), Deal.status == DealStatus.WON, scope(Deal.responsible_id))
        .group_by(Lead.source, Lead.channel, Deal.currency)
    )
    return [DealCount(key=(s, c), currency=cur, deals=n, amount=_money(a)) for s, c, cur, n, a in rows]


# -- activity per manager ---------------------------------------------------------------------------------------------


async def users_in_scope(session: AsyncSession, scope: Scope) -> list[UserFact]:
    rows = await session.execute(select(User.id, User.name, User.team_id, User.active).where(scope(User.id)))
    return [UserFact(id=i, name=n, team_id=t, active=a) for i, n, t, a in rows]


def _user_ids(scope: Scope) -> Any:
    return select(User.id).where(scope(User.id)).scalar_subquery()


async def activity_counts(session: AsyncSession, *, from_s: float, to_s: float, scope: Scope) -> list[ActivityCount]:
    answered = func.sum(case((Activity.result == "answered", 1), else_=0))
    rows = await session.execute(
        select(
            Activity.user_id, Activity.kind, Activity.direction, func.count(), answered,
            func.sum(func.coalesce(Activity.talk_s, 0.0)),
        )
        .where(_between(Activity.started_at, from_s, to_s), Activity.user_id.in_(_user_ids(scope)))
        .group_by(Activity.user_id, Activity.kind, Activity.direction)
    )
    return [
        ActivityCount(
            user_id=u, kind=k.value, direction=d.value if d is not None else None, count=n,
            answered=int(a or 0), talk_s=float(t or 0.0),
        )
        for u, k, d, n, a, t in rows
    ]


async def tasks_done(session: AsyncSession, *, from_s: float, to_s: float, scope: Scope) -> dict[tuple[int, str], int]:
    rows = await session.execute(
        select(Task.assignee_id, Task.kind, func.count())
        .where(
            Task.status == TaskStatus.DONE,
            _between(Task.completed_at, from_s, to_s),
            Task.assignee_id.in_(_user_ids(scope)),
        )
        .group_by(Task.assignee_id, Task.kind)
    )
    return {(u, k.value): n for u, k, n in rows}


async def deals_won_by_user(session: AsyncSession, *, from_s: float, to_s: float, scope: Scope) -> list[DealCount]:
    rows = await session.execute(
        select(Deal.responsible_id, Deal.currency, func.count(), func.sum(Deal.amount))
        .where(
            Deal.status == DealStatus.WON,
            _between(Deal.closed_at, from_s, to_s),
            Deal.responsible_id.in_(_user_ids(scope)),
        )
        .group_by(Deal.responsible_id, Deal.currency)
    )
    return _deal_counts(rows)


# -- lost reasons -----------------------------------------------------------------------------------------------------


async def lost_reason_counts(
    session: AsyncSession, *, pipeline_id: int | None, from_s: float, to_s: float, scope: Scope
) -> list[DealCount]:
    """Deals now lost that closed in the period, keyed by their lost reason (None: none given)."""
    query = (
        select(Deal.lost_reason, Deal.currency, func.count(), func.sum(Deal.amount))
        .where(Deal.status == DealStatus.LOST, _between(Deal.closed_at, from_s, to_s), scope(Deal.responsible_id))
        .group_by(Deal.lost_reason, Deal.currency)
    )
    if pipeline_id is not None:
        query = query.where(Deal.pipeline_id == pipeline_id)
    return _deal_counts(await session.execute(query))



# -- one call per report (the routes' and the bench's entry points) ---------------------------------------------------


async def funnel_report(
    session: AsyncSession,
    *,
    pipeline_id: int,
    from_s: float,
    to_s: float,
    scope: Scope,
    now_s: float,
    days: int | None = None,
) -> sales.Funnel:
    """A pipeline's funnel for [from_s, to_s), stuck deals counted at ``now_s`` (without ``days``: against the
    medians of this same period, the ones the funnel shows): five aggregate queries."""
    window: dict[str, Any] = {"pipeline_id": pipeline_id, "from_s": from_s, "to_s": to_s, "scope": scope}
    stages = await stages_of(session, pipeline_id)
    stays = await stay_stats(session, **window)
    thresholds = sales.stuck_thresholds(stages, days=days, medians_s={s.stage_id: s.median_s for s in stays})
    furthest, entered = sales.split_reach(await reach_counts(session, **window), stages)
    return sales.funnel(
        stages,
        furthest=furthest,
        entered=entered,
        closed=await closed_counts(session, **window),
        stays=stays,
        stuck=await stuck_counts(session, pipeline_id=pipeline_id, thresholds_s=thresholds, now_s=now_s, scope=scope),
    )


async def stuck_limits(
    session: AsyncSession,
    stages: Sequence[Stage],
    *,
    pipeline_id: int,
    days: int | None,
    from_s: float,
    to_s: float,
    scope: Scope,
) -> dict[int, float]:
    """Seconds after which an open deal is stuck, per stage (sales.stuck_thresholds); without ``days`` against the
    stages' medians over [from_s, to_s) (read only then)."""
    medians: dict[int, float | None] = {}
    if days is None:
        stays = await stay_stats(session, pipeline_id=pipeline_id, from_s=from_s, to_s=to_s, scope=scope)
        medians = {s.stage_id: s.median_s for s in stays}
    return sales.stuck_thresholds(stages, days=days, medians_s=medians)


async def lead_sources_report(session: AsyncSession, *, from_s: float, to_s: float, scope: Scope) -> sales.LeadSources:
    window: dict[str, Any] = {"from_s": from_s, "to_s": to_s, "scope": scope}
    return sales.lead_sources(await lead_groups(session, **window), await lead_won(session, **window))


async def manager_report(session: AsyncSession, *, from_s: float, to_s: float, scope: Scope) -> list[sales.ManagerRow]:
    window: dict[str, Any] = {"from_s": from_s, "to_s": to_s, "scope": scope}
    return sales.manager_activity(
        await users_in_scope(session, scope),
        await activity_counts(session, **window),
        done=await tasks_done(session, **window),
        won=await deals_won_by_user(session, **window),
    )


async def lost_reasons_report(
    session: AsyncSession, *, pipeline_id: int | None, from_s: float, to_s: float, scope: Scope
) -> list[sales.LostReasonRow]:
    return sales.lost_reasons(
        await lost_reason_counts(session, pipeline_id=pipeline_id, from_s=from_s, to_s=to_s, scope=scope)
    )
