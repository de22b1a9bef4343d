"""The shipped dialplan unpacks the FastAGI answer (CC_PLAN) with CUT()/FIELDQTY() as Asterisk does, on the simulator:
a whole plan becomes the CC_* variables and the caller's name in one AGI round trip; a cut, foreign or missing plan
is the queue. Observed on the AMI stream of a session reading every class (the capture manager.conf)."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from callcenter.ami.agi import AgiRequest, RouteDecision
from callcenter.pbxsim.callmodel import Caller, PhoneAnswer
from tests.pbxsim.conftest import Factory, Service
from tests.pbxsim.harness import CAPTURE_MANAGER_CONF, RawAmiClient, frames_of

ANSWER_2S = PhoneAnswer(action="answer", delay_s=2.0)
# every character a display-safe name may hold that means something to Asterisk somewhere else
AWKWARD_NAME = "Doe, John (VIP) = 1? $[x] ${y} 'a'"


async def watching(svc: Service) -> RawAmiClient:
    client = RawAmiClient()
    await client.connect(svc.sim.ami_port)
    await client.wait_for(b"Message: Authentication accepted\r\n")
    return client


def events(client: RawAmiClient) -> list[dict[str, str]]:
    return [dict(f) for f in frames_of(bytes(client.data)) if any(k == "Event" for k, _ in f)]


def cc_varsets(client: RawAmiClient) -> dict[str, str]:
    """The last value of every CC_* channel variable, as VarSet announced it."""
    return {e["Variable"]: e["Value"] for e in events(client)
            if e["Event"] == "VarSet" and e["Variable"].startswith("CC_") and e.get("Channel") != "none"}


async def test_a_whole_plan_becomes_the_variables_and_the_callers_name_in_one_round_trip(service: Factory) -> None:
    async def decide(request: AgiRequest) -> RouteDecision:
        decision = RouteDecision.for_dial(["PJSIP/1002"], ring_timeout_s=15, reason="owner", overflow_queue="sales")
        return dataclasses.replace(decision, caller_name=AWKWARD_NAME)

    svc = await service(decide=decide, manager_conf=CAPTURE_MANAGER_CONF)
    client = await watching(svc)
    svc.sim.pbx.phones["1002"].scripted.append(ANSWER_2S)
    svc.sim.call(Caller(number="+12125550001", did="8001", talk_s=5.0))
    (call,) = await svc.wait_ended()

    assert call.answered_by == "1002"
    seen = events(client)
    assert cc_varsets(client) | {"CC_PLAN": "-"} == {
        "CC_PLAN": "-",
        "CC_ATTEMPT": "1",
        "CC_ACTION": "dial",
        "CC_TARGET": "PJSIP/1002",
        "CC_RING_TIMEOUT_S": "15",
        "CC_DIAL_OPTS": "",
        "CC_QUEUE": "sales",
        "CC_QUEUE_TIMEOUT_S": "60",
        "CC_MAILBOX": "",
        "CC_REASON": "owner",
    }
    # one AGI command per answer
    assert [e["Command"] for e in seen if e["Event"] == "AGIExecStart"] == [
        f'SET VARIABLE CC_PLAN "inbound1|dial|PJSIP/1002|15||sales|60||owner|{AWKWARD_NAME}"'
    ]
    # Set(CALLERID(name)=...) takes the name whole: commas, '=', '(' and '$[' stay in it
    assert [e["CallerIDName"] for e in seen if e["Event"] == "NewCallerid"] == [AWKWARD_NAME]
    (dial,) = [e for e in seen if e["Event"] == "Newexten" and e["Application"] == "Dial"]
    assert dial["AppData"] == "PJSIP/1002,15,t"


class ScriptedAgi:
    """A FastAGI peer that answers every request with the given command lines (none: closes at once)."""

    def __init__(self, *commands: str) -> None:
        self.commands = commands
        self.requests = 0
        self.server: asyncio.Server | None = None

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.requests += 1
        while (await reader.readline()).strip():
            pass
        for command in self.commands:
            writer.write(command.encode() + b"\n")
            await writer.drain()
            await reader.readline()  # 200 result=1
        writer.close()

    @asynccontextmanager
    async def serving(self) -> AsyncIterator[int]:
        self.server = await asyncio.start_server(self._session, "127.0.0.1", 0)
        try:
            yield self.server.sockets[0].getsockname()[1]
        finally:
            self.server.close()
            await self.server.wait_closed()


@pytest.mark.parametrize(
    "commands",
    [
        pytest.param(('SET VARIABLE CC_PLAN "inbound1|dial|PJSIP/1002"',), id="cut-short"),
        pytest.param(('SET VARIABLE CC_PLAN "inbound1|dial|PJSIP/1002|15||sales|60||owner||extra"',), id="too-long"),
        pytest.param(('SET VARIABLE CC_PLAN "inbound9|dial|PJSIP/1002|15||sales|60||owner|"',), id="foreign-tag"),
        pytest.param(('SET VARIABLE CC_ACTION "dial"', 'SET VARIABLE CC_TARGET "PJSIP/1002"'), id="old-style"),
        pytest.param((), id="no-answer"),
    ],
)
async def test_a_plan_the_dialplan_cannot_trust_is_the_queue(service: Factory, commands: tuple[str, ...]) -> None:
    svc = await service(manager_conf=CAPTURE_MANAGER_CONF)  # its FastAGI server is never asked: ScriptedAgi is
    peer = ScriptedAgi(*commands)
    async with peer.serving() as port:
        svc.sim.set_agi_address("127.0.0.1", port)
        client = await watching(svc)
        svc.sim.call(Caller(number="+12125550001", did="8001", patience_s=5.0))
        (call,) = await svc.wait_ended()

    assert peer.requests == 1
    variables = cc_varsets(client)
    assert variables["CC_REASON"] == "agi-SUCCESS->queue"
    assert variables["CC_QUEUE"] == "support"  # the dialplan's CC_FALLBACK_QUEUE
    # nothing of the untrusted plan was unpacked (the old-style answer set CC_ACTION itself: the plan decides)
    assert "CC_TARGET" not in variables or commands[0].startswith("SET VARIABLE CC_ACTION")
    assert not [e for e in events(client) if e["Event"] == "DialBegin"]
    assert call.queue == "support" and call.answered_by is None
