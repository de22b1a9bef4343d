"""Companies, contacts and leads: the records a phone number or an email can belong to.

Duplicate control lives in the database: a phone (E.164 + extension) and an email each belong to exactly one
record (unique keys on `phones` and `emails`). Creating a record whose number is taken inserts inside a savepoint;
the loser of a race gets the unique violation and is answered with the existing record, so two concurrent creates
can never both win.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core import custom_fields
from crm_core.access import Principal, check_assignable, owner_filter
from crm_core.errors import Conflict, Invalid, NotFound
from crm_core.models import Company, Contact, Email, Entity, Lead, LeadStatus, Phone, Role, User
from crm_core.paging import Page, paginate
from crm_core.phones import PhoneError, PhoneNumber, normalize, try_normalize
from crm_core.schemas import CompanyIn, ContactIn, LeadIn, PhoneIn
from crm_core.types import utcnow

Record = Contact | Company | Lead
MODELS: dict[Entity, type[Any]] = {Entity.CONTACT: Contact, Entity.COMPANY: Company, Entity.LEAD: Lead}
OWNER_COLUMNS = {Entity.CONTACT: "contact_id", Entity.COMPANY: "company_id", Entity.LEAD: "lead_id"}
SEARCH_COLUMNS = {
    Entity.CONTACT: ("first_name", "last_name"),
    Entity.COMPANY: ("name",),
    Entity.LEAD: ("title", "person_name", "company_name"),
}


@dataclass(frozen=True, slots=True)
class PhoneRules:
    """How numbers are read: the default region, and the company's own numbers that never become records."""

    region: str = "US"
    own_numbers: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def build(cls, *, region: str, own_numbers: Iterable[str]) -> PhoneRules:
        keys = set()
        for raw in own_numbers:
            parsed = try_normalize(raw, region=region)
            # Short internal numbers (extensions) are kept as written.
            keys.add(parsed.e164 if parsed else raw.strip())
        return cls(region=region, own_numbers=frozenset(keys))

    def is_own(self, raw: str, number: PhoneNumber | None = None) -> bool:
        return raw.strip() in self.own_numbers or (number is not None and number.e164 in self.own_numbers)


@dataclass(frozen=True, slots=True)
class Owner:
    entity: Entity
    id: int
    responsible_id: int | None
    e164: str


def _owner_of(row: Phone | Email) -> tuple[Entity, int]:
    for entity, column in OWNER_COLUMNS.items():
        value = getattr(row, column)
        if value is not None:
            return entity, value
    raise AssertionError("row without owner violates ck_*_one_owner")


async def refuse_agent_extensions(session: AsyncSession, items: Sequence[PhoneIn], *, field_name: str = "phones") -> None:
    """An agent's desk extension is the company's own number too, whatever the region makes of its digits."""
    short = {item.number.strip(): index for index, item in enumerate(items) if item.number.strip().isdigit() and len(item.number.strip()) <= 8}
    if not short:
        return
    taken = await session.scalar(select(User.extension).where(User.extension.in_(list(short))).limit(1))
    if taken is not None:
        raise Invalid("this is an agent's extension, one of the company's own numbers", field=f"{field_name}[{short[taken]}].number")


def parse_phones(items: Sequence[PhoneIn], rules: PhoneRules, *, field_name: str = "phones") -> list[tuple[PhoneNumber, str]]:
    parsed: dict[tuple[str, str], tuple[PhoneNumber, str]] = {}
    for index, item in enumerate(items):
        try:
            number = normalize(item.number, region=rules.region)
        except PhoneError as exc:
            raise Invalid(str(exc), field=f"{field_name}[{index}].number") from None
        if rules.is_own(item.number, number):
            raise Invalid("this is one of the company's own numbers", field=f"{field_name}[{index}].number")
        parsed.setdefault(number.key, (number, item.kind))
    return list(parsed.values())


