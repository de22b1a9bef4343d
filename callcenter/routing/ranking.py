"""Order agents by a team strategy. Pure; the inputs are AgentView snapshots, nothing is read or written.

Every order ends with the agent id, so that equal agents are always ranked the same way (reproducible decisions,
reproducible simulations).

Our own strategies (least-loaded, skills) try an agent whose last offer rang out only after the agents who did not
let one ring out: an unanswered ring most often means "away from the desk without pausing", and the least-loaded
agent is exactly the one who has been away. bench/routing_sim.py measures what that saves. The Asterisk-equivalent
strategies (longest-idle, fewest-calls, round-robin, ring-all) keep Asterisk's rule unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final

from callcenter.events import AgentState
from callcenter.routing.rules import Strategy

__all__ = ["AgentView", "has_skills", "load_s", "rank", "skill_score"]

_EMPTY: Final[Mapping[str, int]] = MappingProxyType({})


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentView:
    """What the policy knows about one agent: directory facts plus the live state store's figures."""

    agent: str  # the agent id = desk phone endpoint (1002)
    team: str | None = None
    state: AgentState = AgentState.OFFLINE
    since_s: float | None = None  # when the current state began
    reason: str | None = None  # pause reason
    reserved_by: str | None = None  # call id holding an unexpired reservation on this agent
    busy_s: float = 0.0  # talk + wrap-up inside the load window
    calls: int = 0  # answered calls inside the load window
    last_busy_end_s: float | None = None  # end of the last talk or wrap-up
    open_callbacks: int = 0
    no_answer_streak: int = 0  # consecutive no-answers, including the one the current request reports
    skills: Mapping[str, int] = field(default_factory=dict)
    user_id: int | None = None
    name: str | None = None

    @property
    def idle_since_s(self) -> float:
        """Since when the agent has had no call: the end of the last one, else the start of the current state."""
        if self.last_busy_end_s is not None:
            return self.last_busy_end_s
        return self.since_s if self.since_s is not None else 0.0

    @property
    def label(self) -> str:
        return f"{self.name} ({self.agent})" if self.name else self.agent


def load_s(view: AgentView, *, callback_weight_s: float) -> float:
    return view.busy_s + view.open_callbacks * callback_weight_s


def has_skills(view: AgentView, required: Mapping[str, int]) -> bool:
    return all(view.skills.get(skill, 0) >= level for skill, level in required.items())


def skill_score(view: AgentView, required: Mapping[str, int]) -> int:
    if not required:
        return sum(view.skills.values())
    return sum(view.skills.get(skill, 0) for skill in required)


def rank(
    views: Iterable[AgentView],
    *,
    strategy: Strategy,
    callback_weight_s: float,
    required_skills: Mapping[str, int] = _EMPTY,
    rr_cursor: str | None = None,
    rr_order: Sequence[str] = (),
) -> list[AgentView]:
    """``views`` ordered best first by ``strategy``. ``rr_order`` is the team's member order for round-robin and
    ``rr_cursor`` the agent offered last; agents missing from the order come after it."""
    w = callback_weight_s
    if strategy is Strategy.ROUND_ROBIN:
        position = {agent: i for i, agent in enumerate(rr_order)}
        n = len(rr_order) or 1
        start = position[rr_cursor] + 1 if rr_cursor in position else 0

        def rr_key(v: AgentView) -> tuple[int, str]:
            p = position.get(v.agent)
            return ((p - start) % n if p is not None else n, v.agent)

        return sorted(views, key=rr_key)
    if strategy is Strategy.LONGEST_IDLE:
        return sorted(views, key=lambda v: (v.idle_since_s, v.agent))
    if strategy is Strategy.FEWEST_CALLS:
        return sorted(views, key=lambda v: (v.calls, v.idle_since_s, v.agent))
    if strategy is Strategy.SKILLS:
        return sorted(
            views,
            key=lambda v: (
                v.no_answer_streak > 0, -skill_score(v, required_skills), load_s(v, callback_weight_s=w),
                v.idle_since_s, v.agent,
            ),
        )
    if strategy is Strategy.RING_ALL:  # the order only matters for the explanation
        return sorted(views, key=lambda v: (load_s(v, callback_weight_s=w), v.idle_since_s, v.agent))
    return sorted(views, key=lambda v: (v.no_answer_streak > 0, load_s(v, callback_weight_s=w), v.idle_since_s, v.agent))
