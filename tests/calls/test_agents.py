"""AgentBook: one state from device, registration, queue pause, our calls and wrap-up time."""

from __future__ import annotations

from typing import Any

from callcenter.calls.agents import OFFERED_LEG, RINGING_LEG, TALKING_LEG, AgentBook
from callcenter.events import AgentState


def book(wrapup_s: float = 0.0) -> tuple[AgentBook, list[Any]]:
    out: list[Any] = []
    return AgentBook(wrapup_s=wrapup_s, out=out), out


def states(out: list[Any]) -> list[tuple[str, str | None]]:
    return [(str(e.state), e.reason) for e in out]


def test_precedence_calls_over_device_over_pause_over_wrapup() -> None:
    agents, out = book(wrapup_s=30)
    agents.device("1002", "NOT_INUSE", 0.0)
    agents.member("1002", "sales", paused=True, reason="lunch", status=1, at_s=1.0)
    agents.leg("1002", "leg1", "call1", RINGING_LEG, 2.0)  # a direct Dial rings a paused agent
    agents.leg("1002", "leg1", "call1", TALKING_LEG, 3.0)
    agents.leg_ended("1002", "leg1", 10.0, talked=True)  # wrap-up until 40, but the pause wins
    agents.member("1002", "sales", paused=False, reason=None, status=1, at_s=20.0)
    agents.tick(39.9)
    agents.tick(40.0)
    assert states(out) == [
        ("available", None), ("paused", "lunch"), ("ringing", None), ("talking", None), ("paused", "lunch"),
        ("wrap-up", None), ("available", None),
    ]
    assert out[-1].at_s == 40.0


def test_device_alone_and_offline() -> None:
    agents, out = book()
    agents.device("1003", "INUSE", 1.0)  # a call we do not track (personal call)
    agents.device("1003", "RINGING", 2.0)
    agents.device("1003", "UNAVAILABLE", 3.0)
    agents.registration("1003", "Reachable", 4.0)  # the device state is more precise: still offline
    agents.device("1003", "NOT_INUSE", 5.0)
    assert states(out) == [("talking", None), ("ringing", None), ("offline", None), ("available", None)]


def test_registration_when_device_unknown() -> None:
    agents, out = book()
    agents.registration("1001", "Removed", 1.0)
    agents.registration("1001", "NonQualified", 2.0)
    agents.registration("1001", "SomethingNew", 3.0)  # unknown words change nothing
    assert states(out) == [("offline", None), ("available", None)]


def test_offered_leg_does_not_ring_and_wrapup_needs_talk() -> None:
    agents, out = book(wrapup_s=10)
    agents.device("1004", "NOT_INUSE", 0.0)
    agents.leg("1004", "leg", "c", OFFERED_LEG, 1.0)  # 486 Busy at once
    agents.leg_ended("1004", "leg", 1.1, talked=False)
    agents.leg_ended("1004", "unknown-leg", 1.2, talked=True)  # never seen: ignored
    assert states(out) == [("available", None)]
    assert agents.next_deadline_s is None


def test_wrapup_restarts_with_each_call() -> None:
    agents, out = book(wrapup_s=10)
    agents.leg("1002", "a", "c1", TALKING_LEG, 0.0)
    agents.leg_ended("1002", "a", 5.0, talked=True)
    agents.leg("1002", "b", "c2", TALKING_LEG, 8.0)
    agents.tick(15.0)  # the first wrap-up deadline passes while talking again: no change
    agents.leg_ended("1002", "b", 20.0, talked=True)
    agents.tick(29.0)
    agents.tick(30.0)
    assert states(out) == [("talking", None), ("wrap-up", None), ("talking", None), ("wrap-up", None),
                           ("available", None)]
    # Wrap-up names the call whose leg ended; leaving it names that call again with the spell's start.
    assert [e.call_id for e in out] == ["c1", "c1", "c2", "c2", None]
    assert [(e.wrapup_call_id, e.wrapup_since_s, e.wrapup_s) for e in out] == [
        (None, None, None), (None, None, None), ("c1", 5.0, 3.0), (None, None, None), ("c2", 20.0, 10.0),
    ]


def test_replace_memberships() -> None:
    agents, out = book()
    agents.member("1005", "sales", paused=False, reason=None, status=1, at_s=0.0)
    agents.member("1006", "sales", paused=True, reason="", status=1, at_s=0.0)
    agents.replace_memberships({"1005": {"support": (True, "training", 2)}}, 5.0)
    assert agents.agents["1005"].queues == {"support": "training"}
    assert agents.agents["1006"].queues == {}
    assert agents.agents["1005"].state is AgentState.TALKING  # status 2 = in use beats the pause
    assert agents.agents["1006"].state is AgentState.AVAILABLE
    assert ("paused", None) in states(out)  # paused without a reason


