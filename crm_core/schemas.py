"""Input and output shapes of the CRM (pydantic): validated once at the edge, reused by services and the API."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationInfo, field_validator, model_validator

from crm_core.input_rules import MULTILINE_FIELDS, check_value
from crm_core.models import (
    ActivityKind,
    CallConsent,
    DealStatus,
    Direction,
    Disposition,
    Entity,
    FieldType,
    LeadStatus,
    Role,
    StageKind,
    TaskKind,
    TaskStatus,
)

Name = Field(min_length=1, max_length=300)


class In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="after")
    @classmethod
    def _safe(cls, value: Any, info: ValidationInfo) -> Any:
        """Every field of every body: 64-bit integers, date-times that exist in UTC, no control characters
        (crm_core.input_rules), so nothing reaches the database or Asterisk that they would choke on."""
        return check_value(value, multiline=info.field_name in MULTILINE_FIELDS)


class Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class PhoneIn(In):
    number: str = Field(min_length=1, max_length=64)
    kind: Literal["work", "mobile", "home", "fax", "other"] = "work"


class PhoneOut(Out):
    e164: str
    extension: str
    raw: str
    kind: str


class EmailOut(Out):
    address: str


def _emails(values: list[str]) -> list[str]:
    for value in values:
        local, at, domain = value.rpartition("@")
        if not at or not local or "." not in domain or " " in value:
            raise ValueError(f"not an email address: {value!r}")
    return values


def _refuse_converted(value: LeadStatus | None) -> LeadStatus | None:
    if value is LeadStatus.CONVERTED:
        raise ValueError("a lead becomes converted only through the convert action")
    return value


def _require_zone(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise ValueError("give a time zone (e.g. 2026-01-31T09:00:00Z)")
    return value


class _Record(In):
    responsible_id: int | None = None
    phones: list[PhoneIn] = Field(default_factory=list, max_length=20)
    emails: list[str] = Field(default_factory=list, max_length=20)
    custom: dict[str, Any] = Field(default_factory=dict)

    _check_emails = field_validator("emails")(_emails)


# A tag: short, no quotes or backslashes, so it reads the same in every report filter and export.
TAG_PATTERN = r"^[\w][\w .:/+-]{0,39}$"
Tag = Annotated[str, StringConstraints(pattern=TAG_PATTERN)]
MAX_TAGS = 50


class _CallRules(In):
    """Contacts and leads: may they be called (saved reports leave do-not-call people out of a dialer's list)."""

    do_not_call: bool = False
    call_consent: CallConsent = CallConsent.UNKNOWN
    tags: list[Tag] = Field(default_factory=list, max_length=MAX_TAGS)


class _CallRulesPatch(In):
    do_not_call: bool | None = None
    call_consent: CallConsent | None = None
    tags: list[Tag] | None = Field(default=None, max_length=MAX_TAGS)


class CompanyIn(_Record):
    name: str = Name
    website: str | None = Field(default=None, max_length=300)


class CompanyPatch(In):
    name: str | None = Field(default=None, min_length=1, max_length=300)
    website: str | None = Field(default=None, max_length=300)
    responsible_id: int | None = None
    custom: dict[str, Any] | None = None


class CompanyOut(Out):
    id: int
    name: str
    website: str | None
    responsible_id: int | None
    custom: dict[str, Any]
    phones: list[PhoneOut]
    emails: list[EmailOut]
    created_at: datetime
    updated_at: datetime


class ContactIn(_Record, _CallRules):
    first_name: str = Field(default="", max_length=200)
    last_name: str = Field(default="", max_length=200)
    position: str | None = Field(default=None, max_length=200)
    company_id: int | None = None


class ContactPatch(_CallRulesPatch):
    first_name: str | None = Field(default=None, max_length=200)
    last_name: str | None = Field(default=None, max_length=200)
    position: str | None = Field(default=None, max_length=200)
    company_id: int | None = None
    responsible_id: int | None = None
    custom: dict[str, Any] | None = None


class ContactOut(Out):
    id: int
    first_name: str
    last_name: str
    position: str | None
    company_id: int | None
    responsible_id: int | None
    custom: dict[str, Any]
    do_not_call: bool
    call_consent: CallConsent
    tags: list[str]
    phones: list[PhoneOut]
    emails: list[EmailOut]
    created_at: datetime
    updated_at: datetime


class LeadIn(_Record, _CallRules):
    title: str = Name
    person_name: str | None = Field(default=None, max_length=300)
    company_name: str | None = Field(default=None, max_length=300)
    status: LeadStatus = LeadStatus.NEW
    source: str = Field(default="manual", min_length=1, max_length=64)
    channel: str | None = Field(default=None, max_length=120)
    product_interest: str | None = Field(default=None, max_length=300)

    _status = field_validator("status")(_refuse_converted)


class LeadPatch(_CallRulesPatch):
    title: str | None = Field(default=None, min_length=1, max_length=300)
    person_name: str | None = Field(default=None, max_length=300)
    company_name: str | None = Field(default=None, max_length=300)
    status: LeadStatus | None = None
    product_interest: str | None = Field(default=None, max_length=300)
    responsible_id: int | None = None
    custom: dict[str, Any] | None = None

    _status = field_validator("status")(_refuse_converted)


class LeadOut(Out):
    id: int
    title: str
    person_name: str | None
    company_name: str | None
    status: LeadStatus
    source: str
    channel: str | None
    product_interest: str | None
    responsible_id: int | None
    custom: dict[str, Any]
    do_not_call: bool
    call_consent: CallConsent
    tags: list[str]
    phones: list[PhoneOut]
    emails: list[EmailOut]
    converted_at: datetime | None
    converted_contact_id: int | None
    converted_company_id: int | None
    converted_deal_id: int | None
    created_at: datetime
    updated_at: datetime


class DealProductIn(In):
    name: str = Name
    quantity: Decimal = Field(default=Decimal(1), gt=0, max_digits=12, decimal_places=3)
    unit_price: Decimal = Field(default=Decimal(0), ge=0, max_digits=14, decimal_places=2)


class DealProductOut(Out):
    name: str
    quantity: Decimal
    unit_price: Decimal


class DealIn(In):
    title: str = Name
    pipeline_id: int | None = None
    stage_id: int | None = None
    amount: Decimal | None = Field(default=None, ge=0, max_digits=14, decimal_places=2)
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")
    contact_id: int | None = None
    company_id: int | None = None
    responsible_id: int | None = None
    products: list[DealProductIn] = Field(default_factory=list, max_length=200)
    custom: dict[str, Any] = Field(default_factory=dict)


class DealPatch(In):
    title: str | None = Field(default=None, min_length=1, max_length=300)
    amount: Decimal | None = Field(default=None, ge=0, max_digits=14, decimal_places=2)
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    contact_id: int | None = None
    company_id: int | None = None
    responsible_id: int | None = None
    custom: dict[str, Any] | None = None
    lost_reason: str | None = Field(default=None, min_length=1, max_length=200)


class StageMove(In):
    stage_id: int
    # Why the deal was lost: only with a lost stage (the lost-reasons report counts it).
    lost_reason: str | None = Field(default=None, min_length=1, max_length=200)


class DealOut(Out):
    id: int
    title: str
    pipeline_id: int
    stage_id: int
    status: DealStatus
    amount: Decimal | None
    currency: str
    contact_id: int | None
    company_id: int | None
    lead_id: int | None
    responsible_id: int | None
    custom: dict[str, Any]
    products: list[DealProductOut]
    closed_at: datetime | None
    lost_reason: str | None = None
    created_at: datetime
    updated_at: datetime


class StageChangeOut(Out):
    from_stage_id: int | None
    to_stage_id: int
    changed_at: datetime
    changed_by_id: int | None


class StageIn(In):
    name: str = Field(min_length=1, max_length=120)
    kind: StageKind = StageKind.OPEN


class PipelineIn(In):
    name: str = Field(min_length=1, max_length=120)
    team_id: int | None = None
    is_default: bool = False
    stages: list[StageIn] = Field(min_length=1, max_length=50)


class StageOut(Out):
    id: int
    name: str
    position: int
    kind: StageKind


class PipelineOut(Out):
    id: int
    name: str
    team_id: int | None
    is_default: bool
    stages: list[StageOut]


class ConvertIn(In):
    create_contact: bool = True
    create_company: bool = False
    deal: DealIn | None = None


class ActivityIn(In):
    kind: ActivityKind
    direction: Direction | None = None
    subject: str = Field(default="", max_length=300)
    body: str = Field(default="", max_length=100_000)
    started_at: datetime | None = None
    ended_at: datetime | None = None
    result: str | None = Field(default=None, max_length=32)
    contact_id: int | None = None
    company_id: int | None = None
    lead_id: int | None = None
    deal_id: int | None = None
    user_id: int | None = None

    _aware = field_validator("started_at", "ended_at")(_require_zone)


class RoutingStepOut(BaseModel):
    """One routing decision FastAGI answered for the call (every attempt asks again)."""

    attempt: int | None = None
    action: str
    reason: str
    targets: list[str] = Field(default_factory=list)
    queue: str | None = None
    team: str | None = None
    explanation: str = ""


class DialAttemptOut(BaseModel):
    """One agent the call was offered to, rung or not."""

    agent: str
    queue: str | None = None
    result: str | None = None  # ANSWER, BUSY, CHANUNAVAIL, NOANSWER, CANCEL, ...
    at_s: float | None = None
    ring_s: float | None = None
    rang: bool | None = None


class CallDetailsOut(BaseModel):
    """What the call activity knows of the call beyond the CRM fields: why it went where it went, who was tried."""

    answered_by: str | None = None
    queue: str | None = None
    routing: list[RoutingStepOut] = Field(default_factory=list)
    attempts: list[DialAttemptOut] = Field(default_factory=list)
    agents_rung: list[str] = Field(default_factory=list)
    agents_talked: list[str] = Field(default_factory=list)
    wrapup_s: float | None = None
    hangup_cause: int | None = None
    hung_up_by: str | None = None
    # True where figures are estimates: the call ended while the service was not connected to Asterisk.
    approximate: bool = False

    @classmethod
    def from_meta(cls, meta: dict[str, Any] | None) -> CallDetailsOut | None:
        if not meta:
            return None
        known = {name: meta[name] for name in cls.model_fields if name in meta and meta[name] is not None}
        known["approximate"] = bool(meta.get("approximate") or meta.get("end_estimated"))
        return cls.model_validate(known)


class ActivityOut(Out):
    id: int
    kind: ActivityKind
    direction: Direction | None
    subject: str
    body: str
    started_at: datetime
    ended_at: datetime | None
    result: str | None
    contact_id: int | None
    company_id: int | None
    lead_id: int | None
    deal_id: int | None
    user_id: int | None
    call_id: str | None
    from_e164: str | None
    from_raw: str | None
    to_e164: str | None
    to_raw: str | None
    did: str | None
    wait_s: float | None
    talk_s: float | None
    recording_ref: str | None
    transcript_ref: str | None
    disposition: Disposition | None = None
    disposition_at: datetime | None = None
    created_at: datetime
    call: CallDetailsOut | None = None  # call activities: routing decisions, dial attempts, wrap-up

    @model_validator(mode="before")
    @classmethod
    def _call_details(cls, data: Any) -> Any:
        meta = getattr(data, "call_meta", None) if not isinstance(data, dict) else None
        if meta is None:
            return data
        values = {name: getattr(data, name, None) for name in cls.model_fields if name != "call"}
        values["call"] = CallDetailsOut.from_meta(meta)
        return values


class TaskIn(In):
    title: str = Name
    description: str = Field(default="", max_length=100_000)
    kind: TaskKind = TaskKind.TASK
    priority: int = Field(default=0, ge=0, le=3)
    assignee_id: int | None = None
    # None: the assignee's team, else the creator's (crm_core.work.create_task).
    team_id: int | None = None
    due_at: datetime | None = None
    contact_id: int | None = None
    company_id: int | None = None
    lead_id: int | None = None
    deal_id: int | None = None

    _aware = field_validator("due_at")(_require_zone)


class TaskPatch(In):
    title: str | None = Field(default=None, min_length=1, max_length=300)
    description: str | None = Field(default=None, max_length=100_000)
    status: TaskStatus | None = None
    priority: int | None = Field(default=None, ge=0, le=3)
    assignee_id: int | None = None
    team_id: int | None = None  # admins only: file the task (and its pool) under another team
    due_at: datetime | None = None

    _aware = field_validator("due_at")(_require_zone)


class TaskOut(Out):
    id: int
    title: str
    description: str
    kind: TaskKind
    status: TaskStatus
    priority: int
    assignee_id: int | None
    team_id: int | None = None  # whose pool it is while nobody has it
    due_at: datetime | None
    completed_at: datetime | None
    overdue: bool = False
    callback_e164: str | None = None  # a callback's number (one-click call back)
    missed_count: int = 0
    contact_id: int | None
    company_id: int | None
    lead_id: int | None
    deal_id: int | None
    campaign_id: int | None = None  # a dialer campaign's callback: that campaign
    created_at: datetime


class CustomFieldIn(In):
    entity: Entity
    key: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")
    label: str = Field(min_length=1, max_length=200)
    field_type: FieldType
    choices: list[str] = Field(default_factory=list, max_length=200)
    required: bool = False
    required_from_stage_id: int | None = None
    position: int = Field(default=0, ge=0, le=100_000)  # an INTEGER column: 32 bits


class CustomFieldOut(Out):
    id: int
    entity: Entity
    key: str
    label: str
    field_type: FieldType
    choices: list[str]
    required: bool
    required_from_stage_id: int | None
    position: int


def _known_zone(value: str | None) -> str | None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    if value is None:
        return value
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r}") from None
    return value


