"""Keeps a routing store in step with the live call model by following the in-process bus.

Bus handlers are synchronous and run in the publisher's stack (the AMI consumer), so the handler only enqueues;
one task applies the events in bus order. Waiting for the store (Redis round trips) never slows call tracking, and
order per agent is kept because there is exactly one applier.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from callcenter.events import AgentStateChanged, CallAnswered, CallEnded, CallRinging, EventBus
from callcenter.routing.state import RoutingStore

__all__ = ["StoreFollower", "FOLLOWED_EVENTS"]

log = logging.getLogger("callcenter.routing")

FOLLOWED_EVENTS = (AgentStateChanged, CallRinging, CallAnswered, CallEnded)


class StoreFollower:
    """``on_call_ended`` (optional) runs after a CallEnded was applied, e.g. to drop the caller's cached CRM facts
    so a quick second call sees the agent who just talked to them."""

    def __init__(
        self,
        *,
        bus: EventBus,
        store: RoutingStore,
        queue_limit: int = 100_000,
        on_call_ended: Callable[[CallEnded], None] | None = None,
    ) -> None:
        self._bus = bus
        self._store = store
        self._queue: asyncio.Queue[object] = asyncio.Queue(maxsize=queue_limit)
        self._on_call_ended = on_call_ended
        self._unsubscribe: list[Callable[[], None]] = []
        self._task: asyncio.Task[None] | None = None
        self.applied = 0
        self.dropped = 0  # queue full: the store is down or far behind
        self.errors = 0

    def start(self) -> None:
        if self._task is not None:
            raise RuntimeError("StoreFollower is already started")
        self._unsubscribe = [self._bus.subscribe(self._enqueue, event_type=t) for t in FOLLOWED_EVENTS]
        self._task = asyncio.create_task(self._run(), name="routing-state-follower")

    async def stop(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe = []
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def join(self) -> None:
        """Return once every event enqueued so far has been applied (tests, orderly shutdown)."""
        await self._queue.join()

    def _enqueue(self, event: object) -> None:
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            # Routing then works from older state; the FastAGI reservation TTL and the next state change repair it.
            self.dropped += 1
            if self.dropped % 1000 == 1:
                log.warning("routing state follower queue full: %d events dropped", self.dropped)

    async def _run(self) -> None:
        while True:
            event = await self._queue.get()
            try:
                await self._store.apply(event)
                self.applied += 1
                if self._on_call_ended is not None and isinstance(event, CallEnded):
                    self._on_call_ended(event)
            except asyncio.CancelledError:
                raise
            except Exception:
                # One failed write (Redis blip) must not stop following; the next state change overwrites it.
                self.errors += 1
                log.exception("routing state: applying %s failed", type(event).__name__)
            finally:
                self._queue.task_done()
