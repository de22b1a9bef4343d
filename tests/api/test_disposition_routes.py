"""POST /api/v1/calls/{call_id}/disposition: the agent's wrap-up on the call's activity, scoped to who handled the
call, idempotent, a promised callback as one task, and safe beside the CRM writer logging the same call."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from callcenter.app_keys import CRM_BRIDGE, OUTBOX
from callcenter.outbox.pipeline import crm_settled
from callcenter.events import CallDirection, CallEnded, CallOutcome, HungUpBy
from crm_core import dispositions
from crm_core.models import Activity, Disposition, Task, TaskKind, TaskStatus
from crm_core.types import utcnow
from tests.api.conftest import TWO_TEAMS, World

NUMBER = "+12125550199"


def ended(call_id: str, *, answered_by: str | None = "1002", customer: str = NUMBER, did: str = "8001") -> CallEnded:
    return CallEnded(
        call_id=call_id, started_s=1_795_390_000.0, ended_s=1_795_390_030.0, direction=CallDirection.INBOUND,
        outcome=CallOutcome.ANSWERED if answered_by else CallOutcome.MISSED, caller=customer, caller_name=None,
        did=did, customer=customer, answered_by=answered_by, agents_rung=(answered_by or "1003",),
        agents_talked=(answered_by,) if answered_by else (), attempts=(), wait_s=4.0,
        talk_s=20.0 if answered_by else 0.0, hangup_cause=16, hangup_cause_txt="Normal Clearing",
        hung_up_by=HungUpBy.CUSTOMER, recordings=(), queue=None,
    )


async def logged(world: World, call_id: str, **kw: Any) -> None:
    """The call as the CRM writer logs it when it ends."""
    await world.client.app[CRM_BRIDGE].record_call(ended(call_id, **kw))


def later(**delta: float) -> str:
    return (utcnow() + timedelta(**delta)).isoformat()


async def activity_of(world: World, call_id: str) -> Activity:
    async with world.db.session() as s:
        return (await s.scalars(select(Activity).where(Activity.call_id == call_id))).one()


async def tasks(world: World) -> list[Task]:
    async with world.db.session() as s:
        return list(await s.scalars(select(Task).order_by(Task.id)))


async def test_the_agent_who_took_the_call_wraps_it_up_and_a_repeat_changes_nothing(world: World) -> None:
    await logged(world, "1795390000.1")
    body = {"disposition": "interested", "notes": "Wants the yearly plan; send prices"}
    status, out = await world.call(world.agent_a1, "POST", "/api/v1/calls/1795390000.1/disposition", body)
    assert status == 200, out
    assert (out["disposition"], out["notes"], out["callback_task_id"]) == ("interested", body["notes"], None)
    status, again = await world.call(world.agent_a1, "POST", "/api/v1/calls/1795390000.1/disposition", body)
    assert status == 200 and again["activity_id"] == out["activity_id"]
    activity = await activity_of(world, "1795390000.1")
    assert (activity.disposition, activity.body, activity.result) == (Disposition.INTERESTED, body["notes"], "answered")
    # The activities API shows it; leaving the notes out keeps them.
    status, page = await world.call(world.agent_a1, "GET", "/api/v1/activities", params={"call_id": "1795390000.1"})
    assert [(a["disposition"], a["body"]) for a in page["items"]] == [("interested", body["notes"])]
    status, out = await world.call(world.agent_a1, "POST", "/api/v1/calls/1795390000.1/disposition", {"disposition": "sale"})
    assert status == 200 and (out["disposition"], out["notes"]) == ("sale", body["notes"])
    assert await tasks(world) == []


@pytest.mark.parametrize(
    ("who", "status"),
    [("agent_a1", 200), ("agent_a2", 403), ("agent_b1", 403), ("sup_a", 200), ("admin", 200)],
)
async def test_only_the_handler_their_supervisor_or_an_admin(world: World, who: str, status: int) -> None:
    await logged(world, "1795390000.2")  # answered by 1002, Alice in team A
    got, out = await world.call(getattr(world, who), "POST", "/api/v1/calls/1795390000.2/disposition", {"disposition": "sale"})
    assert got == status, out
    if status == 403:
        assert out["error"]["code"] == "forbidden" and out["error"]["field"] == "call_id"


TEAMS_BY_DID = TWO_TEAMS + '[routing.dids."8002"]\nteam = "Team B"\n'


async def test_a_supervisor_of_another_team_may_not_and_a_missed_call_is_its_teams(make_world: Any, tmp_path: Any) -> None:
    config = tmp_path / "callcenter.toml"
    config.write_text(TEAMS_BY_DID)
    world = await make_world(config)
    await logged(world, "1795390000.3", answered_by="1004")  # Bea, team B
    status, _ = await world.call(world.sup_a, "POST", "/api/v1/calls/1795390000.3/disposition", {"disposition": "sale"})
    assert status == 403
    await logged(world, "1795390000.4", answered_by=None, customer="+12125550142")  # nobody took it; DID 8001: Team A
    status, _ = await world.call(world.agent_a1, "POST", "/api/v1/calls/1795390000.4/disposition", {"disposition": "wrong_number"})
    assert status == 403
    status, out = await world.call(world.sup_a, "POST", "/api/v1/calls/1795390000.4/disposition", {"disposition": "wrong_number"})
    assert status == 200 and out["disposition"] == "wrong_number"
    assert (await activity_of(world, "1795390000.4")).user_id is None  # not booked to the supervisor
    # A missed call to Team B's DID is Team B's: Team A's supervisor may neither wrap it up nor read it.
    await world.client.app[CRM_BRIDGE].record_call(ended("1795390000.5", answered_by=None, customer="+12125550143", did="8002"))
    status, out = await world.call(world.sup_a, "POST", "/api/v1/calls/1795390000.5/disposition", {"disposition": "sale"})
    assert status == 403 and out["error"]["field"] == "call_id"
    status, _ = await world.call(world.sup_a, "GET", "/api/v1/calls/1795390000.5")
    assert status == 404
    status, page = await world.call(world.sup_a, "GET", "/api/v1/activities", params={"call_id": "1795390000.5"})
    assert status == 200 and page["items"] == []
    status, _ = await world.call(world.admin, "GET", "/api/v1/calls/1795390000.5")
    assert status == 200


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({}, 422, "disposition"),
        ({"disposition": "maybe"}, 422, "disposition"),
        ({"disposition": "sale", "mood": "good"}, 422, "mood"),
        ({"disposition": "sale", "notes": "x" * 20_001}, 422, "notes"),
        ({"disposition": "callback"}, 422, "callback_at"),
        ({"disposition": "callback", "callback_at": "2031-01-01T09:00:00"}, 422, "callback_at"),  # no zone
        ({"disposition": "callback", "callback_at": "2020-01-01T09:00:00Z"}, 422, "callback_at"),  # past
        ({"disposition": "callback", "callback_at": "2099-01-01T09:00:00Z"}, 422, "callback_at"),  # too far
        ({"disposition": "callback", "callback_at": "tomorrow"}, 422, "callback_at"),
        ({"disposition": "sale", "callback_at": "2099-01-01T09:00:00Z"}, 422, "callback_at"),
    ],
)
async def test_bad_bodies_are_named(world: World, body: dict, status: int, field: str) -> None:
    await logged(world, "1795390000.5")
    got, err = await world.call(world.agent_a1, "POST", "/api/v1/calls/1795390000.5/disposition", body)
    assert got == status and err["error"]["field"] == field, err


async def test_bad_calls_and_requests(world: World) -> None:
    status, err = await world.call(world.agent_a1, "POST", "/api/v1/calls/424242.1/disposition", {"disposition": "sale"})
    assert status == 404 and err["error"]["field"] == "call_id"
    status, err = await world.call(world.agent_a1, "POST", "/api/v1/calls/a%20b/disposition", {"disposition": "sale"})
    assert status == 422 and err["error"]["field"] == "call_id"
    status, err = await world.call(world.agent_a1, "POST", "/api/v1/calls/" + "9" * 65 + "/disposition", {"disposition": "sale"})
    assert status == 422
    resp = await world.client.post("/api/v1/calls/1.1/disposition", data=b"{nope", headers={**world.agent_a1.headers, "Content-Type": "application/json"})
    assert resp.status == 400 and (await resp.json())["error"]["code"] == "bad_request"
    resp = await world.client.post("/api/v1/calls/1.1/disposition", json={"disposition": "sale"})
    assert resp.status == 401


async def test_a_callback_disposition_keeps_one_callback_task(world: World) -> None:
    await logged(world, "1795390000.6")
    due = later(hours=20)
    body = {"disposition": "callback", "callback_at": due, "notes": "call after 9"}
    status, out = await world.call(world.agent_a1, "POST", "/api/v1/calls/1795390000.6/disposition", body)
    assert status == 200 and out["callback_task_id"], out
    status, again = await world.call(world.agent_a1, "POST", "/api/v1/calls/1795390000.6/disposition", body)
    assert again["callback_task_id"] == out["callback_task_id"]
    [task] = await tasks(world)
    assert (task.kind, task.status, task.assignee_id, task.callback_e164) == (TaskKind.CALLBACK, TaskStatus.OPEN, world.agent_a1.id, NUMBER)
    assert task.due_at == datetime.fromisoformat(due) and task.source_key == dispositions.callback_key("1795390000.6")
    # It is among my open callbacks, with the number to call back.
    status, page = await world.call(world.agent_a1, "GET", "/api/v1/tasks", params={"kind": "callback", "status": "open", "assignee_id": str(world.agent_a1.id)})
    assert [(t["id"], t["callback_e164"], t["overdue"]) for t in page["items"]] == [(task.id, NUMBER, False)]
    # Changed mind: the promise is cancelled; promised again: a fresh callback.
    await world.call(world.agent_a1, "POST", "/api/v1/calls/1795390000.6/disposition", {"disposition": "not_interested"})
    await world.call(world.agent_a1, "POST", "/api/v1/calls/1795390000.6/disposition", {"disposition": "not_interested"})
    [cancelled] = await tasks(world)
    assert cancelled.status is TaskStatus.CANCELLED
    status, third = await world.call(world.agent_a1, "POST", "/api/v1/calls/1795390000.6/disposition", body)
    assert status == 200 and third["callback_task_id"] not in (None, task.id)
    assert [t.status for t in await tasks(world)] == [TaskStatus.CANCELLED, TaskStatus.OPEN]


async def test_a_promise_to_a_customer_already_owed_a_callback_joins_it(world: World) -> None:
    await logged(world, "1795390000.7", answered_by=None)  # a missed call: the writer opens a callback
    [missed] = await tasks(world)
    await logged(world, "1795390000.8", answered_by="1003")  # Arno reaches them: the writer closes it
    await logged(world, "1795390000.9", answered_by=None)  # they miss us again: a new open callback
    owed = (await tasks(world))[-1]
    assert owed.status is TaskStatus.OPEN and owed.id != missed.id
    due = later(days=2)
    status, out = await world.call(world.agent_a2, "POST", "/api/v1/calls/1795390000.8/disposition", {"disposition": "callback", "callback_at": due})
    assert status == 200 and out["callback_task_id"] == owed.id
    [*_, joined] = await tasks(world)
    assert joined.due_at == datetime.fromisoformat(due) and joined.assignee_id == world.agent_a2.id
    assert "promised on call 1795390000.8" in joined.description


async def test_the_writer_replaying_the_call_keeps_the_wrap_up_and_the_promise(world: World) -> None:
    """The writer logs the same call again (resync, second instance): the wrap-up survives, and the call does not
    count as the answer to the callback promised on it."""
    await logged(world, "1795390000.10")
    body = {"disposition": "callback", "callback_at": later(hours=3), "notes": "busy now"}
    status, _ = await world.call(world.agent_a1, "POST", "/api/v1/calls/1795390000.10/disposition", body)
    assert status == 200
    await logged(world, "1795390000.10")
    activity = await activity_of(world, "1795390000.10")
    assert (activity.disposition, activity.body) == (Disposition.CALLBACK, "busy now")
    [task] = await tasks(world)
    assert task.status is TaskStatus.OPEN


async def test_wrap_up_racing_the_writer_on_a_live_call_loses_nothing(world: World) -> None:
    """The page wraps up while the call is still live (no activity yet) as the writer logs the call's end: one
    activity with both the writer's fields and the wrap-up, whichever insert wins."""
    bridge = world.client.app[CRM_BRIDGE]

    async def wrap_up(call_id: str) -> None:
        async with world.db.session(actor_id=world.agent_a1.id) as s:
            activity = await dispositions.locked_call_activity(s, call_id, start=True, user_id=world.agent_a1.id)
            assert activity is not None
            await dispositions.record_disposition(
                s, activity, disposition=Disposition.SALE, notes="signed", callback_at=None,
                assignee_id=world.agent_a1.id, customer_e164=NUMBER, now=utcnow(),
            )

    for i in range(8):
        call_id = f"1795390001.{i}"
        racers = [wrap_up(call_id), bridge.record_call(ended(call_id))]
        await asyncio.gather(*(racers if i % 2 else reversed(racers)))
        activity = await activity_of(world, call_id)
        assert (activity.disposition, activity.body, activity.result) == (Disposition.SALE, "signed", "answered"), i
    async with world.db.session() as s:
        assert await s.scalar(select(func.count()).select_from(Activity)) == 8


