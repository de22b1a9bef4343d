"""Team figures for a period (pure): what the reports API answers and the wallboard shows, from one function.

Definitions (the ones contact centres quote; each is a field of ``Figures``):

- **offered**: inbound calls that started in the period (answered + missed + abandoned + failed).
- **answered**: an agent talked with the caller. **missed**: offered to agents, nobody took it. **abandoned**: the
  caller hung up while waiting before any agent was offered. **failed**: could not be delivered (busy, no route).
- **service level** (the "80/20" figure): calls answered within ``threshold_s`` of waiting, as a share of the calls
  offered minus *short abandons* (callers who hung up within ``short_abandon_s``: a wrong number or a change of mind
  is nothing the team could have answered). ``short_abandon_s = 0`` gives the plain "share of offered".
- **ASA** (average speed of answer): mean wait of the answered calls.
- **AHT** (average handle time): mean talk time plus wrap-up, where a call recorded its wrap-up, of the answered calls.
- **callbacks open / overdue**: callback tasks open *now*, and those past their due time now (not period-bound:
  a callback is work still to do, whenever it was missed).
- **series**: per slot (``slot_s``, 15 minutes) the calls offered, answered, missed and abandoned, and the service
  level *cumulative* from the period's start to the slot's end (the day's curve a supervisor watches).

Figures with nothing to average over are ``None`` (shown as a dash), never a made-up 0 or 100 %.
"""

from __future__ import annotations

import bisect
import enum
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from callcenter.reports.call_sums import CallSums, add
from callcenter.reports.intervals import interval_index

__all__ = [
    "CallFact", "CallFigures", "CallRow", "CallTable", "CallbackFact", "DoneCallbackFact", "Figures", "Group",
    "RepeatIndex", "ServiceLevelRule", "Slot", "aht_s", "call_figures", "call_sums", "call_table", "compute_figures", "figures_of", "group_key",
    "handle_s", "is_transferred", "repeat_index", "resolved_first_time", "service_level_pct", "table_from_sums",
]

ANSWERED: Final = "answered"
MISSED: Final = "missed"
ABANDONED: Final = "abandoned"
MAX_SLOTS: Final = 10_000  # a period longer than ~100 days of 15-minute slots is refused before it gets here


@dataclass(frozen=True, slots=True, kw_only=True)
class CallFact:
    """One inbound call as the reports see it (read from its CRM activity)."""

    call_id: str
    team: str | None
    started_s: float
    ended_s: float
    outcome: str  # CallOutcome value: answered, missed, abandoned, busy, failed
    wait_s: float
    talk_s: float
    wrapup_s: float | None = None
    caller: str | None = None
    number: str | None = None  # E.164 of the caller, when it is a real number
    queue: str | None = None
    approximate: bool = False  # ended while the service had no AMI session: its times are estimates
    did: str | None = None
    # The agent the call ended with: who answered it; unanswered, the last agent it rang at; None: it rang nobody.
    agent: str | None = None
    transferred: bool = False  # handed to another agent (blind or attended), however many times


@dataclass(frozen=True, slots=True, kw_only=True)
class CallbackFact:
    task_id: int
    team: str | None
    due_s: float | None


@dataclass(frozen=True, slots=True, kw_only=True)
class DoneCallbackFact:
    """A callback task done: by whom (the agent whose call reached the customer, else its assignee) and when."""

    task_id: int
    team: str | None
    agent: str | None
    due_s: float | None
    done_s: float


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceLevelRule:
    threshold_s: float = 20.0
    short_abandon_s: float = 5.0
    slot_s: int = 900

    def __post_init__(self) -> None:
        if self.threshold_s < 0 or self.short_abandon_s < 0 or self.slot_s <= 0:
            raise ValueError("threshold_s and short_abandon_s must be >= 0 and slot_s > 0")


@dataclass(frozen=True, slots=True, kw_only=True)
class Slot:
    start_s: float
    offered: int
    answered: int
    missed: int
    abandoned: int
    service_level_pct: float | None  # cumulative: from the period's start through this slot's end


@dataclass(frozen=True, slots=True, kw_only=True)
class Figures:
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
    series: tuple[Slot, ...]
    approximate: int = 0  # calls counted whose times are estimates (they ended while AMI was down)


def _pct(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 1) if whole > 0 else None


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 1) if values else None


def _ratio(total: float, count: int) -> float | None:
    """A mean from its sum and count, rounded as ``_mean``."""
    return round(total / count, 1) if count else None


def _within(call: CallFact, rule: ServiceLevelRule) -> bool:
    return call.outcome == ANSWERED and call.wait_s <= rule.threshold_s


