"""A saved report's definition (entity, filters, columns, sort, limit) and the fields each entity offers.

Pure: no SQL here (callcenter.reports.query turns a checked definition into a select). Checking happens in two steps:
pydantic checks the shape (``ReportDefinition``, extra keys refused), ``check`` checks it against the entity's field
catalogue (own fields, custom fields, computed fields) and types every value, naming the field path of any error
(``filters[2].value``, ``columns[0]``, ``sort.field``).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from callcenter.events import CallOutcome
from crm_core.errors import Invalid
from crm_core.input_rules import check_text
from crm_core.schemas import TAG_PATTERN
from crm_core.models import (
    ActivityKind,
    CallConsent,
    CustomFieldDef,
    DealStatus,
    Direction,
    Disposition,
    Entity,
    FieldType,
    LeadStatus,
    StageKind,
    TaskKind,
    TaskStatus,
)

MAX_FILTERS = 30
MAX_COLUMNS = 60
MAX_IN_VALUES = 1000
MAX_TEXT = 500
MAX_DAYS = 36_500
MAX_ROWS = 10_000_000
INT64_MAX = 2**63 - 1
CUSTOM_PREFIX = "custom."
TAG = re.compile(TAG_PATTERN)  # as the CRM accepts tags


class ReportEntity(str, enum.Enum):
    CONTACTS = "contacts"
    COMPANIES = "companies"
    LEADS = "leads"
    DEALS = "deals"
    ACTIVITIES = "activities"
    TASKS = "tasks"


# The record kinds whose custom fields (CustomFieldDef.entity) a report may read.
CUSTOM_ENTITY = {
    ReportEntity.CONTACTS: Entity.CONTACT,
    ReportEntity.COMPANIES: Entity.COMPANY,
    ReportEntity.LEADS: Entity.LEAD,
    ReportEntity.DEALS: Entity.DEAL,
}


class FilterOp(str, enum.Enum):
    EQ = "eq"
    NE = "ne"
    IN = "in"
    NOT_IN = "not_in"
    LT = "lt"
    LTE = "lte"
    GT = "gt"
    GTE = "gte"
    BETWEEN = "between"
    CONTAINS = "contains"
    IS_NULL = "is_null"
    NOT_NULL = "not_null"
    WITHIN_LAST_DAYS = "within_last_days"
    OLDER_THAN_DAYS = "older_than_days"


Op = FilterOp  # the short name the query builder uses


class Kind(str, enum.Enum):
    """A field's type, which decides the operators it takes and how its values are read and exported."""

    TEXT = "text"
    CHOICE = "choice"
    INTEGER = "integer"
    NUMBER = "number"
    DATETIME = "datetime"
    DATE = "date"
    BOOL = "bool"
    TAGS = "tags"


_ORDERED = {Op.LT, Op.LTE, Op.GT, Op.GTE, Op.BETWEEN}
_NULLS = {Op.IS_NULL, Op.NOT_NULL}
_SETS = {Op.EQ, Op.NE, Op.IN, Op.NOT_IN}
_AGES = {Op.WITHIN_LAST_DAYS, Op.OLDER_THAN_DAYS}
OPS: dict[Kind, frozenset[Op]] = {
    Kind.TEXT: frozenset(_SETS | _NULLS | {Op.CONTAINS}),
    Kind.CHOICE: frozenset(_SETS | _NULLS),
    Kind.INTEGER: frozenset(_SETS | _NULLS | _ORDERED),
    Kind.NUMBER: frozenset(_SETS | _NULLS | _ORDERED),
    Kind.DATETIME: frozenset(_ORDERED | _NULLS | _AGES),
    Kind.DATE: frozenset({Op.EQ, Op.NE} | _ORDERED | _NULLS | _AGES),
    Kind.BOOL: frozenset({Op.EQ, Op.NE}),
    # contains: has this tag; in: has any of them; not_in: has none of them; is_null: no tags; not_null: some.
    Kind.TAGS: frozenset({Op.CONTAINS, Op.IN, Op.NOT_IN} | _NULLS),
}
# Only these sort (a list of tags has no order).
SORTABLE = frozenset(Kind) - {Kind.TAGS}


# -- the definition as a client writes it --------------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ReportFilter(_Strict):
    field: str = Field(min_length=1, max_length=120)
    op: FilterOp
    # Typed by the field's kind in ``check``: a string, number, bool, ISO date(-time), a list for in / not_in /
    # between, a whole number of days for within_last_days / older_than_days, nothing for is_null / not_null.
    value: Any = None


