"""The analytics API on real databases: call figures per team, agent, DID and queue per local interval, from the
CRM's call activities and callback tasks; agent occupancy and pauses from the state spells the service writes from
the bus; role scope; bad input named. Every expected number is worked out by hand in the comments."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from callcenter.app_keys import AGENT_LOG, BUS
from callcenter.outbox.pipeline import crm_settled
from callcenter.events import AgentState, AgentStateChanged
from crm_core.models import Activity, ActivityKind, Direction, Task, TaskKind, TaskStatus
from tests.api.conftest import World

LONDON, NEW_YORK = ZoneInfo("Europe/London"), ZoneInfo("America/New_York")
DAY = datetime(2026, 3, 29, tzinfo=LONDON)  # London's spring-forward day: 23 hours
CONFIG = """
[routing]
default_team = "Team A"
[routing.teams."Team A"]
queue = "team-a"
timezone = "Europe/London"
[routing.teams."Team B"]
queue = "team-b"
timezone = "America/New_York"
[routing.dids."8002"]
team = "Team B"
"""
CALLS, AGENTS, FIGURES = "/api/v1/reports/calls", "/api/v1/reports/agents", "/api/v1/reports/team-figures"


@pytest.fixture
async def world(make_world: Any, tmp_path: Path) -> World:
    path = tmp_path / "callcenter.toml"
    path.write_text(CONFIG)
    return await make_world(path)


def local(hours: float, day: datetime = DAY) -> datetime:
    """``hours`` of real time after the day's local midnight (on the 29th, 02:00 local is 1 h after it)."""
    return (day.astimezone(timezone.utc) + timedelta(hours=hours))


def _call(call_id: str, start: datetime, outcome: str, *, wait_s: float, talk_s: float = 0.0, did: str = "8001",
          number: str | None = None, team: str | None = None, agent: str | None = None, rang: tuple[str, ...] = (),
          talked: tuple[str, ...] = (), wrapup_s: float | None = None, consulted: bool = False) -> Activity:
    meta: dict[str, Any] = {
        "queue": "team-b" if did == "8002" else "team-a",
        "answered_by": agent,
        "agents_rung": list(rang or ((agent,) if agent else ())),
        "agents_talked": list(talked or ((agent,) if agent else ())),
        "attempts": [{"agent": a, "queue": None, "result": "NOANSWER", "at_s": 0, "ring_s": 10, "rang": True}
                     for a in rang],
        "consultations": [{"agent": "1003", "by_agent": agent, "at_s": 0, "ended_s": 1, "transferred": True}]
        if consulted else [],
        **({"routing": [{"team": team, "reason": "owner"}]} if team else {}),
        **({"wrapup_s": wrapup_s} if wrapup_s is not None else {}),
    }
    return Activity(
        kind=ActivityKind.CALL, direction=Direction.INBOUND, call_id=call_id, started_at=start,
        ended_at=start + timedelta(seconds=wait_s + talk_s), result=outcome, wait_s=wait_s, talk_s=talk_s, did=did,
        from_e164=number, from_raw=number, subject="call", call_meta=meta,
    )


async def seed(world: World) -> None:
    """Team A (London) and Team B (New York); agents 1002, 1003 of A, 1004 of B, who also takes one of A's calls."""
    async with world.db.session() as s:
        s.add_all([
            # The evening before, 23:50, 20 minutes long: the 28th's call, not the 29th's.
            _call("a0", local(-10 / 60), "answered", wait_s=10, talk_s=1200, agent="1002", number="+441000001"),
            # 03:00 local exactly (2 h after midnight), transferred in the attended way (and then blind): once.
            _call("a1", local(2), "answered", wait_s=5, talk_s=100, wrapup_s=20, agent="1002", number="+441000001",
                  talked=("1002", "1003"), consulted=True),
            _call("a2", local(2) + timedelta(seconds=899), "abandoned", wait_s=30),  # 03:14:59, rang nobody
            _call("a3", local(2.25), "missed", wait_s=25, rang=("1002", "1003")),  # 03:15, ended with 1003
            # 10:00: routed to A on B's DID, answered by 1004 of team B after 25 s.
            _call("a4", local(9), "answered", wait_s=25, talk_s=200, did="8002", team="Team A", agent="1004",
                  number="+441000002"),
            _call("a5", local(9.5), "abandoned", wait_s=3),  # 10:30, a short abandon
            _call("a6", local(24 + 8, DAY), "answered", wait_s=1, talk_s=30, agent="1003", number="+441000001"),
            # Team B: 10:05 London = 06:05 New York; and 23:30 New York = 04:30 on the 30th in London.
            _call("b1", local(9) + timedelta(minutes=5), "answered", wait_s=4, talk_s=60, did="8002", agent="1004"),
            _call("b2", datetime(2026, 3, 29, 23, 30, tzinfo=NEW_YORK), "answered", wait_s=2, talk_s=30, did="8002",
                  agent="1004"),
        ])
        s.add_all([
            Task(title="cb", kind=TaskKind.CALLBACK, status=TaskStatus.DONE, assignee_id=world.agent_a1.id,
                 team_id=world.agent_a1.team_id, due_at=local(10.25), completed_at=local(10), description="x"),
            # Late, in the team pool, closed by the answered call a4: 1004 made it.
            Task(title="cb", kind=TaskKind.CALLBACK, status=TaskStatus.DONE, team_id=world.agent_a1.team_id,
                 due_at=local(10.5), completed_at=local(11), description="Missed calls (call ids):\nz\nreached by call a4"),
            Task(title="cb", kind=TaskKind.CALLBACK, status=TaskStatus.OPEN, team_id=world.agent_a1.team_id,
                 due_at=local(10.5), description="open: not done"),
        ])


