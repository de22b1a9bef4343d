"""Wrap-up held in Asterisk's queues: QueuePause with the wrap-up reason while an agent wraps up, unpause after.

queues.conf has ``wrapuptime = 0`` because the service paces wrap-up (its length is ``calls.wrapup_s``, it ends early
on /wrapup-end or a saved disposition). Without this app_queue would offer a queue call to an agent in wrap-up. The
rule (``wanted``) is pure; ``WrapupPacer`` follows the bus and sends the actions over AMI in bus order.

* Into WRAP_UP: pause with ``WRAPUP_PAUSE_REASON`` in every queue (QueuePause without Queue), only if the agent is a
  member of a queue (Asterisk answers "Interface not found" otherwise) and has no pause of its own.
* Out of WRAP_UP, however it ends: unpause, unless the agent (or a supervisor, or the no-answer auto-pause) paused
  them meanwhile - that pause replaced the wrap-up reason in Asterisk and must stand.
* A wrap-up pause left over after its wrap-up (the unpause failed, or it was put back after an Asterisk restart) is
  lifted by the sweep that runs with the wrap-up timer.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Final, Literal

from callcenter.ami import actions
from callcenter.calls.agents import WRAPUP_PAUSE_REASON, AgentBook
from callcenter.events import AgentState, AgentStateChanged, EventBus

__all__ = ["WRAPUP_PAUSE_REASON", "WrapupPacer", "wanted"]

log = logging.getLogger("callcenter.calls")

RETRY_S: Final = 5.0  # a stale wrap-up pause is lifted again at most this often per agent

Change = Literal["pause", "unpause"]


def wanted(event: AgentStateChanged, *, in_queue: bool, ordinary_pause: str | None) -> Change | None:
    """What the queues need after ``event``: pause for wrap-up, lift it, or nothing."""
    if not in_queue:
        return None
    into = event.state is AgentState.WRAP_UP
    out_of = event.previous is AgentState.WRAP_UP
    if into and not out_of:
        return "pause" if ordinary_pause is None else None
    if out_of and not into:
        return "unpause" if ordinary_pause is None else None
    return None


class WrapupPacer:
    """``send``: the AMI connection's send; ``interface_of``: agent -> queue member interface (PJSIP/<ext>);
    ``clock``: PBX time as the live model has it (the tracker's ``now_s``)."""

    def __init__(
        self,
        *,
        agents: AgentBook,
        send: Callable[[actions.Action], Awaitable[Any]],
        interface_of: Callable[[str], str],
        clock: Callable[[], float],
        queue_limit: int = 10_000,
    ) -> None:
        self.agents = agents
        self.send = send
        self.interface_of = interface_of
        self.clock = clock
        self.queue: asyncio.Queue[tuple[str, Change]] = asyncio.Queue(maxsize=queue_limit)
        self.sent = 0
        self.failed = 0
        self._lifted_s: dict[str, float] = {}  # agent -> when a stale wrap-up pause was last lifted (monotonic)

    def attach(self, bus: EventBus) -> Callable[[], None]:
        return bus.subscribe(self.on_event, event_type=AgentStateChanged)

    def on_event(self, event: AgentStateChanged) -> None:
        rec = self.agents.agents.get(event.agent)
        change = wanted(event, in_queue=bool(rec and rec.queues), ordinary_pause=self.agents.ordinary_pause(event.agent))
        if change is not None:
            self._put(event.agent, change)

    def sweep(self, now_s: float) -> None:
        """Lift wrap-up pauses whose wrap-up is over at ``now_s`` (PBX time, as the live model has it)."""
        tried = time.monotonic()  # retries are spaced in real time: PBX time only moves with events
        for agent in self.agents.stale_wrapup_pauses(now_s):
            if tried - self._lifted_s.get(agent, float("-inf")) >= RETRY_S:
                self._lifted_s[agent] = tried
                self._put(agent, "unpause")

    def _put(self, agent: str, change: Change) -> None:
        try:
            self.queue.put_nowait((agent, change))
        except asyncio.QueueFull:
            self.failed += 1
            log.error("wrap-up pacing queue full: %s of %s not sent", change, agent)

    async def run(self) -> None:
        while True:
            agent, change = await self.queue.get()
            try:
                await self._apply(agent, change)
            finally:
                self.queue.task_done()

    async def _apply(self, agent: str, change: Change) -> None:
        paused = change == "pause"
        if self.agents.ordinary_pause(agent) is not None:
            return  # paused for real (since): that pause stands, and it keeps app_queue away anyway
        try:
            await self.send(actions.queue_pause(interface=self.interface_of(agent), paused=paused,
                                                reason=WRAPUP_PAUSE_REASON if paused else None))
            self.sent += 1
        except Exception as exc:  # AMI down or refused: the sweep lifts a stale pause later
            self.failed += 1
            log.warning("wrap-up %s of %s not applied in the queues: %s", change, agent, exc)

    async def drain(self) -> None:
        """Return once every change queued so far went out (tests, orderly shutdown)."""
        await self.queue.join()

    async def run_sweeper(self, *, interval_s: float = 1.0) -> None:
        while True:
            await asyncio.sleep(interval_s)
            self.sweep(self.clock())
