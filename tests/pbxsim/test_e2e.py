"""The service's real pieces (AmiConnection, LiveCalls, FastAgiServer) drive the simulator over real sockets; the
simulator runs the project's own dialplans/extensions.conf. Assertions are on the domain events the service
publishes (CallEnded, CallAnswered, AgentStateChanged ...), waited for with bounded timeouts, never slept for."""

from __future__ import annotations

import wave
from collections import Counter
from pathlib import Path

import pytest

from callcenter.ami import actions
from callcenter.ami.agi import AgiRequest, RouteDecision
from callcenter.events import (
    AgentState,
    AgentStateChanged,
    CallAnswered,
    CallDirection,
    CallOutcome,
    CallTransferred,
    HungUpBy,
)
from callcenter.pbxsim.callmodel import AgentPhone, Caller, HangupSide, PhoneAnswer
from callcenter.pbxsim.traffic import CallerMix, Traffic
from tests.pbxsim.conftest import Factory, dial_plan
from tests.pbxsim.harness import CAPTURE_MANAGER_CONF

ANSWER_2S = PhoneAnswer(action="answer", delay_s=2.0)
IGNORE = PhoneAnswer(action="ignore")
BUSY = PhoneAnswer(action="busy")


def caller(n: int = 1, **kw: object) -> Caller:
    return Caller(number=f"+1212555{n:04d}", did="8001", **kw)  # type: ignore[arg-type]


# -- direct Dial from FastAGI ---------------------------------------------------------------------------------------


async def test_inbound_routed_by_fastagi_and_answered(service: Factory) -> None:
    requests: list[AgiRequest] = []
    route = dial_plan("PJSIP/1002")

    async def decide(request: AgiRequest) -> RouteDecision:
        requests.append(request)
        return await route(request)

    svc = await service(decide=decide)
    svc.sim.pbx.phones["1002"].scripted.append(ANSWER_2S)
    svc.sim.call(caller(talk_s=42.0))
    (call,) = await svc.wait_ended()
    assert (call.direction, call.outcome, call.answered_by, call.agents_rung) == (
        CallDirection.INBOUND, CallOutcome.ANSWERED, "1002", ("1002",))
    assert (call.caller, call.did, call.hung_up_by, call.hangup_cause) == ("+12125550001", "8001", HungUpBy.CUSTOMER, 16)
    assert call.wait_s == pytest.approx(2.0, abs=0.01)
    assert call.talk_s == pytest.approx(42.0, abs=0.01)
    # the dialplan passes attempt, last DIALSTATUS and the Linkedid (agi_arg_3) as the contract says
    (request,) = requests
    assert (request.attempt, request.last_dial_status, request.linkedid, request.did) == (1, None, call.call_id, "8001")
    # MixMonitor r()/t(): mix + customer + agent files, 42 s of audio
    await svc.sim.pbx.recorder.flush()
    assert [Path(p).name for p in call.recordings] == [f"{call.call_id}.wav", f"{call.call_id}-rx.wav",
                                                        f"{call.call_id}-tx.wav"]
    for path in call.recordings:
        with wave.open(path) as w:
            assert w.getnframes() == pytest.approx(42 * 8000, abs=80)


async def test_no_answer_then_fallback_to_next_agent(service: Factory) -> None:
    requests: list[AgiRequest] = []
    route = dial_plan("PJSIP/1003", "PJSIP/1002", ring_timeout_s=8)

    async def decide(request: AgiRequest) -> RouteDecision:
        requests.append(request)
        return await route(request)

    svc = await service(decide=decide)
    svc.sim.pbx.phones["1003"].scripted.append(IGNORE)
    svc.sim.pbx.phones["1002"].scripted.append(ANSWER_2S)
    svc.sim.call(caller(talk_s=12.0, hangup_side=HangupSide.AGENT))
    (call,) = await svc.wait_ended()
    assert [(r.attempt, r.last_dial_status) for r in requests] == [(1, None), (2, "NOANSWER")]
    assert [(a.agent, a.result) for a in call.attempts] == [("1003", "NOANSWER"), ("1002", "ANSWER")]
    assert (call.outcome, call.answered_by, call.agents_rung, call.hung_up_by) == (
        CallOutcome.ANSWERED, "1002", ("1003", "1002"), HungUpBy.AGENT)


