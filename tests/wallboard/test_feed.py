"""The figures feed: a burst of changes costs one refresh; each team's list holds its own day's newest misses."""

from __future__ import annotations

import asyncio
from zoneinfo import ZoneInfo

from callcenter.automation.facts import CallLogged
from callcenter.events import InProcessBus
from callcenter.reports.figures import CallFact, ServiceLevelRule
from callcenter.reports.period import Period
from callcenter.wallboard.feed import FiguresFeed, todays_missed
from callcenter.wallboard.hub import Hub
from callcenter.wallboard.state import MAX_RECENT_MISSED

UTC = ZoneInfo("UTC")


def logged(n: int) -> CallLogged:
    return CallLogged(call_id=f"c{n}", activity_id=n, direction="inbound", outcome="answered", did="8001", number=None,
                      entity=None, record_id=None, responsible_id=None, agent_user_id=None)


async def test_a_burst_of_calls_is_one_pass() -> None:
    bus = InProcessBus()
    feed = FiguresFeed(hub=Hub(), db=None, zones={}, did_team=lambda _d: None, rule=ServiceLevelRule(),  # type: ignore[arg-type]
                       debounce_s=0.05, interval_s=60)
    passed = asyncio.Event()
    count = 0

    async def run_pass() -> None:
        nonlocal count
        count += 1
        passed.set()

    feed.run_pass = run_pass  # type: ignore[method-assign]
    feed.attach(bus)
    task = asyncio.create_task(feed.run())
    try:
        await asyncio.wait_for(passed.wait(), 5)  # the start-up pass
        passed.clear()
        for n in range(20):
            bus.publish(logged(n))
        await asyncio.wait_for(passed.wait(), 5)
        assert count == 2 and not feed.wanted.is_set()
    finally:
        task.cancel()


def miss(call_id: str, team: str, started_s: float, outcome: str = "missed") -> CallFact:
    return CallFact(call_id=call_id, team=team, started_s=started_s, ended_s=started_s + 10, outcome=outcome,
                    wait_s=10, talk_s=0)


def test_todays_missed_per_team_newest_first_within_each_teams_day() -> None:
    periods: dict[str | None, Period] = {"A": Period(1000, 2000, UTC), "B": Period(1500, 2500, UTC)}
    calls = [
        miss("a-yesterday", "A", 999),
        miss("a-answered", "A", 1100, "answered"),
        *(miss(f"a{n}", "A", 1100 + n) for n in range(MAX_RECENT_MISSED + 1)),
        miss("b-before-its-day", "B", 1400),
        miss("b", "B", 1600, "abandoned"),
        miss("nobodys", "C", 1600),
    ]
    ids = [c.call_id for c in todays_missed(calls, periods)]
    assert ids[0] == f"a{MAX_RECENT_MISSED}" and "a0" not in ids and len(ids) == MAX_RECENT_MISSED + 1
    assert ids[-1] == "b" and not {"a-yesterday", "a-answered", "b-before-its-day", "nobodys"} & set(ids)


async def test_without_the_crm_writers_facts_the_day_is_read_again_once_an_interval() -> None:
    """With the CRM writer in another process no CallLogged reaches this bus (nor wrap-ups, nor callback changes):
    a call ended an interval ago without its CallLogged makes a pass read the day again, and only then."""
    from callcenter.events import CallDirection, CallEnded, CallOutcome

    now = [1_800_000_000.0]
    feed = FiguresFeed(hub=Hub(), db=None, zones={"A": UTC}, did_team=lambda _d: "A", rule=ServiceLevelRule(),  # type: ignore[arg-type]
                       debounce_s=0.05, interval_s=30, clock=lambda: now[0])
    reads: list[float] = []

    async def read_day(periods: dict[str | None, Period], now_s: float) -> None:  # the database's part, counted
        reads.append(now_s)
        feed.periods = periods
        feed._unlogged.clear()

    async def read_callbacks(now_s: float) -> None:
        feed._callbacks_stale = False

    feed._read_day = read_day  # type: ignore[method-assign]
    feed._read_callbacks = read_callbacks  # type: ignore[method-assign]
    bus = InProcessBus()
    feed.attach(bus)
    await feed.run_pass()
    assert len(reads) == 1  # start-up

    def ended(call_id: str) -> CallEnded:
        return CallEnded(call_id=call_id, started_s=now[0] - 60, ended_s=now[0], direction=CallDirection.INBOUND,
                         outcome=CallOutcome.ANSWERED, caller="+12125550101", caller_name=None, did="8001",
                         customer="+12125550101", answered_by="1002", agents_rung=("1002",), agents_talked=("1002",),
                         attempts=(), wait_s=3.0, talk_s=57.0, hangup_cause=16, hangup_cause_txt=None,
                         hung_up_by=None, recordings=(), queue=None)

    bus.publish(ended("logged"))
    bus.publish(CallLogged(call_id="logged", activity_id=1, direction="inbound", outcome="answered", did="8001",
                           number=None, entity=None, record_id=None, responsible_id=None, agent_user_id=None))
    now[0] += 31
    await feed.run_pass()
    assert len(reads) == 1 and feed.calls["logged"].talk_s == 57.0  # its CallLogged came: kept from the events
    bus.publish(ended("silent"))
    now[0] += 10
    await feed.run_pass()
    assert len(reads) == 1  # not an interval yet
    now[0] += 21
    await feed.run_pass()
    assert len(reads) == 2  # no CallLogged for an interval: the day is read again
    now[0] += 31
    await feed.run_pass()
    assert len(reads) == 2  # and not again while nothing new is waiting