def rows_by(report: dict[str, Any], key: str = "totals") -> dict[str | None, dict[str, Any]]:
    return {r["key"]: r for r in report[key]}


def pick(row: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: row[k] for k in keys}


async def get(world: World, actor: Any, path: str, **params: str) -> tuple[int, Any]:
    return await world.call(actor, "GET", path, params=params)


async def test_team_a_on_the_spring_forward_day_by_hand(world: World) -> None:
    await seed(world)
    status, report = await get(world, world.admin, CALLS, group="team", interval="hour", team="Team A", **{"from": "2026-03-29"})
    assert status == 200, report
    assert (report["timezone"], report["from_iso"], report["to_iso"], len(report["intervals"])) == (
        "Europe/London", "2026-03-29T00:00:00+00:00", "2026-03-30T00:00:00+01:00", 23)
    a = rows_by(report)["Team A"]
    assert pick(a, "offered", "answered", "missed", "abandoned", "short_abandoned", "answered_within_threshold") == dict(
        offered=5, answered=2, missed=1, abandoned=2, short_abandoned=1, answered_within_threshold=1)
    # SL: 1 within 20 s of (5 - 1 short) = 25 %, of 5 offered = 20 %; ASA (5 + 25) / 2; AHT (100 + 20 + 200) / 2.
    assert pick(a, "service_level_pct", "service_level_offered_pct", "asa_s", "aht_s", "abandon_wait_mean_s",
                "abandon_wait_max_s", "transferred") == dict(
        service_level_pct=25.0, service_level_offered_pct=20.0, asa_s=15.0, aht_s=160.0, abandon_wait_mean_s=16.5,
        abandon_wait_max_s=30.0, transferred=1)
    # +441000001 called again the next day (after the period: read ahead), +441000002 did not.
    assert pick(a, "fcr_calls", "fcr_resolved", "fcr_pct") == dict(fcr_calls=2, fcr_resolved=1, fcr_pct=50.0)
    assert pick(a, "callbacks_done", "callbacks_done_in_sla", "callback_sla_pct") == dict(
        callbacks_done=2, callbacks_done_in_sla=1, callback_sla_pct=50.0)
    hours = [(r["start_iso"], r["offered"], r["callbacks_done"]) for r in report["rows"]]
    assert hours == [("2026-03-29T03:00:00+01:00", 3, 0), ("2026-03-29T10:00:00+01:00", 2, 0),
                     ("2026-03-29T11:00:00+01:00", 0, 1), ("2026-03-29T12:00:00+01:00", 0, 1)]
    # The team figures (and so the wallboard) say the same, from the same definitions.
    _, figures = await get(world, world.admin, FIGURES, team="Team A", **{"from": "2026-03-29"})
    keys = ("offered", "answered", "missed", "abandoned", "short_abandoned", "answered_within_threshold",
            "service_level_pct", "asa_s", "aht_s")
    assert pick(figures, *keys) == pick(a, *keys)


async def test_quarter_hours_of_a_dst_day_and_a_call_on_a_boundary(world: World) -> None:
    await seed(world)
    _, report = await get(world, world.sup_a, CALLS, interval="15m", **{"from": "2026-03-29"})
    assert report["team"] == "Team A" and len(report["intervals"]) == 92
    assert [(r["start_iso"][11:16], r["offered"]) for r in report["rows"] if r["offered"]] == [
        ("03:00", 2), ("03:15", 1), ("10:00", 1), ("10:30", 1)]


