"""The quarter-hour call sums: the triggers log exactly the quarter-hours whose calls changed, whoever writes, and
reports read the sums (the equality of the figures with the pure maths, before and after changes, is in
test_call_sums_store)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, text, update

from callcenter.reports.call_rollup import CallSumsKeeper
from callcenter.reports.figures import Group, ServiceLevelRule
from callcenter.reports.intervals import Interval
from callcenter.reports.period import DAY_S, Period
from callcenter.reports.service import call_report
from crm_core.call_rollup_models import CallSumsChange, CallSumsQuarter
from crm_core.db import Database
from crm_core.models import Activity, ActivityKind, Direction

RULE = ServiceLevelRule(threshold_s=20, short_abandon_s=5)
DAY = datetime(2026, 11, 2, tzinfo=timezone.utc)


def quarter(at: datetime) -> int:
    return int(at.timestamp()) // 900 * 900


async def logged(db: Database) -> list[int]:
    async with db.session() as session:
        return list((await session.execute(select(CallSumsChange.quarter_s).order_by(CallSumsChange.id))).scalars())


async def forget_log(db: Database) -> None:
    async with db.session() as session:
        await session.execute(CallSumsChange.__table__.delete())


def call(i: int, at: datetime, **kw: object) -> Activity:
    return Activity(kind=ActivityKind.CALL, direction=Direction.INBOUND, call_id=f"r{i}", started_at=at,
                    result="answered", wait_s=4.0, talk_s=30.0, did="100", from_e164=f"+44207123{i:04d}",
                    call_meta={"answered_by": "1001", "routing": [{"team": "north"}]}, **kw)


async def test_the_triggers_log_the_quarter_hours_whose_calls_changed(db: Database) -> None:
    at = DAY + timedelta(hours=9, minutes=14, seconds=59, microseconds=999_999)
    async with db.session() as session:
        session.add(call(1, at))
        session.add(Activity(kind=ActivityKind.NOTE, subject="not a call", started_at=at))
        session.add(Activity(kind=ActivityKind.CALL, direction=Direction.OUTBOUND, call_id="out", started_at=at))
    assert await logged(db) == [quarter(at)]  # the inbound call only, in the quarter-hour its start floors to
    await forget_log(db)

    async with db.session() as session:
        activity = (await session.execute(select(Activity).where(Activity.call_id == "r1"))).scalar_one()
        activity.recording_ref = "rec/r1.wav"  # the sums read nothing of this
        activity.body = "notes"
    assert await logged(db) == []

    async with db.session() as session:
        activity = (await session.execute(select(Activity).where(Activity.call_id == "r1"))).scalar_one()
        activity.started_at = at + timedelta(hours=1)  # moved: both quarter-hours change
    assert sorted(await logged(db)) == [quarter(at), quarter(at + timedelta(hours=1))]
    await forget_log(db)

    async with db.session() as session:  # a bulk UPDATE bypassing the ORM still logs
        await session.execute(update(Activity).where(Activity.call_id == "r1").values(talk_s=99.0))
    assert await logged(db) == [quarter(at + timedelta(hours=1))]
    await forget_log(db)

    async with db.session() as session:
        await session.execute(text("DELETE FROM activities WHERE call_id = 'r1'"))
    assert await logged(db) == [quarter(at + timedelta(hours=1))]


async def test_reports_read_the_sums_and_the_cut_ends_from_the_calls(db: Database) -> None:
    zone = ZoneInfo("Europe/London")
    async with db.session() as session:
        for i in range(8):
            session.add(call(i, DAY + timedelta(hours=9, minutes=7 * i)))
    keeper = CallSumsKeeper(db, rule=RULE, fcr_window_s=7 * DAY_S)
    assert await keeper.catch_up() > 0

    async def offered(from_s: float, to_s: float) -> int:
        async with db.session() as session:
            _, table = await call_report(session, period=Period(from_s, to_s, zone), group=Group.TEAM,
                                         interval=Interval.DAY, team=None, did_team=lambda _: None, rule=RULE,
                                         fcr_days=7)
        return sum(r.figures.offered for r in table.totals)

    day_s = DAY.timestamp()
    assert await offered(day_s, day_s + DAY_S) == 8
    # A stored quarter-hour's sums are what the report reads: tamper with one and the day shows it...
    async with db.session() as session:
        await session.execute(update(CallSumsQuarter).where(
            CallSumsQuarter.grouping == "team", CallSumsQuarter.quarter_s == quarter(DAY + timedelta(hours=9)),
        ).values(offered=CallSumsQuarter.offered + 100))
    assert await offered(day_s, day_s + DAY_S) == 108
    # ...but a period cut inside that quarter-hour counts its calls (09:00 and 09:07 from 09:05: one).
    assert await offered(day_s + 9 * 3600 + 300, day_s + DAY_S) == 7
    # A logged change sends the quarter-hour back to its calls until the keeper recomputes it.
    async with db.session() as session:
        await session.execute(update(Activity).where(Activity.call_id == "r0").values(talk_s=31.0))
    assert await offered(day_s, day_s + DAY_S) == 8
    assert await keeper.catch_up() >= 1
    assert await offered(day_s, day_s + DAY_S) == 8
    async with db.session() as session:
        assert await session.scalar(select(func.count()).select_from(CallSumsChange)) == 0


async def test_the_service_keeper_builds_the_sums_then_takes_in_each_change(db: Database) -> None:
    async with db.session() as session:
        session.add(call(1, DAY + timedelta(hours=10)))
    keeper = CallSumsKeeper(db, rule=RULE, fcr_window_s=7 * DAY_S)
    task = asyncio.create_task(keeper.run(interval_s=0.05))

    async def team_offered() -> int:
        async with db.session() as session:
            logged = await session.scalar(select(func.count()).select_from(CallSumsChange))
            total = await session.scalar(select(func.sum(CallSumsQuarter.offered)).where(
                CallSumsQuarter.grouping == "team"))
        return -1 if logged else int(total or 0)  # -1: a change not yet taken in

    async def until(expected: int) -> None:
        while await team_offered() != expected:
            keeper.pass_done.clear()
            await keeper.pass_done.wait()

    try:
        await asyncio.wait_for(until(1), timeout=30)  # built on start
        async with db.session() as session:
            session.add(call(2, DAY + timedelta(hours=11)))
        await asyncio.wait_for(until(2), timeout=30)  # the next pass takes the new call in
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
