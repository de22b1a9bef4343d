"""The wallboard's live picture (pure): domain events in, small deltas out, and a snapshot on demand.

Deltas carry whole rows (an agent, a call, a missed call, a team's figures) rather than field patches, so a client
that applies them in sequence order can never end up with a half-updated row. Every delta names its ``team`` (or
None when no team is known), which is all the hub needs to show each screen only the teams it may see.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from callcenter.events import (
    AgentStateChanged,
    CallAnswered,
    CallDirection,
    CallEnded,
    CallRinging,
    CallRouted,
    CallStarted,
    CallTransferred,
)

Delta = dict[str, Any]
TeamFilter = Callable[[str | None], bool]
MAX_RECENT_MISSED = 50  # per team
MAX_EARLY_ROUTES = 1000
MISSED_OUTCOMES = ("missed", "abandoned")


def _unknown(_key: str | None) -> str | None:
    return None


def missed_row(
    *, call_id: str, caller: str | None, outcome: str, ended_s: float, wait_s: float, queue: str | None,
    team: str | None, callback: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """One missed or abandoned call, the same shape whether it comes from the live call or from the CRM."""
    return {
        "call_id": call_id,
        "caller": caller,
        "outcome": outcome,
        "ended_s": ended_s,
        "wait_s": round(wait_s, 1),
        "queue": queue,
        "team": team,
        "callback": dict(callback) if callback else None,
    }


@dataclass
class WallboardState:
    # Which team an agent (extension) belongs to, and which team serves a DID: the composition root reads the
    # routing directory and rules; the defaults know no teams (every row is then team None).
    agent_team: Callable[[str], str | None] = _unknown
    agent_name: Callable[[str], str | None] = _unknown
    did_team: Callable[[str | None], str | None] = _unknown
    agents: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: dict[str, dict[str, Any]] = field(default_factory=dict)
    missed: dict[str, dict[str, Any]] = field(default_factory=dict)  # by call id
    figures: dict[str, dict[str, Any]] = field(default_factory=dict)  # by team: the reports API's figures
    # FastAGI and AMI are two sockets: a call's routing answer can arrive before its first AMI event.
    early_routes: dict[str, CallRouted] = field(default_factory=dict)

    def apply(self, event: object) -> list[Delta]:
        if isinstance(event, AgentStateChanged):
            row = {
                "agent": event.agent,
                "name": self.agent_name(event.agent),
                "team": self.agent_team(event.agent),
                "state": str(event.state),
                "reason": event.reason,
                "since_s": event.at_s,
                "call_id": event.call_id,
            }
            self.agents[event.agent] = row
            return [{"kind": "agent", "team": row["team"], "row": row}]
        if isinstance(event, CallStarted):
            early = self.early_routes.pop(event.call_id, None)
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
                "team": (early and early.team) or self._did_team(event.direction, event.did),
                "routing_reason": early.reason if early else None,
            }
            self.calls[event.call_id] = row
            return [self._call_delta(row)]
        if isinstance(event, CallRinging | CallAnswered | CallTransferred):
            return self._progress(event)
        if isinstance(event, CallRouted):
            return self._routed(event)
        if isinstance(event, CallEnded):
            return self._ended(event)
        return []

    def _did_team(self, direction: CallDirection, did: str | None) -> str | None:
        return self.did_team(did) if direction is CallDirection.INBOUND else None

    @staticmethod
    def _call_delta(row: dict[str, Any]) -> Delta:
        return {"kind": "call", "team": row["team"], "row": row}

    def _progress(self, event: CallRinging | CallAnswered | CallTransferred) -> list[Delta]:
        old = self.calls.get(event.call_id)
        if old is None:
            return []
        row = dict(old)
        if isinstance(event, CallRinging):
            row["agents"] = sorted({*row["agents"], event.agent})
            row["queue"] = event.queue or row["queue"]
            row["state"] = "ringing" if row["state"] != "talking" else "talking"
            agent = event.agent
        elif isinstance(event, CallAnswered):
            row.update(state="talking", agent=event.agent, answered_s=event.at_s, queue=event.queue or row["queue"])
            agent = event.agent
        else:
            row.update(agent=event.to_agent)
            agent = event.to_agent
        # A call no DID or routing placed (outbound, internal) belongs to the team of the agent on it.
        row["team"] = row["team"] or self.agent_team(agent)
        return self._replace_call(old, row)

    def _replace_call(self, old: dict[str, Any], row: dict[str, Any]) -> list[Delta]:
        self.calls[row["call_id"]] = row
        deltas: list[Delta] = []
        if old["team"] != row["team"]:
            # Screens of the old team would otherwise keep a call that moved away from them.
            deltas.append({"kind": "call_gone", "team": old["team"], "call_id": row["call_id"]})
        return [*deltas, self._call_delta(row)]

    def _routed(self, event: CallRouted) -> list[Delta]:
        old = self.calls.get(event.call_id)
        if old is None:
            self.early_routes[event.call_id] = event
            while len(self.early_routes) > MAX_EARLY_ROUTES:
                del self.early_routes[next(iter(self.early_routes))]
            return []
        return self._replace_call(old, {**old, "routing_reason": event.reason, "team": event.team or old["team"]})

    def _ended(self, event: CallEnded) -> list[Delta]:
        self.early_routes.pop(event.call_id, None)
        deltas: list[Delta] = []
        row = self.calls.pop(event.call_id, None)
        team = row["team"] if row is not None else self._did_team(event.direction, event.did)
        if row is not None:
            deltas.append({"kind": "call_gone", "team": team, "call_id": event.call_id})
        if event.outcome.value in MISSED_OUTCOMES and event.direction is CallDirection.INBOUND:
            item = missed_row(
                call_id=event.call_id, caller=event.caller, outcome=event.outcome.value, ended_s=event.ended_s,
                wait_s=event.wait_s, queue=event.queue, team=team,
            )
            deltas += self._put_missed([item])
        return deltas

    # -- what the CRM knows (the figures feed) ---------------------------------------------------------------------

    def set_figures(self, team: str, row: dict[str, Any]) -> list[Delta]:
        if self.figures.get(team) == row:
            return []
        self.figures[team] = row
        return [{"kind": "figures", "team": team, "row": row}]

    def merge_missed(self, rows: Iterable[dict[str, Any]], *, day_start_s: Mapping[str | None, float]) -> list[Delta]:
        """The CRM's missed calls of today (with their callbacks) over the live ones; a call of an earlier day goes.
        A live row the CRM has not written yet stays."""
        deltas = self._put_missed(rows, trim=False)
        for call_id, row in list(self.missed.items()):
            start = day_start_s.get(row["team"])
            if start is not None and row["ended_s"] < start:
                del self.missed[call_id]
                deltas.append({"kind": "missed_gone", "team": row["team"], "call_id": call_id})
        return deltas + self._trim_missed()

    def _put_missed(self, rows: Iterable[dict[str, Any]], *, trim: bool = True) -> list[Delta]:
        deltas: list[Delta] = []
        for row in rows:
            if self.missed.get(row["call_id"]) != row:
                self.missed[row["call_id"]] = row
                deltas.append({"kind": "missed", "team": row["team"], "row": row})
        return deltas + self._trim_missed() if trim else deltas

    def _trim_missed(self) -> list[Delta]:
        by_team: dict[str | None, list[dict[str, Any]]] = {}
        for row in self.missed.values():
            by_team.setdefault(row["team"], []).append(row)
        deltas: list[Delta] = []
        for team, rows in by_team.items():
            for row in sorted(rows, key=lambda r: r["ended_s"], reverse=True)[MAX_RECENT_MISSED:]:
                del self.missed[row["call_id"]]
                deltas.append({"kind": "missed_gone", "team": team, "call_id": row["call_id"]})
        return deltas

    def snapshot(self, sees: TeamFilter = lambda _team: True) -> dict[str, Any]:
        def visible(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
            return [row for row in rows if sees(row["team"])]

        return {
            "agents": sorted(visible(self.agents.values()), key=lambda r: r["agent"]),
            "calls": sorted(visible(self.calls.values()), key=lambda r: r["started_s"]),
            "recent_missed": sorted(visible(self.missed.values()), key=lambda r: r["ended_s"], reverse=True),
            "figures": [self.figures[team] for team in sorted(self.figures) if sees(team)],
        }
