"""A supervisor's ChanSpy Originate (listen / whisper / barge) is a phone in use, never a call.

The base is the real capture of an answered inbound call (inbound_agi_dial_answer: customer on PJSIP/trunk, agent
1002). Into its talk time we splice the supervisor's listener as Asterisk 20 sends it for
``Originate Channel=PJSIP/1001 Application=ChanSpy Variable=CC_SPY=...``: the AppDial2 snapshot, the variables and
caller id before DialBegin (same shape and order as originate_answered_to_agent), the phone ringing and answering,
pbx_exec's Newexten of ChanSpy, OriginateResponse, ChanSpyStart/Stop (no capture exists: Spyer/Spyee blocks from the
Asterisk 20 AMI event docs; ChanSpyStop without the spyee, as app_chanspy publishes it) and the hangup once the spied
channel is gone (option E). The call's domain events must be exactly those of the capture alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from callcenter.ami.channel_vars import OriginateVar
from callcenter.ami.events import parse_event
from callcenter.calls.tracker import CallTracker
from callcenter.events import AgentStateChanged, CallEnded, CallStarted

from .replaying import event_frames

CALL_ID = "1795390491.0"  # the capture's call
AGENT_CHANNEL = "PJSIP/1002-00000001"
SPY_UID = "1795390495.2"
SPY_CHANNEL = "PJSIP/1001-00000002"
STATE_DESC = {0: "Down", 5: "Ringing", 6: "Up"}


def _block(prefix: str, *, channel: str, uid: str, linkedid: str, state: int, cid: str = "<unknown>",
           cid_name: str = "<unknown>", context: str = "from-internal", exten: str = "s") -> dict[str, str]:
    fields = {
        "Channel": channel, "ChannelState": str(state), "ChannelStateDesc": STATE_DESC[state], "CallerIDNum": cid,
        "CallerIDName": cid_name, "ConnectedLineNum": cid, "ConnectedLineName": cid_name, "Language": "en",
        "AccountCode": "", "Context": context, "Exten": exten, "Priority": "1", "Uniqueid": uid, "Linkedid": linkedid,
    }
    return {prefix + k: v for k, v in fields.items()}


class ListenerStream:
    """The frames of one supervisor listener, stamped from ``start_s`` on."""

    def __init__(self, *, start_s: float, uid: str = SPY_UID, channel: str = SPY_CHANNEL, mode: str = "barge",
                 spied: tuple[str, str, str] = (AGENT_CHANNEL, "1795390491.1", CALL_ID)) -> None:
        self.t = start_s
        self.uid, self.channel, self.mode, self.spied = uid, channel, mode, spied
        self.state = 0
        self.cid = ("<unknown>", "<unknown>")

    def _frame(self, event: str, privilege: str = "call,all", **extra: str) -> dict[str, str]:
        self.t += 0.000012
        return {"Event": event, "Privilege": privilege, "Timestamp": f"{self.t:.6f}", **extra}

    def _me(self, prefix: str = "") -> dict[str, str]:
        return _block(prefix, channel=self.channel, uid=self.uid, linkedid=self.uid, state=self.state,
                      cid=self.cid[0], cid_name=self.cid[1])

    def _spyee(self) -> dict[str, str]:
        channel, uid, linkedid = self.spied
        return _block("Spyee", channel=channel, uid=uid, linkedid=linkedid, state=6, cid="1002",
                      cid_name="Agent 1002", context="cc-inbound", exten="8001")

    def until_answered(self) -> list[dict[str, str]]:
        frames = [
            self._frame("Newchannel", **self._me()),
            self._frame("Newexten", "dialplan,all", **self._me(), Extension="s", Application="AppDial2",
                        AppData="(Outgoing Line)"),
            self._frame("VarSet", "dialplan,all", **self._me(), Variable=str(OriginateVar.SPY), Value=self.mode),
        ]
        self.cid = ("1002", f"{self.mode.title()} 1002")
        frames += [
            self._frame("NewCallerid", **self._me(), **{"CID-CallingPres": "0 (Presentation Allowed, Not Screened)"}),
            self._frame("NewConnectedLine", **self._me()),
            self._frame("DialBegin", **self._me("Dest"), DialString="1001"),
        ]
        self.state = 5
        frames += [
            self._frame("Newstate", **self._me()),
            self._frame("DialState", **self._me("Dest"), DialStatus="RINGING"),
            self._frame("DeviceStateChange", Device="PJSIP/1001", State="RINGING"),
        ]
        self.t += 1.0
        self.state = 6
        frames += [
            self._frame("Newstate", **self._me()),
            self._frame("DialEnd", **self._me("Dest"), DialStatus="ANSWER"),
            self._frame("DeviceStateChange", Device="PJSIP/1001", State="INUSE"),
        ]
        return frames

    def spying(self) -> list[dict[str, str]]:
        options = {"listen": "qESu", "whisper": "qESuw", "barge": "qESuB"}[self.mode]
        return [
            self._frame("Newexten", "dialplan,all", **self._me(), Extension="s", Application="ChanSpy",
                        AppData=f"{self.spied[0]},{options}"),
            self._frame("OriginateResponse", ActionID="cc-1-7", Response="Success", Channel=self.channel,
                        Context="", Exten="", Reason="4", Uniqueid=self.uid, CallerIDNum=self.cid[0],
                        CallerIDName=self.cid[1]),
            self._frame("ChanSpyStart", **self._me("Spyer"), **self._spyee()),
        ]

    def ended(self, *, spied: bool = True) -> list[dict[str, str]]:
        frames = [self._frame("ChanSpyStop", **self._me("Spyer"))] if spied else []
        return frames + [
            self._frame("SoftHangupRequest", **self._me(), Cause="16"),
            self._frame("Hangup", **self._me(), Cause="16", **{"Cause-txt": "Normal Clearing"}),
            self._frame("DeviceStateChange", Device="PJSIP/1001", State="NOT_INUSE"),
        ]


def _split(frames: list[dict[str, str]], at_s: float) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    i = next(i for i, h in enumerate(frames) if float(h.get("Timestamp", 0)) > at_s)
    return frames[:i], frames[i:]


def _feed(tracker: CallTracker, frames: list[dict[str, str]]) -> list[Any]:
    out: list[Any] = []
    for h in frames:
        event = parse_event(h)
        if event is not None:
            out.extend(tracker.feed(event))
    return out


def _about_the_call(events: list[Any]) -> list[Any]:
    """Everything but the supervisor's phone state (which is in use while listening: that part is right)."""
    return [e for e in events if not (isinstance(e, AgentStateChanged) and e.agent == "1001")]


