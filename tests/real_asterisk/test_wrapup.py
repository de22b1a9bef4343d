"""Wrap-up on queue calls against a real Asterisk: the shipped queues.conf leaves wrap-up to the service
(wrapuptime = 0), which holds the agent with QueuePause while it lasts; the queue once rang an agent 1.7 s into a
10 s wrap-up."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from callcenter.ami.channel_vars import AgentControl
from callcenter.ami.events import AgentControlEvent
from callcenter.app_keys import DATABASE, LIVE
from callcenter.automation.facts import CallLogged
from callcenter.events import AgentState, AgentStateChanged, CallEnded, CallOutcome, CallRouted
from crm_core.models import Activity
from tests.real_asterisk.conftest import PHONES, WAIT_S, Site, login_all

WRAPUP_S = 8


@pytest.fixture
def site_toml() -> str:
    # DID 8002 needs a skill nobody has: every call to it goes to the team's queue (Asterisk's Queue(), not a Dial).
    return (f"[calls]\nwrapup_s = {WRAPUP_S}\n\n"
            '[routing.dids."8002"]\nteam = "Sales"\nskills = { klingon = 5 }\n')


async def test_an_agent_in_wrap_up_is_not_rung_by_the_queue(site: Site) -> None:
    await login_all(site)
    await site.sipp.call(caller="+13125550140", did="8002", talk_ms=2000)
    [first] = await site.wait(lambda: [e for e in site.seen if isinstance(e, CallEnded) and e.caller == "+13125550140"],
                              "the first queue call to end")
    assert first.outcome is CallOutcome.ANSWERED and first.queue == "support" and first.answered_by in PHONES
    routed = [e for e in site.seen if isinstance(e, CallRouted) and e.call_id == first.call_id]
    assert routed[0].action == "queue"
    # While the first agent is in wrap-up Asterisk holds them paused (reason from the service), and the next queue
    # call rings the other agent.
    members = await site.pbx.queue_members("support")
    assert "paused" in members[f"PJSIP/{first.answered_by}"].lower(), members
    await site.sipp.call(caller="+13125550141", did="8002", talk_ms=1000)
    [second] = await site.wait(lambda: [e for e in site.seen if isinstance(e, CallEnded) and e.caller == "+13125550141"],
                               "the second queue call to end")
    assert second.outcome is CallOutcome.ANSWERED and second.answered_by not in (None, first.answered_by)
    # The first call's wrap-up is booked whole once it ends, and the agent is offered calls again.
    await site.wait(lambda: [e for e in site.seen if isinstance(e, CallLogged) and e.call_id == first.call_id],
                    "the first call in the CRM")

    async def booked() -> float:
        while True:
            async with site.app[DATABASE].session() as s:
                activity = await s.scalar(select(Activity).where(Activity.call_id == first.call_id))
            if activity is not None and activity.call_meta.get("wrapup_s"):
                return float(activity.call_meta["wrapup_s"])
            site.changed.clear()
            await site.changed.wait()

    wrapup_s = await asyncio.wait_for(booked(), WAIT_S + WRAPUP_S)
    assert WRAPUP_S - 0.5 <= wrapup_s <= WRAPUP_S + 1.5
    members = await site.pbx.queue_members("support")
    assert "paused" not in members[f"PJSIP/{first.answered_by}"].lower(), members

    # The second agent ends their wrap-up early on their page: the end goes round Asterisk (UserEvent CcAgentControl,
    # so every service instance hears it) and comes back before the API answers; Asterisk unpauses them.
    agent = second.answered_by
    heard: list[AgentControlEvent] = []
    site.app[LIVE].ingest.taps.append(lambda e: isinstance(e, AgentControlEvent) and heard.append(e))
    async with site.http() as http, http.post(f"/api/v1/agents/{agent}/wrapup-end") as resp:
        assert resp.status == 200, await resp.text()
    [control] = heard  # Asterisk sent it back out on the service's own AMI session
    assert (control.agent, control.control, control.call_id) == (agent, AgentControl.WRAPUP_END, second.call_id)
    changes = [e for e in site.seen if isinstance(e, AgentStateChanged) and e.agent == agent]
    backs = [e for e in changes if e.previous is AgentState.WRAP_UP]
    assert len(backs) == 1, changes
    [back] = backs
    assert back.state is AgentState.AVAILABLE and back.at_s == control.at_s and back.at_s - second.ended_s < WRAPUP_S
    await site.wait(lambda: [e for e in site.seen if isinstance(e, CallLogged) and e.call_id == second.call_id],
                    "the second call in the CRM")
    members = await site.pbx.queue_members("support")
    assert "paused" not in members[f"PJSIP/{agent}"].lower(), members
