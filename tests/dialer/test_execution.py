"""Customer-first dialer calls end to end over real sockets: the dialer's Originate (callcenter.dialer.originate) and
the campaign FastAGI route (callcenter.dialer.agent_agi) against the simulator running the shipped [cc-campaign], with
callees from pbxsim.callees. Every wait is on an event with a bound, never a sleep."""

from __future__ import annotations

import asyncio
import itertools
import shutil
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from callcenter.ami.agi import FastAgiServer
from callcenter.ami.channel_vars import AGI_ROUTE_CAMPAIGN, DEFAULT_INFO_MESSAGE, ChannelVar, Context
from callcenter.ami.connection import AmiConnection, Received
from callcenter.calls.live import LiveCalls
from callcenter.calls.tracker import CallTracker
from callcenter.events import CallDirection, CallEnded, CallOutcome, InProcessBus
from callcenter.ami.events import DialerUserEvent, parse_event, parse_event_full
from callcenter.dialer.agent_agi import CampaignAgentRoute, NotOurAttempt
from callcenter.dialer.originate import (
    AttemptDial,
    AttemptFollower,
    AttemptResult,
    InvalidAttempt,
    MachineAction,
    originate_action,
)
from callcenter.dialer.outcomes import AttemptOutcome
from callcenter.pbxsim.callees import CalleeModel, CalleeProfile
from callcenter.pbxsim.callmodel import AgentPhone, PhoneAnswer
from callcenter.pbxsim.clock import VirtualClock
from callcenter.pbxsim.simulator import DIALPLANS, Simulator, SimulatorSettings
from tests.pbxsim.harness import frames_of

WAIT_S = 15.0  # bound on every wait; the AGI budget (2 s of real time) is the longest thing a test waits for
CAMPAIGN = 42
NUMBER = "+442071234567"
_ids = itertools.count(1001)


class Port:
    """The campaign runner's side of the AGI route, scripted per test."""

    def __init__(self) -> None:
        self.agents: dict[int, str | None] = {}  # attempt id -> extension (None: nobody free)
        self.stall = False  # never answer (the route's budget must cut it off)
        self.asked: list[tuple[int, int]] = []
        self.released = asyncio.Event()

    async def agent_for(self, campaign_id: int, attempt_id: int) -> str | None:
        self.asked.append((campaign_id, attempt_id))
        if self.stall:
            await self.released.wait()
        if attempt_id not in self.agents:
            raise NotOurAttempt(f"attempt {attempt_id} is not dialling in campaign {campaign_id}")
        return self.agents[attempt_id]


@dataclass
class Rig:
    sim: Simulator
    callees: CalleeModel
    port: Port
    route: CampaignAgentRoute
    agi: FastAgiServer
    conn: AmiConnection
    follower: AttemptFollower
    # every event the simulated Asterisk raised, as headers: an operator's view of the dialplan (Newexten of every
    # priority ...), which the shipped manager.conf's eventfilter keeps off the service's own session
    raw: list[dict[str, str]] = field(default_factory=list)
    ended: list[CallEnded] = field(default_factory=list)  # the live model's CallEnded (what the CRM bridge writes)
    consumer: asyncio.Task[None] | None = None

    def attempt(self, number: str = NUMBER, *, agent: str | None = "1002", **kw: Any) -> AttemptDial:
        attempt_id = next(_ids)
        self.port.agents[attempt_id] = agent
        return AttemptDial(attempt_id=attempt_id, campaign_id=CAMPAIGN, action_id=f"dial-{attempt_id}",
                           number_e164=number, caller_id_e164="+442070000000", caller_id_name="Acme Collections",
                           **{"ring_s": 20.0, **kw})

    async def run(self, dial: AttemptDial) -> AttemptResult:
        future = await self.follower.dial(dial)
        return await asyncio.wait_for(future, WAIT_S)

    def apps(self, uniqueid: str | None) -> list[tuple[str, str]]:
        """(application, data) of every priority the callee's channel ran, from the Newexten events."""
        out = []
        for headers in self.raw:
            if headers.get("Event") == "Newexten" and headers.get("Uniqueid") == uniqueid:
                event = parse_event_full(headers)
                out.append((event.application, event.app_data))  # type: ignore[union-attr]
        return out


