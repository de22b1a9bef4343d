"""The routing CRM lookup (one statement, read-only transaction) on real SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from callcenter.routing.adapters import DbCrmLookup
from crm_core.access import Principal
from crm_core.db import Database
from crm_core.deals import create_deal, create_pipeline
from crm_core.models import Activity, ActivityKind, DealStatus, Entity, Role, StageKind
from crm_core.records import PhoneRules, create
from crm_core.schemas import CompanyIn, ContactIn, DealIn, LeadIn, PhoneIn, PipelineIn, StageIn, TeamIn, UserIn
from crm_core.users import create_team, create_user

RULES = PhoneRules.build(region="US", own_numbers=["+12125550100"])
SYSTEM = Principal.system()


async def _seed(db: Database) -> dict[str, int]:
    ids: dict[str, int] = {}
    async with db.session() as s:
        team = await create_team(s, SYSTEM, TeamIn(name="Sales", timezone="UTC"))
        for name, ext in (("anna", "1002"), ("ben", "1003"), ("cleo", "1004")):
            user = await create_user(s, SYSTEM, UserIn(name=name, role=Role.AGENT, team_id=team.id, extension=ext))
            ids[name] = user.id
        pipeline = await create_pipeline(s, SYSTEM, PipelineIn(name="P", is_default=True, stages=[
            StageIn(name="New"), StageIn(name="Won", kind=StageKind.WON)]))
        company = await create(s, SYSTEM, RULES, Entity.COMPANY, CompanyIn(
            name="Acme", responsible_id=ids["anna"], phones=[PhoneIn(number="+12125550111")]))
        contact = await create(s, SYSTEM, RULES, Entity.CONTACT, ContactIn(
            first_name="Dana", last_name="Doe", company_id=company.id, responsible_id=ids["anna"],
            phones=[PhoneIn(number="+12125550122")]))
        await create(s, SYSTEM, RULES, Entity.LEAD, LeadIn(
            title="Walk-in", responsible_id=ids["cleo"], phones=[PhoneIn(number="+12125550133")]))
        await s.flush()
        ids["company"], ids["contact"] = company.id, contact.id
        # The contact's open deal belongs to ben: the deal's owner wins over the contact's.
        deal = await create_deal(s, SYSTEM, DealIn(title="Pilot", pipeline_id=pipeline.id,
                                                   stage_id=pipeline.stages[0].id, contact_id=contact.id,
                                                   responsible_id=ids["ben"]))
        ids["deal"] = deal.id
        # A closed deal and an unowned one never win.
        closed = await create_deal(s, SYSTEM, DealIn(title="Old", pipeline_id=pipeline.id,
                                                     stage_id=pipeline.stages[0].id, company_id=company.id,
                                                     responsible_id=ids["cleo"]))
        closed.status = DealStatus.WON
        await create_deal(s, SYSTEM, DealIn(title="Nobody's", pipeline_id=pipeline.id,
                                            stage_id=pipeline.stages[0].id, company_id=company.id))
        for at, user, result in ((datetime(2026, 1, 1, tzinfo=UTC), "anna", "answered"),
                                 (datetime(2026, 1, 3, tzinfo=UTC), "cleo", "answered"),
                                 (datetime(2026, 1, 5, tzinfo=UTC), "ben", "missed")):
            s.add(Activity(kind=ActivityKind.CALL, result=result, user_id=ids[user], started_at=at,
                           from_e164="+12125550111", to_e164="+12125550100", call_meta={}))
    return ids


@pytest.mark.parametrize("number", ["not a number", "", "+12125550100", "+12125550199"])
async def test_unknown_bad_and_own_numbers_match_nothing(db: Database, number: str) -> None:
    await _seed(db)
    assert await DbCrmLookup(db, RULES)(number) is None


async def test_an_open_owned_deal_wins_over_its_contact(db: Database) -> None:
    ids = await _seed(db)
    match = await DbCrmLookup(db, RULES)("(212) 555-0122")
    assert match is not None
    assert (match.entity, match.record_id, match.responsible_user_id) == ("deal", ids["deal"], ids["ben"])
    assert match.last_agent_user_id is None


async def test_a_company_without_an_eligible_deal_keeps_its_owner_and_knows_who_last_answered(db: Database) -> None:
    ids = await _seed(db)
    match = await DbCrmLookup(db, RULES, vip_numbers=frozenset({"+12125550111"}))("+1 212 555 0111")
    assert match is not None
    assert (match.entity, match.record_id, match.responsible_user_id) == ("company", ids["company"], ids["anna"])
    # The newest *answered* call wins; ben's later missed call does not count.
    assert match.last_agent_user_id == ids["cleo"]
    assert match.last_talked_at_s == datetime(2026, 1, 3, tzinfo=UTC).timestamp()
    assert match.vip


async def test_a_lead_routes_to_its_responsible(db: Database) -> None:
    ids = await _seed(db)
    match = await DbCrmLookup(db, RULES)("+12125550133")
    assert match is not None and (match.entity, match.responsible_user_id) == ("lead", ids["cleo"])


async def test_a_read_session_cannot_write_on_postgresql_and_leaves_the_pool_writable(db: Database) -> None:
    await _seed(db)
    if db.dialect == "postgresql":
        with pytest.raises(DBAPIError, match="read-only"):
            async with db.read_session() as s:
                await s.execute(text("UPDATE users SET name = 'x'"))
    # Whatever connection the reader used is an ordinary writer again afterwards.
    for _ in range(3):
        async with db.session() as s:
            await s.execute(text("UPDATE users SET name = name"))
        async with db.read_session() as s:
            assert (await s.execute(text("SELECT count(*) FROM users"))).scalar_one() == 3


async def test_the_same_statement_brings_the_callers_name_for_the_display(db: Database) -> None:
    """Contact name and the contact's company, a company's name, a lead's title, an open callback: one round trip."""
    from crm_core.models import Task, TaskKind, TaskStatus

    await _seed(db)
    async with db.session() as s:
        s.add(Task(title="Call back", kind=TaskKind.CALLBACK, status=TaskStatus.OPEN, callback_e164="+12125550133"))
    lookup = DbCrmLookup(db, RULES)
    contact, company, lead = [await lookup(n) for n in ("+12125550122", "+12125550111", "+12125550133")]
    assert contact is not None and company is not None and lead is not None
    # the contact's number wins its open deal for routing, and still shows the person and their company
    assert (contact.entity, contact.contact_name, contact.company_name, contact.lead_title) == (
        "deal", "Dana Doe", "Acme", None)
    assert (company.contact_name, company.company_name, company.open_callback) == (None, "Acme", False)
    assert (lead.lead_title, lead.open_callback) == ("Walk-in", True)
    # without names (routing.caller_name.enabled = false) the statement does not fetch them
    bare = await DbCrmLookup(db, RULES, names=False)("+12125550122")
    assert bare is not None and (bare.entity, bare.contact_name, bare.open_callback) == ("deal", None, False)
