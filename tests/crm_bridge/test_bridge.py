"""Calls into the CRM: one activity per call, a lead per unknown number, callbacks that merge and close themselves."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest
from sqlalchemy import func, select

from callcenter.calls.ingest import AmiIngest
from callcenter.calls.tracker import CallTracker
from callcenter.crm_bridge import BridgeRules, CrmBridge
from callcenter.events import CallDirection, CallEnded, CallOutcome, HungUpBy, InProcessBus
from crm_core import records
from crm_core.access import Principal
from crm_core.db import Database
from crm_core.models import Activity, Entity, Lead, Role, Task, TaskStatus
from crm_core.records import PhoneRules
from crm_core.schemas import CompanyIn, ContactIn, DealIn, PhoneIn, PipelineIn, StageIn, UserIn
from crm_core import deals, users

RULES = PhoneRules.build(region="US", own_numbers=["+1 800 555 0100"])


def bridge(db: Database, **rules: object) -> CrmBridge:
    return CrmBridge(db=db, phone_rules=RULES, rules=BridgeRules(**rules))  # type: ignore[arg-type]


def replay(path: Path) -> list[object]:
    bus = InProcessBus()
    seen: list[object] = []
    bus.subscribe(seen.append)
    AmiIngest(tracker=CallTracker(), publish=bus.publish).feed_bytes(path.read_bytes())
    return seen


async def feed(b: CrmBridge, events: list[object]) -> None:
    for event in events:
        await b.handle(event)


async def count(db: Database, model: type) -> int:
    async with db.session() as s:
        return await s.scalar(select(func.count()).select_from(model)) or 0


async def add_agent(db: Database, extension: str) -> int:
    async with db.session() as s:
        return (await users.create_user(s, Principal.system(), UserIn(name=f"Agent {extension}", extension=extension))).id


def ended(call_id: str, *, customer: str = "+1 212 555 0199", outcome: CallOutcome = CallOutcome.MISSED,
          direction: CallDirection = CallDirection.INBOUND, answered_by: str | None = None, at_s: float = 1_795_390_000.0,
          caller_name: str | None = None) -> CallEnded:
    return CallEnded(
        call_id=call_id, started_s=at_s, ended_s=at_s + 30, direction=direction, outcome=outcome,
        caller=customer if direction is CallDirection.INBOUND else "8005550100", caller_name=caller_name, did="8001",
        customer=customer, answered_by=answered_by, agents_rung=(answered_by,) if answered_by else ("1002",),
        agents_talked=(answered_by,) if answered_by else (), attempts=(), wait_s=4.0,
        talk_s=20.0 if answered_by else 0.0, hangup_cause=16, hangup_cause_txt="Normal Clearing",
        hung_up_by=HungUpBy.CUSTOMER, recordings=(), queue=None,
    )


async def test_answered_trace_call_becomes_one_activity_and_one_lead(db: Database, traces_dir: Path) -> None:
    agent_id = await add_agent(db, "1002")
    events = replay(traces_dir / "inbound_agi_dial_answer.ami")
    b = bridge(db)
    await feed(b, events)
    await feed(b, events)  # a replay (resync, second instance) changes nothing
    async with db.session() as s:
        [activity] = list(await s.scalars(select(Activity)))
        [lead] = list(await s.scalars(select(Lead)))
    call = next(e for e in events if isinstance(e, CallEnded))
    assert activity.call_id == call.call_id and activity.result == "answered"
    assert activity.user_id == agent_id and activity.lead_id == lead.id
    assert activity.from_e164 == "+12125550101" and activity.did == call.did
    assert activity.talk_s == pytest.approx(call.talk_s, abs=1e-3) and activity.wait_s == pytest.approx(call.wait_s, abs=1e-3)
    assert activity.recording_ref and activity.recording_ref.endswith(".wav")
    assert activity.call_meta["agents_rung"] == ["1002"] and activity.call_meta["hung_up_by"] == "customer"
    assert (lead.source, lead.channel, lead.responsible_id, lead.status.value) == ("phone", call.did, agent_id, "new")
    assert await count(db, Task) == 0


async def test_missed_calls_merge_into_one_callback_that_closes_when_reached(db: Database, traces_dir: Path) -> None:
    b = bridge(db, callback_sla_s=900)
    await feed(b, [ended("m1"), ended("m2", at_s=1_795_390_100.0), ended("m2", at_s=1_795_390_100.0)])
    async with db.session() as s:
        [task] = list(await s.scalars(select(Task)))
    assert (task.kind.value, task.status, task.missed_count, task.callback_e164) == ("callback", TaskStatus.OPEN, 2, "+12125550199")
    assert task.due_at is not None and task.due_at.timestamp() == pytest.approx(1_795_390_000.0 + 30 + 900)
    assert await count(db, Lead) == 1 and await count(db, Activity) == 2
    # An unanswered callback attempt is recorded; the answered one closes the task.
    await feed(b, [ended("o1", direction=CallDirection.OUTBOUND, outcome=CallOutcome.MISSED)])
    await feed(b, [ended("o2", direction=CallDirection.OUTBOUND, outcome=CallOutcome.ANSWERED, answered_by="1003")])
    async with db.session() as s:
        [task] = list(await s.scalars(select(Task)))
    assert task.attempt_count == 1 and task.status is TaskStatus.DONE and task.completed_at is not None
    # A new miss after that opens a new callback (the closed one stays closed).
    await feed(b, [ended("m3", at_s=1_795_391_000.0)])
    async with db.session() as s:
        statuses = sorted(t.status.value for t in await s.scalars(select(Task)))
    assert statuses == ["done", "open"]


async def test_abandoned_trace_call_opens_a_callback(db: Database, traces_dir: Path) -> None:
    events = replay(traces_dir / "inbound_caller_abandons_ringing.ami")
    await feed(bridge(db), events)
    call = next(e for e in events if isinstance(e, CallEnded))
    async with db.session() as s:
        [task] = list(await s.scalars(select(Task)))
        [activity] = list(await s.scalars(select(Activity)))
    assert activity.result == call.outcome.value and call.outcome in (CallOutcome.MISSED, CallOutcome.ABANDONED)
    assert task.callback_e164 == activity.from_e164 and task.lead_id == activity.lead_id is not None


async def test_known_customer_calls_link_to_contact_company_and_open_deal(db: Database) -> None:
    async with db.session() as s:
        system = Principal.system()
        company = await records.create(s, system, RULES, Entity.COMPANY, CompanyIn(name="Acme"))
        contact = await records.create(
            s, system, RULES, Entity.CONTACT, ContactIn(last_name="Doe", company_id=company.id, phones=[PhoneIn(number="(212) 555-0199")])
        )
        await deals.create_pipeline(s, system, PipelineIn(name="Sales", is_default=True, stages=[StageIn(name="New")]))
        deal = await deals.create_deal(s, system, DealIn(title="Renewal", contact_id=contact.id))
    await feed(bridge(db), [ended("k1", outcome=CallOutcome.ANSWERED, answered_by="1002")])
    async with db.session() as s:
        [activity] = list(await s.scalars(select(Activity)))
    assert (activity.contact_id, activity.company_id, activity.deal_id, activity.lead_id) == (contact.id, company.id, deal.id, None)
    assert await count(db, Lead) == 0


@pytest.mark.parametrize(
    ("call", "rules", "leads"),
    [
        (ended("w", customer="anonymous"), {}, 0),
        (ended("o", customer="+1 800 555 0100"), {}, 0),
        (ended("x", customer="+1 212 555 0123"), {"lead_exclude_numbers": frozenset({"+12125550123"})}, 0),
        (ended("a", outcome=CallOutcome.ANSWERED, answered_by="1002"), {"lead_on_unknown": "missed"}, 0),
        (ended("m"), {"lead_on_unknown": "missed"}, 1),
        (ended("n"), {"lead_on_unknown": "never"}, 0),
        (ended("d"), {"lead_on_unknown": "never", "lead_policy_by_did": {"8001": "all"}}, 1),
        (ended("out", direction=CallDirection.OUTBOUND, outcome=CallOutcome.ANSWERED, answered_by="1002"), {}, 0),
        (ended("out2", direction=CallDirection.OUTBOUND, outcome=CallOutcome.ANSWERED, answered_by="1002"), {"outbound_leads": True}, 1),
    ],
)
async def test_lead_rules(db: Database, call: CallEnded, rules: dict, leads: int) -> None:
    await feed(bridge(db, **rules), [call])
    assert await count(db, Activity) == 1  # every call is logged, lead or not
    assert await count(db, Lead) == leads


@pytest.mark.parametrize(
    "call",
    [
        ended("u", caller_name="Zoë Ümlaut ☎ 电话"),
        ended("big", caller_name="x" * 100_000),
        ended("bad", customer="not a number"),
        ended("none", customer=""),
        dataclasses.replace(ended("nodid"), did=None, customer=None, caller=None),
    ],
)
async def test_bad_caller_data_is_still_recorded(db: Database, call: CallEnded) -> None:
    b = bridge(db)
    await feed(b, [call])
    async with db.session() as s:
        [activity] = list(await s.scalars(select(Activity)))
    assert activity.call_id == call.call_id


async def test_twenty_concurrent_calls_from_one_new_number_give_one_lead(db: Database) -> None:
    b = bridge(db)
    await asyncio.gather(*(b.record_call(ended(f"c{i}", at_s=1_795_390_000.0 + i)) for i in range(20)))
    assert await count(db, Lead) == 1
    assert await count(db, Activity) == 20
    async with db.session() as s:
        tasks = list(await s.scalars(select(Task)))
        lead_ids = set(await s.scalars(select(Activity.lead_id)))
    assert len(tasks) == 1 and tasks[0].missed_count == 20
    assert len(lead_ids) == 1 and None not in lead_ids


async def test_bus_to_database_through_the_writer_task(db: Database, traces_dir: Path) -> None:
    bus = InProcessBus()
    b = bridge(db)
    b.attach(bus)
    task = asyncio.create_task(b.run())
    try:
        AmiIngest(tracker=CallTracker(), publish=bus.publish).feed_bytes((traces_dir / "concurrent_calls_5.ami").read_bytes())
        await asyncio.wait_for(b.idle.wait(), 30)
    finally:
        task.cancel()
    assert b.failed == 0
    assert await count(db, Activity) == 5 and await count(db, Lead) == 5