Factory = Callable[..., Awaitable[Rig]]


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Factory]:
    started: list[Rig] = []

    async def factory(*, dialplan: Path = DIALPLANS / "extensions.conf", manager_conf: Path = DIALPLANS / "manager.conf",
                      budget_ms: int = 2000, sounds: frozenset[str] | None = None) -> Rig:
        callees = CalleeModel(seed=7, default=CalleeProfile(answer_after_s=(2.0, 4.0), talk_s=(20.0, 40.0),
                                                            silence_patience_s=(6.0, 8.0)))
        sim = Simulator(
            settings=SimulatorSettings(dialplan=dialplan, manager_conf=manager_conf, monitor_dir=tmp_path / "monitor",
                                       record_audio=False, sounds=sounds,
                                       phones=(AgentPhone(extension="1002"), AgentPhone(extension="1003"))),
            clock=VirtualClock(start_epoch_s=time.time()),
            callees=callees,
        )
        await sim.start()
        port = Port()
        route = CampaignAgentRoute(port=port, budget_ms=budget_ms)
        agi = FastAgiServer(host="127.0.0.1", port=0, default_queue="sales", queue_timeout_s=60,
                            routes={AGI_ROUTE_CAMPAIGN: route.handler})
        await agi.start()
        sim.set_agi_address("127.0.0.1", agi.port)
        conn = AmiConnection(host="127.0.0.1", port=sim.ami_port, username="callcenter", secret="callcenter",
                             reconnect_min_s=0.02, reconnect_max_s=0.2, ping_interval_s=30)
        r = Rig(sim=sim, callees=callees, port=port, route=route, agi=agi, conn=conn,
                follower=AttemptFollower(send=conn.send))

        bus = InProcessBus()
        live = LiveCalls(tracker=CallTracker(), bus=bus)
        bus.subscribe(lambda event: r.ended.append(event) if isinstance(event, CallEnded) else None)

        def consume(item: Any) -> None:
            # the one ordered stream: the live model and the follower see every item in order
            live(item)
            if isinstance(item, Received):
                r.follower.handle(parse_event(dict(item.message.items())))

        sim.pbx.bus.listen(lambda _name, data: r.raw.extend(dict(f) for f in frames_of(data)))
        conn.start()
        r.consumer = asyncio.create_task(conn.run(consume))
        await conn.wait_live(WAIT_S)
        started.append(r)
        return r

    yield factory
    for r in started:
        r.port.released.set()
        if r.consumer is not None:
            r.consumer.cancel()
            await asyncio.gather(r.consumer, return_exceptions=True)
        await r.conn.stop()
        await r.agi.stop()
        await r.sim.stop()
        assert r.sim.clock.errors == [], r.sim.clock.errors


# -- the Originate ----------------------------------------------------------------------------------------------------


