"""Duplicate control is enforced by the database: 50 concurrent creates of one number give exactly one record."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from crm_core import records
from crm_core.access import Principal
from crm_core.db import Database
from crm_core.errors import Conflict
from crm_core.models import Contact, Entity, Lead, Phone
from crm_core.records import PhoneRules
from crm_core.schemas import ContactIn, LeadIn, PhoneIn

RULES = PhoneRules(region="US")
FORMS = ["+1 212 555 0101", "(212) 555-0101", "212.555.0101", "+12125550101", "1-212-555-0101"]


async def _create(db: Database, index: int) -> tuple[str, int]:
    number = FORMS[index % len(FORMS)]
    # Half contacts, half leads: the number must end up on one record of either kind.
    entity, data = (
        (Entity.CONTACT, ContactIn(last_name=f"c{index}", phones=[PhoneIn(number=number)]))
        if index % 2
        else (Entity.LEAD, LeadIn(title=f"l{index}", phones=[PhoneIn(number=number)]))
    )
    try:
        async with db.session() as session:
            record = await records.create(session, Principal.system(), RULES, entity, data)
            return "created", record.id
    except Conflict as exc:
        return "conflict", exc.details["existing"]["id"]


async def test_fifty_concurrent_creates_give_one_record(db: Database) -> None:
    results = await asyncio.gather(*(_create(db, i) for i in range(50)))
    created = [rid for kind, rid in results if kind == "created"]
    assert len(created) == 1
    # Every loser was told which record won.
    assert {rid for _, rid in results} == set(created)
    async with db.session() as session:
        assert await session.scalar(select(func.count()).select_from(Phone)) == 1
        records_made = await session.scalar(select(func.count()).select_from(Contact))
        records_made += await session.scalar(select(func.count()).select_from(Lead))
    assert records_made == 1


async def test_concurrent_creates_of_different_numbers_all_succeed(db: Database) -> None:
    async def one(i: int) -> int:
        async with db.session() as session:
            data = ContactIn(last_name=f"n{i}", phones=[PhoneIn(number=f"+1 212 555 {1000 + i}")])
            return (await records.create(session, Principal.system(), RULES, Entity.CONTACT, data)).id

    ids = await asyncio.gather(*(one(i) for i in range(20)))
    assert len(set(ids)) == 20
