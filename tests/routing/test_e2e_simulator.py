"""Routing end to end: the whole service (build_app: CRM database, AMI, FastAGI, routing) against the simulator.

The simulator runs the shipped dialplan and asks our FastAGI server where each call goes; the CRM is the demo's
sample (customers with responsible managers). Assertions are on what Asterisk was told (CallRouted), where the call
went (CallEnded) and what the CRM recorded, waited for with bounded timeouts.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientSession, web

from callcenter.ami import actions
from callcenter.app import AGI, AMI, BUS, DATABASE, LIVE, ROUTING, build_app
from callcenter.automation.facts import CallLogged
from callcenter.config import load_settings
from callcenter.events import AgentState, CallEnded, CallOutcome, CallRouted
from callcenter.pbxsim.callmodel import AgentPhone, Caller, PhoneAnswer
from callcenter.pbxsim.clock import VirtualClock
from callcenter.pbxsim.demo_crm import SeededCrm, seed_crm
from callcenter.pbxsim.simulator import Simulator, SimulatorSettings
from crm_core.db import Database
from crm_core.migrate import upgrade_async
from crm_core.access import Principal
from crm_core.models import Activity, Role
from crm_core.schemas import TokenIn, UserIn
from crm_core.users import create_token, create_user

WAIT_S = 15.0
EXTENSIONS = ("1002", "1003", "1004")
ANSWER = PhoneAnswer(action="answer", delay_s=1.0)


@dataclass
class Floor:
    app: web.Application
    runner: web.AppRunner
    sim: Simulator
    crm: SeededCrm
    seen: list[Any] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def on_event(self, event: Any) -> None:
        self.seen.append(event)
        self.changed.set()

    async def wait(self, predicate: Callable[[], Any], what: str) -> Any:
        async def watch() -> Any:
            while not (result := predicate()):
                self.changed.clear()
                await self.changed.wait()
            return result

        try:
            return await asyncio.wait_for(watch(), WAIT_S)
        except TimeoutError:
            raise AssertionError(f"timed out waiting for {what}") from None

    def routed(self, caller: str) -> list[CallRouted]:
        ids = {e.call_id for e in self.seen if isinstance(e, CallEnded | CallRouted) and self._caller(e) == caller}
        return [e for e in self.seen if isinstance(e, CallRouted) and e.call_id in ids]

    def _caller(self, event: Any) -> str | None:
        if isinstance(event, CallEnded):
            return event.caller
        decisions = self.app[ROUTING].service.decisions.for_call(event.call_id)
        return decisions[0].caller if decisions else None

    def ended(self, caller: str) -> list[CallEnded]:
        return [e for e in self.seen if isinstance(e, CallEnded) and e.caller == caller]

    async def call(self, number: str, **kw: Any) -> None:
        self.sim.call(Caller(number=number, did="8001", **kw))

    def customer_of(self, ext: str) -> str:
        return next(number for number, owner in self.crm.customers.items() if owner == ext)

    async def all_available(self) -> None:
        live = self.app[LIVE].tracker.agents.agents
        await self.wait(
            lambda: all(live.get(e) is not None and live[e].state is AgentState.AVAILABLE for e in EXTENSIONS),
            "every agent available",
        )
        # The routing store follows the bus through its own task: wait until it has caught up.
        await self.app[ROUTING].follower.join()


async def _floor(tmp_path: Path, toml: str = "") -> AsyncIterator[Floor]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cc.sqlite3'}"
    await upgrade_async(url)
    db = Database.from_url(url)
    crm = await seed_crm(db, extensions=list(EXTENSIONS), seed=7)
    await db.dispose()
    sim = Simulator(
        settings=SimulatorSettings(
            phones=tuple(AgentPhone(extension=e) for e in EXTENSIONS), monitor_dir=tmp_path / "rec", seed=5
        ),
        clock=VirtualClock(start_epoch_s=time.time()),
    )
    await sim.start()
    config = tmp_path / "callcenter.toml"
    config.write_text(toml)
    settings = load_settings(
        config,
        environ={
            "CALLCENTER_DATABASE__URL": url,
            "CALLCENTER_AMI__HOST": "127.0.0.1",
            "CALLCENTER_AMI__PORT": str(sim.ami_port),
            "CALLCENTER_AMI__SECRET": "callcenter",
            "CALLCENTER_AGI__PORT": "0",
            "CALLCENTER_AGI__DEFAULT_QUEUE": "sales",
            "CALLCENTER_ROUTING__DEFAULT_TEAM": "Sales",
            "CALLCENTER_RECORDING__SPOOL_DIR": str(tmp_path / "rec"),
            "CALLCENTER_RECORDING__ASTERISK_SPOOL_DIR": str(tmp_path / "rec"),
            "CALLCENTER_RECORDING__STORE_DIR": str(tmp_path / "store"),
        },
    )
    app = build_app(settings)
    runner = web.AppRunner(app)
    floor = Floor(app=app, runner=runner, sim=sim, crm=crm)
    app[BUS].subscribe(floor.on_event)
    await runner.setup()
    try:
        sim.set_agi_address("127.0.0.1", app[AGI].port)
        await app[AMI].wait_live(WAIT_S)
        for ext in EXTENSIONS:
            await app[AMI].send(
                actions.queue_add(queue="sales", interface=f"PJSIP/{ext}", member_name=ext, state_interface=f"PJSIP/{ext}")
            )
        yield floor
    finally:
        await runner.cleanup()
        await sim.stop()
    assert sim.clock.errors == []


@pytest.fixture
async def floor(tmp_path: Path) -> AsyncIterator[Floor]:
    async for f in _floor(tmp_path):
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
    assert (decision.action, decision.reason, decision.queue) == ("queue", "no-agent->queue", "sales")
    assert "Owner Anna Berg (1002) is busy" in decision.explanation
    assert ended.outcome is CallOutcome.ABANDONED and ended.queue == "sales"


async def test_after_hours_offers_a_callback(tmp_path: Path) -> None:
    # Open one weekday only, and not today.
    other_day = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[(datetime.now(timezone.utc).weekday() + 3) % 7]
    async for floor in _floor(tmp_path, f'[routing.teams.Sales]\nhours = {{ {other_day} = "09:00-17:00" }}\n'):
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
        _, secret = await create_token(s, Principal.system(), TokenIn(user_id=admin.id, name="test"))
    site = web.TCPSite(floor.runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    live = floor.app[LIVE].tracker.agents.agents
    async with ClientSession(f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {secret}"}) as http:
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
