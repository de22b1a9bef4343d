"""The wallboard's figures kept from the events equal the reports API's: the whole service against the PBX
simulator, N calls (answered with talk and wrap-up, one abandoned with its callback), the day's calls read from the
database once, at start-up. Waits are on events (the bus, the feed's passes), bounded."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from sqlalchemy import select

from callcenter.ami import actions
from callcenter.app_keys import AMI, DATABASE, FIGURES_FEED, HUB
from callcenter.automation.facts import CallLogged, WrapUpLogged
from callcenter.events import AgentState, AgentStateChanged, CallOutcome
from crm_core.access import Principal
from crm_core.models import Role, User
from crm_core.schemas import UserIn
from crm_core.users import create_user
from tests.floor import ANSWER, WAIT_S, Floor, running_floor

TEAM = "Sales"
CONFIG = "[calls]\nwrapup_s = 10.0\n"
ANSWERED = ("1002", "1003", "1004")


async def api_figures(floor: Floor) -> dict[str, Any]:
    async with floor.app[DATABASE].session() as s:
        team_id = await s.scalar(select(User.team_id).where(User.extension == "1002"))
        sup = await create_user(s, Principal.system(), UserIn(name="Sue Supervisor", role=Role.SUPERVISOR,
                                                             team_id=team_id))
    async with floor.http_as(sup.id) as http, http.get("/api/v1/reports/team-figures") as resp:
        assert resp.status == 200, await resp.text()
        return await resp.json()  # type: ignore[no-any-return]


async def test_the_figures_kept_from_the_calls_are_the_reports_apis(tmp_path: Path) -> None:
    async with running_floor(tmp_path, CONFIG) as floor:
        feed, hub = floor.app[FIGURES_FEED], floor.app[HUB]
        await floor.all_available()
        clock = floor.sim.clock
        clock.auto = False  # calls stay up until the test moves time on
        for n, ext in enumerate(ANSWERED):
            floor.sim.pbx.phones[ext].scripted.append(ANSWER)
            await floor.call(floor.customer_of(ext), talk_s=30.0 + 10 * n)
            await clock.advance(2)
        await floor.wait(lambda: all(hub.state.agents.get(e, {}).get("state") == "talking" for e in ANSWERED),
                         "three agents talking")
        late = "+12125550177"  # nobody free: waits in the queue and gives up
        await floor.call(late, patience_s=5.0)
        await floor.wait(lambda: floor.routed(late), "the late caller to be routed")
        await clock.advance(10)
        (abandoned,) = await floor.wait(lambda: floor.ended(late), "the late caller to give up")
        assert abandoned.outcome is CallOutcome.ABANDONED
        await clock.advance(80)  # the talks end; the agents go into wrap-up
        await floor.wait(lambda: len([e for e in floor.seen if isinstance(e, CallLogged)]) == 4, "4 calls written")
        # Past the wrap-up deadline; one AMI event (1004 pausing after it) tells the service the time.
        await clock.advance(15)
        await floor.app[AMI].send(actions.queue_pause(interface="PJSIP/1004", paused=True, reason="lunch"))
        await floor.wait(lambda: [e for e in floor.seen if isinstance(e, AgentStateChanged) and e.agent == "1004"
                                  and e.state is AgentState.PAUSED], "1004 paused")
        await floor.wait(lambda: len({e.call_id for e in floor.seen if isinstance(e, WrapUpLogged)}) == 3,
                         "3 wrap-ups booked")

        api = await api_figures(floor)
        assert (api["offered"], api["answered"], api["abandoned"], api["callbacks_open"]) == (4, 3, 1, 1)
        assert api["aht_s"] is not None and api["aht_s"] > 40  # talk + wrap-up

        def shown() -> dict[str, Any]:
            row = hub.state.figures.get(TEAM) or {}
            return {k: row.get(k) for k in api}

        try:
            async with asyncio.timeout(WAIT_S):
                while shown() != api:
                    feed.passed.clear()
                    await feed.passed.wait()  # the next pass (the debounce after the last change)
        except TimeoutError:
            raise AssertionError(f"the wallboard shows {shown()}, the API answers {api}") from None
        assert feed.day_reads == 1  # the start-up read; everything since came from the events
        clock.auto = True
