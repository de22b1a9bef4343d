"""The email rule's work: on a deal's stage change, the templated letter to the deal's contact, into the outbox in
the rule engine's transaction (keyed by rule and fact, so a replayed fact sends nothing more)."""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.automation.facts import DealStageChanged
from callcenter.automation.rules import EmailRule
from callcenter.mail.addresses import AddressError
from callcenter.mail.outbox import queue_mail
from callcenter.mail.templates import render
from crm_core.models import Company, Contact, Deal, Email, Pipeline, PipelineStage, User

log = logging.getLogger("callcenter.automation")


async def deal_values(session: AsyncSession, deal: Deal, fact: DealStageChanged) -> dict[str, str]:
    """The template fields (callcenter.mail.templates.DEAL_FIELDS) of a deal, as plain text."""
    stage = await session.get(PipelineStage, fact.to_stage_id)
    previous = await session.get(PipelineStage, fact.from_stage_id) if fact.from_stage_id else None
    pipeline = await session.get(Pipeline, deal.pipeline_id)
    contact = await session.get(Contact, deal.contact_id) if deal.contact_id else None
    company_id = deal.company_id or (contact.company_id if contact else None)
    company = await session.get(Company, company_id) if company_id else None
    manager = await session.get(User, deal.responsible_id) if deal.responsible_id else None
    first, last = (contact.first_name, contact.last_name) if contact else ("", "")
    return {
        "deal_id": str(deal.id),
        "deal_title": deal.title,
        "deal_amount": f"{deal.amount:.2f}" if deal.amount is not None else "",
        "deal_currency": deal.currency,
        "deal_status": fact.status,
        "stage": stage.name if stage else "",
        "previous_stage": previous.name if previous else "",
        "pipeline": pipeline.name if pipeline else "",
        "contact_first_name": first,
        "contact_last_name": last,
        "contact_name": " ".join(part for part in (first, last) if part),
        "contact_position": (contact.position or "") if contact else "",
        "company_name": company.name if company else "",
        "manager_name": manager.name if manager else "",
        "manager_email": (manager.email or "") if manager else "",
    }


async def queue_deal_email(session: AsyncSession, rule: EmailRule, fact: DealStageChanged, key: str) -> bool:
    """True when an e-mail was queued; a deal whose contact has no address is logged and sends nothing."""
    deal = await session.get(Deal, fact.deal_id)
    if deal is None:
        log.warning("rule %r: deal %d is gone; no e-mail", rule.name, fact.deal_id)
        return False
    if rule.if_stage is not None:
        stage = await session.scalar(select(PipelineStage.name).where(PipelineStage.id == fact.to_stage_id))
        if stage not in rule.if_stage:
            return False
    address = None
    if deal.contact_id is not None:
        address = await session.scalar(
            select(Email.raw).where(Email.contact_id == deal.contact_id).order_by(Email.id).limit(1)
        )
    if not address:
        log.info("rule %r: deal %d's contact has no e-mail address; nothing sent", rule.name, deal.id)
        return False
    values = await deal_values(session, deal, fact)
    try:
        return await queue_mail(
            session, source="rule", dedupe_key=key, to=[address.strip()],
            subject=render(rule.subject, values, one_line=True), body=render(rule.body, values),
        )
    except AddressError as exc:
        log.warning("rule %r: deal %d's contact address %r cannot be mailed (%s); nothing sent",
                    rule.name, deal.id, address, exc)
        return False
