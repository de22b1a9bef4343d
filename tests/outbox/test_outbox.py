"""The durable outbox on real SQLite and PostgreSQL: written in batches, once per fact whoever writes it, handed on in
order from a consumer's cursor, again after a consumer dies mid-batch, by one holder of the lease at a time."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from callcenter.events import (
    AgentState, AgentStateChanged, CallDirection, CallEnded, CallOutcome, CallRouted, HungUpBy, InProcessBus,
)
from callcenter.outbox.codec import BadItem, decode, encode
from callcenter.outbox.consumer import MAX_ATTEMPTS, OutboxConsumer, backlog, prune
from callcenter.outbox.pipeline import SinkFailed, Sinks, settled
from callcenter.outbox.writer import OutboxWriter
from crm_core.db import Database
from crm_core.outbox_models import OutboxCursor, OutboxEvent

WAIT_S = 10.0


def ended(call_id: str) -> CallEnded:
    return CallEnded(call_id=call_id, direction=CallDirection.INBOUND, outcome=CallOutcome.ANSWERED,
                     started_s=1_795_390_000.0, ended_s=1_795_390_060.0, caller="+12125550100", caller_name="Zoë ☎",
                     did="8001", customer="+12125550100", answered_by="1002", agents_rung=("1002",),
                     agents_talked=("1002",), attempts=(), wait_s=4.0, talk_s=56.0, hangup_cause=16,
                     hangup_cause_txt="Normal Clearing", hung_up_by=HungUpBy.CUSTOMER, recordings=(), queue=None)


def changed(agent: str, at_s: float) -> AgentStateChanged:
    return AgentStateChanged(agent=agent, at_s=at_s, state=AgentState.TALKING, previous=AgentState.RINGING)


class Collector:
    """A consumer's sink that records what it was handed, and can be made to fail once."""

    def __init__(self) -> None:
        self.items: list[object] = []
        self.fail_next = False
        self.got = asyncio.Event()

    async def __call__(self, items: list[object]) -> None:
        if self.fail_next:
            self.fail_next = False
            raise RuntimeError("worker died mid-batch")
        self.items.extend(items)
        self.got.set()


async def written(writer: OutboxWriter) -> None:
    await asyncio.wait_for(writer.idle.wait(), WAIT_S)


async def in_outbox(db: Database, items: list[object]) -> None:
    """``items`` written to the outbox by a writer of their own, as the call path writes them."""
    writer = OutboxWriter(db=db)
    task = asyncio.create_task(writer.run())
    try:
        for item in items:
            writer.add(item)
        await written(writer)
    finally:
        task.cancel()


async def test_the_same_fact_from_two_writers_is_one_row_and_handed_on_in_order(db: Database) -> None:
    a, b = OutboxWriter(db=db), OutboxWriter(db=db)
    tasks = [asyncio.create_task(w.run()) for w in (a, b)]
    try:
        facts = [changed("1002", 1_795_390_001.0 + i) for i in range(5)] + [ended("c1")]
        for fact in facts:  # both instances derived the same facts from their own AMI sessions
            a.add(fact)
            b.add(fact)
        a.add(CallRouted(call_id="c1", at_s=1.0, attempt=1, action="dial", reason="owner", instance="a"))
        await written(a)
        await written(b)
    finally:
        for task in tasks:
            task.cancel()
    async with db.session() as s:
        assert await s.scalar(select(func.count()).select_from(OutboxEvent)) == 7
    sink = Collector()
    consumer = OutboxConsumer(db=db, name="crm", holder="w1", deliver=sink)
    await consumer._ensure_cursor()
    assert await consumer.step() and not await consumer.step()
    assert sink.items[:6] == facts and isinstance(sink.items[6], CallRouted)
    assert await backlog(db, "crm") == (0, 0.0)


async def test_a_batch_that_fails_is_handed_on_again_and_the_cursor_waits(db: Database) -> None:
    await in_outbox(db, [ended(f"c{i}") for i in range(3)])
    sink = Collector()
    consumer = OutboxConsumer(db=db, name="crm", holder="w1", deliver=sink)
    await consumer._ensure_cursor()
    sink.fail_next = True
    with pytest.raises(RuntimeError):
        await consumer.step()
    assert sink.items == [] and (await backlog(db, "crm"))[0] == 3
    assert await consumer.step()
    assert [e.call_id for e in sink.items] == ["c0", "c1", "c2"]  # type: ignore[attr-defined]
    assert (await backlog(db, "crm"))[0] == 0


