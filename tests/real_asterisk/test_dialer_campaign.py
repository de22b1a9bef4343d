"""The dialer's customer-first call on a real Asterisk 20: the shipped [cc-campaign] (and amd.conf), the dialer's
Originate and its follower (callcenter.dialer.originate), and the campaign FastAGI route (callcenter.dialer.agent_agi),
with a sipp customer behind the trunk and a sipp desk phone as the agent. The same flows run against the simulator in
tests/dialer/test_execution.py; what the real one showed is in docs/dialer.md ("Checked on a real Asterisk").

Speech is made here with espeak-ng and sox (nothing binary is kept in the repository): the callee's greeting, which
AMD() judges on its length and silences, and the information message the dialplan plays (cc-dialer-info). Every wait
is on an event (the attempt's result) with a bound."""

from __future__ import annotations

import asyncio
import itertools
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from callcenter.ami.agi import FastAgiServer
from callcenter.ami.channel_vars import AGI_ROUTE_CAMPAIGN, DEFAULT_INFO_MESSAGE
from callcenter.ami.connection import AmiConnection, Received
from callcenter.ami.events import DialerUserEvent, parse_event, parse_event_full
from callcenter.dialer.agent_agi import CampaignAgentRoute, NotOurAttempt
from callcenter.dialer.originate import AttemptDial, AttemptFollower, AttemptResult
from callcenter.dialer.outcomes import AttemptOutcome
from tests.real_asterisk.pbx import AGI_PORT, AMI_PORT, AMI_SECRET, AmiTap, RealAsterisk, Sipp, binaries, speech

WAIT_S = 30.0  # bound on an answered call's whole life (greeting, AMD's verdict, agent or message, hang-up)
CAMPAIGN = 42
NUMBER = "+442071234567"
PHONES = {"1002": 5072}  # the agent's desk phone: sipp's built-in UAS, which answers at once
RING_S = 15.0  # the law's shortest ring time (compliance.MIN_RING_S)
HUMAN = "hello"  # one short word then silence: AMD's HUMAN (after_greeting_silence 800 ms)
MACHINE = "machine"  # a long recorded greeting: AMD's MACHINE
HUMAN_TEXT = "Hello?"
MACHINE_TEXT = ("Hello, you have reached the Smith family. We cannot take your call right now, please leave a message "
                "after the tone.")
INFO_TEXT = "This was a call from Acme Collections. Please call us back on 020 7000 0000."
ULAW = ["-t", "ul"]  # what sipp streams: headerless 8 kHz u-law
WAV_8K = ["-b", "16", "-e", "signed-integer"]  # what Playback takes (format_wav)
_ids = itertools.count(5001)


class Port:
    """The campaign runner's side of the AGI route: attempt id -> the agent it reserved (None: nobody free)."""

    def __init__(self) -> None:
        self.agents: dict[int, str | None] = {}
        self.asked: list[tuple[int, int]] = []

    async def agent_for(self, campaign_id: int, attempt_id: int) -> str | None:
        self.asked.append((campaign_id, attempt_id))
        if attempt_id not in self.agents:
            raise NotOurAttempt(f"attempt {attempt_id} is not dialling in campaign {campaign_id}")
        return self.agents[attempt_id]


@dataclass
class Rig:
    pbx: RealAsterisk
    sipp: Sipp
    port: Port
    route: CampaignAgentRoute
    follower: AttemptFollower
    tap: AmiTap  # what Asterisk raised (every class, no eventfilter): the dialplan as an operator sees it
    raw: list[dict[str, str]] = field(default_factory=list)  # every AMI event the service's session got, in order

    def attempt(self, *, agent: str | None = "1002", **kw: Any) -> AttemptDial:
        attempt_id = next(_ids)
        self.port.agents[attempt_id] = agent
        return AttemptDial(attempt_id=attempt_id, campaign_id=CAMPAIGN, action_id=f"dial-{attempt_id}",
                           number_e164=NUMBER, caller_id_e164="+442070000000", caller_id_name="Acme Collections",
                           **{"ring_s": RING_S, **kw})

    async def run(self, dial: AttemptDial, callee: asyncio.subprocess.Process) -> AttemptResult:
        future = await self.follower.dial(dial)
        result = await asyncio.wait_for(future, dial.ring_s + WAIT_S)
        # the callee played its part to the end (sipp exits 0 once its scenario is complete)
        assert await asyncio.wait_for(callee.wait(), WAIT_S) == 0, "the callee's sipp scenario failed (see its log)"
        await self.tap.sync()
        return result

    def events(self, uniqueid: str | None, name: str) -> list[dict[str, str]]:
        """From the tap: the shipped manager.conf's eventfilter keeps most Newexten/VarSet off the service's session."""
        return [h for h in self.tap.events() if h.get("Event") == name and h.get("Uniqueid") == uniqueid]

    def apps(self, uniqueid: str | None) -> list[tuple[str, str]]:
        """(application, data) of every priority the callee's channel ran, from its Newexten events."""
        out = []
        for headers in self.events(uniqueid, "Newexten"):
            event = parse_event_full(headers)
            out.append((event.application, event.app_data))  # type: ignore[union-attr]
        return out

    def var(self, uniqueid: str | None, variable: str) -> list[str]:
        return [h["Value"] for h in self.events(uniqueid, "VarSet") if h.get("Variable") == variable]


