"""Today's figures and missed calls on the wallboard, from the CRM through the reports service (adapter).

One refresh serves every screen: it reads the calls once (``team_report``, the very function behind
``GET /api/v1/reports/team-figures``), computes each team's figures for its own "today", and the hub pushes only
what changed. A refresh is asked for by what changes the figures (a call or its wrap-up written, a callback overdue,
an API write) and runs ``debounce_s`` after the first ask, so a burst of calls costs one query; it also runs every
``interval_s``, because callbacks become overdue and days roll over without any event.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any
from zoneinfo import ZoneInfo

from callcenter.automation.facts import CallbackOverdue, CallLogged, WrapUpLogged
from callcenter.events import CallEnded, EventBus
from callcenter.reports import store
from callcenter.reports.figures import CallFact, ServiceLevelRule
from callcenter.reports.period import Period, today
from callcenter.reports.report import DidTeam, figures_json
from callcenter.reports.service import team_report
from callcenter.wallboard.hub import Hub
from callcenter.wallboard.state import MAX_RECENT_MISSED, MISSED_OUTCOMES, missed_row
from callcenter.waiting import wait_set
from crm_core.db import Database

log = logging.getLogger("callcenter.wallboard")


def todays_missed(calls: list[CallFact], periods: dict[str | None, Period]) -> list[CallFact]:
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
        self.wanted = asyncio.Event()

    def attach(self, bus: EventBus) -> None:
        for event_type in (CallLogged, CallbackOverdue, CallEnded, WrapUpLogged):
            bus.subscribe(self.poke, event_type=event_type)

    def poke(self, *_why: Any) -> None:
        self.wanted.set()

    async def run(self) -> None:
        while True:
            if await wait_set(self.wanted, self.interval_s):
                await asyncio.sleep(self.debounce_s)  # gather the rest of the burst into this refresh
            self.wanted.clear()
            try:
                await self.refresh()
            except Exception:  # the database may be away for a moment; the next ask or tick tries again
                log.exception("wallboard figures not refreshed")

    async def refresh(self) -> None:
        now_s = self.clock()
        periods: dict[str | None, Period] = {team: today(zone, now_s) for team, zone in self.zones.items()}
        async with self.db.read_session() as session:
            report = await team_report(session, periods=periods, did_team=self.did_team, rule=self.rule, now_s=now_s)
            missed = todays_missed(report.calls, periods)
            callbacks = await store.callback_status(session, missed, now_s=now_s)
        deltas = []
        for team in self.zones:
            deltas += self.hub.state.set_figures(team, figures_json(team, periods[team], report.figures[team]))
        rows = [
            missed_row(
                call_id=c.call_id, caller=c.caller, outcome=c.outcome, ended_s=c.ended_s, wait_s=c.wait_s,
                queue=c.queue, team=c.team, callback=asdict(cb) if (cb := callbacks.get(c.call_id)) else None,
            )
            for c in missed
        ]
        deltas += self.hub.state.merge_missed(rows, day_start_s={t: p.from_s for t, p in periods.items()})
        self.hub.push(deltas)
