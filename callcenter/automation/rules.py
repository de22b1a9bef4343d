"""The rule language: "when <fact> [if <conditions>] then <effect>", typed and small. Matching is pure."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, field_validator, model_validator

from callcenter.automation.facts import CallbackOverdue, CallLogged, DealStageChanged, Fact, LeadCreated
from callcenter.mail.templates import check_template

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


class EmailRule(_Rule):
    """A templated e-mail to the deal's contact when a deal changes stage (an offer, a thank-you letter)."""

    then: Literal["email"]
    # $placeholders from callcenter.mail.templates.DEAL_FIELDS; an unknown one is a configuration error naming it.
    subject: str = Field(min_length=1, max_length=300)
    body: str = Field(min_length=1, max_length=20_000)
    # Only when the deal moved to one of these stages (by name) / ended with one of these statuses.
    if_stage: list[str] | None = None
    if_status: list[Literal["open", "won", "lost"]] | None = None

    @field_validator("subject")
    @classmethod
    def _subject(cls, value: str) -> str:
        if "\r" in value or "\n" in value:
            raise ValueError("must be one line (no CR or LF): it is an e-mail header")
        return check_template(value)

    @field_validator("body")
    @classmethod
    def _body(cls, value: str) -> str:
        return check_template(value)

    @model_validator(mode="after")
    def _deal_fact(self) -> EmailRule:
        if self.when != "deal.stage_changed":
            raise ValueError("an email rule runs on deal.stage_changed (it writes to the deal's contact)")
        return self


Rule = Annotated[WebhookRule | TaskRule | NotifyRule | EmailRule, Field(discriminator="then")]


def fact_triggers(fact: Fact) -> set[str]:
    triggers = {fact.name}
    if isinstance(fact, CallLogged) and fact.missed:
        triggers.add("call.missed")
    return triggers


def matches(rule: _Rule, fact: Fact, *, vip_numbers: frozenset[str]) -> bool:
    if rule.when not in fact_triggers(fact):
        return False
    if isinstance(rule, EmailRule) and isinstance(fact, DealStageChanged):
        # if_stage needs the stage's name, which the fact does not carry: the engine checks it.
        if rule.if_status is not None and fact.status not in rule.if_status:
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