@pytest.fixture
def capture(traces_dir: Path) -> list[dict[str, str]]:
    return event_frames(traces_dir / "inbound_agi_dial_answer.ami")


@pytest.fixture
def alone(capture: list[dict[str, str]]) -> list[Any]:
    return _feed(CallTracker(), capture)


@pytest.mark.parametrize("mode", ["listen", "whisper", "barge"])
def test_a_listener_on_an_answered_call_is_neither_a_call_nor_an_agent_on_it(
    capture: list[dict[str, str]], alone: list[Any], mode: str
) -> None:
    talk, rest = _split(capture, 1795390495.0)
    spy = ListenerStream(start_s=1795390495.0, mode=mode)
    tracker = CallTracker()
    out = _feed(tracker, talk + spy.until_answered() + spy.spying())
    (call,) = tracker.open_calls()
    assert call.call_id == CALL_ID and call.agents_talked == ["1002"] and call.answered_by == "1002"
    assert set(call.channels) == {"1795390491.0", "1795390491.1"}
    (listener,) = tracker.listeners()
    assert (listener.supervisor, listener.mode, listener.call_id, listener.spied_channel) == (
        "1001", mode, CALL_ID, AGENT_CHANNEL
    )
    assert tracker.talking_leg(CALL_ID) == ("1002", AGENT_CHANNEL)
    # The call ends (customer BYE); ChanSpy exits with it (E) and the supervisor's phone hangs up.
    out += _feed(tracker, rest + spy.ended())
    assert _about_the_call(out) == alone
    assert not [e for e in out if getattr(e, "call_id", None) == SPY_UID]
    assert tracker.open_calls() == [] and tracker.listeners() == []
    assert (tracker.stats.calls_started, tracker.stats.calls_ended, tracker.stats.listeners) == (1, 1, 1)
    # The supervisor's phone was busy while listening, and nothing else.
    states = [e.state.value for e in out if isinstance(e, AgentStateChanged) and e.agent == "1001"]
    assert "talking" in states and all(
        e.call_id is None for e in out if isinstance(e, AgentStateChanged) and e.agent == "1001"
    )


def test_a_listener_whose_phone_never_answers_leaves_no_trace(capture: list[dict[str, str]], alone: list[Any]) -> None:
    talk, rest = _split(capture, 1795390495.0)
    spy = ListenerStream(start_s=1795390495.0, mode="listen")
    ringing = spy.until_answered()[:-3]  # up to the ringing phone
    spy.t += 20.0
    failed = [
        spy._frame("OriginateResponse", ActionID="cc-1-8", Response="Failure", Channel="PJSIP/1001", Context="",
                   Exten="", Reason="3", Uniqueid="<unknown>", CallerIDNum="1002", CallerIDName="Listen 1002"),
        spy._frame("Hangup", **spy._me(), Cause="19", **{"Cause-txt": "User alerting, no answer"}, TechCause="480"),
    ]
    tracker = CallTracker()
    out = _feed(tracker, talk + ringing + failed + rest)
    assert _about_the_call(out) == alone
    assert tracker.listeners() == [] and tracker.stats.calls_started == 1


