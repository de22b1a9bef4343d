"""Where an inbound call goes: the pure routing policy. No I/O, no awaits, no clock: ``now_s`` is passed in.

``plan_route`` turns what we know (the call, its CRM facts, the team's rules, every relevant agent's live state)
into a ``Plan``: tiers of candidate agents in preference order, the decision to take when none of them can be
reserved, and side effects (auto-pause) for the service to execute. The service reserves the first candidate it can
(atomically, in the state store) and asks the plan for the final ``Decision``; the split exists because another
call may reserve our favourite between the snapshot and the reservation.

Order of rules:
  1. consecutive no-answers -> auto-pause instruction (whatever else happens)
  2. closed (working hours / holiday) -> after-hours action              reason "after-hours" | "holiday"
  3. attempt beyond the team's maximum -> queue                          reason "max-attempts->queue"
  4. known caller with owner routing on: the owner, else the last agent  reason "owner" | "last-agent"
     who cannot take it (offline, paused, busy, wrap-up, no answer) -> the configured fallback:
     teammates then the team, the team, the queue or voicemail        reason "owner-busy->teammate", ...
  5. the team's strategy among free agents with the required skills     reason "least-loaded", "skills", ...
  6. nobody -> the team queue (VIPs: VIP queue / higher priority)       reason "no-agent->queue", ...

An agent is free when AVAILABLE, not reserved for another call, not offered this call before (any attempt, by us
or by a queue) and not being auto-paused now. Reason codes are stable ids (stored with the call, shown on the
wallboard); the explanation is the sentence a supervisor reads.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from callcenter.ami.channel_vars import CcAction
from callcenter.events import AgentState
from callcenter.routing.hours import HoursStatus
from callcenter.routing.ranking import AgentView, has_skills, load_s, rank, skill_score
from callcenter.routing.rules import AfterHours, OwnerFallback, Strategy, TeamPolicy

__all__ = ["AgentView", "AutoPause", "CallFacts", "CallerFacts", "Decision", "Plan", "Tier", "plan_route"]

_UNREACHABLE: Final = frozenset({"CHANUNAVAIL", "CONGESTION"})
_STATE_CAUSE: Final = {
    AgentState.OFFLINE: "offline",
    AgentState.PAUSED: "paused",
    AgentState.RINGING: "busy",
    AgentState.TALKING: "busy",
    AgentState.WRAP_UP: "wrapup",
}
_CAUSE_TEXT: Final = {
    "offline": "is offline",
    "paused": "is paused",
    "busy": "is busy",
    "wrapup": "is in wrap-up",
    "noanswer": "did not take this call",
    "unreachable": "could not be reached",
}
_ALTERNATIVES: Final = 3


@dataclass(frozen=True, slots=True, kw_only=True)
class CallerFacts:
    """The CRM's answer for the calling number, with users already mapped to agent ids by the service."""

    entity: str  # contact | company | lead | deal
    record_id: int
    owner_user_id: int | None = None
    owner_agent: str | None = None  # None: the record has no owner, or the owner has no extension
    last_agent: str | None = None
    last_talked_s: float | None = None
    vip: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class CallFacts:
    call_id: str  # Linkedid
    did: str
    caller: str | None = None
    attempt: int = 1
    last_dial_status: str | None = None  # DIALSTATUS of the previous attempt
    offers: Mapping[str, int] = field(default_factory=dict)  # agents already offered this call -> attempt (0: rung by a queue)
    required_skills: Mapping[str, int] = field(default_factory=dict)
    crm: CallerFacts | None = None
    crm_note: str | None = None  # why the CRM facts are missing (e.g. the lookup was too slow)


