"""The transfer API end to end against the PBX simulator (tests/floor.py): the whole service, the shipped dialplans,
AMI BlindTransfer / Atxfer carried out by the simulator as a real Asterisk 20 does (tests/data/ami-traces/api_*).

A customer of 1002 (A) is dialled to A, who answers; the API transfers the call to 1003 (B). Blind and completed
attended transfers leave one call with one CRM activity, A then B talking; an attended transfer whose consultation B
ends leaves the customer with A. The simulator's clock is driven by hand, so every wait is on events."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import select

from callcenter.app_keys import DATABASE
from callcenter.automation.facts import CallLogged
from callcenter.events import (
    AgentState,
    AgentStateChanged,
    CallAnswered,
    CallEnded,
    CallOutcome,
    CallTransferred,
)
from callcenter.pbxsim.callmodel import PhoneAnswer
from crm_core.access import Principal
from crm_core.models import Activity, Role
from crm_core.schemas import UserIn
from crm_core.users import create_user
from tests.floor import ANSWER, Floor, running_floor

A, B = "1002", "1003"
TALK_S = 30.0


def of(floor: Floor, kind: type, call_id: str | None = None) -> list[Any]:
    return [e for e in floor.seen if isinstance(e, kind) and (call_id is None or e.call_id == call_id)]


async def answered_by_a(floor: Floor) -> str:
    await floor.all_available()
    floor.sim.clock.auto = False
    floor.sim.pbx.phones[A].scripted.append(ANSWER)
    await floor.call(floor.customer_of(A), talk_s=TALK_S)
    await floor.sim.clock.advance(3.0)  # routing and one second of ringing
    [answered] = await floor.wait(lambda: [e for e in of(floor, CallAnswered) if e.agent == A], "A answering")
    return answered.call_id


async def transfer(floor: Floor, call_id: str, mode: str) -> dict[str, Any]:
    async with floor.app[DATABASE].session() as s:
        admin = await create_user(s, Principal.system(), UserIn(name="Ada Admin", role=Role.ADMIN))
    async with floor.http_as(admin.id) as http, http.post(f"/api/v1/calls/{call_id}/transfer",
                                                        json={"to": B, "mode": mode}) as resp:
        body = await resp.json()
    assert resp.status == 202, body
    assert body["from_agent"] == A and body["channel"].startswith(f"PJSIP/{A}-")
    return body


async def hang_up(floor: Floor, ext: str) -> None:
    """The phone of ``ext`` hangs up (BYE) on its call."""
    [leg] = [c for c in floor.sim.pbx.live_channels() if c.endpoint == ext]
    floor.sim.pbx.remote_bye(leg, cause=16)
    await floor.sim.clock.advance(0.5)


async def the_end(floor: Floor, call_id: str) -> tuple[CallEnded, Activity]:
    await floor.sim.clock.advance(TALK_S + 5.0)
    [ended] = await floor.wait(lambda: of(floor, CallEnded, call_id), "the call to end")
    await floor.wait(lambda: of(floor, CallLogged, call_id), "the call in the CRM")
    async with floor.app[DATABASE].session() as s:
        [activity] = (await s.scalars(select(Activity).where(Activity.call_id == call_id))).all()
    assert len(of(floor, CallEnded)) == 1  # the transfer made no second call
    return ended, activity


async def test_a_blind_transfer_hands_the_customer_to_b(tmp_path: Path) -> None:
    async with running_floor(tmp_path) as floor:
        call_id = await answered_by_a(floor)
        floor.sim.pbx.phones[B].scripted.append(ANSWER)
        await transfer(floor, call_id, "blind")
        await floor.sim.clock.advance(2.0)  # B's phone rings for a second and answers
        [moved] = await floor.wait(lambda: of(floor, CallTransferred, call_id), "the call transferred to B")
        assert (moved.from_agent, moved.to_agent) == (A, B)
        ended, activity = await the_end(floor, call_id)
    assert ended.outcome is CallOutcome.ANSWERED and ended.answered_by == A and ended.agents_talked == (A, B)
    assert ended.consultations == ()
    assert activity.call_meta["agents_talked"] == [A, B]


async def test_an_attended_transfer_completes_when_a_hangs_up(tmp_path: Path) -> None:
    async with running_floor(tmp_path) as floor:
        call_id = await answered_by_a(floor)
        floor.sim.pbx.phones[B].scripted.append(ANSWER)
        await transfer(floor, call_id, "attended")
        await floor.sim.clock.advance(3.0)  # the digits, B's phone rings for a second and answers
        await floor.wait(lambda: [e for e in of(floor, AgentStateChanged) if e.agent == B
                                  and e.state is AgentState.TALKING], "B talking with A")
        assert not of(floor, CallTransferred, call_id)  # a consultation so far
        await hang_up(floor, A)
        [moved] = await floor.wait(lambda: of(floor, CallTransferred, call_id), "A hanging up to hand over")
        assert (moved.from_agent, moved.to_agent) == (A, B)
        ended, activity = await the_end(floor, call_id)
    assert ended.outcome is CallOutcome.ANSWERED and ended.answered_by == A and ended.agents_talked == (A, B)
    assert [(c.agent, c.by_agent, c.transferred) for c in ended.consultations] == [(B, A, True)]
    assert activity.call_meta["agents_talked"] == [A, B]


async def test_an_attended_transfer_b_hangs_up_on_leaves_the_customer_with_a(tmp_path: Path) -> None:
    async with running_floor(tmp_path) as floor:
        call_id = await answered_by_a(floor)
        floor.sim.pbx.phones[B].scripted.append(PhoneAnswer(action="answer", delay_s=1.0))
        await transfer(floor, call_id, "attended")
        await floor.sim.clock.advance(3.0)
        await floor.wait(lambda: [e for e in of(floor, AgentStateChanged) if e.agent == B
                                  and e.state is AgentState.TALKING], "B talking with A")
        await hang_up(floor, B)
        ended, activity = await the_end(floor, call_id)
    assert not of(floor, CallTransferred, call_id)
    assert ended.outcome is CallOutcome.ANSWERED and ended.answered_by == A and ended.agents_talked == (A,)
    assert [(c.agent, c.by_agent, c.transferred) for c in ended.consultations] == [(B, A, False)]
    assert activity.call_meta["agents_talked"] == [A]


async def test_a_hanging_up_while_b_rings_hands_the_customer_over_when_b_answers(tmp_path: Path) -> None:
    """The 'blond' transfer (api_attended_transfer_blond): AttendedTransfer at A's BYE, A's channel held until B
    answers; B's ringing is an offer of the call, no consultation."""
    async with running_floor(tmp_path) as floor:
        call_id = await answered_by_a(floor)
        floor.sim.pbx.phones[B].scripted.append(PhoneAnswer(action="answer", delay_s=4.0))
        await transfer(floor, call_id, "attended")
        await floor.sim.clock.advance(1.0)
        await floor.wait(lambda: [e for e in of(floor, AgentStateChanged) if e.agent == B
                                  and e.state is AgentState.RINGING], "B's phone ringing")
        await hang_up(floor, A)
        assert not of(floor, CallTransferred, call_id)  # B has not answered yet
        await floor.sim.clock.advance(4.0)
        [moved] = await floor.wait(lambda: of(floor, CallTransferred, call_id), "B answering the customer")
        assert (moved.from_agent, moved.to_agent) == (A, B)
        ended, activity = await the_end(floor, call_id)
    assert ended.outcome is CallOutcome.ANSWERED and ended.answered_by == A and ended.agents_talked == (A, B)
    assert ended.consultations == ()
    assert [(a.agent, a.result) for a in ended.attempts] == [(A, "ANSWER"), (B, "ANSWER")]
    assert activity.call_meta["agents_talked"] == [A, B]
