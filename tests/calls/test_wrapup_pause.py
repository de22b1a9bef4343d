"""Wrap-up held in the queues (queues.conf wrapuptime = 0: the service paces it): QueuePause with the wrap-up reason
while an agent wraps up, unpaused however the wrap-up ends, never over a pause somebody else set meanwhile; the live
model shows WRAP_UP, not a pause. End to end against the PBX simulator, whose app_queue skips paused members."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from callcenter.ami import actions
from callcenter.app_keys import AMI, LIVE
from callcenter.calls.agents import WRAPUP_PAUSE_REASON, AgentBook
from callcenter.calls.wrapup_pause import wanted
from callcenter.events import AgentState, AgentStateChanged
from tests.crm_bridge.test_e2e_wrapup import WRAPUP_S, answered_call_to_1002, changes
from tests.floor import QUEUE, WAIT_S, Floor, running_floor

CONFIG = f"[calls]\nwrapup_s = {WRAPUP_S}\n"
S = AgentState


def change(previous: AgentState | None, state: AgentState) -> AgentStateChanged:
    return AgentStateChanged(agent="1002", at_s=1.0, state=state, previous=previous)


@pytest.mark.parametrize(
    ("previous", "state", "in_queue", "ordinary", "expected"),
    [
        (S.TALKING, S.WRAP_UP, True, None, "pause"),
        (S.PAUSED, S.WRAP_UP, True, None, "pause"),  # their pause ended with wrap-up time left
        (S.TALKING, S.WRAP_UP, False, None, None),  # in no queue: Asterisk would answer "Interface not found"
        (S.WRAP_UP, S.AVAILABLE, True, None, "unpause"),  # timer, /wrapup-end, disposition saved
        (S.WRAP_UP, S.OFFLINE, True, None, "unpause"),
        (S.WRAP_UP, S.RINGING, True, None, "unpause"),  # a direct call: the wrap-up is over
        (S.WRAP_UP, S.PAUSED, True, "lunch", None),  # a real pause replaced it: it stands
        (S.WRAP_UP, S.WRAP_UP, True, None, None),  # wrap-up of the next call: still paused
        (S.AVAILABLE, S.TALKING, True, None, None),
    ],
)
def test_the_rule(previous: AgentState, state: AgentState, in_queue: bool, ordinary: str | None,
                  expected: str | None) -> None:
    assert wanted(change(previous, state), in_queue=in_queue, ordinary_pause=ordinary) == expected


def test_a_wrapup_pause_is_shown_as_wrapup_never_as_a_pause() -> None:
    out: list[object] = []
    book = AgentBook(wrapup_s=10.0, out=out)
    book.member("1002", "sales", paused=False, reason=None, status=1, at_s=0.0)
    book.leg("1002", "u1", "c1", "talking", 1.0)
    book.leg_ended("1002", "u1", 5.0, talked=True)
    book.member("1002", "sales", paused=True, reason=WRAPUP_PAUSE_REASON, status=1, at_s=5.1)
    assert book.agents["1002"].state is S.WRAP_UP and book.ordinary_pause("1002") is None
    assert book.stale_wrapup_pauses(6.0) == []
    book.tick(15.0)
    assert book.agents["1002"].state is S.AVAILABLE  # the wrap-up is over, whatever the queue still says
    assert book.stale_wrapup_pauses(15.0) == ["1002"]  # and the pacer's sweep lifts that pause
    book.member("1002", "sales", paused=True, reason="lunch", status=1, at_s=16.0)
    assert (book.agents["1002"].state, book.agents["1002"].reason) == (S.PAUSED, "lunch")
    assert book.stale_wrapup_pauses(16.0) == []


def sim_member(floor: Floor, agent: str) -> tuple[bool, str]:
    member = floor.sim.pbx.queues.queues[QUEUE].members[f"PJSIP/{agent}"]
    return member.paused, member.reason


async def time_passes(floor: Floor, seconds: float) -> None:
    """Move PBX time on and let one AMI event carry it to the service: 1004 toggles a pause (each call a change)."""
    before = [e for e in floor.seen if isinstance(e, AgentStateChanged) and e.agent == "1004"]
    paused = bool(before) and before[-1].state is S.PAUSED
    await floor.sim.clock.advance(seconds)
    await floor.app[AMI].send(actions.queue_pause(interface="PJSIP/1004", paused=not paused, reason="lunch"))
    await floor.wait(lambda: len([e for e in floor.seen if isinstance(e, AgentStateChanged) and e.agent == "1004"])
                     > len(before), "1004's pause toggled")


async def pacer_sent(floor: Floor) -> None:
    await asyncio.wait_for(floor.app[LIVE].wrapup_pacer.drain(), WAIT_S)


async def test_the_queue_holds_an_agent_in_wrapup_and_gets_them_back_after(tmp_path: Path) -> None:
    async with running_floor(tmp_path, CONFIG) as floor:
        call = await answered_call_to_1002(floor)
        (into,) = changes(floor, "1002", S.WRAP_UP)
        await pacer_sent(floor)
        assert sim_member(floor, "1002") == (True, WRAPUP_PAUSE_REASON)  # app_queue will not offer 1002 a call now
        await time_passes(floor, 1.7)  # the queue's confirmation reached the live model too
        assert floor.app[LIVE].agent_state("1002") == (S.WRAP_UP, None)  # wrap-up, not "paused (wrap-up)"
        assert changes(floor, "1002", S.PAUSED) == []

        await time_passes(floor, WRAPUP_S)  # the timer runs out
        (back,) = changes(floor, "1002", S.AVAILABLE)[-1:]
        assert back.wrapup_call_id == call.call_id and back.wrapup_s == pytest.approx(WRAPUP_S, abs=0.01)
        await pacer_sent(floor)
        assert sim_member(floor, "1002") == (False, "")  # offered queue calls again
        floor.sim.clock.auto = True


async def test_a_pause_set_during_wrapup_is_not_lifted_when_the_wrapup_ends(tmp_path: Path) -> None:
    async with running_floor(tmp_path, CONFIG) as floor:
        await answered_call_to_1002(floor)
        await pacer_sent(floor)
        # The supervisor pauses 1002 for a meeting while they wrap up.
        await floor.app[AMI].send(actions.queue_pause(interface="PJSIP/1002", paused=True, reason="meeting"))
        await floor.wait(lambda: changes(floor, "1002", S.PAUSED), "1002 paused")
        await time_passes(floor, WRAPUP_S + 1.0)  # the wrap-up would be over by now
        await pacer_sent(floor)
        floor.app[LIVE].wrapup_pacer.sweep(floor.app[LIVE].tracker.now_s)  # nothing stale to lift either
        await pacer_sent(floor)
        assert sim_member(floor, "1002") == (True, "meeting")
        assert floor.app[LIVE].agent_state("1002") == (S.PAUSED, "meeting")
        floor.sim.clock.auto = True
