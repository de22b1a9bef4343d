"""Tasks belong to a team: the CRM writer files a missed call's callback under the call's team, only that team sees
and hands out its pool, agents see their own tasks and their team's pool, and each team may have its own callback
SLA, counted in its opening hours. Both databases, through the running service."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from callcenter.app_keys import CRM_BRIDGE
from callcenter.events import CallDirection, CallEnded, CallOutcome, HungUpBy
from crm_core.types import utcnow
from tests.api.conftest import Actor, World

BERLIN = ZoneInfo("Europe/Berlin")
TEAMS_TOML = """
[routing]
default_team = "Team A"
[routing.teams."Team A"]
queue = "team-a"
timezone = "Europe/Berlin"
hours = { "mon-fri" = "08:00-18:00" }
[routing.teams."Team B"]
queue = "team-b"
[routing.dids."8002"]
team = "Team B"
"""
MONDAY_1755 = datetime(2026, 3, 2, 17, 55, tzinfo=BERLIN).timestamp()


@pytest.fixture
async def world(make_world: Any, tmp_path: Path) -> World:
    config = tmp_path / "callcenter.toml"
    config.write_text(TEAMS_TOML)
    return await make_world(config)


async def sup_b(world: World) -> Actor:
    """Team B's supervisor (the shared world has only team A's)."""
    status, user = await world.call(world.admin, "POST", "/api/v1/users",
                                    {"name": "Bo Supervisor", "role": "supervisor", "team_id": world.agent_b1.team_id})
    assert status == 201, user
    status, token = await world.call(world.admin, "POST", "/api/v1/tokens", {"user_id": user["id"], "name": "test"})
    assert status == 201, token
    return Actor(id=user["id"], team_id=user["team_id"], headers={"Authorization": f"Bearer {token['token']}"})


def _call(call_id: str, *, did: str = "8001", number: str = "+12125550199", ended_s: float = 1_795_390_030.0) -> CallEnded:
    return CallEnded(
        call_id=call_id, started_s=ended_s - 30, ended_s=ended_s, direction=CallDirection.INBOUND,
        outcome=CallOutcome.MISSED, caller=number, caller_name=None, did=did, customer=number, answered_by=None,
        agents_rung=(), agents_talked=(), attempts=(), wait_s=30.0, talk_s=0.0, hangup_cause=16,
        hangup_cause_txt="Normal Clearing", hung_up_by=HungUpBy.CUSTOMER, recordings=(), queue=None,
    )


async def missed(world: World, call_id: str, *, did: str = "8001", number: str = "+12125550199",
                 ended_s: float = 1_795_390_030.0) -> dict:
    """A missed call nobody was offered (so its callback has no owner: the team pool), as the CRM writer logs it."""
    await world.client.app[CRM_BRIDGE].record_call(_call(call_id, did=did, number=number, ended_s=ended_s))
    status, page = await world.call(world.admin, "GET", "/api/v1/tasks", params={"kind": "callback", "status": "open"})
    assert status == 200
    return next(t for t in page["items"] if call_id in t["description"])


async def listed(world: World, actor: Actor, **params: str) -> set[int]:
    status, page = await world.call(actor, "GET", "/api/v1/tasks", params=params)
    assert status == 200, page
    return {t["id"] for t in page["items"]}


async def test_only_the_calls_team_sees_and_hands_out_its_pool_callback(world: World) -> None:
    sup_a, b = world.sup_a, await sup_b(world)
    task = await missed(world, "1795390000.1")  # DID 8001: Team A
    assert (task["assignee_id"], task["team_id"]) == (None, world.sup_a.team_id)
    path = f"/api/v1/tasks/{task['id']}"

    status, seen = await world.call(sup_a, "GET", path)
    assert status == 200 and seen["team_id"] == sup_a.team_id
    assert task["id"] in await listed(world, sup_a, pool="true")
    assert task["id"] in await listed(world, sup_a, team_id=str(sup_a.team_id), pool="true")
    assert task["id"] not in await listed(world, sup_a, pool="false")

    # Team B's supervisor: invisible, so neither readable nor assignable to their own agent.
    status, _ = await world.call(b, "GET", path)
    assert status == 404
    assert task["id"] not in await listed(world, b) | await listed(world, b, team_id=str(sup_a.team_id))
    status, _ = await world.call(b, "PATCH", path, {"assignee_id": world.agent_b1.id})
    assert status == 404

    # Team A's supervisor hands it out within the team only.
    status, err = await world.call(sup_a, "PATCH", path, {"assignee_id": world.agent_b1.id})
    assert status == 403 and err["error"]["field"] == "assignee_id"
    status, given = await world.call(sup_a, "PATCH", path, {"assignee_id": world.agent_a1.id})
    assert status == 200 and (given["assignee_id"], given["team_id"]) == (world.agent_a1.id, sup_a.team_id)
    status, back = await world.call(sup_a, "PATCH", path, {"assignee_id": None})
    assert status == 200 and (back["assignee_id"], back["team_id"]) == (None, sup_a.team_id)

    # Admins see and place everything.
    assert task["id"] in await listed(world, world.admin)
    status, moved = await world.call(world.admin, "PATCH", path, {"assignee_id": world.agent_b1.id})
    assert status == 200 and moved["assignee_id"] == world.agent_b1.id
    # Now Team B's agent holds it: their supervisor sees it, but may hand it only within the task's team.
    status, _ = await world.call(b, "GET", path)
    assert status == 200
    status, err = await world.call(b, "PATCH", path, {"assignee_id": b.id})
    assert status == 403 and "task's team" in err["error"]["message"]


async def test_agents_see_their_own_tasks_and_their_teams_pool_and_take_from_it(world: World) -> None:
    a1, a2, b1 = world.agent_a1, world.agent_a2, world.agent_b1
    pool_a = await missed(world, "1795390000.2")
    pool_b = await missed(world, "1795390000.3", did="8002", number="+12125550142")
    assert pool_b["team_id"] == b1.team_id
    _, own = await world.call(a1, "POST", "/api/v1/tasks", {"title": "Send the offer"})
    _, theirs = await world.call(a2, "POST", "/api/v1/tasks", {"title": "Arno's"})

    assert await listed(world, a1) == {pool_a["id"], own["id"]}
    assert await listed(world, a1, pool="true") == {pool_a["id"]}
    assert await listed(world, b1) == {pool_b["id"]}
    assert await listed(world, world.admin) >= {pool_a["id"], pool_b["id"], own["id"], theirs["id"]}
    status, _ = await world.call(a1, "GET", f"/api/v1/tasks/{pool_b['id']}")
    assert status == 404

    # Working on a pool task means taking it first; another team's pool cannot be taken.
    path = f"/api/v1/tasks/{pool_a['id']}"
    status, err = await world.call(a1, "PATCH", path, {"status": "done"})
    assert status == 403 and err["error"]["field"] == "assignee_id"
    status, _ = await world.call(b1, "PATCH", path, {"assignee_id": b1.id})
    assert status == 404
    status, err = await world.call(a1, "PATCH", path, {"assignee_id": a2.id})
    assert status == 403
    status, taken = await world.call(a1, "PATCH", path, {"assignee_id": a1.id})
    assert status == 200 and taken["assignee_id"] == a1.id
    status, _ = await world.call(a2, "GET", path)  # out of the pool: Alice's now
    assert status == 404
    status, done = await world.call(a1, "PATCH", path, {"status": "done"})
    assert status == 200 and done["status"] == "done"


async def test_tasks_made_by_hand_go_to_the_assignees_team_and_only_admins_move_them(world: World) -> None:
    team_a, team_b = world.sup_a.team_id, world.agent_b1.team_id
    status, task = await world.call(world.sup_a, "POST", "/api/v1/tasks", {"title": "Coach Arno", "assignee_id": world.agent_a2.id})
    assert status == 201 and task["team_id"] == team_a
    status, task = await world.call(world.admin, "POST", "/api/v1/tasks", {"title": "For Bea", "assignee_id": world.agent_b1.id})
    assert status == 201 and task["team_id"] == team_b
    status, err = await world.call(world.sup_a, "POST", "/api/v1/tasks", {"title": "Theirs", "team_id": team_b})
    assert status == 403 and err["error"]["field"] == "team_id"
    status, err = await world.call(world.agent_a1, "POST", "/api/v1/tasks", {"title": "Theirs", "team_id": team_b})
    assert status == 403 and err["error"]["field"] == "team_id"
    status, err = await world.call(world.admin, "POST", "/api/v1/tasks", {"title": "Lost", "team_id": 4242})
    assert status == 404 and err["error"]["field"] == "team_id"
    status, err = await world.call(world.admin, "POST", "/api/v1/tasks", {"title": "Mine", "team_id": "A"})
    assert status == 422 and err["error"]["field"] == "team_id"
    # Only an admin files a task under another team (its assignee stays: admins are not held to the team).
    status, err = await world.call(world.sup_a, "PATCH", f"/api/v1/tasks/{task['id']}", {"team_id": team_a})
    assert status == 404  # Bea's task under team B is not theirs to see
    status, mine = await world.call(world.sup_a, "POST", "/api/v1/tasks", {"title": "Mine"})
    status, err = await world.call(world.sup_a, "PATCH", f"/api/v1/tasks/{mine['id']}", {"team_id": team_b})
    assert status == 403 and err["error"]["field"] == "team_id"
    status, moved = await world.call(world.admin, "PATCH", f"/api/v1/tasks/{mine['id']}", {"team_id": team_b})
    assert status == 200 and moved["team_id"] == team_b
    status, err = await world.call(world.admin, "PATCH", f"/api/v1/tasks/{mine['id']}", {"team_id": 4242})
    assert status == 404 and err["error"]["field"] == "team_id"
    status, err = await world.call(world.sup_a, "GET", "/api/v1/tasks", params={"pool": "maybe"})
    assert status == 400 and err["error"]["field"] == "pool"


async def test_a_teams_callback_sla_counts_in_its_opening_hours_else_the_global_one(world: World) -> None:
    team_a = world.sup_a.team_id
    status, err = await world.call(world.sup_a, "PATCH", f"/api/v1/teams/{team_a}", {"callback_sla_s": 600})
    assert status == 403
    for bad in (0, -5, 8 * 86_400, "soon"):
        status, err = await world.call(world.admin, "PATCH", f"/api/v1/teams/{team_a}", {"callback_sla_s": bad})
        assert status == 422 and err["error"]["field"] == "callback_sla_s", bad
    status, err = await world.call(world.admin, "PATCH", f"/api/v1/teams/{team_a}", {"name": "Renamed"})
    assert status == 422 and err["error"]["field"] == "name"
    status, _ = await world.call(world.admin, "PATCH", "/api/v1/teams/4242", {"callback_sla_s": 600})
    assert status == 404
    status, team = await world.call(world.admin, "PATCH", f"/api/v1/teams/{team_a}", {"callback_sla_s": 600})
    assert status == 200 and team["callback_sla_s"] == 600
    _, teams = await world.call(world.admin, "GET", "/api/v1/teams")
    assert {t["id"]: t["callback_sla_s"] for t in teams} == {team_a: 600, world.agent_b1.team_id: None}

    # Team A (Mon-Fri 08-18 Berlin): missed at 17:55 on a Monday, 10 minutes of opening time -> Tuesday 08:05.
    task = await missed(world, "1795390000.4", ended_s=MONDAY_1755)
    assert datetime.fromisoformat(task["due_at"]) == datetime(2026, 3, 3, 8, 5, tzinfo=BERLIN)
    # Team B (always open, no SLA of its own): the global 900 s.
    task = await missed(world, "1795390000.5", did="8002", number="+12125550142", ended_s=MONDAY_1755)
    assert datetime.fromisoformat(task["due_at"]).timestamp() == MONDAY_1755 + 900
    # Back to the global SLA: 15 minutes of Team A's time.
    status, team = await world.call(world.admin, "PATCH", f"/api/v1/teams/{team_a}", {"callback_sla_s": None})
    assert status == 200 and team["callback_sla_s"] is None
    task = await missed(world, "1795390000.6", number="+12125550143", ended_s=MONDAY_1755)
    assert datetime.fromisoformat(task["due_at"]) == datetime(2026, 3, 3, 8, 10, tzinfo=BERLIN)


async def test_a_later_miss_through_another_team_keeps_the_callback_where_it_is(world: World) -> None:
    first = await missed(world, "1795390000.7")  # Team A
    again = await missed(world, "1795390000.8", did="8002", ended_s=1_795_390_130.0)  # same number, Team B's DID
    assert again["id"] == first["id"] and again["team_id"] == world.sup_a.team_id
    assert "2 missed calls" in again["title"]
    # The figures count it where it is filed, not by the DID of the last miss.
    for team, open_ in (("Team A", 1), ("Team B", 0)):
        status, report = await world.call(world.admin, "GET", "/api/v1/reports/team-figures", params={"team": team})
        assert status == 200 and report["callbacks_open"] == open_, report


async def test_a_promised_callback_goes_to_the_handlers_team(world: World) -> None:
    call = dataclasses.replace(_call("1795390000.9", number="+12125550144"), outcome=CallOutcome.ANSWERED,
                               answered_by="1004", agents_rung=("1004",), agents_talked=("1004",))  # Bea, team B
    await world.client.app[CRM_BRIDGE].record_call(call)
    body = {"disposition": "callback", "callback_at": (utcnow() + timedelta(hours=2)).isoformat()}
    status, out = await world.call(world.agent_b1, "POST", "/api/v1/calls/1795390000.9/disposition", body)
    assert status == 200, out
    status, task = await world.call(world.agent_b1, "GET", f"/api/v1/tasks/{out['callback_task_id']}")
    assert status == 200 and (task["assignee_id"], task["team_id"]) == (world.agent_b1.id, world.agent_b1.team_id)
