"""A small sample CRM for the demo, created through crm_core's own services (as an admin would through the API):
one team, the agents as users with their extensions, customers with responsible managers, and open deals.

Seeding is idempotent: a database that already holds the sample team is read back, not seeded again (a second
`callcenter demo` on the same data, or a test floor reusing a database, neither fails nor doubles anything)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import func, select

from crm_core.access import Principal
from crm_core.db import Database
from crm_core.deals import create_deal, create_pipeline
from crm_core.models import Contact, Deal, Entity, Phone, Role, StageKind, Team, User
from crm_core.records import PhoneRules, create
from crm_core.schemas import CompanyIn, ContactIn, DealIn, PhoneIn, PipelineIn, StageIn, TeamIn, UserIn
from crm_core.users import create_team, create_user

__all__ = ["TEAM", "SeededCrm", "seed_crm"]

TEAM = "Sales"  # the CRM team of the sample agents, and the routing team that serves the demo's DIDs

_AGENT_NAMES = ("Anna Berg", "Ben Carter", "Chloe Diaz", "David Engel", "Eva Fischer", "Finn Garcia", "Gina Hall",
                "Hugo Ito")
_CUSTOMERS = (
    ("Grace", "Hopper", "Hopper Logistics"),
    ("Alan", "Turing", "Bletchley Parts"),
    ("Ada", "Lovelace", "Analytical Engines"),
    ("Edsger", "Dijkstra", "Shortest Path Freight"),
    ("Barbara", "Liskov", "Substitution Supplies"),
    ("Donald", "Knuth", "TeX Tools"),
    ("Frances", "Allen", "Compiler Works"),
    ("Ken", "Thompson", "Unix Hardware"),
)


@dataclass(frozen=True, slots=True)
class SeededCrm:
    agents: dict[str, int]  # extension -> user id
    customers: dict[str, str]  # E.164 number -> responsible agent's extension
    deals: int


def customer_number(index: int) -> str:
    return f"+1212555{2000 + index:04d}"


async def seed_crm(db: Database, *, extensions: list[str], seed: int) -> SeededCrm:
    existing = await _existing(db)
    if existing is not None:
        return existing
    rng = random.Random(seed)
    system = Principal.system()
    rules = PhoneRules.build(region="US", own_numbers=())
    async with db.session() as s:
        team = await create_team(s, system, TeamIn(name=TEAM, timezone="UTC"))
        agents: dict[str, int] = {}
        for i, ext in enumerate(extensions):
            name = _AGENT_NAMES[i % len(_AGENT_NAMES)]
            user = await create_user(s, system, UserIn(name=name, role=Role.AGENT, team_id=team.id, extension=ext,
                                                       email=f"{name.split()[0].lower()}@example.com"))
            agents[ext] = user.id
        pipeline = await create_pipeline(s, system, PipelineIn(name="Sales", is_default=True, stages=[
            StageIn(name="New"), StageIn(name="Qualified"), StageIn(name="Proposal"),
            StageIn(name="Won", kind=StageKind.WON), StageIn(name="Lost", kind=StageKind.LOST)]))
        customers: dict[str, str] = {}
        deals = 0
        for i, (first, last, company_name) in enumerate(_CUSTOMERS):
            ext = extensions[i % len(extensions)]
            number = customer_number(i)
            company = await create(s, system, rules, Entity.COMPANY, CompanyIn(name=company_name,
                                                                                 responsible_id=agents[ext]))
            contact = await create(s, system, rules, Entity.CONTACT, ContactIn(
                first_name=first, last_name=last, company_id=company.id, responsible_id=agents[ext],
                phones=[PhoneIn(number=number, kind="work")], emails=[f"{first.lower()}@{last.lower()}.example"]))
            await s.flush()
            customers[number] = ext
            stage = pipeline.stages[rng.randrange(0, 3)]
            await create_deal(s, system, DealIn(
                title=f"{company_name}: {rng.choice(['annual contract', 'spare parts', 'pilot project'])}",
                pipeline_id=pipeline.id, stage_id=stage.id, amount=Decimal(rng.randrange(5, 120) * 500),
                contact_id=contact.id, company_id=company.id, responsible_id=agents[ext]))
            deals += 1
    return SeededCrm(agents=agents, customers=customers, deals=deals)


async def _existing(db: Database) -> SeededCrm | None:
    """The sample CRM already in ``db`` (agents by extension, customers' numbers and their managers), or None."""
    async with db.session() as s:
        team_id = await s.scalar(select(Team.id).where(Team.name == TEAM))
        if team_id is None:
            return None
        agents = {ext: uid for ext, uid in (await s.execute(
            select(User.extension, User.id).where(User.team_id == team_id, User.extension.is_not(None)))).all()}
        by_user = {uid: ext for ext, uid in agents.items()}
        numbers = [customer_number(i) for i in range(len(_CUSTOMERS))]
        rows = (await s.execute(
            select(Phone.e164, Contact.responsible_id).join(Contact, Contact.id == Phone.contact_id)
            .where(Phone.e164.in_(numbers)))).all()
        customers = {number: by_user.get(owner, "") for number, owner in rows}
        deals = await s.scalar(select(func.count(Deal.id)))
    return SeededCrm(agents=agents, customers=customers, deals=int(deals or 0))