def wrapup_spells(out: list[Any]) -> list[tuple[str | None, float | None, float | None, str]]:
    """(call, spell start, spell length, the state that ended it) for every change out of wrap-up."""
    return [(e.wrapup_call_id, e.wrapup_since_s, e.wrapup_s, str(e.state)) for e in out if e.wrapup_call_id]


def talked(agents: AgentBook, agent: str, call_id: str, start_s: float, end_s: float) -> None:
    agents.leg(agent, f"{call_id}-leg", call_id, TALKING_LEG, start_s)
    agents.leg_ended(agent, f"{call_id}-leg", end_s, talked=True)


def test_every_way_out_of_wrapup_names_the_call_and_the_spell() -> None:
    # timer; the agent ends it; a pause; the phone goes offline; a new call rings.
    agents, out = book(wrapup_s=30)
    agents.device("1002", "NOT_INUSE", 0.0)
    talked(agents, "1002", "timer", 1.0, 10.0)
    agents.tick(40.0)
    talked(agents, "1002", "button", 50.0, 60.0)
    assert agents.end_wrapup("1002", 72.5)
    talked(agents, "1002", "pause", 80.0, 90.0)
    agents.member("1002", "sales", paused=True, reason="coffee", status=1, at_s=95.0)
    agents.member("1002", "sales", paused=False, reason=None, status=1, at_s=200.0)  # the timer ran out meanwhile
    talked(agents, "1002", "offline", 210.0, 220.0)
    agents.device("1002", "UNAVAILABLE", 221.0)
    agents.device("1002", "NOT_INUSE", 260.0)  # back after the timer: available, no second spell
    talked(agents, "1002", "ring", 270.0, 280.0)
    agents.leg("1002", "next-leg", "next", RINGING_LEG, 281.0)
    assert wrapup_spells(out) == [
        ("timer", 10.0, 30.0, "available"),
        ("button", 60.0, 12.5, "available"),
        ("pause", 90.0, 5.0, "paused"),
        ("offline", 220.0, 1.0, "offline"),
        ("ring", 280.0, 1.0, "ringing"),
    ]
    into = [e for e in out if e.state is AgentState.WRAP_UP]
    assert [(e.call_id, e.at_s) for e in into] == [("timer", 10.0), ("button", 60.0), ("pause", 90.0),
                                                   ("offline", 220.0), ("ring", 280.0)]


def test_a_wrapup_interrupted_and_resumed_is_two_spells_of_the_same_call() -> None:
    agents, out = book(wrapup_s=30)
    agents.device("1002", "NOT_INUSE", 0.0)
    talked(agents, "1002", "c1", 1.0, 10.0)
    agents.member("1002", "sales", paused=True, reason="", status=1, at_s=14.0)
    agents.member("1002", "sales", paused=False, reason=None, status=1, at_s=20.0)  # back in wrap-up for c1
    agents.leg("1002", "x", "c2", RINGING_LEG, 25.0)  # rung, not answered: still c1's wrap-up afterwards
    agents.leg_ended("1002", "x", 27.0, talked=False)
    agents.tick(40.0)
    assert wrapup_spells(out) == [
        ("c1", 10.0, 4.0, "paused"), ("c1", 20.0, 5.0, "ringing"), ("c1", 27.0, 13.0, "available"),
    ]
    assert sum(spell[2] or 0.0 for spell in wrapup_spells(out)) == 22.0


def test_ending_the_wrapup_of_one_call_leaves_another_calls_alone() -> None:
    agents, out = book(wrapup_s=30)
    agents.device("1002", "NOT_INUSE", 0.0)
    talked(agents, "1002", "c1", 1.0, 10.0)
    assert agents.wrapup_call("1002", 11.0) == "c1"
    assert not agents.end_wrapup("1002", 12.0, call_id="c0")  # a stale save for an older call
    assert agents.agents["1002"].state is AgentState.WRAP_UP
    assert agents.end_wrapup("1002", 12.0, call_id="c1")
    assert agents.wrapup_call("1002", 12.0) is None and not agents.end_wrapup("1002", 12.0, call_id="c1")
    assert wrapup_spells(out) == [("c1", 10.0, 2.0, "available")]
    agents.tick(40.0)  # the old deadline passes: nothing more
    assert len(wrapup_spells(out)) == 1


def test_no_wrapup_configured_means_no_wrapup_spells() -> None:
    agents, out = book(wrapup_s=0)
    agents.device("1002", "NOT_INUSE", 0.0)
    talked(agents, "1002", "c1", 1.0, 10.0)
    assert states(out) == [("available", None), ("talking", None), ("available", None)]
    assert wrapup_spells(out) == [] and agents.wrapup_call("1002", 10.0) is None
