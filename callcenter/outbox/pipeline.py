"""Feeding a process's workers from the outbox: each batch is published on the workers' own bus, and the batch counts
as handed on (the cursor moves) only once every sink fed by that bus is idle again, the facts they published in
turn (CallLogged -> recording link, automation) included."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Final

from aiohttp import web

from callcenter.app_keys import FEEDS, OUTBOX
from callcenter.events import InProcessBus
from callcenter.outbox.consumer import OutboxConsumer
from callcenter.outbox.writer import OutboxWriter


CRM_FEED: Final = "crm"  # the outbox cursor of the CRM writer, agent log and automation
RECORDING_FEED: Final = "recording"  # recording ingest's: a file may take its grace to appear; the CRM does not wait


class SinkFailed(RuntimeError):
    """A sink logged a failure while handling a batch: the batch is handed on again (the sinks are idempotent)."""


class Sinks:
    def __init__(self, bus: InProcessBus) -> None:
        self.bus = bus
        self.idle_flags: list[asyncio.Event] = []  # in the order work flows between them
        # Each sink's count of items it failed on (it logs and goes on, so one bad item never stops it): a batch
        # during which one grew is not done.
        self.failure_counts: list[Callable[[], int]] = []

    async def deliver(self, items: Sequence[object]) -> None:
        failed_before = [count() for count in self.failure_counts]
        for item in items:
            self.bus.publish(item)
        await self.settle()
        if [count() for count in self.failure_counts] != failed_before:
            raise SinkFailed(f"a sink failed on a batch of {len(items)}: handed on again")

    async def settle(self) -> None:
        """Return once a whole pass finds every sink idle (one sink's work may have woken a later one)."""
        while True:
            quiet = True
            for idle in self.idle_flags:
                if not idle.is_set():
                    quiet = False
                    await idle.wait()
            if quiet:
                return


async def settled(writer: OutboxWriter | None, consumer: OutboxConsumer | None) -> bool:
    """Wait until everything published before now is in the outbox and, when this process runs the workers, handed
    on and done by them. True: done here; False: written, but the workers are another process's (no way to know)."""
    if writer is not None:
        await writer.idle.wait()
    if consumer is None:
        return False
    await consumer.settled()
    return True


async def crm_settled(app: web.Application) -> bool:
    """``settled`` for one process: its outbox writer and its CRM feed, whichever of them it runs."""
    return await settled(app.get(OUTBOX), app.get(FEEDS, {}).get(CRM_FEED))


async def feeds_settled(app: web.Application) -> bool:
    """``settled`` for every feed this process runs (the recordings' too, which may wait out a file's grace)."""
    writer, feeds = app.get(OUTBOX), app.get(FEEDS, {})
    if not feeds:
        return await settled(writer, None)
    return all([await settled(writer, feed) for feed in feeds.values()])


def poke(app: web.Application) -> None:
    """Rows were committed to the outbox outside the call path's writer (the API's facts): this process's feeds look
    now instead of at their next poll."""
    for feed in app.get(FEEDS, {}).values():
        feed.wake.set()
