"""The whole service (build_app: CRM database, AMI, FastAGI, routing, CRM bridge) against the simulator, over real
sockets, on the demo's sample CRM (customers with responsible managers). Waits are on events, bounded."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import ClientSession, web

from callcenter.ami import actions
from callcenter.app import build_app
from callcenter.app_keys import AGI, AMI, BUS, DATABASE, LIVE, ROUTING
from callcenter.config import load_settings
from callcenter.events import AgentState, CallEnded, CallRouted
from callcenter.pbxsim.callees import CalleeModel
from callcenter.pbxsim.callmodel import AgentPhone, Caller, PhoneAnswer
from callcenter.pbxsim.clock import VirtualClock
from callcenter.demo.crm_seed import SeededCrm, seed_crm
from callcenter.pbxsim.simulator import Simulator, SimulatorSettings
from crm_core.access import Principal
from crm_core.db import Database
from crm_core.migrate import upgrade_async
from crm_core.schemas import TokenIn
from crm_core.users import create_token

WAIT_S = 15.0
EXTENSIONS = ("1002", "1003", "1004")
QUEUE = "support"  # the shipped default queue: agi.default_queue and the dialplan's CC_FALLBACK_QUEUE
ANSWER = PhoneAnswer(action="answer", delay_s=1.0)


class BusWatch:
    """What a test saw on the service's bus, and a bounded wait for a predicate over it (re-checked per event)."""

    wait_s: float = WAIT_S

    def __init__(self) -> None:
        self.seen: list[Any] = []
        self.changed = asyncio.Event()

    def on_event(self, event: Any) -> None:
        self.seen.append(event)
        self.changed.set()

    async def wait(self, predicate: Callable[[], Any], what: str, timeout_s: float | None = None) -> Any:
        async def watch() -> Any:
            while not (result := predicate()):
                self.changed.clear()
                await self.changed.wait()
            return result

        try:
            return await asyncio.wait_for(watch(), timeout_s or self.wait_s)
        except TimeoutError:
            raise AssertionError(f"timed out waiting for {what}") from None


@dataclass(eq=False)
class Floor(BusWatch):
    app: web.Application
    runner: web.AppRunner
    sim: Simulator
    crm: SeededCrm
    port: int | None = None

    def __post_init__(self) -> None:
        BusWatch.__init__(self)

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

    @asynccontextmanager
    async def http_as(self, user_id: int) -> AsyncIterator[ClientSession]:
        """An HTTP client on the service with a fresh API token of ``user_id``."""
        async with self.app[DATABASE].session() as s:
            _, secret = await create_token(s, Principal.system(), TokenIn(user_id=user_id, name="test"))
        if self.port is None:
            site = web.TCPSite(self.runner, "127.0.0.1", 0)
            await site.start()
            self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        async with ClientSession(f"http://127.0.0.1:{self.port}", headers={"Authorization": f"Bearer {secret}"}) as c:
            yield c

    async def all_available(self) -> None:
        live = self.app[LIVE].tracker.agents.agents
        await self.wait(
            lambda: all(live.get(e) is not None and live[e].state is AgentState.AVAILABLE for e in EXTENSIONS),
            "every agent available",
        )
        # The routing store follows the bus through its own task: wait until it has caught up.
        await self.app[ROUTING].follower.join()


@asynccontextmanager
async def running_floor(tmp_path: Path, toml: str = "", *, extra_phones: tuple[str, ...] = (),
                        callees: CalleeModel | None = None, phone: dict[str, Any] | None = None,
                        database_url: str | None = None,
                        ami_port: Callable[[int], Awaitable[int]] | None = None) -> AsyncIterator[Floor]:
    """``extra_phones``: more desk phones on the simulator (a supervisor's), in no queue and in nobody's CRM record;
    ``callees``: the people a dialer campaign calls (pbxsim.callees); ``phone``: AgentPhone options for every agent;
    ``database_url``: an empty database of the caller's (default: a SQLite file in ``tmp_path``); ``ami_port``: given
    the simulator's AMI port, awaits the port the service is to connect to instead (a proxy of the caller's)."""
    url = database_url or f"sqlite+aiosqlite:///{tmp_path / 'cc.sqlite3'}"
    await upgrade_async(url)
    db = Database.from_url(url)
    crm = await seed_crm(db, extensions=list(EXTENSIONS), seed=7)
    await db.dispose()
    sim = Simulator(
        settings=SimulatorSettings(
            phones=tuple(AgentPhone(extension=e, **(phone or {})) for e in (*EXTENSIONS, *extra_phones)),
            monitor_dir=tmp_path / "rec", seed=5,
        ),
        clock=VirtualClock(start_epoch_s=time.time()),
        callees=callees,
    )
    await sim.start()
    service_ami_port = sim.ami_port if ami_port is None else await ami_port(sim.ami_port)
    config = tmp_path / "callcenter.toml"
    config.write_text(toml)
    settings = load_settings(
        config,
        environ={
            "CALLCENTER_DATABASE__URL": url,
            "CALLCENTER_AMI__HOST": "127.0.0.1",
            "CALLCENTER_AMI__PORT": str(service_ami_port),
            "CALLCENTER_AMI__SECRET": "callcenter",
            "CALLCENTER_AGI__PORT": "0",
            "CALLCENTER_AGI__DEFAULT_QUEUE": QUEUE,
            # These tests are about who a call reaches, not the lookup's time budget (tests/routing covers that):
            # on a loaded 2-core machine a 100 ms CRM lookup can run out and the owner goes unfound.
            "CALLCENTER_ROUTING__CRM_BUDGET_MS": "2000",
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
                actions.queue_add(queue=QUEUE, interface=f"PJSIP/{ext}", member_name=ext, state_interface=f"PJSIP/{ext}")
            )
        yield floor
    finally:
        await runner.cleanup()
        await sim.stop()
    assert sim.clock.errors == []


