"""The lean CRM's tables, as SQLAlchemy 2.0 typed models (identical on SQLite and PostgreSQL)."""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    and_,
    literal_column,
    CheckConstraint,
    ForeignKey,
    Index,
    MetaData,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    event,
    false,
    inspect,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, object_session, relationship
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from crm_core.call_facts import derived_columns, link_next_call
from crm_core.stage_stays import relink_stays
from crm_core.types import BigId, StrEnumType, UTCDateTime, utcnow

# Stable constraint names so Alembic migrations are the same on both databases.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON()}

    # Models that set this get an audit row for every insert, update and delete.
    __audited__: bool = False


class Role(str, enum.Enum):
    AGENT = "agent"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"
    # Launches dialer campaigns from saved reports: reads and writes its team's CRM records as the team's supervisor
    # does, manages its team's campaigns and their do-not-call lists; no users, routing, agent control or recordings
    # (crm_core.access, docs/dialer.md "Campaign API and roles").
    CAMPAIGN_MANAGER = "campaign_manager"


class LeadStatus(str, enum.Enum):
    NEW = "new"
    IN_PROGRESS = "in_progress"
    QUALIFIED = "qualified"
    UNQUALIFIED = "unqualified"
    CONVERTED = "converted"
    LOST = "lost"


class StageKind(str, enum.Enum):
    OPEN = "open"
    WON = "won"
    LOST = "lost"


class DealStatus(str, enum.Enum):
    OPEN = "open"
    WON = "won"
    LOST = "lost"


class ActivityKind(str, enum.Enum):
    CALL = "call"
    MEETING = "meeting"
    EMAIL = "email"
    NOTE = "note"
    TASK = "task"


class Direction(str, enum.Enum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"
    INTERNAL = "internal"


class TaskKind(str, enum.Enum):
    TASK = "task"
    CALLBACK = "callback"


class TaskStatus(str, enum.Enum):
    OPEN = "open"
    DONE = "done"
    CANCELLED = "cancelled"


class Disposition(str, enum.Enum):
    """How a call ended for the business, set by the agent after it: the one list the API, the page and reports use."""

    SALE = "sale"
    INTERESTED = "interested"
    CALLBACK = "callback"
    NOT_INTERESTED = "not_interested"
    WRONG_NUMBER = "wrong_number"


class CallConsent(str, enum.Enum):
    """What the person said about being called (the legal basis for outbound calls); do_not_call still wins."""

    UNKNOWN = "unknown"
    GRANTED = "granted"
    REFUSED = "refused"


class FieldType(str, enum.Enum):
    STRING = "string"
    NUMBER = "number"
    DATE = "date"
    CHOICE = "choice"


class Entity(str, enum.Enum):
    """Record kinds that carry custom fields and own phone numbers."""

    CONTACT = "contact"
    COMPANY = "company"
    LEAD = "lead"
    DEAL = "deal"


def _created() -> Mapped[datetime]:
    return mapped_column(default=utcnow)


def _updated() -> Mapped[datetime]:
    return mapped_column(default=utcnow, onupdate=utcnow)


def _fk(target: str, *, index: bool = True, ondelete: str = "SET NULL", use_alter: bool = False) -> Mapped[Any]:
    return mapped_column(
        BigId, ForeignKey(target, ondelete=ondelete, use_alter=use_alter), nullable=True, index=index
    )


# A record's numbers and emails go with it when it is deleted (and the deletion is audited row by row).
_OWNED = "save-update, merge, delete"


class Team(Base):
    __tablename__ = "teams"
    __audited__ = True

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    # A missed call's callback is due after this much of the team's opening time; None: the global crm.callback_sla_s.
    callback_sla_s: Mapped[float | None]
    created_at: Mapped[datetime] = _created()


class User(Base):
    __tablename__ = "users"
    __audited__ = True

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320), unique=True)
    extension: Mapped[str | None] = mapped_column(String(32), unique=True)
    team_id: Mapped[int | None] = _fk("teams.id")
    role: Mapped[Role] = mapped_column(StrEnumType(Role), default=Role.AGENT)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = _created()


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    # Only a SHA-256 of the secret is stored; the prefix lets an admin tell tokens apart.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = _created()
    last_used_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    # A restricted token (e.g. "wallboard:read", a TV's link) may do only that, only for these team ids;
    # no scope: everything its user may do.
    scope: Mapped[str | None] = mapped_column(String(32))
    team_ids: Mapped[list[int] | None] = mapped_column(JSON)
    # A browser's session made from a one-time login link for this token: it works only while its parent does.
    parent_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("api_tokens.id", ondelete="CASCADE"), index=True)


