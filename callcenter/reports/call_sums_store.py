"""Call sums per group and local interval, added up by the database (adapter): one statement over the report columns
of the call activities (crm_core.call_facts) and the quarter-hour sums kept of them (crm_core.call_rollup_models),
never a row per call into Python.

Local intervals in SQL: within a stretch of the period where the zone's UTC offset does not change (a *segment*;
a month has at most three), a call's local interval is its epoch second plus the offset, floored to the interval's
width (a week from Monday). Rows come back per (group, segment, local interval) with the first call's instant, which
places the row in the period's intervals (intervals.interval_index); rows landing in the same interval are added up
(call_sums.add). So the grouping is exactly the intervals' (DST days, periods cut mid-interval included) whichever
database adds up.

What is added up, when the quarter-hour sums were made with the report's settings: the sums of the period's whole
quarter-hours, except those logged as changed since (call_sums_changes), plus the calls of those quarter-hours and of
the period's cut ends, one row each. One statement sees one snapshot, so a quarter-hour is counted from its sums or
from its calls, never both, even while the keeper recomputes it. With other settings, every call of the period.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from datetime import datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    BigInteger, Integer, Select, String, and_, case, cast, func, literal, null, or_, select, union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.reports.call_sums import CallSums
from callcenter.reports.figures import ABANDONED, ANSWERED, MISSED, Group, ServiceLevelRule
from callcenter.reports.intervals import QUARTER_S, Interval
from callcenter.reports.report import DidTeam
from crm_core.call_rollup_models import CallSumsBasis, CallSumsChange, CallSumsQuarter
from crm_core.models import Activity, ActivityKind, Direction

__all__ = ["GroupSums", "SUM_FIELDS", "call_rows", "call_sums_by_group", "offset_segments", "quarter_of", "sums_of"]

HOUR_S = 3_600
DAY_S = 86_400
WEEK_S = 7 * DAY_S
MONDAY_S = 4 * DAY_S  # 1970-01-01 was a Thursday: the first Monday is 4 days later
WIDTH_S = {Interval.QUARTER: QUARTER_S, Interval.HOUR: HOUR_S, Interval.DAY: DAY_S, Interval.WEEK: WEEK_S}
SUM_FIELDS = tuple(f.name for f in fields(CallSums))  # the order of every sums column below
KEY_COLUMNS = ("routed_team", "team_did", "group_key", "epoch_s")


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
    # The stored text cut to the second: strftime rounds fractions to the millisecond (09:14:59.9999 -> 09:15:00).
    return cast(func.strftime("%s", func.substr(column, 1, 19)), Integer)


def _exact_epoch_s(column: Any, dialect: str) -> Any:
    if dialect == "postgresql":
        return func.date_part("epoch", column)
    return (func.julianday(column) - 2440587.5) * 86400.0


def _instant(epoch_s: Any, dialect: str) -> Any:
    """The timestamp of whole epoch seconds, comparable with a stored one (SQLite's text sorts as its instants)."""
    if dialect == "postgresql":
        return func.to_timestamp(epoch_s)
    return func.datetime(epoch_s, "unixepoch")


def quarter_of(epoch_s: Any) -> Any:
    """The quarter-hour of whole epoch seconds, floored (as the triggers of crm_core.call_rollup_triggers do)."""
    return epoch_s - ((epoch_s % QUARTER_S) + QUARTER_S) % QUARTER_S


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


def call_rows(dialect: str, *, rule: ServiceLevelRule, fcr_window_s: float, group: Group) -> Select[Any]:
    """One row per inbound call: its team (routed, else its DID for did_team), its ``group`` key, its start in whole
    epoch seconds and what it adds to each of the sums (SUM_FIELDS). Each figure's condition is defined here once:
    the reports add these rows up, and so do the quarter-hour sums (callcenter.reports.call_rollup)."""
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

    def one_if(condition: Any) -> Any:
        return case((condition, 1), else_=0)

    def value_if(condition: Any, value: Any) -> Any:
        return case((condition, value), else_=0.0)

    key = _key_column(group)
    sums = {
        "offered": literal(1, Integer), "answered": one_if(answered), "missed": one_if(Activity.result == MISSED),
        "abandoned": one_if(abandoned), "short_abandoned": one_if(and_(abandoned, wait < rule.short_abandon_s)),
        "abandon_wait_sum_s": value_if(abandoned, positive_wait),
        "abandon_wait_max_s": case((abandoned, positive_wait), else_=None),
        "answered_within_threshold": one_if(and_(answered, wait <= rule.threshold_s)),
        "answered_wait_sum_s": value_if(answered, positive_wait), "talk_sum_s": value_if(answered, talk),
        "wrapup_sum_s": value_if(answered, wrapup), "transferred": one_if(Activity.transferred),
        "fcr_calls": one_if(judged), "fcr_resolved": one_if(resolved), "approximate": one_if(Activity.end_estimated),
    }
    return select(
        Activity.routed_team.label("routed_team"),
        case((Activity.routed_team.is_(None), Activity.did), else_=None).label("team_did"),
        (key if key is not None else cast(null(), String)).label("group_key"),
        _epoch_s(Activity.started_at, dialect).label("epoch_s"),
        *[sums[name].label(name) for name in SUM_FIELDS],
    ).where(Activity.kind == ActivityKind.CALL, Activity.direction == Direction.INBOUND)


def sums_of(source: Any) -> list[Any]:
    """The aggregates of a source's sums columns, in SUM_FIELDS order: totals, and the largest abandon wait."""
    return [(func.max if name == "abandon_wait_max_s" else func.sum)(source.c[name]) for name in SUM_FIELDS]


def _started_in(from_s: float, to_s: float) -> Any:
    return and_(Activity.started_at >= _utc(from_s), Activity.started_at < _utc(to_s))


async def _basis_matches(session: AsyncSession, rule: ServiceLevelRule, fcr_window_s: float) -> bool:
    basis = await session.get(CallSumsBasis, 1)
    return basis is not None and (basis.threshold_s, basis.short_abandon_s, basis.fcr_window_s) == (
        rule.threshold_s, rule.short_abandon_s, fcr_window_s)


async def _source(
    session: AsyncSession, *, from_s: float, to_s: float, group: Group, rule: ServiceLevelRule, fcr_window_s: float,
    team: str | None,
) -> Any:
    """Rows with KEY_COLUMNS and SUM_FIELDS whose totals are the period's: the quarter-hour sums and the calls they
    do not cover (module doc)."""
    dialect = session.get_bind().dialect.name
    calls = call_rows(dialect, rule=rule, fcr_window_s=fcr_window_s, group=group)
    if team is not None:
        calls = calls.where(or_(Activity.routed_team == team, Activity.routed_team.is_(None)))
    first_q, end_q = math.ceil(from_s / QUARTER_S) * QUARTER_S, math.floor(to_s / QUARTER_S) * QUARTER_S
    if first_q >= end_q or not await _basis_matches(session, rule, fcr_window_s):
        return calls.where(_started_in(from_s, to_s)).subquery()
    changed = (
        select(CallSumsChange.quarter_s)
        .where(CallSumsChange.quarter_s >= first_q, CallSumsChange.quarter_s < end_q)
        .distinct()
        .subquery()
    )
    q = CallSumsQuarter
    kept = select(
        func.nullif(q.routed_team, "").label("routed_team"), func.nullif(q.team_did, "").label("team_did"),
        func.nullif(q.group_key, "").label("group_key"), q.quarter_s.label("epoch_s"),
        *[getattr(q, name).label(name) for name in SUM_FIELDS],
    ).where(
        q.grouping == group.value, q.quarter_s >= first_q, q.quarter_s < end_q,
        q.quarter_s.not_in(select(changed.c.quarter_s)),
    )
    if team is not None:
        kept = kept.where(q.routed_team.in_((team, "")))
    changed_calls = calls.join(changed, and_(
        Activity.started_at >= _instant(changed.c.quarter_s, dialect),
        Activity.started_at < _instant(changed.c.quarter_s + QUARTER_S, dialect),
    ))
    ends = calls.where(or_(_started_in(from_s, first_q), _started_in(end_q, to_s)))
    return union_all(kept, changed_calls, ends).subquery()


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
    source = await _source(session, from_s=from_s, to_s=to_s, group=group, rule=rule, fcr_window_s=fcr_window_s,
                           team=team)
    segments = offset_segments(from_s, to_s, zone)
    epoch = source.c.epoch_s
    segment = _by_segment(epoch, segments, list(range(len(segments))))
    offset = _by_segment(epoch, segments, [off for _, off in segments])
    local = _local_interval(epoch, offset, interval)
    keys = [source.c.routed_team, source.c.team_did] + ([source.c.group_key] if group is not Group.TEAM else [])
    query = (
        select(*keys, segment.label("segment"), local.label("local_start"), func.min(epoch), *sums_of(source))
        .group_by(*keys, "segment", "local_start")
    )
    out = []
    for row in (await session.execute(query)).all():
        call_team = row[0] or did_team(row[1])
        if team is not None and call_team != team:
            continue
        first_s, values = row[len(keys) + 2], row[len(keys) + 3:]
        sums = CallSums(**{
            name: (None if value is None else float(value)) if name == "abandon_wait_max_s"
            else (float(value or 0.0) if name.endswith("_s") else int(value or 0))
            for name, value in zip(SUM_FIELDS, values, strict=True)
        })
        # The floor of an epoch can fall before a period that starts mid-second: it is still the first interval.
        out.append(GroupSums(key=call_team if group is Group.TEAM else row[2], first_s=max(float(first_s), from_s),
                             sums=sums))
    return out