class ReportSortDirection(str, enum.Enum):
    ASC = "asc"
    DESC = "desc"


class ReportSort(_Strict):
    field: str = Field(min_length=1, max_length=120)
    direction: ReportSortDirection = ReportSortDirection.ASC


class ReportDefinition(_Strict):
    """What a report shows: rows of one entity passing every filter (AND), these columns, in this order.

    No sort: by id. Ties in the sort field are broken by id, which makes the order total (the cursor relies on it).
    ``limit``: at most this many rows in all (a "top 100"); none: every row the reader may see."""

    entity: ReportEntity
    filters: list[ReportFilter] = Field(default_factory=list, max_length=MAX_FILTERS)
    columns: list[str] = Field(default_factory=list, max_length=MAX_COLUMNS)
    sort: ReportSort | None = None
    limit: int | None = Field(default=None, ge=1, le=MAX_ROWS)


def parse_definition(data: Any) -> ReportDefinition:
    """A definition from stored or posted JSON, its shape errors as one Invalid naming the path (``filters[2].op``)."""
    try:
        return ReportDefinition.model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        raise Invalid(first["msg"], field=field_path(first["loc"]) or "definition") from None


def field_path(loc: Iterable[Any]) -> str:
    """("filters", 2, "value") -> "filters[2].value"."""
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


# -- the field catalogue -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FieldSpec:
    name: str
    label: str
    kind: Kind
    choices: tuple[str, ...] = ()
    # Derived from other tables (last call, open callback, ...) rather than a column of the entity's own.
    computed: bool = False
    # For "last ..." dates: never is older than any age (older_than_days matches records never contacted).
    never_is_old: bool = False

    @property
    def ops(self) -> frozenset[Op]:
        return OPS[self.kind]


def _choices(enum_type: Any) -> tuple[str, ...]:
    return tuple(e.value for e in enum_type)


def _f(name: str, label: str, kind: Kind, choices: Any = (), **kw: Any) -> FieldSpec:
    return FieldSpec(name, label, kind, _choices(choices) if isinstance(choices, type) else tuple(choices), **kw)


_OWNER = [
    _f("id", "Id", Kind.INTEGER),
    _f("owner_id", "Owner id", Kind.INTEGER),
    _f("owner_name", "Owner", Kind.TEXT, computed=True),
    _f("team_id", "Owner's team id", Kind.INTEGER, computed=True),
    _f("team_name", "Owner's team", Kind.TEXT, computed=True),
]
_DATES = [_f("created_at", "Created", Kind.DATETIME), _f("updated_at", "Updated", Kind.DATETIME)]
# What the dialer filters on: calls and contacts linked to the record, its open callback, its first number.
_CONTACTED = [
    _f("last_call_at", "Last call", Kind.DATETIME, computed=True, never_is_old=True),
    _f("last_call_outcome", "Last call outcome", Kind.CHOICE, CallOutcome, computed=True),
    _f("last_call_disposition", "Last call disposition", Kind.CHOICE, Disposition, computed=True),
    _f("last_contact_at", "Last contacted (call, meeting, e-mail)", Kind.DATETIME, computed=True, never_is_old=True),
    _f("open_callback", "Open callback", Kind.BOOL, computed=True),
    _f("primary_phone", "Phone (E.164)", Kind.TEXT, computed=True),
]
_CALLING = [
    _f("do_not_call", "Do not call", Kind.BOOL),
    _f("call_consent", "Call consent", Kind.CHOICE, CallConsent),
    _f("tags", "Tags", Kind.TAGS),
]

