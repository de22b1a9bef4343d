"""ChanSpy in the simulator: the supervisor's Originate into ChanSpy as Asterisk 20 would run it.

The PBX is set up like the capture PBX and takes the call of inbound_agi_dial_answer (FastAGI replayed from the
capture: customer -> 1002). Mid-call the supervisor's phone 1001 is originated into ChanSpy on 1002's channel with
the service's own action builder. Checked: the Originate part has the event names and header sets of the real
originate capture (originate_answered_to_agent: same pbx_outgoing_attempt path), the application part what
app_chanspy does (Newexten of ChanSpy, ChanSpyStart/Stop, hang up with the spied channel: option E), and the
service's parser and tracker see one call answered by 1002, with 1001 a listener and no call of its own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from callcenter.ami import actions
from callcenter.ami.channel_vars import SpyMode
from callcenter.calls.ingest import AmiIngest
from callcenter.calls.tracker import CallTracker
from callcenter.events import CallEnded, CallStarted
from callcenter.pbxsim.callmodel import Caller, HangupSide, PhoneAnswer
from callcenter.pbxsim.clock import VirtualClock
from callcenter.pbxsim.pbx import Pbx
from callcenter.pbxsim.scenarios import TRACE_SCENARIOS
from tests.pbxsim.harness import RawAmiClient, frames_of, simulated

CUSTOMER = Caller(number="+12125550101", did="8001", talk_s=20.0, hangup_side=HangupSide.CALLER)
SPYER_BLOCK = {f"Spyer{h}" for h in ("Channel", "ChannelState", "ChannelStateDesc", "CallerIDNum", "CallerIDName",
                                      "ConnectedLineNum", "ConnectedLineName", "Language", "AccountCode", "Context",
                                      "Exten", "Priority", "Uniqueid", "Linkedid")}
SPYEE_BLOCK = {h.replace("Spyer", "Spyee", 1) for h in SPYER_BLOCK}


class Floor:
    def __init__(self, pbx: Pbx, clock: VirtualClock, client: RawAmiClient) -> None:
        self.pbx, self.clock, self.client = pbx, clock, client

    async def send(self, action: dict[str, Any]) -> None:
        pairs: list[tuple[str, str]] = []
        for key, value in action.items():
            pairs += [(key, v) for v in value] if isinstance(value, list) else [(key, str(value))]
        await self.client.send(tuple(pairs))

    async def synced(self) -> None:
        """A Ping's response comes after every event sent before it: the client has them all then."""
        self.pings = getattr(self, "pings", 0) + 1
        await self.client.send((("Action", "Ping"), ("ActionID", f"sync-{self.pings}")))

    def agent_channel(self) -> str:
        return next(c.name for c in self.pbx.live_channels() if c.endpoint == "1002")

    def frames(self) -> list[dict[str, str]]:
        return [dict(f) for f in frames_of(bytes(self.client.data))]

    def of(self, channel_prefix: str) -> list[dict[str, str]]:
        """The channel's events, without OriginateResponse (it races with the application's first events in Asterisk
        too) and VarSet other than CC_SPY (RTP statistics at the end)."""
        return [f for f in self.frames() if "Event" in f and any(
            f.get(h, "").startswith(channel_prefix) for h in ("Channel", "DestChannel", "SpyerChannel"))
            and f["Event"] != "OriginateResponse" and (f["Event"] != "VarSet" or f["Variable"] == "CC_SPY")]


@pytest.fixture
async def floor(traces_dir: Path, tmp_path: Path) -> AsyncIterator[Floor]:
    async with simulated(traces_dir, TRACE_SCENARIOS["inbound_agi_dial_answer"], tmp_path) as (pbx, server, clock, _):
        client = RawAmiClient()
        await client.connect(server.port)
        await client.wait_for(b"Event: SuccessfulAuth")
        pbx.register("1001")  # the supervisor's desk phone (it registers, like 1001 in the capture PBX)
        pbx.phones["1002"].scripted.append(PhoneAnswer(action="answer", delay_s=2.0))
        pbx.incoming_call(CUSTOMER)
        await clock.advance(3.0)  # routed by the capture's FastAGI answer, 1002 answers after 2 s
        try:
            yield Floor(pbx, clock, client)
        finally:
            await client.close()
            assert not clock.errors, clock.errors


def _spy(floor: Floor, mode: SpyMode, *, channel: str | None = None) -> dict[str, Any]:
    return actions.chanspy(supervisor="1001", spied_channel=channel or floor.agent_channel(), agent="1002",
                           mode=mode, action_id=f"spy-{mode}")