@dataclass(frozen=True, slots=True)
class AutoPause:
    """Side effect: pause ``agent`` in every queue with ``reason`` (the service executes it)."""

    agent: str
    reason: str
    no_answers: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Decision:
    """One routing answer, as stored with the call and shown in the API and on the wallboard."""

    call_id: str
    attempt: int
    did: str
    caller: str | None
    team: str
    action: CcAction
    reason: str
    explanation: str
    targets: tuple[str, ...] = ()  # agent ids
    ring_timeout_s: int | None = None
    queue: str | None = None  # queue action: the queue; dial action: the overflow queue after the last attempt
    queue_timeout_s: int | None = None
    queue_priority: int = 0
    mailbox: str | None = None
    alternatives: tuple[str, ...] = ()  # who would have come next, in order
    side_effects: tuple[AutoPause, ...] = ()
    decided_at_s: float = 0.0
    caller_name: str | None = None  # CALLERID(name) for the agent's display (routing.caller_name), None on a miss

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["action"] = self.action.value
        out["targets"] = list(self.targets)
        out["alternatives"] = list(self.alternatives)
        out["side_effects"] = [dataclasses.asdict(s) for s in self.side_effects]
        return out


@dataclass(frozen=True, slots=True)
class Tier:
    """Candidates that share a reason, best first. ``ring_all``: offer every reservable one at once."""

    reason: str
    ring_timeout_s: int
    agents: tuple[str, ...]
    lead: str  # first half of the explanation: why this tier
    strategy: Strategy | None = None  # None: the owner / last-agent tier
    ring_all: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    call: CallFacts
    team: TeamPolicy
    tiers: tuple[Tier, ...]
    fallback: Decision  # when no candidate can be reserved
    side_effects: tuple[AutoPause, ...]
    overflow_queue: str
    queue_priority: int
    now_s: float
    views: Mapping[str, AgentView] = field(repr=False, compare=False)

    @property
    def candidates(self) -> tuple[str, ...]:
        return tuple(a for tier in self.tiers for a in tier.agents)

    def decide(self, reserved: Sequence[str], *, tier: int) -> Decision:
        """The decision once ``reserved`` (non-empty, in candidate order) of tier ``tier`` are held for the call."""
        t = self.tiers[tier]
        first = reserved[0]
        flat = self.candidates
        position = flat.index(first)
        text = t.lead + self._describe(t, first, reserved)
        # Earlier candidates were free in the snapshot but could not be reserved: another call got them first.
        # An owner tier's loss is already told by this tier's lead.
        owner_agents = self.tiers[0].agents if self.tiers[0].strategy is None else ()
        passed = [a for a in flat[:position] if a not in owner_agents]
        if passed:
            text += f" ({', '.join(passed)} taken by simultaneous calls)"
        later = () if t.ring_all else tuple(a for a in flat[position + 1 :] if a not in reserved)[:_ALTERNATIVES]
        return Decision(
            call_id=self.call.call_id,
            attempt=self.call.attempt,
            did=self.call.did,
            caller=self.call.caller,
            team=self.team.name,
            action=CcAction.DIAL,
            reason=t.reason,
            explanation=text,
            targets=tuple(reserved),
            ring_timeout_s=t.ring_timeout_s,
            queue=self.overflow_queue,
            queue_timeout_s=self.team.queue_timeout_s,
            queue_priority=self.queue_priority,
            mailbox=self.team.mailbox,
            alternatives=later,
            side_effects=self.side_effects,
            decided_at_s=self.now_s,
        )

    def decide_unreserved(self) -> Decision:
        """No candidate could be reserved (all taken by simultaneous calls) or there were none."""
        if not self.tiers:
            return self.fallback
        lost = ", ".join(self.candidates)
        return dataclasses.replace(
            self.fallback, explanation=f"{self.fallback.explanation} Candidates {lost} were taken by simultaneous calls."
        )

    def _describe(self, tier: Tier, agent: str, reserved: Sequence[str]) -> str:
        v = self.views[agent]
        team = self.team
        if tier.ring_all:
            return f"ringing all {len(reserved)} free agents ({', '.join(reserved)}) for {tier.ring_timeout_s} s."
        if tier.strategy is None:
            return f"{v.label} is available; ringing for {tier.ring_timeout_s} s."
        idle = _idle(v, self.now_s)
        s = tier.strategy
        if s is Strategy.LEAST_LOADED:
            load = f"{v.busy_s / 60:.1f} min talk+wrap-up"
            if v.open_callbacks:
                load += f" + {v.open_callbacks} open callback(s) x {team.callback_weight_s / 60:.0f} min"
            why = f"{v.label} is least loaded ({load}), {idle}"
        elif s is Strategy.LONGEST_IDLE:
            why = f"{v.label} has been idle longest ({idle})"
        elif s is Strategy.FEWEST_CALLS:
            why = f"{v.label} has taken the fewest calls ({v.calls}), {idle}"
        elif s is Strategy.ROUND_ROBIN:
            why = f"{v.label} is next in turn"
        else:
            need = ", ".join(f"{k}>={lvl}" for k, lvl in sorted(self.call.required_skills.items())) or "any"
            why = (
                f"{v.label} is the best skill match (score {skill_score(v, self.call.required_skills)} for {need}),"
                f" load {load_s(v, callback_weight_s=team.callback_weight_s) / 60:.1f} min"
            )
        if v.no_answer_streak:
            why += f" ({v.no_answer_streak} unanswered offer(s) in a row)"
        return f"{why}; ringing for {tier.ring_timeout_s} s."


