"""Staffing (pure): from a team's measured calls of the last weeks, the agents needed per 15-minute interval of the
week for a service-level target, by Erlang C and by Erlang A with the measured patience, each number with its inputs.

How the inputs are measured (all in the team's time zone, on local wall-clock intervals):

- **Window**: the ``weeks`` whole weeks (7 local days each) that end at local midnight of ``until`` (exclusive).
- **Offered calls of an interval** (e.g. Monday 10:00-10:15): the inbound calls of the team that started in it,
  counted per week; the **mean** is taken over the weeks that have data for that weekday, i.e. in which the team
  received at least one call on that day (a week before the team existed, or a holiday, does not pull the mean
  down). On the autumn DST change the repeated hour's calls fall into the same local intervals (both passes).
- **Rate** = mean offered calls / 900 s.
- **AHT** = mean talk + wrap-up of the answered calls of that interval over the weeks used; an interval with calls
  but none answered takes the team's AHT over the whole window (``aht_source`` says which).
- **Patience** (mean, for Erlang A): the exponential maximum-likelihood estimate with censoring over the team's
  calls of the whole window: every call's waiting time is time spent "at risk" of hanging up; only abandoned calls
  hung up, the others are censored at their wait. For exponential patience the likelihood is maximised by
  ``total waiting time of all calls / number of abandoned calls``. No abandoned call: no estimate (``None``), and
  Erlang A is then Erlang C (nobody was seen to hang up).
- **Target**: service level = calls answered within ``threshold_s`` over calls offered, at least ``target_pct``;
  occupancy (the share of agents' time spent handling calls) at most ``max_occupancy``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Final
from zoneinfo import ZoneInfo

from callcenter.reports.erlang import Staffing, agents_needed
from callcenter.reports.figures import ABANDONED, ANSWERED, CallFact

__all__ = [
    "INTERVAL_S",
    "WEEKDAYS",
    "IntervalStaffing",
    "StaffingPlan",
    "Target",
    "Week",
    "estimate_patience",
    "interval_label",
    "plan_staffing",
    "weeks_before",
]

INTERVAL_S: Final = 900  # staffing intervals are 15 minutes of local wall-clock time
INTERVALS_PER_DAY: Final = 96
WEEKDAYS: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # datetime.weekday() order


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    target_pct: float = 80.0
    threshold_s: float = 20.0
    max_occupancy: float = 0.85


@dataclass(frozen=True, slots=True)
class Week:
    start: date  # the first local day of the 7
    from_s: float
    to_s: float


@dataclass(frozen=True, slots=True, kw_only=True)
class IntervalStaffing:
    weekday: str
    time: str  # local start, "10:00"
    weeks_used: tuple[date, ...]  # the week starts whose calls the mean is over
    calls_per_week: tuple[int, ...]  # offered calls of this interval, one per week used
    offered_mean: float
    rate_per_s: float
    answered: int  # answered calls of this interval over the weeks used (the AHT sample)
    aht_s: float | None
    aht_source: str | None  # "interval", "window" (none answered in the interval) or None (nothing to measure)
    erlang_c: Staffing | None  # None: no AHT to compute with
    erlang_a: Staffing | None


@dataclass(frozen=True, slots=True, kw_only=True)
class StaffingPlan:
    zone: str
    weeks: tuple[Week, ...]
    target: Target
    patience_s: float | None
    abandoned: int  # the patience estimate's sample: abandoned calls and the waiting time of all calls
    total_wait_s: float
    calls: int  # the team's inbound calls in the window
    window_aht_s: float | None
    intervals: tuple[IntervalStaffing, ...]


def _midnight(day: date, zone: ZoneInfo) -> float:
    return datetime(day.year, day.month, day.day, tzinfo=zone).timestamp()


def weeks_before(until: date, count: int, zone: ZoneInfo) -> tuple[Week, ...]:
    """The ``count`` weeks of 7 local days that end at local midnight of ``until``, oldest first (DST-correct: a
    week with a DST change is 167 or 169 hours)."""
    if count < 1:
        raise ValueError("count must be >= 1")
    starts = [until - timedelta(days=7 * k) for k in range(count, 0, -1)]
    return tuple(Week(s, _midnight(s, zone), _midnight(s + timedelta(days=7), zone)) for s in starts)


def interval_label(index: int) -> str:
    return f"{index * 15 // 60:02d}:{index * 15 % 60:02d}"


def estimate_patience(calls: Iterable[CallFact]) -> tuple[float | None, int, float]:
    """(mean patience or None, abandoned calls, total waiting time): the censored exponential MLE (module doc)."""
    abandoned, total_wait = 0, 0.0
    for call in calls:
        total_wait += max(call.wait_s, 0.0)
        abandoned += call.outcome == ABANDONED
    return (total_wait / abandoned if abandoned else None), abandoned, total_wait


def _handle_s(call: CallFact) -> float:
    return max(call.talk_s, 0.0) + max(call.wrapup_s or 0.0, 0.0)


def plan_staffing(
    calls: Iterable[CallFact],
    *,
    weeks: Sequence[Week],
    zone: ZoneInfo,
    weekday: int,
    intervals: Sequence[int],
    target: Target,
) -> StaffingPlan:
    """Agents needed on ``weekday`` (0 = Monday) at each interval index (0 = 00:00, 40 = 10:00) of ``intervals``,
    from the team's calls (the caller has picked the team's calls; others in the window are ignored by time only)."""
    if not 0 <= weekday < 7:
        raise ValueError("weekday must be 0 (Monday) to 6 (Sunday)")
    if any(not 0 <= i < INTERVALS_PER_DAY for i in intervals):
        raise ValueError("interval indexes are 0..95")
    lo, hi = weeks[0].from_s, weeks[-1].to_s
    window = [c for c in calls if lo <= c.started_s < hi]
    patience_s, abandoned, total_wait = estimate_patience(window)
    answered_all = [c for c in window if c.outcome == ANSWERED]
    window_aht = sum(map(_handle_s, answered_all)) / len(answered_all) if answered_all else None

    # (week, interval) -> calls of that weekday; and which weeks had any call on the weekday
    wanted = set(intervals)
    per: dict[tuple[int, int], list[CallFact]] = {}
    weeks_with_day: set[int] = set()
    for call in window:
        local = datetime.fromtimestamp(call.started_s, zone)
        if local.weekday() != weekday:
            continue
        week = next(k for k, w in enumerate(weeks) if w.from_s <= call.started_s < w.to_s)
        weeks_with_day.add(week)
        index = (local.hour * 60 + local.minute) // 15
        if index in wanted:
            per.setdefault((week, index), []).append(call)
    used = sorted(weeks_with_day)

    out = []
    for index in intervals:
        counts = tuple(len(per.get((k, index), ())) for k in used)
        mean = sum(counts) / len(used) if used else 0.0
        answered = [c for k in used for c in per.get((k, index), ()) if c.outcome == ANSWERED]
        if answered:
            aht, source = sum(map(_handle_s, answered)) / len(answered), "interval"
        elif mean > 0 and window_aht:
            aht, source = window_aht, "window"
        else:
            aht, source = None, None
        rate = mean / INTERVAL_S
        erlang_c = erlang_a = None
        if mean == 0:
            erlang_c = erlang_a = agents_needed(0.0, 1.0, target.target_pct, target.threshold_s,
                                                max_occupancy=target.max_occupancy)
        elif aht:
            erlang_c = agents_needed(rate, aht, target.target_pct, target.threshold_s,
                                     max_occupancy=target.max_occupancy)
            erlang_a = agents_needed(rate, aht, target.target_pct, target.threshold_s, patience_s=patience_s,
                                     max_occupancy=target.max_occupancy)
        out.append(IntervalStaffing(
            weekday=WEEKDAYS[weekday], time=interval_label(index), weeks_used=tuple(weeks[k].start for k in used),
            calls_per_week=counts, offered_mean=mean, rate_per_s=rate, answered=len(answered),
            aht_s=aht, aht_source=source, erlang_c=erlang_c, erlang_a=erlang_a,
        ))
    return StaffingPlan(
        zone=zone.key, weeks=tuple(weeks), target=target, patience_s=patience_s, abandoned=abandoned,
        total_wait_s=total_wait, calls=len(window), window_aht_s=window_aht, intervals=tuple(out),
    )
