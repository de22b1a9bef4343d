"""Agent controls and routing decisions: who is where, pause / unpause, queue log in / out, end wrap-up.

Controls go to Asterisk as queue-member actions (QueuePause, QueueAdd, QueueRemove), so app_queue and our routing
agree; the live model follows Asterisk's QueueMember* events rather than trusting the request. An agent may act on
their own phone, a supervisor on their team's agents, an admin on anyone. A campaign manager sees its team's agents
(who can take its campaigns' calls) but controls none and reads no routing decisions: that is the floor's.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, field_validator
from sqlalchemy import select

from callcenter.ami.actions import AmiError, AmiNotConnected
from callcenter.api.framework import Api, Call, ServiceUnavailable
from callcenter.calls.agents import WRAPUP_PAUSE_REASON
from callcenter.app_keys import LIVE, ROUTING
from crm_core.errors import Forbidden, Invalid, NotFound
from crm_core.models import Role, User
from crm_core.schemas import In

api = Api()
V1 = "/api/v1"


class AgentOut(BaseModel):
    agent: str
    name: str | None
    team: str | None
    user_id: int | None
    state: str
    reason: str | None


class PauseIn(In):
    reason: str = Field(default="", max_length=80, pattern=r"^[^\r\n]*$")

    @field_validator("reason")
    @classmethod
    def _not_wrapup(cls, value: str) -> str:
        # The wrap-up pacer's own reason: a pause with it would be taken for wrap-up and lifted when that ends.
        if value.strip().lower() == WRAPUP_PAUSE_REASON:
            raise ValueError(f"'{WRAPUP_PAUSE_REASON}' is reserved for the service's wrap-up pacing")
        return value


class QueuesIn(In):
    teams: list[str] | None = Field(default=None, max_length=50)  # none: the agent's own team


class ControlOut(BaseModel):
    agent: str
    done: str


class DecisionOut(BaseModel):
    call_id: str
    attempt: int
    did: str
    caller: str | None
    team: str
    action: str
    reason: str
    explanation: str
    targets: list[str]
    ring_timeout_s: int | None
    queue: str | None
    alternatives: list[str]
    decided_at_s: float


def _runtime(call: Call) -> Any:
    return call.request.app[ROUTING], call.request.app[LIVE]


async def _may_control(call: Call, agent: str) -> Any:
    """The directory entry of ``agent`` if the caller may act on it."""
    routing, _ = _runtime(call)
    info = routing.directory.agent(agent)
    if info is None:
        raise NotFound(f"agent {agent} is not a user with that extension", field="agent")
    principal = call.principal
    if principal.role is Role.ADMIN:
        return info
    if principal.role is Role.CAMPAIGN_MANAGER:
        raise Forbidden("campaign managers do not control agents: their supervisor or an admin does")
    if principal.role is Role.AGENT:
        if info.user_id != principal.user_id:
            raise Forbidden("agents control only their own phone")
        return info
    team_id = await call.session.scalar(select(User.team_id).where(User.id == info.user_id))
    if team_id is None or team_id != principal.team_id:
        raise Forbidden("supervisors control the agents of their own team")
    return info


async def _send(control: Any, what: Any) -> Any:
    if control is None:
        raise ServiceUnavailable("no Asterisk is configured (ami.host)")
    try:
        return await what(control)
    except AmiNotConnected as exc:
        raise ServiceUnavailable(f"telephony is not connected: {exc}") from None
    except AmiError as exc:
        raise ServiceUnavailable(f"Asterisk refused: {exc}") from None


def _queues(routing: Any, info: Any, teams: list[str] | None) -> list[str]:
    names = teams or ([info.team] if info.team else [])
    if not names:
        raise Invalid(f"agent {info.agent} has no team; name the teams", field="teams")
    unknown = [t for t in names if t not in routing.service.rules.teams]
    if unknown:
        raise Invalid(f"unknown team(s): {', '.join(unknown)}", field="teams")
    return sorted({routing.service.rules.teams[t].queue for t in names})


@api.route("GET", V1 + "/agents", summary="Agents with their live state", response=AgentOut, many=True, tag="telephony")
async def list_agents(call: Call) -> Any:
    routing, live = _runtime(call)
    principal = call.principal
    team_users: set[int] | None = None
    if principal.team_scoped:
        team_users = set(await call.session.scalars(select(User.id).where(User.team_id == principal.team_id)))
    out = []
    for info in routing.directory.all_agents():
        if team_users is not None and info.user_id not in team_users:
            continue
        if principal.role is Role.AGENT and info.user_id != principal.user_id:
            continue
        state, reason = live.agent_state(info.agent)
        out.append(AgentOut(agent=info.agent, name=info.name, team=info.team, user_id=info.user_id,
                            state=state.value, reason=reason))
    return out


@api.route("POST", V1 + "/agents/{agent}/pause", summary="Pause an agent in all their queues", body=PauseIn, response=ControlOut, tag="telephony")
async def pause_agent(call: Call) -> Any:
    info = await _may_control(call, call.request.match_info["agent"])
    routing, live = _runtime(call)
    # In no queue, Asterisk has nothing to pause ("Interface not found"): the live model holds the pause and routing
    # reads it, so the agent is not dialled directly either (README: Pausing).
    queued = await _send(routing.agent_control(), lambda c: live.pause(info.agent, call.body.reason, control=c,
                                                                       interface=info.target))
    return ControlOut(agent=info.agent, done="pause requested" if queued else
                      "paused for the service's own routing only: the agent is in no queue")


@api.route("POST", V1 + "/agents/{agent}/unpause", summary="Unpause an agent in all their queues", response=ControlOut, tag="telephony")
async def unpause_agent(call: Call) -> Any:
    info = await _may_control(call, call.request.match_info["agent"])
    routing, live = _runtime(call)
    queued = await _send(routing.agent_control(), lambda c: live.unpause(info.agent, control=c, interface=info.target))
    return ControlOut(agent=info.agent, done="unpause requested" if queued else "unpaused")


@api.route("POST", V1 + "/agents/{agent}/login", summary="Log an agent into their team's queues", body=QueuesIn, response=ControlOut, tag="telephony")
async def login_agent(call: Call) -> Any:
    info = await _may_control(call, call.request.match_info["agent"])
    routing, live = _runtime(call)
    teams = call.body.teams
    if teams and not call.principal.is_admin and set(teams) != {info.team}:
        # Another team's queue is that team's supervisors' to staff (or an admin's): an agent or a supervisor may
        # put an agent only in the agent's own team's queue.
        raise Forbidden(f"only an admin may log agent {info.agent} into another team's queue", field="teams")
    queues = _queues(routing, info, teams)
    # A name stored before names were checked may hold a line break, which AMI refuses: one line, always.
    member_name = " ".join((info.name or info.agent).split())
    await _send(routing.agent_control(), lambda c: c.log_in(info.target, queues, member_name=member_name))
    own = live.tracker.agents.agents.get(info.agent)
    if own is not None and own.own_pause is not None:
        # Paused while in no queue: the queues get the same pause, so app_queue does not ring them either.
        await _send(routing.agent_control(), lambda c: c.pause(info.target, own.own_pause))
    return ControlOut(agent=info.agent, done="login requested: " + ",".join(queues))


@api.route("POST", V1 + "/agents/{agent}/logout", summary="Log an agent out of their team's queues", body=QueuesIn, response=ControlOut, tag="telephony")
async def logout_agent(call: Call) -> Any:
    info = await _may_control(call, call.request.match_info["agent"])
    routing, _ = _runtime(call)
    queues = _queues(routing, info, call.body.teams)
    await _send(routing.agent_control(), lambda c: c.log_out(info.target, queues))
    return ControlOut(agent=info.agent, done="logout requested: " + ",".join(queues))


@api.route("POST", V1 + "/agents/{agent}/wrapup-end", summary="End an agent's wrap-up now", response=ControlOut, tag="telephony")
async def end_wrapup(call: Call) -> Any:
    info = await _may_control(call, call.request.match_info["agent"])
    _, live = _runtime(call)
    if not await live.end_wrapup(info.agent):
        raise Invalid(f"agent {info.agent} is not in wrap-up", field="agent")
    return ControlOut(agent=info.agent, done="wrap-up ended")


@api.route("GET", V1 + "/routing/decisions", summary="Recent routing decisions (or one call's), newest first", response=DecisionOut, many=True, query=("call_id", "limit"), query_schemas={"limit": {"type": "integer", "minimum": 1, "maximum": 1000}}, tag="telephony")
async def routing_decisions(call: Call) -> Any:
    if call.principal.role in (Role.AGENT, Role.CAMPAIGN_MANAGER):
        raise Forbidden("routing decisions are for supervisors and admins")
    routing, _ = _runtime(call)
    call_id = call.query_str("call_id", max_length=64)
    if call_id:
        decisions = list(reversed(routing.service.decisions.for_call(call_id)))
    else:
        decisions = routing.service.decisions.recent(call.query_int("limit", default=100, low=1, high=1000) or 100)
    return [DecisionOut(**{**d.to_dict(), "action": d.action.value}) for d in decisions]
