"""Adapter from the AMI session's ordered queue to the pure tracker, publishing what it emits on the bus.

This is the one consumer of `AmiConnection.run`; it keeps the wiring order the tracker documents.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from callcenter.ami import actions
from callcenter.ami.actions import AmiActionFailed
from callcenter.ami.channel_vars import USER_EVENT_AGENT_CONTROL, AgentControl
from callcenter.ami.connection import Connected, Disconnected, Item, Received, Resync
from callcenter.calls.ingest import AmiIngest
from callcenter.calls.tracker import CallTracker
from callcenter.events import AgentState, AgentStateChanged, CallEnded, EventBus

log = logging.getLogger("callcenter.calls")
# How long an instance waits for its own CcAgentControl to come back on its AMI stream before applying it alone.
CONTROL_ECHO_S = 3.0


class LiveCalls:
    def __init__(self, *, tracker: CallTracker, bus: EventBus) -> None:
        self.tracker = tracker
        self.bus = bus
        self.ingest = AmiIngest(tracker=tracker, publish=bus.publish)
        self.wrapup_pacer: Any = None  # the WrapupPacer holding wrap-ups in the queues, while an AMI session is set up
        # The AMI session whose resync the model has taken in (0: none yet); after it, its open calls are complete.
        self.synced_generation = 0
        # Called with the generation once a session's resync is taken in (the BLF keys re-publish every agent then).
        self.on_synced: list[Any] = []
        # What only the service decides about an agent (wrap-up end, a pause outside the queues) goes out as a
        # UserEvent through ``control_send`` and is applied when it comes back on the AMI stream, on every instance
        # alike; unset (no telephony) or with the session down it is applied here at once.
        self.control_send: Callable[[actions.Action], Awaitable[Any]] | None = None
        self._echoes: dict[str, asyncio.Future[None]] = {}

    def __call__(self, item: Item) -> None:
        if isinstance(item, Received):
            self.ingest.feed_headers(item.message)
            if self._echoes and item.message.get("UserEvent") == USER_EVENT_AGENT_CONTROL:
                echo = self._echoes.get(item.message.get("ActionID", ""))
                if echo is not None and not echo.done():
                    echo.set_result(None)
        elif isinstance(item, Connected):
            self.tracker.begin_resync()
        elif isinstance(item, Resync):
            for messages in item.lists.values():
                for message in messages:
                    self.ingest.feed_headers(message)
            emitted = self.tracker.end_resync(
                at_s=item.at_s, channels_complete=True, members_complete="QueueStatus" in item.lists
            )
            for event in emitted:
                self.bus.publish(event)
            self.synced_generation = item.generation
            log.info("live model resynced: %d open calls", len(self.tracker.open_calls()))
            for hook in list(self.on_synced):
                hook(item.generation)
        elif isinstance(item, Disconnected):
            self.synced_generation = 0
            log.warning("live model paused until the AMI session is back (%s)", item.reason)

    def tick(self, now_s: float) -> None:
        for event in self.tracker.tick(now_s):
            self.bus.publish(event)

    def agent_state(self, agent: str) -> tuple[AgentState, str | None]:
        """(state, pause reason) as the live model has it; an agent it never heard of is offline."""
        record = self.tracker.agents.agents.get(agent)
        if record is None or record.state is None:
            return AgentState.OFFLINE, None
        return record.state, record.reason

    async def end_wrapup(self, agent: str, *, call_id: str | None = None) -> bool:
        """End the agent's wrap-up now (with ``call_id``: only the wrap-up of that call); False when there is none."""
        pending = self.wrapup_call(agent)
        if pending is None or (call_id is not None and pending != call_id):
            return False
        at_s = max(time.time(), self.tracker.now_s)
        await self._control(agent, AgentControl.WRAPUP_END, at_s, call_id=pending,
                            here=lambda: self.tracker.end_wrapup(agent, at_s, call_id=pending)[1])
        return True

    async def _set_own_pause(self, agent: str, reason: str | None) -> None:
        at_s = max(time.time(), self.tracker.now_s)
        control = AgentControl.OWN_UNPAUSE if reason is None else AgentControl.OWN_PAUSE
        await self._control(agent, control, at_s, reason=reason,
                            here=lambda: self.tracker.set_own_pause(agent, reason, at_s))

    async def _control(self, agent: str, control: AgentControl, at_s: float, *, here: Callable[[], Any],
                       call_id: str | None = None, reason: str | None = None) -> None:
        """Send the decision round Asterisk so every instance's live model applies it in the AMI stream's one order;
        wait for it to come back here. Without a live session (or if it never comes back) apply it here alone."""
        send = self.control_send
        if send is None or not self.synced_generation:
            self._publish(here())
            return
        action = actions.agent_control(agent=agent, control=control, at_s=at_s, call_id=call_id, reason=reason)
        echo: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._echoes[action["ActionID"]] = echo
        try:
            async with asyncio.timeout(CONTROL_ECHO_S):
                await send(action)
                await echo
        except (AmiActionFailed, TimeoutError, ConnectionError) as exc:
            # e.g. an AMI user without the `user` write class: this instance stays right, the others go on by their
            # own timer (a wrap-up) or until the next change; said loudly, since the instances disagree meanwhile.
            log.error("agent %s %s not sent round Asterisk (%s: %s): applied on this instance only",
                      agent, control, exc.__class__.__name__, exc)
            self._publish(here())
        finally:
            del self._echoes[action["ActionID"]]

    async def pause(self, agent: str, reason: str, *, control: Any, interface: str) -> bool:
        """Pause ``agent`` so that neither app_queue nor the service's routing offers them a call. True: paused in
        their queues (QueuePause; the live model follows Asterisk's QueueMemberPause). False: they are in no queue
        (Asterisk answers "Interface not found"), so the live model holds the pause itself and routing reads it.
        Asterisk is asked first: it knows the memberships even when their events are still on the way."""
        if control is not None:
            try:
                await control.pause(interface, reason)
                return True
            except AmiActionFailed as exc:
                if not _no_member(exc):
                    raise
        await self._set_own_pause(agent, reason)
        return False

    async def unpause(self, agent: str, *, control: Any, interface: str) -> bool:
        """Lift the agent's pause: the service's own one, and in their queues if they are in any. True when the
        queues were unpaused."""
        record = self.tracker.agents.agents.get(agent)
        if record is not None and record.own_pause is not None:
            await self._set_own_pause(agent, None)
        if control is None:
            return False
        try:
            await control.pause(interface, "", paused=False)
            return True
        except AmiActionFailed as exc:
            if _no_member(exc):
                return False
            raise

    def _publish(self, events: Any) -> None:
        for event in events:
            self.bus.publish(event)

    def wrapup_call(self, agent: str) -> str | None:
        """The call whose wrap-up the agent has pending now, if any."""
        return self.tracker.agents.wrapup_call(agent, max(time.time(), self.tracker.now_s))

    async def run_wrapup_timer(self, *, interval_s: float = 1.0) -> None:
        """Wrap-up must end on a quiet line too; the tracker itself has no clock."""
        while True:
            await asyncio.sleep(interval_s)
            deadline = self.tracker.agents.next_deadline_s
            if deadline is not None and deadline <= time.time():
                self.tick(time.time())


def _no_member(exc: AmiActionFailed) -> bool:
    """app_queue's answer to QueuePause for an interface that is in no queue (manager_queue_member_pause)."""
    return "interface not found" in exc.message.lower()


def log_domain_event(event: Any) -> None:
    """One readable line per call event, tagged with the call id (the supervisor's log view)."""
    call_id = getattr(event, "call_id", None) or "-"
    if isinstance(event, CallEnded):
        text = (
            f"call ended {event.outcome} ({event.direction}) caller={event.caller} did={event.did} "
            f"answered_by={event.answered_by} wait={event.wait_s:.1f}s talk={event.talk_s:.1f}s "
            f"cause={event.hangup_cause} by={event.hung_up_by}"
        )
    elif isinstance(event, AgentStateChanged):
        text = f"agent {event.agent} {event.previous} -> {event.state}" + (f" ({event.reason})" if event.reason else "")
    else:
        shown = " ".join(f"{f.name}={getattr(event, f.name)}" for f in dataclasses.fields(event) if f.name != "call_id")
        text = f"{type(event).__name__} {shown}"
    log.info(text, extra={"call_id": call_id})
