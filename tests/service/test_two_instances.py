"""Two service instances beside one Asterisk (the simulator), sharing PostgreSQL and Redis, as a new user would run
them: each reads AMI itself and derives every call and agent event once, in Asterisk's order; Redis carries only what
AMI does not (FastAGI's decisions); what only the service decides about an agent (a wrap-up ended) goes round
Asterisk so both live models apply it alike (docs/architecture.md "Several instances")."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from aiohttp import ClientSession, web
from sqlalchemy import func, select

from callcenter.app import build_app
from callcenter.app_keys import AMI, BUS, DATABASE, LIVE, SETTINGS
from callcenter.automation.facts import WrapUpLogged
from callcenter.events import AgentState, AgentStateChanged, CallEnded, CallRouted
from crm_core.access import Principal
from crm_core.models import Activity, Role
from crm_core.schemas import TokenIn, UserIn
from crm_core.users import create_token, create_user
from tests.conftest import require_service
from tests.floor import ANSWER, EXTENSIONS, WAIT_S, BusWatch, Floor, running_floor

# Its instances share Redis pub/sub (channels span Redis databases): one such test at a time (pytest-xdist).
pytestmark = pytest.mark.xdist_group("redis-apps")

REDIS = "redis://127.0.0.1:6379/12"  # a database of its own: the test flushes it
WRAPUP_S = 60.0  # far longer than the agent takes: a timer that wins would show as a minute booked
CONFIG = f'[calls]\nwrapup_s = {WRAPUP_S}\n[redis]\nurl = "{REDIS}"\n'


@asynccontextmanager
async def second_instance(floor: Floor) -> AsyncIterator[tuple[web.Application, BusWatch, int]]:
    """Instance B: the same settings (database, Redis, Asterisk) as the floor's instance A; its own FastAGI port,
    which the simulator does not use (A answers every route request), and its own HTTP port."""
    app = build_app(floor.app[SETTINGS])
    watch = BusWatch()
    app[BUS].subscribe(watch.on_event)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        await app[AMI].wait_live(WAIT_S)
        yield app, watch, site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    finally:
        await runner.cleanup()


@asynccontextmanager
async def as_user(app: web.Application, port: int, user_id: int) -> AsyncIterator[ClientSession]:
    async with app[DATABASE].session() as s:
        _, secret = await create_token(s, Principal.system(), TokenIn(user_id=user_id, name="test"))
    async with ClientSession(f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {secret}"}) as http:
        yield http


def changes(watch: BusWatch, agent: str) -> list[AgentStateChanged]:
    return [e for e in watch.seen if isinstance(e, AgentStateChanged) and e.agent == agent]


async def test_two_instances_handle_each_event_once_and_agree_on_a_wrapup_ended_on_either(
        tmp_path: Path, empty_pg: str) -> None:
    require_service("Redis", "127.0.0.1", 6379)
    redis = aioredis.from_url(REDIS)
    await redis.flushdb()
    try:
        async with running_floor(tmp_path, CONFIG, database_url=empty_pg) as floor, second_instance(floor) as (b, b_seen, port):
            booked = BusWatch()  # a wrap-up booked, by whichever instance's CRM writer got there first
            for app in (floor.app, b):
                app[BUS].subscribe(booked.on_event, event_type=WrapUpLogged)
            await floor.all_available()
            await b_seen.wait(lambda: all(b[LIVE].agent_state(e)[0] is AgentState.AVAILABLE for e in EXTENSIONS),
                              "B sees every agent available")
            number = floor.customer_of("1002")
            floor.sim.pbx.phones["1002"].scripted.append(ANSWER)
            await floor.call(number, talk_s=2.0)
            (a_end,) = await floor.wait(lambda: floor.ended(number), "A: the call ends")
            call_id = a_end.call_id
            (b_end,) = await b_seen.wait(
                lambda: [e for e in b_seen.seen if isinstance(e, CallEnded) and e.call_id == call_id], "B: the call ends")
            assert b_end == a_end  # both derived the same facts from their own AMI sessions
            into = [e for e in changes(b_seen, "1002") if e.state is AgentState.WRAP_UP]
            assert [e.at_s for e in into] == [e.at_s for e in changes(floor, "1002") if e.state is AgentState.WRAP_UP]

            # The agent ends the wrap-up on B's page; A's live model follows, at the same instant, once.
            async with as_user(b, port, floor.crm.agents["1002"]) as http:
                async with http.post("/api/v1/agents/1002/wrapup-end") as resp:
                    assert resp.status == 200, await resp.text()
                assert b[LIVE].agent_state("1002")[0] is AgentState.AVAILABLE  # applied before B answered

            def back(watch: BusWatch) -> list[AgentStateChanged]:
                return [e for e in changes(watch, "1002") if e.previous is AgentState.WRAP_UP]

            (a_back,) = await floor.wait(lambda: back(floor), "A: 1002 out of wrap-up")
            (b_back,) = back(b_seen)
            assert a_back == b_back and a_back.state is AgentState.AVAILABLE
            took_s = a_back.at_s - into[0].at_s
            assert 0 < took_s < WRAPUP_S

            # One wrap-up spell, the real one, on the call's one activity, though both instances wrote the call.
            (fact,) = await booked.wait(lambda: booked.seen, "the wrap-up booked")
            assert fact.call_id == call_id and abs(fact.wrapup_s - took_s) < 0.01
            async with floor.app[DATABASE].session() as s:
                activities = (await s.scalars(select(Activity).where(Activity.call_id == call_id))).all()
                total = await s.scalar(select(func.count()).select_from(Activity))
            (activity,) = activities
            assert total == 1
            assert [spell["agent"] for spell in activity.call_meta["wrapup_spells"]] == ["1002"]
            assert abs(activity.call_meta["wrapup_s"] - took_s) < 0.01

            # B shows the decision A's FastAGI made; neither bus saw any event twice.
            (decision,) = [e for e in floor.seen if isinstance(e, CallRouted) and e.call_id == call_id]
            async with b[DATABASE].session() as s:
                sup = await create_user(s, Principal.system(), UserIn(name="Sue", role=Role.SUPERVISOR))
            async with as_user(b, port, sup.id) as http:
                async with http.get("/api/v1/routing/decisions", params={"call_id": call_id}) as resp:
                    assert resp.status == 200, await resp.text()
                    shown = await resp.json()
            assert [(d["reason"], d["targets"], d["alternatives"]) for d in shown] == [
                (decision.reason, list(decision.targets), list(decision.alternatives))]
            for watch in (floor, b_seen):
                domain = [e for e in watch.seen if isinstance(e, CallEnded | AgentStateChanged | CallRouted)]
                assert [e for e, n in Counter(domain).items() if n > 1] == []
                assert len([e for e in domain if isinstance(e, CallEnded) and e.call_id == call_id]) == 1
    finally:
        await redis.flushdb()
        await redis.aclose()