async def test_busy_then_fallback(service: Factory) -> None:
    svc = await service(decide=dial_plan("PJSIP/1004", "PJSIP/1002"))
    svc.sim.pbx.phones["1004"].scripted.append(BUSY)
    svc.sim.pbx.phones["1002"].scripted.append(ANSWER_2S)
    svc.sim.call(caller(talk_s=8.0))
    (call,) = await svc.wait_ended()
    assert [(a.agent, a.result) for a in call.attempts] == [("1004", "BUSY"), ("1002", "ANSWER")]
    assert (call.outcome, call.answered_by) == (CallOutcome.ANSWERED, "1002")


async def test_unavailable_agent_creates_no_channel_and_falls_back(service: Factory) -> None:
    phones = (AgentPhone(extension="1002"), AgentPhone(extension="1007", registered=False, static_contact=False))
    svc = await service(phones=phones, decide=dial_plan("PJSIP/1007", "PJSIP/1002"))
    svc.sim.pbx.phones["1002"].scripted.append(ANSWER_2S)
    svc.sim.call(caller(talk_s=8.0))
    (call,) = await svc.wait_ended()
    assert [(a.agent, a.result) for a in call.attempts] == [("1007", "CHANUNAVAIL"), ("1002", "ANSWER")]
    assert call.agents_rung == ("1002",)
    assert not any(ch.endpoint == "1007" for ch in svc.sim.pbx.channels.values())


async def test_caller_abandons_while_agent_rings(service: Factory) -> None:
    svc = await service(decide=dial_plan("PJSIP/1002", ring_timeout_s=20))
    svc.sim.pbx.phones["1002"].scripted.append(IGNORE)
    svc.sim.call(caller(patience_s=5.0))
    (call,) = await svc.wait_ended()
    assert (call.outcome, call.answered_by, call.agents_rung, call.hung_up_by, call.hangup_cause) == (
        CallOutcome.MISSED, None, ("1002",), HungUpBy.CUSTOMER, 127)
    assert [(a.agent, a.result) for a in call.attempts] == [("1002", "CANCEL")]


async def test_all_attempts_fail_then_overflow_queue_answers(service: Factory) -> None:
    """CC_MAX_ATTEMPTS=3 dials, then [cc-inbound] overflows to the queue FastAGI named."""
    svc = await service(decide=dial_plan("PJSIP/1002", "PJSIP/1003", "PJSIP/1002", ring_timeout_s=5))
    await svc.send(actions.queue_add(queue="sales", interface="PJSIP/1004", member_name="1004",
                                     state_interface="PJSIP/1004"))
    for ext in ("1002", "1003"):
        svc.sim.pbx.phones[ext].scripted.extend([IGNORE, IGNORE])
    svc.sim.pbx.phones["1004"].scripted.append(ANSWER_2S)
    svc.sim.call(caller(talk_s=20.0))
    (call,) = await svc.wait_ended()
    assert [a.result for a in call.attempts] == ["NOANSWER", "NOANSWER", "NOANSWER", "ANSWER"]
    assert (call.outcome, call.answered_by, call.queue) == (CallOutcome.ANSWERED, "1004", "sales")


# -- queues ---------------------------------------------------------------------------------------------------------


async def test_queue_answered_by_member(service: Factory) -> None:
    svc = await service()  # no decider: the FastAGI server's fail-open queue ("sales") takes every call
    await svc.send(actions.queue_add(queue="sales", interface="PJSIP/1002", member_name="1002",
                                     state_interface="PJSIP/1002"))
    svc.sim.pbx.phones["1002"].scripted.append(PhoneAnswer(action="answer", delay_s=3.0))
    svc.sim.call(caller(talk_s=13.0))
    (call,) = await svc.wait_ended()
    assert (call.outcome, call.answered_by, call.queue, call.agents_rung) == (
        CallOutcome.ANSWERED, "1002", "sales", ("1002",))
    answered = svc.of(CallAnswered)
    assert [(a.agent, a.queue) for a in answered] == [("1002", "sales")]


