"""The one check the live-call actions share (listen in, transfer): the call is live, answered, and has an agent
talking on it now. Answers that agent and their channel, or the 404 / 409 that says why not."""

from __future__ import annotations

from callcenter.calls.tracker import CallTracker
from crm_core.errors import Conflict, NotFound


def agent_leg(tracker: CallTracker, call_id: str) -> tuple[str, str]:
    """(agent, channel name) of the agent talking on live call ``call_id``."""
    if not 0 < len(call_id) <= 64 or (found := next((c for c in tracker.open_calls() if c.call_id == call_id), None)) is None:
        raise NotFound(f"call {call_id} is not a live call", field="call_id")
    if found.connected_s is None:
        raise Conflict(f"call {call_id} is not answered yet", field="call_id", state="waiting")
    leg = tracker.talking_leg(call_id)
    if leg is None:
        raise Conflict(f"call {call_id} has no agent on it now", field="call_id", state="no_agent")
    return leg
