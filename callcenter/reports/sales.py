"""Sales figures (pure): a pipeline's funnel, stuck deals, lead-source conversion, activity per manager, lost reasons.

The database does the counting (callcenter/reports/sales_store.py: GROUP BY aggregates, never every deal); these
functions turn its aggregate rows into the figures. Definitions (docs/reports.md, "Sales", repeats them):

- **reached** (funnel): a deal reached an open or won stage in the period when, in the period, its stage history
  shows it entering that stage *or a later one* (by position; lost stages excluded). A deal that skips a stage has
  passed it; a deal that goes back, or is reopened, is still one deal, counted up to the furthest stage it entered in
  the period. So the funnel never widens downwards. A lost stage counts the deals that entered it (nothing is
  "beyond" a lost stage). **entered**: the deals whose history shows them entering exactly that stage in the period.
- **to_next_pct**: deals that reached the next open / won stage as a share of those that reached this one.
- **won / lost**: deals whose *current* status is won / lost and that closed in the period (a deal won and then
  reopened is not won). **won_of_reached_pct**: won deals as a share of the deals in the funnel (those that reached
  its first stage); **win_rate_pct**: won as a share of won + lost.
- **time in stage**: from a deal entering a stage to its next stage change, for the stays that *ended* in the period
  (the stay in the current stage is still running: see stuck deals); mean and median over those stays.
- **stuck**: an open deal that has been in its current stage for longer than ``days`` when given, else longer than
  ``STUCK_MEDIAN_FACTOR`` x that stage's median time in stage (in the funnel: the median it shows, of its period; the
  stuck-deals list: of its period, by default the last ``STUCK_MEDIAN_WINDOW_DAYS`` days). A stage with no finished
  stay then has no threshold and no stuck deals. Measured now, whatever the period.
- Amounts are the deals' current amounts, summed per currency (never adding dollars to euros); a deal without an
  amount counts as a deal with 0.

Percentages are rounded to 0.1; a share of nothing is ``None`` (a dash), never a made-up 0 or 100 %.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Final

__all__ = [
    "ActivityCount",
    "DealCount",
    "Funnel",
    "FunnelStage",
    "LeadGroup",
    "LeadSourceRow",
    "LeadSources",
    "LostReasonRow",
    "ManagerRow",
    "Reach",
    "Stage",
    "StayStats",
    "User",
    "funnel",
    "lead_sources",
    "lost_reasons",
    "manager_activity",
    "split_reach",
    "stuck_thresholds",
]

DAY_S: Final = 86_400.0
MAX_PERIOD_DAYS: Final = 366  # sales periods are quarters and years, not the call reports' weeks
MAX_STUCK_DAYS: Final = 3_650
STUCK_MEDIAN_FACTOR: Final = 2.0
STUCK_MEDIAN_WINDOW_DAYS: Final = 30  # the stuck-deals list's default period for the medians
STUCK_LIST_MAX: Final = 500  # the longest-stuck deals listed; the counts cover them all

OPEN, WON, LOST = "open", "won", "lost"  # StageKind / DealStatus values
ANSWERED: Final = "answered"  # a call activity's result when someone talked (callcenter.events.CallOutcome)

Money = dict[str, Decimal]  # amount per currency


def _pct(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 1) if whole > 0 else None


def _add(into: Money, currency: str, amount: Decimal) -> None:
    into[currency] = into.get(currency, Decimal(0)) + amount


@dataclass(frozen=True, slots=True)
class Stage:
    id: int
    name: str
    position: int
    kind: str  # open, won, lost


@dataclass(frozen=True, slots=True)
class DealCount:
    """One aggregate row: the deals (and their amount) of one key in one currency."""

    key: Hashable
    currency: str
    deals: int
    amount: Decimal


@dataclass(frozen=True, slots=True)
class StayStats:
    stage_id: int
    stays: int
    mean_s: float | None
    median_s: float | None


@dataclass(frozen=True, slots=True)
class Reach:
    """Deals (in one currency) that, in the period, entered the stages whose positions are the bits of
    ``entered_mask`` (bit ``1 << position``), the furthest open / won one at ``furthest_position`` (None: only lost
    stages)."""

    furthest_position: int | None
    entered_mask: int
    currency: str
    deals: int
    amount: Decimal


def split_reach(rows: Iterable[Reach], stages: Sequence[Stage]) -> tuple[list[DealCount], list[DealCount]]:
    """``funnel``'s ``furthest`` (keyed by position) and ``entered`` (keyed by stage id) from ``Reach`` rows."""
    furthest, entered = [], []
    for row in rows:
        if row.furthest_position is not None:
            furthest.append(DealCount(row.furthest_position, row.currency, row.deals, row.amount))
        for stage in stages:
            if row.entered_mask >> stage.position & 1:
                entered.append(DealCount(stage.id, row.currency, row.deals, row.amount))
    return furthest, entered


