"""Wrap-up on the call's activity: the spell an agent leaves is booked on the call it followed, in whichever order
the call and the wrap-up reach the writer, once however often the events come (real SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from callcenter.automation.facts import WrapUpLogged
from callcenter.crm_bridge import BridgeRules, CrmBridge
from callcenter.events import AgentState, AgentStateChanged, CallEnded, CallOutcome, InProcessBus, RecordingReady
from callcenter.reports.store import inbound_calls
from crm_core import dispositions
from crm_core.db import Database
from crm_core.models import Activity
from crm_core.records import PhoneRules
from tests.calls.replaying import run
from tests.crm_bridge.test_bridge import ended

RULES = PhoneRules(region="US")


def bridge(db: Database, published: list[object] | None = None) -> CrmBridge:
    return CrmBridge(db=db, phone_rules=RULES, rules=BridgeRules(),
                     publish=published.append if published is not None else None)


async def feed(b: CrmBridge, events: list[Any]) -> None:
    for event in events:
        await b.handle(event)


async def meta_of(db: Database, call_id: str) -> dict[str, Any]:
    async with db.session() as s:
        activity = await s.scalar(select(Activity).where(Activity.call_id == call_id))
    assert activity is not None
    return activity.call_meta


def left(
    agent: str, call_id: str, since_s: float, at_s: float, state: AgentState = AgentState.AVAILABLE
) -> AgentStateChanged:
    """The change that ends one wrap-up spell, as the live model emits it."""
    return AgentStateChanged(agent=agent, at_s=at_s, state=state, previous=AgentState.WRAP_UP,
                             wrapup_call_id=call_id, wrapup_since_s=since_s)


def queue_call_with_wrapup(traces_dir: Path, wrapup_s: float) -> tuple[CallEnded, list[Any]]:
    """A real queue call through the tracker, then time running on until every wrap-up is over."""
    tracker, domain = run(traces_dir / "queue_answered.ami", wrapup_s=wrapup_s)
    events = [*domain, *tracker.tick(tracker.now_s + 3600.0)]
    (call,) = [e for e in events if isinstance(e, CallEnded)]
    return call, events


async def test_the_wrapup_after_a_traced_call_is_booked_once_however_often_it_is_replayed(
    db: Database, traces_dir: Path
) -> None:
    call, events = queue_call_with_wrapup(traces_dir, wrapup_s=45.0)
    published: list[object] = []
    b = bridge(db, published)
    await feed(b, events)
    meta = await meta_of(db, call.call_id)
    assert meta["wrapup_s"] == pytest.approx(45.0)
    assert [s["agent"] for s in meta["wrapup_spells"]] == ["1002"]
    await feed(b, events)  # a replay (resync, a second instance)
    await feed(bridge(db, published), events)  # and one by a restarted writer that holds nothing in memory
    assert await meta_of(db, call.call_id) == meta
    assert [(f.wrapup_s, f.call_wrapup_s) for f in published if isinstance(f, WrapUpLogged)] == [
        (pytest.approx(45.0), pytest.approx(45.0))
    ]
    # What the reports read: talk plus that wrap-up.
    async with db.session() as s:
        [fact] = await inbound_calls(s, from_s=call.started_s - 1, to_s=call.started_s + 1, did_team=lambda _d: None)
    assert fact.wrapup_s == pytest.approx(45.0) and fact.talk_s == pytest.approx(call.talk_s, abs=1e-3)


async def test_no_wrapup_configured_leaves_wrapup_unknown_not_zero(db: Database, traces_dir: Path) -> None:
    call, events = queue_call_with_wrapup(traces_dir, wrapup_s=0.0)
    await feed(bridge(db), events)
    meta = await meta_of(db, call.call_id)
    assert "wrapup_s" not in meta and "wrapup_spells" not in meta
    async with db.session() as s:
        [fact] = await inbound_calls(s, from_s=call.started_s - 1, to_s=call.started_s + 1, did_team=lambda _d: None)
    assert fact.wrapup_s is None


async def test_a_wrapup_that_ends_before_its_call_is_written_is_held_and_written_with_it(db: Database) -> None:
    # A transfer: the first agent's wrap-up is over while the second agent is still talking with the customer.
    call = ended("t1", outcome=CallOutcome.ANSWERED, answered_by="1002")
    first = left("1002", "t1", since_s=call.started_s + 5.0, at_s=call.started_s + 17.5)
    second = left("1003", "t1", since_s=call.ended_s, at_s=call.ended_s + 30.0, state=AgentState.PAUSED)
    published: list[object] = []
    b = bridge(db, published)
    await feed(b, [first])
    assert list(b.held_wrapups) == ["t1"]
    await feed(b, [call])
    assert b.held_wrapups == {}
    assert (await meta_of(db, "t1"))["wrapup_s"] == 12.5
    await feed(b, [second])
    meta = await meta_of(db, "t1")
    assert meta["wrapup_s"] == 42.5  # both agents' after-call work is the call's
    assert [(s["agent"], s["wrapup_s"]) for s in meta["wrapup_spells"]] == [("1002", 12.5), ("1003", 30.0)]
    await feed(b, [first, call, second, call])  # the same events again, in any order
    assert await meta_of(db, "t1") == meta
    # A held one is told once its call is written (the wallboard keeps each call's wrap-up from these facts). The
    # fact names the agent's own spell, and the call's total apart from it; the replay tells nothing again.
    assert [(f.agent, f.wrapup_s, f.call_wrapup_s) for f in published if isinstance(f, WrapUpLogged)] == [
        ("1002", 12.5, 12.5), ("1003", 30.0, 42.5)
    ]


async def test_a_wrapup_booked_on_an_activity_the_agent_started_survives_the_writer(db: Database) -> None:
    # The agent saved the disposition while the call was live (the activity is started then), then the wrap-up of a
    # previous leg ended, then the call: nothing is lost on the way.
    async with db.session() as s:
        assert await dispositions.locked_call_activity(s, "s1", start=True) is not None
    b = bridge(db)
    await feed(b, [left("1002", "s1", since_s=1_795_390_010.0, at_s=1_795_390_014.0)])
    assert b.held_wrapups == {} and (await meta_of(db, "s1"))["wrapup_s"] == 4.0
    await feed(b, [ended("s1", outcome=CallOutcome.ANSWERED, answered_by="1002")])
    meta = await meta_of(db, "s1")
    assert meta["wrapup_s"] == 4.0 and meta["answered_by"] == "1002"


async def test_the_writer_task_takes_only_changes_that_leave_a_wrapup(db: Database, traces_dir: Path) -> None:
    call, events = queue_call_with_wrapup(traces_dir, wrapup_s=20.0)
    bus = InProcessBus()
    b = bridge(db)
    b.attach(bus)
    task = asyncio.create_task(b.run())
    try:
        for event in events:
            bus.publish(event)
        wrapups = [e for e in events if isinstance(e, AgentStateChanged) and e.wrapup_call_id]
        calls = [e for e in events if isinstance(e, CallEnded | RecordingReady)]
        assert len(wrapups) == 1 and b.queue.qsize() == len(calls) + 1  # no other agent change reaches the writer
        await asyncio.wait_for(b.idle.wait(), 10)
    finally:
        task.cancel()
    assert b.failed == 0 and (await meta_of(db, call.call_id))["wrapup_s"] == pytest.approx(20.0)
