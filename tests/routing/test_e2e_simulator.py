"""Routing end to end: the whole service (build_app: CRM database, AMI, FastAGI, routing) against the simulator.

The simulator runs the shipped dialplan and asks our FastAGI server where each call goes; the CRM is the demo's
sample (customers with responsible managers). Assertions are on what Asterisk was told (CallRouted), where the call
went (CallEnded) and what the CRM recorded, waited for with bounded timeouts.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from callcenter.app_keys import DATABASE, LIVE, ROUTING
from callcenter.automation.facts import CallLogged
from callcenter.events import AgentState, CallOutcome
from crm_core.access import Principal
from crm_core.models import Activity, Role
from crm_core.schemas import UserIn
from crm_core.users import create_user
from tests.floor import ANSWER, EXTENSIONS, QUEUE, Floor, running_floor


@pytest.fixture
async def floor(tmp_path: Path) -> AsyncIterator[Floor]:
    async with running_floor(tmp_path) as f:
        yield f


async def test_a_returning_customer_reaches_their_manager(floor: Floor) -> None:
    await floor.all_available()
    number = floor.customer_of("1003")
    floor.sim.pbx.phones["1003"].scripted.append(ANSWER)
    await floor.call(number, talk_s=20.0)
    (ended,) = await floor.wait(lambda: floor.ended(number), "the call to end")
    (decision,) = floor.routed(number)
    assert (decision.reason, decision.targets) == ("owner", ("1003",))
    assert (ended.outcome, ended.answered_by) == (CallOutcome.ANSWERED, "1003")
    # The decision is kept with the call in the CRM.
    logged = await floor.wait(
        lambda: [e for e in floor.seen if isinstance(e, CallLogged) and e.call_id == ended.call_id], "the CRM write"
    )
    async with floor.app[DATABASE].session() as s:
        activity = await s.get(Activity, logged[0].activity_id)
    assert activity is not None and activity.user_id == floor.crm.agents["1003"]
    assert [d["reason"] for d in activity.call_meta["routing"]] == ["owner"]


async def test_manager_busy_goes_to_the_least_loaded_teammate(floor: Floor) -> None:
    await floor.all_available()
    clock = floor.sim.clock
    clock.auto = False  # calls must stay up while the next one arrives: time moves only when the test says
    mgr_first, mgr_second = [n for n, ext in floor.crm.customers.items() if ext == "1002"][:2]
    # 1003 has talked before (load), then 1002 gets a long call from their own customer.
    floor.sim.pbx.phones["1003"].scripted.append(ANSWER)
    await floor.call(floor.customer_of("1003"), talk_s=30.0)
    await clock.advance(40)
    await floor.wait(lambda: floor.ended(floor.customer_of("1003")), "1003's call to end")
    floor.sim.pbx.phones["1002"].scripted.append(ANSWER)
    await floor.call(mgr_first, talk_s=600.0)
    await clock.advance(2)
    live = floor.app[LIVE].tracker.agents.agents
    await floor.wait(lambda: live["1002"].state is AgentState.TALKING, "1002 talking")
    await floor.app[ROUTING].follower.join()
    floor.sim.pbx.phones["1004"].scripted.append(ANSWER)
    await floor.call(mgr_second, talk_s=10.0)
    await clock.advance(20)
    (ended,) = await floor.wait(lambda: floor.ended(mgr_second), "the second customer's call to end")
    (decision,) = floor.routed(mgr_second)
    assert (decision.reason, decision.targets) == ("owner-busy->teammate", ("1004",))
    assert "1002" in decision.explanation and ended.answered_by == "1004"


async def test_everyone_busy_goes_to_the_queue(floor: Floor) -> None:
    await floor.all_available()
    clock = floor.sim.clock
    clock.auto = False
    for ext in EXTENSIONS:
        floor.sim.pbx.phones[ext].scripted.append(ANSWER)
        await floor.call(floor.customer_of(ext), talk_s=600.0)
    await clock.advance(2)
    live = floor.app[LIVE].tracker.agents.agents
    await floor.wait(lambda: all(live[e].state is AgentState.TALKING for e in EXTENSIONS), "everyone talking")
    await floor.app[ROUTING].follower.join()
    late = [n for n, ext in floor.crm.customers.items() if ext == "1002"][1]
    await floor.call(late, patience_s=5.0)
    await clock.advance(10)
    (ended,) = await floor.wait(lambda: floor.ended(late), "the queued caller to give up")
    (decision,) = floor.routed(late)
    assert (decision.action, decision.reason, decision.queue) == ("queue", "no-agent->queue", QUEUE)
    assert "Owner Anna Berg (1002) is busy" in decision.explanation
    assert ended.outcome is CallOutcome.ABANDONED and ended.queue == QUEUE


async def test_after_hours_offers_a_callback(tmp_path: Path) -> None:
    # Open one weekday only, and not today.
    other_day = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[(datetime.now(timezone.utc).weekday() + 3) % 7]
    async with running_floor(tmp_path, f'[routing.teams.Sales]\nhours = {{ {other_day} = "09:00-17:00" }}\n') as floor:
        number = floor.customer_of("1002")
        await floor.call(number)
        (ended,) = await floor.wait(lambda: floor.ended(number), "the after-hours call to end")
        (decision,) = floor.routed(number)
        assert (decision.action, decision.reason) == ("callback", "after-hours")
        assert ended.answered_by is None and ended.agents_rung == ()


async def test_supervisor_pauses_an_agent_through_the_api_and_routing_follows(floor: Floor) -> None:
    await floor.all_available()
    async with floor.app[DATABASE].session() as s:
        admin = await create_user(s, Principal.system(), UserIn(name="Ada Admin", role=Role.ADMIN))
    live = floor.app[LIVE].tracker.agents.agents
    async with floor.http_as(admin.id) as http:
        async with http.post("/api/v1/agents/1002/pause", json={"reason": "coaching"}) as resp:
            assert resp.status == 200, await resp.text()
        # Asterisk confirms with QueueMemberPause; the live model (not the request) makes the agent paused.
        await floor.wait(lambda: live["1002"].state is AgentState.PAUSED, "1002 paused")
        assert live["1002"].reason == "coaching"
        async with http.get("/api/v1/agents") as resp:
            agents = {a["agent"]: a for a in await resp.json()}
        assert (agents["1002"]["state"], agents["1002"]["reason"]) == ("paused", "coaching")
        await floor.app[ROUTING].follower.join()
        number = floor.customer_of("1002")
        floor.sim.pbx.phones["1003"].scripted.append(ANSWER)
        floor.sim.pbx.phones["1004"].scripted.append(ANSWER)
        await floor.call(number, talk_s=5.0)
        await floor.wait(lambda: floor.ended(number), "the call to end")
        (decision,) = floor.routed(number)
        assert decision.reason == "owner-paused->teammate" and "1002" not in decision.targets
        async with http.get("/api/v1/routing/decisions", params={"call_id": decision.call_id}) as resp:
            assert [d["reason"] for d in await resp.json()] == ["owner-paused->teammate"]
        async with http.post("/api/v1/agents/1002/unpause") as resp:
            assert resp.status == 200
        await floor.wait(lambda: live["1002"].state is AgentState.AVAILABLE, "1002 available again")


async def test_the_ringing_agent_gets_the_callers_card_pushed(floor: Floor) -> None:
    await floor.all_available()
    number = floor.customer_of("1003")
    floor.sim.pbx.phones["1003"].scripted.append(ANSWER)

    async def call_message(ws: Any) -> dict:
        while (message := await ws.receive_json(timeout=10))["type"] == "state":
            pass  # the agent's own state changes come in between
        return message

    async with floor.http_as(floor.crm.agents["1003"]) as http, http.ws_connect("/api/v1/agent/ws") as ws:
        hello = await ws.receive_json(timeout=10)
        assert (hello["type"], hello["agent"], hello["state"]) == ("hello", "1003", "available")
        await floor.call(number, talk_s=5.0)
        pop = await call_message(ws)
        assert (pop["type"], pop["number"]) == ("ringing", number)
        card = pop["card"]
        assert card["known"] and card["name"] and card["responsible_name"] == "Ben Carter" and card["open_deals"]
        assert (await call_message(ws))["type"] == "answered"
        ended = await call_message(ws)
        assert (ended["type"], ended["call_id"], ended["outcome"]) == ("ended", pop["call_id"], "answered")


async def test_the_agent_view_needs_a_desk_phone(floor: Floor) -> None:
    async with floor.app[DATABASE].session() as s:
        user = await create_user(s, Principal.system(), UserIn(name="No Phone", role=Role.AGENT))
    async with floor.http_as(user.id) as http, http.get("/api/v1/agent/ws") as resp:
        assert resp.status == 403
