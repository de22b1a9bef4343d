"""A supervisor barges in on a live call, end to end: the whole service against the simulator over real sockets.

The customer's call is routed to their manager 1002 and answered; the team's supervisor (desk phone 1001) asks the
API to barge in. Checked on the simulator's side: the Originate rang 1001 and ran ChanSpy on 1002's channel of that
call with the barge options. Checked on the service's side: while listening, 1001 is a listener and the live model
still shows one call with one agent; when the call ends, the CRM has exactly one activity for it and nothing for
the supervisor's channel.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from callcenter.ami.actions import CHANSPY_OPTIONS
from callcenter.ami.channel_vars import SpyMode
from callcenter.app_keys import DATABASE, LIVE
from callcenter.automation.facts import CallLogged
from callcenter.events import CallAnswered, CallOutcome, CallStarted
from callcenter.pbxsim.callmodel import PhoneAnswer
from crm_core.access import Principal
from crm_core.models import Activity, AuditEntry, Lead, Role, User
from crm_core.schemas import UserIn
from crm_core.users import create_user
from tests.floor import ANSWER, Floor, running_floor


class _Poking:
    """The live model's ingest, waking ``Floor.wait`` after every AMI message it applies (listeners are live-model
    state, not bus events)."""

    def __init__(self, inner: Any, changed: asyncio.Event) -> None:
        self._inner, self._changed = inner, changed

    def feed_headers(self, message: Any) -> None:
        self._inner.feed_headers(message)
        self._changed.set()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


async def _count(floor: Floor, model: Any, *where: Any) -> int:
    async with floor.app[DATABASE].session() as s:
        return int(await s.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def test_a_supervisor_barges_in_and_the_crm_sees_one_call(tmp_path: Path) -> None:
    async with running_floor(tmp_path, extra_phones=("1001",)) as floor:
        await floor.all_available()
        live = floor.app[LIVE]
        live.ingest = _Poking(live.ingest, floor.changed)
        async with floor.app[DATABASE].session() as s:
            team_id = await s.scalar(select(User.team_id).where(User.extension == "1002"))
            sup = await create_user(s, Principal.system(), UserIn(name="Sue Supervisor", role=Role.SUPERVISOR,
                                                                  team_id=team_id, extension="1001"))
        activities_before, leads_before = await _count(floor, Activity), await _count(floor, Lead)
        clock = floor.sim.clock
        clock.auto = False  # the call must still be going when the supervisor joins: time moves when we say
        pbx = floor.sim.pbx
        pbx.phones["1002"].scripted.append(ANSWER)
        pbx.phones["1001"].scripted.append(PhoneAnswer(action="answer", delay_s=1.0))
        sim_events: list[tuple[str, bytes]] = []
        pbx.bus.listen(lambda name, data: sim_events.append((name, data)))

        number = floor.customer_of("1002")
        await floor.call(number, talk_s=60.0)
        await clock.advance(3.0)
        (answered,) = await floor.wait(
            lambda: [e for e in floor.seen if isinstance(e, CallAnswered) and e.agent == "1002"], "1002 answering"
        )
        call_id = answered.call_id
        agent_channel = next(c.name for c in pbx.live_channels() if c.endpoint == "1002")

        async with floor.http_as(sup.id) as http:
            async with http.post(f"/api/v1/calls/{call_id}/spy", json={"mode": "barge"}) as resp:
                assert resp.status == 202, await resp.text()
                placed = await resp.json()
            assert (placed["agent"], placed["spied_channel"], placed["supervisor_extension"]) == (
                "1002", agent_channel, "1001")
            await clock.advance(2.0)  # 1001 rings and answers after 1 s
            (listener,) = await floor.wait(
                lambda: [x for x in live.tracker.listeners() if x.call_id == call_id], "the supervisor listening"
            )
            assert (listener.supervisor, listener.mode, listener.spied_channel) == ("1001", "barge", agent_channel)
            # The simulator ran exactly what was asked: 1001 into ChanSpy on the agent's leg, barge options.
            (session,) = pbx.spy_log
            assert (session.spyer.startswith("PJSIP/1001-"), session.spyee, session.options) == (
                True, agent_channel, CHANSPY_OPTIONS[SpyMode.BARGE])
            assert floor.sim.server.stats.actions.get("Originate") == 1
            responses = [d for n, d in sim_events if n == "OriginateResponse"]
            assert len(responses) == 1 and f"ActionID: {placed['action_id']}\r\n".encode() in responses[0]
            assert b"Response: Success\r\n" in responses[0]
            # The live model: still one call, one agent on it; the supervisor's channel is no call.
            (call,) = live.tracker.open_calls()
            assert (call.call_id, call.agents_talked, call.agents_rung) == (call_id, ["1002"], ["1002"])
            async with http.get("/api/v1/calls/live") as resp:
                assert [c["call_id"] for c in await resp.json()] == [call_id]

        await clock.advance(70.0)  # the customer hangs up after 60 s of talk; ChanSpy ends with the agent's leg
        (ended,) = await floor.wait(lambda: floor.ended(number), "the call to end")
        await floor.wait(lambda: not live.tracker.listeners(), "the supervisor's phone to hang up")
        await floor.wait(
            lambda: [e for e in floor.seen if isinstance(e, CallLogged) and e.call_id == call_id], "the CRM write"
        )
        assert session.ended_s is not None and pbx.live_channels() == []
        assert (ended.outcome, ended.answered_by, ended.agents_talked) == (CallOutcome.ANSWERED, "1002", ("1002",))
        assert [e.call_id for e in floor.seen if isinstance(e, CallStarted)] == [call_id]
        assert live.tracker.stats.listeners == 1
        # One activity for the call, none for the supervisor's channel, no lead.
        assert await _count(floor, Activity) == activities_before + 1
        assert await _count(floor, Activity, Activity.call_id == call_id) == 1
        assert await _count(floor, Activity, Activity.call_id == listener.linkedid) == 0
        assert await _count(floor, Lead) == leads_before
        assert await _count(floor, AuditEntry, AuditEntry.entity == "call_supervision",
                            AuditEntry.actor_id == sup.id, AuditEntry.action == "barge") == 1
