"""Which team's pool a missed call's callback goes to, and whose SLA sets its due time (on both databases)."""

from __future__ import annotations

import dataclasses

from sqlalchemy import select

from callcenter.crm_bridge import BridgeRules, CrmBridge
from callcenter.events import CallEnded, CallRouted
from crm_core import records, users
from crm_core.access import Principal
from crm_core.db import Database
from crm_core.models import Entity, Task
from crm_core.schemas import ContactIn, PhoneIn, TeamIn, UserIn
from tests.crm_bridge.test_bridge import RULES, ended

T0 = 1_795_390_000.0  # the misses of tests.crm_bridge.test_bridge.ended end at T0 + 30
DIDS = {"8001": "Sales", "8002": "Support"}


def to_support(call: CallEnded) -> CallEnded:
    return dataclasses.replace(call, did="8002")


async def seed(db: Database, *, sales_sla_s: float | None = None) -> dict[str, int]:
    """Teams Sales (optionally with its own SLA) and Support, an agent in each; ids by name."""
    ids: dict[str, int] = {}
    async with db.session() as s:
        system = Principal.system()
        for name, sla in (("Sales", sales_sla_s), ("Support", None)):
            ids[name] = (await users.create_team(s, system, TeamIn(name=name, callback_sla_s=sla))).id
        for name, team, ext in (("sally", "Sales", "1002"), ("sue", "Support", "1003")):
            user = await users.create_user(s, system, UserIn(name=name, team_id=ids[team], extension=ext))
            ids[name] = user.id
    return ids


def bridge(db: Database, *, due_calls: list[tuple[str | None, float, float]] | None = None, **kw: object) -> CrmBridge:
    """A bridge whose owners are away (so callbacks go to the pool) and whose DIDs belong to DIDS' teams."""

    def due(team: str | None, ended_s: float, sla_s: float) -> float:
        if due_calls is not None:
            due_calls.append((team, ended_s, sla_s))
        return ended_s + sla_s

    options: dict[str, object] = {"did_team": DIDS.get, "present": lambda _user_id: False, "callback_due_s": due, **kw}
    return CrmBridge(db=db, phone_rules=RULES, rules=BridgeRules(callback_sla_s=900), **options)  # type: ignore[arg-type]


async def callbacks(db: Database) -> list[Task]:
    async with db.session() as s:
        return list(await s.scalars(select(Task).order_by(Task.id)))


async def test_a_pool_callback_goes_to_the_team_of_the_dids_route(db: Database) -> None:
    ids = await seed(db)
    b = bridge(db)
    await b.handle(ended("m1"))  # DID 8001: Sales
    await b.handle(to_support(ended("m2", customer="+1 212 555 0142")))
    first, second = await callbacks(db)
    assert (first.assignee_id, first.team_id) == (None, ids["Sales"])
    assert (second.assignee_id, second.team_id) == (None, ids["Support"])


async def test_the_routing_decision_names_the_team_before_the_did(db: Database) -> None:
    ids = await seed(db)
    b = bridge(db)
    b._routed(CallRouted(call_id="m1", at_s=T0, attempt=1, action="queue", reason="no-agent->queue", team="Support"))
    await b.handle(ended("m1"))  # to Sales' DID, but routing sent it to Support
    [task] = await callbacks(db)
    assert task.team_id == ids["Support"]


async def test_without_a_team_of_that_name_the_responsible_agents_team(db: Database) -> None:
    ids = await seed(db)
    async with db.session() as s:
        await records.create(s, Principal.system(), RULES, Entity.CONTACT,
                             ContactIn(last_name="Known", responsible_id=ids["sue"], phones=[PhoneIn(number="+1 212 555 0199")]))
    await bridge(db, did_team=lambda _did: "Night shift").handle(ended("m1"))  # a routing team with no CRM team
    [task] = await callbacks(db)
    assert (task.assignee_id, task.team_id) == (None, ids["Support"])  # Sue is away: her team's pool


async def test_nothing_to_go_by_files_it_under_no_team(db: Database) -> None:
    await seed(db)
    # No routing knowledge, and nobody was offered the call: its lead has no responsible agent either.
    await bridge(db, did_team=None).handle(dataclasses.replace(ended("m1"), agents_rung=()))
    [task] = await callbacks(db)
    assert (task.assignee_id, task.team_id) == (None, None)


async def test_a_merged_miss_keeps_the_callbacks_team_and_an_old_one_without_a_team_gets_one(db: Database) -> None:
    ids = await seed(db)
    b = bridge(db)
    await b.handle(ended("m1"))  # Sales
    b._routed(CallRouted(call_id="m2", at_s=T0 + 100, attempt=1, action="queue", reason="no-agent->queue", team="Support"))
    await b.handle(ended("m2", at_s=T0 + 100))
    [task] = await callbacks(db)
    assert (task.missed_count, task.team_id) == (2, ids["Sales"])

    async with db.session() as s:  # as written before tasks had teams
        (await s.get(Task, task.id)).team_id = None  # type: ignore[union-attr]
    await b.handle(ended("m3", at_s=T0 + 200))
    [task] = await callbacks(db)
    assert (task.missed_count, task.team_id) == (3, ids["Sales"])


async def test_the_teams_own_sla_sets_the_due_time_else_the_global_one(db: Database) -> None:
    ids = await seed(db, sales_sla_s=120)
    asked: list[tuple[str | None, float, float]] = []
    b = bridge(db, due_calls=asked)
    await b.handle(ended("m1"))  # Sales: 120 s
    await b.handle(to_support(ended("m2", customer="+1 212 555 0142")))  # Support: the global 900 s
    sales, support = await callbacks(db)
    # The team's name goes along, so the composition root counts the SLA in that team's opening hours.
    assert asked == [("Sales", T0 + 30, 120.0), ("Support", T0 + 30, 900.0)]
    assert sales.due_at is not None and sales.due_at.timestamp() == T0 + 30 + 120
    assert support.due_at is not None and support.due_at.timestamp() == T0 + 30 + 900
    assert (sales.team_id, support.team_id) == (ids["Sales"], ids["Support"])
