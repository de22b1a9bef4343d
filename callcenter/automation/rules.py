"""The rule language: "when <fact> [if <conditions>] then <effect>", typed and small. Matching is pure."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl

from callcenter.automation.facts import CallbackOverdue, CallLogged, DealStageChanged, Fact, LeadCreated

Trigger = Literal["call.ended", "call.missed", "lead.created", "deal.stage_changed", "callback.overdue"]


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=120)
    when: Trigger
    # Conditions (all must hold); call facts only.
    if_vip: bool | None = None
    if_did: list[str] | None = None
    if_outcome: list[str] | None = None


class WebhookRule(_Rule):
    then: Literal["webhook"]
    url: HttpUrl
    secret: str = Field(min_length=16, description="HMAC-SHA256 key; the receiver checks X-Callcenter-Signature")


class TaskRule(_Rule):
    then: Literal["task"]
    title: str = Field(min_length=1, max_length=300)
    due_in_s: int = Field(default=3600, ge=0)


class NotifyRule(_Rule):
    then: Literal["notify"]
    message: str = Field(default="", max_length=300)


Rule = Annotated[WebhookRule | TaskRule | NotifyRule, Field(discriminator="then")]


def fact_triggers(fact: Fact) -> set[str]:
    triggers = {fact.name}
    if isinstance(fact, CallLogged) and fact.missed:
        triggers.add("call.missed")
    return triggers


def matches(rule: _Rule, fact: Fact, *, vip_numbers: frozenset[str]) -> bool:
    if rule.when not in fact_triggers(fact):
        return False
    if isinstance(fact, CallLogged):
        if rule.if_vip is not None and (fact.number in vip_numbers) != rule.if_vip:
            return False
        if rule.if_did is not None and fact.did not in rule.if_did:
            return False
        if rule.if_outcome is not None and fact.outcome not in rule.if_outcome:
            return False
    elif isinstance(fact, LeadCreated | DealStageChanged | CallbackOverdue):
        if rule.if_vip is not None and rule.if_vip != (getattr(fact, "number", None) in vip_numbers):
            return False
    return True