def _idle(v: AgentView, now_s: float) -> str:
    """How long the agent has been without a call, in words; an agent with no call yet has no idle time to show
    (ranking still puts them first: see ranking.idle_since_s)."""
    if v.last_busy_end_s is not None:
        return f"idle {_duration(now_s - v.last_busy_end_s)}"
    if v.since_s is None:
        return "no call yet"
    return f"no call yet, {v.state.value} for {_duration(now_s - v.since_s)}"


def _duration(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _state_summary(views: Sequence[AgentView], call: CallFacts) -> str:
    counts: dict[str, int] = {}
    for v in views:
        key = "already offered" if v.agent in call.offers else (
            "reserved" if v.state is AgentState.AVAILABLE and v.reserved_by else str(v.state)
        )
        counts[key] = counts.get(key, 0) + 1
    return ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "no agents"


def _owner_cause(v: AgentView | None, call: CallFacts) -> str | None:
    """Why the owner cannot be offered this call, or None when they can."""
    if v is None:
        return "offline"  # never seen by the state store: not logged in
    offered_at = call.offers.get(v.agent)
    if offered_at is not None:
        if offered_at == call.attempt - 1 and call.last_dial_status == "BUSY":
            return "busy"
        if offered_at == call.attempt - 1 and call.last_dial_status in _UNREACHABLE:
            return "unreachable"
        return "noanswer"
    cause = _STATE_CAUSE.get(v.state)
    if cause is not None:
        return cause
    if v.reserved_by is not None and v.reserved_by != call.call_id:
        return "busy"
    return None


def plan_route(
    *,
    call: CallFacts,
    team: TeamPolicy,
    agents: Mapping[str, AgentView],
    now_s: float,
    rr_cursor: str | None = None,
) -> Plan:
    """The routing plan for one FastAGI request. ``agents``: every agent of the DID's team, of the owner's team and
    the owner / last agent themselves, by agent id."""
    side_effects, pausing = _auto_pauses(call, team, agents)
    vip = call.caller in team.vip_numbers or (call.crm is not None and call.crm.vip)
    queue = team.vip_queue if vip and team.vip_queue else team.queue
    priority = team.vip_queue_priority if vip else 0
    builder = _Builder(call=call, team=team, now_s=now_s, queue_name=queue, priority=priority, side_effects=side_effects)

    def plan(tiers: list[Tier], fallback: Decision) -> Plan:
        return Plan(
            call=call,
            team=team,
            tiers=tuple(t for t in tiers if t.agents),
            fallback=fallback,
            side_effects=side_effects,
            overflow_queue=queue,
            queue_priority=priority,
            now_s=now_s,
            views=agents,
        )

    hours = team.hours.status(now_s)
    if not hours.open:
        return plan([], builder.after_hours(hours))
    if call.attempt > team.max_attempts:
        return plan([], builder.queue("max-attempts->queue", f"Attempt {call.attempt} is past team {team.name}'s "
                                      f"maximum of {team.max_attempts}; queued in {queue}."))

    def free(v: AgentView) -> bool:
        return (
            v.state is AgentState.AVAILABLE
            and (v.reserved_by is None or v.reserved_by == call.call_id)
            and v.agent not in call.offers
            and v.agent not in pausing
        )

    def ranked(team_name: str | None, *, exclude: set[str], skills: bool = True) -> list[AgentView]:
        pool = [
            v for v in agents.values()
            if v.team == team_name and v.agent not in exclude and free(v)
            and (not skills or has_skills(v, call.required_skills))
        ]
        order = sorted(v.agent for v in agents.values() if v.team == team_name)
        return rank(
            pool,
            strategy=team.strategy,
            callback_weight_s=team.callback_weight_s,
            required_skills=call.required_skills,
            rr_cursor=rr_cursor if team_name == team.name else None,
            rr_order=order,
        )

    tiers: list[Tier] = []
    crm = call.crm
    who_desc = f"{crm.entity} {crm.record_id}" if crm else ""
    target: str | None = None
    who = ""
    if crm is not None and team.owner.enabled:
        if crm.owner_agent:
            target, who = crm.owner_agent, "owner"
        elif (
            team.owner.use_last_agent
            and crm.last_agent
            and crm.last_talked_s is not None
            and crm.last_talked_s >= now_s - team.owner.last_agent_window_s
        ):
            target, who = crm.last_agent, "last-agent"

    strategy_reason = team.strategy.value
    prefix = ""
    lead = ""
    fallback_kind = OwnerFallback.TEAM
    if target is not None:
        view = agents.get(target)
        label = view.label if view else target
        cause = _owner_cause(view, call)
        person = "Owner" if who == "owner" else "Last agent"
        if cause is None:
            tiers.append(
                Tier(who, team.owner.ring_timeout_s, (target,), f"Known caller ({who_desc}): {person.lower()} ", None)
            )
            cause = "busy"  # what it means if the reservation is lost to a simultaneous call
            lead_cause = f"{person} {label} was taken by a simultaneous call"
        else:
            lead_cause = f"{person} {label} {_CAUSE_TEXT[cause]}"
        prefix = f"{who}-{cause}"
        fallback_kind = team.owner.fallback_for(cause)
        lead = f"Known caller ({who_desc}); {lead_cause}; "
        if fallback_kind is OwnerFallback.TEAMMATE:
            owner_team = view.team if view else None
            mates = ranked(owner_team, exclude={target}) if owner_team else []
            tiers.append(_team_tier(team, mates, f"{prefix}->teammate", lead + "teammate "))
    elif crm is not None:
        why = "owner routing is off for this team" if not team.owner.enabled else (
            "the owner has no extension" if crm.owner_user_id is not None else "the record has no owner"
        )
        lead = f"Known caller ({who_desc}) but {why}; "
    elif call.crm_note:
        lead = f"{call.crm_note}; "

    if fallback_kind in (OwnerFallback.QUEUE, OwnerFallback.VOICEMAIL):
        reason = f"{prefix}->{fallback_kind.value}"
        if fallback_kind is OwnerFallback.VOICEMAIL and team.mailbox:
            return plan(tiers, builder.voicemail(reason, f"{lead}voicemail {team.mailbox}."))
        return plan(tiers, builder.queue(f"{prefix}->queue", f"{lead}queued in {queue}."))

    listed = {a for t in tiers for a in t.agents}
    team_views = ranked(team.name, exclude=listed)
    reason = f"{prefix}->{strategy_reason}" if prefix else strategy_reason
    tiers.append(_team_tier(team, team_views, reason, lead))

    members = [v for v in agents.values() if v.team == team.name]
    if any(t.agents for t in tiers):
        fallback_reason = "no-agent->queue"
        fallback_text = f"{lead}no free agent left in team {team.name}; queued in {queue}."
    elif call.required_skills and any(free(v) for v in members):
        need = ", ".join(f"{k}>={lvl}" for k, lvl in sorted(call.required_skills.items()))
        fallback_reason = "no-skilled-agent->queue"
        fallback_text = f"{lead}no free agent of team {team.name} has {need}; queued in {queue}."
    else:
        fallback_reason = "no-agent->queue"
        fallback_text = f"{lead}no free agent in team {team.name} ({_state_summary(members, call)}); queued in {queue}."
    return plan(tiers, builder.queue(fallback_reason, fallback_text))


def _team_tier(team: TeamPolicy, ranked_views: list[AgentView], reason: str, lead: str) -> Tier:
    agents = tuple(v.agent for v in ranked_views)
    lead = lead[:1].upper() + lead[1:] if lead else ""
    return Tier(
        reason,
        team.ring_timeout_s,
        agents,
        lead,
        team.strategy,
        ring_all=team.strategy is Strategy.RING_ALL,
    )


def _auto_pauses(
    call: CallFacts, team: TeamPolicy, agents: Mapping[str, AgentView]
) -> tuple[tuple[AutoPause, ...], frozenset[str]]:
    """Agents of the previous attempt who let it ring out once too often in a row."""
    limit = team.no_answer_pause_after
    if limit <= 0 or call.last_dial_status != "NOANSWER" or call.attempt < 2:
        return (), frozenset()
    pauses = []
    for agent, attempt in call.offers.items():
        v = agents.get(agent)
        if (
            attempt == call.attempt - 1
            and v is not None
            and v.no_answer_streak >= limit
            and v.state not in (AgentState.PAUSED, AgentState.OFFLINE)
        ):
            pauses.append(AutoPause(agent, team.no_answer_pause_reason, v.no_answer_streak))
    pauses.sort(key=lambda p: p.agent)
    return tuple(pauses), frozenset(p.agent for p in pauses)


@dataclass(frozen=True, slots=True, kw_only=True)
class _Builder:
    """Decisions that need no reservation."""

    call: CallFacts
    team: TeamPolicy
    now_s: float
    queue_name: str
    priority: int
    side_effects: tuple[AutoPause, ...]

    def _base(self, action: CcAction, reason: str, explanation: str, **extra: Any) -> Decision:
        if self.priority:
            explanation += f" VIP caller: queue priority {self.priority}."
        return Decision(
            call_id=self.call.call_id,
            attempt=self.call.attempt,
            did=self.call.did,
            caller=self.call.caller,
            team=self.team.name,
            action=action,
            reason=reason,
            explanation=explanation,
            queue_priority=self.priority,
            side_effects=self.side_effects,
            decided_at_s=self.now_s,
            **extra,
        )

    def queue(self, reason: str, explanation: str) -> Decision:
        return self._base(
            CcAction.QUEUE,
            reason,
            explanation,
            queue=self.queue_name,
            queue_timeout_s=self.team.queue_timeout_s,
            mailbox=self.team.mailbox,
        )

    def voicemail(self, reason: str, explanation: str) -> Decision:
        return self._base(CcAction.VOICEMAIL, reason, explanation, mailbox=self.team.mailbox)

    def after_hours(self, hours: HoursStatus) -> Decision:
        team = self.team
        when = f"{hours.local:%a %Y-%m-%d %H:%M} {team.hours.timezone}"
        if hours.holiday is not None:
            reason, why = "holiday", f"Team {team.name} is closed for {hours.holiday} ({when})"
        else:
            reason, why = "after-hours", f"Team {team.name} is closed at {when}"
        kind = team.after_hours
        if kind is AfterHours.VOICEMAIL:
            return self._base(CcAction.VOICEMAIL, reason, f"{why}; voicemail {team.mailbox}.", mailbox=team.mailbox)
        if kind is AfterHours.QUEUE:
            return self._base(
                CcAction.QUEUE, reason, f"{why}; queued in {self.queue_name}.", queue=self.queue_name,
                queue_timeout_s=team.queue_timeout_s, mailbox=team.mailbox,
            )
        if kind is AfterHours.HANGUP:
            return self._base(CcAction.HANGUP, reason, f"{why}; closed message and hang up.")
        tail = f", else voicemail {team.mailbox}" if team.mailbox else ""
        return self._base(CcAction.CALLBACK, reason, f"{why}; callback offered{tail}.", mailbox=team.mailbox)
