"""What every outbox sender does the same way (webhooks, e-mail): lease due rows, back off, loop until woken.

An outbox row has ``id``, ``status`` and ``next_attempt_at``. Leasing moves ``next_attempt_at`` past the attempt's
time in a short transaction, so the slow part (HTTP, SMTP) happens outside any transaction and a sender that dies
mid-attempt only delays the row. PostgreSQL hands each row to one sender (FOR UPDATE SKIP LOCKED).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.waiting import wait_set
from crm_core.db import Database
from crm_core.models import DeliveryStatus

Row = TypeVar("Row")


def backoff_s(attempts: int, *, base_s: float, max_s: float) -> float:
    """Doubling from ``base_s`` after the first failed attempt, at most ``max_s``."""
    return min(max_s, base_s * 2 ** max(0, attempts - 1))


async def insert_once(session: AsyncSession, row: Any, key_column: Any, key: str) -> bool:
    """Insert unless a row with this key exists; only the key's own unique violation means "already done"."""
    exists = select(key_column).where(key_column == key).limit(1)
    if await session.scalar(exists) is not None:
        return False
    try:
        async with session.begin_nested():
            session.add(row)
            await session.flush()
        return True
    except IntegrityError:
        if await session.scalar(exists) is not None:
            return False  # a concurrent instance did it first
        raise


async def lease_due(
    db: Database, model: type[Row], *, now: datetime, batch: int, lease_s: float, options: Sequence[Any] = ()
) -> list[Row]:
    """Pending rows due at ``now`` (oldest first), each leased for ``lease_s`` (``options``: e.g. a large column
    deferred)."""
    table: Any = model
    async with db.session() as session:
        rows = list(
            await session.scalars(
                select(model)
                .options(*options)
                .where(table.status == DeliveryStatus.PENDING, table.next_attempt_at <= now)
                .order_by(table.id)
                .limit(batch)
                .with_for_update(skip_locked=True)
            )
        )
        for row in rows:
            table_row: Any = row
            table_row.next_attempt_at = now + timedelta(seconds=lease_s)
        return rows


async def run_until_cancelled(
    pass_once: Callable[[], Awaitable[int]], *, wakeup: asyncio.Event, idle_s: float, log: logging.Logger, what: str
) -> None:
    """Call ``pass_once`` again at once while it finds work; otherwise wait for ``wakeup`` or ``idle_s``."""
    while True:
        wakeup.clear()  # before the pass: a row queued during it makes the wait below return at once
        try:
            tried = await pass_once()
        except Exception:  # the database may be briefly away; the rows wait in their table
            log.exception("%s pass failed", what)
            tried = 0
        if tried:
            continue
        await wait_set(wakeup, idle_s)
