"""The staffing API on real databases: agents needed from the CRM's call activities with every input shown, the
what-if replay of a real day, role scoping and bad input named."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from callcenter.reports.erlang import agents_needed, erlang_c_figures
from crm_core.agent_log_models import AgentStateSpell
from crm_core.models import Activity, ActivityKind, Direction
from tests.api.conftest import World
from tests.api.test_report_routes import teams, teams_config  # noqa: F401  (fixtures: Team A in Berlin, Team B)

BERLIN = ZoneInfo("Europe/Berlin")
STAFFING = "/api/v1/reports/staffing"
WHAT_IF = "/api/v1/reports/staffing/what-if"
MON1, MON2, MON4 = date(2026, 3, 2), date(2026, 3, 9), date(2026, 3, 23)
UNTIL = "2026-03-30"



def _at(day: date, hh: int, mm: int, ss: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hh, mm, ss, tzinfo=BERLIN)


def _call(call_id: str, start: datetime, outcome: str, *, wait_s: float, talk_s: float = 0.0,
          wrapup_s: float | None = None, did: str = "8001") -> Activity:
    return Activity(
        kind=ActivityKind.CALL, direction=Direction.INBOUND, call_id=call_id, started_at=start,
        ended_at=start + timedelta(seconds=wait_s + talk_s), result=outcome, wait_s=wait_s, talk_s=talk_s, did=did,
        from_e164="+4930100000", from_raw="+4930100000", subject="call",
        call_meta={"queue": "team-a", **({"wrapup_s": wrapup_s} if wrapup_s is not None else {})},
    )


async def _seed_weeks(world: World) -> None:
    """Team A's Mondays 10:00-10:15: 3 calls on 2 March, 1 on 9 March, none at all on 16 March, 1 on 23 March."""
    async with world.db.session() as s:
        s.add_all([
            _call("m1a", _at(MON1, 10, 0), "answered", wait_s=10, talk_s=100, wrapup_s=20),
            _call("m1b", _at(MON1, 10, 7), "answered", wait_s=30, talk_s=200),
            _call("m1c", _at(MON1, 10, 14, 59), "abandoned", wait_s=40),
            _call("m1d", _at(MON1, 10, 30), "abandoned", wait_s=6),
            _call("m2a", _at(MON2, 9, 59, 59), "answered", wait_s=0, talk_s=60),
            _call("m2b", _at(MON2, 10, 5), "answered", wait_s=5, talk_s=300, wrapup_s=30),
            _call("tue", _at(date(2026, 3, 3), 10, 0), "answered", wait_s=50, talk_s=40),
            _call("m4a", _at(MON4, 10, 14, 59), "abandoned", wait_s=20),
            _call("m4b", _at(MON4, 10, 15), "missed", wait_s=25),
            _call("b1", _at(MON1, 10, 1), "answered", wait_s=1, talk_s=500, did="8002"),  # Team B
            _call("old", _at(date(2026, 2, 23), 10, 0), "answered", wait_s=0, talk_s=999),  # before the window
        ])


