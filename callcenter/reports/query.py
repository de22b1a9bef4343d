"""A report definition evaluated in SQL: the reader's role scope applied, paged with a keyset cursor.

Every field is one SQL expression (a column, a custom field in the JSON ``custom`` column, or a correlated subquery
for the computed ones: last call, open callback, primary phone). The rows a reader gets are those the CRM would show
them (crm_core.access), and the computed fields read only calls and tasks the reader may see, so a report never tells
more than its reader may read.

Paging is by keyset, never OFFSET: rows come ordered by (sort field, id), nulls last, and a page starts after the
(sort value, id) of the last row of the page before, carried in an opaque cursor. A row inserted between pages never
shifts the others, so every row that existed when paging began comes exactly once.
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Float,
    Numeric,
    and_,
    case,
    cast,
    exists,
    false,
    func,
    literal,
    not_,
    or_,
    select,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.schema import Column as TableColumn

from callcenter.reports.definition import (
    CATALOGUE,
    CUSTOM_ENTITY,
    CUSTOM_PREFIX,
    DEFAULT_COLUMNS,
    Catalogue,
    Checked,
    Condition,
    FieldSpec,
    Kind,
    Op,
    ReportDefinition,
    ReportEntity,
    catalogue,
    check,
)
from crm_core.access import Principal, activity_filter, owner_filter, task_filter
from crm_core.errors import Invalid
from crm_core.models import (
    Activity,
    ActivityKind,
    Company,
    Contact,
    CustomFieldDef,
    Deal,
    Lead,
    Phone,
    PipelineStage,
    Role,
    Task,
    TaskKind,
    TaskStatus,
    Team,
    User,
)
from crm_core.types import utcnow

MAX_PAGE_ROWS = 1000
MAX_CURSOR_CHARS = 2000
# Kinds of activity that count as having been in touch with someone ("not contacted for N days").
CONTACT_KINDS = (ActivityKind.CALL, ActivityKind.MEETING, ActivityKind.EMAIL)

_MODELS: dict[ReportEntity, Any] = {
    ReportEntity.CONTACTS: Contact,
    ReportEntity.COMPANIES: Company,
    ReportEntity.LEADS: Lead,
    ReportEntity.DEALS: Deal,
    ReportEntity.ACTIVITIES: Activity,
    ReportEntity.TASKS: Task,
}
_OWNER_COLUMN = {ReportEntity.ACTIVITIES: "user_id", ReportEntity.TASKS: "assignee_id"}
# The column on activities, tasks and phones that links them to a record of this entity.
_LINK = {
    ReportEntity.CONTACTS: "contact_id",
    ReportEntity.COMPANIES: "company_id",
    ReportEntity.LEADS: "lead_id",
    ReportEntity.DEALS: "deal_id",
}


@dataclass(frozen=True, slots=True)
class Column:
    """A column of a report's output: its field name, heading and type (a definition.Kind value)."""

    name: str
    label: str
    type: str


class CursorError(Invalid):
    """A cursor that is not one this report gave out (corrupt, or from other filters or sort)."""


@dataclass(frozen=True, slots=True)
class Page:
    rows: list[dict[str, Any]]
    # None: this was the last page.
    next_cursor: str | None


# -- the catalogue and the checked definition --------------------------------------------------------------------


async def load_catalogue(session: AsyncSession, entity: ReportEntity) -> Catalogue:
    """The entity's fields, its custom fields included (read from CustomFieldDef)."""
    custom_entity = CUSTOM_ENTITY.get(entity)
    defs = [] if custom_entity is None else list(
        await session.scalars(select(CustomFieldDef).where(CustomFieldDef.entity == custom_entity))
    )
    return catalogue(entity, defs)


async def prepare(session: AsyncSession, definition: ReportDefinition) -> Checked:
    """The definition checked against the entity's current fields (Invalid naming the path, e.g. filters[2].value)."""
    return check(definition, await load_catalogue(session, definition.entity))


