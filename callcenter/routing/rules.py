"""Routing configuration per team and per DID: plain frozen data, validated when built.

Validation happens at construction so a bad setting stops the service at start-up with the key named, instead of
turning into a fail-open answer on the first call.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

from callcenter.ami.agi import RouteDecision
from callcenter.routing.hours import WorkingHours

__all__ = [
    "AfterHours",
    "DidRoute",
    "OwnerFallback",
    "OwnerRouting",
    "RoutingRules",
    "Strategy",
    "TeamPolicy",
]

DAY_S: Final = 86_400.0


class Strategy(StrEnum):
    """How a team picks among its available agents. The value is also the reason code of such a decision."""

    # talk + wrap-up in the load window + weighted open callbacks; ties: longest idle; an agent whose last offer
    # rang out comes after the others (see ranking.py)
    LEAST_LOADED = "least-loaded"
    LONGEST_IDLE = "longest-idle"  # longest since the last call ended (Asterisk leastrecent)
    ROUND_ROBIN = "round-robin"  # next after the last agent offered (Asterisk rrmemory)
    FEWEST_CALLS = "fewest-calls"  # fewest answered calls in the load window (Asterisk fewestcalls)
    SKILLS = "skills"  # highest proficiency on the call's required skills; ties: least loaded
    RING_ALL = "ring-all"  # every available agent at once (Asterisk ringall)


class OwnerFallback(StrEnum):
    """What happens when the caller's owner (or last agent) cannot take the call."""

    TEAMMATE = "teammate"  # the owner's teammates by the team strategy, then the DID's team
    TEAM = "team"  # straight to the DID's team strategy
    QUEUE = "queue"  # into the team queue (wait for whoever is free first)
    VOICEMAIL = "voicemail"  # the owner's mailbox, else the team's


class AfterHours(StrEnum):
    CALLBACK = "callback"
    VOICEMAIL = "voicemail"
    QUEUE = "queue"  # e.g. a night shift or an outsourced queue
    HANGUP = "hangup"


def _check_timeout(name: str, value: int, maximum: int = 600) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= maximum:
        raise ValueError(f"{name} must be an int in 1..{maximum}, got {value!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class OwnerRouting:
    enabled: bool = True
    ring_timeout_s: int = 20
    use_last_agent: bool = True  # no owner on the record: the agent who last talked with the number
    last_agent_window_s: float = 30 * DAY_S
    when_offline: OwnerFallback = OwnerFallback.TEAMMATE
    when_paused: OwnerFallback = OwnerFallback.TEAMMATE
    when_busy: OwnerFallback = OwnerFallback.TEAMMATE  # ringing, talking, or reserved for another call
    when_wrap_up: OwnerFallback = OwnerFallback.TEAMMATE
    when_no_answer: OwnerFallback = OwnerFallback.TEAMMATE  # offered for this call and did not take it

    def __post_init__(self) -> None:
        _check_timeout("owner ring_timeout_s", self.ring_timeout_s)
        if self.last_agent_window_s < 0:
            raise ValueError("last_agent_window_s must be >= 0")

    def fallback_for(self, cause: str) -> OwnerFallback:
        return {
            "offline": self.when_offline,
            "paused": self.when_paused,
            "wrapup": self.when_wrap_up,
            "noanswer": self.when_no_answer,
            "unreachable": self.when_offline,
        }.get(cause, self.when_busy)


@dataclass(frozen=True, slots=True, kw_only=True)
class TeamPolicy:
    name: str
    queue: str  # the team's Asterisk queue: where calls wait when nobody is free, and the overflow after Dial
    strategy: Strategy = Strategy.LEAST_LOADED
    ring_timeout_s: int = 20
    queue_timeout_s: int | None = None  # None: the FastAGI server's default
    max_attempts: int = 3  # keep <= CC_MAX_ATTEMPTS of the dialplan
    owner: OwnerRouting = field(default_factory=OwnerRouting)
    hours: WorkingHours = field(default_factory=WorkingHours.always_open)
    after_hours: AfterHours = AfterHours.CALLBACK
    mailbox: str | None = None  # voicemail after hours and after an unanswered queue
    load_window_s: float = 0.0  # 0: since local midnight in the team's zone ("today")
    callback_weight_s: float = 180.0  # one open callback task counts like this much talk time
    no_answer_pause_after: int = 3  # consecutive no-answers before an auto-pause; 0 disables
    no_answer_pause_reason: str = "no answer"
    vip_numbers: frozenset[str] = frozenset()
    vip_queue: str | None = None  # a higher-weight queue in queues.conf; None: the team queue with priority
    vip_queue_priority: int = 10

    def __post_init__(self) -> None:
        # RouteDecision validates names that end up in Queue()/VoiceMail(); reuse it so both agree.
        RouteDecision.for_queue(self.queue, reason="config", queue_timeout_s=self.queue_timeout_s, mailbox=self.mailbox)
        if self.vip_queue is not None:
            RouteDecision.for_queue(self.vip_queue, reason="config")
        _check_timeout(f"team {self.name} ring_timeout_s", self.ring_timeout_s)
        if not 1 <= self.max_attempts <= 99:
            raise ValueError(f"team {self.name}: max_attempts must be in 1..99")
        if self.after_hours is AfterHours.VOICEMAIL and self.mailbox is None:
            raise ValueError(f"team {self.name}: after_hours=voicemail needs a mailbox")
        if self.load_window_s < 0 or self.callback_weight_s < 0 or self.no_answer_pause_after < 0:
            raise ValueError(f"team {self.name}: load_window_s, callback_weight_s, no_answer_pause_after must be >= 0")


@dataclass(frozen=True, slots=True, kw_only=True)
class DidRoute:
    did: str
    team: str
    required_skills: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class RoutingRules:
    teams: Mapping[str, TeamPolicy]
    default_team: str  # for DIDs without a route
    dids: Mapping[str, DidRoute] = field(default_factory=dict)
    # IVR choice (digit or word the dialplan passes) -> required skills, added to the DID's
    ivr_skills: Mapping[str, Mapping[str, int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.default_team not in self.teams:
            raise ValueError(f"default_team {self.default_team!r} is not a configured team")
        for route in self.dids.values():
            if route.team not in self.teams:
                raise ValueError(f"DID {route.did}: team {route.team!r} is not configured")

    def route_for(self, did: str, *, ivr_choice: str | None = None) -> tuple[TeamPolicy, Mapping[str, int]]:
        """The team serving ``did`` and the skills the call needs."""
        route = self.dids.get(did)
        team = self.teams[route.team if route else self.default_team]
        skills: Mapping[str, int] = route.required_skills if route else {}
        extra = self.ivr_skills.get(ivr_choice) if ivr_choice else None
        if extra:
            merged = dict(skills)
            for skill, level in extra.items():
                merged[skill] = max(level, merged.get(skill, 0))
            skills = merged
        return team, skills