def test_originate_carries_the_attempt() -> None:
    dial = AttemptDial(attempt_id=7, campaign_id=42, action_id="att-7", number_e164="+12125550123",
                       caller_id_e164="+18005550100", caller_id_name="Acme", ring_s=25)
    action = originate_action(dial)
    assert {k: action[k] for k in ("Action", "ActionID", "Channel", "Context", "Exten", "Priority", "CallerID",
                                   "Timeout", "Async")} == {
        "Action": "Originate", "ActionID": "att-7", "Channel": "PJSIP/+12125550123@trunk", "Context": Context.CAMPAIGN,
        "Exten": "+12125550123", "Priority": "1", "CallerID": '"Acme" <+18005550100>', "Timeout": "25000",
        "Async": "true"}
    assert action["Variable"] == [f"{ChannelVar.CAMPAIGN}=42", f"{ChannelVar.DIAL_ATTEMPT}=7",
                                  f"{ChannelVar.AMD_NOTSURE}=human", f"{ChannelVar.MACHINE_ACTION}=hangup",
                                  f"{ChannelVar.INFO_MESSAGE}={DEFAULT_INFO_MESSAGE}"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"number_e164": "020 7123 4567"}, "number_e164"),
        ({"number_e164": "+44207123456\r\nAction: Hangup"}, "number_e164"),
        ({"caller_id_e164": "12"}, "caller_id_e164"),
        ({"caller_id_name": 'Acme" <+1>'}, "caller_id_name"),
        ({"ring_s": 10}, "ring_s"),
        ({"attempt_id": 0}, "attempt_id"),
        ({"action_id": "a b"}, "action_id"),
        ({"info_message": "hello,x"}, "info_message"),
        ({"machine_action": "voicemail"}, "machine_action"),
    ],
)
def test_bad_attempts_are_refused_naming_the_field(change: dict[str, Any], field: str) -> None:
    values: dict[str, Any] = {"attempt_id": 7, "campaign_id": 42, "action_id": "att-7", "number_e164": "+12125550123",
                              "caller_id_e164": "+18005550100", **change}
    with pytest.raises(InvalidAttempt) as caught:
        AttemptDial(**values)
    assert caught.value.field == field


# -- calls through the simulator --------------------------------------------------------------------------------------


async def test_a_person_answers_and_the_free_agent_is_connected(rig: Factory) -> None:
    r = await rig()
    r.callees.set(NUMBER, CalleeProfile.always("human", talk_s=(30.0, 30.0), silence_patience_s=(6.0, 6.0)))
    r.sim.pbx.phones["1002"].scripted.append(PhoneAnswer(action="answer", delay_s=1.0))
    dial = r.attempt()

    result = await r.run(dial)

    assert (result.outcome, result.agent, result.amd_status) == (AttemptOutcome.CONNECTED, "1002", "HUMAN")
    assert result.recognised_by == "DialEnd ANSWER to 1002"
    (call,) = r.ended  # the live model ended the call before the follower's Hangup: same ordered stream
    assert (call.call_id, call.direction, call.outcome, call.answered_by, call.campaign, call.originate_action_id) == (
        result.linkedid, CallDirection.OUTBOUND, CallOutcome.ANSWERED, "1002", str(CAMPAIGN), dial.action_id)
    assert call.talk_s == pytest.approx(30.0, abs=0.01)
    assert r.port.asked == [(CAMPAIGN, dial.attempt_id)]
    assert r.route.answers[-1].agent == "1002" and r.route.answers[-1].reason == "agent"
    apps = [app for app, _ in r.apps(result.uniqueid)]
    assert apps.index("AMD") < apps.index("AGI") < apps.index("Dial") and "Playback" not in apps
    amd = [e for e in map(parse_event, r.raw) if isinstance(e, DialerUserEvent)]
    assert [(e.user_event, e.attempt, e.status) for e in amd] == [("CcDialerAmd", str(dial.attempt_id), "HUMAN")]


async def test_a_machine_is_detected_and_hung_up(rig: Factory) -> None:
    r = await rig()
    r.callees.set(NUMBER, CalleeProfile.always("machine"))

    result = await r.run(r.attempt())

    assert (result.outcome, result.amd_status, result.amd_cause) == (
        AttemptOutcome.MACHINE, "MACHINE", "LONGGREETING-1500-1500")
    assert r.port.asked == []  # no agent is reserved for a machine
    apps = [app for app, _ in r.apps(result.uniqueid)]
    assert "AGI" not in apps and "Playback" not in apps and apps[-1] == "Hangup"


async def test_a_machine_gets_the_message_when_the_campaign_says_so(rig: Factory) -> None:
    r = await rig()
    r.callees.set(NUMBER, CalleeProfile.always("machine"))

    result = await r.run(r.attempt(machine_action=MachineAction.MESSAGE, info_message="acme/callback-0800"))

    assert result.outcome is AttemptOutcome.MACHINE
    apps = r.apps(result.uniqueid)
    assert ("WaitForSilence", "1500,1,20") in apps and ("Playback", "acme/callback-0800") in apps


