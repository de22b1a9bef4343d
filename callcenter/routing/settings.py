"""The ``[routing]`` settings section and its translation into RoutingRules.

Meant to be hung into callcenter.config.Settings as ``routing: RoutingSettings``; the same layering applies
(defaults -> TOML -> CALLCENTER_ROUTING__... environment). Example::

    [routing]
    default_team = "support"

    [routing.teams.support]
    queue = "support"
    strategy = "least-loaded"
    timezone = "Europe/Berlin"
    hours = { "mon-fri" = "08:00-18:00", "sat" = "09:00-13:00" }
    holidays = { "2026-12-25" = "Christmas" }
    after_hours = "callback"
    mailbox = "support@default"

    [routing.teams.support.owner]
    ring_timeout_s = 20
    when_busy = "teammate"

    [routing.dids."8002"]
    team = "support"
    skills = { german = 2 }
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from callcenter.routing.caller_name import CallerNameFormat, Charset
from callcenter.routing.hours import WorkingHours
from callcenter.routing.rules import (
    DAY_S,
    AfterHours,
    DidRoute,
    OwnerFallback,
    OwnerRouting,
    RoutingRules,
    Strategy,
    TeamPolicy,
)

__all__ = ["RoutingSettings", "build_rules"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _csv(value: Any) -> Any:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


class OwnerSettings(_Section):
    enabled: bool = True
    ring_timeout_s: int = Field(default=20, ge=1, le=600)
    use_last_agent: bool = True
    last_agent_window_days: float = Field(default=30.0, ge=0)
    when_offline: OwnerFallback = OwnerFallback.TEAMMATE
    when_paused: OwnerFallback = OwnerFallback.TEAMMATE
    when_busy: OwnerFallback = OwnerFallback.TEAMMATE
    when_wrap_up: OwnerFallback = OwnerFallback.TEAMMATE
    when_no_answer: OwnerFallback = OwnerFallback.TEAMMATE


class TeamSettings(_Section):
    queue: str = ""  # empty: the team's name
    strategy: Strategy = Strategy.LEAST_LOADED
    ring_timeout_s: int = Field(default=20, ge=1, le=600)
    queue_timeout_s: int | None = Field(default=None, ge=1)
    max_attempts: int = Field(default=3, ge=1, le=99)
    owner: OwnerSettings = Field(default_factory=OwnerSettings)
    timezone: str = "UTC"
    hours: dict[str, str] = Field(default_factory=dict)  # empty: always open
    holidays: dict[str, str] | list[str] = Field(default_factory=dict)
    after_hours: AfterHours = AfterHours.CALLBACK
    mailbox: str | None = None
    load_window_s: float = Field(default=0.0, ge=0)  # 0: today (since local midnight)
    callback_weight_s: float = Field(default=180.0, ge=0)
    no_answer_pause_after: int = Field(default=3, ge=0)
    no_answer_pause_reason: str = "no answer"
    vip_numbers: list[str] = Field(default_factory=list)
    vip_queue: str | None = None
    vip_queue_priority: int = Field(default=10, ge=0)
    # Calls dialled from the team's desk phones (callcenter.routing.outbound): the number the customer sees (a DID
    # of the team; empty: the phone's own caller id goes out, as before) and the region national numbers are read in
    # (empty: crm.default_region).
    outbound_caller_id: str = ""
    region: str = ""

    @field_validator("region")
    @classmethod
    def _region(cls, value: str) -> str:
        import phonenumbers

        if value and value.upper() not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"unknown region {value!r}; use an ISO 3166 code such as DE, GB or US")
        return value.upper()

    @field_validator("outbound_caller_id")
    @classmethod
    def _caller_id(cls, value: str) -> str:
        if value and not re.fullmatch(r"\+?[0-9]{2,20}", value):
            raise ValueError(f"outbound_caller_id {value!r} must be digits, optionally after a +")
        return value

    # the environment carries lists as "a,b,c"
    _lists = field_validator("vip_numbers", "holidays", mode="before")(_csv)


class CallerNameSettings(_Section):
    """The caller's name on the agent's desk phone (callcenter.routing.caller_name): ``format`` with {mark}, {who},
    {contact}, {company}, {lead}; cut to ``max_chars`` for small displays; ``charset`` ascii or latin1."""

    enabled: bool = True
    format: str = "{mark}{who}"
    max_chars: int = Field(default=24, ge=1, le=80)
    charset: Charset = Charset.ASCII
    vip_mark: str = "VIP "
    callback_mark: str = "CB "

    @model_validator(mode="after")
    def _check(self) -> CallerNameSettings:
        self.to_format()  # an unknown {field} stops the start, naming it
        return self

    def to_format(self) -> CallerNameFormat:
        return CallerNameFormat(
            enabled=self.enabled, template=self.format, max_chars=self.max_chars, charset=self.charset,
            vip_mark=self.vip_mark, callback_mark=self.callback_mark,
        )


class DidSettings(_Section):
    team: str
    skills: dict[str, int] = Field(default_factory=dict)


class RoutingSettings(_Section):
    default_team: str = "support"
    teams: dict[str, TeamSettings] = Field(default_factory=dict)  # empty: one team named default_team
    dids: dict[str, DidSettings] = Field(default_factory=dict)
    ivr_skills: dict[str, dict[str, int]] = Field(default_factory=dict)
    agent_skills: dict[str, dict[str, int]] = Field(default_factory=dict)  # extension -> {skill: level}
    # Users, teams and open callbacks are re-read this often (and at once when the API changes a user).
    directory_refresh_s: float = Field(default=60.0, gt=0)
    crm_budget_ms: int = Field(default=100, ge=1, le=10_000)
    crm_cache_ttl_s: float = Field(default=60.0, ge=0)
    crm_negative_ttl_s: float = Field(default=10.0, ge=0)
    reservation_ttl_s: float = Field(default=15.0, gt=0)
    decision_log_calls: int = Field(default=10_000, ge=1)
    caller_name: CallerNameSettings = Field(default_factory=CallerNameSettings)

    @model_validator(mode="after")
    def _check(self) -> RoutingSettings:
        # Building the rules validates names, time zones and hours: a bad value stops the start with its key.
        build_rules(self, default_queue=self.default_team)
        return self


def _team(name: str, s: TeamSettings, *, default_queue: str) -> TeamPolicy:
    try:
        hours = WorkingHours.parse(timezone=s.timezone, week=s.hours, holidays=s.holidays)
    except Exception as exc:  # ZoneInfoNotFoundError is a KeyError: name the key
        raise ValueError(f"routing.teams.{name}: hours/timezone: {exc}") from None
    o = s.owner
    try:
        return TeamPolicy(
            name=name,
            queue=s.queue or default_queue or name,
            strategy=s.strategy,
            ring_timeout_s=s.ring_timeout_s,
            queue_timeout_s=s.queue_timeout_s,
            max_attempts=s.max_attempts,
            owner=OwnerRouting(
                enabled=o.enabled,
                ring_timeout_s=o.ring_timeout_s,
                use_last_agent=o.use_last_agent,
                last_agent_window_s=o.last_agent_window_days * DAY_S,
                when_offline=o.when_offline,
                when_paused=o.when_paused,
                when_busy=o.when_busy,
                when_wrap_up=o.when_wrap_up,
                when_no_answer=o.when_no_answer,
            ),
            hours=hours,
            after_hours=s.after_hours,
            mailbox=s.mailbox,
            load_window_s=s.load_window_s,
            callback_weight_s=s.callback_weight_s,
            no_answer_pause_after=s.no_answer_pause_after,
            no_answer_pause_reason=s.no_answer_pause_reason,
            vip_numbers=frozenset(s.vip_numbers),
            vip_queue=s.vip_queue,
            vip_queue_priority=s.vip_queue_priority,
        )
    except ValueError as exc:
        raise ValueError(f"routing.teams.{name}: {exc}") from None


def build_rules(settings: RoutingSettings, *, default_queue: str) -> RoutingRules:
    """``default_queue``: the queue of a team that names none (agi.default_queue for the implicit default team)."""
    teams_in = settings.teams or {settings.default_team: TeamSettings()}
    teams = {
        name: _team(name, s, default_queue=default_queue if name == settings.default_team else name)
        for name, s in teams_in.items()
    }
    dids = {did: DidRoute(did=did, team=d.team, required_skills=dict(d.skills)) for did, d in settings.dids.items()}
    return RoutingRules(
        teams=teams, default_team=settings.default_team, dids=dids, ivr_skills=dict(settings.ivr_skills)
    )