def columns_of(definition: ReportDefinition | Checked, catalogue_: Catalogue | None = None) -> list[Column]:
    """The output columns. A custom field's heading and type come from its definition when ``catalogue_`` (or an
    already checked definition) is given; without one a custom field reads as text headed by its key."""
    if isinstance(definition, Checked):
        return [Column(s.name, s.label, s.kind.value) for s in definition.columns]
    known = catalogue_ or catalogue(definition.entity)
    out = []
    for name in definition.columns or DEFAULT_COLUMNS[definition.entity]:
        spec = known.get(name)
        if spec is None and name.startswith(CUSTOM_PREFIX):
            spec = FieldSpec(name, name[len(CUSTOM_PREFIX):], Kind.TEXT)
        if spec is None:
            raise Invalid(f"no field {name!r} on {definition.entity.value}", field="columns")
        out.append(Column(spec.name, spec.label, spec.kind.value))
    return out


# -- fields as SQL ------------------------------------------------------------------------------------------------


def _visible_activity(principal: Principal) -> ColumnElement[bool]:
    """The activities a reader sees, as crm_core.work lists them: agents also what they logged themselves."""
    if principal.role is Role.AGENT and principal.user_id is not None:
        return or_(activity_filter(principal), Activity.created_by_id == principal.user_id)
    return activity_filter(principal)


def scope(entity: ReportEntity, principal: Principal) -> ColumnElement[bool]:
    """The rows of ``entity`` that ``principal`` may read (crm_core.access)."""
    if principal.scope is not None:
        return false()  # a restricted token (a wallboard's) reads no CRM records
    if entity is ReportEntity.ACTIVITIES:
        return _visible_activity(principal)
    if entity is ReportEntity.TASKS:
        return task_filter(principal)
    return owner_filter(principal, _MODELS[entity].responsible_id)


Expr = Callable[[], ColumnElement[Any]]


def _expressions(entity: ReportEntity, principal: Principal) -> dict[str, Expr]:
    """Each catalogue field of ``entity`` as an SQL expression (built on demand: only fields a report uses)."""
    model = _MODELS[entity]
    owner = getattr(model, _OWNER_COLUMN.get(entity, "responsible_id"))
    exprs: dict[str, Expr] = {
        "id": lambda: model.id,
        "owner_id": lambda: owner,
        "owner_name": lambda: select(User.name).where(User.id == owner).scalar_subquery(),
        "team_id": lambda: select(User.team_id).where(User.id == owner).scalar_subquery(),
        "team_name": lambda: select(Team.name).join(User, User.team_id == Team.id).where(User.id == owner)
        .scalar_subquery(),
    }
    for name in ("created_at", "updated_at"):
        if hasattr(model, name):
            exprs[name] = (lambda n: lambda: getattr(model, n))(name)
    own = {spec.name for spec in CATALOGUE[entity] if not spec.computed} - set(exprs)
    for name in own:
        column = {"call_team_id": "team_id", "task_team_id": "team_id"}.get(name, name)
        if entity is ReportEntity.TASKS and name == "primary_phone":
            column = "callback_e164"
        exprs[name] = (lambda c: lambda: getattr(model, c))(column)
    if entity in _LINK:
        exprs.update(_contacted(entity, model, principal))
    if entity is ReportEntity.CONTACTS:
        exprs["company_name"] = lambda: select(Company.name).where(Company.id == Contact.company_id).scalar_subquery()
    if entity is ReportEntity.DEALS:
        stage = PipelineStage.id == Deal.stage_id
        exprs["stage_name"] = lambda: select(PipelineStage.name).where(stage).scalar_subquery()
        exprs["stage_kind"] = lambda: select(PipelineStage.kind).where(stage).scalar_subquery()
        exprs["do_not_call"] = lambda: func.coalesce(
            select(Contact.do_not_call).where(Contact.id == Deal.contact_id).scalar_subquery(), false()
        )
    if entity is ReportEntity.ACTIVITIES:
        exprs["primary_phone"] = lambda: func.coalesce(Activity.from_e164, Activity.to_e164)
    return exprs