# A callback SLA runs only while the team is open; a week of opening time is already far past any promise to a
# caller, and a bound keeps the due-time search (routing.hours.due_after) finite for sparse opening hours.
CallbackSla = Field(default=None, gt=0, le=7 * 86_400)


class TeamIn(In):
    name: str = Field(min_length=1, max_length=120)
    timezone: str = Field(default="UTC", max_length=64)
    # Seconds of the team's opening time until a missed call's callback is due; None: crm.callback_sla_s.
    callback_sla_s: float | None = CallbackSla

    _zone = field_validator("timezone")(_known_zone)


class TeamPatch(In):
    # No renaming: routing settings (routing.teams) name CRM teams, and a rename would silently cut that link.
    timezone: str | None = Field(default=None, max_length=64)
    callback_sla_s: float | None = CallbackSla  # null: back to crm.callback_sla_s

    _zone = field_validator("timezone")(_known_zone)


class TeamOut(Out):
    id: int
    name: str
    timezone: str
    callback_sla_s: float | None = None


class UserIn(In):
    name: str = Field(min_length=1, max_length=200)
    email: str | None = Field(default=None, max_length=320)
    extension: str | None = Field(default=None, pattern=r"^[0-9*#]{1,32}$")
    team_id: int | None = None
    role: Role = Role.AGENT