async def test_team_b_in_its_own_zone(world: World) -> None:
    await seed(world)
    _, report = await get(world, world.admin, CALLS, team="Team B", interval="day", **{"from": "2026-03-29"})
    # New York's 29th: b1 (06:05) and b2 (23:30, already the 30th in London).
    assert (report["timezone"], report["from_iso"], report["intervals"]) == (
        "America/New_York", "2026-03-29T00:00:00-04:00", ["2026-03-29T00:00:00-04:00"])
    assert pick(rows_by(report)["Team B"], "offered", "answered", "callbacks_done") == dict(
        offered=2, answered=2, callbacks_done=0)
    # All teams, in the default team's zone (London): b2 falls on the 30th.
    _, everyone = await get(world, world.admin, CALLS, group="team", interval="day", **{"from": "2026-03-29"})
    assert {k: r["offered"] for k, r in rows_by(everyone).items()} == {"Team A": 5, "Team B": 1}


async def test_an_agent_in_two_teams_is_not_counted_twice(world: World) -> None:
    await seed(world)
    query = {"group": "agent", "interval": "day", "from": "2026-03-29T00:00", "to": "2026-03-30T06:00"}
    totals = {}
    for team in ("Team A", "Team B"):
        _, report = await world.call(world.admin, "GET", CALLS, params={**query, "team": team})
        totals[team] = {k: r["offered"] for k, r in rows_by(report).items()}
    _, everyone = await world.call(world.admin, "GET", CALLS, params=query)
    overall = {k: r["offered"] for k, r in rows_by(everyone).items()}
    # 1004 answered a4 for A and b1, b2 for B; A's missed call ended with 1003; two abandons rang nobody.
    assert totals == {"Team A": {"1002": 1, "1003": 1, "1004": 1, None: 2}, "Team B": {"1004": 2}}
    assert overall == {"1002": 1, "1003": 1, "1004": 3, None: 2}
    assert rows_by(everyone)["1004"]["callbacks_done"] == 1  # the pool callback its call a4 closed


async def test_dids_and_queues(world: World) -> None:
    await seed(world)
    _, by_did = await get(world, world.admin, CALLS, group="did", interval="week", **{"from": "2026-03-29"})
    assert {k: r["offered"] for k, r in rows_by(by_did).items()} == {"8001": 4, "8002": 2}
    assert {r["callbacks_done"] for r in by_did["totals"]} == {None}
    _, by_queue = await get(world, world.admin, CALLS, group="queue", interval="day", **{"from": "2026-03-29"})
    assert {k: r["offered"] for k, r in rows_by(by_queue).items()} == {"team-a": 4, "team-b": 2}


async def test_calls_report_scope_and_bad_input(world: World) -> None:
    day = {"from": "2026-03-29"}
    assert (await get(world, world.agent_a1, CALLS, **day))[0] == 403
    status, body = await get(world, world.sup_a, CALLS, team="Team B", **day)
    assert (status, body["error"]["field"]) == (403, "team")
    for params, code, field in [
        ({"team": "Nope"}, 422, "team"),
        ({"group": "planet"}, 400, "group"),
        ({"interval": "minute"}, 400, "interval"),
        ({"from": "yesterday"}, 400, "from"),
        ({"from": "2026-03-29", "to": "2026-03-28"}, 400, "to"),
        ({"from": "2026-01-01", "to": "2026-06-01"}, 400, "to"),
        ({"to": "2026-03-29"}, 400, "to"),
    ]:
        status, body = await world.call(world.admin, "GET", CALLS, params=params)
        assert (status, body["error"]["field"]) == (code, field), (params, body)
    # The calendar's last days: no reading ahead past 9999-12-31 (first-contact resolution), no interval after it.
    for interval in ("15m", "day", "week"):
        status, body = await get(world, world.admin, CALLS, interval=interval, **{"from": "9999-12-30"})
        assert (status, len(body["intervals"])) == (200, {"15m": 96, "day": 1, "week": 1}[interval]), body


def change(at: datetime, agent: str, state: AgentState, reason: str | None = None) -> AgentStateChanged:
    return AgentStateChanged(agent=agent, at_s=at.timestamp(), state=state, previous=None, reason=reason)


