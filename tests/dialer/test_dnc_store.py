"""Do-not-call lists on SQLite and PostgreSQL: entries system-wide and per campaign, one per number and scope (also
under a race), the records' flags and consent, all read in one statement immediately before a dial."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.exc import IntegrityError

from callcenter.dialer import dnc_store
from callcenter.dialer.compliance import DialFacts, DialRules, may_dial
from callcenter.dialer.outcomes import CampaignMode
from callcenter.dialer.verdict import Reason, Refusal
from crm_core.db import Database
from crm_core.dialer_models import Campaign, DncEntry
from crm_core.errors import Invalid
from crm_core.models import AuditEntry, CallConsent, Contact, Lead, Phone

NUMBER = "+12125550123"
OTHER = "+12125550199"


async def _campaigns(db: Database, count: int = 2) -> list[int]:
    async with db.session() as s:
        made = [Campaign(name=f"c{i}", mode=CampaignMode.PREDICTIVE, definition={}) for i in range(count)]
        s.add_all(made)
        await s.flush()
        return [c.id for c in made]


async def test_add_check_remove_system_and_campaign_entries(db: Database) -> None:
    first, second = await _campaigns(db)
    async with db.session(actor_id=None) as s:
        assert await dnc_store.is_blocked(s, NUMBER, first) is None
        entry = await dnc_store.add(s, "+1 (212) 555-0123", campaign_id=first, reason="asked on the phone")
        assert entry.e164 == NUMBER and entry.campaign_id == first
    async with db.session() as s:
        assert await dnc_store.is_blocked(s, NUMBER, first) is Reason.DNC_CAMPAIGN
        assert await dnc_store.is_blocked(s, NUMBER, second) is None  # another campaign's list
        assert await dnc_store.is_blocked(s, NUMBER, None) is None
        await dnc_store.add(s, NUMBER, reason="national register")
    async with db.session() as s:
        for campaign in (first, second, None):
            assert await dnc_store.is_blocked(s, NUMBER, campaign) is Reason.DNC_SYSTEM  # system-wide wins
        assert [(e.campaign_id, e.reason) for e in await dnc_store.entries(s, NUMBER)] == [
            (None, "national register"), (first, "asked on the phone")
        ]
        assert await dnc_store.remove(s, NUMBER) is True
        assert await dnc_store.remove(s, NUMBER) is False
    async with db.session() as s:
        assert await dnc_store.is_blocked(s, NUMBER, first) is Reason.DNC_CAMPAIGN
        assert await dnc_store.is_blocked(s, NUMBER, second) is None
        assert await dnc_store.remove(s, NUMBER, campaign_id=first) is True
    async with db.session() as s:
        assert await dnc_store.is_blocked(s, NUMBER, first) is None
        # Adds and removes are audited (who took a number off a list).
        audit = (await s.scalars(select(AuditEntry.action).where(AuditEntry.entity == "dialer_dnc"))).all()
        assert sorted(audit) == ["create", "create", "delete", "delete"]


async def test_one_entry_per_number_and_scope(db: Database) -> None:
    (campaign,) = await _campaigns(db, 1)
    async with db.session() as s:
        a = await dnc_store.add(s, NUMBER)
        b = await dnc_store.add(s, "+1 212 555 0123", reason="again")
        c = await dnc_store.add(s, NUMBER, campaign_id=campaign)
        d = await dnc_store.add(s, NUMBER, campaign_id=campaign)
        assert a.id == b.id and c.id == d.id and a.id != c.id
    # The database itself refuses a second system-wide entry (the partial unique index) and a second campaign one.
    for scope in (None, campaign):
        with pytest.raises(IntegrityError):
            async with db.session() as s:
                s.add(DncEntry(e164=NUMBER, campaign_id=scope))
                await s.flush()
    async with db.session() as s:
        assert await s.scalar(select(func.count()).select_from(DncEntry)) == 2


async def test_concurrent_adds_give_one_entry(db: Database) -> None:
    async def one(i: int) -> int:
        async with db.session() as s:
            return (await dnc_store.add(s, NUMBER, reason=f"r{i}")).id

    ids = await asyncio.gather(*(one(i) for i in range(10)))
    assert len(set(ids)) == 1
    async with db.session() as s:
        assert await s.scalar(select(func.count()).select_from(DncEntry)) == 1


async def test_bad_numbers_are_refused_naming_the_field(db: Database) -> None:
    async with db.session() as s:
        for raw in ("2125550123", "not a number", "+1", "+1 212 555 0123 ext. 7", "", None):
            with pytest.raises(Invalid) as caught:
                await dnc_store.add(s, raw)  # type: ignore[arg-type]
            assert caught.value.field == "e164"
        with pytest.raises(Invalid) as caught:
            await dnc_store.add(s, NUMBER, reason="x" * 301)
        assert caught.value.field == "reason"


async def _people(db: Database) -> dict[str, int]:
    async with db.session() as s:
        flagged = Contact(last_name="Flagged", do_not_call=True, call_consent=CallConsent.GRANTED,
                          phones=[Phone(e164=NUMBER, raw=NUMBER)])
        willing = Contact(last_name="Willing", call_consent=CallConsent.GRANTED,
                          phones=[Phone(e164="+12125550111", raw="+12125550111")])
        unknown = Lead(title="Unknown", phones=[Phone(e164="+12125550122", raw="+12125550122")])
        refused = Lead(title="Refused", call_consent=CallConsent.REFUSED)  # no number of its own
        s.add_all([flagged, willing, unknown, refused])
        await s.flush()
        return {"flagged": flagged.id, "willing": willing.id, "unknown": unknown.id, "refused": refused.id}


async def test_record_flags_and_consent(db: Database) -> None:
    ids = await _people(db)
    (campaign,) = await _campaigns(db, 1)
    async with db.session() as s:
        flags = await dnc_store.number_flags(s, NUMBER, campaign)
        assert flags == dnc_store.NumberFlags(record_do_not_call=True, consent=CallConsent.GRANTED)
        assert await dnc_store.is_blocked(s, NUMBER, campaign) is Reason.DNC_RECORD
        willing = await dnc_store.number_flags(s, "+12125550111", campaign)
        assert willing == dnc_store.NumberFlags(consent=CallConsent.GRANTED) and willing.blocked is None
        assert (await dnc_store.number_flags(s, "+12125550122", campaign)).consent is CallConsent.UNKNOWN
        # A number no record has: no flag, consent unknown.
        assert await dnc_store.number_flags(s, OTHER, campaign) == dnc_store.NumberFlags()
        # The record being called counts too (the report's row), and the strictest consent wins.
        called = await dnc_store.number_flags(s, "+12125550111", campaign, lead_id=ids["refused"])
        assert called.consent is CallConsent.REFUSED
        mixed = await dnc_store.number_flags(s, "+12125550111", campaign, lead_id=ids["unknown"])
        assert mixed.consent is CallConsent.UNKNOWN
        by_contact = await dnc_store.number_flags(s, OTHER, None, contact_id=ids["flagged"])
        assert by_contact.record_do_not_call and by_contact.blocked is Reason.DNC_RECORD


async def test_the_check_is_one_statement(db: Database) -> None:
    await _people(db)
    (campaign,) = await _campaigns(db, 1)
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    async with db.session() as s:
        await dnc_store.add(s, NUMBER, campaign_id=campaign)
    event.listen(db.engine.sync_engine, "before_cursor_execute", count)
    try:
        async with db.read_session() as s:
            statements.clear()
            flags = await dnc_store.number_flags(s, NUMBER, campaign, contact_id=1, lead_id=1)
            checked = [q for q in statements if "dialer_dnc" in q]
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", count)
    assert len(checked) == 1 and all(t in checked[0] for t in ("contacts", "leads", "phones"))
    assert flags.on_campaign_dnc and flags.record_do_not_call


async def test_a_number_added_mid_campaign_is_refused_at_its_next_dial(db: Database) -> None:
    (campaign,) = await _campaigns(db, 1)
    rules = DialRules()
    now_s = 1_796_655_600.0  # Monday 2026-12-07 10:00 in New York

    async def verdict() -> Any:
        async with db.read_session() as s:
            flags = await dnc_store.number_flags(s, OTHER, campaign)
        facts = DialFacts(OTHER, on_system_dnc=flags.on_system_dnc, on_campaign_dnc=flags.on_campaign_dnc,
                          record_do_not_call=flags.record_do_not_call, consent=CallConsent.GRANTED)
        return may_dial(now_s, facts, rules)

    assert not isinstance(await verdict(), Refusal)
    async with db.session() as s:
        await dnc_store.add(s, OTHER, campaign_id=campaign, reason="asked during the call")
    refused = await verdict()
    assert isinstance(refused, Refusal) and refused.reason is Reason.DNC_CAMPAIGN
