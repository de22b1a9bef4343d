"""Named scenarios: the captured Asterisk scenarios of tests/data/ami-traces re-enacted on the simulator.

A scenario is data: the phones, what each phone does with the calls it is offered, and a timeline of steps
(a customer calls, an AMI action is sent, a phone registers, Asterisk restarts). Timings are the captures' own
(2 s until an agent answers, 13.5 s of talk ...), taken from their .md timelines. ``play`` runs the timeline on a
virtual clock; the AMI actions go through a caller-provided ``send`` so that they travel over a real AMI connection.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from callcenter.pbxsim.callmodel import AgentPhone, Caller, HangupSide, PhoneAnswer
from callcenter.pbxsim.clock import VirtualClock

if TYPE_CHECKING:
    from callcenter.pbxsim.pbx import Pbx

__all__ = ["Scenario", "Step", "TRACE_SCENARIOS", "capture_phones", "play"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Step:
    at_s: float  # from the start of the scenario
    kind: str  # call | action | register | unregister | restart | drop | bye (the caller's number: an extension)
    caller: Caller | None = None
    # headers; "{trunk}" in a value = the live trunk channel's name, "{1002}" the live channel of phone 1002
    action: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Scenario:
    name: str
    steps: tuple[Step, ...]
    answers: Mapping[str, tuple[PhoneAnswer, ...]] = field(default_factory=dict)
    customers: Mapping[str, Caller] = field(default_factory=dict)  # called parties of Originate, by number
    phones: tuple[AgentPhone, ...] = ()
    tail_s: float = 1.0  # quiet time after the last call before the capture ended
    # the capture PBX's configuration (a folder of tests/data/ami-traces): the older captures' own dialplan, or
    # config-transfers (the shipped dialplans, phones 1002 and 1003) for the api_* transfer captures
    config: str = "config"
    # the real-Asterisk tier's PBX (config-transfers) has no musiconhold.conf: a queue caller hears no MOH there
    music_on_hold: bool = True


def capture_phones() -> tuple[AgentPhone, ...]:
    """The captures' pjsip.conf: 1002-1006 static contacts, 1001 and 1007-1010 register (none did, but 1001 once)."""
    phones = [AgentPhone(extension=str(ext)) for ext in range(1002, 1007)]
    phones += [AgentPhone(extension=str(ext), registered=False, static_contact=False) for ext in (1001, 1007, 1008)]
    return tuple(phones)


def _answer(delay_s: float) -> PhoneAnswer:
    return PhoneAnswer(action="answer", delay_s=delay_s)


_IGNORE = PhoneAnswer(action="ignore")
_BUSY = PhoneAnswer(action="busy")
_LONG = 600.0


def _caller(n: int, *, talk_s: float = _LONG, side: HangupSide = HangupSide.CALLER,
            patience_s: float = _LONG) -> Caller:
    return Caller(number=f"+121255501{n:02d}", did=f"80{n:02d}", talk_s=talk_s, hangup_side=side,
                  patience_s=patience_s)


def _queue_add(queue: str, ext: str, *, paused: bool = False, reason: str | None = None) -> Step:
    headers = [("Action", "QueueAdd"), ("ActionID", f"qadd-{queue}-{ext}"), ("Queue", queue),
               ("Interface", f"PJSIP/{ext}"), ("MemberName", f"Agent {ext}"), ("StateInterface", f"PJSIP/{ext}"),
               ("Penalty", "0"), ("Paused", "true" if paused else "false")]
    if reason:
        headers.append(("Reason", reason))
    return Step(at_s=0.0, kind="action", action=tuple(headers))


def _queue_remove(at_s: float, queue: str, ext: str) -> Step:
    return Step(at_s=at_s, kind="action", action=(("Action", "QueueRemove"), ("ActionID", f"qremove-{queue}-{ext}"),
                                                  ("Queue", queue), ("Interface", f"PJSIP/{ext}")))