async def test_queue_abandoned_while_member_paused(service: Factory) -> None:
    svc = await service()
    await svc.send(actions.queue_add(queue="sales", interface="PJSIP/1002", member_name="1002",
                                     state_interface="PJSIP/1002", paused=True, reason="break"))
    svc.sim.call(caller(patience_s=8.0))
    (call,) = await svc.wait_ended()
    assert (call.outcome, call.answered_by, call.agents_rung, call.hung_up_by) == (
        CallOutcome.ABANDONED, None, (), HungUpBy.CUSTOMER)


async def test_queue_ring_no_answer_then_next_member(service: Factory) -> None:
    svc = await service(decide=lambda r: _queue("support"))
    for ext in ("1003", "1002"):  # support is linear: the order members were added
        await svc.send(actions.queue_add(queue="support", interface=f"PJSIP/{ext}", member_name=ext,
                                         state_interface=f"PJSIP/{ext}"))
    svc.sim.pbx.phones["1003"].scripted.append(IGNORE)
    svc.sim.pbx.phones["1002"].scripted.append(ANSWER_2S)
    svc.sim.call(caller(talk_s=13.0))
    (call,) = await svc.wait_ended()
    assert (call.outcome, call.answered_by, call.agents_rung) == (CallOutcome.ANSWERED, "1002", ("1003", "1002"))
    assert [(a.agent, a.result) for a in call.attempts] == [("1003", "NOANSWER"), ("1002", "ANSWER")]


async def _queue(name: str, timeout_s: int = 60) -> RouteDecision:
    return RouteDecision.for_queue(name, reason="test", queue_timeout_s=timeout_s)


async def test_queue_timeout_is_missed_not_abandoned(service: Factory) -> None:
    svc = await service(decide=lambda r: _queue("sales", timeout_s=8))
    await svc.send(actions.queue_add(queue="sales", interface="PJSIP/1002", member_name="1002",
                                     state_interface="PJSIP/1002", paused=True, reason="meeting"))
    svc.sim.call(caller())
    (call,) = await svc.wait_ended()
    assert (call.outcome, call.hung_up_by, call.queue) == (CallOutcome.MISSED, HungUpBy.SYSTEM, "sales")


async def test_agent_pause_cycle(service: Factory) -> None:
    svc = await service()
    await svc.send(actions.queue_add(queue="sales", interface="PJSIP/1003", member_name="1003",
                                     state_interface="PJSIP/1003"))
    await svc.send(actions.queue_pause(interface="PJSIP/1003", paused=True, queue="sales", reason="lunch"))
    await svc.wait(lambda: any(e.agent == "1003" and e.state is AgentState.PAUSED for e in svc.of(AgentStateChanged)),
                   what="1003 paused")
    await svc.send(actions.queue_pause(interface="PJSIP/1003", paused=False, queue="sales"))
    await svc.wait(lambda: svc.of(AgentStateChanged)[-1].state is AgentState.AVAILABLE, what="1003 available")
    states = [(e.state, e.reason) for e in svc.of(AgentStateChanged) if e.agent == "1003"]
    assert states[-2:] == [(AgentState.PAUSED, "lunch"), (AgentState.AVAILABLE, None)]
    status = await svc.send(actions.queue_status(queue="sales"))
    members = [m for m in status if m.get("Event") == "QueueMember"]
    assert [(m["Location"], m["Paused"]) for m in members] == [("PJSIP/1003", "0")]


