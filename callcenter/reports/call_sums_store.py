"""Call sums per group and local interval, added up by the database (adapter): one GROUP BY over the report columns
of the call activities (crm_core.call_facts), never a row per call into Python.

Local intervals in SQL: within a stretch of the period where the zone's UTC offset does not change (a *segment*;
a month has at most three), a call's local interval is its epoch second plus the offset, floored to the interval's
width (a week from Monday). Rows come back per (group, segment, local interval) with the first call's instant, which
places the row in the period's intervals (intervals.interval_index); rows landing in the same interval are added up
(call_sums.add). So the grouping is exactly the intervals' (DST days, periods cut mid-interval included) whichever
database adds up.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import BigInteger, Integer, and_, case, cast, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.reports.call_sums import CallSums
from callcenter.reports.figures import ABANDONED, ANSWERED, MISSED, Group, ServiceLevelRule
from callcenter.reports.intervals import QUARTER_S, Interval
from callcenter.reports.report import DidTeam
from crm_core.models import Activity, ActivityKind, Direction

__all__ = ["GroupSums", "call_sums_by_group", "offset_segments"]

HOUR_S = 3_600
DAY_S = 86_400
WEEK_S = 7 * DAY_S
MONDAY_S = 4 * DAY_S  # 1970-01-01 was a Thursday: the first Monday is 4 days later
WIDTH_S = {Interval.QUARTER: QUARTER_S, Interval.HOUR: HOUR_S, Interval.DAY: DAY_S, Interval.WEEK: WEEK_S}


@dataclass(frozen=True, slots=True)
class GroupSums:
    key: str | None  # team name, agent extension, DID or queue
    first_s: float  # the earliest call's start: which interval of the period the sums belong to
    sums: CallSums


def _offset_s(zone: ZoneInfo, at_s: float) -> int:
    offset = datetime.fromtimestamp(at_s, timezone.utc).astimezone(zone).utcoffset()
    return int(offset.total_seconds()) if offset is not None else 0


def offset_segments(from_s: float, to_s: float, zone: ZoneInfo) -> list[tuple[float, int]]:
    """(start, UTC offset) of each stretch of [from_s, to_s) with one offset, the first starting at ``from_s``.
    Offsets change on a whole second; a quarter-hour scan finds each change and halving pins it to the second."""
    segments = [(from_s, _offset_s(zone, from_s))]
    t = float(math.floor(from_s / QUARTER_S) * QUARTER_S)
    while t < to_s:
        nxt = t + QUARTER_S
        if _offset_s(zone, min(nxt, to_s)) != segments[-1][1]:
            lo, hi = max(t, from_s), min(nxt, to_s)  # offset(lo) is the current one, offset(hi) the new one
            while hi - lo > 1:
                mid = math.floor((lo + hi) / 2)
                lo, hi = (mid, hi) if _offset_s(zone, mid) == segments[-1][1] else (lo, mid)
            segments.append((float(hi), _offset_s(zone, hi)))
        t = nxt
    return segments


def _epoch_s(column: Any, dialect: str) -> Any:
    """Whole epoch seconds of a timestamp (floor): interval boundaries are whole seconds."""
    if dialect == "postgresql":  # date_part is double precision: EXTRACT's numeric costs several times more per row
        return cast(func.floor(func.date_part("epoch", column)), BigInteger)
    return cast(func.strftime("%s", column), Integer)


def _exact_epoch_s(column: Any, dialect: str) -> Any:
    if dialect == "postgresql":
        return func.date_part("epoch", column)
    return (func.julianday(column) - 2440587.5) * 86400.0


def _by_segment(epoch: Any, segments: list[tuple[float, int]], values: list[Any]) -> Any:
    if len(segments) == 1:
        return literal(values[0])
    return case(*[(epoch < math.floor(start), value) for (start, _), value in zip(segments[1:], values, strict=False)],
                else_=values[-1])


def _local_interval(epoch: Any, offset: Any, interval: Interval) -> Any:
    local = epoch + offset
    if interval is Interval.WEEK:
        return local - (local - MONDAY_S) % WEEK_S
    return local - local % WIDTH_S[interval]


def _key_column(group: Group) -> Any:
    return {Group.AGENT: Activity.agent_ext, Group.DID: Activity.did, Group.QUEUE: Activity.queue}.get(group)


def _utc(epoch_s: float) -> datetime:
    return datetime.fromtimestamp(epoch_s, tz=timezone.utc)


async def call_sums_by_group(
    session: AsyncSession,
    *,
    from_s: float,
    to_s: float,
    zone: ZoneInfo,
    interval: Interval,
    group: Group,
    rule: ServiceLevelRule,
    fcr_window_s: float,
    did_team: DidTeam,
    team: str | None = None,
) -> list[GroupSums]:
    """Sums of the inbound calls that started in [from_s, to_s) (only ``team``'s, when given), per group key and
    local interval of ``zone``.

    A call's team: its last routing decision's, else its DID's (report.call_team), so the DID of the calls without a
    routing team is read along."""
    dialect = session.get_bind().dialect.name
    segments = offset_segments(from_s, to_s, zone)
    epoch = _epoch_s(Activity.started_at, dialect)
    segment = _by_segment(epoch, segments, list(range(len(segments))))
    offset = _by_segment(epoch, segments, [off for _, off in segments])
    local = _local_interval(epoch, offset, interval)

    answered = Activity.result == ANSWERED
    abandoned = Activity.result == ABANDONED
    wait = func.coalesce(Activity.wait_s, 0.0)
    positive_wait = case((wait > 0, wait), else_=0.0)
    talk = case((func.coalesce(Activity.talk_s, 0.0) > 0, Activity.talk_s), else_=0.0)
    wrapup = case((func.coalesce(Activity.wrapup_s, 0.0) > 0, Activity.wrapup_s), else_=0.0)
    judged = and_(answered, Activity.from_e164.is_not(None), Activity.from_e164 != "")
    # Resolved at first contact: no inbound call from the number starts after it and within the window of its end.
    ended = func.coalesce(Activity.ended_at, Activity.started_at)
    resolved = and_(judged, or_(
        Activity.next_call_at.is_(None),
        _exact_epoch_s(Activity.next_call_at, dialect) > _exact_epoch_s(ended, dialect) + fcr_window_s,
    ))

    def count(condition: Any) -> Any:
        return func.sum(case((condition, 1), else_=0))

    def total(condition: Any, value: Any) -> Any:
        return func.sum(case((condition, value), else_=0.0))

    team_columns = [Activity.routed_team, case((Activity.routed_team.is_(None), Activity.did), else_=None)]
    key = _key_column(group)
    keys = team_columns + ([key] if key is not None else [])
    where = [
        Activity.kind == ActivityKind.CALL,
        Activity.direction == Direction.INBOUND,
        Activity.started_at >= _utc(from_s),
        Activity.started_at < _utc(to_s),
    ]
    if team is not None:
        where.append(or_(Activity.routed_team == team, Activity.routed_team.is_(None)))
    query = (
        select(
            *keys, segment.label("segment"), local.label("local_start"), func.min(epoch),
            func.count(), count(answered), count(Activity.result == MISSED), count(abandoned),
            count(and_(abandoned, wait < rule.short_abandon_s)),
            total(abandoned, positive_wait), func.max(case((abandoned, positive_wait), else_=None)),
            count(and_(answered, wait <= rule.threshold_s)),
            total(answered, positive_wait), total(answered, talk), total(answered, wrapup),
            count(Activity.transferred), count(judged), count(resolved), count(Activity.end_estimated),
        )
        .where(*where)
        .group_by(*keys, "segment", "local_start")
    )
    rows = (await session.execute(query)).all()
    out = []
    for row in rows:
        call_team = row[0] or did_team(row[1])
        if team is not None and call_team != team:
            continue
        group_key = call_team if key is None else row[2]
        (first_s, offered, n_answered, missed, n_abandoned, short, abandon_wait, abandon_max, within,
         answered_wait, talk_s, wrapup_s, n_transferred, fcr_calls, fcr_resolved, approximate) = row[len(keys) + 2:]
        # The floor of an epoch can fall before a period that starts mid-second: it is still the first interval.
        out.append(GroupSums(key=group_key, first_s=max(float(first_s), from_s), sums=CallSums(
            offered=int(offered), answered=int(n_answered), missed=int(missed), abandoned=int(n_abandoned),
            short_abandoned=int(short), abandon_wait_sum_s=float(abandon_wait or 0.0),
            abandon_wait_max_s=float(abandon_max) if abandon_max is not None else None,
            answered_within_threshold=int(within), answered_wait_sum_s=float(answered_wait or 0.0),
            talk_sum_s=float(talk_s or 0.0), wrapup_sum_s=float(wrapup_s or 0.0), transferred=int(n_transferred),
            fcr_calls=int(fcr_calls), fcr_resolved=int(fcr_resolved), approximate=int(approximate),
        )))
    return out