def _originate(action_id: str, timeout_ms: int) -> Step:
    return Step(at_s=0.3, kind="action", action=(
        ("Action", "Originate"), ("ActionID", action_id), ("Channel", "PJSIP/5550001@trunk"), ("Context", "cc-agents"),
        ("Exten", "1002"), ("Priority", "1"), ("CallerID", '"Acme Sales" <8005550100>'), ("Timeout", str(timeout_ms)),
        ("Variable", "CC_CAMPAIGN=42"), ("Async", "true")))


def _customer(action: str, *, after_s: float = 2.0, talk_s: float = _LONG) -> Caller:
    return Caller(number="5550001", name="", originate_answer=action, answers_after_s=after_s, talk_s=talk_s)


_TRANSFER_PHONES = (AgentPhone(extension="1002"), AgentPhone(extension="1003"))


def _transfer_caller(*, talk_s: float) -> Caller:
    return Caller(number="+12125550130", did="8030", talk_s=talk_s, patience_s=_LONG)


def _transfer(action: str) -> tuple[tuple[str, str], ...]:
    """What the transfer API sends (callcenter.ami.actions.blind_transfer / atxfer), as the captures sent it."""
    return (("Action", action), ("ActionID", "xfer-1"), ("Channel", "{1002}"), ("Exten", "1003"),
            ("Context", "cc-agents"))


_DIALER_PHONES = (AgentPhone(extension="1002"), AgentPhone(extension="1003"))
_CAMPAIGN_NUMBER = "+442071234567"


def _campaign_originate(attempt: int) -> Step:
    """The dialer's own Originate (callcenter.dialer.originate.originate_action), as the dialer_* captures sent it."""
    return Step(at_s=0.004, kind="action", action=(
        ("Action", "Originate"), ("ActionID", f"dial-{attempt}"), ("Channel", f"PJSIP/{_CAMPAIGN_NUMBER}@trunk"),
        ("Context", "cc-campaign"), ("Exten", _CAMPAIGN_NUMBER), ("Priority", "1"),
        ("CallerID", '"Acme Collections" <+442070000000>'), ("Timeout", "20000"), ("Async", "true"),
        ("Variable", "CC_CAMPAIGN=42"), ("Variable", f"CC_DIAL_ATTEMPT={attempt}"), ("Variable", "CC_AMD_NOTSURE=human"),
        ("Variable", "CC_MACHINE_ACTION=hangup"), ("Variable", "CC_INFO_MESSAGE=cc-dialer-info")))


def _callee(amd_status: str, amd_cause: str, amd_s: float, *, talk_s: float = _LONG) -> Caller:
    """The dialer_* captures' customer (sipp/callee_answers.xml): answers 1 s after the INVITE, AMD() hears its
    greeting for ``amd_s``; a person stays on a silent line (Asterisk hangs up after the message)."""
    return Caller(number=_CAMPAIGN_NUMBER, name="", originate_answer="answer", answers_after_s=1.0, talk_s=talk_s,
                  amd_status=amd_status, amd_cause=amd_cause, amd_s=amd_s, silence_patience_s=None)