async def seed_states(world: World) -> None:
    """Through the service's own bus and writer, as the live tracker publishes them."""
    S = AgentState
    events = [
        # 1002 (A): 09:00-17:00 local logged in: available 8 h minus what follows, a call rang 1 min, talked 20 min,
        # wrap-up 5 min; paused for lunch 1 h and a "coaching" half hour; offline at 17:00.
        change(local(8), "1002", S.AVAILABLE),
        change(local(9), "1002", S.RINGING), change(local(9) + timedelta(minutes=1), "1002", S.TALKING),
        change(local(9) + timedelta(minutes=21), "1002", S.WRAP_UP),
        change(local(9) + timedelta(minutes=26), "1002", S.AVAILABLE),
        change(local(11), "1002", S.PAUSED, "lunch"), change(local(12), "1002", S.AVAILABLE),
        change(local(13), "1002", S.PAUSED, "coaching"), change(local(13.5), "1002", S.AVAILABLE),
        change(local(16), "1002", S.OFFLINE),
        # 1004 (B): talking 10:00-10:30, then available until 11:00, then offline.
        change(local(9), "1004", S.TALKING), change(local(9.5), "1004", S.AVAILABLE),
        change(local(10), "1004", S.OFFLINE),
    ]
    writer = world.client.app[AGENT_LOG]
    for event in events:
        world.client.app[BUS].publish(event)
    await asyncio.wait_for(crm_settled(world.client.app), 10)  # through the outbox
    assert (writer.written, writer.failed) == (len(events), 0)


async def test_agent_occupancy_and_pauses_by_hand(world: World) -> None:
    await seed(world)
    await seed_states(world)
    _, report = await get(world, world.admin, AGENTS, **{"from": "2026-03-29"})
    rows = {r["agent"]: r for r in report["rows"]}
    a1 = rows["1002"]
    # 8 h logged in; 1.5 h paused; ringing 60 s, talking 1200 s, wrap-up 300 s; ready 6.5 h = 23400 s.
    assert pick(a1, "logged_in_s", "paused_s", "ringing_s", "talking_s", "wrapup_s", "available_s") == dict(
        logged_in_s=28800.0, paused_s=5400.0, ringing_s=60.0, talking_s=1200.0, wrapup_s=300.0, available_s=21840.0)
    assert a1["pause_by_reason_s"] == {"coaching": 1800.0, "lunch": 3600.0}
    assert a1["occupancy_pct"] == round(100 * 1560 / 23400, 1)
    assert (a1["user_id"], a1["name"], a1["team"]) == (world.agent_a1.id, "Alice Agent", "Team A")
    # Calls: 1002 answered a1 on the 29th (a0 was the 28th's): AHT 100 + 20.
    assert (a1["calls_answered"], a1["aht_s"]) == (1, 120.0)
    b1 = rows["1004"]
    assert (b1["logged_in_s"], b1["occupancy_pct"], b1["calls_answered"], b1["aht_s"]) == (3600.0, 50.0, 2, 130.0)
    # 1003 took no call it answered and has no spells: no row. Team A's supervisor sees A's members only.
    assert set(rows) == {"1002", "1004"}
    _, team_a = await get(world, world.sup_a, AGENTS, **{"from": "2026-03-29"})
    assert [r["agent"] for r in team_a["rows"]] == ["1002"] and team_a["team"] == "Team A"


async def test_agents_see_their_own_row_only(world: World) -> None:
    await seed(world)
    await seed_states(world)
    status, mine = await get(world, world.agent_b1, AGENTS, **{"from": "2026-03-29"})
    assert status == 200 and [r["agent"] for r in mine["rows"]] == ["1004"]
    assert mine["timezone"] == "America/New_York"  # their team's day
    status, body = await get(world, world.agent_b1, AGENTS, team="Team A", **{"from": "2026-03-29"})
    assert (status, body["error"]["field"]) == (403, "team")
    status, _ = await get(world, world.agent_b1, AGENTS, team="Team B", **{"from": "2026-03-29"})
    assert status == 200
    status, body = await get(world, world.sup_a, AGENTS, team="Team B")
    assert (status, body["error"]["field"]) == (403, "team")
    status, body = await get(world, world.admin, AGENTS, **{"from": "2026-03-29", "to": "bad"})
    assert (status, body["error"]["field"]) == (400, "to")


async def test_the_first_contact_window_is_a_setting(make_world: Any, tmp_path: Path) -> None:
    path = tmp_path / "callcenter.toml"
    path.write_text(CONFIG)
    world = await make_world(path, CALLCENTER_REPORTS__FCR_DAYS="1")
    await seed(world)
    _, report = await get(world, world.admin, CALLS, team="Team A", interval="day", **{"from": "2026-03-29"})
    # a1 (03:00 on the 29th) and its repeat a6 (09:00 on the 30th) are about 30 h apart: outside one day, so resolved.
    assert (report["fcr_days"], pick(rows_by(report)["Team A"], "fcr_calls", "fcr_resolved", "fcr_pct")) == (
        1, dict(fcr_calls=2, fcr_resolved=2, fcr_pct=100.0))