def _contacted(entity: ReportEntity, model: Any, principal: Principal) -> dict[str, Expr]:
    """Computed fields of a record from the calls, tasks and numbers linked to it, within what the reader sees."""
    link = _LINK[entity]

    def calls(*kinds: ActivityKind) -> list[ColumnElement[bool]]:
        return [getattr(Activity, link) == model.id, Activity.kind.in_(kinds), _visible_activity(principal)]

    def last_call(column: Any) -> ColumnElement[Any]:
        return (
            select(column).where(*calls(ActivityKind.CALL))
            .order_by(Activity.started_at.desc(), Activity.id.desc()).limit(1).scalar_subquery()
        )

    def numbers() -> Any:
        if entity is ReportEntity.DEALS:  # a deal is reached on its contact's numbers, else its company's
            return select(Phone.e164).where(
                or_(and_(Phone.contact_id == Deal.contact_id, Deal.contact_id.is_not(None)),
                    and_(Phone.company_id == Deal.company_id, Deal.company_id.is_not(None)))
            ).correlate(Deal)
        # Correlated explicitly: two levels down, SQLAlchemy would otherwise add the record's table to the FROM.
        return select(Phone.e164).where(getattr(Phone, link) == model.id).correlate(model)

    def primary_phone() -> ColumnElement[Any]:
        if entity is ReportEntity.DEALS:
            first = select(Phone.e164).where(Phone.contact_id == Deal.contact_id).order_by(Phone.id).limit(1)
            company = select(Phone.e164).where(Phone.company_id == Deal.company_id).order_by(Phone.id).limit(1)
            return func.coalesce(first.scalar_subquery(), company.scalar_subquery())
        return select(Phone.e164).where(getattr(Phone, link) == model.id).order_by(Phone.id).limit(1).scalar_subquery()

    def open_callback() -> ColumnElement[Any]:
        return exists(
            select(Task.id).where(
                Task.kind == TaskKind.CALLBACK, Task.status == TaskStatus.OPEN, task_filter(principal),
                or_(getattr(Task, link) == model.id, Task.callback_e164.in_(numbers())),
            )
        )

    def latest(*kinds: ActivityKind) -> ColumnElement[Any]:
        return select(func.max(Activity.started_at)).where(*calls(*kinds)).scalar_subquery()

    return {
        "last_call_at": lambda: latest(ActivityKind.CALL),
        "last_call_outcome": lambda: last_call(Activity.result),
        "last_call_disposition": lambda: last_call(Activity.disposition),
        "last_contact_at": lambda: latest(*CONTACT_KINDS),
        "open_callback": open_callback,
        "primary_phone": primary_phone,
    }


def _custom(model: Any, spec: FieldSpec) -> ColumnElement[Any]:
    value = model.custom[spec.name[len(CUSTOM_PREFIX):]]
    return value.as_float() if spec.kind is Kind.NUMBER else value.as_string()


# -- conditions --------------------------------------------------------------------------------------------------


def _bind(expr: Any, value: Any) -> Any:
    """A number as the expression's type wants it (asyncpg takes no Decimal for a float column)."""
    if isinstance(value, Decimal) and isinstance(expr.type, Float):
        return float(value)
    if isinstance(value, Decimal) and not isinstance(expr.type, Numeric):
        return float(value)
    return value


def _like(text: str) -> str:
    return "%" + text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _tags_any(expr: Any, tags: tuple[str, ...], dialect: str) -> ColumnElement[bool]:
    if dialect == "postgresql":
        return or_(*(cast(expr, JSONB).contains([tag]) for tag in tags))
    each = func.json_each(expr).table_valued("value")
    return exists(select(literal(1)).select_from(each).where(each.c.value.in_(tags)))