@pytest.mark.parametrize(
    ("behaviour", "outcome", "reason", "cause"),
    [
        ("busy", AttemptOutcome.BUSY, 0, 17),  # as captured: Reason 0, the channel's cause says busy
        ("no_answer", AttemptOutcome.NO_ANSWER, 3, None),
        ("congestion", AttemptOutcome.FAILED, 0, 34),
    ],
)
async def test_unanswered_calls_map_to_their_outcomes(
    rig: Factory, behaviour: str, outcome: AttemptOutcome, reason: int, cause: int | None
) -> None:
    r = await rig()
    r.callees.set(NUMBER, CalleeProfile.always(behaviour))

    result = await r.run(r.attempt())

    assert (result.outcome, result.originate_reason, result.hangup_cause) == (outcome, reason, cause)
    assert r.port.asked == [] and r.sim.pbx.stats.originates == 1


async def test_no_answer_rings_the_campaigns_ring_time(rig: Factory) -> None:
    r = await rig()
    r.callees.set(NUMBER, CalleeProfile.always("no_answer"))
    started = r.sim.clock.now_s()

    result = await r.run(r.attempt(ring_s=31))

    assert result.outcome is AttemptOutcome.NO_ANSWER
    assert r.sim.clock.now_s() - started == pytest.approx(31.0, abs=0.1)  # simulated time: the Originate's Timeout


async def test_no_agent_within_two_seconds_plays_the_message_and_abandons(rig: Factory) -> None:
    r = await rig()  # the law's budget: 2000 ms
    r.callees.set(NUMBER, CalleeProfile.always("human"))
    r.port.stall = True

    result = await r.run(r.attempt(info_message="acme/info"))

    assert result.outcome is AttemptOutcome.ABANDONED
    assert result.recognised_by == "CcDialerResult abandoned: information message played"
    assert r.route.answers[-1].reason == "timeout" and r.route.answers[-1].agent is None
    assert ("Playback", "acme/info") in r.apps(result.uniqueid)
    assert not any(app == "Dial" for app, _ in r.apps(result.uniqueid))
    (call,) = r.ended
    assert (call.outcome, call.answered_by, call.campaign) == (CallOutcome.ABANDONED, None, str(CAMPAIGN))


async def test_nobody_free_plays_the_default_message(rig: Factory) -> None:
    r = await rig()
    r.callees.set(NUMBER, CalleeProfile.always("human"))

    result = await r.run(r.attempt(agent=None))

    assert result.outcome is AttemptOutcome.ABANDONED
    assert r.route.answers[-1].reason == "no-agent"
    assert ("Playback", DEFAULT_INFO_MESSAGE) in r.apps(result.uniqueid)


async def test_an_information_message_asterisk_cannot_find_is_said_not_played(rig: Factory) -> None:
    """As on Asterisk 20.20.1 without the sound file (tests/real_asterisk/test_dialer_campaign.py): Playback sets
    PLAYBACKSTATUS FAILED and the dialplan hangs up; the attempt is abandoned all the same, and says the law's
    message was not heard."""
    r = await rig(sounds=frozenset({DEFAULT_INFO_MESSAGE}))
    r.callees.set(NUMBER, CalleeProfile.always("human"))

    result = await r.run(r.attempt(agent=None, info_message="acme/not-recorded"))

    assert result.outcome is AttemptOutcome.ABANDONED
    assert result.recognised_by == ("CcDialerResult abandoned: information message NOT played (acme/not-recorded: "
                                    "PLAYBACKSTATUS FAILED)")
    statuses = [h["Value"] for h in r.raw if h.get("Event") == "VarSet" and h.get("Variable") == "PLAYBACKSTATUS"]
    assert statuses == ["FAILED"]


async def test_a_person_who_hangs_up_during_amd_is_a_callee_hangup(rig: Factory) -> None:
    r = await rig()
    r.callees.set(NUMBER, CalleeProfile.always("human", amd_human_s=(4.0, 4.0), silence_patience_s=(1.0, 1.0)))

    result = await r.run(r.attempt())

    assert result.outcome is AttemptOutcome.CALLEE_HANGUP
    assert r.port.asked == []


