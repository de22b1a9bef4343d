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
    def __init__(self, *, send: Send, expected_queue: str, members_of: Callable[[str], int] | None = None) -> None:
        self.send = send
        self.expected_queue = expected_queue
        # Members of a queue now (the membership keeper's record): "no members" is re-judged at every read, since
        # agents log in after start-up; without it, as Asterisk said at the last check.
        self.members_of = members_of
        self._problems: list[str] = []
        self.queue: str | None = None  # the queue fallback callers really reach, once checked
        self.checked = 0
        self.done = asyncio.Event()  # set after each check (tests, start-up probes)

    async def __call__(self) -> list[str]:
        problems: list[str] = []
        queue = self.expected_queue
        self.queue, self._listed_members = None, 0
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
            else:
                self.queue = queue
                self._listed_members = sum(1 for m in items if m.get("Event") == "QueueMember" and m.get("Queue") == queue)
        except AmiError as exc:
            problems.append(f"could not check the fallback queue: {exc}")
        self._problems = problems
        self.checked += 1
        self.done.set()
        for problem in self.problems:
            log.error("FALLBACK QUEUE: %s", problem)
        return self.problems

    @property
    def problems(self) -> list[str]:
        """What is wrong now (empty when nothing is)."""
        problems = list(self._problems)
        if self.queue is not None:
            members = self.members_of(self.queue) if self.members_of is not None else self._listed_members
            if members == 0:
                problems.append(
                    f"queue {self.queue!r} has no members: callers who fall back to it (service down or slow) wait "
                    f"with nobody to answer until an agent logs in"
                )
        return problems
