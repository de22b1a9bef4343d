"""Do-not-call lists in the database (adapter): add, remove and read entries, and the check before each dial.

``number_flags`` reads, in ONE statement, everything may_dial needs to know about a number besides its attempts: is it
on the system-wide list, on this campaign's list, is any record it belongs to (or the record being called) marked
do_not_call, and what consent they gave. One statement because it runs immediately before every dial: a number added
to a list a moment ago is seen, and a campaign of 100,000 numbers does not pay four round trips per dial.

Entries are written through the ORM, so each add and remove is in the audit log (who took a number off a list).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, exists, false, or_, select, true
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.dialer.verdict import Reason
from crm_core.dialer_models import DncEntry
from crm_core.errors import Invalid
from crm_core.models import CallConsent, Contact, Lead, Phone
from crm_core.phones import PhoneError, normalize

__all__ = ["NumberFlags", "add", "entries", "is_blocked", "number_flags", "remove", "to_e164"]

MAX_REASON = 300


@dataclass(frozen=True, slots=True)
class NumberFlags:
    on_system_dnc: bool = False
    on_campaign_dnc: bool = False
    record_do_not_call: bool = False
    # The strictest of the records': refused if any refused; granted only if some granted and none is unknown.
    consent: CallConsent = CallConsent.UNKNOWN

    @property
    def blocked(self) -> Reason | None:
        """The list or flag that blocks the number, in may_dial's order; consent is the campaign's rule to judge."""
        if self.on_system_dnc:
            return Reason.DNC_SYSTEM
        if self.on_campaign_dnc:
            return Reason.DNC_CAMPAIGN
        if self.record_do_not_call:
            return Reason.DNC_RECORD
        return None


def to_e164(raw: str) -> str:
    """An international number in any common spelling -> its E.164 key; Invalid (field ``e164``) otherwise. A list
    entry must match what is dialled exactly, so an extension (which is not dialled) is refused, not dropped."""
    if not isinstance(raw, str) or not raw.strip().startswith(("+", "\uff0b")):
        raise Invalid("must be an international number: + and the country code", field="e164")
    try:
        number = normalize(raw, region="ZZ")  # "ZZ": no default region, only international numbers parse
    except PhoneError as exc:
        raise Invalid(str(exc), field="e164") from None
    if number.extension:
        raise Invalid("a do-not-call entry is a whole number, without an extension", field="e164")
    return number.e164


async def add(
    session: AsyncSession, raw: str, *, campaign_id: int | None = None, reason: str = "", added_by_id: int | None = None
) -> DncEntry:
    """Put the number on the system-wide list (``campaign_id`` None) or on one campaign's; adding it again returns the
    entry already there (also when another transaction added it at the same moment)."""
    e164 = to_e164(raw)
    if len(reason) > MAX_REASON:
        raise Invalid(f"at most {MAX_REASON} characters", field="reason")
    existing = await _find(session, e164, campaign_id)
    if existing is not None:
        return existing
    entry = DncEntry(e164=e164, campaign_id=campaign_id, reason=reason, added_by_id=added_by_id)
    try:
        async with session.begin_nested():
            session.add(entry)
    except IntegrityError:  # the same entry committed meanwhile by someone else: theirs stands
        found = await _find(session, e164, campaign_id)
        if found is None:
            raise
        return found
    return entry


async def remove(session: AsyncSession, raw: str, *, campaign_id: int | None = None) -> bool:
    """Take the number off that one list; False when it was not on it."""
    entry = await _find(session, to_e164(raw), campaign_id)
    if entry is None:
        return False
    await session.delete(entry)
    await session.flush()
    return True


async def entries(session: AsyncSession, raw: str) -> list[DncEntry]:
    """Every list the number is on (system-wide first, then by campaign)."""
    e164 = to_e164(raw)
    rows = await session.scalars(
        select(DncEntry).where(DncEntry.e164 == e164)
        .order_by(DncEntry.campaign_id.is_not(None), DncEntry.campaign_id)
    )
    return list(rows)


async def _find(session: AsyncSession, e164: str, campaign_id: int | None) -> DncEntry | None:
    scope = DncEntry.campaign_id.is_(None) if campaign_id is None else DncEntry.campaign_id == campaign_id
    return await session.scalar(select(DncEntry).where(DncEntry.e164 == e164, scope))


async def number_flags(
    session: AsyncSession,
    e164: str,
    campaign_id: int | None,
    *,
    contact_id: int | None = None,
    lead_id: int | None = None,
) -> NumberFlags:
    """The lists and the records' flags for ``e164`` (already an E.164 key), in one statement. The records: every
    contact and lead the number belongs to, plus the contact / lead the campaign is calling (a report row)."""
    dnc = DncEntry.__table__
    system = exists().where(dnc.c.e164 == e164, dnc.c.campaign_id.is_(None))
    on_campaign = (
        false() if campaign_id is None else exists().where(dnc.c.e164 == e164, dnc.c.campaign_id == campaign_id)
    )

    owners = select(Phone.__table__.c.contact_id, Phone.__table__.c.lead_id).where(Phone.__table__.c.e164 == e164)
    contacts, leads = Contact.__table__, Lead.__table__
    contact_rows = contacts.c.id.in_(owners.with_only_columns(Phone.__table__.c.contact_id))
    lead_rows = leads.c.id.in_(owners.with_only_columns(Phone.__table__.c.lead_id))
    if contact_id is not None:
        contact_rows = or_(contact_rows, contacts.c.id == contact_id)
    if lead_id is not None:
        lead_rows = or_(lead_rows, leads.c.id == lead_id)

    def any_record(contact_test: ColumnElement[bool], lead_test: ColumnElement[bool]) -> ColumnElement[bool]:
        return or_(exists().where(and_(contact_rows, contact_test)), exists().where(and_(lead_rows, lead_test)))

    def consent_is(value: CallConsent) -> ColumnElement[bool]:
        return any_record(contacts.c.call_consent == value, leads.c.call_consent == value)

    row = (await session.execute(select(
        system.label("system"),
        on_campaign.label("campaign"),
        any_record(contacts.c.do_not_call == true(), leads.c.do_not_call == true()).label("flagged"),
        consent_is(CallConsent.REFUSED).label("refused"),
        consent_is(CallConsent.UNKNOWN).label("unknown"),
        consent_is(CallConsent.GRANTED).label("granted"),
    ))).one()
    if row.refused:
        consent = CallConsent.REFUSED
    elif row.granted and not row.unknown:
        consent = CallConsent.GRANTED
    else:
        consent = CallConsent.UNKNOWN
    return NumberFlags(bool(row.system), bool(row.campaign), bool(row.flagged), consent)


async def is_blocked(
    session: AsyncSession,
    e164: str,
    campaign_id: int | None,
    *,
    contact_id: int | None = None,
    lead_id: int | None = None,
) -> Reason | None:
    """Why the number must not be dialled by this campaign (a list or a record's flag), or None. One statement."""
    flags = await number_flags(session, e164, campaign_id, contact_id=contact_id, lead_id=lead_id)
    return flags.blocked