async def test_agent_register_and_unregister(service: Factory) -> None:
    phones = (AgentPhone(extension="1002"), AgentPhone(extension="1001", registered=False, static_contact=False))
    svc = await service(phones=phones)
    svc.sim.pbx.register("1001")
    await svc.wait(lambda: any(e.agent == "1001" and e.state is AgentState.AVAILABLE for e in svc.of(AgentStateChanged)),
                   what="1001 available")
    svc.sim.pbx.unregister("1001")
    await svc.wait(lambda: svc.of(AgentStateChanged)[-1].state is AgentState.OFFLINE, what="1001 offline")


# -- Originate -----------------------------------------------------------------------------------------------------


def _customer(action: str, talk_s: float = 15.0) -> dict[str, Caller]:
    return {"5550001": Caller(number="5550001", originate_answer=action, answers_after_s=2.0, talk_s=talk_s)}


def _originate(timeout_ms: int = 30_000) -> dict[str, object]:
    return actions.originate(channel="PJSIP/5550001@trunk", context="cc-agents", exten="1002",
                             caller_id='"Acme Sales" <8005550100>', timeout_ms=timeout_ms,
                             variables={"CC_CAMPAIGN": 42}, action_id="orig-1")


async def test_originate_answered_then_agent(service: Factory) -> None:
    svc = await service(customers=_customer("answer"))
    svc.sim.pbx.phones["1002"].scripted.append(ANSWER_2S)
    reply = await svc.send(_originate())
    assert reply["Message"] == "Originate successfully queued"
    (call,) = await svc.wait_ended()
    assert (call.direction, call.outcome, call.answered_by, call.customer) == (
        CallDirection.OUTBOUND, CallOutcome.ANSWERED, "1002", "5550001")
    assert (call.originate_action_id, call.campaign, call.caller) == ("orig-1", "42", "8005550100")


async def test_originate_no_answer(service: Factory) -> None:
    svc = await service(customers=_customer("ignore"))
    await svc.send(_originate(timeout_ms=10_000))
    (call,) = await svc.wait_ended()
    assert (call.outcome, call.hangup_cause, call.originate_action_id) == (CallOutcome.MISSED, 19, "orig-1")


async def test_originate_busy(service: Factory) -> None:
    svc = await service(customers=_customer("busy"))
    await svc.send(_originate())
    (call,) = await svc.wait_ended()
    assert (call.outcome, call.hangup_cause, call.originate_action_id) == (CallOutcome.BUSY, 17, "orig-1")


async def test_agent_first_originate_then_customer(service: Factory) -> None:
    """The dialer's agent-first call without Local channels: Originate PJSIP/1002 into [cc-dial-customer]."""
    svc = await service(customers=_customer("answer", talk_s=10.0))
    svc.sim.pbx.phones["1002"].scripted.append(ANSWER_2S)
    await svc.send(actions.originate(channel="PJSIP/1002", context="cc-dial-customer", exten="5550001",
                                     caller_id='"Acme Sales" <8005550100>', variables={"CC_CAMPAIGN": 7},
                                     action_id="orig-agent-first"))
    (call,) = await svc.wait_ended()
    assert (call.direction, call.outcome, call.answered_by, call.customer, call.campaign) == (
        CallDirection.OUTBOUND, CallOutcome.ANSWERED, "1002", "5550001", "7")
    assert call.talk_s == pytest.approx(10.0, abs=0.01)


# -- AMI Redirect (blind transfer) and Hangup, on a clock the test moves ------------------------------------------------------


