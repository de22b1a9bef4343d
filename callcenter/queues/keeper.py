"""Adapter: keeps the record of dynamic queue members and re-applies it after every AMI (re)connect.

It sits in front of the live model's consumer (`AmiConnection.run(keeper)`): it sees every item in order, updates the
record from QueueMember* events, and on each `Resync` compares the record with Asterisk's QueueStatus (see
`queues.reconcile` for the rule). The live model is handed the members as Asterisk will hold them once the fixes
land, so an agent paused for lunch is never shown - or routed to - as available because Asterisk restarted; the
QueueAdd / QueuePause actions go out right after, and their own events confirm them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from panoramisk.message import Message

from callcenter.ami import actions
from callcenter.ami.actions import AmiError
from callcenter.ami.connection import Item, Received, Resync
from callcenter.calls.agents import DEVICE_STATE_BY_STATUS
from callcenter.queues.reconcile import AddBack, Fix, Member, adopt, as_list_item, member_from_headers, reconcile

log = logging.getLogger("callcenter.queues")

_STATUS_BY_DEVICE_STATE = {state: str(code) for code, state in DEVICE_STATE_BY_STATUS.items()}
_MEMBER_EVENTS = frozenset({"QueueMemberAdded", "QueueMemberPause", "QueueMemberStatus"})

Consumer = Callable[[Item], Awaitable[None] | None]
Send = Callable[[actions.Action], Awaitable[Any]]


class MembershipKeeper:
    def __init__(self, *, inner: Consumer, send: Send, after_resync: Callable[[], Awaitable[Any]] | None = None) -> None:
        self.inner = inner
        self.send = send
        self.after_resync = after_resync  # run once the fixes of each resync went out (the fallback queue check)
        self.record: dict[tuple[str, str], Member] = {}
        self.reapplied = 0  # fixes sent since start (metrics, tests)
        self.failed = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self.settled = asyncio.Event()  # set whenever no re-apply is in flight
        self.settled.set()
        self.resyncs_done = 0  # resyncs whose fixes (and after_resync) are done
        self._progress = asyncio.Event()

    def __call__(self, item: Item) -> Awaitable[None] | None:
        if isinstance(item, Received):
            self._follow(item.message)
        elif isinstance(item, Resync):
            fixes: list[Fix] = []
            if "QueueStatus" in item.lists:
                item, fixes = self._resync(item)
            self._start(fixes)
        return self.inner(item)

    def members_of(self, queue: str) -> int:
        return sum(1 for q, _ in self.record if q == queue)

    def _follow(self, message: Message) -> None:
        name = message.get("Event")
        if name in _MEMBER_EVENTS:
            member = member_from_headers(message)
            if member is not None:
                self.record[member.key] = member
        elif name == "QueueMemberRemoved":
            self.record.pop((message.get("Queue"), message.get("Interface")), None)

    def _resync(self, item: Resync) -> tuple[Resync, list[Fix]]:
        listed = item.lists["QueueStatus"]
        present = [m for m in map(member_from_headers, (x for x in listed if x.get("Event") == "QueueMember")) if m]
        fixes = reconcile(self.record, present)
        adopt(self.record, present)
        if not fixes:
            return item, fixes
        devices = {
            str(x.get("Device")): str(x.get("State"))
            for x in item.lists.get("DeviceStateList", [])
            if x.get("Event") == "DeviceStateChange"
        }
        wanted = {fix.member.key: fix.member for fix in fixes}
        rewritten: list[Any] = []
        for entry in listed:
            member = member_from_headers(entry) if entry.get("Event") == "QueueMember" else None
            if member is not None and member.key in wanted:
                entry = Message(as_list_item(wanted.pop(member.key), entry))
            rewritten.append(entry)
        for member in wanted.values():  # forgotten altogether: added back
            status = _STATUS_BY_DEVICE_STATE.get(devices.get(member.state_interface, ""), "0")
            rewritten.append(Message(as_list_item(member, {"CallsTaken": "0", "Status": status})))
        return Resync(generation=item.generation, lists={**item.lists, "QueueStatus": rewritten}, at_s=item.at_s), fixes

    def _start(self, fixes: list[Fix]) -> None:
        self.settled.clear()
        task = asyncio.create_task(self._after_resync(fixes), name="queue-membership-reapply")
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not self._tasks:
            self.settled.set()

    async def _after_resync(self, fixes: list[Fix]) -> None:
        try:
            await self._send_fixes(fixes)
            if self.after_resync is not None:
                await self.after_resync()
        finally:
            self.resyncs_done += 1
            progress, self._progress = self._progress, asyncio.Event()
            progress.set()

    async def wait_resyncs(self, count: int) -> None:
        """Until ``count`` resyncs have been handled to the end (their fixes sent, the fallback checked)."""
        while self.resyncs_done < count:
            await self._progress.wait()

    async def _send_fixes(self, fixes: list[Fix]) -> None:
        for fix in fixes:
            m = fix.member
            if isinstance(fix, AddBack):
                action = actions.queue_add(queue=m.queue, interface=m.interface, member_name=m.name,
                                           state_interface=m.state_interface, penalty=m.penalty, paused=m.paused,
                                           reason=m.reason or None)
                what = "added back"
            else:
                action = actions.queue_pause(queue=m.queue, interface=m.interface, paused=m.paused,
                                             reason=m.reason or None)
                what = "pause set back"
            state = f"paused ({m.reason})" if m.paused and m.reason else "paused" if m.paused else "available"
            try:
                await self.send(action)
            except AmiError as exc:
                self.failed += 1
                log.error("queue %s: %s could not be %s after the reconnect: %s", m.queue, m.interface, what, exc)
                continue
            self.reapplied += 1
            log.warning("queue %s: %s %s after the reconnect, %s (Asterisk had lost it)", m.queue, m.interface, what, state)

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