def _tags_empty(expr: Any, dialect: str) -> ColumnElement[bool]:
    length = func.jsonb_array_length(cast(expr, JSONB)) if dialect == "postgresql" else func.json_array_length(expr)
    return or_(expr.is_(None), func.coalesce(length, 0) == 0)


def condition(cond: Condition, expr: Any, *, now: datetime, dialect: str) -> ColumnElement[bool]:
    op, value, kind = cond.op, cond.value, cond.spec.kind
    if kind is Kind.TAGS:
        if op is Op.CONTAINS:
            return _tags_any(expr, (value,), dialect)
        if op is Op.IN:
            return _tags_any(expr, value, dialect)
        if op is Op.NOT_IN:
            return not_(_tags_any(expr, value, dialect))
        empty = _tags_empty(expr, dialect)
        return empty if op is Op.IS_NULL else not_(empty)
    if op is Op.IS_NULL:
        return expr.is_(None)
    if op is Op.NOT_NULL:
        return expr.is_not(None)
    if op in (Op.WITHIN_LAST_DAYS, Op.OLDER_THAN_DAYS):
        if kind is Kind.DATE:
            today = now.date()
            low, high = (today - timedelta(days=value)).isoformat(), today.isoformat()
        else:
            low, high = now - timedelta(days=value), now
        if op is Op.WITHIN_LAST_DAYS:
            return and_(expr >= low, expr <= high)
        older = expr < low
        return or_(older, expr.is_(None)) if cond.spec.never_is_old else older
    if op is Op.CONTAINS:
        return func.lower(expr).like(_like(value), escape="\\")
    if op is Op.EQ:
        return expr == _bind(expr, value)
    # "not X" keeps rows with no value at all (a lead without a channel is not from channel X).
    if op is Op.NE:
        return or_(expr != _bind(expr, value), expr.is_(None))
    if op is Op.IN:
        return expr.in_([_bind(expr, v) for v in value])
    if op is Op.NOT_IN:
        return or_(expr.not_in([_bind(expr, v) for v in value]), expr.is_(None))
    if op is Op.BETWEEN:
        return and_(expr >= _bind(expr, value[0]), expr <= _bind(expr, value[1]))
    compare = {Op.LT: expr.__lt__, Op.LTE: expr.__le__, Op.GT: expr.__gt__, Op.GTE: expr.__ge__}[op]
    return compare(_bind(expr, value))


# -- the select ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Plan:
    """The report's select before paging: an inner select of labelled fields, filtered, with its sort key."""

    checked: Checked
    query: Any  # Select over the inner subquery
    key: Any  # the sort field's column of the subquery
    id: Any
    fields: dict[str, str]  # field name -> label in the subquery
    nullable: bool = True  # the sort field may be null (sorted last)
    by_id: bool = False  # sorted by id alone


def plan(checked: Checked, principal: Principal, *, dialect: str, now: datetime) -> Plan:
    entity = checked.definition.entity
    model = _MODELS[entity]
    exprs = _expressions(entity, principal)
    used: dict[str, FieldSpec] = {"id": checked.catalogue.fields["id"]}
    for spec in (*checked.columns, checked.sort, *(c.spec for c in checked.conditions)):
        used.setdefault(spec.name, spec)
    labels = {name: f"f{i}" for i, name in enumerate(used)}
    built = {
        name: _custom(model, spec) if name.startswith(CUSTOM_PREFIX) else exprs[name]() for name, spec in used.items()
    }
    inner = select(*(e.label(labels[n]) for n, e in built.items())).where(scope(entity, principal)).subquery("r")
    where = [condition(c, inner.c[labels[c.spec.name]], now=now, dialect=dialect) for c in checked.conditions]
    key, row_id = inner.c[labels[checked.sort.name]], inner.c[labels["id"]]
    sort_expr = getattr(built[checked.sort.name], "expression", None)  # a model attribute's table column
    # A NOT NULL column sorts without the nulls-last term, so an index on it (the primary key) can serve the order.
    nullable = not (isinstance(sort_expr, TableColumn) and not sort_expr.nullable)
    by_id = checked.sort.name == "id"
    order = [] if not nullable else [case((key.is_(None), 1), else_=0)]
    if not by_id:
        order.append(key.desc() if checked.descending else key.asc())
    order.append(row_id.desc() if checked.descending else row_id.asc())
    return Plan(checked, select(inner).where(*where).order_by(*order), key, row_id, labels, nullable, by_id)