async def test_monday_ten_oclock_for_80_20(teams: World) -> None:
    await _seed_weeks(teams)
    params = {"weekday": "mon", "time": "10:00", "target_pct": "80", "threshold_s": "20", "until": UNTIL}
    status, body = await teams.call(teams.sup_a, "GET", STAFFING, params=params)  # no team: the supervisor's own
    assert status == 200, body
    assert (body["team"], body["timezone"], body["weekday"]) == ("Team A", "Europe/Berlin", "mon")
    assert [w["start"] for w in body["weeks"]] == ["2026-03-02", "2026-03-09", "2026-03-16", "2026-03-23"]
    assert body["weeks"][-1]["to_iso"] == "2026-03-30T00:00:00+02:00"  # summer time from 29 March
    assert body["target"] == {"target_pct": 80.0, "threshold_s": 20.0, "max_occupancy_pct": 85.0}
    total_wait = 10 + 30 + 40 + 6 + 0 + 5 + 50 + 20 + 25
    assert body["patience"] == {"mean_s": round(total_wait / 3, 1), "abandoned": 3, "total_wait_s": total_wait,
                                "calls": 9}
    [ten] = body["intervals"]
    assert ten["weeks_used"] == ["2026-03-02", "2026-03-09", "2026-03-23"] and ten["calls_per_week"] == [3, 1, 1]
    assert ten["offered_mean"] == round(5 / 3, 3) and ten["calls_per_hour"] == round(5 / 3 * 4, 2)
    aht = (120 + 200 + 330) / 3
    assert (ten["answered"], ten["aht_s"], ten["aht_source"]) == (3, round(aht, 1), "interval")
    c = erlang_c_figures(2, 5 / 3 / 900, aht, 20)
    assert ten["erlang_c"] == {
        "agents": 2, "limited_by": "service_level", "load_erlang": round(c.load_erlang, 3),
        "service_level_pct": round(100 * c.service_level, 1), "asa_s": round(c.asa_s or 0, 1),
        "p_wait_pct": round(100 * c.p_wait, 1), "abandon_pct": 0.0, "occupancy_pct": round(100 * c.occupancy, 1),
    }
    a = agents_needed(5 / 3 / 900, aht, 80, 20, patience_s=total_wait / 3)
    assert ten["erlang_a"]["agents"] == a.agents and ten["erlang_a"]["abandon_pct"] == round(100 * a.figures.abandon, 1)


async def test_the_whole_day_and_other_targets(teams: World) -> None:
    await _seed_weeks(teams)
    status, body = await teams.call(teams.admin, "GET", STAFFING, params={"team": "Team A", "weekday": "MON",
                                                                            "until": UNTIL, "weeks": "2"})
    assert status == 200, body
    assert [w["start"] for w in body["weeks"]] == ["2026-03-16", "2026-03-23"]
    assert len(body["intervals"]) == 96 and body["intervals"][41]["time"] == "10:15"
    assert sum(sum(i["calls_per_week"]) for i in body["intervals"]) == 2  # 23 March only; 16 March has no call
    assert [i["calls_per_week"] for i in body["intervals"][40:42]] == [[1], [1]]
    _, strict = await teams.call(teams.admin, "GET", STAFFING, params={
        "team": "Team A", "weekday": "mon", "time": "10:00", "until": UNTIL, "target_pct": "95", "threshold_s": "5",
        "max_occupancy_pct": "100"})
    expected = agents_needed(5 / 3 / 900, 650 / 3, 95, 5, max_occupancy=1).agents
    assert strict["intervals"][0]["erlang_c"]["agents"] == expected
    # Team B's zone is UTC: its 10:01 Berlin call is at 09:01 there
    _, b = await teams.call(teams.admin, "GET", STAFFING, params={"team": "Team B", "weekday": "mon", "time": "09:00",
                                                                  "until": UNTIL})
    assert b["intervals"][0]["calls_per_week"] == [1] and b["timezone"] == "UTC"


async def test_who_may_ask(teams: World) -> None:
    params = {"weekday": "mon", "time": "10:00"}
    status, err = await teams.call(teams.agent_a1, "GET", STAFFING, params=params)
    assert status == 403
    status, err = await teams.call(teams.sup_a, "GET", STAFFING, params={**params, "team": "Team B"})
    assert status == 403 and err["error"]["field"] == "team"
    status, err = await teams.call(teams.admin, "GET", STAFFING, params=params)  # admins name the team
    assert status == 400 and err["error"]["field"] == "team"
    status, _ = await teams.call(teams.agent_a1, "POST", WHAT_IF, {"day": "2026-03-02", "agents": 3})
    assert status == 403
    status, err = await teams.call(teams.sup_a, "POST", WHAT_IF, {"team": "Team B", "day": "2026-03-02", "agents": 3})
    assert status == 403 and err["error"]["field"] == "team"


