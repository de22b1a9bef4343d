"""Wrap-up end to end: the whole service against the PBX simulator. After a call the agent's wrap-up (its timer, or
the agent saving the wrap-up) is booked on the call's activity, and the reports' AHT is talk + wrap-up.

The simulator's clock is driven by hand (``auto = False``): the service knows PBX time only from AMI timestamps, so
after moving time on, one AMI event (another agent pausing) tells it the time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from callcenter.ami import actions
from callcenter.app_keys import AMI, DATABASE, LIVE
from callcenter.automation.facts import CallLogged, WrapUpLogged
from callcenter.events import AgentState, AgentStateChanged, CallEnded
from crm_core.access import Principal
from crm_core.models import Activity, Role, User
from crm_core.schemas import UserIn
from crm_core.users import create_user
from tests.floor import ANSWER, Floor, running_floor

WRAPUP_S = 20.0
TALK_S = 30.0
CONFIG = f"[calls]\nwrapup_s = {WRAPUP_S}\n"


def changes(floor: Floor, agent: str, state: AgentState) -> list[AgentStateChanged]:
    return [e for e in floor.seen if isinstance(e, AgentStateChanged) and e.agent == agent and e.state is state]


async def answered_call_to_1002(floor: Floor) -> CallEnded:
    """A customer of 1002 calls, 1002 talks TALK_S and hangs up into wrap-up; the call is in the CRM."""
    await floor.all_available()
    number = floor.customer_of("1002")
    floor.sim.pbx.phones["1002"].scripted.append(ANSWER)
    floor.sim.clock.auto = False
    await floor.call(number, talk_s=TALK_S)
    await floor.sim.clock.advance(TALK_S + 5.0)  # routing, one second of ringing, the talk; not the wrap-up
    (call,) = await floor.wait(lambda: floor.ended(number), "the call to end")
    await floor.wait(lambda: [e for e in floor.seen if isinstance(e, CallLogged) and e.call_id == call.call_id],
                     "the call in the CRM")
    return call


async def pbx_time_passes(floor: Floor, seconds: float) -> AgentStateChanged:
    """Move PBX time on, then let one AMI event carry it to the service: 1004 pauses. Returns 1004's change."""
    await floor.sim.clock.advance(seconds)
    await floor.app[AMI].send(actions.queue_pause(interface="PJSIP/1004", paused=True, reason="lunch"))
    (paused,) = await floor.wait(lambda: changes(floor, "1004", AgentState.PAUSED), "1004 paused")
    return paused


def booked(floor: Floor, call_id: str) -> list[WrapUpLogged]:
    return [e for e in floor.seen if isinstance(e, WrapUpLogged) and e.call_id == call_id]


async def activity_meta(floor: Floor, call_id: str) -> tuple[float, dict[str, Any]]:
    async with floor.app[DATABASE].session() as s:
        activity = (await s.scalars(select(Activity).where(Activity.call_id == call_id))).one()
    return float(activity.talk_s or 0.0), activity.call_meta


async def team_aht_s(floor: Floor, started_s: float) -> float:
    async with floor.app[DATABASE].session() as s:
        team_id = await s.scalar(select(User.team_id).where(User.extension == "1002"))
        sup_in = UserIn(name="Sue Supervisor", role=Role.SUPERVISOR, team_id=team_id)
        sup = await create_user(s, Principal.system(), sup_in)
    day = datetime.fromtimestamp(started_s, UTC).date()
    period = {"from": (day - timedelta(days=1)).isoformat(), "to": (day + timedelta(days=2)).isoformat()}
    async with floor.http_as(sup.id) as http, http.get("/api/v1/reports/team-figures", params=period) as resp:
        assert resp.status == 200, await resp.text()
        figures = await resp.json()
    assert figures["answered"] == 1
    return figures["aht_s"]


async def test_the_wrapup_timer_is_booked_on_the_call_and_counts_in_the_aht(tmp_path: Path) -> None:
    async with running_floor(tmp_path, CONFIG) as floor:
        call = await answered_call_to_1002(floor)
        (into,) = changes(floor, "1002", AgentState.WRAP_UP)
        assert into.call_id == call.call_id  # the live model says whose wrap-up it is
        _, meta = await activity_meta(floor, call.call_id)
        assert "wrapup_s" not in meta  # still in wrap-up: nothing to book yet

        await pbx_time_passes(floor, WRAPUP_S)  # past the deadline, by a few seconds
        (fact,) = await floor.wait(lambda: booked(floor, call.call_id), "the wrap-up booked")
        assert fact.agent == "1002" and fact.wrapup_s == pytest.approx(WRAPUP_S, abs=0.01)  # at its deadline
        talk_s, meta = await activity_meta(floor, call.call_id)
        assert meta["wrapup_s"] == pytest.approx(WRAPUP_S, abs=0.01)
        assert talk_s == pytest.approx(TALK_S, abs=1.0)
        assert await team_aht_s(floor, call.started_s) == pytest.approx(talk_s + WRAPUP_S, abs=0.01)
        floor.sim.clock.auto = True


async def test_saving_the_wrapup_ends_it_and_books_the_time_the_agent_took(tmp_path: Path) -> None:
    async with running_floor(tmp_path, CONFIG) as floor:
        call = await answered_call_to_1002(floor)
        (into,) = changes(floor, "1002", AgentState.WRAP_UP)
        now = await pbx_time_passes(floor, 5.0)  # the agent types their notes; still within the wrap-up
        took_s = now.at_s - into.at_s
        assert 0 < took_s < WRAPUP_S
        async with floor.http_as(floor.crm.agents["1002"]) as http:
            body = {"disposition": "interested", "notes": "wants a quote"}
            async with http.post(f"/api/v1/calls/{call.call_id}/disposition", json=body) as resp:
                assert resp.status == 200, await resp.text()
                saved = await resp.json()
        assert saved["wrapup_ended"] is True
        assert floor.app[LIVE].agent_state("1002") == (AgentState.AVAILABLE, None)  # offered calls again
        (fact,) = await floor.wait(lambda: booked(floor, call.call_id), "the wrap-up booked")
        assert fact.wrapup_s == pytest.approx(took_s, abs=0.01)
        talk_s, meta = await activity_meta(floor, call.call_id)
        assert meta["wrapup_s"] == pytest.approx(took_s, abs=0.01)
        assert await team_aht_s(floor, call.started_s) == pytest.approx(talk_s + took_s, abs=0.01)
        floor.sim.clock.auto = True