def test_an_originated_desk_phone_without_cc_spy_is_a_call_announced_when_dialled() -> None:
    """Click-to-call rings the agent's phone first: CallStarted waits for DialBegin (the Originate's variables come
    before it), keeps the Newchannel time, and precedes every other event of the call."""
    uid = "1795390600.9"
    me = _block("", channel="PJSIP/1002-00000009", uid=uid, linkedid=uid, state=0)
    frames = [
        {"Event": "Newchannel", "Timestamp": "1795390600.000100", **me},
        {"Event": "Newexten", "Timestamp": "1795390600.000200", **me, "Extension": "s", "Application": "AppDial2",
         "AppData": "(Outgoing Line)"},
        {"Event": "VarSet", "Timestamp": "1795390600.000300", **me, "Variable": "CC_CLICK_TO_CALL", "Value": "7"},
    ]
    tracker = CallTracker()
    assert _feed(tracker, frames) == []
    (started,) = _feed(tracker, [{"Event": "DialBegin", "Timestamp": "1795390600.000900",
                                  **_block("Dest", channel="PJSIP/1002-00000009", uid=uid, linkedid=uid, state=0),
                                  "DialString": "1002"}])
    assert isinstance(started, CallStarted) and (started.call_id, started.at_s) == (uid, 1795390600.0001)
    assert [c.call_id for c in tracker.open_calls()] == [uid]
    assert tracker.open_calls()[0].variables == {"CC_CLICK_TO_CALL": "7"}
    out = _feed(tracker, [{"Event": "Hangup", "Timestamp": "1795390610.0", **me, "Cause": "19",
                           "Cause-txt": "User alerting, no answer"}])
    assert [type(e) for e in out if not isinstance(e, AgentStateChanged)] == [CallEnded]


def test_a_hangup_before_dialling_still_announces_the_call_first() -> None:
    uid = "1795390700.1"
    me = _block("", channel="PJSIP/1003-0000000a", uid=uid, linkedid=uid, state=0)
    tracker = CallTracker()
    out = _feed(tracker, [
        {"Event": "Newchannel", "Timestamp": "1795390700.000100", **me},
        {"Event": "Hangup", "Timestamp": "1795390700.000500", **me, "Cause": "0", "Cause-txt": "Unknown"},
    ])
    assert [type(e) for e in out if not isinstance(e, AgentStateChanged)] == [CallStarted, CallEnded]


def _snapshot(*items: dict[str, str]) -> Iterator[Any]:
    for i, item in enumerate(items):
        yield parse_event({"Event": "CoreShowChannel", "ActionID": "r", **item})
    yield parse_event({"Event": "CoreShowChannelsComplete", "ActionID": "r", "EventList": "Complete",
                       "ListItems": str(len(items))})


def test_a_listener_found_by_a_resync_is_not_a_recovered_call() -> None:
    spying = {**_block("", channel=SPY_CHANNEL, uid=SPY_UID, linkedid=SPY_UID, state=6), "Application": "ChanSpy",
              "ApplicationData": f"{AGENT_CHANNEL},qESu", "Duration": "00:00:12", "BridgeId": ""}
    tracker = CallTracker()
    tracker.begin_resync()
    for event in _snapshot(spying):
        tracker.feed(event)
    out = tracker.end_resync(at_s=1795390800.0)
    assert [e for e in out if not isinstance(e, AgentStateChanged)] == [] and tracker.open_calls() == []
    (listener,) = tracker.listeners()
    assert (listener.supervisor, listener.recovered, listener.started_s) == ("1001", True, 1795390788.0)
    # Its events after the resync are its own, not a call's.
    me = _block("", channel=SPY_CHANNEL, uid=SPY_UID, linkedid=SPY_UID, state=6)
    assert _feed(tracker, [{"Event": "Hangup", "Timestamp": "1795390801.0", **me, "Cause": "16",
                            "Cause-txt": "Normal Clearing"}]) == []
    assert tracker.listeners() == [] and tracker.open_calls() == []
    # Gone while we were away: the next complete snapshot drops it.
    tracker.begin_resync()
    for event in _snapshot(spying):
        tracker.feed(event)
    tracker.end_resync(at_s=1795390900.0)
    tracker.begin_resync()
    for event in _snapshot():
        tracker.feed(event)
    tracker.end_resync(at_s=1795391000.0)
    assert tracker.listeners() == [] and tracker.open_calls() == []


def test_talking_leg_only_while_the_call_is_answered(capture: list[dict[str, str]]) -> None:
    ringing, rest = _split(capture, 1795390492.0)
    tracker = CallTracker()
    _feed(tracker, ringing)
    assert tracker.talking_leg(CALL_ID) is None and tracker.talking_leg("nope") is None
    talk, rest = _split(rest, 1795390495.0)
    _feed(tracker, talk)
    assert tracker.talking_leg(CALL_ID) == ("1002", AGENT_CHANNEL)
    _feed(tracker, rest)
    assert tracker.talking_leg(CALL_ID) is None