@pytest.mark.parametrize(
    ("params", "status", "field", "message"),
    [
        ({}, 400, "weekday", "weekday must be one of"),
        ({"weekday": "monday"}, 400, "weekday", "weekday must be one of"),
        ({"weekday": "mon", "time": "10:07"}, 400, "time", "15-minute interval"),
        ({"weekday": "mon", "time": "24:00"}, 400, "time", "between 00:00 and 23:45"),
        ({"weekday": "mon", "time": "ten"}, 400, "time", "HH:MM"),
        ({"weekday": "mon", "target_pct": "100"}, 400, "target_pct", "(0, 100)"),
        ({"weekday": "mon", "target_pct": "0"}, 400, "target_pct", "(0, 100)"),
        ({"weekday": "mon", "target_pct": "lots"}, 400, "target_pct", "must be a number"),
        ({"weekday": "mon", "target_pct": "nan"}, 400, "target_pct", "(0, 100)"),
        ({"weekday": "mon", "threshold_s": "-1"}, 400, "threshold_s", "[0, 3600]"),
        ({"weekday": "mon", "weeks": "0"}, 400, "weeks", "between 1 and 12"),
        ({"weekday": "mon", "weeks": "13"}, 400, "weeks", "between 1 and 12"),
        ({"weekday": "mon", "max_occupancy_pct": "0"}, 400, "max_occupancy_pct", "(0, 100]"),
        ({"weekday": "mon", "until": "2026-02-30"}, 400, "until", "must be a date"),
        ({"weekday": "mon", "until": "0001-01-01"}, 400, "until", "between 1971-01-01"),
        ({"weekday": "mon", "team": "Nobody"}, 422, "team", "unknown team 'Nobody'"),
    ],
)
async def test_bad_input_is_named(teams: World, params: dict[str, str], status: int, field: str, message: str) -> None:
    got, body = await teams.call(teams.sup_a, "GET", STAFFING, params=params)
    assert got == status and body["error"]["field"] == field and message in body["error"]["message"], body


async def _seed_day(world: World, day: date, *, seed: int = 5) -> list[tuple[float, str, float]]:
    """Team A's morning: 08:00-11:00, a call every 60 s on average; (wait, outcome) of each for hand figures."""
    rng = random.Random(seed)
    rows, facts = [], []
    t = _at(day, 8, 0)
    while t < _at(day, 11, 0):
        t += timedelta(seconds=rng.expovariate(1 / 60))
        outcome = rng.choices(["answered", "abandoned"], [88, 12])[0]
        wait = round(rng.expovariate(1 / 15), 1)
        talk = round(rng.expovariate(1 / 200), 1) if outcome == "answered" else 0.0
        rows.append(_call(f"d{len(rows)}", t, outcome, wait_s=wait, talk_s=talk,
                          wrapup_s=15.0 if outcome == "answered" else None))
        facts.append((wait, outcome, talk))
    async with world.db.session() as s:
        s.add_all(rows)
        s.add(_call("b", _at(day, 9, 0), "answered", wait_s=1, talk_s=50, did="8002"))  # Team B's
    return facts