@pytest.fixture
def phone_scenarios() -> dict[str, tuple[str, int | None]]:
    """The agents' desk phones that behave otherwise for one test: ext -> (scenario in sipp/, its @HOLD_MS@)."""
    return {}


@pytest.fixture
async def rig(tmp_path: Path, phone_scenarios: dict[str, tuple[str, int | None]]) -> AsyncIterator[Rig]:
    missing = [tool for tool in ("espeak-ng", "sox") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"the dialer's real-Asterisk test makes its speech with {' and '.join(missing)}: not found")
    asterisk_bin, sipp_bin = binaries()
    assert asterisk_bin is not None and sipp_bin is not None
    pbx = RealAsterisk(binary=asterisk_bin, root=tmp_path / "asterisk", phones=PHONES)
    sipp = Sipp(binary=sipp_bin, root=tmp_path)
    # the callee's greetings (raw u-law, as sipp streams them) and the information message (what Playback takes)
    await speech(HUMAN_TEXT, tmp_path / f"{HUMAN}.ulaw", sox_format=ULAW, pad=(0.2, 3.0))
    await speech(MACHINE_TEXT, tmp_path / f"{MACHINE}.ulaw", sox_format=ULAW, pad=(0.2, 2.0))
    pbx.sounds_dir.mkdir(parents=True, exist_ok=True)
    await speech(INFO_TEXT, pbx.sounds_dir / f"{DEFAULT_INFO_MESSAGE}.wav", sox_format=WAV_8K, pad=(0.0, 0.0))
    await pbx.start()
    tap = AmiTap(tmp_path / "ami.log")  # what Asterisk published, for reading after a failure
    await tap.start()
    for ext, phone_port in PHONES.items():
        scenario, hold_ms = phone_scenarios.get(ext, ("uas", None))
        await sipp.phone(ext, phone_port, scenario=scenario, hold_ms=hold_ms)
    port = Port()
    route = CampaignAgentRoute(port=port)
    agi = FastAgiServer(host="127.0.0.1", port=AGI_PORT, default_queue="support", queue_timeout_s=60,
                        routes={AGI_ROUTE_CAMPAIGN: route.handler})
    await agi.start()
    conn = AmiConnection(host="127.0.0.1", port=AMI_PORT, username="callcenter", secret=AMI_SECRET,
                         reconnect_min_s=0.05, reconnect_max_s=0.5, ping_interval_s=30)
    r = Rig(pbx=pbx, sipp=sipp, port=port, route=route, follower=AttemptFollower(send=conn.send), tap=tap)

    def consume(item: Any) -> None:
        if isinstance(item, Received):
            headers = dict(item.message.items())
            r.raw.append(headers)
            r.follower.handle(parse_event(headers))

    conn.start()
    consumer = asyncio.create_task(conn.run(consume))
    try:
        await conn.wait_live(WAIT_S)
        yield r
    finally:
        consumer.cancel()
        await asyncio.gather(consumer, return_exceptions=True)
        await conn.stop()
        await agi.stop()
        await tap.stop()
        await sipp.stop()
        await pbx.stop()


def _callee(greeting: str = HUMAN, *, ring_ms: int = 1000, hold_ms: int = 60_000) -> dict[str, str]:
    return {"GREETING": f"{greeting}.ulaw", "RING_MS": str(ring_ms), "HOLD_MS": str(hold_ms)}


async def test_a_busy_callee_is_busy(rig: Rig) -> None:
    callee = await rig.sipp.callee("phone_busy.xml", fill={})
    dial = rig.attempt()

    result = await rig.run(dial, callee)

    assert (result.outcome, result.originate_reason, result.hangup_cause) == (AttemptOutcome.BUSY, 0, 17), result
    assert result.recognised_by == "OriginateResponse Reason 0, hangup cause 17"
    # no dialplan ran on it: its only "application" is the outgoing line's AppDial2
    assert rig.port.asked == [] and {app for app, _ in rig.apps(result.uniqueid)} <= {"AppDial2"}


async def test_a_callee_who_does_not_answer_rings_the_campaigns_ring_time(rig: Rig) -> None:
    callee = await rig.sipp.callee("callee_rings.xml", fill={})
    dial = rig.attempt()

    result = await rig.run(dial, callee)

    assert (result.outcome, result.originate_reason) == (AttemptOutcome.NO_ANSWER, 3), result
    # how long it rang, by Asterisk's own event timestamps (timestampevents): the Originate's Timeout
    (created,) = rig.events(result.uniqueid, "Newchannel")
    (gone,) = rig.events(result.uniqueid, "Hangup")
    assert float(gone["Timestamp"]) - float(created["Timestamp"]) == pytest.approx(RING_S, abs=1.0)
    assert rig.port.asked == []


