"""Calls into the CRM end to end: the simulator calls the whole service; the CRM shows leads, activities and
callbacks exactly once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from callcenter.app_keys import DATABASE, LIVE
from callcenter.automation.facts import CallLogged
from callcenter.events import CallOutcome
from callcenter.pbxsim.callmodel import PhoneAnswer
from crm_core.models import Activity, Lead, Phone, Task, TaskKind, TaskStatus
from tests.floor import ANSWER, EXTENSIONS, Floor, running_floor

NEW_NUMBER = "+13125550177"
IGNORE = PhoneAnswer(action="ignore")


@pytest.fixture
async def floor(tmp_path: Path) -> AsyncIterator[Floor]:
    async with running_floor(tmp_path) as f:
        yield f


def logged(floor: Floor, number: str) -> list[CallLogged]:
    return [e for e in floor.seen if isinstance(e, CallLogged) and e.number == number]


async def scalar(floor: Floor, query) -> object:  # type: ignore[no-untyped-def]
    async with floor.app[DATABASE].session() as s:
        return await s.scalar(query)


async def test_a_first_time_caller_becomes_a_lead_and_comes_back_to_its_responsible(floor: Floor) -> None:
    await floor.all_available()
    for ext in EXTENSIONS:
        floor.sim.pbx.phones[ext].scripted.append(ANSWER)
    await floor.call(NEW_NUMBER, talk_s=30.0)
    (first,) = await floor.wait(lambda: logged(floor, NEW_NUMBER), "the first call in the CRM")
    assert first.entity == "lead" and first.outcome == "answered"
    lead = await scalar(floor, select(Lead).where(Lead.id == first.record_id))
    assert lead.source == "phone" and lead.channel == "8001" and lead.status.value == "new"
    assert lead.responsible_id == first.agent_user_id  # the agent who answered owns the lead
    owner_ext = next(ext for ext, uid in floor.crm.agents.items() if uid == lead.responsible_id)

    await floor.all_available()
    floor.sim.pbx.phones[owner_ext].scripted.append(ANSWER)
    await floor.call(NEW_NUMBER, talk_s=10.0)
    second = await floor.wait(lambda: logged(floor, NEW_NUMBER)[1:], "the second call in the CRM")
    (decision,) = floor.routed(NEW_NUMBER)[1:]
    assert decision.reason == "owner" and decision.targets == (owner_ext,)
    assert second[0].record_id == lead.id and second[0].agent_user_id == lead.responsible_id
    assert await scalar(floor, select(func.count()).select_from(Lead)) == 1
    activities = await scalar(floor, select(func.count()).select_from(Activity).where(Activity.lead_id == lead.id))
    assert activities == 2


async def test_a_missed_call_makes_one_callback_that_click_to_call_closes(floor: Floor) -> None:
    await floor.all_available()
    for ext in EXTENSIONS:
        floor.sim.pbx.phones[ext].scripted.extend([IGNORE] * 5)
    await floor.call(NEW_NUMBER, patience_s=8.0)
    (missed,) = await floor.wait(lambda: logged(floor, NEW_NUMBER), "the missed call in the CRM")
    assert missed.outcome in (CallOutcome.MISSED.value, CallOutcome.ABANDONED.value)
    callback = await scalar(floor, select(Task).where(Task.callback_e164 == NEW_NUMBER))
    assert callback.kind is TaskKind.CALLBACK and callback.status is TaskStatus.OPEN and callback.missed_count == 1
    lead = await scalar(floor, select(Lead).join(Phone, Phone.lead_id == Lead.id).where(Phone.e164 == NEW_NUMBER))
    # Nobody answered: the lead (and its callback) go to the agent the team's routing offered the call first.
    assert lead is not None and lead.responsible_id is not None and callback.assignee_id == lead.responsible_id
    agent_ext = next(ext for ext, uid in floor.crm.agents.items() if uid == lead.responsible_id)

    floor.sim.pbx.phones[agent_ext].scripted.clear()
    floor.sim.pbx.phones[agent_ext].scripted.append(ANSWER)
    async with floor.http_as(lead.responsible_id) as http:
        async with http.post("/api/v1/calls/click-to-call", json={"lead_id": lead.id}) as resp:
            assert resp.status == 202, await resp.text()
    await floor.wait(lambda: logged(floor, NEW_NUMBER)[1:], "the callback call in the CRM")
    done = await scalar(floor, select(Task).where(Task.id == callback.id))
    assert done.status is TaskStatus.DONE and done.completed_at is not None
    outbound = logged(floor, NEW_NUMBER)[1]
    assert (outbound.direction, outbound.outcome, outbound.record_id) == ("outbound", "answered", lead.id)


async def test_twenty_simultaneous_calls_from_one_new_number_make_one_lead(floor: Floor) -> None:
    await floor.all_available()
    for _ in range(20):
        await floor.call(NEW_NUMBER, patience_s=3.0, talk_s=5.0)
    await floor.wait(lambda: len(logged(floor, NEW_NUMBER)) >= 20, "20 calls in the CRM")
    assert len({e.call_id for e in logged(floor, NEW_NUMBER)}) == 20
    assert await scalar(floor, select(func.count()).select_from(Lead)) == 1
    lead_id = logged(floor, NEW_NUMBER)[0].record_id
    assert {e.record_id for e in logged(floor, NEW_NUMBER)} == {lead_id}
    count = await scalar(floor, select(func.count()).select_from(Activity).where(Activity.lead_id == lead_id))
    assert count == 20