def _after(p: Plan, key: Any, row_id: int) -> ColumnElement[bool]:
    """Rows after (key, row_id) in the plan's order (nulls last, ties by id)."""
    later = p.id < row_id if p.checked.descending else p.id > row_id
    if p.by_id:
        return later
    if key is None:
        return and_(p.key.is_(None), later)
    beyond = p.key < _bind(p.key, key) if p.checked.descending else p.key > _bind(p.key, key)
    after = or_(beyond, and_(p.key == _bind(p.key, key), later))
    return or_(after, p.key.is_(None)) if p.nullable else after


def _row(p: Plan, record: Any) -> tuple[dict[str, Any], Any, int]:
    mapping = record._mapping
    row = {"id": mapping[p.fields["id"]]}
    for spec in p.checked.columns:
        row[spec.name] = _value(spec, mapping[p.fields[spec.name]])
    return row, _value(p.checked.sort, mapping[p.fields[p.checked.sort.name]]), row["id"]


def _value(spec: FieldSpec, value: Any) -> Any:
    if value is None:
        return [] if spec.kind is Kind.TAGS else None
    if isinstance(value, enum.Enum):
        return value.value
    if spec.kind is Kind.BOOL:
        return bool(value)
    if spec.kind is Kind.NUMBER and isinstance(value, (int, float)):
        # A float column or a custom number (JSON): whole numbers as integers (as custom fields store them).
        number = float(value)
        return int(number) if number.is_integer() and abs(number) < 2**53 else Decimal(repr(number))
    if spec.kind is Kind.TAGS and isinstance(value, str):  # a JSON column read through a subquery as text
        return json.loads(value)
    return value


# -- the cursor ------------------------------------------------------------------------------------------------------


def _fingerprint(checked: Checked) -> bytes:
    """What a cursor is valid for: the entity, filters and sort (columns and limit may change between pages)."""
    part = checked.definition.model_dump(mode="json", include={"entity", "filters", "sort"})
    return hashlib.sha256(json.dumps(part, sort_keys=True).encode()).digest()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _encode_key(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"dt": value.isoformat()}
    if isinstance(value, Decimal):
        return {"dec": str(value)}
    return value


def encode_cursor(checked: Checked, key: Any, row_id: int, served: int) -> str:
    """Opaque: base64 JSON of where the last page ended, and a MAC binding it to this report's filters and sort.

    The MAC is a check against corruption and against using one report's cursor with another, not a secret: a
    cursor carries no rights (the reader's scope is applied on every page), so a forged one can only skip rows."""
    payload = json.dumps({"k": _encode_key(key), "i": row_id, "n": served}, separators=(",", ":")).encode()
    mac = hmac.new(_fingerprint(checked), payload, hashlib.sha256).digest()[:16]
    return f"{_b64(payload)}.{_b64(mac)}"


