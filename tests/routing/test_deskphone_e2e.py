"""Agents' desk phones and the CRM, end to end on the simulator running the shipped dialplan (issue 17):

* a known caller's name reaches the agent's phone (the display name of the call offered to it) and stays with the
  customer through a transfer;
* a call dialled from the phone (9<number>) goes out through the outbound route: the team's caller id, the number
  in E.164, recorded, logged on the customer with the agent, their open callback closed;
* a number that cannot be dialled is refused with congestion and nothing is recorded;
* a service that does not answer the outbound route still lets the call out as before.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select

from callcenter.app_keys import DATABASE, ROUTING
from callcenter.automation.facts import CallLogged
from callcenter.events import CallDirection, CallEnded, CallOutcome
from callcenter.demo.crm_seed import _CUSTOMERS, customer_number
from crm_core.models import Activity, Task, TaskKind, TaskStatus
from tests.floor import ANSWER, Floor, running_floor

TEAM_CALLER_ID = "+12125550100"


def display_name(number: str, max_chars: int = 24) -> str:
    index = next(i for i in range(len(_CUSTOMERS)) if customer_number(i) == number)
    first, last, company = _CUSTOMERS[index]
    return f"{first} {last}, {company}"[:max_chars].rstrip()


def ended_call(floor: Floor, call_id: str) -> list[CallEnded]:
    return [e for e in floor.seen if isinstance(e, CallEnded) and e.call_id == call_id]


@pytest.fixture
async def floor(tmp_path: Path) -> AsyncIterator[Floor]:
    toml = f'[routing.teams.Sales]\noutbound_caller_id = "{TEAM_CALLER_ID}"\n'
    async with running_floor(tmp_path, toml) as f:
        yield f


async def test_a_known_callers_name_reaches_the_agents_phone(floor: Floor) -> None:
    await floor.all_available()
    number = floor.customer_of("1003")
    floor.sim.pbx.phones["1003"].scripted.append(ANSWER)
    await floor.call(number, talk_s=5.0)
    (ended,) = await floor.wait(lambda: floor.ended(number), "the call to end")
    assert ended.answered_by == "1003"
    # the INVITE to the agent's phone: the CRM's name (Dial copies the caller's CALLERID to the leg's connected line)
    assert floor.sim.pbx.phones["1003"].offered == [(display_name(number), number)]
    (decision,) = floor.app[ROUTING].service.decisions.for_call(ended.call_id)
    assert decision.caller_name == display_name(number)


async def test_an_unknown_caller_shows_their_number_only(floor: Floor) -> None:
    await floor.all_available()
    number = "+12125559876"
    for ext in ("1002", "1003", "1004"):
        floor.sim.pbx.phones[ext].scripted.append(ANSWER)
    await floor.call(number, talk_s=5.0)
    (ended,) = await floor.wait(lambda: floor.ended(number), "the call to end")
    offered = floor.sim.pbx.phones[ended.answered_by or "1002"].offered
    # the trunk's own name for the caller (the simulator's customers call themselves "Customer"), never a CRM one
    assert offered and all(num == number and name != display_name(floor.customer_of("1002")) for name, num in offered)


async def test_a_call_dialled_from_the_phone_is_presented_recorded_and_logged_on_the_customer(floor: Floor) -> None:
    await floor.all_available()
    number = floor.customer_of("1002")  # +1212555xxxx: dialled nationally, as an agent would
    async with floor.app[DATABASE].session() as s:
        s.add(Task(title="Call back", kind=TaskKind.CALLBACK, status=TaskStatus.OPEN, callback_e164=number))
    ch = floor.sim.dial_from_phone("1003", "9" + number[2:])
    (ended,) = await floor.wait(lambda: ended_call(floor, ch.linkedid), "the outbound call to end")
    # out through the trunk as E.164 with the team's caller id (what the customer's phone shows)
    assert floor.sim.pbx.trunk_offered == [(number, floor.sim.pbx.phones["1003"].config.caller_name, TEAM_CALLER_ID)]
    assert (ended.direction, ended.outcome, ended.customer) == (CallDirection.OUTBOUND, CallOutcome.ANSWERED, number)
    assert (ended.caller, ended.answered_by, ended.agents_talked) == ("1003", "1003", ("1003",))
    # recorded as inbound calls are: a mixed file and the two legs named by role (rx customer, tx agent)
    main = f"{ch.uniqueid}.wav"
    assert sorted(p.rsplit("/", 1)[-1] for p in ended.recordings) == sorted(
        [main, f"{ch.uniqueid}-rx.wav", f"{ch.uniqueid}-tx.wav"])
    logged = await floor.wait(
        lambda: [e for e in floor.seen if isinstance(e, CallLogged) and e.call_id == ended.call_id], "the CRM write")
    async with floor.app[DATABASE].session() as s:
        activity = await s.get(Activity, logged[0].activity_id)
        task = await s.scalar(select(Task).where(Task.callback_e164 == number))
    assert activity is not None and activity.user_id == floor.crm.agents["1003"]
    assert (activity.to_e164, logged[0].entity) == (number, "contact")
    assert task is not None and task.status is TaskStatus.DONE  # reached: the callback is closed


async def test_a_number_that_cannot_be_dialled_is_refused_with_congestion(floor: Floor) -> None:
    await floor.all_available()
    ch = floor.sim.dial_from_phone("1003", "912")
    (ended,) = await floor.wait(lambda: ended_call(floor, ch.linkedid), "the refused call to end")
    assert floor.sim.pbx.trunk_offered == []  # nothing dialled
    assert (ended.hangup_cause, ended.recordings, ended.customer) == (34, (), None)
    logged = [e for e in floor.seen if isinstance(e, CallLogged) and e.call_id == ended.call_id]
    # an internal call of the agent's at most: never on a customer
    assert all(e.number is None and e.record_id is None for e in logged)


async def test_the_call_still_goes_out_when_the_service_does_not_answer(floor: Floor) -> None:
    await floor.all_available()
    floor.sim.pbx.set_agi_address("127.0.0.1", 9)  # discard port: nothing listens, AGISTATUS=FAILURE
    ch = floor.sim.dial_from_phone("1003", "95550001")
    (ended,) = await floor.wait(lambda: ended_call(floor, ch.linkedid), "the call to end")
    # as before this route existed: the digits as dialled, the phone's own caller id, no recording
    assert floor.sim.pbx.trunk_offered == [("5550001", floor.sim.pbx.phones["1003"].config.caller_name, "1003")]
    assert (ended.direction, ended.recordings) == (CallDirection.OUTBOUND, ())


async def test_a_blind_transferred_customer_keeps_their_name_on_the_next_phone(tmp_path: Path) -> None:
    from tests.calls.test_transfer_api_simulator import A, B, answered_by_a, of, transfer
    from callcenter.events import CallTransferred

    async with running_floor(tmp_path) as floor:
        call_id = await answered_by_a(floor)
        number = floor.customer_of(A)
        floor.sim.pbx.phones[B].scripted.append(ANSWER)
        await transfer(floor, call_id, "blind")
        await floor.sim.clock.advance(2.0)
        await floor.wait(lambda: of(floor, CallTransferred, call_id), "the call transferred to B")
        # the customer's channel carries CALLERID(name) into [cc-agents]' Dial: B's phone shows the same name
        assert floor.sim.pbx.phones[A].offered == [(display_name(number), number)]
        assert floor.sim.pbx.phones[B].offered == [(display_name(number), number)]


@pytest.mark.parametrize("outbound_leads", [True, False])
async def test_an_unknown_number_dialled_from_the_phone_becomes_a_lead_per_the_setting(
    tmp_path: Path, outbound_leads: bool
) -> None:
    toml = f"[crm]\noutbound_leads = {str(outbound_leads).lower()}\n"
    async with running_floor(tmp_path, toml) as floor:
        await floor.all_available()
        ch = floor.sim.dial_from_phone("1003", "92125559876")
        (ended,) = await floor.wait(lambda: ended_call(floor, ch.linkedid), "the outbound call to end")
        assert ended.customer == "+12125559876"
        [logged] = await floor.wait(
            lambda: [e for e in floor.seen if isinstance(e, CallLogged) and e.call_id == ended.call_id], "the CRM write")
        assert (logged.entity == "lead") is outbound_leads, logged


async def test_a_queued_caller_is_named_on_the_phones_the_queue_rings(tmp_path: Path) -> None:
    from callcenter.pbxsim.callmodel import PhoneAnswer
    from tests.floor import EXTENSIONS, QUEUE

    # one Dial attempt, then the queue (max-attempts->queue): Queue() presents the caller as Dial() does
    async with running_floor(tmp_path, "[routing.teams.Sales]\nmax_attempts = 1\nring_timeout_s = 5\n") as floor:
        await floor.all_available()
        number = floor.customer_of("1003")
        floor.sim.pbx.phones["1003"].scripted.append(PhoneAnswer(action="ignore"))
        for ext in EXTENSIONS:
            floor.sim.pbx.phones[ext].scripted.append(ANSWER)
        await floor.call(number, talk_s=5.0, patience_s=600.0)
        (ended,) = await floor.wait(lambda: floor.ended(number), "the call to end")
        assert (ended.queue, ended.outcome) == (QUEUE, CallOutcome.ANSWERED), ended
        offers = [offer for ext in EXTENSIONS for offer in floor.sim.pbx.phones[ext].offered]
        assert len(offers) >= 2  # the owner's Dial, then the queue's ring
        assert set(offers) == {(display_name(number), number)}
