"""Today's figures and missed calls on the wallboard: read from the CRM once, then kept from the domain events.

At start-up and when a team's day rolls over, the day's inbound calls are read once (``team_report``, the very
function behind ``GET /api/v1/reports/team-figures``). After that each CallEnded adds its call as the CRM will read
it back (``reports.live_calls``), a WrapUpLogged sets the call's wrap-up, and the changed teams' figures are
recomputed from their calls with the same pure maths (``figures_by_team`` -> ``compute_figures``), so the page
cannot disagree with the API on the same calls; the hub pushes only what changed.

Callbacks are CRM tasks that the CRM writer and the API change (made or merged on a miss, closed by a call that
reached the customer or by hand), and no domain event tells all of that: after the writes that may change them
(a call logged, a callback overdue, an API write: ``poke``) they are re-read, open callbacks and the status of
today's missed calls, two small queries instead of the day's calls. A pass runs ``debounce_s`` after the first
change, so a burst costs one, and every ``interval_s``, because callbacks become overdue and days roll over
without any event. With the CRM writer in another process (``workers.in_process = false``) no CRM fact reaches this
one: a call ended an interval ago without its CallLogged makes the feed read the day again, at most once an interval.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, replace
from typing import Any, Final
from zoneinfo import ZoneInfo

from callcenter.automation.facts import CallbackOverdue, CallLogged, WrapUpLogged
from callcenter.events import CallEnded, CallRouted, EventBus
from callcenter.reports import store
from callcenter.reports.figures import CallbackFact, CallFact, ServiceLevelRule
from callcenter.reports.live_calls import live_call_fact
from callcenter.reports.period import Period, today
from callcenter.reports.report import DidTeam, figures_by_team, figures_json
from callcenter.wallboard.hub import Hub
from callcenter.wallboard.state import MAX_RECENT_MISSED, MISSED_OUTCOMES, missed_row
from callcenter.waiting import wait_set
from crm_core.db import Database

log = logging.getLogger("callcenter.wallboard")

MAX_ROUTED_CALLS: Final = 10_000  # routing teams kept for calls still up (a call ends within hours)


def todays_missed(calls: Iterable[CallFact], periods: dict[str | None, Period]) -> list[CallFact]:
    """Each team's newest missed and abandoned calls of its day, as many as a screen lists."""
    by_team: dict[str | None, list[CallFact]] = {}
    for call in calls:
        period = periods.get(call.team)
        if call.outcome in MISSED_OUTCOMES and period is not None and period.from_s <= call.started_s < period.to_s:
            by_team.setdefault(call.team, []).append(call)
    return [c for rows in by_team.values() for c in sorted(rows, key=lambda c: -c.ended_s)[:MAX_RECENT_MISSED]]