@pytest.mark.parametrize("mode", list(SpyMode))
async def test_a_supervisor_listens_until_the_call_ends(floor: Floor, traces_dir: Path, mode: SpyMode) -> None:
    agent = floor.agent_channel()
    floor.pbx.phones["1001"].scripted.append(PhoneAnswer(action="answer", delay_s=1.0))
    await floor.send(_spy(floor, mode))
    await floor.clock.advance(2.0)
    (session,) = floor.pbx.spy_log
    options = actions.CHANSPY_OPTIONS[mode]
    assert (session.spyee, session.options, session.ended_s) == (agent, options, None)
    await floor.clock.advance(40.0)  # the customer hangs up 20 s after the answer
    assert floor.pbx.live_channels() == [] and session.ended_s is not None
    await floor.synced()

    spy = floor.of("PJSIP/1001-")
    names = [f["Event"] for f in spy]
    assert names == [
        "Newchannel", "Newexten", "VarSet", "NewCallerid", "NewConnectedLine", "DialBegin", "Newstate", "DialState",
        "Newstate", "DialEnd", "Newexten", "ChanSpyStart", "ChanSpyStop", "SoftHangupRequest", "Hangup",
    ]
    by_name = {f["Event"]: f for f in spy}
    assert (by_name["VarSet"]["Variable"], by_name["VarSet"]["Value"]) == ("CC_SPY", mode.value)
    assert (spy[10]["Application"], spy[10]["AppData"]) == ("ChanSpy", f"{agent},{options}")
    assert (spy[1]["Application"], spy[1]["AppData"]) == ("AppDial2", "(Outgoing Line)")
    assert (spy[3]["CallerIDNum"], spy[3]["CallerIDName"]) == ("1002", f"{mode.value.title()} 1002")
    start, stop = by_name["ChanSpyStart"], by_name["ChanSpyStop"]
    assert set(start) == {"Event", "Privilege", "Timestamp"} | SPYER_BLOCK | SPYEE_BLOCK
    assert set(stop) == {"Event", "Privilege", "Timestamp"} | SPYER_BLOCK
    assert (start["Privilege"], start["SpyeeChannel"], start["SpyerChannelStateDesc"]) == ("call,all", agent, "Up")
    assert start["SpyeeLinkedid"] == next(f["Linkedid"] for f in floor.of("PJSIP/trunk-"))
    # ChanSpy exits when the spied channel is gone (E): the stop comes after the agent's Hangup.
    frames = floor.frames()
    agent_hangup = next(i for i, f in enumerate(frames) if f.get("Event") == "Hangup" and f.get("Channel") == agent)
    assert frames.index(stop) > agent_hangup
    (response,) = [f for f in frames if f.get("Event") == "OriginateResponse"]
    assert (response["ActionID"], response["Response"], response["Reason"], response["Channel"]) == (
        f"spy-{mode}", "Success", "4", spy[0]["Channel"])

    # The Originate part has the headers of the real originate capture, event by event.
    real = [dict(f) for f in frames_of((traces_dir / "originate_answered_to_agent.ami").read_bytes())]
    real_leg = [f for f in real if f.get("Channel", f.get("DestChannel", "")).startswith("PJSIP/trunk-")]
    real_leg = [f for f in real_leg if f["Event"] not in ("VarSet",) or f["Variable"] == "CC_CAMPAIGN"][:10]
    assert [f["Event"] for f in real_leg] == names[:10]
    for ours, theirs in zip(spy[:10], real_leg, strict=True):
        assert set(ours) == set(theirs), ours["Event"]

    # What the service makes of the whole stream: one call answered by 1002; 1001 listened and is not on it.
    tracker = CallTracker()
    seen: list[Any] = []
    AmiIngest(tracker=tracker, publish=seen.append).feed_bytes(bytes(floor.client.data))
    (ended,) = [e for e in seen if isinstance(e, CallEnded)]
    assert (ended.answered_by, ended.agents_rung, ended.agents_talked) == ("1002", ("1002",), ("1002",))
    assert [e.call_id for e in seen if isinstance(e, CallStarted)] == [ended.call_id]
    assert tracker.stats.listeners == 1 and tracker.listeners() == []


async def test_the_supervisor_hangs_up_first_and_the_call_goes_on(floor: Floor) -> None:
    floor.pbx.phones["1001"].scripted.append(PhoneAnswer(action="answer", delay_s=1.0))
    await floor.send(_spy(floor, SpyMode.LISTEN))
    await floor.clock.advance(2.0)
    spyer = next(c.name for c in floor.pbx.live_channels() if c.endpoint == "1001")
    await floor.send({"Action": "Hangup", "ActionID": "h-1", "Channel": spyer, "Cause": "16"})
    await floor.clock.advance(1.0)
    assert [c.endpoint for c in floor.pbx.live_channels()] == ["trunk", "1002"]
    (session,) = floor.pbx.spy_log
    assert session.ended_s is not None
    await floor.synced()
    # AMI Hangup soft-hangs the channel at once; ChanSpy notices, stops, and the channel goes.
    assert [f["Event"] for f in floor.of("PJSIP/1001-")][-3:] == ["SoftHangupRequest", "ChanSpyStop", "Hangup"]


async def test_nothing_to_spy_on_hangs_up_at_once(floor: Floor) -> None:
    """u with a channel that is gone (the call ended while the supervisor's phone rang): ChanSpy exits."""
    floor.pbx.phones["1001"].scripted.append(PhoneAnswer(action="answer", delay_s=1.0))
    await floor.send(_spy(floor, SpyMode.BARGE, channel="PJSIP/1002-000000ff"))
    await floor.clock.advance(2.0)
    assert floor.pbx.spy_log == [] and [c.endpoint for c in floor.pbx.live_channels()] == ["trunk", "1002"]
    await floor.synced()
    names = [f["Event"] for f in floor.of("PJSIP/1001-")]
    assert "ChanSpyStart" not in names and names[-1] == "Hangup" and "Newexten" in names


async def test_a_supervisor_who_does_not_pick_up(floor: Floor) -> None:
    floor.pbx.phones["1001"].scripted.append(PhoneAnswer(action="ignore"))
    await floor.send(_spy(floor, SpyMode.WHISPER) | {"Timeout": "5000"})
    await floor.clock.advance(6.0)
    await floor.synced()
    (response,) = [f for f in floor.frames() if f.get("Event") == "OriginateResponse"]
    assert (response["Response"], response["Reason"]) == ("Failure", "3")
    assert floor.pbx.spy_log == []