TRACE_SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario(
            name="inbound_agi_dial_answer",
            steps=(Step(at_s=0.415, kind="call", caller=_caller(1, talk_s=13.5)),),
            answers={"1002": (_answer(2.0),)},
        ),
        Scenario(
            name="inbound_dial_noanswer_fallback",
            steps=(Step(at_s=0.41, kind="call", caller=_caller(2, talk_s=12.0, side=HangupSide.AGENT)),),
            answers={"1003": (_IGNORE,), "1002": (_answer(2.0),)},
        ),
        Scenario(
            name="inbound_target_unavailable",
            steps=(Step(at_s=0.41, kind="call", caller=_caller(3, talk_s=8.0)),),
            answers={"1002": (_answer(2.0),)},
        ),
        Scenario(
            name="inbound_busy",
            steps=(Step(at_s=0.41, kind="call", caller=_caller(4, talk_s=8.0)),),
            answers={"1004": (_BUSY,), "1002": (_answer(2.0),)},
        ),
        Scenario(
            name="inbound_caller_abandons_ringing",
            steps=(Step(at_s=0.41, kind="call", caller=_caller(5, patience_s=5.0)),),
            answers={"1002": (_IGNORE,)},
        ),
        Scenario(
            name="queue_answered",
            steps=(_queue_add("sales", "1002"), Step(at_s=1.41, kind="call", caller=_caller(6, talk_s=13.0)),
                   _queue_remove(18.0, "sales", "1002")),
            answers={"1002": (_answer(3.0),)},
        ),
        Scenario(
            name="queue_abandoned",
            steps=(_queue_add("sales", "1002", paused=True, reason="break"),
                   Step(at_s=1.12, kind="call", caller=_caller(7, patience_s=8.0)), _queue_remove(9.7, "sales", "1002")),
        ),
        Scenario(
            name="queue_ringnoanswer_then_answer",
            steps=(_queue_add("support", "1003"), _queue_add("support", "1002"),
                   Step(at_s=1.41, kind="call", caller=_caller(8, talk_s=13.0)),
                   _queue_remove(26.0, "support", "1003"), _queue_remove(26.0, "support", "1002")),
            answers={"1003": (_IGNORE,), "1002": (_answer(2.0),)},
        ),
        Scenario(
            name="queue_timeout",
            steps=(_queue_add("sales", "1002", paused=True, reason="meeting"),
                   Step(at_s=1.0, kind="call", caller=_caller(10)), _queue_remove(10.2, "sales", "1002")),
        ),
        Scenario(
            name="agent_pause_cycle",
            steps=(
                Step(at_s=0.0, kind="action", action=(
                    ("Action", "QueueAdd"), ("ActionID", "pc-add"), ("Queue", "sales"), ("Interface", "PJSIP/1005"),
                    ("MemberName", "Agent 1005"), ("StateInterface", "PJSIP/1005"), ("Penalty", "0"),
                    ("Paused", "false"))),
                Step(at_s=1.0, kind="action", action=(
                    ("Action", "QueuePause"), ("ActionID", "pc-pause"), ("Queue", "sales"),
                    ("Interface", "PJSIP/1005"), ("Paused", "true"), ("Reason", "lunch"))),
                Step(at_s=2.0, kind="action", action=(
                    ("Action", "QueueStatus"), ("ActionID", "pc-status"), ("Queue", "sales"),
                    ("Member", "PJSIP/1005"))),
                Step(at_s=3.0, kind="action", action=(
                    ("Action", "QueuePause"), ("ActionID", "pc-unpause"), ("Queue", "sales"),
                    ("Interface", "PJSIP/1005"), ("Paused", "false"))),
                Step(at_s=4.0, kind="action", action=(
                    ("Action", "QueueRemove"), ("ActionID", "pc-remove"), ("Queue", "sales"),
                    ("Interface", "PJSIP/1005"))),
            ),
        ),
        Scenario(
            name="agent_register_unregister",
            steps=(Step(at_s=0.61, kind="register", caller=Caller(number="1001")),
                   Step(at_s=4.62, kind="unregister", caller=Caller(number="1001"))),
        ),
        Scenario(
            name="originate_answered_to_agent",
            steps=(_originate("orig-camp42-0001", 30_000),),
            answers={"1002": (_answer(2.0),)},
            # the customer's BYE came 15 s after they answered, i.e. 13 s after the agent did (talk_s counts from
            # the moment an agent is on the line)
            customers={"5550001": _customer("answer", talk_s=13.0)},
        ),
        Scenario(
            name="originate_noanswer",
            steps=(_originate("orig-camp42-0002", 10_000),),
            customers={"5550001": _customer("ignore")},
        ),
        Scenario(
            name="originate_busy",
            steps=(_originate("orig-camp42-0003", 30_000),),
            customers={"5550001": _customer("busy")},
        ),
        Scenario(
            # five calls 200 ms apart, agent 1002+i rings 1 + 0.25 i s; talk times as the customers' random ones were
            name="concurrent_calls_5",
            steps=tuple(
                Step(at_s=0.56 + 0.2 * i, kind="call", caller=Caller(number=f"+121255501{21 + i}", did=f"80{21 + i}",
                                                                        talk_s=talk, patience_s=_LONG))
                for i, talk in enumerate((4.0, 4.405, 3.207, 3.22, 4.836))
            ),
            answers={str(1002 + i): (_answer(1.0 + 0.25 * i),) for i in range(5)},
        ),
        Scenario(
            name="blind_transfer_redirect",
            steps=(
                Step(at_s=0.41, kind="call", caller=_caller(13, talk_s=18.0)),
                Step(at_s=7.42, kind="action", action=(
                    ("Action", "Redirect"), ("ActionID", "xfer-blind-1"), ("Channel", "{trunk}"),
                    ("Context", "cc-agents"), ("Exten", "1003"), ("Priority", "1"))),
            ),
            answers={"1002": (_answer(2.0),), "1003": (_answer(2.0),)},
        ),
        # The transfer API against the shipped dialplans (tests/data/ami-traces/api_*.md): a known customer dialled
        # to 1002 with transfer rights (Dial t), the action on 1002's channel; the sipp phones answer in ~4 ms.
        Scenario(
            name="api_blind_transfer",
            config="config-transfers",
            phones=_TRANSFER_PHONES,
            steps=(
                Step(at_s=0.412, kind="call", caller=_transfer_caller(talk_s=12.0)),
                Step(at_s=3.425, kind="action", action=_transfer("BlindTransfer")),
            ),
            answers={"1002": (_answer(0.004),), "1003": (_answer(0.004),)},
        ),
        Scenario(
            # A's phone hangs up 4 s after answering (2.6 s into the consultation): the transfer completes
            name="api_attended_transfer",
            config="config-transfers",
            phones=_TRANSFER_PHONES,
            steps=(
                Step(at_s=0.414, kind="call", caller=_transfer_caller(talk_s=10.0)),
                Step(at_s=1.427, kind="action", action=_transfer("Atxfer")),
                Step(at_s=4.43, kind="bye", caller=Caller(number="1002")),
            ),
            answers={"1002": (_answer(0.004),), "1003": (_answer(0.001),)},
        ),
        Scenario(
            # B's phone hangs up 1 s after answering the consultation: A is back with the customer
            name="api_attended_transfer_aborted",
            config="config-transfers",
            phones=_TRANSFER_PHONES,
            steps=(
                Step(at_s=0.413, kind="call", caller=_transfer_caller(talk_s=8.0)),
                Step(at_s=1.428, kind="action", action=_transfer("Atxfer")),
                Step(at_s=2.87, kind="bye", caller=Caller(number="1003")),
            ),
            answers={"1002": (_answer(0.004),), "1003": (_answer(0.001),)},
        ),
        Scenario(
            # 'blond': A's phone hangs up 1.5 s after answering, while B's phone rings (4 s before it answers)
            name="api_attended_transfer_blond",
            config="config-transfers",
            phones=_TRANSFER_PHONES,
            steps=(
                Step(at_s=0.413, kind="call", caller=_transfer_caller(talk_s=9.0)),
                Step(at_s=0.928, kind="action", action=_transfer("Atxfer")),
                Step(at_s=1.932, kind="bye", caller=Caller(number="1002")),
            ),
            answers={"1002": (_answer(0.004),), "1003": (_answer(4.006),)},
        ),
        Scenario(
            # B's phone answers 486: cc-agents sends the blind-transferred customer to the queue, where nobody is
            name="api_blind_transfer_busy",
            config="config-transfers",
            music_on_hold=False,
            phones=_TRANSFER_PHONES,
            steps=(
                Step(at_s=0.412, kind="call", caller=_transfer_caller(talk_s=8.0)),
                Step(at_s=2.42, kind="action", action=_transfer("BlindTransfer")),
            ),
            answers={"1002": (_answer(0.004),), "1003": (PhoneAnswer(action="busy"),)},
        ),
        Scenario(
            # cc-inbound's Dial without t (config-no-transfer-rights): the Atxfer digits pass through to the customer
            name="api_atxfer_no_rights",
            config="config-no-transfer-rights",
            phones=_TRANSFER_PHONES,
            steps=(
                Step(at_s=0.413, kind="call", caller=_transfer_caller(talk_s=5.0)),
                Step(at_s=1.423, kind="action", action=_transfer("Atxfer")),
            ),
            answers={"1002": (_answer(0.004),)},
        ),
        # The dialer's customer-first call on the shipped [cc-campaign] (tests/real_asterisk/capture_dialer.py): the
        # customer answers after 1 s; the campaign route answers CC_AGENT at once.
        Scenario(
            # "Hello?": AMD HUMAN after 1.5 s, agent 1002 answers in 3 ms, the customer hangs up 8 s after answering
            name="dialer_connected",
            config="config-dialer",
            phones=_DIALER_PHONES,
            steps=(_campaign_originate(7001),),
            answers={"1002": (_answer(0.003),)},
            customers={_CAMPAIGN_NUMBER: _callee("HUMAN", "HUMAN-800-800", 1.501, talk_s=6.497)},
        ),
        Scenario(
            # nobody free: the 3 s information message, then Asterisk hangs up
            name="dialer_abandoned",
            config="config-dialer",
            phones=_DIALER_PHONES,
            steps=(_campaign_originate(7002),),
            customers={_CAMPAIGN_NUMBER: _callee("HUMAN", "HUMAN-800-800", 1.422)},
        ),
        Scenario(
            # a machine's long greeting: AMD MACHINE (MAXWORDS-3-2) after 1.5 s, hung up
            name="dialer_machine",
            config="config-dialer",
            phones=_DIALER_PHONES,
            steps=(_campaign_originate(7003),),
            customers={_CAMPAIGN_NUMBER: _callee("MACHINE", "MAXWORDS-3-2", 1.498)},
        ),
    )
}


