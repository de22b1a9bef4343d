"""Flows the captures do not contain, built from the same event shapes: internal calls, a desk phone dialling out,
ring-all, a caller hanging up during routing. Event order follows what the captures show for Dial()."""

from __future__ import annotations

from typing import Any

from callcenter.ami.events import parse_event
from callcenter.calls.tracker import CallTracker
from callcenter.events import AgentStateChanged, CallEnded

STATE_DESC = {0: "Down", 4: "Ring", 5: "Ringing", 6: "Up"}


class Pbx:
    """Builds header maps like Asterisk's and feeds them through parse_event into a tracker."""

    def __init__(self) -> None:
        self.tracker = CallTracker()
        self.domain: list[Any] = []
        self.t = 1795400000.0
        self.channels: dict[str, dict[str, str]] = {}

    def send(self, headers: dict[str, str], dt: float = 0.001) -> None:
        self.t += dt
        event = parse_event({**headers, "Timestamp": f"{self.t:.6f}"})
        assert event is not None, headers
        self.domain.extend(self.tracker.feed(event))

    def block(self, uid: str, prefix: str = "") -> dict[str, str]:
        return {prefix + k: v for k, v in self.channels[uid].items()}

    def new(self, name: str, uid: str, linkedid: str, *, state: int, caller: str, exten: str = "s",
            context: str = "from-internal") -> None:
        self.channels[uid] = {
            "Channel": name, "ChannelState": str(state), "ChannelStateDesc": STATE_DESC[state], "CallerIDNum": caller,
            "CallerIDName": "", "ConnectedLineNum": "<unknown>", "ConnectedLineName": "<unknown>", "Language": "en",
            "AccountCode": "", "Context": context, "Exten": exten, "Priority": "1", "Uniqueid": uid,
            "Linkedid": linkedid,
        }
        self.send({"Event": "Newchannel", **self.block(uid)})

    def state(self, uid: str, state: int, dt: float = 0.001) -> None:
        self.channels[uid].update(ChannelState=str(state), ChannelStateDesc=STATE_DESC[state])
        self.send({"Event": "Newstate", **self.block(uid)}, dt)

    def dial_begin(self, caller: str, dest: str, dial_string: str) -> None:
        self.send({"Event": "DialBegin", **self.block(caller), **self.block(dest, "Dest"), "DialString": dial_string})

    def dial_end(self, caller: str, dest: str, status: str) -> None:
        self.send({"Event": "DialEnd", **self.block(caller), **self.block(dest, "Dest"), "DialStatus": status})

    def varset(self, uid: str, variable: str, value: str) -> None:
        self.send({"Event": "VarSet", **self.block(uid), "Variable": variable, "Value": value})

    def dial_app(self, uid: str, data: str) -> None:
        self.send({"Event": "Newexten", **self.block(uid), "Extension": "s", "Application": "Dial", "AppData": data})

    def hangup_request(self, uid: str) -> None:
        self.send({"Event": "HangupRequest", **self.block(uid), "Cause": "16"})

    def hangup(self, uid: str, cause: int = 16, txt: str = "Normal Clearing", dt: float = 0.001) -> None:
        self.send({"Event": "Hangup", **self.block(uid), "Cause": str(cause), "Cause-txt": txt}, dt)

    def ended(self) -> CallEnded:
        (ended,) = [e for e in self.domain if isinstance(e, CallEnded)]
        return ended

    def agent_states(self, agent: str) -> list[str]:
        return [str(e.state) for e in self.domain if isinstance(e, AgentStateChanged) and e.agent == agent]


def test_internal_call_answered() -> None:
    pbx = Pbx()
    pbx.new("PJSIP/1001-00000001", "9.1", "9.1", state=4, caller="1001", exten="1002")
    pbx.new("PJSIP/1002-00000002", "9.2", "9.1", state=0, caller="1002")
    pbx.dial_begin("9.1", "9.2", "1002")
    pbx.state("9.2", 5)
    pbx.state("9.2", 6, dt=3.0)
    pbx.dial_end("9.1", "9.2", "ANSWER")
    pbx.state("9.1", 6)
    pbx.hangup_request("9.2")
    pbx.hangup("9.2", dt=20.0)
    pbx.hangup("9.1")
    ended = pbx.ended()
    assert (ended.direction, ended.caller, ended.customer, ended.did) == ("internal", "1001", None, None)
    assert (ended.outcome, ended.answered_by, ended.agents_rung, ended.hung_up_by) == ("answered", "1002", ("1002",), "agent")
    # Answered when the caller's channel goes Up after the callee's (+3.006 s after the first event at +0.001).
    assert abs(ended.wait_s - 3.005) < 1e-4
    assert abs(ended.talk_s - 20.002) < 1e-4
    assert pbx.agent_states("1001") == ["talking", "available"]  # busy placing the call, not "ringing"
    assert pbx.agent_states("1002") == ["ringing", "talking", "available"]