async def test_blind_transfer_by_redirect(service: Factory) -> None:
    # the service sends no Redirect (it transfers with BlindTransfer/Atxfer): here an operator's tool with the captures'
    # user (write = all) sends it, as the capture tooling did
    svc = await service(decide=dial_plan("PJSIP/1002"), auto=False, manager_conf=CAPTURE_MANAGER_CONF)
    svc.sim.pbx.phones["1002"].scripted.append(ANSWER_2S)
    svc.sim.pbx.phones["1003"].scripted.append(ANSWER_2S)
    svc.sim.call(caller(talk_s=18.0))
    await svc.clock.advance(3.0)
    await svc.wait(lambda: bool(svc.of(CallAnswered)), what="CallAnswered")
    trunk = next(ch.name for ch in svc.sim.pbx.live_channels() if ch.endpoint == "trunk")
    reply = await svc.send(actions.redirect(channel=trunk, context="cc-agents", exten="1003"))
    assert reply["Message"] == "Redirect successful"
    await svc.clock.advance(30.0)
    (call,) = await svc.wait_ended()
    assert [(t.from_agent, t.to_agent) for t in svc.of(CallTransferred)] == [("1002", "1003")]
    assert (call.outcome, call.answered_by, call.agents_talked) == (CallOutcome.ANSWERED, "1002", ("1002", "1003"))
    assert call.talk_s == pytest.approx(18.0, abs=0.01)  # the conversation goes on through the transfer


async def test_supervisor_hangs_up_a_call(service: Factory) -> None:
    # the service sends no Hangup: an operator's tool with the captures' user (write = all) does
    svc = await service(decide=dial_plan("PJSIP/1002"), auto=False, manager_conf=CAPTURE_MANAGER_CONF)
    svc.sim.pbx.phones["1002"].scripted.append(ANSWER_2S)
    svc.sim.call(caller(talk_s=600.0))
    await svc.clock.advance(5.0)
    await svc.wait(lambda: bool(svc.of(CallAnswered)), what="CallAnswered")
    trunk = next(ch.name for ch in svc.sim.pbx.live_channels() if ch.endpoint == "trunk")
    assert (await svc.send(actions.hangup(channel=trunk)))["Message"] == "Channel Hungup"
    await svc.clock.advance(1.0)
    (call,) = await svc.wait_ended()
    assert (call.outcome, call.answered_by, call.hung_up_by, call.hangup_cause) == (
        CallOutcome.ANSWERED, "1002", HungUpBy.SYSTEM, 16)
    assert svc.sim.pbx.live_channels() == []


# -- the connection breaks ------------------------------------------------------------------------------------------


async def test_dropped_connection_loses_and_doubles_nothing(service: Factory) -> None:
    """Call A ends while the AMI link is down, call B spans the outage: after the reconnect and resync each has
    exactly one CallEnded (A closed from the resync snapshot, B observed)."""
    svc = await service(decide=dial_plan("PJSIP/1002", "PJSIP/1003"), auto=False,
                        phones=tuple(AgentPhone(extension=e) for e in ("1002", "1003")))
    pbx = svc.sim.pbx
    pbx.phones["1002"].scripted.append(ANSWER_2S)
    pbx.phones["1003"].scripted.append(ANSWER_2S)
    svc.sim.call(caller(1, talk_s=10.0))
    await svc.clock.advance(1.0)
    svc.sim.call(caller(2, talk_s=60.0))  # 1002 is on A: busy, then 1003 answers
    await svc.clock.advance(5.0)
    await svc.wait(lambda: len(svc.of(CallAnswered)) == 2, what="A and B answered")
    svc.sim.server.refuse_logins = True
    svc.sim.server.drop_connections()
    await svc.conn.wait_until(lambda c: c.state.value == "auth_failed", 10.0)
    await svc.clock.advance(10.0)  # A ends (10 s of talk) while nobody listens
    assert {ch.endpoint for ch in pbx.live_channels()} == {"trunk", "1003"}  # B is still talking
    svc.sim.server.refuse_logins = False
    await svc.conn.wait_until(lambda c: c.state.value == "live", 10.0)
    (a,) = await svc.wait_ended(1)
    await svc.clock.advance(120.0)
    ended = await svc.wait_ended(2)
    assert Counter(e.call_id for e in ended) == {a.call_id: 1, ended[1].call_id: 1}
    b = ended[1]
    assert (a.caller, a.outcome, a.answered_by, a.end_estimated) == ("+12125550001", CallOutcome.ANSWERED, "1002", True)
    assert (b.caller, b.outcome, b.answered_by, b.end_estimated) == ("+12125550002", CallOutcome.ANSWERED, "1003",
                                                                     False)
    assert [x.result for x in b.attempts] == ["BUSY", "ANSWER"]
    await svc.clock.advance(5.0)
    assert len(svc.ended) == 2


