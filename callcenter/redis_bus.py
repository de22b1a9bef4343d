"""Fan-out across service instances, through Redis pub/sub, of the domain events AMI does not carry.

Every instance reads Asterisk's AMI itself and derives the call and agent events in the stream's one order
(events.FROM_AMI); sending those on as well would hand each consumer every event twice. What only one instance
knows is its FastAGI answers (CallRouted): this bridge publishes those to one Redis channel and publishes the other
instances' into the local bus. A message carries its origin instance, so nothing echoes back.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections import deque
from typing import Any

from callcenter.events import EventBus, event_from_dict, event_to_dict, is_shared_event
from callcenter.redis_keys import EVENTS_CHANNEL

log = logging.getLogger("callcenter.bus")
MAX_MESSAGE_BYTES = 256 * 1024


class RedisFanout:
    def __init__(self, *, bus: EventBus, redis: Any, channel: str = EVENTS_CHANNEL, instance_id: str | None = None,
                 outbox_limit: int = 50_000) -> None:
        self.bus = bus
        self.redis = redis
        self.channel = channel
        self.instance_id = instance_id or uuid.uuid4().hex[:12]
        self.outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=outbox_limit)
        # When each outbox item was queued, in queue order, and when the one being published was: the age of the
        # oldest unshared event is then read at metrics scrape time without touching the queue's insides.
        self._queued_at_s: deque[float] = deque()
        self._sending_since_s: float | None = None
        self.published = 0
        self.received = 0
        self.dropped = 0
        self.rejected = 0
        self._incoming: object | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._unsubscribe: Any = None
        self._subscribed = asyncio.Event()

    async def start(self) -> None:
        self._unsubscribe = self.bus.subscribe(self._on_local)
        self._tasks = [
            asyncio.create_task(self._publisher(), name="redis-fanout-out"),
            asyncio.create_task(self._listener(), name="redis-fanout-in"),
        ]
        await asyncio.wait_for(self._subscribed.wait(), 10)

    async def stop(self) -> None:
        if self._unsubscribe:
            self._unsubscribe()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _on_local(self, event: object) -> None:
        if event is self._incoming or not is_shared_event(event):
            # From another instance (not sent back out), derived from AMI (every instance has it), or a local fact
            # (automation's CallLogged, made by the instance whose bridge wrote the call).
            return
        try:
            self.outbox.put_nowait({"origin": self.instance_id, "event": event_to_dict(event)})
            self._queued_at_s.append(time.monotonic())
        except asyncio.QueueFull:
            # Redis is down or slow: local consumers already have the event; the others resync from the database.
            self.dropped += 1
            if self.dropped % 1000 == 1:
                log.warning("redis fan-out outbox full: %d events not shared", self.dropped)

    async def _publisher(self) -> None:
        while True:
            message = await self.outbox.get()
            self._sending_since_s = self._queued_at_s.popleft() if self._queued_at_s else None
            payload = json.dumps(message, separators=(",", ":"))
            while True:
                try:
                    await self.redis.publish(self.channel, payload)
                    self.published += 1
                    self._sending_since_s = None
                    break
                except (OSError, ConnectionError, asyncio.TimeoutError) as exc:
                    log.warning("redis publish failed (%s); retrying", exc)
                    await asyncio.sleep(1)
                except Exception as exc:  # redis-py raises its own ConnectionError subclasses
                    log.warning("redis publish failed (%s); retrying", exc.__class__.__name__)
                    await asyncio.sleep(1)

    def oldest_age_s(self) -> float:
        """How long the oldest event not yet published to Redis has waited (0 when all are out)."""
        oldest = self._sending_since_s
        if oldest is None and self._queued_at_s:
            oldest = self._queued_at_s[0]
        return 0.0 if oldest is None else max(0.0, time.monotonic() - oldest)

    async def _listener(self) -> None:
        pubsub = self.redis.pubsub()
        await pubsub.subscribe(self.channel)
        self._subscribed.set()
        try:
            async for message in pubsub.listen():
                if message.get("type") != "message":
                    continue
                self._deliver(message.get("data"))
        finally:
            await pubsub.aclose()

    def _deliver(self, data: Any) -> None:
        try:
            if isinstance(data, bytes) and len(data) > MAX_MESSAGE_BYTES:
                raise ValueError(f"message of {len(data)} bytes")
            envelope = json.loads(data)
            if envelope["origin"] == self.instance_id:
                return
            event = event_from_dict(envelope["event"])
            if not is_shared_event(event):
                raise ValueError(f"{type(event).__name__} is not shared between instances")
        except Exception as exc:  # anything on a shared channel can be malformed; it must not stop the listener
            self.rejected += 1
            log.warning("redis fan-out: rejected a message (%s: %s): %r", exc.__class__.__name__, exc, str(data)[:200])
            return
        self.received += 1
        self._incoming = event
        try:
            self.bus.publish(event)
        finally:
            self._incoming = None