def _fill(pbx: Pbx, value: str) -> str:
    """"{trunk}" / "{1002}" in an action header: the name of that endpoint's live channel (the newest)."""
    for ch in reversed(pbx.live_channels()):
        value = value.replace("{" + ch.endpoint + "}", ch.name)
    return value


Send = Callable[[tuple[tuple[str, str], ...]], Awaitable[Any]]


async def play(scenario: Scenario, *, pbx: Pbx, clock: VirtualClock, send: Send,
               restart: Callable[[], Awaitable[None]] | None = None, drop: Callable[[], None] | None = None) -> None:
    """Run the timeline on a manual virtual clock, then until every call is over and ``tail_s`` has passed."""
    for ext, answers in scenario.answers.items():
        pbx.phones[ext].scripted.extend(answers)
    start = clock.now_s()
    for step in sorted(scenario.steps, key=lambda s: s.at_s):
        await clock.advance(max(0.0, start + step.at_s - clock.now_s()))
        if step.kind == "call" and step.caller is not None:
            pbx.incoming_call(step.caller)
        elif step.kind == "action":
            await send(tuple((k, _fill(pbx, v)) for k, v in step.action))
        elif step.kind == "register" and step.caller is not None:
            pbx.register(step.caller.number)
        elif step.kind == "unregister" and step.caller is not None:
            pbx.unregister(step.caller.number)
        elif step.kind == "bye" and step.caller is not None:
            # the phone of that extension hangs up its call (BYE)
            for ch in pbx.live_channels():
                if ch.endpoint == step.caller.number and ch.tech == "PJSIP":
                    pbx.remote_bye(ch, cause=16)
        elif step.kind == "restart" and restart is not None:
            await restart()
        elif step.kind == "drop" and drop is not None:
            drop()
        await clock.settle()
    # run until no channel is left (a generous bound: the longest capture is under 30 s)
    for _ in range(600):
        if not pbx.live_channels():
            break
        await clock.advance(1.0)
    await clock.advance(scenario.tail_s)