async def test_notsure_counts_as_the_campaign_says(rig: Factory) -> None:
    r = await rig()
    r.callees.set(NUMBER, CalleeProfile.always("notsure", silence_patience_s=(8.0, 8.0)))
    r.sim.pbx.phones["1002"].scripted.append(PhoneAnswer(action="answer", delay_s=1.0))

    as_human = await r.run(r.attempt())
    as_machine = await r.run(r.attempt(amd_notsure="machine"))

    assert (as_human.outcome, as_human.amd_status) == (AttemptOutcome.CONNECTED, "NOTSURE")
    assert (as_machine.outcome, as_machine.amd_status) == (AttemptOutcome.MACHINE, "NOTSURE")


async def test_an_originate_to_a_missing_context_fails_clearly_and_dials_nothing(rig: Factory, tmp_path: Path) -> None:
    plans = tmp_path / "dialplans"
    shutil.copytree(DIALPLANS, plans)
    contexts = plans / "extensions_callcenter.conf"
    contexts.write_text(contexts.read_text().replace(f"[{Context.CAMPAIGN}]", "[cc-campaign-renamed]"))
    r = await rig(dialplan=plans / "extensions.conf")
    dial = r.attempt()

    result = await r.run(dial)

    assert result.outcome is AttemptOutcome.FAILED
    assert result.recognised_by == "Originate refused by Asterisk: Extension does not exist."
    assert (r.sim.pbx.stats.originates, r.sim.pbx.stats.channels_created) == (0, 0)
    assert r.follower.pending == ()  # over: nothing will send it again


async def test_an_originate_the_ami_user_may_not_send_fails_clearly(rig: Factory, tmp_path: Path) -> None:
    manager = tmp_path / "manager.conf"
    manager.write_text((DIALPLANS / "manager.conf").read_text().replace("write = originate,agent,reporting,call",
                                                                        "write = agent,reporting,call"))
    r = await rig(manager_conf=manager)

    result = await r.run(r.attempt())

    assert result.outcome is AttemptOutcome.FAILED
    assert result.recognised_by == "Originate refused by Asterisk: Permission denied"
    assert r.sim.pbx.stats.originates == 0


async def test_an_attempt_is_never_dialled_twice_while_it_runs(rig: Factory) -> None:
    r = await rig()
    r.callees.set(NUMBER, CalleeProfile.always("no_answer"))
    dial = r.attempt()
    future = await r.follower.dial(dial)

    with pytest.raises(InvalidAttempt, match="already being dialled"):
        await r.follower.dial(dial)

    assert (await asyncio.wait_for(future, WAIT_S)).outcome is AttemptOutcome.NO_ANSWER
    assert r.sim.pbx.stats.originates == 1


# -- outcomes the simulator does not produce, from the events alone ---------------------------------------------------


def _chan(event: type, uniqueid: str, **kw: Any) -> Any:
    return event(channel="PJSIP/trunk-00000001", channel_state=6, caller_id_num=None, caller_id_name=None,
                 connected_line_num=None, connected_line_name=None, context=Context.CAMPAIGN, exten=NUMBER, priority=1,
                 uniqueid=uniqueid, linkedid=uniqueid, **kw)


