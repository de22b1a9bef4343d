"""Agent state spells on real databases: written from AgentStateChanged, idempotent under replays and resyncs,
late events put in their place; and the occupancy and pause figures read from them."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import select

from callcenter.events import AgentState, AgentStateChanged, InProcessBus
from callcenter.reports import store
from callcenter.reports.agent_figures import SpellFact, agent_figures
from callcenter.reports.agent_log import AgentLog
from crm_core.access import Principal
from crm_core.agent_log_models import AgentStateSpell
from crm_core.db import Database
from crm_core.models import Role
from crm_core.schemas import UserIn
from crm_core.users import create_user

T0 = 1_780_000_200.0
S = AgentState


def change(at: float, state: AgentState, previous: AgentState | None = None, *, agent: str = "1002",
           reason: str | None = None, call_id: str | None = None) -> AgentStateChanged:
    return AgentStateChanged(agent=agent, at_s=T0 + at, state=state, previous=previous, reason=reason, call_id=call_id)


async def spells(db: Database) -> list[tuple[Any, ...]]:
    async with db.session() as s:
        rows = await s.scalars(select(AgentStateSpell).order_by(AgentStateSpell.agent, AgentStateSpell.started_at))
        return [
            (r.agent, r.user_id, r.state, r.reason, r.call_id, r.started_at.timestamp() - T0,
             r.ended_at.timestamp() - T0 if r.ended_at else None)
            for r in rows
        ]


async def record_all(db: Database, events: list[AgentStateChanged]) -> None:
    writer = AgentLog(db=db)
    for event in events:
        await writer.record(event)


DAY = [
    change(0, S.AVAILABLE, S.OFFLINE),
    change(100, S.RINGING, S.AVAILABLE, call_id="c1"),
    change(110, S.TALKING, S.RINGING, call_id="c1"),
    change(200, S.WRAP_UP, S.TALKING, call_id="c1"),
    change(230, S.PAUSED, S.WRAP_UP, reason="lunch"),
    change(530, S.AVAILABLE, S.PAUSED),
    change(600, S.OFFLINE, S.AVAILABLE),
]
EXPECTED = [
    ("1002", "user", "available", None, None, 0.0, 100.0),
    ("1002", "user", "ringing", None, "c1", 100.0, 110.0),
    ("1002", "user", "talking", None, "c1", 110.0, 200.0),
    ("1002", "user", "wrap-up", None, "c1", 200.0, 230.0),
    ("1002", "user", "paused", "lunch", None, 230.0, 530.0),
    ("1002", "user", "available", None, None, 530.0, 600.0),
]


async def _user(db: Database) -> int:
    async with db.session() as s:
        return (await create_user(s, Principal.system(), UserIn(name="Alice", role=Role.AGENT, extension="1002"))).id


def _with_user(rows: list[tuple[Any, ...]], user_id: int) -> list[tuple[Any, ...]]:
    return [(r[0], user_id if r[1] == "user" else r[1], *r[2:]) for r in rows]


async def test_a_day_of_changes_becomes_spells_with_the_user(db: Database) -> None:
    user_id = await _user(db)
    await record_all(db, DAY)
    assert await spells(db) == _with_user(EXPECTED, user_id)


async def test_replays_and_resyncs_write_nothing_twice(db: Database) -> None:
    user_id = await _user(db)
    await record_all(db, DAY)
    await record_all(db, DAY)  # a replay of the whole day
    await record_all(db, [change(300, S.PAUSED, S.PAUSED, reason="lunch")])  # a resync re-announcing the pause
    assert await spells(db) == _with_user(EXPECTED, user_id)


async def test_a_late_event_cuts_the_spell_it_falls_in(db: Database) -> None:
    user_id = await _user(db)
    events = [e for e in DAY if e.at_s != T0 + 200]  # the wrap-up arrives last
    await record_all(db, events)
    await record_all(db, [DAY[3]])
    assert await spells(db) == _with_user(EXPECTED, user_id)


async def test_an_unknown_extension_has_no_user_and_an_open_spell_stays_open(db: Database) -> None:
    await record_all(db, [change(0, S.PAUSED, reason="training", agent="9999")])
    assert await spells(db) == [("9999", None, "paused", "training", None, 0.0, None)]


async def test_the_writer_follows_the_bus(db: Database) -> None:
    user_id = await _user(db)
    bus = InProcessBus()
    writer = AgentLog(db=db)
    writer.attach(bus)
    task = asyncio.create_task(writer.run())
    try:
        for event in DAY:
            bus.publish(event)
        await asyncio.wait_for(writer.idle.wait(), 10)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert (writer.written, writer.failed) == (len(DAY), 0)
    assert await spells(db) == _with_user(EXPECTED, user_id)


async def test_figures_from_the_stored_spells(db: Database) -> None:
    await _user(db)
    await record_all(db, DAY)
    async with db.session() as s:
        read = await store.agent_spells(s, from_s=T0 + 105, to_s=T0 + 560)
    [row] = agent_figures(read, from_s=T0 + 105, to_s=T0 + 560, now_s=T0 + 10_000)
    # Cut to [105, 560): ringing 5, talking 90, wrap-up 30, paused 300, available 30.
    assert (row.logged_in_s, row.ringing_s, row.talking_s, row.wrapup_s, row.paused_s, row.available_s) == (
        455.0, 5.0, 90.0, 30.0, 300.0, 30.0
    )
    assert row.pause_by_reason_s == {"lunch": 300.0}
    assert row.occupancy_pct == round(100 * 125 / 155, 1)


def spell(agent: str, state: str, start: float, end: float | None, reason: str | None = None) -> SpellFact:
    return SpellFact(agent=agent, user_id=None, state=state, reason=reason, started_s=start, ended_s=end)


@pytest.mark.parametrize(
    ("spells_", "now", "expected"),
    [
        pytest.param([], 1000, [], id="no spells, no rows"),
        pytest.param([spell("a", "paused", 0, 100, "lunch"), spell("a", "paused", 100, 200, None),
                      spell("a", "paused", 200, 250, "lunch")], 1000,
                     [("a", 250.0, 250.0, {"": 100.0, "lunch": 150.0}, None)],
                     id="pause by reason; never ready: no occupancy"),
        pytest.param([spell("a", "available", 0, None)], 400, [("a", 400.0, 0.0, {}, 0.0)],
                     id="an open spell ends now"),
        pytest.param([spell("a", "talking", -50, 50), spell("a", "wrap-up", 50, 100), spell("a", "available", 100, 200),
                      spell("b", "ringing", 900, 1100)], 5000,
                     [("a", 200.0, 0.0, {}, 50.0), ("b", 100.0, 0.0, {}, 100.0)],
                     id="spells cut at the period's bounds; agents apart"),
    ],
)
def test_agent_figures(spells_: list[SpellFact], now: float, expected: list[tuple[Any, ...]]) -> None:
    rows = agent_figures(spells_, from_s=0, to_s=1000, now_s=now)
    assert [(r.agent, r.logged_in_s, r.paused_s, r.pause_by_reason_s, r.occupancy_pct) for r in rows] == expected
