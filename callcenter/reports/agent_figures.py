"""Agent figures for a period (pure): logged-in time, time per state, pause time by reason, occupancy.

From the agent state spells (``crm_core.agent_log_models``), each cut to the period; a spell still going on ends
*now*. Offline time is no spell, so logged-in time is the sum of the spells.

- **occupancy** = (ringing + talking + wrap-up) / (logged-in - paused), i.e. the share of the time an agent was
  ready for calls that they spent on calls. Ringing counts as occupied: the agent is reserved for that call and can
  take no other (the routing does not offer a ringing agent a second call), which is how Erlang's occupancy (traffic
  over staffed agents) sees it too, since the ring is part of the service time the queue waits for. Available time
  is the rest of the denominator. None when the agent was never ready (nothing to divide by).
- **pause by reason**: paused time per reason ("" when the pause gave none); the wrap-up the queue applies as a
  pause is wrap-up, not a pause (the tracker reports it as the wrap-up state).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final

__all__ = ["AgentFigures", "SpellFact", "agent_figures", "occupancy_pct"]

AVAILABLE: Final = "available"
RINGING: Final = "ringing"
TALKING: Final = "talking"
WRAP_UP: Final = "wrap-up"
PAUSED: Final = "paused"
OFFLINE: Final = "offline"
OCCUPIED_STATES: Final = (RINGING, TALKING, WRAP_UP)


@dataclass(frozen=True, slots=True, kw_only=True)
class SpellFact:
    agent: str
    user_id: int | None
    state: str
    reason: str | None
    started_s: float
    ended_s: float | None  # None: still going on


@dataclass(slots=True, kw_only=True)
class AgentFigures:
    agent: str
    user_id: int | None
    logged_in_s: float = 0.0
    available_s: float = 0.0
    ringing_s: float = 0.0
    talking_s: float = 0.0
    wrapup_s: float = 0.0
    paused_s: float = 0.0
    pause_by_reason_s: dict[str, float] = field(default_factory=dict)
    occupancy_pct: float | None = None


def occupancy_pct(*, ringing_s: float, talking_s: float, wrapup_s: float, logged_in_s: float, paused_s: float) -> float | None:
    ready_s = logged_in_s - paused_s
    if ready_s <= 0:
        return None
    return round(100.0 * (ringing_s + talking_s + wrapup_s) / ready_s, 1)


def agent_figures(spells: Iterable[SpellFact], *, from_s: float, to_s: float, now_s: float) -> list[AgentFigures]:
    """Figures per agent over [from_s, to_s), sorted by agent; nothing is counted after ``now_s``."""
    end_s = min(to_s, now_s)
    out: dict[str, AgentFigures] = {}
    for spell in spells:
        if spell.state == OFFLINE:
            continue
        start = max(spell.started_s, from_s)
        stop = min(spell.ended_s if spell.ended_s is not None else now_s, end_s)
        row = out.setdefault(spell.agent, AgentFigures(agent=spell.agent, user_id=spell.user_id))
        row.user_id = row.user_id if row.user_id is not None else spell.user_id
        if stop <= start:
            continue
        length = stop - start
        row.logged_in_s += length
        if spell.state == AVAILABLE:
            row.available_s += length
        elif spell.state == RINGING:
            row.ringing_s += length
        elif spell.state == TALKING:
            row.talking_s += length
        elif spell.state == WRAP_UP:
            row.wrapup_s += length
        elif spell.state == PAUSED:
            row.paused_s += length
            reason = spell.reason or ""
            row.pause_by_reason_s[reason] = row.pause_by_reason_s.get(reason, 0.0) + length
    for row in out.values():
        for name in ("logged_in_s", "available_s", "ringing_s", "talking_s", "wrapup_s", "paused_s"):
            setattr(row, name, round(getattr(row, name), 3))
        row.pause_by_reason_s = {k: round(v, 3) for k, v in sorted(row.pause_by_reason_s.items())}
        row.occupancy_pct = occupancy_pct(ringing_s=row.ringing_s, talking_s=row.talking_s, wrapup_s=row.wrapup_s,
                                          logged_in_s=row.logged_in_s, paused_s=row.paused_s)
    return [out[agent] for agent in sorted(out)]