@pytest.mark.parametrize(
    ("reason", "cause", "outcome", "said"),
    [
        (5, None, AttemptOutcome.BUSY, "OriginateResponse Reason 5"),
        (8, None, AttemptOutcome.FAILED, "OriginateResponse Reason 8 (congestion)"),
        (3, 19, AttemptOutcome.NO_ANSWER, "OriginateResponse Reason 3"),
        (1, 19, AttemptOutcome.NO_ANSWER, "OriginateResponse Reason 1, hangup cause 19"),
        (0, 17, AttemptOutcome.BUSY, "OriginateResponse Reason 0, hangup cause 17"),
        (0, 1, AttemptOutcome.FAILED, "OriginateResponse Reason 0, hangup cause 1"),
        (0, None, AttemptOutcome.FAILED, "OriginateResponse Reason 0, no channel was created"),
    ],
)
async def test_every_originate_reason_maps_to_one_outcome(reason: int, cause: int | None, outcome: AttemptOutcome,
                                                           said: str) -> None:
    from callcenter.ami.events import HangupRequest, OriginateResponse, VarSet

    sent: list[dict[str, Any]] = []

    async def send(action: dict[str, Any]) -> None:
        sent.append(action)

    follower = AttemptFollower(send=send)
    dial = AttemptDial(attempt_id=7, campaign_id=42, action_id="att-7", number_e164=NUMBER,
                       caller_id_e164="+442070000000")
    future = await follower.dial(dial)
    if cause is not None:
        follower.handle(_chan(VarSet, "1.1", variable=ChannelVar.DIAL_ATTEMPT.value, value="7"))
        follower.handle(_chan(VarSet, "2.2", variable=ChannelVar.DIAL_ATTEMPT.value, value="8"))  # someone else's
        follower.handle(_chan(HangupRequest, "1.1", cause=cause))
    follower.handle(OriginateResponse(action_id="att-7", response="Failure", channel=f"PJSIP/{NUMBER}@trunk",
                                      reason=reason, uniqueid=None))

    result = future.result()
    assert (result.outcome, result.recognised_by, result.originate_reason) == (outcome, said, reason)
    assert len(sent) == 1 and follower.pending == ()


async def test_dialer_user_events_for_attempts_not_ours_are_counted_and_ignored() -> None:
    async def send(action: dict[str, Any]) -> None:
        return None

    follower = AttemptFollower(send=send)
    await follower.dial(AttemptDial(attempt_id=7, campaign_id=42, action_id="att-7", number_e164=NUMBER,
                                    caller_id_e164="+442070000000"))
    for attempt in ("8", "x7", ""):
        follower.handle(_chan(DialerUserEvent, "1.1", user_event="CcDialerResult", attempt=attempt,
                              outcome="abandoned"))
    assert follower.foreign_events == 3 and len(follower.pending) == 1


# -- the campaign AGI route on its own (what a foreign or broken request gets) ----------------------------------------


