"""Adapter: checks, after every AMI (re)connect, the queue callers fall into when this service cannot answer.

The dialplan's `CC_FALLBACK_QUEUE` global and the service's `agi.default_queue` must name the same queue (the
shipped dialplan once said `sales` while agents logged into `support`: with the service down, callers waited in a
queue nobody was in). Asterisk is asked for the global (Getvar without a channel) and for that queue (QueueStatus),
and every mismatch is logged as an error and kept for /readyz.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from callcenter.ami import actions
from callcenter.ami.actions import AmiError
from callcenter.ami.channel_vars import DialplanGlobal

log = logging.getLogger("callcenter.queues")

Send = Callable[[actions.Action], Awaitable[Any]]


class FallbackQueueCheck:
    def __init__(self, *, send: Send, expected_queue: str) -> None:
        self.send = send
        self.expected_queue = expected_queue
        self.problems: list[str] = []  # empty once the last check found nothing wrong
        self.checked = 0
        self.done = asyncio.Event()  # set after each check (tests, start-up probes)

    async def __call__(self) -> list[str]:
        problems: list[str] = []
        queue = self.expected_queue
        try:
            reply = await self.send(actions.getvar(variable=DialplanGlobal.FALLBACK_QUEUE))
            dialplan_queue = str(reply.get("Value") or "")
            if dialplan_queue != queue:
                problems.append(
                    f"the dialplan's {DialplanGlobal.FALLBACK_QUEUE} is {dialplan_queue or 'unset'!r} but "
                    f"agi.default_queue is {queue!r}: callers reaching the fallback go to another queue than the one "
                    f"the service logs agents into"
                )
                queue = dialplan_queue or queue
            listed = await self.send(actions.queue_status(queue=queue))
            items = listed if isinstance(listed, list) else [listed]
            if not any(m.get("Event") == "QueueParams" and m.get("Queue") == queue for m in items):
                problems.append(f"queue {queue!r} does not exist in Asterisk (queues.conf): fallback callers are lost")
            elif not any(m.get("Event") == "QueueMember" and m.get("Queue") == queue for m in items):
                problems.append(
                    f"queue {queue!r} has no members: callers who fall back to it (service down or slow) wait with "
                    f"nobody to answer until an agent logs in"
                )
        except AmiError as exc:
            problems.append(f"could not check the fallback queue: {exc}")
        self.problems = problems
        self.checked += 1
        self.done.set()
        for problem in problems:
            log.error("FALLBACK QUEUE: %s", problem)
        return problems