async def test_a_sink_that_fails_makes_the_batch_come_again_and_a_poisonous_one_is_set_aside(db: Database) -> None:
    await in_outbox(db, [ended("c0")])
    bus = InProcessBus()
    sinks = Sinks(bus)
    failures = [0]

    def bad_sink(_event: object) -> None:
        failures[0] += 1  # as the CRM writer does: it logs, counts and goes on

    bus.subscribe(bad_sink)
    sinks.failure_counts.append(lambda: failures[0])
    consumer = OutboxConsumer(db=db, name="crm", holder="w1", deliver=sinks.deliver)
    await consumer._ensure_cursor()
    for _ in range(MAX_ATTEMPTS - 1):
        with pytest.raises(SinkFailed):
            await consumer.step()
        assert (await backlog(db, "crm"))[0] == 1  # the cursor waits
    assert await consumer.step()  # the last attempt: set aside, the feed goes on
    assert failures[0] == MAX_ATTEMPTS and consumer.set_aside == 1 and (await backlog(db, "crm"))[0] == 0


async def test_one_holder_at_a_time_and_the_next_starts_from_the_stored_cursor(db: Database) -> None:
    now = [1000.0]
    writer = OutboxWriter(db=db)
    task = asyncio.create_task(writer.run())
    try:
        writer.add(ended("c0"))
        await written(writer)
        first, second = Collector(), Collector()
        w1 = OutboxConsumer(db=db, name="crm", holder="w1", deliver=first, lease_s=15, clock=lambda: now[0])
        w2 = OutboxConsumer(db=db, name="crm", holder="w2", deliver=second, lease_s=15, clock=lambda: now[0])
        await w1._ensure_cursor()
        assert await w1.step()
        assert not await w2.step() and not w2.holding  # w1 holds the lease
        writer.add(ended("c1"))
        await written(writer)
        now[0] += 16  # w1 went silent (killed): its lease lapses
        assert await w2.step()
        assert [e.call_id for e in first.items] == ["c0"] and [e.call_id for e in second.items] == ["c1"]  # type: ignore[attr-defined]
        assert not await w1.step() and not w1.holding  # w1 comes back: no longer its own
        async with db.session() as s:
            cursor = await s.get(OutboxCursor, "crm")
            assert cursor is not None and cursor.holder == "w2"
    finally:
        task.cancel()


async def test_settled_returns_once_everything_published_before_is_handed_on(db: Database) -> None:
    writer, sink = OutboxWriter(db=db), Collector()
    consumer = OutboxConsumer(db=db, name="crm", holder="w1", deliver=sink, poll_s=30.0)  # only woken, never polled
    writer.on_written.append(consumer.wake.set)
    tasks = [asyncio.create_task(writer.run()), asyncio.create_task(consumer.run())]
    try:
        for i in range(40):
            writer.add(ended(f"c{i}"))
        assert await asyncio.wait_for(settled(writer, consumer), WAIT_S)
        assert [e.call_id for e in sink.items] == [f"c{i}" for i in range(40)]  # type: ignore[attr-defined]
        assert not await asyncio.wait_for(settled(writer, None), WAIT_S)  # written, but handed on elsewhere
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def test_rows_every_cursor_passed_are_pruned_once_old(db: Database) -> None:
    await in_outbox(db, [ended(f"c{i}") for i in range(4)])
    fast, slow = Collector(), Collector()
    crm = OutboxConsumer(db=db, name="crm", holder="w1", deliver=fast)
    recording = OutboxConsumer(db=db, name="recording", holder="w1", deliver=slow)
    for consumer in (crm, recording):
        await consumer._ensure_cursor()
    assert await crm.step()
    assert await prune(db, before_s=2e9) == 0  # the recording feed has not passed any row yet
    assert await recording.step()
    assert await prune(db, before_s=0.0) == 0  # passed by both, but not old enough
    assert await prune(db, before_s=2e9) == 4
    async with db.session() as s:
        assert await s.scalar(select(func.count()).select_from(OutboxEvent)) == 0


def test_rows_that_do_not_decode_are_reported_with_what_is_wrong() -> None:
    kind, payload = encode(ended("c1"))
    assert decode(kind, payload) == ended("c1")
    for bad_kind, bad_payload, says in (
        ("CallEnded", "{not json", "JSONDecodeError"),
        ("CallEnded", payload.replace('"CallEnded"', '"CallStarted"'), "not the row's kind"),
        ("Nope", '{"type": "Nope"}', "Nope"),
        ("DealStageChanged", '{"deal_id": 1}', "TypeError"),
    ):
        with pytest.raises(BadItem, match=says):
            decode(bad_kind, bad_payload)
