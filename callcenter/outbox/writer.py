"""The call path's side of the outbox: what the bus carries is appended in memory at once and written in batches by
one task, so the AMI reader and FastAGI never wait on the database.

A batch is one transaction (one INSERT of many rows, ON CONFLICT DO NOTHING on the dedupe key). While the database
is away the items wait in memory, in order, and the task retries with a growing pause; they are written when it
returns, so a PostgreSQL outage costs nothing but the backlog (bounded: past ``max_buffer`` the oldest are dropped,
loudly, since the process would otherwise run out of memory).

On PostgreSQL every batch first takes one transaction-scoped advisory lock: ids come from a sequence at INSERT time
but become visible at COMMIT, so two instances' concurrent batches could commit out of id order and a consumer that
already moved past the higher ids would never see the lower ones. With the lock, commit order is id order. SQLite has
one writer at a time anyway.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Callable
from typing import Any, Final

from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from callcenter.events import EventBus
from callcenter.outbox.codec import FROM_BUS, dedupe_key, encode
from crm_core.db import Database
from crm_core.outbox_models import OutboxEvent

log = logging.getLogger("callcenter.outbox")

BATCH_ROWS: Final = 500
ORDER_LOCK: Final = 0x0CC0_0B0C  # pg_advisory_xact_lock key: the outbox's commit order (see the module doc)
RETRY_MAX_S: Final = 5.0


def insert_rows(db: Database, rows: list[dict[str, Any]]) -> Any:
    insert = pg_insert if db.dialect == "postgresql" else sqlite_insert
    return insert(OutboxEvent).values(rows).on_conflict_do_nothing(index_elements=["dedupe_key"])


async def append_in(session: Any, db: Database, items: list[object], *, now_s: float | None = None) -> None:
    """Write ``items`` in the caller's transaction (the API's CRM facts: committed with what they describe)."""
    if db.dialect == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ORDER_LOCK})
    at_s = time.time() if now_s is None else now_s
    rows = []
    for item in items:
        kind, payload = encode(item)
        rows.append({"dedupe_key": dedupe_key(item), "kind": kind, "payload": payload, "written_at_s": at_s})
    await session.execute(insert_rows(db, rows))


class OutboxWriter:
    def __init__(self, *, db: Database, max_buffer: int = 200_000) -> None:
        self.db = db
        self.max_buffer = max_buffer
        self.on_written: list[Callable[[], None]] = []  # in-process consumers' wake-ups
        self.buffer: collections.deque[tuple[object, float]] = collections.deque()
        self.written = 0
        self.dropped = 0
        self.failures = 0
        self.last_error: str | None = None
        self._wake = asyncio.Event()
        self.idle = asyncio.Event()  # nothing waits to be written
        self.idle.set()

    def attach(self, bus: EventBus) -> Callable[[], None]:
        return bus.subscribe(self.add)

    def add(self, item: object) -> None:
        if type(item) not in FROM_BUS:
            return
        if len(self.buffer) >= self.max_buffer:
            lost, _ = self.buffer.popleft()
            self.dropped += 1
            if self.dropped % 1000 == 1:
                log.error("outbox buffer full (%d): %d items dropped, e.g. %s", self.max_buffer, self.dropped,
                          dedupe_key(lost))
        self.buffer.append((item, time.time()))
        self.idle.clear()
        self._wake.set()

    @property
    def oldest_age_s(self) -> float:
        return time.time() - self.buffer[0][1] if self.buffer else 0.0

    async def run(self) -> None:
        pause_s = 0.1
        while True:
            if not self.buffer:
                self.idle.set()
                self._wake.clear()
                await self._wake.wait()
                continue
            batch = [self.buffer[i] for i in range(min(BATCH_ROWS, len(self.buffer)))]
            try:
                await self._write(batch)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database is away or refused: keep the items, retry
                self.failures += 1
                self.last_error = f"{exc.__class__.__name__}: {str(exc)[:200]}"
                if self.failures == 1 or pause_s >= RETRY_MAX_S:
                    log.error("outbox write failed (%s); %d items wait, retrying in %.1f s", self.last_error,
                              len(self.buffer), pause_s)
                await asyncio.sleep(pause_s)  # a pause between retries, not a wait for an event
                pause_s = min(pause_s * 2, RETRY_MAX_S)
                continue
            pause_s = 0.1
            for _ in batch:
                self.buffer.popleft()
            self.written += len(batch)
            for wake in self.on_written:
                wake()

    async def _write(self, batch: list[tuple[object, float]]) -> None:
        rows = []
        for item, at_s in batch:
            kind, payload = encode(item)
            rows.append({"dedupe_key": dedupe_key(item), "kind": kind, "payload": payload, "written_at_s": at_s})
        async with self.db.session() as session:
            if self.db.dialect == "postgresql":
                await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ORDER_LOCK})
            await session.execute(insert_rows(self.db, rows))

    async def drain(self, timeout_s: float) -> bool:
        """Wait (bounded) until everything added so far is written; False when it is not."""
        try:
            async with asyncio.timeout(timeout_s):
                await self.idle.wait()
            return True
        except TimeoutError:
            return False
