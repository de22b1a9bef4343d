"""Rules run on real databases; webhooks go to a real HTTP receiver, signed, retried, and given up on."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from sqlalchemy import func, select

from callcenter.automation.engine import Automation
from callcenter.automation.facts import CallLogged, DealStageChanged, LeadCreated
from callcenter.automation.rules import NotifyRule, TaskRule, WebhookRule
from callcenter.automation.webhooks import SIGNATURE_HEADER, TIMESTAMP_HEADER, WebhookSender, verify
from callcenter.events import InProcessBus
from crm_core.access import Principal
from crm_core.db import Database
from crm_core.models import DeliveryStatus, Notification, Role, Task, TaskKind, TaskStatus, WebhookDelivery
from crm_core.schemas import TeamIn, UserIn
from crm_core.types import utcnow
from crm_core import users

from tests.automation.receiver import SECRET, Receiver, receiver  # noqa: F401  (fixture)


def lead_fact(lead_id: int = 7, responsible_id: int | None = None) -> LeadCreated:
    return LeadCreated(lead_id=lead_id, number="+12125550101", responsible_id=responsible_id, source="phone", channel="8001", call_id="c1")


async def count(db: Database, model: type) -> int:
    async with db.session() as s:
        return await s.scalar(select(func.count()).select_from(model)) or 0


async def test_webhook_is_signed_retried_with_backoff_and_delivered_once(db: Database, receiver: tuple[Receiver, str]) -> None:
    recv, url = receiver
    recv.failures = 2
    rule = WebhookRule(name="hook", when="lead.created", then="webhook", url=url, secret=SECRET)
    automation = Automation(db=db, rules=[rule])
    await automation.handle(lead_fact())
    await automation.handle(lead_fact())  # replayed fact: still one delivery
    assert await count(db, WebhookDelivery) == 1
    sender = WebhookSender(db=db, secrets={"hook": SECRET}, base_backoff_s=60, timeout_s=5)
    now = utcnow()
    async with aiohttp.ClientSession() as http:
        assert await sender.deliver_due(http, now=now) == 1  # fails (500)
        assert await sender.deliver_due(http, now=now) == 0  # not due before its backoff
        assert await sender.deliver_due(http, now=now + timedelta(seconds=61)) == 1  # fails again
        assert await sender.deliver_due(http, now=now + timedelta(seconds=61 + 119)) == 0  # backoff doubled to 120 s
        assert await sender.deliver_due(http, now=now + timedelta(seconds=61 + 121)) == 1  # delivered
        assert await sender.deliver_due(http, now=now + timedelta(days=1)) == 0
    async with db.session() as s:
        [row] = list(await s.scalars(select(WebhookDelivery)))
    assert (row.status, row.attempts, row.response_status, row.last_error) == (DeliveryStatus.DELIVERED, 3, 204, None)
    assert len(recv.received) == 3
    last = recv.received[-1]
    headers = last["headers"]
    assert headers["X-Callcenter-Event"] == "lead.created"
    assert verify(SECRET, int(headers[TIMESTAMP_HEADER]), last["body"], headers[SIGNATURE_HEADER])
    assert not verify("another-secret-xxxxx", int(headers[TIMESTAMP_HEADER]), last["body"], headers[SIGNATURE_HEADER])
    assert json.loads(last["body"])["lead_id"] == 7


async def test_unreachable_receiver_goes_dead_after_max_attempts(db: Database) -> None:
    rule = WebhookRule(name="hook", when="lead.created", then="webhook", url="http://127.0.0.1:1/nothing", secret=SECRET)
    await Automation(db=db, rules=[rule]).handle(lead_fact())
    sender = WebhookSender(db=db, secrets={"hook": SECRET}, base_backoff_s=1, max_attempts=3, timeout_s=2)
    now = utcnow()
    async with aiohttp.ClientSession() as http:
        for step in range(3):
            assert await sender.deliver_due(http, now=now + timedelta(seconds=10 * step)) == 1
        assert await sender.deliver_due(http, now=now + timedelta(hours=1)) == 0
    async with db.session() as s:
        [row] = list(await s.scalars(select(WebhookDelivery)))
    assert row.status is DeliveryStatus.DEAD and row.attempts == 3 and "ConnectionRefused" in (row.last_error or "") or "Connect" in (row.last_error or "")


async def test_removed_rule_is_not_delivered(db: Database) -> None:
    rule = WebhookRule(name="gone", when="lead.created", then="webhook", url="http://127.0.0.1:1/x", secret=SECRET)
    await Automation(db=db, rules=[rule]).handle(lead_fact())
    async with aiohttp.ClientSession() as http:
        await WebhookSender(db=db, secrets={}).deliver_due(http)
    async with db.session() as s:
        [row] = list(await s.scalars(select(WebhookDelivery)))
    assert row.status is DeliveryStatus.DEAD and row.last_error == "rule no longer configured"


async def test_new_lead_makes_a_call_task_for_the_responsible_once(db: Database) -> None:
    from crm_core import records
    from crm_core.models import Entity
    from crm_core.records import PhoneRules
    from crm_core.schemas import LeadIn

    async with db.session() as s:
        agent = await users.create_user(s, Principal.system(), UserIn(name="A", extension="1002"))
        lead = await records.create(s, Principal.system(), PhoneRules(), Entity.LEAD, LeadIn(title="New", responsible_id=agent.id))
    rule = TaskRule(name="call new lead", when="lead.created", then="task", title="Call the client", due_in_s=600)
    automation = Automation(db=db, rules=[rule])
    await automation.handle(lead_fact(lead_id=lead.id, responsible_id=agent.id))
    await automation.handle(lead_fact(lead_id=lead.id, responsible_id=agent.id))
    async with db.session() as s:
        [task] = list(await s.scalars(select(Task)))
    assert (task.title, task.assignee_id, task.lead_id, task.status) == ("Call the client", agent.id, lead.id, TaskStatus.OPEN)
    assert task.due_at is not None and timedelta(seconds=590) < task.due_at - utcnow() <= timedelta(seconds=600)


async def test_missed_vip_call_notifies_the_team_and_overdue_callbacks_escalate_once(db: Database) -> None:
    async with db.session() as s:
        team = await users.create_team(s, Principal.system(), TeamIn(name="T"))
        agent = await users.create_user(s, Principal.system(), UserIn(name="A", team_id=team.id, role=Role.AGENT))
        s.add(Task(title="Call back", kind=TaskKind.CALLBACK, status=TaskStatus.OPEN, assignee_id=agent.id,
                   due_at=utcnow() - timedelta(minutes=1), callback_e164="+12125550101", missed_count=2))
        s.add(Task(title="Later", kind=TaskKind.CALLBACK, status=TaskStatus.OPEN, assignee_id=agent.id,
                   due_at=utcnow() + timedelta(hours=1), callback_e164="+12125550102", missed_count=1))
    bus = InProcessBus()
    published: list[object] = []
    bus.subscribe(published.append)
    vip_rule = NotifyRule(name="vip missed", when="call.missed", if_vip=True, then="notify", message="VIP missed a call")
    automation = Automation(db=db, rules=[vip_rule], vip_numbers=frozenset({"+12125550101"}), publish=bus.publish)
    missed = CallLogged(call_id="c9", activity_id=1, direction="inbound", outcome="missed", did="8001", number="+12125550101",
                        entity="lead", record_id=3, responsible_id=agent.id, agent_user_id=None)
    await automation.handle(missed)
    await automation.handle(missed)  # replayed: no second notification
    assert await automation.scan_overdue() == 1
    assert await automation.scan_overdue() == 0  # escalates once
    async with db.session() as s:
        notes = {n.kind: n for n in await s.scalars(select(Notification))}
    assert set(notes) == {"vip missed", "callback.overdue"}
    assert notes["vip missed"].team_id == team.id and notes["vip missed"].message == "VIP missed a call"
    assert "overdue" in notes["callback.overdue"].message and notes["callback.overdue"].team_id == team.id
    assert [type(p).__name__ for p in published] == ["CallbackOverdue"]
