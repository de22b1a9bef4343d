"""The agent view's server side end to end: the whole service against the PBX simulator over real sockets, driven
the way the page drives it (agent WebSocket + REST). Waits are on messages and events, bounded."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from callcenter.app_keys import DATABASE
from callcenter.automation.facts import CallLogged
from crm_core.models import Activity, Disposition, Lead, Task, TaskStatus
from tests.floor import ANSWER, Floor, running_floor

NEW_NUMBER = "+13125550188"
WAIT_S = 10


@pytest.fixture
async def floor(tmp_path: Path) -> AsyncIterator[Floor]:
    async with running_floor(tmp_path) as f:
        yield f


async def message(ws: Any, kind: str) -> dict:
    """The next message of the call (or state) stream; my state changes in between are skipped unless asked for."""
    while True:
        got = await ws.receive_json(timeout=WAIT_S)
        if got["type"] == kind:
            return got
        assert got["type"] == "state", (kind, got)


async def scalar(floor: Floor, query: Any) -> Any:
    async with floor.app[DATABASE].session() as s:
        return await s.scalar(query)


async def test_known_caller_pops_then_the_wrap_up_promises_a_callback_that_click_to_call_keeps(floor: Floor) -> None:
    await floor.all_available()
    number = floor.customer_of("1003")
    me = floor.crm.agents["1003"]
    floor.sim.pbx.phones["1003"].scripted.append(ANSWER)
    async with floor.http_as(me) as http, http.ws_connect("/api/v1/agent/ws") as ws:
        hello = await message(ws, "hello")
        assert (hello["agent"], hello["user_id"], hello["state"]) == ("1003", me, "available")
        await floor.call(number, talk_s=5.0)
        pop = await message(ws, "ringing")
        assert pop["card"]["responsible_name"] == hello["name"] == "Ben Carter"
        await message(ws, "answered")
        ended = await message(ws, "ended")
        # Sent the moment the page hears "ended": the service waits for the CRM writer to log the call.
        due = (datetime.now(UTC) + timedelta(hours=2)).replace(microsecond=0)
        body = {"disposition": "callback", "notes": "call after the board meeting", "callback_at": due.isoformat()}
        async with http.post(f"/api/v1/calls/{ended['call_id']}/disposition", json=body) as resp:
            assert resp.status == 200, await resp.text()
            saved = await resp.json()
        async with http.get("/api/v1/tasks", params={"kind": "callback", "status": "open", "assignee_id": str(me)}) as resp:
            [callback] = (await resp.json())["items"]
        assert (callback["id"], callback["callback_e164"], callback["overdue"]) == (saved["callback_task_id"], number, False)
        activity = await scalar(floor, select(Activity).where(Activity.call_id == ended["call_id"]))
        assert (activity.disposition, activity.body, activity.result) == (Disposition.CALLBACK, body["notes"], "answered")

        # One click on the callback: my phone rings, then the customer; reaching them closes the promise.
        floor.sim.pbx.phones["1003"].scripted.append(ANSWER)
        async with http.post("/api/v1/calls/click-to-call", json={"phone": callback["callback_e164"]}) as resp:
            assert resp.status == 202, await resp.text()
        await floor.wait(lambda: [e for e in floor.seen if isinstance(e, CallLogged) and e.direction == "outbound"],
                         "the callback call in the CRM")
        task = await scalar(floor, select(Task).where(Task.id == callback["id"]))
        assert task.status is TaskStatus.DONE


async def test_unknown_caller_gets_a_lead_during_the_call_and_the_writer_keeps_it(floor: Floor) -> None:
    await floor.all_available()
    floor.sim.clock.auto = False  # hold the call in the middle: the agent works on it while it is live
    for phone in floor.sim.pbx.phones.values():
        phone.scripted.append(ANSWER)
    ringing: dict = {}
    async with floor.http_as(floor.crm.agents["1002"]) as http:
        async with http.ws_connect("/api/v1/agent/ws") as ws:
            await message(ws, "hello")
            await floor.call(NEW_NUMBER, talk_s=60.0)
            await floor.sim.clock.advance(0.5)
            ringing = await message(ws, "ringing")
            assert ringing["number"] == NEW_NUMBER and ringing["card"] == {**ringing["card"], "known": False}
            await floor.sim.clock.advance(5.0)
            await message(ws, "answered")
        call_id = ringing["call_id"]
        async with http.get("/api/v1/calls/live") as resp:
            assert [c["call_id"] for c in await resp.json()] == [call_id]  # held: still live while the agent works
        lead_in = {"title": "Wants 20 seats", "person_name": "Kim Lee", "source": "phone", "phones": [{"number": NEW_NUMBER}]}
        async with http.post("/api/v1/leads", json=lead_in) as resp:
            assert resp.status == 201, await resp.text()
            lead = await resp.json()
        async with http.post(f"/api/v1/calls/{call_id}/link", json={"lead_id": lead["id"]}) as resp:
            assert resp.status == 200, await resp.text()
        async with http.post(f"/api/v1/calls/{call_id}/disposition", json={"disposition": "interested", "notes": "quote"}) as resp:
            assert resp.status == 200, await resp.text()
        async with http.get("/api/v1/calls/live") as resp:
            assert [c["call_id"] for c in await resp.json()] == [call_id]
        # A colleague who did not take the call may not wrap it up.
        async with floor.http_as(floor.crm.agents["1004"]) as other:
            async with other.post(f"/api/v1/calls/{call_id}/disposition", json={"disposition": "sale"}) as resp:
                assert resp.status == 403
    floor.sim.clock.auto = True
    await floor.wait(lambda: [e for e in floor.seen if isinstance(e, CallLogged) and e.call_id == call_id], "the call logged")
    activity = await scalar(floor, select(Activity).where(Activity.call_id == call_id))
    assert (activity.lead_id, activity.result, activity.disposition, activity.body) == (lead["id"], "answered", Disposition.INTERESTED, "quote")
    assert await scalar(floor, select(func.count()).select_from(Lead)) == 1  # the writer found the agent's lead
    assert await scalar(floor, select(Lead.person_name).where(Lead.id == lead["id"])) == "Kim Lee"


async def test_i_pause_with_a_reason_and_see_my_state(floor: Floor) -> None:
    await floor.all_available()
    async with floor.http_as(floor.crm.agents["1004"]) as http, http.ws_connect("/api/v1/agent/ws") as ws:
        await message(ws, "hello")
        async with http.post("/api/v1/agents/1004/pause", json={"reason": "lunch"}) as resp:
            assert resp.status == 200
        paused = await message(ws, "state")
        assert (paused["state"], paused["reason"]) == ("paused", "lunch")
        async with http.post("/api/v1/agents/1004/unpause") as resp:
            assert resp.status == 200
        while (await message(ws, "state"))["state"] != "available":
            pass
        async with http.post("/api/v1/agents/1003/pause", json={"reason": "lunch"}) as resp:
            assert resp.status == 403  # only my own phone
        async with http.post("/api/v1/agents/1004/pause", json={"reason": "a\nb"}) as resp:
            assert resp.status == 422


async def test_an_open_agent_page_is_told_to_go_when_the_service_stops(tmp_path: Path) -> None:
    """Agent pages stay open all day; shutting down must not wait for them (they reconnect elsewhere)."""
    from aiohttp import WSMsgType

    async with running_floor(tmp_path) as floor:
        async with floor.http_as(floor.crm.agents["1002"]) as http, http.ws_connect("/api/v1/agent/ws") as ws:
            await message(ws, "hello")
            await asyncio.wait_for(floor.runner.shutdown(), WAIT_S)
            closed = await ws.receive(timeout=WAIT_S)
            assert (closed.type, closed.data) == (WSMsgType.CLOSE, 1001)