class AuthTicket(Base):
    """A one-time secret standing for an API token for a moment: a WebSocket ticket (the browser cannot send a header
    on a WebSocket, and the token must stay out of URLs and access logs) or a login link's code. Only its hash is
    kept; it works once (``used_at``) and only until ``expires_at``."""

    __tablename__ = "auth_tickets"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    token_id: Mapped[int] = mapped_column(BigId, ForeignKey("api_tokens.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = _created()
    expires_at: Mapped[datetime] = mapped_column(index=True)
    used_at: Mapped[datetime | None]


class Company(Base):
    __tablename__ = "companies"
    __audited__ = True

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(300), index=True)
    website: Mapped[str | None] = mapped_column(String(300))
    responsible_id: Mapped[int | None] = _fk("users.id")
    custom: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _updated()

    phones: Mapped[list[Phone]] = relationship(back_populates="company", lazy="selectin", cascade=_OWNED)
    emails: Mapped[list[Email]] = relationship(back_populates="company", lazy="selectin", cascade=_OWNED)


class Contact(Base):
    __tablename__ = "contacts"
    __audited__ = True

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    first_name: Mapped[str] = mapped_column(String(200), default="")
    last_name: Mapped[str] = mapped_column(String(200), default="", index=True)
    position: Mapped[str | None] = mapped_column(String(200))
    company_id: Mapped[int | None] = _fk("companies.id")
    responsible_id: Mapped[int | None] = _fk("users.id")
    custom: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Outbound calling rules (issue 14: a saved report is a dialer's call list, which must leave these people out).
    # A hard block, whatever the consent says (the person asked, or a national do-not-call register lists them):
    do_not_call: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    call_consent: Mapped[CallConsent] = mapped_column(
        StrEnumType(CallConsent), default=CallConsent.UNKNOWN, server_default=CallConsent.UNKNOWN.value
    )
    # Free labels to pick people by ("vip", "newsletter"): a JSON list, not a table, as nothing else hangs off a tag.
    tags: Mapped[list[str]] = mapped_column(JSON, default=list, server_default=text("'[]'"))
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _updated()

    phones: Mapped[list[Phone]] = relationship(back_populates="contact", lazy="selectin", cascade=_OWNED)
    emails: Mapped[list[Email]] = relationship(back_populates="contact", lazy="selectin", cascade=_OWNED)


class Lead(Base):
    __tablename__ = "leads"
    __audited__ = True

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    title: Mapped[str] = mapped_column(String(300))
    person_name: Mapped[str | None] = mapped_column(String(300))
    company_name: Mapped[str | None] = mapped_column(String(300))
    status: Mapped[LeadStatus] = mapped_column(StrEnumType(LeadStatus), default=LeadStatus.NEW, index=True)
    source: Mapped[str] = mapped_column(String(64), default="manual")
    # Where it came in: the DID for phone leads, a web form name, a campaign.
    channel: Mapped[str | None] = mapped_column(String(120))
    product_interest: Mapped[str | None] = mapped_column(String(300))
    responsible_id: Mapped[int | None] = _fk("users.id")
    custom: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # As on contacts: outbound calling rules and tags.
    do_not_call: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    call_consent: Mapped[CallConsent] = mapped_column(
        StrEnumType(CallConsent), default=CallConsent.UNKNOWN, server_default=CallConsent.UNKNOWN.value
    )
    tags: Mapped[list[str]] = mapped_column(JSON, default=list, server_default=text("'[]'"))
    converted_at: Mapped[datetime | None]
    converted_contact_id: Mapped[int | None] = _fk("contacts.id")
    converted_company_id: Mapped[int | None] = _fk("companies.id")
    # deals.lead_id points back here; use_alter breaks the create-order cycle.
    converted_deal_id: Mapped[int | None] = _fk("deals.id", index=False, use_alter=True)
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _updated()

    phones: Mapped[list[Phone]] = relationship(back_populates="lead", lazy="selectin", cascade=_OWNED)
    emails: Mapped[list[Email]] = relationship(back_populates="lead", lazy="selectin", cascade=_OWNED)


_ONE_OWNER = (
    "(CASE WHEN contact_id IS NULL THEN 0 ELSE 1 END) + (CASE WHEN company_id IS NULL THEN 0 ELSE 1 END)"
    " + (CASE WHEN lead_id IS NULL THEN 0 ELSE 1 END) = 1"
)


class Phone(Base):
    """A number belongs to exactly one record; the unique key is what makes duplicate control race-proof."""

    __tablename__ = "phones"
    __audited__ = True
    __table_args__ = (
        UniqueConstraint("e164", "extension", name="uq_phones_e164_extension"),
        CheckConstraint(_ONE_OWNER, name="one_owner"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    e164: Mapped[str] = mapped_column(String(20))
    # '' rather than NULL: NULLs are never equal, so they would defeat the unique key.
    extension: Mapped[str] = mapped_column(String(8), default="")
    raw: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16), default="work")
    contact_id: Mapped[int | None] = _fk("contacts.id", ondelete="CASCADE")
    company_id: Mapped[int | None] = _fk("companies.id", ondelete="CASCADE")
    lead_id: Mapped[int | None] = _fk("leads.id", ondelete="CASCADE")

    contact: Mapped[Contact | None] = relationship(back_populates="phones")
    company: Mapped[Company | None] = relationship(back_populates="phones")
    lead: Mapped[Lead | None] = relationship(back_populates="phones")


class Email(Base):
    __tablename__ = "emails"
    __audited__ = True
    __table_args__ = (CheckConstraint(_ONE_OWNER, name="one_owner"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # Lower-cased; unique across all records for the same reason as phones.
    address: Mapped[str] = mapped_column(String(320), unique=True)
    raw: Mapped[str] = mapped_column(String(320))
    contact_id: Mapped[int | None] = _fk("contacts.id", ondelete="CASCADE")
    company_id: Mapped[int | None] = _fk("companies.id", ondelete="CASCADE")
    lead_id: Mapped[int | None] = _fk("leads.id", ondelete="CASCADE")

    contact: Mapped[Contact | None] = relationship(back_populates="emails")
    company: Mapped[Company | None] = relationship(back_populates="emails")
    lead: Mapped[Lead | None] = relationship(back_populates="emails")


class Pipeline(Base):
    __tablename__ = "pipelines"
    __audited__ = True

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    team_id: Mapped[int | None] = _fk("teams.id")
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = _created()

    stages: Mapped[list[PipelineStage]] = relationship(
        back_populates="pipeline", order_by="PipelineStage.position", lazy="selectin", cascade="all, delete-orphan"
    )


class PipelineStage(Base):
    __tablename__ = "pipeline_stages"
    __audited__ = True
    __table_args__ = (UniqueConstraint("pipeline_id", "name", name="uq_pipeline_stages_pipeline_id_name"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    pipeline_id: Mapped[int] = mapped_column(BigId, ForeignKey("pipelines.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    position: Mapped[int]
    kind: Mapped[StageKind] = mapped_column(StrEnumType(StageKind), default=StageKind.OPEN)

    pipeline: Mapped[Pipeline] = relationship(back_populates="stages")


def _at_creation(context: Any) -> datetime:
    return context.get_current_parameters().get("created_at") or utcnow()


class Deal(Base):
    __tablename__ = "deals"
    __audited__ = True
    # Stuck deals: a pipeline's open deals per stage that entered it before a cutoff.
    __table_args__ = (Index("ix_deals_stage_entered", "pipeline_id", "status", "stage_id", "stage_entered_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    title: Mapped[str] = mapped_column(String(300))
    pipeline_id: Mapped[int] = mapped_column(BigId, ForeignKey("pipelines.id"), index=True)
    stage_id: Mapped[int] = mapped_column(BigId, ForeignKey("pipeline_stages.id"), index=True)
    status: Mapped[DealStatus] = mapped_column(StrEnumType(DealStatus), default=DealStatus.OPEN, index=True)
    amount: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    contact_id: Mapped[int | None] = _fk("contacts.id")
    company_id: Mapped[int | None] = _fk("companies.id")
    lead_id: Mapped[int | None] = _fk("leads.id")
    responsible_id: Mapped[int | None] = _fk("users.id")
    custom: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Indexed for the sales reports (won / lost in a period).
    closed_at: Mapped[datetime | None] = mapped_column(index=True)
    # Why it was lost (short text, set when it enters a lost stage, cleared when it is reopened): the lost-reasons report.
    lost_reason: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _updated()
    # When it entered its current stage (its latest stage change; at creation its creation), kept by the history's
    # writes (crm_core.stage_stays): stuck deals are a range of ix_deals_stage_entered, not a max() per open deal.
    # Nullable only so that rows written around the ORM (bulk loads) may leave it to the migration's rule.
    stage_entered_at: Mapped[datetime | None] = mapped_column(default=_at_creation)

    products: Mapped[list[DealProduct]] = relationship(lazy="selectin", cascade="all, delete-orphan")


class DealStageChange(Base):
    __tablename__ = "deal_stage_history"
    __table_args__ = (
        # The sales funnel reads a period's changes from this index alone (which deal entered which stage).
        Index("ix_deal_stage_history_period", "changed_at", "deal_id", "to_stage_id"),
        # Time in stage reads the stays that ended in a period (and how long each took) from this one alone: a range
        # per stage, already in stage order for the per-stage median (left_at first would need a sort of them all).
        Index("ix_deal_stage_history_left", "to_stage_id", "left_at", "changed_at", "deal_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    deal_id: Mapped[int] = mapped_column(BigId, ForeignKey("deals.id", ondelete="CASCADE"), index=True)
    from_stage_id: Mapped[int | None] = _fk("pipeline_stages.id", index=False)
    to_stage_id: Mapped[int] = mapped_column(BigId, ForeignKey("pipeline_stages.id"))
    changed_at: Mapped[datetime] = _created()
    changed_by_id: Mapped[int | None] = _fk("users.id", index=False)
    # When the deal left the stage this change put it in: the next change's changed_at (NULL while it is still there),
    # kept by the events below (crm_core.stage_stays).
    left_at: Mapped[datetime | None]


def _relink_deal(connection: Any, change: DealStageChange, deal_id: int) -> None:
    entered = relink_stays(connection, DealStageChange.__table__, Deal.__table__, deal_id)
    session = object_session(change)
    deal = session.identity_map.get(identity_key(Deal, deal_id)) if session is not None else None
    if deal is not None and entered is not None:  # the loaded deal shows what the database now holds
        set_committed_value(deal, "stage_entered_at", entered)


@event.listens_for(DealStageChange, "after_insert")
@event.listens_for(DealStageChange, "after_delete")
def _link_stays(_mapper: Any, connection: Any, change: DealStageChange) -> None:
    _relink_deal(connection, change, change.deal_id)


@event.listens_for(DealStageChange, "after_update")
def _relink_stays(_mapper: Any, connection: Any, change: DealStageChange) -> None:
    # Only when what orders a deal's changes moved (a backdated or re-attributed change); its old deal too.
    state = inspect(change)
    moved_deal = state.attrs.deal_id.history
    if state.attrs.changed_at.history.has_changes() or moved_deal.has_changes():
        for deal_id in {change.deal_id, *(moved_deal.deleted or ())}:
            _relink_deal(connection, change, deal_id)


class DealProduct(Base):
    __tablename__ = "deal_products"
    __audited__ = True

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    deal_id: Mapped[int] = mapped_column(BigId, ForeignKey("deals.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(300))
    quantity: Mapped[Decimal] = mapped_column(Numeric(12, 3), default=Decimal(1))
    unit_price: Mapped[Decimal] = mapped_column(Numeric(14, 2), default=Decimal(0))


class Activity(Base):
    """Calls, meetings, emails, notes and task log entries on one timeline."""

    __tablename__ = "activities"
    __audited__ = True
    __table_args__ = (
        Index("ix_activities_contact_started", "contact_id", "started_at"),
        Index("ix_activities_user_started", "user_id", "started_at"),
        # Reports read a period's calls.
        Index("ix_activities_kind_started", "kind", "started_at"),
        # The calls from one number in time order: each call's next call (call_facts.link_next_call).
        Index("ix_activities_from_started", "from_e164", "started_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[ActivityKind] = mapped_column(StrEnumType(ActivityKind), index=True)
    direction: Mapped[Direction | None] = mapped_column(StrEnumType(Direction))
    subject: Mapped[str] = mapped_column(String(300), default="")
    body: Mapped[str] = mapped_column(Text, default="")
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None]
    result: Mapped[str | None] = mapped_column(String(32))
    contact_id: Mapped[int | None] = _fk("contacts.id", index=False)
    company_id: Mapped[int | None] = _fk("companies.id")
    lead_id: Mapped[int | None] = _fk("leads.id")
    deal_id: Mapped[int | None] = _fk("deals.id")
    # The agent who did it (for a call: who answered or placed it).
    user_id: Mapped[int | None] = _fk("users.id", index=False)
    # A call's team (its routing's, else its DID's: reports.report.call_team): whose supervisors see it while nobody
    # of theirs took it (an unanswered call is no team's pool but its own).
    team_id: Mapped[int | None] = _fk("teams.id")
    created_by_id: Mapped[int | None] = _fk("users.id", index=False)
    # Call details; the call id (Asterisk Linkedid) is unique so a replayed call never makes a second activity.
    call_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    from_e164: Mapped[str | None] = mapped_column(String(20), index=True)
    from_raw: Mapped[str | None] = mapped_column(String(64))
    to_e164: Mapped[str | None] = mapped_column(String(20), index=True)
    to_raw: Mapped[str | None] = mapped_column(String(64))
    did: Mapped[str | None] = mapped_column(String(64))
    wait_s: Mapped[float | None]
    talk_s: Mapped[float | None]
    recording_ref: Mapped[str | None] = mapped_column(String(500))
    transcript_ref: Mapped[str | None] = mapped_column(String(500))
    call_meta: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # The agent's wrap-up (its notes are the body). Columns of their own, not call_meta: the CRM writer rewrites a
    # call's fields and call_meta on replays, and an UPDATE of other columns can never lose these.
    disposition: Mapped[Disposition | None] = mapped_column(StrEnumType(Disposition))
    disposition_at: Mapped[datetime | None]
    # What the call reports group and add up, derived from call_meta whenever it is written (crm_core.call_facts), so
    # a month of a large floor's figures is one GROUP BY over columns, never a JSON parse per call.
    routed_team: Mapped[str | None] = mapped_column(String(120))  # its last routing decision's team (reports' team)
    agent_ext: Mapped[str | None] = mapped_column(String(32))  # the agent the call counts under (answered / last rung)
    queue: Mapped[str | None] = mapped_column(String(64))
    wrapup_s: Mapped[float | None]  # after-call work booked on it; None: not measured, never a made-up 0
    transferred: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    end_estimated: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    # The start of the next inbound call from the same number (first-contact resolution looks no further).
    next_call_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = _created()


@event.listens_for(Activity, "before_insert")
@event.listens_for(Activity, "before_update")
def _derive_call_columns(_mapper: Any, _connection: Any, activity: Activity) -> None:
    kind = activity.kind.value if isinstance(activity.kind, enum.Enum) else activity.kind
    for name, value in derived_columns(kind, activity.result, activity.call_meta).items():
        setattr(activity, name, value)


@event.listens_for(Activity, "after_insert")
def _link_next_call(_mapper: Any, connection: Any, activity: Activity) -> None:
    link_next_call(connection, activity)


@event.listens_for(Activity, "after_update")
def _relink_next_call(_mapper: Any, connection: Any, activity: Activity) -> None:
    # Only when what orders a number's calls changed: a call's later writes (wrap-up, recording, disposition) leave
    # its neighbours alone, so the CRM writer pays two statements per call, not per update.
    state = inspect(activity)
    if state.attrs.started_at.history.has_changes() or state.attrs.from_e164.history.has_changes():
        link_next_call(connection, activity)


class Task(Base):
    __tablename__ = "tasks"
    __audited__ = True
    __table_args__ = (
        Index("ix_tasks_assignee_status_due", "assignee_id", "status", "due_at"),
        # One open callback per number: missed calls from the same number merge into it, enforced by the database.
        Index(
            "uq_tasks_open_callback",
            "callback_e164",
            unique=True,
            sqlite_where=text("status = 'open' AND kind = 'callback'"),
            postgresql_where=text("status = 'open' AND kind = 'callback'"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    kind: Mapped[TaskKind] = mapped_column(StrEnumType(TaskKind), default=TaskKind.TASK)
    status: Mapped[TaskStatus] = mapped_column(StrEnumType(TaskStatus), default=TaskStatus.OPEN)
    priority: Mapped[int] = mapped_column(default=0)
    assignee_id: Mapped[int | None] = _fk("users.id", index=False)
    # Whose work it is. An unassigned task is in this team's pool: only this team's supervisor hands it out and only
    # its agents see it (crm_core.access.task_filter); no team: only admins see it while nobody has it.
    team_id: Mapped[int | None] = _fk("teams.id")
    due_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    contact_id: Mapped[int | None] = _fk("contacts.id")
    company_id: Mapped[int | None] = _fk("companies.id")
    lead_id: Mapped[int | None] = _fk("leads.id")
    deal_id: Mapped[int | None] = _fk("deals.id")
    created_by_id: Mapped[int | None] = _fk("users.id", index=False)
    # Callbacks: the number to call back, how many missed calls merged into it, and unanswered attempts.
    callback_e164: Mapped[str | None] = mapped_column(String(20))
    missed_count: Mapped[int] = mapped_column(default=0)
    attempt_count: Mapped[int] = mapped_column(default=0)
    # A dialer campaign's callback (promised on one of its calls): the campaign it is for (callcenter.dialer).
    campaign_id: Mapped[int | None] = _fk("dialer_campaigns.id")
    # What created it automatically (an automation rule and its fact), so a replayed fact never makes a second task.
    source_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _updated()


# uq_tasks_open_callback's own condition, written as literals: a planner uses a partial index only when it can see
# the query implies the index's WHERE, which bound parameters hide (SQLite then scanned every open callback).
OPEN_CALLBACK = and_(Task.status == literal_column("'open'"), Task.kind == literal_column("'callback'"))


class CustomFieldDef(Base):
    __tablename__ = "custom_field_defs"
    __audited__ = True
    __table_args__ = (UniqueConstraint("entity", "key", name="uq_custom_field_defs_entity_key"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    entity: Mapped[Entity] = mapped_column(StrEnumType(Entity))
    key: Mapped[str] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(String(200))
    field_type: Mapped[FieldType] = mapped_column(StrEnumType(FieldType))
    choices: Mapped[list[str]] = mapped_column(JSON, default=list)
    required: Mapped[bool] = mapped_column(Boolean, default=False)
    # Deals: required only from this stage on (e.g. "contract number" once a deal reaches "Contract").
    required_from_stage_id: Mapped[int | None] = _fk("pipeline_stages.id", index=False, ondelete="CASCADE")
    position: Mapped[int] = mapped_column(default=0)


class AuditEntry(Base):
    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_entity", "entity", "entity_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(BigId)
    entity: Mapped[str] = mapped_column(String(64))
    entity_id: Mapped[int] = mapped_column(BigId)
    action: Mapped[str] = mapped_column(String(16))
    changes: Mapped[dict[str, Any]] = mapped_column(default=dict)


class DeliveryStatus(str, enum.Enum):
    PENDING = "pending"
    DELIVERED = "delivered"
    DEAD = "dead"


class WebhookDelivery(Base):
    """Outbox of webhook calls: written in the transaction of the fact that caused it, delivered with retries."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    rule: Mapped[str] = mapped_column(String(120))
    url: Mapped[str] = mapped_column(String(2000))
    event: Mapped[str] = mapped_column(String(64))
    # Keyed by the fact (e.g. "lead.created:17"), so a replayed fact never sends twice.
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[DeliveryStatus] = mapped_column(StrEnumType(DeliveryStatus), default=DeliveryStatus.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_error: Mapped[str | None] = mapped_column(String(500))
    response_status: Mapped[int | None]
    created_at: Mapped[datetime] = _created()
    delivered_at: Mapped[datetime | None]


class Notification(Base):
    """Something a supervisor or agent must see (overdue callback, missed VIP call); shown on the wallboard."""

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    team_id: Mapped[int | None] = _fk("teams.id")
    user_id: Mapped[int | None] = _fk("users.id")
    message: Mapped[str] = mapped_column(String(500))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = _created()
    read_at: Mapped[datetime | None]
