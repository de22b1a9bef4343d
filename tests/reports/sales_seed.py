"""A seeded sales world with known stage histories, leads, activities and tasks (written as rows, times chosen).

The period under test is March 2026 (UTC): ``FROM_S`` inclusive, ``TO_S`` exclusive. Deals of pipeline "Sales"
(New 0, Qualified 1, Offer 2, Won 3, Lost 4), amounts in USD unless said, days in March unless said:

- D1 a1 100: New 2 -> Qualified 4 -> Offer 7 -> Won 10 (lead L1).
- D2 a1 200: New 3 -> Offer 5 (skips Qualified) -> Lost 8, reason "price" (lead L2).
- D3 a2 300: New 5 -> Qualified 6 -> New 8 (goes back) -> Qualified 12, open.
- D4 b1 400 EUR: New Feb 20 -> Qualified Feb 25 -> Offer 3 -> Won 4 -> Offer 6 (reopened) -> Won 8 (lead L5).
- D5 a1 500: New Feb 10 -> Qualified Feb 15, open (nothing in March).
- D6 a2 no amount: New 30 -> Qualified Apr 2, open (its second step is after the period).
- D7 a1 50: New 20 -> Lost 31 12:00, no reason.
- D8 a2 70: New 1 00:00 -> Lost Apr 1 00:00 (closes exactly at the period's end: outside).
Pipeline "Other" (Open 0, Done 1 won, Dropped 2 lost): D9 a1 1000: Open 2 -> Done 3; D10 b1 10: Open 2 -> Dropped 15,
reason "price".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal

from crm_core.db import Database
from crm_core.models import (
    Activity,
    ActivityKind,
    Deal,
    DealStageChange,
    DealStatus,
    Direction,
    Lead,
    LeadStatus,
    Pipeline,
    PipelineStage,
    Role,
    StageKind,
    Task,
    TaskKind,
    TaskStatus,
    Team,
    User,
)

DAY_S = 86_400.0


def at(month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=timezone.utc)


def mar(day: int, hour: int = 0) -> datetime:
    return at(3, day, hour)


FROM_S = at(3, 1).timestamp()
TO_S = at(4, 1).timestamp()
NOW_S = at(4, 1).timestamp()  # "now" for stuck deals


@dataclass
class Seeded:
    team_a: int
    team_b: int
    admin: int
    sup_a: int
    a1: int
    a2: int
    b1: int
    idle_gone: int  # deactivated, did nothing
    busy_gone: int  # deactivated, wrote a note in March
    sales: int
    other: int
    stage: dict[str, int]  # Sales stage name -> id
    other_stage: dict[str, int]
    deal: dict[str, int]  # "D1" -> id
    lead: dict[str, int]


async def seed(db: Database) -> Seeded:
    async with db.session() as s:
        team_a, team_b = Team(name="Team A", timezone="Europe/Berlin"), Team(name="Team B")
        s.add_all([team_a, team_b])
        await s.flush()
        users = {
            "admin": User(name="Ada Admin", role=Role.ADMIN),
            "sup_a": User(name="Sam Supervisor", role=Role.SUPERVISOR, team_id=team_a.id),
            "a1": User(name="Alice Agent", team_id=team_a.id),
            "a2": User(name="Arno Agent", team_id=team_a.id),
            "b1": User(name="Bea Agent", team_id=team_b.id),
            "idle_gone": User(name="Ida Gone", team_id=team_a.id, active=False),
            "busy_gone": User(name="Bob Gone", team_id=team_a.id, active=False),
        }
        s.add_all(users.values())
        await s.flush()
        uid = {k: u.id for k, u in users.items()}

        sales = Pipeline(name="Sales", is_default=True)
        sales.stages = [
            PipelineStage(name=n, position=i, kind=k)
            for i, (n, k) in enumerate(
                [("New", StageKind.OPEN), ("Qualified", StageKind.OPEN), ("Offer", StageKind.OPEN),
                 ("Won", StageKind.WON), ("Lost", StageKind.LOST)]
            )
        ]
        other = Pipeline(name="Other")
        other.stages = [
            PipelineStage(name="Open", position=0, kind=StageKind.OPEN),
            PipelineStage(name="Done", position=1, kind=StageKind.WON),
            PipelineStage(name="Dropped", position=2, kind=StageKind.LOST),
        ]
        s.add_all([sales, other])
        await s.flush()
        st = {x.name: x.id for x in sales.stages}
        ot = {x.name: x.id for x in other.stages}
        kind_of = {x.id: x.kind for x in [*sales.stages, *other.stages]}

        leads = {
            "L1": Lead(title="L1", source="phone", channel="+15550100", responsible_id=uid["a1"],
                       created_at=mar(2), converted_at=mar(4), status=LeadStatus.CONVERTED),
            "L2": Lead(title="L2", source="phone", channel="+15550100", responsible_id=uid["a1"],
                       created_at=mar(3), converted_at=mar(3, 6), status=LeadStatus.CONVERTED),
            "L3": Lead(title="L3", source="phone", channel="+15550100", responsible_id=uid["a2"], created_at=mar(5)),
            "L4": Lead(title="L4", source="phone", channel="+15550199", responsible_id=uid["b1"], created_at=mar(10)),
            "L5": Lead(title="L5", source="web", channel="contact-form", responsible_id=uid["b1"],
                       created_at=mar(11), converted_at=mar(21), status=LeadStatus.CONVERTED),
            "L6": Lead(title="L6", source="web", channel="contact-form", responsible_id=uid["a1"],
                       created_at=at(2, 27), converted_at=mar(1), status=LeadStatus.CONVERTED),
            "L7": Lead(title="L7", source="campaign", channel=None, responsible_id=None, created_at=mar(31)),
        }
        s.add_all(leads.values())
        await s.flush()

        def deal(title: str, pipeline: Pipeline, owner: str, amount: str | None, path: list[tuple[int, datetime]],
                 *, currency: str = "USD", reason: str | None = None, lead: str | None = None) -> Deal:
            last_stage, last_at = path[-1]
            status = {StageKind.OPEN: DealStatus.OPEN, StageKind.WON: DealStatus.WON, StageKind.LOST: DealStatus.LOST}[
                kind_of[last_stage]]
            d = Deal(
                title=title, pipeline_id=pipeline.id, stage_id=last_stage, status=status,
                amount=Decimal(amount) if amount is not None else None, currency=currency,
                responsible_id=uid[owner], created_at=path[0][1], lost_reason=reason,
                closed_at=None if status is DealStatus.OPEN else last_at,
                lead_id=leads[lead].id if lead else None,
            )
            s.add(d)
            d._path = path  # type: ignore[attr-defined]
            return d

        deals = {
            "D1": deal("D1", sales, "a1", "100", [(st["New"], mar(2)), (st["Qualified"], mar(4)), (st["Offer"], mar(7)),
                                                  (st["Won"], mar(10))], lead="L1"),
            "D2": deal("D2", sales, "a1", "200", [(st["New"], mar(3)), (st["Offer"], mar(5)), (st["Lost"], mar(8))],
                       reason="price", lead="L2"),
            "D3": deal("D3", sales, "a2", "300", [(st["New"], mar(5)), (st["Qualified"], mar(6)), (st["New"], mar(8)),
                                                  (st["Qualified"], mar(12))]),
            "D4": deal("D4", sales, "b1", "400", [(st["New"], at(2, 20)), (st["Qualified"], at(2, 25)),
                                                  (st["Offer"], mar(3)), (st["Won"], mar(4)), (st["Offer"], mar(6)),
                                                  (st["Won"], mar(8))], currency="EUR", lead="L5"),
            "D5": deal("D5", sales, "a1", "500", [(st["New"], at(2, 10)), (st["Qualified"], at(2, 15))]),
            "D6": deal("D6", sales, "a2", None, [(st["New"], mar(30)), (st["Qualified"], at(4, 2))]),
            "D7": deal("D7", sales, "a1", "50", [(st["New"], mar(20)), (st["Lost"], mar(31, 12))]),
            "D8": deal("D8", sales, "a2", "70", [(st["New"], mar(1)), (st["Lost"], at(4, 1))]),
            "D9": deal("D9", other, "a1", "1000", [(ot["Open"], mar(2)), (ot["Done"], mar(3))]),
            "D10": deal("D10", other, "b1", "10", [(ot["Open"], mar(2)), (ot["Dropped"], mar(15))], reason="price"),
        }
        await s.flush()
        for d in deals.values():
            previous = None
            for stage_id, when in d._path:  # type: ignore[attr-defined]
                s.add(DealStageChange(deal_id=d.id, from_stage_id=previous, to_stage_id=stage_id, changed_at=when))
                previous = stage_id
        for key, d in (("L1", "D1"), ("L2", "D2"), ("L5", "D4")):
            leads[key].converted_deal_id = deals[d].id

        def act(kind: ActivityKind, user: str, when: datetime, direction: Direction | None = None,
                result: str | None = None, talk_s: float | None = None) -> Activity:
            return Activity(kind=kind, user_id=uid[user], started_at=when, direction=direction, result=result,
                            talk_s=talk_s)

        call = ActivityKind.CALL
        s.add_all([
            act(call, "a1", mar(2, 9), Direction.INBOUND, "answered", 60.0),
            act(call, "a1", mar(2, 10), Direction.INBOUND, "missed", None),
            act(call, "a1", mar(3, 9), Direction.OUTBOUND, "answered", 30.5),
            act(call, "a1", mar(3, 10), Direction.INTERNAL, "answered", 99.0),  # agent to agent: no sales activity
            act(call, "a1", at(2, 28, 23), Direction.INBOUND, "answered", 500.0),  # before the period
            act(ActivityKind.MEETING, "a1", mar(4)),
            act(ActivityKind.EMAIL, "a1", mar(5)),
            act(ActivityKind.EMAIL, "a1", mar(6)),
            act(ActivityKind.NOTE, "a1", mar(7)),
            act(ActivityKind.NOTE, "a2", mar(31, 23)),
            act(ActivityKind.NOTE, "a2", at(4, 1)),  # at the period's end: outside
            act(call, "b1", mar(9), Direction.OUTBOUND, "busy", None),
            act(ActivityKind.NOTE, "busy_gone", mar(9)),
        ])

        def task(user: str, kind: TaskKind, status: TaskStatus, completed: datetime | None) -> Task:
            return Task(title="t", assignee_id=uid[user], kind=kind, status=status, completed_at=completed)

        s.add_all([
            task("a1", TaskKind.TASK, TaskStatus.DONE, mar(5)),
            task("a1", TaskKind.CALLBACK, TaskStatus.DONE, mar(6)),
            task("a1", TaskKind.TASK, TaskStatus.DONE, at(4, 1)),  # outside
            task("a1", TaskKind.TASK, TaskStatus.OPEN, None),
            task("a2", TaskKind.TASK, TaskStatus.CANCELLED, mar(6)),  # cancelled is not done
        ])
        await s.flush()
        return Seeded(
            team_a=team_a.id, team_b=team_b.id, admin=uid["admin"], sup_a=uid["sup_a"], a1=uid["a1"], a2=uid["a2"],
            b1=uid["b1"], idle_gone=uid["idle_gone"], busy_gone=uid["busy_gone"], sales=sales.id, other=other.id,
            stage=st, other_stage=ot, deal={k: d.id for k, d in deals.items()}, lead={k: v.id for k, v in leads.items()},
        )