async def test_the_card_recalls_the_last_calls_wrap_up_and_transcript(world: World) -> None:
    from crm_core.recording_models import Recording, Transcript

    _, contact = await world.call(world.agent_a1, "POST", "/api/v1/contacts", {"last_name": "Doe", "phones": [{"number": NUMBER}]})
    await logged(world, "1795390000.11")
    await world.call(world.agent_a1, "POST", "/api/v1/calls/1795390000.11/disposition", {"disposition": "interested", "notes": "wants   a quote\nfor 20 seats"})
    async with world.db.session() as s:
        recording = Recording(call_id="1795390000.11", leg="mix", source_path="/spool/x.wav")
        s.add(recording)
        await s.flush()
        s.add(Transcript(recording_id=recording.id, call_id="1795390000.11", model="tiny.en", text="customer: hi, about the offer\nagent: sure " + "blah " * 100))
    status, card = await world.call(world.agent_a1, "GET", "/api/v1/screen-pop", params={"phone": NUMBER})
    assert status == 200 and card["id"] == contact["id"]
    [last] = card["last_calls"]
    assert (last["call_id"], last["agent_name"], last["disposition"], last["notes"]) == ("1795390000.11", "Alice Agent", "interested", "wants a quote for 20 seats")
    assert last["transcript"].startswith("customer: hi, about the offer agent: sure blah") and len(last["transcript"]) <= 240