def _short_abandon(call: CallFact, rule: ServiceLevelRule) -> bool:
    return call.outcome == ABANDONED and call.wait_s < rule.short_abandon_s


# -- one definition per figure (docs/reports.md, "Definitions") ------------------------------------------------------


def service_level_pct(within: int, offered: int, short_abandoned: int) -> float | None:
    """Answered within the threshold over offered minus short abandons (pass 0 short abandons for "over offered")."""
    return _pct(within, offered - short_abandoned)


def handle_s(call: CallFact) -> float:
    """Handle time of an answered call: talk plus the wrap-up it recorded. No hold: the service does not see hold
    (no Hold/MusicOnHold events are tracked), and talk time includes any time on hold."""
    return max(call.talk_s, 0.0) + max(call.wrapup_s or 0.0, 0.0)


def aht_s(answered: Sequence[CallFact]) -> float | None:
    return _mean([handle_s(c) for c in answered])


def is_transferred(call: CallFact) -> bool:
    """A call handed on counts once, however many transfers it went through."""
    return call.transferred


# The start times of the inbound calls from each number, sorted: what first-contact resolution looks ahead in.
RepeatIndex = Mapping[str, Sequence[float]]


def repeat_index(calls: Iterable[CallFact]) -> dict[str, list[float]]:
    index: dict[str, list[float]] = {}
    for call in calls:
        if call.number:
            index.setdefault(call.number, []).append(call.started_s)
    for starts in index.values():
        starts.sort()
    return index


def resolved_first_time(call: CallFact, repeats: RepeatIndex, window_s: float) -> bool | None:
    """An answered call from a known number is resolved at first contact when no inbound call from that number starts
    after it and within ``window_s`` of its end (whatever team or DID it reaches). None: not judged (unanswered, or
    no number to recognise the caller by)."""
    if call.outcome != ANSWERED or not call.number:
        return None
    starts = repeats.get(call.number, ())
    later = bisect.bisect_right(starts, call.started_s)
    return later == len(starts) or starts[later] > call.ended_s + window_s


@dataclass(frozen=True, slots=True, kw_only=True)
class CallFigures:
    """The call figures of any set of calls (a team's day, an agent's hour, a DID's week); fields as in docs."""

    offered: int
    answered: int
    missed: int
    abandoned: int
    failed: int
    short_abandoned: int
    abandon_wait_mean_s: float | None  # how long callers waited before they hung up (the abandoned calls)
    abandon_wait_max_s: float | None
    answered_within_threshold: int
    service_level_pct: float | None  # within threshold / (offered - short abandons)
    service_level_offered_pct: float | None  # within threshold / offered
    asa_s: float | None
    aht_s: float | None
    talk_s: float  # sums, so that figures of several rows can be added up by a reader
    wrapup_s: float
    transferred: int
    fcr_calls: int  # answered calls judged for first-contact resolution
    fcr_resolved: int
    fcr_pct: float | None
    approximate: int


def call_sums(
    calls: Sequence[CallFact], rule: ServiceLevelRule, *, repeats: RepeatIndex | None = None, fcr_window_s: float = 0.0
) -> CallSums:
    """What exactly these calls add up to (the caller picked them: a period, a team, an interval)."""
    out = CallSums()
    for c in calls:
        out.offered += 1
        if c.outcome == ANSWERED:
            out.answered += 1
            out.answered_within_threshold += _within(c, rule)
            out.answered_wait_sum_s += max(c.wait_s, 0.0)
            out.talk_sum_s += max(c.talk_s, 0.0)
            out.wrapup_sum_s += max(c.wrapup_s or 0.0, 0.0)
            if repeats is not None and (resolved := resolved_first_time(c, repeats, fcr_window_s)) is not None:
                out.fcr_calls += 1
                out.fcr_resolved += resolved
        elif c.outcome == MISSED:
            out.missed += 1
        elif c.outcome == ABANDONED:
            wait_s = max(c.wait_s, 0.0)
            out.abandoned += 1
            out.short_abandoned += _short_abandon(c, rule)
            out.abandon_wait_sum_s += wait_s
            out.abandon_wait_max_s = wait_s if out.abandon_wait_max_s is None else max(out.abandon_wait_max_s, wait_s)
        out.transferred += is_transferred(c)
        out.approximate += c.approximate
    return out