def decode_cursor(checked: Checked, cursor: str, *, field: str = "cursor") -> tuple[Any, int, int]:
    """(sort key, id, rows served so far) from a cursor of this report, or Invalid naming ``field``."""
    bad = CursorError(
        "not a cursor of this report (it is corrupt, or from other filters or sort); start again without one",
        field=field,
    )
    if len(cursor) > MAX_CURSOR_CHARS or cursor.count(".") != 1:
        raise bad
    try:
        body, mac = (_unb64(part) for part in cursor.split("."))
        expected = hmac.new(_fingerprint(checked), body, hashlib.sha256).digest()[:16]
        if not hmac.compare_digest(mac, expected):
            raise bad
        data = json.loads(body)
        key, row_id, served = data["k"], data["i"], data["n"]
    except (ValueError, binascii.Error, KeyError, TypeError, UnicodeDecodeError):
        raise bad from None
    if not (_is_int(row_id) and 0 < row_id < 2**63 and _is_int(served) and 0 <= served < 2**63):
        raise bad
    try:
        return _decode_key(checked.sort, key), row_id, served
    except (ValueError, TypeError, KeyError, InvalidOperation, OverflowError):
        raise bad from None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _decode_key(spec: FieldSpec, key: Any) -> Any:
    """The sort value back in its field's type, refusing a value of another type (so the query never sees one)."""
    if key is None:
        return None
    kind = spec.kind
    if kind is Kind.DATETIME:
        value = datetime.fromisoformat(key["dt"])
        if value.tzinfo is None:
            raise ValueError("naive")
        return value.astimezone(timezone.utc)
    if kind is Kind.NUMBER:
        number = Decimal(key) if _is_int(key) else Decimal(key["dec"])
        if not number.is_finite():
            raise ValueError("not finite")
        return number
    if kind is Kind.INTEGER and _is_int(key) and abs(key) < 2**63:
        return key
    if kind is Kind.BOOL and isinstance(key, bool):
        return key
    if kind is Kind.DATE and isinstance(key, str):
        return date.fromisoformat(key).isoformat()
    if kind in (Kind.TEXT, Kind.CHOICE) and isinstance(key, str) and "\x00" not in key:
        return key
    raise ValueError("wrong type")


# -- evaluation ------------------------------------------------------------------------------------------------------


def _dialect(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


async def fetch_page(
    session: AsyncSession,
    principal: Principal,
    definition: ReportDefinition | Checked,
    *,
    cursor: str | None = None,
    limit: int = 100,
    now: datetime | None = None,
) -> Page:
    """One page of rows after ``cursor`` (None: the first page), and the cursor of the next page (None: no more)."""
    checked = definition if isinstance(definition, Checked) else await prepare(session, definition)
    p = plan(checked, principal, dialect=_dialect(session), now=now or utcnow())
    query, served = p.query, 0
    if cursor is not None:
        key, row_id, served = decode_cursor(checked, cursor)
        query = query.where(_after(p, key, row_id))
    take = min(limit, MAX_PAGE_ROWS)
    if checked.limit is not None:
        take = min(take, checked.limit - served)
    if take <= 0:
        return Page([], None)
    records = (await session.execute(query.limit(take + 1))).all()
    more = len(records) > take
    rows, last = [], None
    for record in records[:take]:
        row, key, row_id = _row(p, record)
        rows.append(row)
        last = (key, row_id)
    served += len(rows)
    done = not more or (checked.limit is not None and served >= checked.limit)
    next_cursor = None if done or last is None else encode_cursor(checked, last[0], last[1], served)
    return Page(rows, next_cursor)


async def iter_rows(
    session: AsyncSession,
    principal: Principal,
    definition: ReportDefinition | Checked,
    *,
    batch_size: int = 1000,
    now: datetime | None = None,
) -> AsyncIterator[dict[str, Any]]:
    """Every row ``principal`` may see, in the definition's order, read a keyset page at a time (memory flat in the
    row count). Rows are dicts keyed by column name, plus ``id`` (the record's) always."""
    checked = definition if isinstance(definition, Checked) else await prepare(session, definition)
    moment = now or utcnow()  # one "now" for every page: "within the last 7 days" must not drift while paging
    cursor: str | None = None
    while True:
        page = await fetch_page(session, principal, checked, cursor=cursor, limit=batch_size, now=moment)
        for row in page.rows:
            yield row
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


__all__ = [
    "Column", "CursorError", "Page", "columns_of", "decode_cursor", "encode_cursor", "fetch_page", "iter_rows",
    "load_catalogue", "plan", "prepare", "scope",
]
