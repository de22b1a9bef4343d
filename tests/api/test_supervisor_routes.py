"""Supervisor actions over the API: listen / whisper / barge on a live call (who may, on which call, bad input, the
Originate Asterisk gets) and reassigning a callback through PATCH /tasks (team scoping, audit).

Live calls come from the real capture of an answered call (agent 1002, team A), fed through the service's own
AMI ingest; a copy with the agent's phone renamed to 1004 stands for a team B call. The AMI side is the test peer,
so the Originate is checked header by header. (The simulator end to end: tests/routing/test_e2e_supervisor.py.)
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from callcenter.app_keys import AMI, BUS, LIVE
from callcenter.events import CallAnswered, CallRinging
from crm_core.models import AuditEntry, Task
from tests.ami_conn.ami_peer import AmiPeer
from tests.api.conftest import World
from tests.calls.replaying import event_frames

CALL_A = "1795390491.0"  # answered by 1002 (team A)
CALL_B = "1795390591.0"  # the same call answered by 1004 (team B)
TALKING_S = 1795390495.0  # both calls are answered and still going at this point of the capture


def _answered_calls(traces_dir: Path) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    # The capture's own login events (FullyBooted with its Uptime) would tell the service Asterisk had restarted.
    frames = [h for h in event_frames(traces_dir / "inbound_agi_dial_answer.ami")
              if h["Event"] not in ("FullyBooted", "SuccessfulAuth")]
    talking = [h for h in frames if float(h.get("Timestamp", 0)) <= TALKING_S]
    ringing = [h for h in frames if float(h.get("Timestamp", 0)) <= 1795390492.0]

    def as_b(h: dict[str, str]) -> dict[str, str]:
        return {k: v.replace("1795390491.", "1795390591.").replace("PJSIP/1002", "PJSIP/1004")
                .replace("-00000000", "-00000010").replace("-00000001", "-00000011") for k, v in h.items()}

    return talking + [as_b(h) for h in talking], ringing


async def _floor(make_world: Any, peer: AmiPeer, frames: list[dict[str, str]], *, until: type, calls: set[str]) -> World:
    """The service logged in to the peer, which then streams ``frames``; returns once the live model has seen
    ``until`` (a domain event type) for every call in ``calls``."""
    world = await make_world(
        CALLCENTER_AMI__HOST="127.0.0.1", CALLCENTER_AMI__PORT=str(peer.port), CALLCENTER_AMI__SECRET="s3cret"
    )
    app = world.client.app
    seen: set[str] = set()
    done = asyncio.Event()

    def on_event(event: Any) -> None:
        seen.add(event.call_id)
        if calls <= seen:
            done.set()

    app[BUS].subscribe(on_event, event_type=until)
    await app[AMI].wait_live(10)
    # Through the socket, behind the login's resync in the one ordered queue, as Asterisk would send them.
    await peer.send(b"".join(
        b"".join(f"{k}: {v}".encode() + b"\r\n" for k, v in h.items()) + b"\r\n" for h in frames
    ))
    await asyncio.wait_for(done.wait(), 10)
    return world


@pytest.fixture
async def floor(make_world: Any, peer: AmiPeer, traces_dir: Path) -> World:
    talking, _ = _answered_calls(traces_dir)
    return await _floor(make_world, peer, talking, until=CallAnswered, calls={CALL_A, CALL_B})


async def _audit(world: World, entity: str) -> list[AuditEntry]:
    async with world.db.session() as s:
        return list(await s.scalars(select(AuditEntry).where(AuditEntry.entity == entity).order_by(AuditEntry.id)))


@pytest.mark.parametrize(("mode", "options"), [("listen", "qESu"), ("whisper", "qESuw"), ("barge", "qESuB")])
async def test_supervisor_listens_to_their_teams_call(floor: World, peer: AmiPeer, mode: str, options: str) -> None:
    status, body = await floor.call(floor.sup_a, "POST", f"/api/v1/calls/{CALL_A}/spy", {"mode": mode})
    assert status == 202, body
    assert body == {
        "call_id": CALL_A, "mode": mode, "agent": "1002", "spied_channel": "PJSIP/1002-00000001",
        "supervisor_extension": "1001", "options": options, "action_id": body["action_id"],
    }
    sent = await peer.wait_action("Originate")
    assert {k: v for k, v in sent.items() if k != "ActionID"} == {
        "Action": "Originate", "Channel": "PJSIP/1001", "Application": "ChanSpy",
        "Data": f"PJSIP/1002-00000001,{options}", "CallerID": f'"{mode.title()} 1002" <1002>', "Timeout": "20000",
        "Async": "true", "Variable": f"CC_SPY={mode}",
    }
    assert sent["ActionID"] == body["action_id"]
    (entry,) = await _audit(floor, "call_supervision")
    assert (entry.actor_id, entry.entity_id, entry.action) == (floor.sup_a.id, floor.agent_a1.id, mode)
    assert entry.changes == {"call_id": CALL_A, "agent": "1002", "extension": "1001", "action_id": body["action_id"]}


async def test_who_may_listen_to_which_call(floor: World, peer: AmiPeer) -> None:
    status, body = await floor.call(floor.sup_a, "POST", f"/api/v1/calls/{CALL_B}/spy", {"mode": "listen"})
    assert status == 403 and body["error"]["message"] == "supervisors control the agents of their own team"
    for agent in (floor.agent_a1, floor.agent_a2, floor.agent_b1):
        status, body = await floor.call(agent, "POST", f"/api/v1/calls/{CALL_A}/spy", {"mode": "listen"})
        assert status == 403 and "supervisors and admins" in body["error"]["message"]
    status, _ = await floor.call(None, "POST", f"/api/v1/calls/{CALL_A}/spy", {"mode": "listen"})
    assert status == 401
    # The admin has no desk phone: they name one, any one.
    status, body = await floor.call(floor.admin, "POST", f"/api/v1/calls/{CALL_B}/spy", {"mode": "barge"})
    assert status == 422 and body["error"]["field"] == "extension"
    status, body = await floor.call(floor.admin, "POST", f"/api/v1/calls/{CALL_B}/spy",
                                    {"mode": "barge", "extension": "1003"})
    assert status == 202 and (body["agent"], body["supervisor_extension"]) == ("1004", "1003")
    assert [a["Data"] for a in peer.actions if a.get("Action") == "Originate"] == ["PJSIP/1004-00000011,qESuB"]
    assert len(await _audit(floor, "call_supervision")) == 1


async def test_bad_spy_requests(floor: World, peer: AmiPeer) -> None:
    url = f"/api/v1/calls/{CALL_A}/spy"
    status, body = await floor.call(floor.sup_a, "POST", url, {"mode": "eavesdrop"})
    assert status == 422 and body["error"]["field"] == "mode"
    status, body = await floor.call(floor.sup_a, "POST", url, {})
    assert status == 422 and body["error"]["field"] == "mode"
    status, body = await floor.call(floor.sup_a, "POST", url, {"mode": "listen", "extension": "1001\r\nAction: Hangup"})
    assert status == 422 and body["error"]["field"] == "extension"
    status, body = await floor.call(floor.sup_a, "POST", url, {"mode": "listen", "volume": 4})
    assert status == 422
    status, body = await floor.call(floor.sup_a, "POST", url, None)
    assert status == 400
    status, body = await floor.call(floor.sup_a, "POST", "/api/v1/calls/1795390000.9/spy", {"mode": "listen"})
    assert status == 404 and body["error"]["field"] == "call_id"
    status, body = await floor.call(floor.sup_a, "POST", f"/api/v1/calls/{'9' * 65}/spy", {"mode": "listen"})
    assert status == 404
    # Another user's phone (the agent's own, here) is not the supervisor's to ring; nor is the phone on the call.
    status, body = await floor.call(floor.sup_a, "POST", url, {"mode": "listen", "extension": "1003"})
    assert status == 403 and body["error"]["message"] == "extension 1003 is another user's phone"
    status, body = await floor.call(floor.admin, "POST", url, {"mode": "listen", "extension": "1002"})
    assert status == 422 and "agent's phone" in body["error"]["message"]
    assert [a for a in peer.actions if a.get("Action") == "Originate"] == []
    assert await _audit(floor, "call_supervision") == []


async def test_a_call_that_is_not_answered_cannot_be_listened_to(make_world: Any, peer: AmiPeer,
                                                                  traces_dir: Path) -> None:
    _, ringing = _answered_calls(traces_dir)
    world = await _floor(make_world, peer, ringing, until=CallRinging, calls={CALL_A})
    status, body = await world.call(world.sup_a, "POST", f"/api/v1/calls/{CALL_A}/spy", {"mode": "listen"})
    assert status == 409 and body["error"]["state"] == "waiting"


async def test_listening_needs_telephony(make_world: Any, traces_dir: Path) -> None:
    world = await make_world()  # no Asterisk configured; the live model still knows the call
    talking, _ = _answered_calls(traces_dir)
    for h in talking:
        world.client.app[LIVE].ingest.feed_headers(h)
    status, body = await world.call(world.sup_a, "POST", f"/api/v1/calls/{CALL_A}/spy", {"mode": "listen"})
    assert status == 503 and body["error"]["code"] == "unavailable"
    assert await _audit(world, "call_supervision") == []  # nothing happened, nothing audited


async def test_spy_route_is_in_the_openapi_document(world: World) -> None:
    status, doc = await world.call(world.admin, "GET", "/openapi.json")
    assert status == 200
    operation = doc["paths"]["/api/v1/calls/{call_id}/spy"]["post"]
    assert operation["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/SpyIn")
    assert doc["components"]["schemas"]["SpyIn"]["properties"]["mode"]


# == reassigning a callback: PATCH /api/v1/tasks/{id} =================================================================


async def _callback(world: World, assignee_id: int) -> int:
    status, task = await world.call(world.admin, "POST", "/api/v1/tasks", {
        "title": "Call back +1 212 555 0199", "kind": "callback", "assignee_id": assignee_id,
        "due_at": "2020-01-01T09:00:00+00:00",  # long overdue
    })
    assert status == 201, task
    return task["id"]


async def test_supervisor_reassigns_an_overdue_callback_within_the_team(world: World) -> None:
    task_id = await _callback(world, world.agent_a1.id)
    status, task = await world.call(world.sup_a, "GET", f"/api/v1/tasks/{task_id}")
    assert status == 200 and task["overdue"] and task["kind"] == "callback"
    status, task = await world.call(world.sup_a, "PATCH", f"/api/v1/tasks/{task_id}", {"assignee_id": world.agent_a2.id})
    assert status == 200 and task["assignee_id"] == world.agent_a2.id
    # Outside the team: refused, and nothing changes.
    status, body = await world.call(world.sup_a, "PATCH", f"/api/v1/tasks/{task_id}", {"assignee_id": world.agent_b1.id})
    assert status == 403 and body["error"]["field"] == "assignee_id"
    status, body = await world.call(world.sup_a, "PATCH", f"/api/v1/tasks/{task_id}", {"assignee_id": 999_999})
    assert status == 422
    # Agents cannot hand a callback to someone else, not even their own.
    status, _ = await world.call(world.agent_a2, "PATCH", f"/api/v1/tasks/{task_id}", {"assignee_id": world.agent_a1.id})
    assert status == 403
    async with world.db.session() as s:
        assert (await s.get(Task, task_id)).assignee_id == world.agent_a2.id  # type: ignore[union-attr]
        changes = list(await s.scalars(select(AuditEntry).where(
            AuditEntry.entity == "tasks", AuditEntry.entity_id == task_id, AuditEntry.action == "update")))
    assert [(c.actor_id, c.changes["assignee_id"]) for c in changes] == [
        (world.sup_a.id, [world.agent_a1.id, world.agent_a2.id])
    ]


async def test_a_supervisor_cannot_touch_another_teams_callback(world: World) -> None:
    task_id = await _callback(world, world.agent_b1.id)
    status, _ = await world.call(world.sup_a, "PATCH", f"/api/v1/tasks/{task_id}", {"assignee_id": world.agent_a1.id})
    assert status == 404  # not even visible to them
