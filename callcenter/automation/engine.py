"""Runs the rules: each fact, in arrival order, becomes tasks, notifications and webhook outbox rows in one
transaction. Everything is keyed by (rule, fact), so a replayed fact changes nothing."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.automation.outbox import insert_once as _insert_once
from callcenter.automation.facts import CallbackOverdue, CallLogged, DealStageChanged, Fact, LeadCreated
from callcenter.automation.rules import EmailRule, NotifyRule, Rule, TaskRule, WebhookRule, matches
from callcenter.automation.deal_mail import queue_deal_email
from callcenter.events import EventBus
from crm_core.db import Database
from crm_core.models import Notification, Task, TaskKind, TaskStatus, User, WebhookDelivery
from crm_core.types import utcnow

log = logging.getLogger("callcenter.automation")
FACT_TYPES = (CallLogged, LeadCreated, DealStageChanged, CallbackOverdue)


async def _team_of(session: AsyncSession, user_id: int | None) -> int | None:
    return await session.scalar(select(User.team_id).where(User.id == user_id)) if user_id else None


class Automation:
    def __init__(
        self,
        *,
        db: Database,
        rules: Sequence[Rule],
        vip_numbers: frozenset[str] = frozenset(),
        on_webhook_queued: Any = None,
        publish: Any = None,
        on_mail_queued: Any = None,
    ) -> None:
        self.db = db
        self.rules = list(rules)
        self.vip_numbers = vip_numbers
        self.on_webhook_queued = on_webhook_queued
        self.on_mail_queued = on_mail_queued
        self.publish = publish
        self.queue: asyncio.Queue[Fact] = asyncio.Queue(maxsize=100_000)
        self.idle = asyncio.Event()
        self.idle.set()
        self.failed = 0

    def attach(self, bus: EventBus) -> None:
        for fact_type in FACT_TYPES:
            bus.subscribe(self._enqueue, event_type=fact_type)
        self.publish = self.publish or bus.publish

    def _enqueue(self, fact: Fact) -> None:
        try:
            self.queue.put_nowait(fact)
            self.idle.clear()
        except asyncio.QueueFull:
            self.failed += 1
            log.error("automation queue full: %s dropped", fact.key)

    async def run(self) -> None:
        while True:
            fact = await self.queue.get()
            try:
                await self.handle(fact)
            except Exception:
                self.failed += 1
                log.exception("automation failed on %s", fact.key)
            finally:
                if self.queue.empty():
                    self.idle.set()

    async def handle(self, fact: Fact) -> None:
        queued_webhook = queued_mail = False
        async with self.db.session() as session:
            for rule in self.rules:
                if not matches(rule, fact, vip_numbers=self.vip_numbers):
                    continue
                key = f"{rule.name}|{fact.key}"
                if isinstance(rule, WebhookRule):
                    row = WebhookDelivery(rule=rule.name, url=str(rule.url), event=fact.name, dedupe_key=key, payload=fact.payload())
                    queued_webhook |= await _insert_once(session, row, WebhookDelivery.dedupe_key, key)
                elif isinstance(rule, TaskRule):
                    task = self._task(rule, fact, key)
                    task.team_id = await _team_of(session, task.assignee_id)
                    await _insert_once(session, task, Task.source_key, key[:200])
                elif isinstance(rule, NotifyRule):
                    note = await self._notification(session, rule.name, key, rule.message, fact)
                    await _insert_once(session, note, Notification.dedupe_key, key[:200])
                elif isinstance(rule, EmailRule) and isinstance(fact, DealStageChanged):
                    queued_mail |= await queue_deal_email(session, rule, fact, key)
        if queued_webhook and self.on_webhook_queued is not None:
            self.on_webhook_queued()
        if queued_mail and self.on_mail_queued is not None:
            self.on_mail_queued()

    def _task(self, rule: TaskRule, fact: Fact, key: str) -> Task:
        links: dict[str, Any] = {}
        assignee = getattr(fact, "responsible_id", None) or getattr(fact, "assignee_id", None)
        if isinstance(fact, LeadCreated):
            links["lead_id"] = fact.lead_id
        elif isinstance(fact, CallLogged) and fact.entity and fact.record_id:
            links[f"{fact.entity}_id"] = fact.record_id
        elif isinstance(fact, DealStageChanged):
            links["deal_id"] = fact.deal_id
        return Task(
            title=rule.title,
            description=f"created by rule {rule.name!r} for {fact.key}",
            kind=TaskKind.TASK,
            status=TaskStatus.OPEN,
            assignee_id=assignee,
            due_at=utcnow() + timedelta(seconds=rule.due_in_s),
            source_key=key[:200],
            **links,
        )

    async def _notification(
        self, session: AsyncSession, kind: str, key: str, message: str, fact: Fact, *, team_id: int | None = None
    ) -> Notification:
        person = getattr(fact, "responsible_id", None) or getattr(fact, "assignee_id", None)
        if team_id is None:
            team_id = await _team_of(session, person)
        return Notification(
            kind=kind,
            dedupe_key=key[:200],
            team_id=team_id,
            user_id=person,
            message=(message or f"{fact.name}: {fact.key}")[:500],
            data=fact.payload(),
        )

    async def scan_overdue(self, *, now: datetime | None = None) -> int:
        """Overdue callbacks escalate once each: a notification for the team, and a fact rules can webhook."""
        now = now or utcnow()
        found: list[CallbackOverdue] = []
        async with self.db.session() as session:
            overdue = await session.scalars(
                select(Task).where(Task.kind == TaskKind.CALLBACK, Task.status == TaskStatus.OPEN, Task.due_at < now).limit(500)
            )
            for task in overdue:
                fact = CallbackOverdue(
                    task_id=task.id, number=task.callback_e164, assignee_id=task.assignee_id,
                    due_at=task.due_at.isoformat() if task.due_at else "", missed_count=task.missed_count,
                )
                message = f"callback to {task.callback_e164} is overdue ({task.missed_count} missed calls)"
                # The task's team: a callback still in the pool has nobody else to tell.
                note = await self._notification(session, "callback.overdue", fact.key, message, fact, team_id=task.team_id)
                if await _insert_once(session, note, Notification.dedupe_key, fact.key):
                    found.append(fact)
        for fact in found:
            if self.publish is not None:
                self.publish(fact)
        return len(found)

    async def run_overdue_scanner(self, *, interval_s: float = 30.0) -> None:
        while True:
            try:
                await self.scan_overdue()
            except Exception:
                log.exception("overdue scan failed")
            await asyncio.sleep(interval_s)
