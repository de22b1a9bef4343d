"""The database adds calls up exactly as the reports' pure maths does: the same call table from call_sums_store (one
GROUP BY) as from call facts counted one by one (figures.call_table), on random calls across DST changes, zones with
half-hour shifts, periods cut mid-interval and mid-second, on SQLite and PostgreSQL."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from callcenter.reports import store
from callcenter.reports.call_rollup import CallSumsKeeper
from callcenter.reports.call_sums_store import offset_segments
from callcenter.reports.figures import Group, ServiceLevelRule, call_table, repeat_index
from callcenter.reports.intervals import Interval, interval_starts
from callcenter.reports.period import DAY_S, Period
from callcenter.reports.service import call_report
from crm_core.call_rollup_models import CallSumsChange, CallSumsQuarter
from crm_core.db import Database
from crm_core.models import Activity, ActivityKind, Direction

RULE = ServiceLevelRule(threshold_s=20, short_abandon_s=5)
FCR_DAYS = 2
DIDS = {"100": "north", "200": "south", "300": None}  # a DID no team serves
OUTCOMES = ("answered", "answered", "answered", "missed", "abandoned", "busy", None)


def did_team(did: str | None) -> str | None:
    return DIDS.get(did or "")


def _meta(rng: random.Random, outcome: str | None) -> dict:
    meta: dict = {}
    if rng.random() < 0.7:
        meta["routing"] = [{"team": rng.choice(["north", "south", "east"]), "reason": "owner"}]
    if outcome == "answered":
        meta["answered_by"] = rng.choice(["1001", "1002", "1003"])
        if rng.random() < 0.7:
            meta["wrapup_s"] = round(rng.uniform(0, 90), 3)
        if rng.random() < 0.2:
            meta["agents_talked"] = ["1001", "1002"]
    elif rng.random() < 0.5:
        meta["attempts"] = [{"agent": rng.choice(["1001", "1004"]), "rang": rng.random() < 0.7}]
    if rng.random() < 0.3:
        meta["queue"] = rng.choice(["support", "sales"])
    meta["end_estimated"] = rng.random() < 0.05
    return meta


async def _seed(db: Database, start: datetime, days: int, count: int, seed: int) -> None:
    rng = random.Random(seed)
    async with db.session() as session:
        for i in range(count):
            at = start + timedelta(seconds=rng.uniform(-86_400, (days + 1) * 86_400))
            outcome = rng.choice(OUTCOMES)
            wait_s = round(rng.choice([rng.uniform(0, 60), 4.999, 5.0, 20.0, 20.001]), 3)
            talk_s = round(rng.uniform(0, 400), 3) if outcome == "answered" else 0.0
            session.add(Activity(
                kind=ActivityKind.CALL, direction=Direction.INBOUND if rng.random() < 0.9 else Direction.OUTBOUND,
                call_id=f"c{i}", started_at=at, ended_at=at + timedelta(seconds=wait_s + talk_s), result=outcome,
                wait_s=wait_s, talk_s=talk_s, did=rng.choice(list(DIDS)),
                from_e164=rng.choice([None, *(f"+4420712345{n:02d}" for n in range(12))]),
                call_meta=_meta(rng, outcome),
            ))


CASES = [
    # zone, period start (local), days: London's spring-forward day; New York's fall-back week; Lord Howe shifts by
    # half an hour; Kathmandu is +05:45; a period starting mid-interval and mid-second.
    ("Europe/London", datetime(2026, 3, 29), 1),
    ("America/New_York", datetime(2026, 10, 29), 7),
    ("Australia/Lord_Howe", datetime(2026, 10, 3), 2),
    ("Asia/Kathmandu", datetime(2026, 6, 1, 7, 40, 30, 500_000), 2),
]


async def _assert_as_pure_maths(db: Database, period: Period) -> None:
    async with db.session() as session:
        calls = await store.inbound_calls(session, from_s=period.from_s, to_s=period.to_s + FCR_DAYS * DAY_S,
                                          did_team=did_team)
        done = await store.done_callbacks(session, from_s=period.from_s, to_s=period.to_s)
        for group in Group:
            for interval in Interval:
                for team in (None, "north"):
                    _, from_db = await call_report(session, period=period, group=group, interval=interval, team=team,
                                                   did_team=did_team, rule=RULE, fcr_days=FCR_DAYS)
                    mine = [c for c in calls if team is None or c.team == team]
                    expected = call_table(mine, done, group=group, starts=interval_starts(
                        period.from_s, period.to_s, period.zone, interval), to_s=period.to_s, rule=RULE,
                        repeats=repeat_index(calls), fcr_window_s=FCR_DAYS * DAY_S)
                    assert from_db == expected, (group, interval, team)
    assert sum(r.figures.offered for r in expected.totals) > 0


async def _rewrite_some_calls(db: Database, seed: int) -> None:
    """Later writes as the CRM writer and the API make them: outcomes, waits and routing change, a call moves to
    another quarter-hour, one is deleted, a new one comes in (which re-links the next call of its number's calls)."""
    rng = random.Random(seed)
    async with db.session() as session:
        ids = list((await session.execute(select(Activity.id).order_by(Activity.id))).scalars())
        for activity_id in rng.sample(ids, 12):
            activity = await session.get(Activity, activity_id)
            assert activity is not None
            activity.result = rng.choice(OUTCOMES)
            activity.wait_s = round(rng.uniform(0, 40), 3)
            activity.call_meta = _meta(rng, activity.result)
        moved = await session.get(Activity, ids[0])
        assert moved is not None
        moved.started_at += timedelta(minutes=50)
        await session.delete(await session.get(Activity, ids[1]))
        newest = await session.get(Activity, ids[2])
        assert newest is not None
        session.add(Activity(
            kind=ActivityKind.CALL, direction=Direction.INBOUND, call_id="late", started_at=newest.started_at
            - timedelta(minutes=3), result="answered", wait_s=3.0, talk_s=60.0, did="100",
            from_e164=newest.from_e164, call_meta={"answered_by": "1002"},
        ))


@pytest.mark.parametrize(("zone_name", "local_start", "days"), CASES)
async def test_the_database_adds_up_as_the_pure_maths(db: Database, zone_name: str, local_start: datetime, days: int) -> None:
    zone = ZoneInfo(zone_name)
    start = local_start.replace(tzinfo=zone)
    await _seed(db, start.astimezone(timezone.utc), days, 400, seed=days)
    period = Period(start.timestamp(), (start + timedelta(days=days)).timestamp(), zone)
    await _assert_as_pure_maths(db, period)  # no quarter-hour sums yet: every call added up

    keeper = CallSumsKeeper(db, rule=RULE, fcr_window_s=FCR_DAYS * DAY_S, max_changes=40)
    assert await keeper.catch_up() > 0
    async with db.session() as session:
        assert await session.scalar(select(func.count()).select_from(CallSumsChange)) == 0
        assert await session.scalar(select(func.count()).select_from(CallSumsQuarter)) > 0
    await _assert_as_pure_maths(db, period)  # from the sums, the period's cut ends from the calls

    await _rewrite_some_calls(db, seed=days)
    async with db.session() as session:
        assert await session.scalar(select(func.count()).select_from(CallSumsChange)) > 0
    await _assert_as_pure_maths(db, period)  # the changed quarter-hours from their calls, before the keeper runs
    assert await keeper.catch_up() > 0
    await _assert_as_pure_maths(db, period)

    other = CallSumsKeeper(db, rule=ServiceLevelRule(threshold_s=30, short_abandon_s=5),
                           fcr_window_s=FCR_DAYS * DAY_S)
    assert await other.catch_up() > 0  # the service restarted with another threshold: sums rebuilt for it...
    await _assert_as_pure_maths(db, period)  # ...and a report with the old one adds its calls up itself


def test_offset_segments_pin_each_change_to_the_second() -> None:
    london = ZoneInfo("Europe/London")
    day = datetime(2026, 3, 29, tzinfo=london).timestamp()
    change = datetime(2026, 3, 29, 1, 0, tzinfo=timezone.utc).timestamp()
    assert offset_segments(day, day + 86_400, london) == [(day, 0), (change, 3_600)]
    lord_howe = ZoneInfo("Australia/Lord_Howe")  # +10:30 -> +11:00 at 02:00 local on 2026-10-04
    segments = offset_segments(datetime(2026, 10, 3, tzinfo=lord_howe).timestamp(),
                               datetime(2026, 10, 5, tzinfo=lord_howe).timestamp(), lord_howe)
    assert [offset for _, offset in segments] == [37_800, 39_600]
    assert datetime.fromtimestamp(segments[1][0], lord_howe).strftime("%H:%M") == "02:30"
    assert offset_segments(day + 7_200, day + 9_000, london) == [(day + 7_200, 3_600)]