def figures_of(s: CallSums) -> CallFigures:
    """The figures of calls that add up to ``s``: each figure's one definition (docs/reports.md, "Definitions")."""
    return CallFigures(
        offered=s.offered,
        answered=s.answered,
        missed=s.missed,
        abandoned=s.abandoned,
        failed=s.offered - s.answered - s.missed - s.abandoned,
        short_abandoned=s.short_abandoned,
        abandon_wait_mean_s=_ratio(s.abandon_wait_sum_s, s.abandoned),
        abandon_wait_max_s=round(s.abandon_wait_max_s, 1) if s.abandon_wait_max_s is not None else None,
        answered_within_threshold=s.answered_within_threshold,
        service_level_pct=service_level_pct(s.answered_within_threshold, s.offered, s.short_abandoned),
        service_level_offered_pct=service_level_pct(s.answered_within_threshold, s.offered, 0),
        asa_s=_ratio(s.answered_wait_sum_s, s.answered),
        # AHT: talk plus the wrap-up each answered call recorded (handle_s), over the answered calls.
        aht_s=_ratio(s.talk_sum_s + s.wrapup_sum_s, s.answered),
        talk_s=round(s.talk_sum_s, 3),
        wrapup_s=round(s.wrapup_sum_s, 3),
        transferred=s.transferred,
        fcr_calls=s.fcr_calls,
        fcr_resolved=s.fcr_resolved,
        fcr_pct=_pct(s.fcr_resolved, s.fcr_calls),
        approximate=s.approximate,
    )


def call_figures(
    calls: Sequence[CallFact], rule: ServiceLevelRule, *, repeats: RepeatIndex | None = None, fcr_window_s: float = 0.0
) -> CallFigures:
    """Figures of exactly these calls (the caller picked them: a period, a team, an interval)."""
    return figures_of(call_sums(calls, rule, repeats=repeats, fcr_window_s=fcr_window_s))


def compute_figures(
    calls: Iterable[CallFact],
    callbacks: Iterable[CallbackFact],
    *,
    from_s: float,
    to_s: float,
    now_s: float,
    rule: ServiceLevelRule,
) -> Figures:
    """Figures of the calls that started in [from_s, to_s); the caller has already picked the team's calls."""
    if not to_s > from_s:
        raise ValueError("the period must end after it starts")
    slot_count = math.ceil((to_s - from_s) / rule.slot_s)
    if slot_count > MAX_SLOTS:
        raise ValueError(f"the period has more than {MAX_SLOTS} slots")
    period = sorted((c for c in calls if from_s <= c.started_s < to_s), key=lambda c: c.started_s)
    counts = call_figures(period, rule)  # the same definitions as every analytics row (call_table)
    open_callbacks = list(callbacks)
    return Figures(
        from_s=from_s,
        to_s=to_s,
        threshold_s=rule.threshold_s,
        short_abandon_s=rule.short_abandon_s,
        slot_s=rule.slot_s,
        offered=counts.offered,
        answered=counts.answered,
        missed=counts.missed,
        abandoned=counts.abandoned,
        failed=counts.failed,
        short_abandoned=counts.short_abandoned,
        answered_within_threshold=counts.answered_within_threshold,
        service_level_pct=counts.service_level_pct,
        asa_s=counts.asa_s,
        aht_s=counts.aht_s,
        callbacks_open=len(open_callbacks),
        callbacks_overdue=sum(1 for cb in open_callbacks if cb.due_s is not None and cb.due_s <= now_s),
        series=_series(period, from_s=from_s, slot_count=slot_count, rule=rule),
        approximate=counts.approximate,
    )


