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

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

__all__ = ["CallFact", "CallbackFact", "Figures", "ServiceLevelRule", "Slot", "compute_figures"]

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


@dataclass(frozen=True, slots=True, kw_only=True)
class CallbackFact:
    task_id: int
    team: str | None
    due_s: float | None


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


def _within(call: CallFact, rule: ServiceLevelRule) -> bool:
    return call.outcome == ANSWERED and call.wait_s <= rule.threshold_s


def _short_abandon(call: CallFact, rule: ServiceLevelRule) -> bool:
    return call.outcome == ABANDONED and call.wait_s < rule.short_abandon_s


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
    answered = [c for c in period if c.outcome == ANSWERED]
    short = sum(1 for c in period if _short_abandon(c, rule))
    within = sum(1 for c in period if _within(c, rule))
    open_callbacks = list(callbacks)
    return Figures(
        from_s=from_s,
        to_s=to_s,
        threshold_s=rule.threshold_s,
        short_abandon_s=rule.short_abandon_s,
        slot_s=rule.slot_s,
        offered=len(period),
        answered=len(answered),
        missed=sum(1 for c in period if c.outcome == MISSED),
        abandoned=sum(1 for c in period if c.outcome == ABANDONED),
        failed=sum(1 for c in period if c.outcome not in (ANSWERED, MISSED, ABANDONED)),
        short_abandoned=short,
        answered_within_threshold=within,
        service_level_pct=_pct(within, len(period) - short),
        asa_s=_mean([max(c.wait_s, 0.0) for c in answered]),
        aht_s=_mean([max(c.talk_s, 0.0) + max(c.wrapup_s or 0.0, 0.0) for c in answered]),
        callbacks_open=len(open_callbacks),
        callbacks_overdue=sum(1 for cb in open_callbacks if cb.due_s is not None and cb.due_s <= now_s),
        series=_series(period, from_s=from_s, slot_count=slot_count, rule=rule),
        approximate=sum(1 for c in period if c.approximate),
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
                service_level_pct=_pct(within_so_far, offered_so_far - short_so_far),
            )
        )
    return tuple(slots)
