"""The wallboard's live picture (pure): domain events in, small deltas out, and a snapshot on demand.

Deltas carry whole rows (an agent, a call) rather than field patches, so a client that applies them in sequence
order can never end up with a half-updated row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from callcenter.events import (
    AgentStateChanged,
    CallAnswered,
    CallEnded,
    CallRinging,
    CallRouted,
    CallStarted,
    CallTransferred,
)

Delta = dict[str, Any]
MAX_RECENT_MISSED = 50
MAX_EARLY_ROUTES = 1000


@dataclass
class WallboardState:
    agents: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: dict[str, dict[str, Any]] = field(default_factory=dict)
    recent_missed: list[dict[str, Any]] = field(default_factory=list)
    # FastAGI and AMI are two sockets: a call's routing answer can arrive before its first AMI event.
    early_routes: dict[str, str] = field(default_factory=dict)

    def apply(self, event: object) -> list[Delta]:
        if isinstance(event, AgentStateChanged):
            row = {
                "agent": event.agent,
                "state": str(event.state),
                "reason": event.reason,
                "since_s": event.at_s,
                "call_id": event.call_id,
            }
            self.agents[event.agent] = row
            return [{"kind": "agent", "row": row}]
        if isinstance(event, CallStarted):
            row = {
                "call_id": event.call_id,
                "direction": str(event.direction),
                "caller": event.caller,
                "caller_name": event.caller_name,
                "did": event.did,
                "started_s": event.at_s,
                "state": "waiting",
                "agents": [],
                "agent": None,
                "queue": None,
                "routing_reason": self.early_routes.pop(event.call_id, None),
            }
            self.calls[event.call_id] = row
            return [{"kind": "call", "row": row}]
        if isinstance(event, CallRinging | CallAnswered | CallTransferred):
            row = self.calls.get(event.call_id)
            if row is None:
                return []
            row = dict(row)
            if isinstance(event, CallRinging):
                row["agents"] = sorted({*row["agents"], event.agent})
                row["queue"] = event.queue or row["queue"]
                row["state"] = "ringing" if row["state"] != "talking" else "talking"
            elif isinstance(event, CallAnswered):
                row.update(state="talking", agent=event.agent, answered_s=event.at_s, queue=event.queue or row["queue"])
            else:
                row.update(agent=event.to_agent)
            self.calls[event.call_id] = row
            return [{"kind": "call", "row": row}]
        if isinstance(event, CallRouted):
            return self._routed(event)
        if isinstance(event, CallEnded):
            self.early_routes.pop(event.call_id, None)
            deltas: list[Delta] = []
            if self.calls.pop(event.call_id, None) is not None:
                deltas.append({"kind": "call_gone", "call_id": event.call_id})
            if event.outcome.value in ("missed", "abandoned") and event.direction.value == "inbound":
                item = {
                    "call_id": event.call_id,
                    "caller": event.caller,
                    "outcome": event.outcome.value,
                    "ended_s": event.ended_s,
                    "wait_s": round(event.wait_s, 1),
                    "queue": event.queue,
                }
                self.recent_missed = [item, *self.recent_missed][:MAX_RECENT_MISSED]
                deltas.append({"kind": "missed", "row": item})
            return deltas
        return []

    def _routed(self, event: CallRouted) -> list[Delta]:
        row = self.calls.get(event.call_id)
        if row is None:
            self.early_routes[event.call_id] = event.reason
            while len(self.early_routes) > MAX_EARLY_ROUTES:
                del self.early_routes[next(iter(self.early_routes))]
            return []
        row = {**row, "routing_reason": event.reason}
        self.calls[event.call_id] = row
        return [{"kind": "call", "row": row}]

    def snapshot(self) -> dict[str, Any]:
        return {
            "agents": sorted(self.agents.values(), key=lambda r: r["agent"]),
            "calls": sorted(self.calls.values(), key=lambda r: r["started_s"]),
            "recent_missed": list(self.recent_missed),
        }
