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
    assert [e.call_id for e in out[:3]] == ["c1", None, "c2"]


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
