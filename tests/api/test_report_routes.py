"""The reports API on real databases: figures from the CRM's call activities and callbacks, per team, scoped by
role, clear errors for bad input; and the wallboard's figures are the very same numbers."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from callcenter.app_keys import FIGURES_FEED, HUB
from crm_core.models import Activity, ActivityKind, Direction, Task, TaskKind, TaskStatus
from tests.api.conftest import World

BERLIN = ZoneInfo("Europe/Berlin")
DAY = datetime(2026, 3, 2, tzinfo=BERLIN)  # a Monday of 24 hours in Berlin
TEAMS_TOML = """
[routing]
default_team = "Team A"
[routing.teams."Team A"]
queue = "team-a"
timezone = "Europe/Berlin"
[routing.teams."Team B"]
queue = "team-b"
[routing.dids."8002"]
team = "Team B"
"""
FIGURES = "/api/v1/reports/team-figures"


@pytest.fixture
def teams_config(tmp_path: Path) -> Path:
    path = tmp_path / "callcenter.toml"
    path.write_text(TEAMS_TOML)
    return path


@pytest.fixture
async def teams(make_world: Any, teams_config: Path) -> World:
    return await make_world(teams_config)


def _call(call_id: str, start: datetime, outcome: str, *, wait_s: float, talk_s: float = 0.0, did: str = "8001",
          number: str = "+4930100000", team: str | None = None, direction: Direction = Direction.INBOUND) -> Activity:
    return Activity(
        kind=ActivityKind.CALL, direction=direction, call_id=call_id, started_at=start,
        ended_at=start + timedelta(seconds=wait_s + talk_s), result=outcome, wait_s=wait_s, talk_s=talk_s, did=did,
        from_e164=number, from_raw=number, subject="call",
        call_meta={"queue": "team-a", **({"routing": [{"team": team, "reason": "owner"}]} if team else {})},
    )


async def _seed_day(world: World, *, day: datetime = DAY, now: datetime | None = None) -> None:
    """Team A: two answered (5 s and 30 s waits), a short abandon, a missed call with an overdue callback;
    Team B: one answered (by its DID); around them, calls the figures must leave out."""
    at = lambda hours, minutes=0: day + timedelta(hours=hours, minutes=minutes)  # noqa: E731
    async with world.db.session() as s:
        s.add_all([
            _call("a1", at(8), "answered", wait_s=5, talk_s=100),
            _call("a2", at(8, 10), "answered", wait_s=30, talk_s=200, did="8002", team="Team A"),  # routed to A
            _call("a3", at(8, 20), "abandoned", wait_s=3),
            _call("a4", at(9), "missed", wait_s=25, number="+4930111111"),
            _call("b1", at(8), "answered", wait_s=4, talk_s=60, did="8002"),
            _call("next-day", at(24, 30), "answered", wait_s=1, talk_s=10),
            _call("outbound", at(10), "answered", wait_s=1, talk_s=10, direction=Direction.OUTBOUND),
        ])
        s.add(Task(title="Call back", kind=TaskKind.CALLBACK, status=TaskStatus.OPEN, callback_e164="+4930111111",
                   description="Missed calls (call ids):\na4", due_at=(now or at(9, 15)).astimezone(timezone.utc),
                   missed_count=1))
        s.add(Task(title="Done callback", kind=TaskKind.CALLBACK, status=TaskStatus.DONE, callback_e164="+4930100000",
                   description="Missed calls (call ids):\nold"))


def _pick(figures: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: figures[k] for k in keys}


KEYS = ("offered", "answered", "missed", "abandoned", "short_abandoned", "answered_within_threshold",
        "service_level_pct", "asa_s", "aht_s", "callbacks_open", "callbacks_overdue")


async def test_team_figures_for_a_day(teams: World) -> None:
    await _seed_day(teams)
    query = {"from": "2026-03-02"}
    status, a = await teams.call(teams.admin, "GET", FIGURES, params={**query, "team": "Team A"})
    assert status == 200, a
    assert _pick(a, *KEYS) == dict(
        offered=4, answered=2, missed=1, abandoned=1, short_abandoned=1, answered_within_threshold=1,
        service_level_pct=33.3, asa_s=17.5, aht_s=150.0, callbacks_open=1, callbacks_overdue=1,
    )
    assert (a["team"], a["timezone"], a["from_iso"], a["to_iso"]) == (
        "Team A", "Europe/Berlin", "2026-03-02T00:00:00+01:00", "2026-03-03T00:00:00+01:00"
    )
    assert len(a["series"]) == 96 and sum(s["offered"] for s in a["series"]) == 4
    # 08:00-08:15: one answered in time, one late; 08:15-08:30 a short abandon, which leaves the curve alone.
    assert [(s["offered"], s["service_level_pct"]) for s in a["series"][31:35]] == [(0, None), (2, 50.0), (1, 50.0), (0, 50.0)]
    status, b = await teams.call(teams.admin, "GET", FIGURES, params={**query, "team": "Team B"})
    assert _pick(b, "offered", "answered", "service_level_pct", "callbacks_open") == dict(
        offered=1, answered=1, service_level_pct=100.0, callbacks_open=0
    )
    status, everyone = await teams.call(teams.admin, "GET", FIGURES, params=query)
    assert everyone["team"] is None and (everyone["offered"], everyone["callbacks_open"]) == (5, 1)


async def test_the_service_level_threshold_is_configurable(make_world: Any, teams_config: Path) -> None:
    world = await make_world(teams_config, CALLCENTER_REPORTS__SERVICE_LEVEL_S="30", CALLCENTER_REPORTS__SHORT_ABANDON_S="0")
    await _seed_day(world)
    _, a = await world.call(world.admin, "GET", FIGURES, params={"from": "2026-03-02", "team": "Team A"})
    assert (a["threshold_s"], a["answered_within_threshold"], a["service_level_pct"]) == (30, 2, 50.0)


async def test_an_empty_period_has_no_made_up_figures(teams: World) -> None:
    _, figures = await teams.call(teams.sup_a, "GET", FIGURES, params={"from": "2026-03-02T08:00", "to": "2026-03-02T09:00"})
    assert figures["team"] == "Team A" and figures["offered"] == 0 and len(figures["series"]) == 4
    assert (figures["service_level_pct"], figures["asa_s"], figures["aht_s"]) == (None, None, None)


async def test_today_in_the_teams_zone_by_default(teams: World) -> None:
    now = datetime.now(BERLIN)
    midnight = datetime(now.year, now.month, now.day, tzinfo=BERLIN)
    await _seed_day(teams, day=midnight)
    _, figures = await teams.call(teams.sup_a, "GET", FIGURES)
    assert figures["from_s"] == midnight.timestamp() and figures["offered"] == 4


async def test_who_sees_which_team(teams: World) -> None:
    await _seed_day(teams)
    day = {"from": "2026-03-02"}
    status, mine = await teams.call(teams.sup_a, "GET", FIGURES, params=day)  # no team: the supervisor's own
    assert status == 200 and mine["team"] == "Team A" and mine["offered"] == 4
    status, err = await teams.call(teams.sup_a, "GET", FIGURES, params={**day, "team": "Team B"})
    assert status == 403 and err["error"]["field"] == "team"
    status, _ = await teams.call(teams.agent_a1, "GET", FIGURES, params=day)
    assert status == 403


@pytest.mark.parametrize(
    ("params", "status", "field", "message"),
    [
        ({"from": "yesterday"}, 400, "from", "must be a date"),
        ({"from": "2026-02-30"}, 400, "from", "must be a date"),
        ({"to": "2026-03-02"}, 400, "to", "needs a from"),
        ({"from": "2026-03-02", "to": "2026-03-01"}, 400, "to", "must be before"),
        ({"from": "2026-01-01", "to": "2026-03-01"}, 400, "to", "at most 31 days"),
        ({"from": "2026-03-02", "to": "2" * 65}, 400, "to", "longer than 64"),
        ({"team": "Nobody"}, 422, "team", "unknown team 'Nobody'"),
        ({"team": "x" * 121}, 400, "team", "longer than 120"),
    ],
)
async def test_bad_input_gets_a_clear_error(teams: World, params: dict[str, str], status: int, field: str, message: str) -> None:
    got, body = await teams.call(teams.admin, "GET", FIGURES, params=params)
    assert got == status and body["error"]["field"] == field and message in body["error"]["message"], body


async def test_the_wallboard_shows_the_reports_apis_figures(teams: World) -> None:
    now = datetime.now(BERLIN)
    midnight = datetime(now.year, now.month, now.day, tzinfo=BERLIN)
    await _seed_day(teams, day=midnight, now=now - timedelta(minutes=1))
    hub = teams.client.app[HUB]
    await teams.client.app[FIGURES_FEED].refresh()
    for team in ("Team A", "Team B"):
        _, api = await teams.call(teams.admin, "GET", FIGURES, params={"team": team})
        board = hub.state.figures[team]
        # Callbacks become overdue with time; everything else is one computation.
        assert {k: v for k, v in board.items() if k != "callbacks_overdue"} == {
            k: v for k, v in api.items() if k != "callbacks_overdue"
        }
    missed = {row["call_id"]: row for row in hub.state.missed.values()}
    assert set(missed) == {"a3", "a4"}
    assert missed["a4"]["callback"]["status"] == "overdue" and missed["a3"]["callback"] is None
    assert missed["a4"]["team"] == "Team A"
