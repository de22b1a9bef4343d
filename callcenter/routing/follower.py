"""Keeps a routing store in step with the live call model by following the in-process bus.

Bus handlers are synchronous and run in the publisher's stack (the AMI consumer), so the handler only enqueues;
one task applies the events in bus order. Waiting for the store (Redis round trips) never slows call tracking, and
order per agent is kept because there is exactly one applier.

A failed write (the store down, e.g. Redis restarting: it comes back empty) leaves the store behind the live model:
the follower then writes every agent's latest state again, retrying until the store takes it, so routing finds the
agents again without waiting for each of them to change state.
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
RESEED_RETRY_S = 1.0


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
        self.latest: dict[str, AgentStateChanged] = {}  # each agent's last state: what a reseed writes again
        self.in_step = asyncio.Event()  # cleared by a failed write, set again once the latest states are rewritten
        self.in_step.set()

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

    async def _next(self) -> object:
        while not self.in_step.is_set():
            await self._reseed()
            if self.in_step.is_set():
                break
            try:
                return await asyncio.wait_for(self._queue.get(), RESEED_RETRY_S)
            except TimeoutError:
                continue
        return await self._queue.get()

    async def _run(self) -> None:
        while True:
            event = await self._next()
            try:
                if isinstance(event, AgentStateChanged):
                    self.latest[event.agent] = event
                await self._store.apply(event)
                self.applied += 1
                if self._on_call_ended is not None and isinstance(event, CallEnded):
                    self._on_call_ended(event)
            except asyncio.CancelledError:
                raise
            except Exception:
                self.errors += 1
                self.in_step.clear()
                log.exception("routing state: applying %s failed; every agent's state is written again once the "
                              "store answers", type(event).__name__)
            finally:
                self._queue.task_done()

    async def _reseed(self) -> None:
        try:
            for event in list(self.latest.values()):
                await self._store.apply(event)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.debug("routing state: reseed failed (%s); retrying", exc)
            return
        log.info("routing state: %d agents' states written again after a failed write", len(self.latest))
        self.in_step.set()