async def _existing_owner(
    session: AsyncSession, numbers: Iterable[PhoneNumber], emails: Iterable[str]
) -> tuple[Entity, int, str] | None:
    keys = [n.key for n in numbers]
    for key in keys:
        row = await session.scalar(select(Phone).where(Phone.e164 == key[0], Phone.extension == key[1]))
        if row is not None:
            entity, owner_id = _owner_of(row)
            return entity, owner_id, "phones"
    for address in emails:
        row = await session.scalar(select(Email).where(Email.address == address))
        if row is not None:
            entity, owner_id = _owner_of(row)
            return entity, owner_id, "emails"
    return None


def _conflict(found: tuple[Entity, int, str]) -> Conflict:
    entity, owner_id, field_name = found
    kind = "phone number" if field_name == "phones" else "email address"
    return Conflict(
        f"this {kind} already belongs to {entity.value} {owner_id}",
        field=field_name,
        existing={"entity": entity.value, "id": owner_id},
    )


async def _attach(
    session: AsyncSession,
    record: Record,
    entity: Entity,
    numbers: Sequence[tuple[PhoneNumber, str]],
    emails: Sequence[str],
) -> None:
    """Insert the record's phones and emails in a savepoint; a unique violation becomes a Conflict."""
    column = OWNER_COLUMNS[entity]
    found = await _existing_owner(session, [n for n, _ in numbers], emails)
    if found:
        raise _conflict(found)
    try:
        async with session.begin_nested():
            session.add(record)
            await session.flush()
            for number, kind in numbers:
                session.add(Phone(e164=number.e164, extension=number.extension, raw=number.raw, kind=kind, **{column: record.id}))
            for address in emails:
                session.add(Email(address=address, raw=address, **{column: record.id}))
            await session.flush()
    except IntegrityError:
        # Lost a race to a concurrent insert: that row is committed now, so report it.
        found = await _existing_owner(session, [n for n, _ in numbers], emails)
        if found:
            raise _conflict(found) from None
        raise
    await session.refresh(record, ["phones", "emails"])


def _clean_emails(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(value.strip().lower() for value in values))


async def create(
    session: AsyncSession,
    principal: Principal,
    rules: PhoneRules,
    entity: Entity,
    data: ContactIn | CompanyIn | LeadIn,
) -> Any:
    fields = data.model_dump(exclude={"phones", "emails", "custom"}, exclude_unset=False)
    if "responsible_id" not in data.model_fields_set and principal.role is Role.AGENT:
        fields["responsible_id"] = principal.user_id
    await check_assignable(session, principal, fields["responsible_id"], field="responsible_id")
    if entity is Entity.CONTACT and fields.get("company_id") is not None:
        await get(session, principal, Entity.COMPANY, fields["company_id"], field="company_id")
    if entity is Entity.CONTACT and not (fields["first_name"] or fields["last_name"] or data.phones or data.emails):
        raise Invalid("a contact needs a name, a phone or an email", field="last_name")
    definitions = await custom_fields.definitions_for(session, entity)
    record = MODELS[entity](**fields, custom=custom_fields.validate(definitions, data.custom))
    await refuse_agent_extensions(session, data.phones)
    await _attach(session, record, entity, parse_phones(data.phones, rules), _clean_emails(data.emails))
    return record


def _visible(principal: Principal, entity: Entity) -> Select[Any]:
    model = MODELS[entity]
    return select(model).where(owner_filter(principal, model.responsible_id))


async def get(session: AsyncSession, principal: Principal, entity: Entity, record_id: int, *, field: str | None = None) -> Any:
    model = MODELS[entity]
    record = await session.scalar(_visible(principal, entity).where(model.id == record_id))
    if record is None:
        raise NotFound(f"{entity.value} {record_id} not found", field=field)
    return record