CATALOGUE: dict[ReportEntity, tuple[FieldSpec, ...]] = {
    ReportEntity.CONTACTS: tuple(
        _OWNER
        + [
            _f("first_name", "First name", Kind.TEXT),
            _f("last_name", "Last name", Kind.TEXT),
            _f("position", "Position", Kind.TEXT),
            _f("company_id", "Company id", Kind.INTEGER),
            _f("company_name", "Company", Kind.TEXT, computed=True),
        ]
        + _CALLING + _CONTACTED + _DATES
    ),
    ReportEntity.COMPANIES: tuple(
        _OWNER + [_f("name", "Name", Kind.TEXT), _f("website", "Website", Kind.TEXT)] + _CONTACTED + _DATES
    ),
    ReportEntity.LEADS: tuple(
        _OWNER
        + [
            _f("title", "Title", Kind.TEXT),
            _f("person_name", "Person", Kind.TEXT),
            _f("company_name", "Company", Kind.TEXT),
            _f("status", "Status", Kind.CHOICE, LeadStatus),
            _f("source", "Source", Kind.TEXT),
            _f("channel", "Channel", Kind.TEXT),
            _f("product_interest", "Product interest", Kind.TEXT),
            _f("converted_at", "Converted", Kind.DATETIME),
        ]
        + _CALLING + _CONTACTED + _DATES
    ),
    ReportEntity.DEALS: tuple(
        _OWNER
        + [
            _f("title", "Title", Kind.TEXT),
            _f("pipeline_id", "Pipeline id", Kind.INTEGER),
            _f("stage_id", "Stage id", Kind.INTEGER),
            _f("stage_name", "Stage", Kind.TEXT, computed=True),
            _f("stage_kind", "Stage kind", Kind.CHOICE, StageKind, computed=True),
            _f("status", "Status", Kind.CHOICE, DealStatus),
            _f("amount", "Amount", Kind.NUMBER),
            _f("currency", "Currency", Kind.TEXT),
            _f("contact_id", "Contact id", Kind.INTEGER),
            _f("company_id", "Company id", Kind.INTEGER),
            _f("lead_id", "Lead id", Kind.INTEGER),
            _f("closed_at", "Closed", Kind.DATETIME),
            # The deal's contact's flag: a deal is dialled through its contact.
            _f("do_not_call", "Do not call (contact)", Kind.BOOL, computed=True),
        ]
        + _CONTACTED + _DATES
    ),
    ReportEntity.ACTIVITIES: tuple(
        _OWNER
        + [
            _f("kind", "Kind", Kind.CHOICE, ActivityKind),
            _f("direction", "Direction", Kind.CHOICE, Direction),
            _f("subject", "Subject", Kind.TEXT),
            _f("started_at", "Started", Kind.DATETIME),
            _f("ended_at", "Ended", Kind.DATETIME),
            _f("result", "Call outcome", Kind.CHOICE, CallOutcome),
            _f("disposition", "Disposition", Kind.CHOICE, Disposition),
            _f("call_team_id", "Call's team id", Kind.INTEGER),
            _f("contact_id", "Contact id", Kind.INTEGER),
            _f("company_id", "Company id", Kind.INTEGER),
            _f("lead_id", "Lead id", Kind.INTEGER),
            _f("deal_id", "Deal id", Kind.INTEGER),
            _f("from_e164", "From", Kind.TEXT),
            _f("to_e164", "To", Kind.TEXT),
            _f("did", "DID", Kind.TEXT),
            _f("wait_s", "Wait (s)", Kind.NUMBER),
            _f("talk_s", "Talk (s)", Kind.NUMBER),
            # A call's report columns (crm_core.call_facts), as the call analytics count it.
            _f("routed_team", "Routed to team", Kind.TEXT),
            _f("agent_ext", "Agent (extension)", Kind.TEXT),
            _f("queue", "Queue", Kind.TEXT),
            _f("wrapup_s", "Wrap-up (s)", Kind.NUMBER),
            _f("transferred", "Transferred", Kind.BOOL),
            _f("primary_phone", "Customer's number (E.164)", Kind.TEXT, computed=True),
            _f("created_at", "Created", Kind.DATETIME),
        ]
    ),
    ReportEntity.TASKS: tuple(
        _OWNER
        + [
            _f("title", "Title", Kind.TEXT),
            _f("kind", "Kind", Kind.CHOICE, TaskKind),
            _f("status", "Status", Kind.CHOICE, TaskStatus),
            _f("priority", "Priority", Kind.INTEGER),
            _f("task_team_id", "Task's team id", Kind.INTEGER),
            _f("due_at", "Due", Kind.DATETIME),
            _f("completed_at", "Completed", Kind.DATETIME),
            _f("contact_id", "Contact id", Kind.INTEGER),
            _f("company_id", "Company id", Kind.INTEGER),
            _f("lead_id", "Lead id", Kind.INTEGER),
            _f("deal_id", "Deal id", Kind.INTEGER),
            _f("primary_phone", "Callback number (E.164)", Kind.TEXT),
            _f("missed_count", "Missed calls", Kind.INTEGER),
            _f("attempt_count", "Attempts", Kind.INTEGER),
        ]
        + _DATES
    ),
}