class FiguresFeed:
    def __init__(
        self,
        *,
        hub: Hub,
        db: Database,
        zones: dict[str, ZoneInfo],  # team -> its time zone ("today" is local)
        did_team: DidTeam,
        rule: ServiceLevelRule,
        debounce_s: float,
        interval_s: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.hub = hub
        self.db = db
        self.zones = zones
        self.did_team = did_team
        self.rule = rule
        self.debounce_s = debounce_s
        self.interval_s = interval_s
        self.clock = clock
        self.wanted = asyncio.Event()  # something changed: a pass is due after the debounce
        self.periods: dict[str | None, Period] = {}  # the day the calls below are of; {} until the first read
        self.calls: dict[str, CallFact] = {}  # today's inbound calls, by call id
        self.callbacks: list[CallbackFact] = []  # open now
        self.passes = 0  # completed passes
        self.day_reads = 0  # reads of the day's calls: start-up and day roll-overs
        self.passed = asyncio.Event()  # set after every pass
        self._routed: collections.OrderedDict[str, str] = collections.OrderedDict()  # call id -> last routed team
        self._dirty: set[str | None] = set()  # teams whose calls changed since the last pass
        self._callbacks_stale = True
        self._reading: list[object] | None = None  # events that came during a read of the day, applied after it
        # Calls ended here whose CallLogged has not come (clock time of the end): with the CRM writer in another
        # process (workers.in_process = false) its facts never reach this bus, and the wrap-ups with them.
        self._unlogged: collections.OrderedDict[str, float] = collections.OrderedDict()

    def attach(self, bus: EventBus) -> None:
        bus.subscribe(self._on_routed, event_type=CallRouted)
        bus.subscribe(self._on_event, event_type=CallEnded)
        bus.subscribe(self._on_event, event_type=WrapUpLogged)
        bus.subscribe(self._on_event, event_type=CallLogged)
        bus.subscribe(self.poke, event_type=CallbackOverdue)

    def poke(self, *_why: Any) -> None:
        """Callbacks may have changed (a call written, one overdue, an API write): re-read them in the next pass."""
        self._callbacks_stale = True
        self.wanted.set()

    # -- events (synchronous, in the bus's call stack: no I/O) -------------------------------------------------------

    def _on_routed(self, event: CallRouted) -> None:
        if event.team:  # as crm_core.call_facts.routed_team: the last decision that names a team
            self._routed[event.call_id] = event.team
            self._routed.move_to_end(event.call_id)
            while len(self._routed) > MAX_ROUTED_CALLS:
                self._routed.popitem(last=False)

    def _on_event(self, event: object) -> None:
        if self._reading is not None:
            self._reading.append(event)  # the read under way may or may not have it: applied after the read
        self._apply(event)

    def _apply(self, event: object) -> None:
        if isinstance(event, CallEnded):
            known = self.calls.get(event.call_id)
            fact = live_call_fact(
                event, routed_team=self._routed.pop(event.call_id, None), did_team=self.did_team,
                wrapup_s=known.wrapup_s if known else None,
            )
            if fact is None:
                return
            self.calls[fact.call_id] = fact
            self._dirty.update((fact.team, known.team if known else fact.team))
            if self._reading is None:
                self._unlogged[fact.call_id] = self.clock()
                while len(self._unlogged) > MAX_ROUTED_CALLS:
                    self._unlogged.popitem(last=False)
        elif isinstance(event, CallLogged):
            # Written: its callback may be made, merged or closed. The CRM's E.164 of the caller is what a missed
            # call's callback is found by (store.callback_status).
            self._unlogged.pop(event.call_id, None)
            known = self.calls.get(event.call_id)
            if known is not None and event.number and known.number != event.number and event.direction == "inbound":
                self.calls[event.call_id] = replace(known, number=event.number)
            self.poke()
            return
        elif isinstance(event, WrapUpLogged):
            known = self.calls.get(event.call_id)
            if known is None or known.wrapup_s == event.call_wrapup_s:
                return
            self.calls[event.call_id] = replace(known, wrapup_s=event.call_wrapup_s)
            self._dirty.add(known.team)
        else:
            return
        self.wanted.set()

    # -- passes -------------------------------------------------------------------------------------------------------

    async def run(self) -> None:
        while True:
            try:
                await self.run_pass()
            except Exception:  # the database may be away for a moment; the next change or tick tries again
                log.exception("wallboard figures not refreshed")
            if await wait_set(self.wanted, self.interval_s):
                await asyncio.sleep(self.debounce_s)  # gather the rest of the burst into this pass
            self.wanted.clear()

    async def run_pass(self) -> None:
        now_s = self.clock()
        periods: dict[str | None, Period] = {team: today(zone, now_s) for team, zone in self.zones.items()}
        if periods != self.periods:
            await self._read_day(periods, now_s)  # start-up or a day roll-over: the one read of the day's calls
        elif self._unlogged and next(iter(self._unlogged.values())) < now_s - self.interval_s:
            # A call ended an interval ago and its CallLogged never came: the CRM's facts (callbacks, wrap-ups) do
            # not reach this process. Read the day instead, at most once an interval, as before issue 16.
            await self._read_day(periods, now_s)
        elif self._callbacks_stale:
            await self._read_callbacks(now_s)
        else:
            self._publish(now_s, self._dirty or set(self.zones), missed=None)  # overdue-ness moves with the clock
        self.passes += 1
        self.passed.set()

    async def refresh(self) -> None:
        """Read the day's calls and callbacks from the CRM again, as at start-up (calls written by other means than
        this service's events: an import, another tool)."""
        now_s = self.clock()
        await self._read_day({team: today(zone, now_s) for team, zone in self.zones.items()}, now_s)

    async def _read_day(self, periods: dict[str | None, Period], now_s: float) -> None:
        self._reading = []
        self._callbacks_stale = False
        try:
            async with self.db.read_session() as session:
                # What team_report (behind the API) reads; the figures come from them in _publish, as there.
                calls = await store.inbound_calls(
                    session, from_s=min(p.from_s for p in periods.values()),
                    to_s=max(p.to_s for p in periods.values()), did_team=self.did_team,
                ) if periods else []
                callbacks = await store.open_callbacks(session, did_team=self.did_team)
                missed = todays_missed(calls, periods)
                status = await store.callback_status(session, missed, now_s=now_s)
            late, self._reading = self._reading, None
            self.day_reads += 1
        except BaseException:
            self._reading = None
            self._callbacks_stale = True
            raise
        self.periods = periods
        self._unlogged.clear()  # what ended before the read is in it, or is the writer's to catch up on
        self.calls = {c.call_id: c for c in calls}
        self.callbacks = callbacks
        for event in late:  # what the read may have missed; a call it had is replaced by the same call
            if not (isinstance(event, CallEnded) and event.call_id in self.calls):
                self._apply(event)
        self._publish(now_s, set(self.zones), missed=(missed, status))

    async def _read_callbacks(self, now_s: float) -> None:
        self._callbacks_stale = False
        missed = todays_missed(self.calls.values(), self.periods)
        try:
            async with self.db.read_session() as session:
                callbacks = await store.open_callbacks(session, did_team=self.did_team)
                status = await store.callback_status(session, missed, now_s=now_s)
        except BaseException:
            self._callbacks_stale = True
            raise
        self.callbacks = callbacks
        self._publish(now_s, set(self.zones), missed=(missed, status))

    def _publish(
        self, now_s: float, teams: set[str | None], *, missed: tuple[list[CallFact], dict[str, Any]] | None
    ) -> None:
        """Recompute ``teams``' figures from the calls kept (the API's maths) and push what changed."""
        self._dirty = set()
        deltas = []
        wanted = {team: period for team, period in self.periods.items() if team in teams}
        if wanted:
            calls = [c for c in self.calls.values() if c.team in wanted]
            callbacks = [cb for cb in self.callbacks if cb.team in wanted]
            figures = figures_by_team(calls, callbacks, periods=wanted, now_s=now_s, rule=self.rule)
            for team, period in wanted.items():
                assert team is not None
                deltas += self.hub.state.set_figures(team, figures_json(team, period, figures[team]))
        if missed is not None:
            calls, callbacks = missed
            rows = [
                missed_row(
                    call_id=c.call_id, caller=c.caller, outcome=c.outcome, ended_s=c.ended_s, wait_s=c.wait_s,
                    queue=c.queue, team=c.team, callback=asdict(cb) if (cb := callbacks.get(c.call_id)) else None,
                )
                for c in calls
            ]
            deltas += self.hub.state.merge_missed(rows, day_start_s={t: p.from_s for t, p in self.periods.items()})
        self.hub.push(deltas)
