"""callcenter.waiting.wait_set: the bounded wait every background loop uses, and that a cancellation always ends it."""

from __future__ import annotations

import asyncio

import pytest

from callcenter.waiting import wait_set


async def test_true_when_set_false_when_the_time_is_up() -> None:
    event = asyncio.Event()
    assert await wait_set(event, 0.01) is False
    event.set()
    assert await wait_set(event, 10.0) is True


async def test_a_cancellation_arriving_as_the_event_fires_is_not_swallowed() -> None:
    # The race Python 3.11's wait_for loses: the waiter is woken and cancelled in the same loop pass.
    event = asyncio.Event()
    waiting = asyncio.create_task(wait_set(event, 10.0))
    await asyncio.sleep(0)  # the task is now parked on the event
    event.set()
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
