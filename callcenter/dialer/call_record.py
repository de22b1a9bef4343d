"""The CRM record a call is about, for the call's script and its campaign disposition's effects.

A campaign call is about the row the dialer called (its attempt row names the contact or lead), else, like any call,
about whoever owns the customer's number; a record's deal is the call's own (the CRM writer links the owner's open
deal) or the record's most recently changed open deal. Read with the service's authority: the agent on the call
sees the caller's card whoever owns them (callcenter.api.agent_ws), and what this feeds is shown to that agent only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core import records
from crm_core.dialer_models import Campaign, CampaignAttempt
from crm_core.models import Activity, Company, Contact, Deal, DealStatus, Entity, Lead, PipelineStage, User
from crm_core.records import PhoneRules

__all__ = ["CalledRecord", "called_record", "campaign_of", "int_or_none", "script_values"]


@dataclass(slots=True)
class CalledRecord:
    entity: Entity
    id: int
    record: Any  # the Contact, Lead or Company row
    deal: Deal | None = None
    company: Company | None = None
    tags: list[str] = field(default_factory=list)

    @property
    def links(self) -> dict[str, int | None]:
        """contact_id / company_id / lead_id / deal_id, as a task or activity carries them."""
        return {
            "contact_id": self.id if self.entity is Entity.CONTACT else None,
            "company_id": self.company.id if self.company is not None else None,
            "lead_id": self.id if self.entity is Entity.LEAD else None,
            "deal_id": self.deal.id if self.deal is not None else None,
        }


def int_or_none(raw: Any) -> int | None:
    """A channel variable or call_meta value that should be an id (CC_CAMPAIGN, CC_DIAL_ATTEMPT); None if not."""
    try:
        value = int(str(raw))
    except (TypeError, ValueError):
        return None
    return value if 0 < value < 2**63 else None


async def campaign_of(session: AsyncSession, raw: Any) -> Campaign | None:
    campaign_id = int_or_none(raw)
    return await session.get(Campaign, campaign_id) if campaign_id is not None else None


_DEAL_OWNER = {Entity.CONTACT: Deal.contact_id, Entity.COMPANY: Deal.company_id, Entity.LEAD: Deal.lead_id}


async def called_record(
    session: AsyncSession,
    rules: PhoneRules,
    *,
    activity: Activity | None = None,
    attempt_id: int | None = None,
    e164: str | None = None,
) -> CalledRecord | None:
    """The record of a call: its dial attempt's (given, or the one logged against ``activity``), else the activity's
    links, else the owner of ``e164``. None: nobody the CRM knows."""
    entity_id: tuple[Entity, int] | None = None
    attempt = None
    if attempt_id is not None:
        attempt = await session.get(CampaignAttempt, attempt_id)
    elif activity is not None and activity.id is not None:
        attempt = await session.scalar(select(CampaignAttempt).where(CampaignAttempt.activity_id == activity.id).limit(1))
    if attempt is not None and (attempt.contact_id or attempt.lead_id):
        entity_id = (Entity.CONTACT, attempt.contact_id) if attempt.contact_id else (Entity.LEAD, attempt.lead_id)  # type: ignore[assignment]
    elif activity is not None and (activity.contact_id or activity.lead_id or activity.company_id):
        entity_id = next((e, i) for e, i in ((Entity.CONTACT, activity.contact_id), (Entity.LEAD, activity.lead_id),
                                             (Entity.COMPANY, activity.company_id)) if i)
    else:
        owner = await records.lookup_phone(session, rules, e164) if e164 else None
        if owner is not None and owner.entity in _DEAL_OWNER:
            entity_id = (owner.entity, owner.id)
    if entity_id is None:
        return None
    entity, record_id = entity_id
    model = {Entity.CONTACT: Contact, Entity.LEAD: Lead, Entity.COMPANY: Company}[entity]
    record = await session.get(model, record_id)
    if record is None:
        return None
    found = CalledRecord(entity=entity, id=record_id, record=record, tags=list(getattr(record, "tags", None) or ()))
    company_id = record.id if entity is Entity.COMPANY else getattr(record, "company_id", None)
    found.company = await session.get(Company, company_id) if company_id else None
    deal_id = activity.deal_id if activity is not None else None
    if deal_id is not None:
        found.deal = await session.get(Deal, deal_id)
    if found.deal is None or found.deal.status is not DealStatus.OPEN:
        found.deal = await session.scalar(
            select(Deal).where(_DEAL_OWNER[entity] == record_id, Deal.status == DealStatus.OPEN)
            .order_by(Deal.updated_at.desc(), Deal.id.desc()).limit(1)
        )
    return found


async def script_values(
    session: AsyncSession, found: CalledRecord | None, *, agent: User | None, campaign: Campaign | None,
    e164: str | None,
) -> dict[str, Any]:
    """What each placeholder of callcenter.dialer.scripts stands for on this call (None: no value)."""
    values: dict[str, Any] = {
        "customer.phone": e164,
        "agent.name": agent.name if agent else None,
        "agent.first_name": agent.name.split()[0] if agent and agent.name.strip() else None,
        "campaign.name": campaign.name if campaign else None,
    }
    if found is None:
        return values
    record = found.record
    # Custom fields, each kind's own ({contact.custom.contract_no}); a company's also when a contact of it is called.
    owners = [(found.entity.value, record), ("company", found.company), ("deal", found.deal)]
    for entity, row in owners:
        for key, value in ((getattr(row, "custom", None) or {}) if row is not None else {}).items():
            values.setdefault(f"{entity}.custom.{key}", value)
    if found.entity is Entity.CONTACT:
        full = " ".join(p for p in (record.first_name, record.last_name) if p)
        values.update({"contact.first_name": record.first_name, "contact.last_name": record.last_name,
                       "contact.name": full, "contact.position": record.position, "customer.name": full})
    elif found.entity is Entity.LEAD:
        values.update({"lead.title": record.title, "lead.person_name": record.person_name,
                       "lead.company_name": record.company_name, "lead.product_interest": record.product_interest,
                       "customer.name": record.person_name or record.title})
    else:
        values["customer.name"] = record.name
    if found.company is not None:
        values["company.name"] = found.company.name
    elif found.entity is Entity.LEAD:
        values["company.name"] = record.company_name
    if found.deal is not None:
        deal = found.deal
        stage = await session.get(PipelineStage, deal.stage_id)
        values.update({"deal.title": deal.title, "deal.amount": deal.amount, "deal.currency": deal.currency,
                       "deal.stage": stage.name if stage else None})
    return values
