"""Wrap-up on queue calls against a real Asterisk: the shipped queues.conf leaves wrap-up to the service
(wrapuptime = 0), which holds the agent with QueuePause while it lasts; the queue once rang an agent 1.7 s into a
10 s wrap-up."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from callcenter.app_keys import DATABASE
from callcenter.automation.facts import CallLogged
from callcenter.events import CallEnded, CallOutcome, CallRouted
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
