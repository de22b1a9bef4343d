"""One agent-state model merged from every source of truth.

Facts per agent: device state (DeviceStateChange, or the Status of a queue member event), registration
(ContactStatus/PeerStatus), queue membership and pause (QueueMember* events), the agent's legs in calls we track,
and the end of the agent's last talk (for wrap-up). The state shown to the rest of the system is derived from them
by one precedence rule (``AgentBook._derive``) and an ``AgentStateChanged`` is emitted only when it changes.

Wrap-up belongs to a call: the one whose talked leg ended. The change into WRAP_UP names it (``call_id``) and every
change out of it names it again with the spell's start (``wrapup_call_id``, ``wrapup_since_s``), whatever ended it:
the timer, the agent, a pause, a new call or the phone going offline.

Time is always passed in (event timestamps); nothing here reads the clock.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

from callcenter.events import AgentState, AgentStateChanged

__all__ = ["AgentBook", "AgentRecord", "DEVICE_STATE_BY_STATUS", "WRAPUP_PAUSE_REASON"]

# The queue pause reason the service uses to hold an agent out of app_queue during wrap-up (queues.conf has
# wrapuptime = 0: the service paces wrap-up). Such a pause is wrap-up, never shown or routed as an ordinary pause.
WRAPUP_PAUSE_REASON = "wrap-up"

# QueueMember* ``Status`` numbers are AST_DEVICE_* values.
DEVICE_STATE_BY_STATUS: dict[int, str] = {
    0: "UNKNOWN",
    1: "NOT_INUSE",
    2: "INUSE",
    3: "BUSY",
    4: "INVALID",
    5: "UNAVAILABLE",
    6: "RINGING",
    7: "RINGINUSE",
    8: "ONHOLD",
}
_OFFLINE_DEVICE = frozenset({"UNAVAILABLE", "INVALID"})
_BUSY_DEVICE = frozenset({"INUSE", "BUSY", "ONHOLD", "RINGINUSE"})
_REACHABLE = frozenset({"created", "reachable", "nonqualified", "updated", "registered", "ok"})
_UNREACHABLE = frozenset({"removed", "unreachable", "unregistered", "rejected", "unqualified"})

RINGING_LEG = "ringing"
OFFERED_LEG = "offered"  # dialled but not ringing yet (or rejected at once): does not change the agent's state
TALKING_LEG = "talking"


@dataclass(slots=True)
class AgentRecord:
    agent: str
    device_state: str | None = None
    reachable: bool | None = None
    # queue -> pause reason ('' when paused without reason) or None when not paused
    queues: dict[str, str | None] = field(default_factory=dict)
    legs: dict[str, tuple[str, str]] = field(default_factory=dict)  # leg uniqueid -> (call_id, leg state)
    wrapup_until_s: float | None = None
    wrapup_call_id: str | None = None  # the call the pending wrap-up is for
    # A pause the service holds itself for an agent in no queue (reason, '' without one): Asterisk has no member to
    # pause, yet routing must not dial them. None: not paused that way.
    own_pause: str | None = None
    state: AgentState | None = None
    reason: str | None = None
    # As last emitted: the call the shown state is about and when it began (closes a wrap-up spell).
    call_id: str | None = None
    since_s: float | None = None


class AgentBook:
    """Agent records and the derivation of their state; appends emitted events to the list it is given."""

    __slots__ = ("agents", "wrapup_s", "_deadlines", "_out")

    def __init__(self, *, wrapup_s: float, out: list[object]) -> None:
        self.agents: dict[str, AgentRecord] = {}
        self.wrapup_s = wrapup_s
        self._deadlines: list[tuple[float, str]] = []
        self._out = out

    def set_output(self, out: list[object]) -> None:
        self._out = out

    def _get(self, agent: str) -> AgentRecord:
        rec = self.agents.get(agent)
        if rec is None:
            rec = self.agents[agent] = AgentRecord(agent)
        return rec

    # -- facts ------------------------------------------------------------------------------------------------------

    def device(self, agent: str, state: str, at_s: float) -> None:
        rec = self._get(agent)
        rec.device_state = state
        self._refresh(rec, at_s)

    def registration(self, agent: str, status: str, at_s: float) -> None:
        low = status.lower()
        reachable = True if low in _REACHABLE else False if low in _UNREACHABLE else None
        if reachable is None:
            return
        rec = self._get(agent)
        rec.reachable = reachable
        self._refresh(rec, at_s)

    def member(self, agent: str, queue: str, *, paused: bool, reason: str | None, status: int | None, at_s: float) -> None:
        rec = self._get(agent)
        rec.queues[queue] = (reason or "") if paused else None
        if status is not None and status in DEVICE_STATE_BY_STATUS:
            rec.device_state = DEVICE_STATE_BY_STATUS[status]
        self._refresh(rec, at_s)

    def member_removed(self, agent: str, queue: str, at_s: float) -> None:
        rec = self.agents.get(agent)
        if rec is None or rec.queues.pop(queue, 0) == 0:
            return
        self._refresh(rec, at_s)

    def replace_memberships(self, members: dict[str, dict[str, tuple[bool, str | None, int | None]]], at_s: float) -> None:
        """Resync: ``members[agent][queue] = (paused, reason, status)`` is the whole truth for queue membership."""
        for agent, rec in list(self.agents.items()):
            if rec.queues and agent not in members:
                rec.queues.clear()
                self._refresh(rec, at_s)
        for agent, queues in members.items():
            rec = self._get(agent)
            rec.queues = {q: ((r or "") if p else None) for q, (p, r, _) in queues.items()}
            for _, _, status in queues.values():
                if status is not None and status in DEVICE_STATE_BY_STATUS:
                    rec.device_state = DEVICE_STATE_BY_STATUS[status]
            self._refresh(rec, at_s)

    def leg(self, agent: str, leg: str, call_id: str, leg_state: str, at_s: float) -> None:
        rec = self._get(agent)
        rec.legs[leg] = (call_id, leg_state)
        self._refresh(rec, at_s)

    def leg_ended(self, agent: str, leg: str, at_s: float, *, talked: bool, wrapup: bool = True) -> None:
        rec = self.agents.get(agent)
        if rec is None:
            return
        ended = rec.legs.pop(leg, None)
        if ended is None:
            return
        if talked and wrapup and self.wrapup_s > 0:
            rec.wrapup_until_s = at_s + self.wrapup_s
            rec.wrapup_call_id = ended[0]
            heapq.heappush(self._deadlines, (rec.wrapup_until_s, agent))
        self._refresh(rec, at_s)

    def tick(self, now_s: float) -> None:
        """Expire wrap-ups whose time has come (called with each event's time and by the owner's timer)."""
        deadlines = self._deadlines
        while deadlines and deadlines[0][0] <= now_s:
            until, agent = heapq.heappop(deadlines)
            rec = self.agents.get(agent)
            if rec is not None and rec.wrapup_until_s == until:
                rec.wrapup_until_s = rec.wrapup_call_id = None
                self._refresh(rec, until)

    def end_wrapup(self, agent: str, at_s: float, *, call_id: str | None = None) -> bool:
        """The agent says they are done early. False when they were not in wrap-up (with ``call_id``: not in the
        wrap-up of that call, e.g. a later call's has replaced it)."""
        rec = self.agents.get(agent)
        if rec is None or rec.wrapup_until_s is None or rec.wrapup_until_s <= at_s:
            return False
        if call_id is not None and rec.wrapup_call_id != call_id:
            return False
        rec.wrapup_until_s = rec.wrapup_call_id = None  # the heap entry no longer matches and is skipped by tick()
        self._refresh(rec, at_s)
        return True

    def wrapup_call(self, agent: str, at_s: float) -> str | None:
        """The call whose wrap-up ``agent`` still has pending at ``at_s`` (shown, or under a pause), else None."""
        rec = self.agents.get(agent)
        if rec is None or rec.wrapup_until_s is None or rec.wrapup_until_s <= at_s:
            return None
        return rec.wrapup_call_id

    def stale_wrapup_pauses(self, at_s: float) -> list[str]:
        """Agents still paused in a queue for a wrap-up that is over (an unpause that failed or is in flight, or a
        wrap-up pause put back after an Asterisk restart)."""
        return [
            agent for agent, rec in self.agents.items()
            if WRAPUP_PAUSE_REASON in rec.queues.values() and (rec.wrapup_until_s is None or rec.wrapup_until_s <= at_s)
        ]

    def ordinary_pause(self, agent: str) -> str | None:
        """The agent's own (or supervisor's, or auto-) pause reason in any queue ('' without reason), not wrap-up's;
        None when there is none."""
        rec = self.agents.get(agent)
        if rec is None:
            return None
        for reason in rec.queues.values():
            if reason is not None and reason != WRAPUP_PAUSE_REASON:
                return reason
        return rec.own_pause

    def set_own_pause(self, agent: str, reason: str | None, at_s: float) -> None:
        """Pause (``reason`` str, '' without one) or unpause (None) an agent for the service's own routing."""
        rec = self._get(agent)
        rec.own_pause = reason
        self._refresh(rec, at_s)

    @property
    def next_deadline_s(self) -> float | None:
        return self._deadlines[0][0] if self._deadlines else None

    # -- derivation -------------------------------------------------------------------------------------------------

    def _derive(self, rec: AgentRecord, at_s: float) -> tuple[AgentState, str | None, str | None]:
        """(state, pause reason, call_id). Precedence: our own calls first (most precise), then the device, then
        pause, then wrap-up."""
        ringing_call = None
        for call_id, leg_state in rec.legs.values():
            if leg_state == TALKING_LEG:
                return AgentState.TALKING, None, call_id
            if leg_state == RINGING_LEG:
                ringing_call = call_id
        if ringing_call is not None:
            return AgentState.RINGING, None, ringing_call
        device = rec.device_state
        if device in _OFFLINE_DEVICE or (rec.reachable is False and device in (None, "UNKNOWN")):
            return AgentState.OFFLINE, None, None
        if device in _BUSY_DEVICE:
            return AgentState.TALKING, None, None
        if device == "RINGING":
            return AgentState.RINGING, None, None
        for reason in rec.queues.values():
            if reason is not None and reason != WRAPUP_PAUSE_REASON:
                return AgentState.PAUSED, reason or None, None
        if rec.own_pause is not None:
            return AgentState.PAUSED, rec.own_pause or None, None
        if rec.wrapup_until_s is not None and rec.wrapup_until_s > at_s:
            return AgentState.WRAP_UP, None, rec.wrapup_call_id
        return AgentState.AVAILABLE, None, None

    def _refresh(self, rec: AgentRecord, at_s: float) -> None:
        state, reason, call_id = self._derive(rec, at_s)
        wrapup = AgentState.WRAP_UP
        # Wrap-up for another call is a new wrap-up even without a state change: the old one must be closed.
        if state is rec.state and reason == rec.reason and (state is not wrapup or call_id == rec.call_id):
            return
        previous = rec.state
        left_wrapup = previous is wrapup
        self._out.append(
            AgentStateChanged(
                agent=rec.agent, at_s=at_s, state=state, previous=previous, reason=reason, call_id=call_id,
                wrapup_call_id=rec.call_id if left_wrapup else None,
                wrapup_since_s=rec.since_s if left_wrapup else None,
            )
        )
        rec.state, rec.reason, rec.call_id, rec.since_s = state, reason, call_id, at_s
