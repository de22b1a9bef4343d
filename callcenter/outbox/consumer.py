"""A worker's side of the outbox: read in id order from this consumer's cursor, hand each batch on, and move the
cursor only once the batch is done, in one UPDATE that also proves the lease is still ours.

At least once: a worker killed mid-batch leaves the cursor where it was, and the next holder hands the batch on
again. Everything fed from here is idempotent by key (one activity per call, spells by agent and start, a lead per
number), so the second time writes nothing. One worker holds a consumer's cursor at a time (a lease in the cursor
row, renewed with every batch); others of the same consumer wait to take over when it lapses.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Final

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from callcenter.outbox.codec import BadItem, decode
from callcenter.waiting import wait_set
from crm_core.db import Database
from crm_core.outbox_models import OutboxCursor, OutboxEvent

log = logging.getLogger("callcenter.outbox")

Deliver = Callable[[list[object]], Awaitable[None]]
BATCH_ROWS: Final = 500
# Rows every cursor has passed are deleted once this old: long enough that another instance's late copy of a fact
# still meets its dedupe key, short enough that the table stays small (20 calls/s is ~200 rows/s).
KEEP_S: Final = 3600.0
PRUNE_EVERY_S: Final = 60.0
# A batch that fails this often in a row is set aside (logged with its ids) so one poisonous row cannot stop a feed.
MAX_ATTEMPTS: Final = 5


class OutboxConsumer:
    def __init__(self, *, db: Database, name: str, holder: str, deliver: Deliver, lease_s: float = 15.0,
                 poll_s: float = 0.5, clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.name = name
        self.holder = holder
        self.deliver = deliver
        self.lease_s = lease_s
        self.poll_s = poll_s  # across processes nothing wakes us: look this often (in-process: ``wake``)
        self.clock = clock
        self.wake = asyncio.Event()
        self.last_id = 0
        self.handled = 0
        self.bad = 0
        self.holding = False
        self.caught_up = asyncio.Event()  # the last read found nothing new
        self._reads = 0  # reads started
        self._failing: tuple[int, int] = (0, 0)  # (first id of the batch that failed, times in a row)
        self.set_aside = 0
        self._empty_read = 0  # the number of the last read that found nothing

    async def run(self) -> None:
        await self._ensure_cursor()
        pruned_at_s = self.clock()
        while True:
            try:
                progressed = await self.step()
            except asyncio.CancelledError:
                raise
            except Exception:  # the database is away, or a consumer failed: the batch is handed on again later
                self.caught_up.clear()
                log.exception("outbox consumer %s: batch failed; retrying", self.name)
                progressed = False
            if not progressed:
                if self.holding and self.clock() - pruned_at_s >= PRUNE_EVERY_S:
                    pruned_at_s = self.clock()
                    try:
                        await prune(self.db, before_s=pruned_at_s - KEEP_S)
                    except Exception as exc:  # the next idle moment tries again
                        log.warning("outbox prune failed (%s)", exc.__class__.__name__)
                await wait_set(self.wake, self.poll_s)
                self.wake.clear()

    async def step(self) -> bool:
        """Take (or keep) the lease and hand on one batch. True when it handed something on."""
        if not await self._hold():
            self.caught_up.clear()
            return False
        self._reads += 1
        read = self._reads
        async with self.db.read_session() as session:
            rows = (await session.execute(
                select(OutboxEvent.id, OutboxEvent.kind, OutboxEvent.payload)
                .where(OutboxEvent.id > self.last_id).order_by(OutboxEvent.id).limit(BATCH_ROWS)
            )).all()
        if not rows:
            if not self.caught_up.is_set():
                log.info("outbox consumer %s: caught up at id %d", self.name, self.last_id)
            self._empty_read = read
            self.caught_up.set()
            return False
        self.caught_up.clear()
        items = []
        for row_id, kind, payload in rows:
            try:
                items.append(decode(kind, payload))
            except BadItem as exc:
                self.bad += 1
                log.error("outbox consumer %s: row %d skipped: %s", self.name, row_id, exc)
        first_id, last_id = rows[0][0], rows[-1][0]
        try:
            await self.deliver(items)
        except Exception:
            tries = self._failing[1] + 1 if self._failing[0] == first_id else 1
            self._failing = (first_id, tries)
            if tries < MAX_ATTEMPTS:
                raise
            self.set_aside += len(items)
            log.error("outbox consumer %s: rows %d..%d failed %d times: set aside (see the errors above)",
                      self.name, first_id, last_id, tries)
        async with self.db.session() as session:
            moved = await session.execute(
                update(OutboxCursor)
                .where(OutboxCursor.consumer == self.name, OutboxCursor.holder == self.holder)
                .values(last_id=last_id, held_until_s=self.clock() + self.lease_s)
            )
        if moved.rowcount != 1:  # type: ignore[attr-defined]
            # Another worker took the cursor while this batch ran (we were too slow): it hands it on again.
            self.holding = False
            log.warning("outbox consumer %s: lease lost during a batch", self.name)
            return False
        self.last_id = last_id
        self.handled += len(items)
        return True

    async def settled(self) -> None:
        """Return once a read that started after this call found nothing new: everything in the outbox before the
        call is handed on and done (bound it with a timeout: without the lease it never is)."""
        after = self._reads
        while self._empty_read <= after:
            self.caught_up.clear()
            self.wake.set()
            await self.caught_up.wait()

    async def _ensure_cursor(self) -> None:
        insert = pg_insert if self.db.dialect == "postgresql" else sqlite_insert
        async with self.db.session() as session:
            await session.execute(insert(OutboxCursor).values(consumer=self.name, last_id=0)
                                  .on_conflict_do_nothing(index_elements=["consumer"]))

    async def _hold(self) -> bool:
        now_s = self.clock()
        async with self.db.session() as session:
            took = await session.execute(
                update(OutboxCursor)
                .where(OutboxCursor.consumer == self.name,
                       or_(OutboxCursor.holder == self.holder, OutboxCursor.holder.is_(None),
                           OutboxCursor.held_until_s < now_s))
                .values(holder=self.holder, held_until_s=now_s + self.lease_s)
            )
            if took.rowcount != 1:  # type: ignore[attr-defined]
                if self.holding:
                    log.warning("outbox consumer %s: lease lost", self.name)
                self.holding = False
                return False
            if not self.holding:
                # Taken (again): start from the cursor as stored, not from what this process last saw.
                self.last_id = await session.scalar(
                    select(OutboxCursor.last_id).where(OutboxCursor.consumer == self.name)) or 0
                self.holding = True
                log.info("outbox consumer %s: held by %s from id %d", self.name, self.holder, self.last_id)
        return True

    async def release(self) -> None:
        """Let another worker take over at once (an orderly stop)."""
        async with self.db.session() as session:
            await session.execute(update(OutboxCursor)
                                  .where(OutboxCursor.consumer == self.name, OutboxCursor.holder == self.holder)
                                  .values(holder=None, held_until_s=None))
        self.holding = False


async def backlog(db: Database, consumer: str) -> tuple[int, float]:
    """(rows not yet handed on by ``consumer``, age in seconds of the oldest of them): the metrics' view."""
    async with db.read_session() as session:
        last_id = await session.scalar(select(OutboxCursor.last_id).where(OutboxCursor.consumer == consumer)) or 0
        count, oldest = (await session.execute(
            select(func.count(), func.min(OutboxEvent.written_at_s)).where(OutboxEvent.id > last_id))).one()
    return int(count), (time.time() - oldest) if oldest is not None else 0.0


async def prune(db: Database, *, before_s: float) -> int:
    """Delete rows written before ``before_s`` that every consumer's cursor has passed; the number deleted."""
    async with db.session() as session:
        passed = await session.scalar(select(func.min(OutboxCursor.last_id)))
        if not passed:
            return 0
        done = await session.execute(
            delete(OutboxEvent).where(OutboxEvent.id <= passed, OutboxEvent.written_at_s < before_s))
    return int(done.rowcount or 0)  # type: ignore[attr-defined]