def _by_key(rows: Iterable[DealCount]) -> dict[Hashable, tuple[int, Money]]:
    out: dict[Hashable, tuple[int, Money]] = {}
    for row in rows:
        deals, money = out.get(row.key, (0, {}))
        _add(money, row.currency, row.amount)
        out[row.key] = (deals + row.deals, money)
    return out


# -- funnel -----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FunnelStage:
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


@dataclass(frozen=True, slots=True)
class Funnel:
    stages: list[FunnelStage]
    deals: int  # in the funnel: reached its first stage in the period
    amount: Money
    won_deals: int
    won_amount: Money
    lost_deals: int
    lost_amount: Money
    won_of_reached_pct: float | None
    win_rate_pct: float | None


def funnel(
    stages: Sequence[Stage],
    *,
    furthest: Iterable[DealCount],
    entered: Iterable[DealCount],
    closed: Iterable[DealCount],
    stays: Iterable[StayStats] = (),
    stuck: Mapping[int, int] | None = None,
) -> Funnel:
    """``furthest``: deals keyed by the furthest open / won stage position they entered in the period; ``entered``:
    deals keyed by each stage id they entered in the period; ``closed``: deals keyed by status won / lost (closed in
    the period); ``stays``: time-in-stage statistics per stage; ``stuck``: stuck deals per stage id."""
    ordered = sorted(stages, key=lambda s: (s.position, s.id))
    far = _by_key(furthest)
    into = _by_key(entered)
    ended = _by_key(closed)
    stay = {s.stage_id: s for s in stays}
    stuck = stuck or {}
    forward = [s for s in ordered if s.kind != LOST]

    reached: dict[int, tuple[int, Money]] = {}
    for stage in ordered:
        if stage.kind == LOST:
            reached[stage.id] = into.get(stage.id, (0, {}))
            continue
        deals, money = 0, {}
        for position, (n, amounts) in far.items():
            if isinstance(position, int) and position >= stage.position:
                deals += n
                for currency, amount in amounts.items():
                    _add(money, currency, amount)
        reached[stage.id] = (deals, money)

    nxt = {a.id: b.id for a, b in zip(forward, forward[1:])}
    rows = []
    for stage in ordered:
        deals, money = reached[stage.id]
        following = nxt.get(stage.id)
        stats = stay.get(stage.id)
        n_in, money_in = into.get(stage.id, (0, {}))
        rows.append(
            FunnelStage(
                stage_id=stage.id,
                name=stage.name,
                kind=stage.kind,
                position=stage.position,
                reached_deals=deals,
                reached_amount=money,
                entered_deals=n_in,
                entered_amount=money_in,
                to_next_pct=_pct(reached[following][0], deals) if following is not None else None,
                stays=stats.stays if stats else 0,
                mean_in_stage_s=stats.mean_s if stats else None,
                median_in_stage_s=stats.median_s if stats else None,
                stuck_deals=stuck.get(stage.id, 0),
            )
        )
    total, total_money = reached[forward[0].id] if forward else (0, {})
    won, won_money = ended.get(WON, (0, {}))
    lost, lost_money = ended.get(LOST, (0, {}))
    return Funnel(
        stages=rows,
        deals=total,
        amount=total_money,
        won_deals=won,
        won_amount=won_money,
        lost_deals=lost,
        lost_amount=lost_money,
        won_of_reached_pct=_pct(won, total),
        win_rate_pct=_pct(won, won + lost),
    )


def stuck_thresholds(
    stages: Sequence[Stage], *, days: int | None, medians_s: Mapping[int, float | None]
) -> dict[int, float]:
    """Seconds in its current stage after which an open deal is stuck, per open stage (won / lost deals are closed,
    never stuck). ``days`` given: the same for every stage; else ``STUCK_MEDIAN_FACTOR`` x the stage's median (a
    stage without a median has no threshold)."""
    out: dict[int, float] = {}
    for stage in stages:
        if stage.kind != OPEN:
            continue
        if days is not None:
            out[stage.id] = days * DAY_S
        elif (median := medians_s.get(stage.id)) is not None:
            out[stage.id] = STUCK_MEDIAN_FACTOR * median
    return out


# -- lead sources -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LeadGroup:
    """Leads created in the period with one source and channel (channel: the DID of phone leads, a form, a
    campaign), those converted since, and the median time from creation to conversion."""

    source: str
    channel: str | None
    leads: int
    converted: int
    median_to_convert_s: float | None


@dataclass(frozen=True, slots=True)
class LeadSourceRow:
    source: str
    channel: str | None
    leads: int
    converted: int
    converted_pct: float | None
    won_deals: int
    won_amount: Money
    median_to_convert_s: float | None


@dataclass(frozen=True, slots=True)
class LeadSources:
    rows: list[LeadSourceRow]
    leads: int
    converted: int
    converted_pct: float | None
    won_deals: int
    won_amount: Money