def test_internal_call_busy_and_unavailable() -> None:
    pbx = Pbx()
    pbx.new("PJSIP/1001-00000001", "9.1", "9.1", state=4, caller="1001", exten="1003")
    pbx.new("PJSIP/1003-00000002", "9.2", "9.1", state=0, caller="1003")
    pbx.dial_begin("9.1", "9.2", "1003")
    pbx.dial_end("9.1", "9.2", "BUSY")
    pbx.hangup("9.2", 17, "User busy")
    pbx.hangup("9.1", 17, "User busy")
    assert (pbx.ended().outcome, pbx.ended().agents_rung) == ("busy", ())

    pbx = Pbx()
    pbx.new("PJSIP/1001-00000001", "9.1", "9.1", state=4, caller="1001", exten="1007")
    pbx.dial_app("9.1", "PJSIP/1007,20")
    pbx.varset("9.1", "DIALSTATUS", "CHANUNAVAIL")
    pbx.hangup("9.1", 3, "No route to destination")
    ended = pbx.ended()
    assert ended.outcome == "failed"
    assert [(a.agent, a.result) for a in ended.attempts] == [("1007", "CHANUNAVAIL")]


def test_desk_phone_dials_a_customer() -> None:
    pbx = Pbx()
    pbx.new("PJSIP/1002-00000001", "9.1", "9.1", state=4, caller="1002", exten="5550001")
    pbx.new("PJSIP/trunk-00000002", "9.2", "9.1", state=0, caller="<unknown>", context="from-trunk")
    pbx.dial_begin("9.1", "9.2", "5550001@trunk")
    pbx.state("9.2", 5)
    pbx.state("9.2", 6, dt=4.0)
    pbx.dial_end("9.1", "9.2", "ANSWER")
    pbx.state("9.1", 6)
    pbx.hangup_request("9.2")
    pbx.hangup("9.2", dt=30.0)
    pbx.hangup("9.1")
    ended = pbx.ended()
    assert (ended.direction, ended.caller, ended.customer) == ("outbound", "1002", "5550001")
    assert (ended.outcome, ended.answered_by, ended.agents_rung, ended.hung_up_by) == ("answered", "1002", (), "customer")
    assert abs(ended.wait_s - 4.003) < 1e-3


def test_ring_all_first_to_answer_wins() -> None:
    pbx = Pbx()
    pbx.new("PJSIP/trunk-00000001", "9.1", "9.1", state=4, caller="+15551234", exten="8001", context="from-trunk")
    pbx.dial_app("9.1", "PJSIP/1002&PJSIP/1003&PJSIP/1007,20")
    pbx.new("PJSIP/1002-00000002", "9.2", "9.1", state=0, caller="1002")
    pbx.dial_begin("9.1", "9.2", "1002")
    pbx.new("PJSIP/1003-00000003", "9.3", "9.1", state=0, caller="1003")
    pbx.dial_begin("9.1", "9.3", "1003")
    pbx.state("9.2", 5)
    pbx.state("9.3", 5)
    pbx.state("9.3", 6, dt=2.0)
    pbx.dial_end("9.1", "9.3", "ANSWER")
    pbx.dial_end("9.1", "9.2", "CANCEL")
    pbx.state("9.1", 6)
    pbx.hangup("9.2", 0, "Unknown")
    pbx.hangup_request("9.1")
    pbx.hangup("9.1", dt=10.0)
    pbx.hangup("9.3")
    ended = pbx.ended()
    assert (ended.direction, ended.did, ended.outcome, ended.answered_by) == ("inbound", "8001", "answered", "1003")
    assert ended.agents_rung == ("1002", "1003") and ended.agents_talked == ("1003",)
    assert [(a.agent, a.result) for a in ended.attempts] == [("1002", "CANCEL"), ("1003", "ANSWER")]
    assert pbx.agent_states("1002") == ["ringing", "available"]


