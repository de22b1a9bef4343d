"""Waiting for an asyncio.Event with a time limit, safe to cancel (pure helper).

Python 3.11's ``asyncio.wait_for(event.wait(), t)`` can swallow a cancellation that arrives just as the event fires
(fixed in 3.12): a background loop then outlives the shutdown that cancelled it. ``asyncio.timeout`` does not.
"""

from __future__ import annotations

import asyncio

__all__ = ["wait_set"]


async def wait_set(event: asyncio.Event, timeout_s: float) -> bool:
    """True once ``event`` is set, False when ``timeout_s`` passed first; a cancellation always propagates."""
    try:
        async with asyncio.timeout(timeout_s):
            await event.wait()
    except TimeoutError:
        return False
    return True
