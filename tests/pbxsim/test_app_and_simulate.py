"""The whole service (callcenter.app.build_app) against the simulator, the simulator embedded in `callcenter serve`,
`callcenter simulate` (callcenter.pbxsim.simulate) and the traffic model. The demo's tests are in tests/demo."""

from __future__ import annotations

import asyncio
import io
import json
import time
from pathlib import Path

from aiohttp import ClientSession, web

from callcenter.ami import actions
from callcenter.ami.connection import AmiConnection
from callcenter.app import build_app
from callcenter.app_keys import AGI, AMI, BUS
from callcenter.config import load_settings
from callcenter.events import CallEnded, CallOutcome
from callcenter.pbxsim.callmodel import AgentPhone, Caller, PhoneAnswer
from callcenter.pbxsim.clock import VirtualClock
from callcenter.pbxsim.simulate import run_simulate
from callcenter.pbxsim.simulator import Simulator, SimulatorSettings
from tests.conftest import free_port

WAIT_S = 15.0



async def test_build_app_against_the_simulator(tmp_path: Path) -> None:
    sim = Simulator(settings=SimulatorSettings(phones=(AgentPhone(extension="1002"),), monitor_dir=tmp_path / "rec"),
                    clock=VirtualClock(start_epoch_s=time.time()))
    await sim.start()
    settings = load_settings(environ={
        "CALLCENTER_DATABASE__URL": f"sqlite+aiosqlite:///{tmp_path / 'cc.sqlite3'}",
        "CALLCENTER_AMI__HOST": "127.0.0.1",
        "CALLCENTER_AMI__PORT": str(sim.ami_port),
        "CALLCENTER_AMI__SECRET": "callcenter",
        "CALLCENTER_AGI__PORT": "0",
        "CALLCENTER_AGI__DEFAULT_QUEUE": "sales",
    })
    app = build_app(settings)
    ended: list[CallEnded] = []
    got = asyncio.Event()
    app[BUS].subscribe(lambda e: (ended.append(e), got.set()), event_type=CallEnded)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        sim.set_agi_address("127.0.0.1", app[AGI].port)  # the FastAGI port the app bound (agi.port = 0)
        await app[AMI].wait_live(WAIT_S)
        await app[AMI].send(actions.queue_add(queue="sales", interface="PJSIP/1002", member_name="1002",
                                              state_interface="PJSIP/1002"))
        sim.pbx.phones["1002"].scripted.append(PhoneAnswer(action="answer", delay_s=2.0))
        sim.call(Caller(number="+12125550123", did="8001", talk_s=30.0))
        await asyncio.wait_for(got.wait(), WAIT_S)
        (call,) = ended
        assert (call.outcome, call.answered_by, call.queue, call.caller) == (
            CallOutcome.ANSWERED, "1002", "sales", "+12125550123")
        # One FastAGI session, timed as Asterisk would see it (load tests read these).
        (round_trip_s,) = sim.pbx.stats.agi_round_trips_s
        assert 0 < round_trip_s < WAIT_S
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        async with ClientSession() as http, http.get(f"http://127.0.0.1:{port}/readyz") as resp:
            assert resp.status == 200 and (await resp.json())["checks"]["ami"] == "ok"
    finally:
        await runner.cleanup()
        await sim.stop()
    assert sim.clock.errors == []


async def test_simulate_serves_any_service(tmp_path: Path) -> None:
    """`callcenter simulate`: the simulator alone; a service (here: our AMI client) logs in and sees the calls."""
    port = free_port()
    out = io.StringIO()
    task = asyncio.create_task(run_simulate(ami_port=port, agi_host="127.0.0.1", agi_port=9, rate_per_s=2.0,
                                            duration_s=1.0, seed=1, out=out, speed=20.0, monitor_dir=tmp_path))
    conn = AmiConnection(host="127.0.0.1", port=port, username="callcenter", secret="callcenter",
                         reconnect_min_s=0.02, reconnect_max_s=0.05)
    conn.start()
    try:
        await conn.wait_live(WAIT_S)
        summary = await asyncio.wait_for(task, WAIT_S)
    finally:
        await conn.stop()
    assert summary["calls_offered"] >= 1 and summary["ami_logins"] >= 1
    assert json.loads(out.getvalue().splitlines()[-1]) == summary
    assert conn.stats.messages > 0


def test_simulate_progress_reports_route_latency_of_the_last_interval() -> None:
    from collections import deque

    from callcenter.pbxsim.simulate import _route_latency

    samples = deque([0.001 * i for i in range(1, 101)])
    assert _route_latency(samples) == "route_p50=51.0ms route_p99=100.0ms"
    assert _route_latency(samples) == "route=-"  # consumed: the next line covers only the next interval


async def test_without_asterisk_the_service_runs_on_the_built_in_simulator(tmp_path: Path) -> None:
    from callcenter.pbxsim.embedded import embed_simulator, with_simulator_settings

    plain = load_settings(environ={"CALLCENTER_DATABASE__URL": f"sqlite+aiosqlite:///{tmp_path / 'cc.sqlite3'}",
                                   "CALLCENTER_AGI__PORT": "0"})
    assert plain.ami.host == ""
    settings, sim_settings = with_simulator_settings(plain, monitor_dir=tmp_path / "monitor")
    assert (settings.ami.host, settings.ami.port) == ("127.0.0.1", sim_settings.ami_port)
    assert settings.recording.spool_dir == str((tmp_path / "monitor").resolve())
    app = build_app(settings)
    sim = embed_simulator(app, sim_settings, agi_port=lambda started: started[AGI].port)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        await app[AMI].wait_live(WAIT_S)
        assert sim.pbx.dialplan.globals["CC_AGI_HOSTPORT"] == f"127.0.0.1:{app[AGI].port}"
        # The API reaches Asterisk (here: the simulator) as it would in production.
        await app[AMI].send(actions.queue_add(queue="sales", interface="PJSIP/1002", member_name="1002"))
    finally:
        await runner.cleanup()


def test_new_callers_come_back() -> None:
    from callcenter.pbxsim.traffic import CallerMix, Traffic

    traffic = Traffic(pbx=None, seed=4, mix=CallerMix(returning_share=0.5))  # type: ignore[arg-type]
    numbers = [traffic.caller().number for _ in range(40)]
    assert len(set(numbers)) < 30  # numbers seen before call again
    plain = Traffic(pbx=None, seed=4, mix=CallerMix())  # type: ignore[arg-type]
    assert len({plain.caller().number for _ in range(40)}) >= 39  # without it, (nearly) every caller is new


def test_nobody_calls_twice_at_once() -> None:
    """A returning caller or customer whose call is still in progress is not drawn again (the demo showed one
    number talking to two agents)."""
    from types import SimpleNamespace

    from callcenter.pbxsim.traffic import CallerMix, Traffic

    calls: dict[str, object] = {}
    pbx = SimpleNamespace(calls=calls)
    traffic = Traffic(pbx=pbx, seed=2, mix=CallerMix(known_numbers=("+12125552000", "+12125552001"), known_share=0.6,
                                                     returning_share=0.6))  # type: ignore[arg-type]
    for i in range(60):
        number = traffic.caller().number
        assert number not in {c.caller for c in calls.values()}, i  # type: ignore[attr-defined]
        calls[str(i)] = SimpleNamespace(caller=number, ended_s=None)  # every call stays up