class UserPatch(In):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    email: str | None = Field(default=None, max_length=320)
    extension: str | None = Field(default=None, pattern=r"^[0-9*#]{1,32}$")
    team_id: int | None = None
    role: Role | None = None
    active: bool | None = None


class UserOut(Out):
    id: int
    name: str
    email: str | None
    extension: str | None
    team_id: int | None
    role: Role
    active: bool


class TokenIn(In):
    user_id: int
    name: str = Field(min_length=1, max_length=120)
    expires_at: datetime | None = None


class TokenOut(Out):
    id: int
    user_id: int
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None


class TokenCreated(TokenOut):
    # Shown once; only its hash is kept.
    token: str


class AuditOut(Out):
    id: int
    at: datetime
    actor_id: int | None
    entity: str
    entity_id: int
    action: str
    changes: dict[str, Any]


class Counts(BaseModel):
    due_today: int
    overdue: int


class CountersOut(BaseModel):
    user_id: int
    tasks: Counts
    calls: Counts


class TimelineItem(BaseModel):
    type: Literal["activity", "task", "deal"]
    at: datetime
    id: int
    data: dict[str, Any]


class ProfileOut(BaseModel):
    entity: Entity
    id: int
    record: dict[str, Any]
    deals: list[DealOut]
    open_tasks: list[TaskOut]
    timeline: list[TimelineItem]


class LookupOut(Out):
    entity: Entity
    id: int
    responsible_id: int | None
    e164: str