async def test_a_wrap_up_sent_as_the_call_ends_waits_for_the_writer(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    from callcenter.api import disposition_routes
    from callcenter.app_keys import BUS

    world.client.app[BUS].publish(ended("1795390002.1"))  # as the live model does: the writer has it queued
    status, out = await world.call(world.agent_a1, "POST", "/api/v1/calls/1795390002.1/disposition", {"disposition": "sale"})
    assert status == 200, out
    # The call path's facts still on their way to the outbox past the wait: "try again", not "no such call".
    monkeypatch.setattr(disposition_routes, "WRITER_WAIT_S", 0.05)
    outbox = world.client.app[OUTBOX]
    outbox.idle.clear()
    try:
        status, err = await world.call(world.agent_a1, "POST", "/api/v1/calls/1795390002.2/disposition", {"disposition": "sale"})
    finally:
        outbox.idle.set()
    assert status == 503 and err["error"]["code"] == "unavailable"


def in_wrapup(world: World, agent: str, call_id: str, *, ended_s_ago: float) -> None:
    """The live model as after ``agent`` talked on ``call_id``: its leg ended ``ended_s_ago`` seconds ago."""
    import time

    from callcenter.app_keys import LIVE
    from callcenter.calls.agents import TALKING_LEG

    live = world.client.app[LIVE]
    ended_s = time.time() - ended_s_ago
    live.tracker.agents.device(agent, "NOT_INUSE", ended_s - 60.0)
    live.tracker.agents.leg(agent, f"leg-{call_id}", call_id, TALKING_LEG, ended_s - 30.0)
    live.tracker.agents.leg_ended(agent, f"leg-{call_id}", ended_s, talked=True)
    live.tick(ended_s)  # publishes what the model emitted


def state_of(world: World, agent: str) -> str:
    from callcenter.app_keys import LIVE

    return str(world.client.app[LIVE].agent_state(agent)[0])


async def test_saving_the_wrap_up_ends_the_agents_wrap_up_of_that_call(make_world: Any) -> None:
    world = await make_world(CALLCENTER_CALLS__WRAPUP_S="300")
    await logged(world, "1795390003.1")
    in_wrapup(world, "1002", "1795390003.1", ended_s_ago=20.0)
    # Their supervisor correcting it does not release the agent.
    save = ("POST", "/api/v1/calls/1795390003.1/disposition", {"disposition": "sale"})
    status, out = await world.call(world.sup_a, *save)
    assert (status, out["wrapup_ended"], state_of(world, "1002")) == (200, False, "wrap-up")
    status, out = await world.call(world.agent_a1, *save)
    assert (status, out["wrapup_ended"], state_of(world, "1002")) == (200, True, "available")
    # The wrap-up it ended is booked on the call, by the CRM writer: about the 20 s the agent took.
    await asyncio.wait_for(crm_settled(world.client.app), 10)
    assert (await activity_of(world, "1795390003.1")).call_meta["wrapup_s"] == pytest.approx(20.0, abs=5.0)
    status, out = await world.call(world.agent_a1, *save)
    assert (status, out["wrapup_ended"]) == (200, False)  # nothing left to end


async def test_saving_an_older_call_leaves_the_wrap_up_of_the_newer_one(make_world: Any) -> None:
    world = await make_world(CALLCENTER_CALLS__WRAPUP_S="300")
    await logged(world, "1795390004.1")
    await logged(world, "1795390004.2")
    in_wrapup(world, "1002", "1795390004.2", ended_s_ago=5.0)
    status, out = await world.call(world.agent_a1, "POST", "/api/v1/calls/1795390004.1/disposition",
                                   {"disposition": "sale"})
    assert (status, out["wrapup_ended"], state_of(world, "1002")) == (200, False, "wrap-up")