async def list_records(
    session: AsyncSession,
    principal: Principal,
    rules: PhoneRules,
    entity: Entity,
    *,
    q: str | None = None,
    phone: str | None = None,
    email: str | None = None,
    responsible_id: int | None = None,
    status: LeadStatus | None = None,
    company_id: int | None = None,
    limit: int = 50,
    offset: int = 0,
) -> Page[Any]:
    model = MODELS[entity]
    query = _visible(principal, entity).order_by(model.id.desc())
    if q:
        pattern = f"%{q.lower()}%"
        query = query.where(or_(*(func.lower(getattr(model, c)).like(pattern) for c in SEARCH_COLUMNS[entity])))
    if phone is not None:
        number = try_normalize(phone, region=rules.region)
        if number is None:
            raise Invalid("not a phone number", field="phone")
        column = getattr(Phone, OWNER_COLUMNS[entity])
        query = query.where(model.id.in_(select(column).where(Phone.e164 == number.e164)))
    if email is not None:
        column = getattr(Email, OWNER_COLUMNS[entity])
        query = query.where(model.id.in_(select(column).where(Email.address == email.strip().lower())))
    if responsible_id is not None:
        query = query.where(model.responsible_id == responsible_id)
    if status is not None and entity is Entity.LEAD:
        query = query.where(Lead.status == status)
    if company_id is not None and entity is Entity.CONTACT:
        query = query.where(Contact.company_id == company_id)
    return await paginate(session, query, limit=limit, offset=offset)


async def update(
    session: AsyncSession, principal: Principal, entity: Entity, record_id: int, changes: dict[str, Any]
) -> Any:
    record = await get(session, principal, entity, record_id)
    if "responsible_id" in changes and changes["responsible_id"] != record.responsible_id:
        await check_assignable(session, principal, changes["responsible_id"], field="responsible_id")
    if entity is Entity.CONTACT and changes.get("company_id") is not None:
        await get(session, principal, Entity.COMPANY, changes["company_id"], field="company_id")
    if entity is Entity.LEAD and record.status is LeadStatus.CONVERTED and "status" in changes:
        raise Invalid("a converted lead keeps its status", field="status")
    if "custom" in changes:
        merged = {**record.custom, **(changes.pop("custom") or {})}
        definitions = await custom_fields.definitions_for(session, entity)
        record.custom = custom_fields.validate(definitions, {k: v for k, v in merged.items() if v is not None})
    for key, value in changes.items():
        setattr(record, key, value)
    await session.flush()
    return record


async def delete(session: AsyncSession, principal: Principal, entity: Entity, record_id: int) -> None:
    record = await get(session, principal, entity, record_id)
    await session.delete(record)
    await session.flush()


async def add_phone(
    session: AsyncSession, principal: Principal, rules: PhoneRules, entity: Entity, record_id: int, item: PhoneIn
) -> Any:
    record = await get(session, principal, entity, record_id)
    await refuse_agent_extensions(session, [item], field_name="phone")
    [(number, kind)] = parse_phones([item], rules, field_name="phone")
    found = await _existing_owner(session, [number], [])
    if found:
        raise _conflict(found)
    column = OWNER_COLUMNS[entity]
    try:
        async with session.begin_nested():
            session.add(Phone(e164=number.e164, extension=number.extension, raw=number.raw, kind=kind, **{column: record.id}))
    except IntegrityError:
        found = await _existing_owner(session, [number], [])
        if found:
            raise _conflict(found) from None
        raise
    await session.refresh(record, ["phones"])
    return record


async def remove_phone(session: AsyncSession, principal: Principal, entity: Entity, record_id: int, phone_e164: str) -> Any:
    record = await get(session, principal, entity, record_id)
    rows = [p for p in record.phones if p.e164 == phone_e164]
    if not rows:
        raise NotFound(f"{entity.value} {record_id} has no number {phone_e164}", field="phone")
    for row in rows:
        await session.delete(row)
    await session.flush()
    await session.refresh(record, ["phones"])
    return record