async def _agi_request(port: int, args: list[str]) -> list[str]:
    """Act as Asterisk: send one campaign request, acknowledge every command, return the commands."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    headers = {"agi_network": "yes", "agi_network_script": AGI_ROUTE_CAMPAIGN, "agi_channel": "PJSIP/trunk-00000001",
               "agi_uniqueid": "1795390000.1", "agi_context": Context.CAMPAIGN, "agi_extension": NUMBER}
    headers.update({f"agi_arg_{i}": value for i, value in enumerate(args, 1)})
    writer.write("".join(f"{k}: {v}\n" for k, v in headers.items()).encode() + b"\n")
    commands = []
    while line := await asyncio.wait_for(reader.readline(), WAIT_S):
        commands.append(line.decode().rstrip("\n"))
        writer.write(b"200 result=1\n")
    writer.close()
    return commands


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["42", "abc"], "bad-request: attempt id 'abc' is not a positive integer"),
        (["42"], "bad-request: attempt id '' is not a positive integer"),
        (["x", "7"], "bad-request: campaign id 'x' is not a positive integer"),
        (["42", "999999"], "not-ours: attempt 999999 is not dialling in campaign 42"),
    ],
)
async def test_a_request_that_is_not_ours_gets_no_agent_and_a_reason(args: list[str], reason: str) -> None:
    port = Port()
    route = CampaignAgentRoute(port=port)
    async with FastAgiServer(host="127.0.0.1", port=0, default_queue="sales", queue_timeout_s=60,
                             routes={AGI_ROUTE_CAMPAIGN: route.handler}) as agi:
        commands = await _agi_request(agi.port, args)
    assert commands == ['SET VARIABLE CC_PLAN "campaign1|none|2"']  # one round trip: agent, ring seconds
    assert route.answers[-1].reason == reason


async def test_the_route_refuses_an_answer_that_is_not_an_extension() -> None:
    port = Port()
    port.agents[7] = "1002&PJSIP/9999"  # would dial two phones
    route = CampaignAgentRoute(port=port)
    async with FastAgiServer(host="127.0.0.1", port=0, default_queue="sales", queue_timeout_s=60,
                             routes={AGI_ROUTE_CAMPAIGN: route.handler}) as agi:
        commands = await _agi_request(agi.port, ["42", "7"])
    assert commands == ['SET VARIABLE CC_PLAN "campaign1|none|2"'] and route.answers[-1].reason == "error"


def test_the_route_budget_cannot_exceed_the_laws_two_seconds() -> None:
    with pytest.raises(ValueError, match="the law's limit"):
        CampaignAgentRoute(port=Port(), budget_ms=2500)


def test_the_campaign_route_cannot_take_over_the_inbound_router() -> None:
    with pytest.raises(ValueError, match="inbound router"):
        FastAgiServer(host="127.0.0.1", port=0, default_queue="sales", queue_timeout_s=60,
                      routes={"inbound": CampaignAgentRoute(port=Port()).handler})


# -- the callee model -------------------------------------------------------------------------------------------------


def test_callee_draws_are_reproducible_per_number_and_call() -> None:
    profile = CalleeProfile(busy=0.2, answer=0.7, machine=0.3, notsure=0.1)
    first, second = CalleeModel(seed=3, default=profile), CalleeModel(seed=3, default=profile)
    numbers = [f"+4420712345{i:02d}" for i in range(40)]
    a = [first.caller_for(n) for n in numbers] + [first.caller_for(numbers[0])]
    b = [second.caller_for(n) for n in reversed(numbers)][::-1] + [second.caller_for(numbers[0])]
    assert a == b  # the order calls are placed in does not change what each callee does
    assert a[0] != a[-1] or a[0].talk_s != a[-1].talk_s  # a second call to a number is a new draw
    assert {c.originate_answer for c in a} >= {"busy", "answer", "ignore"}
    assert {c.amd_status for c in a if c.originate_answer == "answer"} >= {"HUMAN", "MACHINE"}
    assert CalleeModel(seed=4, default=profile).caller_for(numbers[1]) != a[1]


def test_callee_profiles_refuse_impossible_probabilities() -> None:
    with pytest.raises(ValueError, match="busy"):
        CalleeProfile(busy=1.5)
    with pytest.raises(ValueError, match="busy \\+ congestion"):
        CalleeProfile(busy=0.6, congestion=0.6)
    with pytest.raises(ValueError, match="unknown callee behaviour"):
        CalleeProfile.always("sometimes")


def test_only_the_dialers_user_events_are_typed() -> None:
    from callcenter.ami.events import AmiParseError

    block = {"Channel": "PJSIP/trunk-00000001", "ChannelState": "6", "CallerIDNum": NUMBER, "CallerIDName": "<unknown>",
             "ConnectedLineNum": "<unknown>", "ConnectedLineName": "<unknown>", "Context": Context.CAMPAIGN,
             "Exten": NUMBER, "Priority": "3", "Uniqueid": "1.1", "Linkedid": "1.1", "Timestamp": "1795390655.1"}
    amd = parse_event({"Event": "UserEvent", **block, "UserEvent": "CcDialerAmd", "Attempt": "7", "Status": "MACHINE",
                       "Cause": "LONGGREETING-1500-1500"})
    assert isinstance(amd, DialerUserEvent)
    assert (amd.attempt, amd.status, amd.cause, amd.outcome, amd.uniqueid) == (
        "7", "MACHINE", "LONGGREETING-1500-1500", None, "1.1")
    assert parse_event({"Event": "UserEvent", **block, "UserEvent": "CcCallbackRequested", "DID": "8001"}) is None
    assert parse_event_full({"Event": "UserEvent", **block, "UserEvent": "SomethingElse"}) is None
    with pytest.raises(AmiParseError, match="Attempt"):
        parse_event({"Event": "UserEvent", **block, "UserEvent": "CcDialerResult", "Outcome": "machine"})