# Shown when a definition names no columns.
DEFAULT_COLUMNS: dict[ReportEntity, tuple[str, ...]] = {
    ReportEntity.CONTACTS: (
        "id", "first_name", "last_name", "company_name", "primary_phone", "owner_name", "last_call_at"
    ),
    ReportEntity.COMPANIES: ("id", "name", "primary_phone", "owner_name", "last_call_at"),
    ReportEntity.LEADS: ("id", "title", "person_name", "status", "source", "primary_phone", "owner_name"),
    ReportEntity.DEALS: ("id", "title", "stage_name", "status", "amount", "currency", "owner_name"),
    ReportEntity.ACTIVITIES: ("id", "kind", "direction", "started_at", "result", "owner_name", "primary_phone"),
    ReportEntity.TASKS: ("id", "title", "kind", "status", "due_at", "owner_name", "primary_phone"),
}

_CUSTOM_KIND = {FieldType.STRING: Kind.TEXT, FieldType.NUMBER: Kind.NUMBER, FieldType.DATE: Kind.DATE,
                FieldType.CHOICE: Kind.CHOICE}


@dataclass(frozen=True, slots=True)
class Catalogue:
    """The fields one entity offers a report, custom fields included (as ``custom.<key>``)."""

    entity: ReportEntity
    fields: dict[str, FieldSpec]

    def get(self, name: str) -> FieldSpec | None:
        return self.fields.get(name)


def catalogue(entity: ReportEntity, custom: Iterable[CustomFieldDef] = ()) -> Catalogue:
    fields = {spec.name: spec for spec in CATALOGUE[entity]}
    for definition in sorted(custom, key=lambda d: (d.position, d.key)):
        name = CUSTOM_PREFIX + definition.key
        fields[name] = FieldSpec(
            name, definition.label, _CUSTOM_KIND[definition.field_type], tuple(definition.choices or ())
        )
    return Catalogue(entity, fields)


# -- checking a definition against the catalogue -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Condition:
    """One filter, checked: the field it reads and its value typed for that field (None for is_null / not_null)."""

    spec: FieldSpec
    op: FilterOp
    value: Any


@dataclass(frozen=True, slots=True)
class Checked:
    """A definition checked against its entity's catalogue: what the query builder and the exports read."""

    definition: ReportDefinition
    catalogue: Catalogue
    conditions: tuple[Condition, ...]
    columns: tuple[FieldSpec, ...]
    sort: FieldSpec
    descending: bool
    limit: int | None = None


def _field(catalogue_: Catalogue, name: str, path: str) -> FieldSpec:
    spec = catalogue_.get(name)
    if spec is None:
        known = ", ".join(sorted(catalogue_.fields))
        raise Invalid(f"no field {name!r} on {catalogue_.entity.value}; fields: {known}", field=path)
    return spec


def check(definition: ReportDefinition, catalogue_: Catalogue) -> Checked:
    if definition.entity is not catalogue_.entity:
        raise Invalid("the catalogue is another entity's", field="entity")
    conditions = []
    for i, item in enumerate(definition.filters):
        spec = _field(catalogue_, item.field, f"filters[{i}].field")
        if item.op not in spec.ops:
            allowed = ", ".join(sorted(op.value for op in spec.ops))
            raise Invalid(f"{item.op.value} does not apply to {spec.name} ({spec.kind.value}); use {allowed}",
                          field=f"filters[{i}].op")
        conditions.append(Condition(spec, item.op, typed_value(spec, item.op, item.value, f"filters[{i}].value")))
    names = definition.columns or list(DEFAULT_COLUMNS[definition.entity])
    columns = []
    for i, name in enumerate(names):
        spec = _field(catalogue_, name, f"columns[{i}]")
        if spec in columns:
            raise Invalid(f"column {name} is listed twice", field=f"columns[{i}]")
        columns.append(spec)
    sort = catalogue_.fields["id"]
    descending = False
    if definition.sort is not None:
        sort = _field(catalogue_, definition.sort.field, "sort.field")
        if sort.kind not in SORTABLE:
            raise Invalid(f"{sort.name} ({sort.kind.value}) cannot be sorted by", field="sort.field")
        descending = definition.sort.direction is ReportSortDirection.DESC
    return Checked(definition, catalogue_, tuple(conditions), tuple(columns), sort, descending, definition.limit)


