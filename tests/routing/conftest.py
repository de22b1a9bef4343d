"""Routing fixtures: both state stores behind one factory; the Redis one on the real server under a unique prefix."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import redis.asyncio as aioredis

from callcenter.routing.state import MemoryRoutingStore, RoutingStore
from callcenter.routing.state_redis import RedisRoutingStore
from tests.conftest import REDIS_URL, require_service

StoreFactory = Callable[..., Awaitable[RoutingStore]]


@pytest.fixture(params=["memory", "redis"])
async def make_store(request: pytest.FixtureRequest) -> AsyncIterator[StoreFactory]:
    """``await make_store()``: a store view of ONE shared state. With Redis each call opens its own client, like
    another service instance would; in memory there is only one instance to share."""
    kind = request.param
    clients: list[Any] = []
    memory: MemoryRoutingStore | None = None
    prefix = f"test:{{routing}}:{uuid.uuid4().hex}:"
    if kind == "redis":
        require_service("Redis", "127.0.0.1", 6379)

    async def factory(**kwargs: Any) -> RoutingStore:
        nonlocal memory
        if kind == "memory":
            if memory is None:
                memory = MemoryRoutingStore(**kwargs)
            return memory
        client = aioredis.from_url(REDIS_URL)
        clients.append(client)
        return RedisRoutingStore(redis=client, prefix=prefix, **kwargs)

    factory.kind = kind  # type: ignore[attr-defined]
    yield factory
    if clients:
        keys = [key async for key in clients[0].scan_iter(match=prefix + "*", count=1000)]
        if keys:
            await clients[0].delete(*keys)
        assert [key async for key in clients[0].scan_iter(match=prefix + "*")] == []
        for client in clients:
            await client.aclose()


@pytest.fixture
async def store(make_store: StoreFactory) -> RoutingStore:
    return await make_store()
