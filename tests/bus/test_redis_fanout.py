"""FastAGI's decisions cross service instances through the real Redis server, once, without echo; what every instance
derives from its own AMI session never does (it would arrive twice)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis

from callcenter.events import AgentState, AgentStateChanged, CallDirection, CallRouted, CallStarted, InProcessBus
from callcenter.redis_bus import RedisFanout
from tests.conftest import REDIS_URL, require_service


@pytest.fixture
async def redis_client() -> AsyncIterator[Any]:
    require_service("Redis", "127.0.0.1", 6379)
    client = aioredis.from_url(REDIS_URL)
    yield client
    await client.aclose()


class Inbox:
    def __init__(self) -> None:
        self.events: list[object] = []
        self.arrived = asyncio.Event()

    def __call__(self, event: object) -> None:
        self.events.append(event)
        self.arrived.set()


def routed(call_id: str, instance: str) -> CallRouted:
    return CallRouted(call_id=call_id, at_s=1.5, attempt=1, action="dial", reason="owner", targets=("1002",),
                      team="Sales", explanation="the owner Zoë ☎ is free", caller="+12125550101", did="8050",
                      instance=instance, alternatives=("1003",), ring_timeout_s=20)


async def test_decisions_reach_the_other_instance_once_and_ami_events_stay_home(redis_client: Any) -> None:
    channel = f"test:{uuid.uuid4().hex}"
    bus_a, bus_b = InProcessBus(), InProcessBus()
    inbox_a, inbox_b = Inbox(), Inbox()
    bus_a.subscribe(inbox_a)
    bus_b.subscribe(inbox_b)
    fan_a = RedisFanout(bus=bus_a, redis=redis_client, channel=channel, instance_id="a")
    fan_b = RedisFanout(bus=bus_b, redis=redis_client, channel=channel, instance_id="b")
    await fan_a.start()
    await fan_b.start()
    try:
        # Both instances read AMI: each derives these itself, so neither is sent.
        started = CallStarted(call_id="1795.1", at_s=1.5, direction=CallDirection.INBOUND, caller="+12125550101",
                              caller_name="Zoë ☎", did="8050", customer="+12125550101")
        changed = AgentStateChanged(agent="1002", at_s=1.6, state=AgentState.RINGING, previous=AgentState.AVAILABLE)
        bus_a.publish(started)
        bus_a.publish(changed)
        decision = routed("1795.1", "a")
        bus_a.publish(decision)
        await asyncio.wait_for(inbox_b.arrived.wait(), 10)
        # A marker from b proves a's listener is past anything it could have echoed.
        inbox_a.arrived.clear()
        marker = routed("marker", "b")
        bus_b.publish(marker)
        await asyncio.wait_for(inbox_a.arrived.wait(), 10)
    finally:
        await fan_a.stop()
        await fan_b.stop()
    assert inbox_b.events == [decision, marker]  # its own marker, and a's decision once, whole
    assert inbox_a.events == [started, changed, decision, marker]
    assert (fan_a.published, fan_a.received, fan_b.published, fan_b.received) == (1, 1, 1, 1)


async def test_malformed_messages_are_rejected_and_the_listener_goes_on(redis_client: Any) -> None:
    channel = f"test:{uuid.uuid4().hex}"
    bus = InProcessBus()
    inbox = Inbox()
    bus.subscribe(inbox)
    fan = RedisFanout(bus=bus, redis=redis_client, channel=channel, instance_id="a")
    await fan.start()
    try:
        ami_derived = ('{"origin":"x","event":{"type":"CallStarted","call_id":"8","at_s":1.0,"direction":"inbound",'
                       '"caller":null,"caller_name":null,"did":null,"customer":null}}')
        for bad in (b"not json", b'{"origin": "x"}', b'{"origin": "x", "event": {"type": "Nope"}}', b"[]", b"x" * 300_000,
                    ami_derived):
            await redis_client.publish(channel, bad)
        good = ('{"origin":"x","event":{"type":"CallRouted","call_id":"9","at_s":1.0,"attempt":1,"action":"queue",'
                '"reason":"no-agent->queue"}}')
        await redis_client.publish(channel, good)
        await asyncio.wait_for(inbox.arrived.wait(), 10)
    finally:
        await fan.stop()
    assert fan.rejected == 6
    assert [e.call_id for e in inbox.events] == ["9"]
