"""The whole service against the PBX simulator on real databases: a call rings an agent and is answered; the CRM
bridge writes its activity and the agent log the agent's state spells, and both reports read them back."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timezone
from pathlib import Path

from aiohttp import web
from sqlalchemy import select

from callcenter.ami import actions
from callcenter.app import build_app
from callcenter.app_keys import AGENT_LOG, AGI, AMI, BUS, ROUTING_RULES
from callcenter.outbox.pipeline import crm_settled
from callcenter.config import load_settings
from callcenter.events import AgentState, AgentStateChanged, CallEnded
from callcenter.pbxsim.callmodel import AgentPhone, Caller, PhoneAnswer
from callcenter.pbxsim.clock import VirtualClock
from callcenter.pbxsim.simulator import Simulator, SimulatorSettings
from callcenter.reports.intervals import Interval
from callcenter.reports.figures import Group
from callcenter.reports.period import Period
from callcenter.reports.report import did_team_of
from callcenter.reports.service import agent_report, call_report
from crm_core.access import Principal
from crm_core.agent_log_models import AgentStateSpell
from crm_core.db import Database
from crm_core.models import Role
from crm_core.schemas import UserIn
from crm_core.users import create_user

WAIT_S = 15.0
RING_S, TALK_S = 2.0, 30.0


async def test_a_simulated_call_in_both_reports(db_url: str, tmp_path: Path) -> None:
    db = Database.from_url(db_url)
    async with db.session() as s:
        user = await create_user(s, Principal.system(), UserIn(name="Alice", role=Role.AGENT, extension="1002"))
    # Simulated time an hour ago, so that the whole call is in the past of the reports' "now".
    start = time.time() - 3600
    sim = Simulator(settings=SimulatorSettings(phones=(AgentPhone(extension="1002"),), monitor_dir=tmp_path / "rec"),
                    clock=VirtualClock(start_epoch_s=start))
    await sim.start()
    settings = load_settings(environ={
        "CALLCENTER_DATABASE__URL": db_url, "CALLCENTER_DATABASE__MIGRATE_ON_START": "false",
        "CALLCENTER_AMI__HOST": "127.0.0.1", "CALLCENTER_AMI__PORT": str(sim.ami_port),
        "CALLCENTER_AMI__SECRET": "callcenter", "CALLCENTER_AGI__PORT": "0", "CALLCENTER_AGI__DEFAULT_QUEUE": "sales",
    })
    app = build_app(settings, database=db)
    ended, states = asyncio.Event(), []
    app[BUS].subscribe(lambda _e: ended.set(), event_type=CallEnded)
    app[BUS].subscribe(states.append, event_type=AgentStateChanged)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        sim.set_agi_address("127.0.0.1", app[AGI].port)
        await app[AMI].wait_live(WAIT_S)
        await app[AMI].send(actions.queue_add(queue="sales", interface="PJSIP/1002", member_name="1002",
                                              state_interface="PJSIP/1002"))
        sim.pbx.phones["1002"].scripted.append(PhoneAnswer(action="answer", delay_s=RING_S))
        sim.call(Caller(number="+12125550123", did="8001", talk_s=TALK_S))
        await asyncio.wait_for(ended.wait(), WAIT_S)
        await asyncio.wait_for(crm_settled(app), WAIT_S)
        await asyncio.wait_for(app[AGENT_LOG].idle.wait(), WAIT_S)
        assert app[AGENT_LOG].failed == 0
        # The spells are the bus's changes of 1002, one for one (offline ones close a spell and open none).
        async with db.session() as s:
            spells = (await s.scalars(select(AgentStateSpell).order_by(AgentStateSpell.started_at))).all()
        mine = [e for e in states if e.agent == "1002"]
        assert [(sp.state, sp.started_at.timestamp(), sp.user_id) for sp in spells] == [
            (e.state.value, round(e.at_s, 6), user.id) for e in mine if e.state is not AgentState.OFFLINE
        ]
        assert [sp.state for sp in spells][-3:] == ["ringing", "talking", "available"]
        now = time.time()
        period = Period(start - 60, now, app[ROUTING_RULES].teams[app[ROUTING_RULES].default_team].hours.zone)
        async with db.session() as s:
            [row] = await agent_report(s, period=period, team=None, agent=None, did_team=did_team_of(app[ROUTING_RULES]),
                                       now_s=now)
            _, table = await call_report(s, period=period, group=Group.AGENT, interval=Interval.DAY, team=None,
                                         did_team=did_team_of(app[ROUTING_RULES]), rule=settings.reports.rule(),
                                         fcr_days=settings.reports.fcr_days)
    finally:
        await runner.cleanup()
        await sim.stop()
        await db.dispose()
    ring, talk = spells[-3], spells[-2]
    assert abs(_s(ring.ended_at) - _s(ring.started_at) - RING_S) < 0.5
    assert abs(_s(talk.ended_at) - _s(talk.started_at) - TALK_S) < 0.5
    assert (row.figures.agent, row.name, row.calls_answered) == ("1002", "Alice", 1)
    assert abs(row.figures.talking_s - TALK_S) < 0.5 and abs(row.figures.ringing_s - RING_S) < 0.5
    # Available from the first state until now, apart from the call: occupancy is the call's share of that.
    ready_s = row.figures.logged_in_s - row.figures.paused_s
    assert row.figures.occupancy_pct == round(100 * (row.figures.ringing_s + row.figures.talking_s) / ready_s, 1)
    [total] = table.totals
    assert (total.key, total.figures.offered, total.figures.answered) == ("1002", 1, 1)
    assert abs(total.figures.talk_s - TALK_S) < 0.5


def _s(moment: datetime | None) -> float:
    assert moment is not None
    return moment.astimezone(timezone.utc).timestamp()