def phone_owner_query(e164: Any) -> Select[Any]:
    """The phone rows of a number with their owners' responsible users (columns as ``owner_from_rows`` reads them);
    callers may add columns after these."""
    return (
        select(Phone.id, Phone.extension, Phone.contact_id, Phone.company_id, Phone.lead_id,
               Contact.responsible_id, Company.responsible_id, Lead.responsible_id)
        .outerjoin(Contact, Contact.id == Phone.contact_id)
        .outerjoin(Company, Company.id == Phone.company_id)
        .outerjoin(Lead, Lead.id == Phone.lead_id)
        .where(Phone.e164 == e164)
        .limit(20)
    )


def owner_from_rows(rows: Sequence[Any], number: PhoneNumber) -> tuple[Owner, Any] | None:
    """The owner among ``phone_owner_query``'s rows, and the row it came from. An exact extension match wins, then
    the number without extension (the main line)."""
    if not rows:
        return None
    row = min(rows, key=lambda r: (r[1] != number.extension, r[1] != "", r[0]))
    _, _, contact_id, company_id, lead_id, *responsibles = row[:8]
    for entity, owner_id, responsible in zip(
        (Entity.CONTACT, Entity.COMPANY, Entity.LEAD), (contact_id, company_id, lead_id), responsibles
    ):
        if owner_id is not None:
            return Owner(entity=entity, id=owner_id, responsible_id=responsible, e164=number.e164), row
    raise AssertionError("phone row without owner violates ck_phones_one_owner")


async def lookup_phone(session: AsyncSession, rules: PhoneRules, raw: str | None) -> Owner | None:
    """Who a number belongs to (for routing and call logging), in one indexed round trip."""
    number = try_normalize(raw, region=rules.region)
    if number is None or rules.is_own(raw or "", number):
        return None
    found = owner_from_rows(list(await session.execute(phone_owner_query(number.e164))), number)
    return found[0] if found else None


async def convert_lead(
    session: AsyncSession,
    principal: Principal,
    lead_id: int,
    *,
    create_contact: bool,
    create_company: bool,
    deal: Any | None,
) -> Lead:
    """Lead -> contact / company / deal. The phones and emails move to the new record; the lead stays as history."""
    from crm_core import deals as deal_service  # deals import records for contact checks

    lead = await get(session, principal, Entity.LEAD, lead_id)
    if lead.status is LeadStatus.CONVERTED:
        raise Invalid(f"lead {lead_id} is already converted", field="status")
    if not (create_contact or create_company or deal):
        raise Invalid("convert into at least one of contact, company or deal", field="create_contact")
    company = contact = None
    if create_company:
        company = Company(name=lead.company_name or lead.title, responsible_id=lead.responsible_id, custom={})
        session.add(company)
        await session.flush()
    if create_contact:
        first, _, last = (lead.person_name or "").strip().rpartition(" ")
        contact = Contact(
            first_name=first,
            last_name=last or lead.title,
            company_id=company.id if company else None,
            responsible_id=lead.responsible_id,
            custom={},
            # What the person said about being called goes with them: a dialer must never call them anew.
            do_not_call=lead.do_not_call,
            call_consent=lead.call_consent,
            tags=list(lead.tags or ()),
        )
        session.add(contact)
        await session.flush()
    heir = contact or company
    if heir is not None:
        column = "contact_id" if contact else "company_id"
        for row in [*lead.phones, *lead.emails]:
            row.lead_id = None
            setattr(row, column, heir.id)
    if deal is not None:
        created = await deal_service.create_deal(
            session,
            principal,
            deal.model_copy(
                update={
                    "contact_id": deal.contact_id or (contact.id if contact else None),
                    "company_id": deal.company_id or (company.id if company else None),
                    "responsible_id": deal.responsible_id or lead.responsible_id,
                }
            ),
            lead_id=lead.id,
        )
        lead.converted_deal_id = created.id
    lead.status = LeadStatus.CONVERTED
    lead.converted_at = utcnow()
    lead.converted_contact_id = contact.id if contact else None
    lead.converted_company_id = company.id if company else None
    await session.flush()
    await session.refresh(lead, ["phones", "emails"])
    return lead