async def test_a_person_is_put_through_to_the_reserved_agent(rig: Rig) -> None:
    # hangs up 8 s after answering: by then AMD has judged (~1.5 s) and the agent's phone answered at once
    callee = await rig.sipp.callee("callee_answers.xml", fill=_callee(hold_ms=8000))
    dial = rig.attempt(agent="1002")

    result = await rig.run(dial, callee)

    assert (result.outcome, result.agent, result.amd_status) == (AttemptOutcome.CONNECTED, "1002", "HUMAN"), result
    assert result.recognised_by == "DialEnd ANSWER to 1002"
    assert (result.amd_cause or "").startswith("HUMAN-")
    assert rig.port.asked == [(CAMPAIGN, dial.attempt_id)] and rig.route.answers[-1].reason == "agent"
    apps = [app for app, _ in rig.apps(result.uniqueid)]
    assert apps.index("AMD") < apps.index("AGI") < apps.index("Dial") and "Playback" not in apps
    assert rig.var(result.uniqueid, "DIALSTATUS")[-1] == "ANSWER"


async def test_a_person_nobody_is_free_for_hears_the_information_message(rig: Rig) -> None:
    callee = await rig.sipp.callee("callee_answers.xml", fill=_callee())  # stays on: Asterisk hangs up after it
    dial = rig.attempt(agent=None)

    result = await rig.run(dial, callee)

    assert (result.outcome, result.amd_status) == (AttemptOutcome.ABANDONED, "HUMAN"), result
    assert result.recognised_by == "CcDialerResult abandoned: information message played"
    assert rig.route.answers[-1].reason == "no-agent"
    apps = rig.apps(result.uniqueid)
    assert ("Playback", DEFAULT_INFO_MESSAGE) in apps and not any(app == "Dial" for app, _ in apps)
    # the file was found and played to its end (app_playback sets FAILED when it cannot open it)
    assert rig.var(result.uniqueid, "PLAYBACKSTATUS") == ["SUCCESS"]
    abandoned = [e for e in map(parse_event, rig.raw) if isinstance(e, DialerUserEvent) and e.outcome]
    assert [(e.attempt, e.outcome) for e in abandoned] == [(str(dial.attempt_id), "abandoned")]


@pytest.mark.parametrize("phone_scenarios", [{"1002": ("phone_rings.xml", 10_000)}])
async def test_an_agent_whose_phone_does_not_answer_in_time_leaves_the_callee_with_the_message(rig: Rig) -> None:
    """The reserved agent's phone still rings after CC_AGENT_RING_S (2 s; it would answer after 10 s): Dial gives up,
    the callee hears the information message, and the attempt is abandoned naming the agent who was not reached."""
    callee = await rig.sipp.callee("callee_answers.xml", fill=_callee())
    dial = rig.attempt(agent="1002")

    result = await rig.run(dial, callee)

    assert (result.outcome, result.agent) == (AttemptOutcome.ABANDONED, "1002"), result
    assert rig.var(result.uniqueid, "DIALSTATUS")[-1] == "NOANSWER"
    assert rig.var(result.uniqueid, "PLAYBACKSTATUS") == ["SUCCESS"]
    assert result.recognised_by == "CcDialerResult abandoned: information message played"


async def test_an_information_message_asterisk_cannot_find_is_said_not_played(rig: Rig) -> None:
    """A sound file that is not installed: app_playback warns, sets PLAYBACKSTATUS FAILED and the dialplan hangs up;
    the callee heard nothing, and the attempt's record must say so."""
    callee = await rig.sipp.callee("callee_answers.xml", fill=_callee())
    dial = rig.attempt(agent=None, info_message="acme/not-recorded")

    result = await rig.run(dial, callee)

    assert result.outcome is AttemptOutcome.ABANDONED, result
    assert result.recognised_by == ("CcDialerResult abandoned: information message NOT played (acme/not-recorded: "
                                    "PLAYBACKSTATUS FAILED)")
    assert rig.var(result.uniqueid, "PLAYBACKSTATUS") == ["FAILED"]


async def test_an_answering_machine_is_detected_and_hung_up(rig: Rig) -> None:
    callee = await rig.sipp.callee("callee_answers.xml", fill=_callee(MACHINE))
    dial = rig.attempt()

    result = await rig.run(dial, callee)

    assert (result.outcome, result.amd_status) == (AttemptOutcome.MACHINE, "MACHINE"), result
    assert rig.port.asked == []  # no agent is reserved for a machine
    apps = [app for app, _ in rig.apps(result.uniqueid)]
    assert "AGI" not in apps and "Playback" not in apps and apps[-1] == "Hangup"
