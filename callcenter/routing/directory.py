"""Who the agents are: CRM user id <-> agent id (desk extension), team, skills, dial string.

The composition root builds a ``StaticDirectory`` from the users table (users with an extension) and replaces it
when users change; routing reads it synchronously on every request, so it must be in memory.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

__all__ = ["AgentDirectory", "AgentInfo", "StaticDirectory"]


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentInfo:
    agent: str  # agent id = the endpoint in channel names and domain events (1002)
    team: str | None = None
    user_id: int | None = None
    name: str | None = None
    skills: Mapping[str, int] = field(default_factory=dict)
    dial_string: str = ""  # Dial() target; empty: PJSIP/<agent>

    @property
    def target(self) -> str:
        return self.dial_string or f"PJSIP/{self.agent}"


class AgentDirectory(Protocol):
    def agent(self, agent: str) -> AgentInfo | None: ...

    def agent_of_user(self, user_id: int) -> AgentInfo | None: ...

    def team_agents(self, team: str) -> tuple[AgentInfo, ...]: ...


class StaticDirectory:
    def __init__(self, agents: Iterable[AgentInfo] = ()) -> None:
        self.replace(agents)

    def replace(self, agents: Iterable[AgentInfo]) -> None:
        """Swap the whole directory at once, so a request never sees half an update."""
        by_agent = {a.agent: a for a in agents}
        by_user = {a.user_id: a for a in by_agent.values() if a.user_id is not None}
        teams: dict[str, list[AgentInfo]] = {}
        for info in by_agent.values():
            if info.team is not None:
                teams.setdefault(info.team, []).append(info)
        self._state = (by_agent, by_user, {t: tuple(sorted(v, key=lambda a: a.agent)) for t, v in teams.items()})

    def agent(self, agent: str) -> AgentInfo | None:
        return self._state[0].get(agent)

    def agent_of_user(self, user_id: int) -> AgentInfo | None:
        return self._state[1].get(user_id)

    def team_agents(self, team: str) -> tuple[AgentInfo, ...]:
        return self._state[2].get(team, ())

    def all_agents(self) -> tuple[AgentInfo, ...]:
        return tuple(sorted(self._state[0].values(), key=lambda a: a.agent))