async def test_what_if_next_to_what_happened(teams: World) -> None:
    facts = await _seed_day(teams, MON1)
    body = {"day": "2026-03-02", "agents": 3, "strategy": "least-loaded", "seed": 4}
    status, out = await teams.call(teams.sup_a, "POST", WHAT_IF, body)
    assert status == 200, out
    assert (out["team"], out["day"], out["from_iso"]) == ("Team A", "2026-03-02", "2026-03-02T00:00:00+01:00")
    offered = len(facts)
    answered = [w for w, o, _ in facts if o == "answered"]
    abandoned = [w for w, o, _ in facts if o == "abandoned"]
    assert out["actual"] == {
        "offered": offered, "answered": len(answered),
        "service_level_pct": round(100 * sum(w <= 20 for w in answered) / offered, 1),
        "asa_s": round(sum(answered) / len(answered), 1),
        "unanswered_pct": round(100 * len(abandoned) / offered, 1), "occupancy_pct": None, "agents": None,
    }
    inputs = out["inputs"]
    assert (inputs["agents"], inputs["strategy"], inputs["queue_only"], inputs["seed"], inputs["threshold_s"]) == (
        3, "least-loaded", False, 4, 20.0)
    assert inputs["calls"] == offered and inputs["resampled"] == len(abandoned)
    assert inputs["patience_s"] == round(sum(w for w, _, _ in facts) / len(abandoned), 1)
    assert out["simulated"]["offered"] == offered and 0 < out["simulated"]["occupancy_pct"] <= 100
    assert out["simulated"]["agents"] == 3
    _, again = await teams.call(teams.sup_a, "POST", WHAT_IF, body)
    assert again == out  # the same seed replays the same day identically
    _, more = await teams.call(teams.sup_a, "POST", WHAT_IF, {**body, "agents": 6})
    assert more["simulated"]["service_level_pct"] >= out["simulated"]["service_level_pct"]
    _, default = await teams.call(teams.admin, "POST", WHAT_IF, {"team": "Team A", "day": "2026-03-02", "agents": 3,
                                                                 "queue_only": True, "threshold_s": 30})
    assert (default["inputs"]["strategy"], default["inputs"]["threshold_s"]) == ("least-loaded", 30.0)


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"day": "2026-03-02", "agents": 0}, 422, "agents"),
        ({"day": "2026-03-02", "agents": 1001}, 422, "agents"),
        ({"day": "2026-03-02", "agents": "3"}, 422, "agents"),
        ({"day": "2026-03-02", "agents": 3, "strategy": "fastest"}, 422, "strategy"),
        ({"day": "2026-02-30", "agents": 3}, 422, "day"),
        ({"day": "2026-03-03", "agents": 3}, 422, "day"),  # no call that day
        ({"day": "9000-01-01", "agents": 3}, 422, "day"),  # not yet
        ({"day": "0001-01-01", "agents": 3}, 422, "day"),
        ({"day": "2026-03-02", "agents": 3, "extra": 1}, 422, "extra"),
        ({"day": "2026-03-02", "agents": 3, "team": "Nobody"}, 422, "team"),
        ({"agents": 3}, 422, "day"),
    ],
)
async def test_what_if_bad_input_is_named(teams: World, body: dict[str, Any], status: int, field: str) -> None:
    await _seed_day(teams, MON1)
    got, err = await teams.call(teams.sup_a, "POST", WHAT_IF, body)
    assert got == status and err["error"]["field"] == field, err


def _spell(agent: str, state: str, start: datetime, end: datetime, reason: str | None = None) -> AgentStateSpell:
    return AgentStateSpell(agent=agent, state=state, reason=reason, started_at=start, ended_at=end)


async def test_what_really_happened_includes_the_teams_occupancy(teams: World) -> None:
    """Team A's agents 1002 and 1003 that day: ringing 0.5 h + talking 1 h + wrap-up 0.5 h over 5.5 h logged in
    less 0.5 h paused = 40%; Team B's agent 1004 is not counted."""
    await _seed_day(teams, MON1)
    async with teams.db.session() as s:
        s.add_all([
            _spell("1002", "available", _at(MON1, 8, 0), _at(MON1, 9, 0)),
            _spell("1002", "talking", _at(MON1, 9, 0), _at(MON1, 10, 0)),
            _spell("1002", "paused", _at(MON1, 10, 0), _at(MON1, 10, 30), reason="lunch"),
            _spell("1002", "wrap-up", _at(MON1, 10, 30), _at(MON1, 11, 0)),
            _spell("1003", "ringing", _at(MON1, 8, 0), _at(MON1, 8, 30)),
            _spell("1003", "available", _at(MON1, 8, 30), _at(MON1, 10, 30)),
            _spell("1004", "talking", _at(MON1, 8, 0), _at(MON1, 12, 0)),
        ])
    status, out = await teams.call(teams.sup_a, "POST", WHAT_IF, {"day": "2026-03-02", "agents": 2})
    assert status == 200, out
    assert (out["actual"]["occupancy_pct"], out["actual"]["agents"]) == (40.0, 2)