def typed_value(spec: FieldSpec, op: Op, value: Any, path: str) -> Any:
    """The filter's value as the query compares it, or Invalid naming ``path``."""
    if op in _NULLS:
        if value is not None:
            raise Invalid(f"{op.value} takes no value", field=path)
        return None
    if op in _AGES:
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_DAYS:
            raise Invalid(f"{op.value} takes a whole number of days, 0 to {MAX_DAYS}", field=path)
        return value
    if spec.kind is Kind.TAGS:
        if op is Op.CONTAINS:
            return _tag(value, path)
        return tuple(_tag(v, f"{path}[{j}]") for j, v in enumerate(_list(value, path)))
    if op in (Op.IN, Op.NOT_IN):
        return tuple(_scalar(spec, v, f"{path}[{j}]") for j, v in enumerate(_list(value, path)))
    if op is Op.BETWEEN:
        if not isinstance(value, list) or len(value) != 2:
            raise Invalid("between takes [low, high]", field=path)
        low, high = _scalar(spec, value[0], f"{path}[0]"), _scalar(spec, value[1], f"{path}[1]")
        if low > high:
            raise Invalid("between takes [low, high] with low <= high", field=path)
        return (low, high)
    if op is Op.CONTAINS:
        return _text(value, path)
    return _scalar(spec, value, path)


def _list(value: Any, path: str) -> list[Any]:
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_IN_VALUES:
        raise Invalid(f"takes a list of 1 to {MAX_IN_VALUES} values", field=path)
    return value


def _text(value: Any, path: str) -> str:
    if not isinstance(value, str) or len(value) > MAX_TEXT:
        raise Invalid(f"must be text of at most {MAX_TEXT} characters", field=path)
    try:
        check_text(value, multiline=False)  # a NUL would break a PostgreSQL query
    except ValueError as exc:
        raise Invalid(str(exc), field=path) from None
    return value


def _tag(value: Any, path: str) -> str:
    if not isinstance(value, str) or not TAG.fullmatch(value):
        raise Invalid("a tag is 1 to 40 letters, digits, spaces or . : / + - _ (starting with a letter or digit)",
                      field=path)
    return value


def _scalar(spec: FieldSpec, value: Any, path: str) -> Any:
    kind = spec.kind
    if kind is Kind.TEXT:
        return _text(value, path)
    if kind is Kind.CHOICE:
        if value not in spec.choices or not isinstance(value, str):
            raise Invalid(f"must be one of {', '.join(spec.choices)}", field=path)
        return value
    if kind is Kind.BOOL:
        if not isinstance(value, bool):
            raise Invalid("must be true or false", field=path)
        return value
    if kind is Kind.INTEGER:
        if isinstance(value, bool) or not isinstance(value, int) or not -INT64_MAX <= value <= INT64_MAX:
            raise Invalid("must be a whole number", field=path)
        return value
    if kind is Kind.NUMBER:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise Invalid("must be a number", field=path)
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            raise Invalid("must be a number", field=path) from None
        if not number.is_finite() or abs(number) >= Decimal(10) ** 15:
            raise Invalid("must be a finite number below 10^15", field=path)
        return number
    if kind is Kind.DATE:
        try:
            return date.fromisoformat(value).isoformat() if isinstance(value, str) and len(value) == 10 else _bad()
        except ValueError:
            raise Invalid("must be a date (YYYY-MM-DD)", field=path) from None
    if kind is Kind.DATETIME:
        return parse_instant(value, path)
    raise Invalid(f"{spec.name} takes no value", field=path)  # pragma: no cover (tags handled above)


def _bad() -> Any:
    raise ValueError("bad")


def parse_instant(value: Any, path: str) -> datetime:
    """An ISO 8601 date-time with its offset (2026-01-31T09:00:00Z), or Invalid naming ``path``."""
    try:
        if not isinstance(value, str) or len(value) > 64:
            raise ValueError
        parsed = datetime.fromisoformat(value)
        if parsed.tzinfo is None:
            raise Invalid("give a time zone (e.g. 2026-01-31T09:00:00Z)", field=path)
        # Must exist in UTC (0001-01-01T00:00:00+14:00 does not); the year bounds keep both databases happy.
        utc = parsed.astimezone(timezone.utc)
        if not 1 <= utc.year <= 9998:
            raise ValueError
        return utc
    except (ValueError, OverflowError):
        raise Invalid("must be a date-time with a time zone (e.g. 2026-01-31T09:00:00Z)", field=path) from None


def column_names(checked: Checked) -> Sequence[str]:
    return [spec.name for spec in checked.columns]