def _series(period: list[CallFact], *, from_s: float, slot_count: int, rule: ServiceLevelRule) -> tuple[Slot, ...]:
    counts = [[0, 0, 0, 0, 0, 0] for _ in range(slot_count)]  # offered, answered, missed, abandoned, within, short
    for call in period:
        row = counts[int((call.started_s - from_s) // rule.slot_s)]
        row[0] += 1
        row[1] += call.outcome == ANSWERED
        row[2] += call.outcome == MISSED
        row[3] += call.outcome == ABANDONED
        row[4] += _within(call, rule)
        row[5] += _short_abandon(call, rule)
    slots = []
    offered_so_far = within_so_far = short_so_far = 0
    for index, (offered, answered, missed, abandoned, within, short) in enumerate(counts):
        offered_so_far += offered
        within_so_far += within
        short_so_far += short
        slots.append(
            Slot(
                start_s=from_s + index * rule.slot_s,
                offered=offered,
                answered=answered,
                missed=missed,
                abandoned=abandoned,
                service_level_pct=service_level_pct(within_so_far, offered_so_far, short_so_far),
            )
        )
    return tuple(slots)


# -- calls per group and interval (the analytics table) --------------------------------------------------------------


class Group(enum.StrEnum):
    TEAM = "team"
    AGENT = "agent"
    DID = "did"
    QUEUE = "queue"


def group_key(call: CallFact, group: Group) -> str | None:
    """The one row a call counts in: its team, the agent it ended with, its DID, its queue (None: it has none)."""
    return {Group.TEAM: call.team, Group.AGENT: call.agent, Group.DID: call.did, Group.QUEUE: call.queue}[group]


def _callback_key(callback: DoneCallbackFact, group: Group) -> str | None:
    return callback.team if group is Group.TEAM else callback.agent


@dataclass(frozen=True, slots=True, kw_only=True)
class CallRow:
    key: str | None
    start_s: float  # the interval; for a total, the period
    end_s: float
    figures: CallFigures
    # Callback tasks done in the interval and those done by their due time: per team and per agent only (a callback
    # has no DID or queue of its own). None where not attributable.
    callbacks_done: int | None
    callbacks_done_in_sla: int | None
    callback_sla_pct: float | None


@dataclass(frozen=True, slots=True, kw_only=True)
class CallTable:
    rows: tuple[CallRow, ...]  # per key and interval, only where a call was offered or a callback done
    totals: tuple[CallRow, ...]  # per key over the whole period


def _callback_counts(done: Sequence[DoneCallbackFact]) -> tuple[int, int, float | None]:
    """Done, done by their due time, and that as a share of the done ones that had a due time."""
    with_due = [cb for cb in done if cb.due_s is not None]
    in_sla = sum(1 for cb in with_due if cb.done_s <= (cb.due_s or 0.0))
    return len(done), in_sla, _pct(in_sla, len(with_due))


def _row(key: str | None, start_s: float, end_s: float, sums: CallSums, done: list[DoneCallbackFact] | None) -> CallRow:
    counted = _callback_counts(done) if done is not None else (None, None, None)
    return CallRow(
        key=key, start_s=start_s, end_s=end_s, figures=figures_of(sums),
        callbacks_done=counted[0], callbacks_done_in_sla=counted[1], callback_sla_pct=counted[2],
    )


Cell = tuple[str | None, int]  # (group key, interval index)


def call_table(
    calls: Iterable[CallFact],
    done_callbacks: Iterable[DoneCallbackFact],
    *,
    group: Group,
    starts: Sequence[float],
    to_s: float,
    rule: ServiceLevelRule,
    repeats: RepeatIndex,
    fcr_window_s: float,
) -> CallTable:
    """Figures per group key and interval (``starts``: intervals.interval_starts of the period [starts[0], to_s)).

    A call counts once: in the row of its key and the interval it was *offered* in (its start), however long it
    lasts, whichever interval or midnight it ends in. A callback counts in the interval it was done in."""
    cells: dict[Cell, list[CallFact]] = {}
    for call in calls:
        if starts[0] <= call.started_s < to_s:
            cells.setdefault((group_key(call, group), interval_index(starts, call.started_s)), []).append(call)
    sums = {cell: call_sums(mine, rule, repeats=repeats, fcr_window_s=fcr_window_s) for cell, mine in cells.items()}
    return table_from_sums(sums, done_callbacks, group=group, starts=starts, to_s=to_s)


def table_from_sums(
    sums: Mapping[Cell, CallSums],
    done_callbacks: Iterable[DoneCallbackFact],
    *,
    group: Group,
    starts: Sequence[float],
    to_s: float,
) -> CallTable:
    """The table from the calls' sums per cell (counted here from call facts, or added up by the database:
    call_sums_store) and the callbacks done, placed by when they were done."""
    from_s = starts[0]
    done_cells: dict[Cell, list[DoneCallbackFact]] = {}
    attributable = group in (Group.TEAM, Group.AGENT)
    if attributable:
        for cb in done_callbacks:
            if from_s <= cb.done_s < to_s:
                done_cells.setdefault((_callback_key(cb, group), interval_index(starts, cb.done_s)), []).append(cb)
    ends = [*starts[1:], to_s]
    rows = []
    by_key: dict[str | None, tuple[CallSums, list[DoneCallbackFact]]] = {}
    for key, index in sorted(set(sums) | set(done_cells), key=lambda k: (k[0] is None, k[0] or "", k[1])):
        mine, done = sums.get((key, index), CallSums()), done_cells.get((key, index), [])
        rows.append(_row(key, starts[index], ends[index], mine, done if attributable else None))
        total = by_key.setdefault(key, (CallSums(), []))
        add(total[0], mine)
        total[1].extend(done)
    totals = tuple(_row(key, from_s, to_s, mine, done if attributable else None) for key, (mine, done) in by_key.items())
    return CallTable(rows=tuple(rows), totals=totals)