def lead_sources(groups: Iterable[LeadGroup], won: Iterable[DealCount]) -> LeadSources:
    """``won``: won deals made from those leads, keyed by (source, channel). Most leads first."""
    by_group = _by_key(won)
    rows = []
    for group in groups:
        n_won, money = by_group.get((group.source, group.channel), (0, {}))
        rows.append(
            LeadSourceRow(
                source=group.source,
                channel=group.channel,
                leads=group.leads,
                converted=group.converted,
                converted_pct=_pct(group.converted, group.leads),
                won_deals=n_won,
                won_amount=money,
                median_to_convert_s=group.median_to_convert_s,
            )
        )
    rows.sort(key=lambda r: (-r.leads, r.source, r.channel or ""))
    leads = sum(r.leads for r in rows)
    converted = sum(r.converted for r in rows)
    total_money: Money = {}
    for row in rows:
        for currency, amount in row.won_amount.items():
            _add(total_money, currency, amount)
    return LeadSources(
        rows=rows,
        leads=leads,
        converted=converted,
        converted_pct=_pct(converted, leads),
        won_deals=sum(r.won_deals for r in rows),
        won_amount=total_money,
    )


# -- activity per manager ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class User:
    id: int
    name: str
    team_id: int | None
    active: bool


@dataclass(frozen=True, slots=True)
class ActivityCount:
    """Activities of one user, kind and direction in the period; for calls those answered and their talk time."""

    user_id: int
    kind: str  # call, meeting, email, note, task
    direction: str | None  # inbound, outbound, internal
    count: int
    answered: int = 0
    talk_s: float = 0.0


@dataclass(slots=True)
class ManagerRow:
    user_id: int
    name: str
    team_id: int | None
    calls_inbound: int = 0
    calls_inbound_answered: int = 0
    calls_outbound: int = 0
    calls_outbound_answered: int = 0
    talk_s: float = 0.0
    meetings: int = 0
    emails: int = 0
    notes: int = 0
    tasks_done: int = 0
    callbacks_done: int = 0
    deals_won: int = 0
    won_amount: Money = field(default_factory=dict)

    def idle(self) -> bool:
        return not (
            self.calls_inbound or self.calls_outbound or self.meetings or self.emails or self.notes
            or self.tasks_done or self.callbacks_done or self.deals_won
        )


_KIND_FIELD: Final = {"meeting": "meetings", "email": "emails", "note": "notes"}


def manager_activity(
    users: Iterable[User],
    activities: Iterable[ActivityCount],
    *,
    done: Mapping[tuple[int, str], int],
    won: Iterable[DealCount],
) -> list[ManagerRow]:
    """One row per user (deactivated users only when they did something in the period), by name. ``done``: tasks
    completed in the period per (assignee, task kind); ``won``: deals won in the period keyed by responsible user.
    Internal calls (agent to agent) are no sales activity and are left out."""
    rows = {u.id: (ManagerRow(user_id=u.id, name=u.name, team_id=u.team_id), u.active) for u in users}
    for act in activities:
        if act.user_id not in rows:
            continue
        row = rows[act.user_id][0]
        if act.kind == "call" and act.direction == "inbound":
            row.calls_inbound += act.count
            row.calls_inbound_answered += act.answered
            row.talk_s += act.talk_s
        elif act.kind == "call" and act.direction == "outbound":
            row.calls_outbound += act.count
            row.calls_outbound_answered += act.answered
            row.talk_s += act.talk_s
        elif act.kind in _KIND_FIELD:
            name = _KIND_FIELD[act.kind]
            setattr(row, name, getattr(row, name) + act.count)
    for (user_id, kind), count in done.items():
        if user_id in rows:
            row = rows[user_id][0]
            if kind == "callback":
                row.callbacks_done += count
            else:
                row.tasks_done += count
    for user_id, (deals, money) in _by_key(won).items():
        if user_id in rows:
            rows[user_id][0].deals_won = deals
            rows[user_id][0].won_amount = money
    out = [row for row, active in rows.values() if active or not row.idle()]
    for row in out:
        row.talk_s = round(row.talk_s, 1)
    return sorted(out, key=lambda r: (r.name, r.user_id))


# -- lost reasons -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LostReasonRow:
    reason: str | None  # None: lost without a reason given
    deals: int
    amount: Money
    share_pct: float | None  # of the deals lost in the period


def lost_reasons(rows: Iterable[DealCount]) -> list[LostReasonRow]:
    """``rows``: lost deals (closed in the period) keyed by their reason. Most deals first."""
    grouped = _by_key(rows)
    total = sum(n for n, _ in grouped.values())
    out = [
        LostReasonRow(
            reason=reason if isinstance(reason, str) else None, deals=n, amount=money, share_pct=_pct(n, total)
        )
        for reason, (n, money) in grouped.items()
    ]
    return sorted(out, key=lambda r: (-r.deals, r.reason is None, r.reason or ""))
