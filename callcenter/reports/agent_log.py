"""Agent state history for the reports: every ``AgentStateChanged`` from the bus becomes a spell in
``agent_state_spells`` (adapter).

A change at ``at_s`` ends the agent's spell that was going on then and starts one in the new state (none for
offline: offline time is the gap between spells). Spells are keyed by agent and start, so replaying an event (a
resync, a second service instance on the same bus) writes nothing new, and an event arriving late lands in its place
in time: it cuts the spell it falls in and its own spell ends where the next one starts. A change to the very same
state, reason and call as the spell going on (a resync re-announcing it) keeps that spell. While the service is
down nothing is written: the spell open at the stop lasts until the next change after the start.

Writes go through one task in bus order, each change in its own transaction, like the CRM bridge's.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timezone

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.events import AgentState, AgentStateChanged, EventBus
from crm_core.agent_log_models import AgentStateSpell
from crm_core.db import Database
from crm_core.models import User

__all__ = ["AgentLog"]

log = logging.getLogger("callcenter.reports.agent_log")


def _utc(epoch_s: float) -> datetime:
    # Rounded to the microsecond both databases keep, so the key (agent, start) compares equal on a replay.
    return datetime.fromtimestamp(round(epoch_s, 6), tz=timezone.utc)


class AgentLog:
    def __init__(self, *, db: Database, queue_limit: int = 100_000) -> None:
        self.db = db
        self.queue: asyncio.Queue[AgentStateChanged] = asyncio.Queue(maxsize=queue_limit)
        self.written = 0
        self.failed = 0
        self.dropped = 0
        self.idle = asyncio.Event()
        self.idle.set()

    def attach(self, bus: EventBus) -> None:
        bus.subscribe(self._enqueue, event_type=AgentStateChanged)

    def _enqueue(self, event: AgentStateChanged) -> None:
        try:
            self.queue.put_nowait(event)
            self.idle.clear()
        except asyncio.QueueFull:
            self.dropped += 1
            log.error("agent log queue full: a state change of %s not recorded", event.agent)

    async def run(self) -> None:
        while True:
            event = await self.queue.get()
            try:
                await self.record(event)
                self.written += 1
            except Exception:
                # One bad write must not stop the history of every later change.
                self.failed += 1
                log.exception("agent state change of %s not recorded", event.agent)
            finally:
                if self.queue.empty():
                    self.idle.set()

    async def record(self, event: AgentStateChanged) -> None:
        at = _utc(event.at_s)
        async with self.db.session() as session:
            spells = select(AgentStateSpell).where(AgentStateSpell.agent == event.agent)
            before = await session.scalar(
                spells.where(AgentStateSpell.started_at < at).order_by(AgentStateSpell.started_at.desc()).limit(1)
                .with_for_update()
            )
            same = await session.scalar(spells.where(AgentStateSpell.started_at == at))
            going_on = before is not None and (before.ended_at is None or before.ended_at > at)
            if same is not None or (going_on and _unchanged(before, event)):
                return  # a replay, or a resync re-announcing the state the agent is in
            next_start = await session.scalar(
                select(AgentStateSpell.started_at)
                .where(AgentStateSpell.agent == event.agent, AgentStateSpell.started_at > at)
                .order_by(AgentStateSpell.started_at).limit(1)
            )
            ends = next_start
            if going_on:
                assert before is not None
                # An event arriving late cuts the spell it falls in; its own spell takes the rest of that one.
                ends = before.ended_at if before.ended_at is not None and (ends is None or before.ended_at < ends) else ends
                before.ended_at = at
            if event.state is AgentState.OFFLINE:
                return
            await self._insert(session, event, at, ends)

    async def _insert(self, session: AsyncSession, event: AgentStateChanged, at: datetime, ends: datetime | None) -> None:
        user_id = await session.scalar(select(User.id).where(User.extension == event.agent))
        try:
            async with session.begin_nested():
                session.add(
                    AgentStateSpell(
                        agent=event.agent, user_id=user_id, state=event.state.value,
                        reason=(event.reason or None) and event.reason[:120], call_id=event.call_id,
                        started_at=at, ended_at=ends,
                    )
                )
        except IntegrityError:
            pass  # another instance wrote this very change first


def _unchanged(spell: AgentStateSpell, event: AgentStateChanged) -> bool:
    return (spell.state, spell.reason, spell.call_id) == (
        event.state.value, (event.reason or None) and event.reason[:120], event.call_id
    )