def test_caller_hangs_up_during_routing() -> None:
    pbx = Pbx()
    pbx.new("PJSIP/trunk-00000001", "9.1", "9.1", state=4, caller="+15551234", exten="8001", context="from-trunk")
    pbx.hangup_request("9.1")
    pbx.hangup("9.1", dt=1.5)
    ended = pbx.ended()
    assert (ended.outcome, ended.hung_up_by, ended.attempts) == ("abandoned", "customer", ())


def test_routing_rejects_the_call() -> None:
    pbx = Pbx()
    pbx.new("PJSIP/trunk-00000001", "9.1", "9.1", state=4, caller="+15551234", exten="8001", context="from-trunk")
    pbx.hangup("9.1", dt=0.5)  # dialplan Hangup(): no HangupRequest
    assert (pbx.ended().outcome, pbx.ended().hung_up_by) == ("failed", "system")


def test_originate_local_agent_to_agent() -> None:
    """Originate Local/1002@cc-agents, then exten 1003: no trunk, both ends are agents; 1003 is the callee."""
    pbx = Pbx()
    pbx.new("Local/1002@cc-agents-00000001;1", "9.1", "9.1", state=0, caller="<unknown>", exten="1002",
            context="cc-agents")
    pbx.new("Local/1002@cc-agents-00000001;2", "9.2", "9.1", state=4, caller="<unknown>", exten="1002",
            context="cc-agents")
    pbx.new("PJSIP/1002-00000003", "9.3", "9.1", state=0, caller="1002")
    pbx.dial_begin("9.2", "9.3", "1002")
    pbx.state("9.3", 5)
    pbx.state("9.3", 6, dt=2.0)
    pbx.state("9.1", 6)
    pbx.new("PJSIP/1003-00000004", "9.4", "9.1", state=0, caller="1003")
    pbx.dial_begin("9.1", "9.4", "1003")
    pbx.state("9.4", 5)
    pbx.state("9.4", 6, dt=3.0)
    for uid in ("9.1", "9.2"):
        pbx.hangup(uid)  # Local optimisation: both halves go, the call goes on
    assert not [e for e in pbx.domain if isinstance(e, CallEnded)]
    pbx.hangup_request("9.4")
    pbx.hangup("9.4", dt=10.0)
    pbx.hangup("9.3")
    ended = pbx.ended()
    assert (ended.direction, ended.outcome, ended.answered_by, ended.agents_rung) == (
        "outbound", "answered", "1003", ("1002", "1003"))
    assert abs(ended.talk_s - 10.004) < 1e-4


def test_a_wrapup_ends_at_its_deadline_even_when_the_next_event_comes_later() -> None:
    pbx = Pbx()
    pbx.tracker = CallTracker(wrapup_s=10.0)

    def internal_call(n: int) -> None:
        a, b = f"9.{n}", f"9.{n + 1}"
        pbx.new(f"PJSIP/1001-0000000{n}", a, a, state=4, caller="1001", exten="1002")
        pbx.new(f"PJSIP/1002-0000000{n + 1}", b, a, state=0, caller="1002")
        pbx.dial_begin(a, b, "1002")
        pbx.state(b, 5)
        pbx.state(b, 6, dt=3.0)
        pbx.dial_end(a, b, "ANSWER")
        pbx.state(a, 6)
        pbx.hangup(b, dt=20.0)
        pbx.hangup(a)

    internal_call(1)
    pbx.t += 60.0  # the next call comes long after the wrap-up ran out, and no timer ticked in between
    internal_call(3)
    left = [e for e in pbx.domain if isinstance(e, AgentStateChanged) and e.wrapup_call_id]
    # 1001's new call starts with its own phone's first event: the wrap-up still ends at its deadline, not then.
    assert [(e.agent, e.wrapup_call_id, str(e.state)) for e in left] == [
        ("1002", "9.1", "available"), ("1001", "9.1", "available"),
    ]
    assert all(abs(e.wrapup_s - 10.0) < 1e-6 for e in left)
    assert pbx.agent_states("1001") == ["talking", "wrap-up", "available", "talking", "wrap-up"]