async def test_asterisk_restart_loses_and_doubles_nothing(service: Factory) -> None:
    """A call is up when Asterisk restarts: Shutdown closes it once; after FullyBooted (Uptime 0) a new call,
    whose Uniqueid counter restarted at 0, is a different call with its own CallEnded."""
    svc = await service(decide=dial_plan("PJSIP/1002"), auto=False)
    pbx = svc.sim.pbx
    pbx.phones["1002"].scripted.extend([ANSWER_2S, ANSWER_2S])
    svc.sim.call(caller(1, talk_s=60.0))
    await svc.clock.advance(3.0)
    await svc.wait(lambda: len(svc.of(CallAnswered)) == 1, what="first call answered")
    first_id = svc.of(CallAnswered)[0].call_id
    sessions = svc.conn.stats.sessions
    await svc.sim.server.restart(down_s=0.05)
    await svc.wait(lambda: len(svc.ended) == 1, what="CallEnded at Shutdown")
    await svc.conn.wait_until(lambda c: c.stats.sessions > sessions and c.state.value == "live", 10.0)
    svc.sim.call(caller(2, talk_s=5.0))
    await svc.clock.advance(30.0)
    ended = await svc.wait_ended(2)
    assert [e.call_id for e in ended][0] == first_id
    assert ended[1].call_id.endswith(".0") and ended[1].call_id != first_id
    assert (ended[0].outcome, ended[1].outcome) == (CallOutcome.ANSWERED, CallOutcome.ANSWERED)
    assert len({e.call_id for e in ended}) == 2
    await svc.clock.advance(5.0)
    assert len(svc.ended) == 2


# -- traffic ---------------------------------------------------------------------------------------------------------


async def test_poisson_traffic_every_call_ends_once_and_agrees_with_the_simulator(service: Factory) -> None:
    """40 seeded calls into a queue of three agents: the service's view of every call equals the simulator's."""
    phones = tuple(AgentPhone(extension=e, answer_probability=0.8, answer_delay_s=(1.0, 5.0))
                   for e in ("1002", "1003", "1004"))
    svc = await service(phones=phones, seed=11, auto=False)
    for ext in ("1002", "1003", "1004"):
        await svc.send(actions.queue_add(queue="sales", interface=f"PJSIP/{ext}", member_name=ext,
                                         state_interface=f"PJSIP/{ext}"))
    traffic = Traffic(pbx=svc.sim.pbx, seed=5, mix=CallerMix(patience_s=(10.0, 60.0), talk_s=(20.0, 90.0)))
    svc.clock.auto = True
    arrivals = svc.sim.clock.spawn(traffic.poisson(rate_per_s=1 / 15, duration_s=None), name="traffic")
    await svc.wait(lambda: traffic.offered >= 40, what="40 calls offered", timeout_s=30)
    svc.clock.auto = False  # freeze time, stop new arrivals, then finish the calls in progress
    arrivals.cancel()
    for _ in range(300):
        if not svc.sim.pbx.live_channels():
            break
        await svc.clock.advance(1.0)
    finished = [r for r in svc.sim.pbx.calls.values() if r.ended_s is not None]
    ended = await svc.wait_ended(len(finished))
    assert len(ended) == len({e.call_id for e in ended}) == len(finished) >= 40
    by_id = {e.call_id: e for e in ended}
    for record in finished:
        call = by_id[record.linkedid]
        assert call.answered_by == record.answered_by
        expected = CallOutcome.ANSWERED if record.answered_by else CallOutcome.ABANDONED
        assert call.outcome is expected, (record, call)
    outcomes = Counter(e.outcome for e in ended)
    assert outcomes[CallOutcome.ANSWERED] > 0 and outcomes[CallOutcome.ABANDONED] > 0
