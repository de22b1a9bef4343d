"""Each published capture replayed through parser + tracker gives the calls described in its .md file.

Expected times are the .md "Key events" offsets (ms resolution), so they are compared with abs=5 ms.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from callcenter.events import (
    AgentState,
    AgentStateChanged,
    CallAnswered,
    CallEnded,
    CallRinging,
    CallStarted,
    CallTransferred,
    RecordingReady,
)

from .replaying import ended_by_id, run

MON = "/var/spool/asterisk/monitor/"


def mixmonitor_files(uid: str) -> tuple[str, ...]:
    return (f"{MON}{uid}.wav", f"{MON}{uid}-rx.wav", f"{MON}{uid}-tx.wav")


# scenario -> expected CallEnded fields (wait_s / talk_s from the .md timelines)
EXPECTED: dict[str, dict[str, Any]] = {
    "inbound_agi_dial_answer": dict(
        call_id="1795390491.0", direction="inbound", caller="+12125550101", did="8001", customer="+12125550101",
        outcome="answered", answered_by="1002", agents_rung=("1002",), agents_talked=("1002",),
        attempts=[("1002", None, "ANSWER")], wait_s=2.429 - 0.415, talk_s=15.938 - 2.429, hangup_cause=16,
        hung_up_by="customer", recordings=mixmonitor_files("1795390491.0"), queue=None,
    ),
    "inbound_agi_dial_answer_cdr": dict(
        call_id="1795390948.9", direction="inbound", did="8050", outcome="answered", answered_by="1002",
        wait_s=2.422 - 0.411, talk_s=15.930 - 2.422, hangup_cause=16, hung_up_by="customer",
        recordings=(f"{MON}1795390948.9-stereo.raw",),
    ),
    "inbound_dial_noanswer_fallback": dict(
        call_id="1795390509.2", did="8002", caller="+12125550102", outcome="answered", answered_by="1002",
        agents_rung=("1003", "1002"), attempts=[("1003", None, "NOANSWER"), ("1002", None, "ANSWER")],
        wait_s=10.438 - 0.411, talk_s=22.443 - 10.438, hangup_cause=16, hung_up_by="agent",
    ),
    "inbound_target_unavailable": dict(
        call_id="1795390534.5", did="8003", outcome="answered", answered_by="1002", agents_rung=("1002",),
        # CHANUNAVAIL creates no channel: the attempt on 1007 is known only from DIALSTATUS.
        attempts=[("1007", None, "CHANUNAVAIL"), ("1002", None, "ANSWER")],
        wait_s=2.429 - 0.409, talk_s=10.438 - 2.429, hangup_cause=16, hung_up_by="customer",
    ),
    "inbound_busy": dict(
        call_id="1795390547.7", did="8004", outcome="answered", answered_by="1002",
        agents_rung=("1002",),  # 1004 answered 486 at once: offered, never rang
        attempts=[("1004", None, "BUSY"), ("1002", None, "ANSWER")],
        wait_s=2.432 - 0.412, talk_s=10.440 - 2.432, hangup_cause=16, hung_up_by="customer",
    ),
    "inbound_caller_abandons_ringing": dict(
        call_id="1795390559.10", did="8005", outcome="missed", answered_by=None, agents_rung=("1002",),
        agents_talked=(), attempts=[("1002", None, "CANCEL")], wait_s=5.423 - 0.412, talk_s=0.0,
        hangup_cause=127, hung_up_by="customer",
    ),
    "queue_answered": dict(
        call_id="1795390575.12", did="8006", outcome="answered", answered_by="1002", agents_rung=("1002",),
        attempts=[("1002", "sales", "ANSWER")], wait_s=4.436 - 1.414, talk_s=17.426 - 4.436, hangup_cause=16,
        hung_up_by="customer", queue="sales",
    ),
    "queue_abandoned": dict(
        call_id="1795390595.14", did="8007", outcome="abandoned", answered_by=None, agents_rung=(), attempts=[],
        wait_s=9.130 - 1.118, talk_s=0.0, hangup_cause=0, hung_up_by="customer", queue="sales",
    ),
    "queue_ringnoanswer_then_answer": dict(
        call_id="1795390607.15", did="8008", outcome="answered", answered_by="1002", agents_rung=("1003", "1002"),
        attempts=[("1003", "support", "NOANSWER"), ("1002", "support", "ANSWER")], wait_s=12.439 - 1.410,
        talk_s=25.420 - 12.439, hangup_cause=16, hung_up_by="customer", queue="support",
    ),
    "queue_timeout": dict(
        # QueueCallerAbandon is emitted on timeout too; QUEUESTATUS=TIMEOUT makes it a missed call.
        call_id="1795391081.20", did="8010", outcome="missed", answered_by=None, agents_rung=(),
        wait_s=9.627 - 1.114, talk_s=0.0, hangup_cause=16, hung_up_by="system", queue="sales",
    ),
    "originate_answered_to_agent": dict(
        call_id="1795390655.18", direction="outbound", caller="8005550100", did=None, customer="5550001",
        outcome="answered", answered_by="1002", agents_rung=("1002",), wait_s=4.320 - 0.302,
        talk_s=17.317 - 4.320, hangup_cause=16, hung_up_by="customer", recordings=(),
        originate_action_id="orig-camp42-0001", campaign="42",
    ),
    "originate_noanswer": dict(
        call_id="1795390674.20", direction="outbound", caller="8005550100", customer="5550001", outcome="missed",
        answered_by=None, agents_rung=(), wait_s=10.308 - 0.302, talk_s=0.0, hangup_cause=19, hung_up_by="system",
        originate_action_id="orig-camp42-0002",
    ),
    "originate_busy": dict(
        call_id="1795390687.21", direction="outbound", customer="5550001", outcome="busy", answered_by=None,
        wait_s=0.809 - 0.303, hangup_cause=17, hung_up_by="customer", originate_action_id="orig-camp42-0003",
    ),
    "originate_local_agent_first": dict(
        # The agent answers at +2.310, the customer at +5.317: the call is answered when both are up.
        call_id="1795390690.22", direction="outbound", caller="8005550100", customer="5550001", outcome="answered",
        answered_by="1002", agents_rung=("1002",), wait_s=5.317 - 0.302, talk_s=17.323 - 5.317, hangup_cause=16,
        hung_up_by="customer", originate_action_id="orig-c2c-0004", campaign="42",
    ),
    "blind_transfer_redirect": dict(
        call_id="1795390710.26", did="8013", outcome="answered", answered_by="1002", agents_rung=("1002", "1003"),
        agents_talked=("1002", "1003"), attempts=[("1002", None, "ANSWER"), ("1003", None, "ANSWER")],
        wait_s=2.426 - 0.414, talk_s=20.434 - 2.426, hangup_cause=16, hung_up_by="customer",
    ),
}


def check(ended: CallEnded, expected: dict[str, Any]) -> None:
    for key, value in expected.items():
        actual = getattr(ended, key)
        if key in ("wait_s", "talk_s"):
            assert actual == pytest.approx(value, abs=0.005), key
        elif key == "attempts":
            assert [(a.agent, a.queue, a.result) for a in actual] == value, key
        else:
            assert actual == value, key
    assert ended.end_estimated is False


@pytest.mark.parametrize("scenario", sorted(EXPECTED))
def test_scenario_call(traces_dir: Path, scenario: str) -> None:
    tracker, domain = run(traces_dir / f"{scenario}.ami")
    ended = ended_by_id(domain)
    assert list(ended) == [EXPECTED[scenario]["call_id"]]
    check(ended[EXPECTED[scenario]["call_id"]], EXPECTED[scenario])
    assert tracker.open_calls() == []
    starts = [e for e in domain if isinstance(e, CallStarted)]
    assert [s.call_id for s in starts] == list(ended)
    # Every answered call announced exactly one CallAnswered, by the same agent, before CallEnded.
    answered = [e for e in domain if isinstance(e, CallAnswered)]
    call = next(iter(ended.values()))
    if call.outcome == "answered":
        assert [(a.agent, a.call_id) for a in answered] == [(call.answered_by, call.call_id)]
        assert answered[0].wait_s == pytest.approx(call.wait_s)
        assert domain.index(answered[0]) < domain.index(call)
    else:
        assert answered == []
    rings = [e.agent for e in domain if isinstance(e, CallRinging)]
    assert tuple(dict.fromkeys(rings)) == call.agents_rung


def test_blind_transfer_emits_one_transfer(traces_dir: Path) -> None:
    _, domain = run(traces_dir / "blind_transfer_redirect.ami")
    (transfer,) = [e for e in domain if isinstance(e, CallTransferred)]
    assert (transfer.from_agent, transfer.to_agent) == ("1002", "1003")
    assert transfer.at_s == pytest.approx(1795390710.048659 - 0.414 + 9.437, abs=0.005)


def test_recording_ready_once_per_recording_at_call_end(traces_dir: Path) -> None:
    _, domain = run(traces_dir / "inbound_agi_dial_answer.ami")
    (ready,) = [e for e in domain if isinstance(e, RecordingReady)]
    (ended,) = [e for e in domain if isinstance(e, CallEnded)]
    assert ready.path == f"{MON}1795390491.0.wav"
    assert ready.leg_paths == mixmonitor_files("1795390491.0")[1:]
    assert (ready.call_id, ready.at_s) == (ended.call_id, ended.ended_s)


def test_concurrent_calls_are_kept_apart(traces_dir: Path) -> None:
    _, domain = run(traces_dir / "concurrent_calls_5.ami")
    ended = ended_by_id(domain)
    assert len(ended) == 5
    # FastAGI mapping 8021->1002 ... 8025->1006; agents ring 1.00/1.25/1.50/1.75/2.00 s before answering.
    by_did = {e.did: e for e in ended.values()}
    assert sorted(by_did) == ["8021", "8022", "8023", "8024", "8025"]
    for i, did in enumerate(sorted(by_did)):
        call = by_did[did]
        assert call.caller == f"+1212555012{i + 1}"
        assert (call.outcome, call.answered_by, call.agents_rung) == ("answered", f"100{i + 2}", (f"100{i + 2}",))
        assert call.wait_s == pytest.approx(1.0 + 0.25 * i, abs=0.03)
        assert 3.0 <= call.talk_s <= 6.1  # BYE after a uniform random 3-6 s
        assert (call.hangup_cause, call.hung_up_by) == (16, "customer")
    # Hangups happened in a different order than the arrivals (8021, 8023, 8024, 8022, 8025).
    order = [e.did for e in domain if isinstance(e, CallEnded)]
    assert order == ["8021", "8023", "8024", "8022", "8025"]


def agent_states(domain: list[Any], agent: str) -> list[tuple[str, str | None]]:
    return [(str(e.state), e.reason) for e in domain if isinstance(e, AgentStateChanged) and e.agent == agent]


def test_agent_pause_cycle(traces_dir: Path) -> None:
    tracker, domain = run(traces_dir / "agent_pause_cycle.ami")
    assert agent_states(domain, "1005") == [("available", None), ("paused", "lunch"), ("available", None)]
    assert tracker.agents.agents["1005"].queues == {}  # QueueRemove at the end


def test_agent_register_unregister(traces_dir: Path) -> None:
    _, domain = run(traces_dir / "agent_register_unregister.ami")
    assert agent_states(domain, "1001") == [("available", None), ("offline", None)]
    assert {e.agent for e in domain if isinstance(e, AgentStateChanged)} == {"1001"}


def test_agent_states_through_a_queue_call_with_wrapup(traces_dir: Path) -> None:
    tracker, domain = run(traces_dir / "queue_answered.ami", wrapup_s=10.0)
    assert agent_states(domain, "1002") == [
        ("available", None),
        ("ringing", None),
        ("talking", None),
        ("wrap-up", None),
    ]
    (ended,) = [e for e in domain if isinstance(e, CallEnded)]
    wrapup = [e for e in domain if isinstance(e, AgentStateChanged) and e.state is AgentState.WRAP_UP]
    assert wrapup[0].at_s == pytest.approx(ended.ended_s, abs=0.002)
    assert wrapup[0].call_id == ended.call_id  # the wrap-up belongs to the call whose leg ended
    assert tracker.tick(ended.ended_s + 9.9) == ()  # not yet
    (back,) = tracker.tick(ended.ended_s + 10.0)
    assert (back.agent, back.state, back.previous) == ("1002", AgentState.AVAILABLE, AgentState.WRAP_UP)
    assert (back.wrapup_call_id, back.wrapup_since_s) == (ended.call_id, wrapup[0].at_s)
    assert back.wrapup_s == pytest.approx(10.0)  # ends at its deadline, not at the later tick


def test_a_replay_gives_the_same_wrapup_events(traces_dir: Path) -> None:
    def wrapups() -> list[AgentStateChanged]:
        tracker, domain = run(traces_dir / "queue_answered.ami", wrapup_s=10.0)
        return [e for e in [*domain, *tracker.tick(tracker.now_s + 60.0)]
                if isinstance(e, AgentStateChanged) and AgentState.WRAP_UP in (e.state, e.previous)]

    first = wrapups()
    assert len(first) == 2 and first == wrapups()


def test_agent_states_in_ring_no_answer_fallback(traces_dir: Path) -> None:
    _, domain = run(traces_dir / "inbound_dial_noanswer_fallback.ami")
    assert agent_states(domain, "1003") == [("ringing", None), ("available", None)]
    assert agent_states(domain, "1002") == [("ringing", None), ("talking", None), ("available", None)]


def test_paused_member_is_never_rung(traces_dir: Path) -> None:
    _, domain = run(traces_dir / "queue_abandoned.ami")
    assert agent_states(domain, "1002")[0] == ("paused", "break")
    assert not [e for e in domain if isinstance(e, CallRinging)]
