"""A small CRM for the saved-report tests, with every value written down so expectations are computed by hand.

Teams A and B; sup_a supervises A; a1 and a2 are A's agents, b1 is B's. Now is NOW.

contact  owner  last_name position tags                 dnc   consent  score region since       phones
c1       a1     Alpha     CEO      vip, newsletter      no    granted  10    north  2026-06-10  +4930111
c2       a2     Beta      -        vip                  yes   refused  25.5  south  2026-01-01  +4930222
c3       b1     Gamma     -        -                    no    unknown  -     -      -           +4930333
c4       -      Delta     -        newsletter           no    unknown  5     -      -           -
c5       a1     Epsilon   -        -                    no    unknown  -     -      -           +4930555, +4930556

activities: c1: a1's call NOW-3d answered (disposition sale), b1's call NOW-1d missed (a1 and sup_a cannot see it);
c2: a2's call NOW-10d missed; c3: b1's call NOW-50h answered; c4: a1's meeting NOW-40d.
open callbacks: for +4930222 (c2's number, no link; team A, a2) and linked to c3 (team B, b1); c5's is done.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from crm_core.access import Principal
from crm_core.db import Database
from crm_core.models import (
    Activity,
    ActivityKind,
    CallConsent,
    Contact,
    CustomFieldDef,
    Disposition,
    Entity,
    FieldType,
    Phone,
    Role,
    Task,
    TaskKind,
    TaskStatus,
    Team,
    User,
)

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=timezone.utc)


@dataclass
class World:
    c: dict[int, int]  # c1..c5 -> contact id
    admin: Principal
    sup_a: Principal
    a1: Principal
    a2: Principal
    b1: Principal

    def ids(self, *numbers: int) -> list[int]:
        return sorted(self.c[n] for n in numbers)

    def names(self, ids: list[int]) -> list[int]:
        """Contact ids back to their numbers (c1 -> 1), for readable assertions."""
        back = {v: k for k, v in self.c.items()}
        return sorted(back[i] for i in ids)


async def seed(db: Database) -> World:
    async with db.session() as s:
        team_a, team_b = Team(name="A"), Team(name="B")
        s.add_all([team_a, team_b])
        await s.flush()
        users = {
            "admin": User(name="Ada", role=Role.ADMIN),
            "sup_a": User(name="Sam", role=Role.SUPERVISOR, team_id=team_a.id),
            "a1": User(name="Alice", role=Role.AGENT, team_id=team_a.id),
            "a2": User(name="Arno", role=Role.AGENT, team_id=team_a.id),
            "b1": User(name="Bea", role=Role.AGENT, team_id=team_b.id),
        }
        s.add_all(users.values())
        await s.flush()
        s.add_all([
            CustomFieldDef(entity=Entity.CONTACT, key="score", label="Score", field_type=FieldType.NUMBER),
            CustomFieldDef(entity=Entity.CONTACT, key="region", label="Region", field_type=FieldType.CHOICE,
                           choices=["north", "south"]),
            CustomFieldDef(entity=Entity.CONTACT, key="since", label="Customer since", field_type=FieldType.DATE),
            CustomFieldDef(entity=Entity.CONTACT, key="note", label="Note", field_type=FieldType.STRING),
        ])
        u = {k: v.id for k, v in users.items()}
        rows = [
            ("Anna", "Alpha", "CEO", u["a1"], ["vip", "newsletter"], False, CallConsent.GRANTED,
             {"score": 10, "region": "north", "since": "2026-06-10", "note": "=HYPERLINK(1)"}),
            ("Bert", "Beta", None, u["a2"], ["vip"], True, CallConsent.REFUSED,
             {"score": 25.5, "region": "south", "since": "2026-01-01"}),
            ("Cora", "Gamma", None, u["b1"], [], False, CallConsent.UNKNOWN, {}),
            ("Dan", "Delta", None, None, ["newsletter"], False, CallConsent.UNKNOWN, {"score": 5}),
            ("Eve", "Epsilon", None, u["a1"], [], False, CallConsent.UNKNOWN, {}),
        ]
        contacts = {}
        for n, (first, last, position, owner, tags, dnc, consent, custom) in enumerate(rows, start=1):
            contact = Contact(first_name=first, last_name=last, position=position, responsible_id=owner, tags=tags,
                              do_not_call=dnc, call_consent=consent, custom=custom)
            s.add(contact)
            await s.flush()
            contacts[n] = contact.id
        for n, e164 in [(1, "+4930111"), (2, "+4930222"), (3, "+4930333"), (5, "+4930555"), (5, "+4930556")]:
            s.add(Phone(e164=e164, raw=e164, contact_id=contacts[n]))
            await s.flush()  # ids in this order: c5's first number is +4930555

        def call(n: int, user: str, ago: timedelta, result: str, **kw: object) -> Activity:
            return Activity(kind=ActivityKind.CALL, contact_id=contacts[n], user_id=u[user], started_at=NOW - ago,
                            result=result, call_meta={}, **kw)

        s.add_all([
            call(1, "a1", timedelta(days=3), "answered", disposition=Disposition.SALE),
            call(1, "b1", timedelta(days=1), "missed"),
            call(2, "a2", timedelta(days=10), "missed"),
            call(3, "b1", timedelta(hours=50), "answered"),
            Activity(kind=ActivityKind.MEETING, contact_id=contacts[4], user_id=u["a1"], started_at=NOW - timedelta(days=40),
                     call_meta={}),
            Task(title="call back", kind=TaskKind.CALLBACK, status=TaskStatus.OPEN, callback_e164="+4930222",
                 team_id=team_a.id, assignee_id=u["a2"]),
            Task(title="call back", kind=TaskKind.CALLBACK, status=TaskStatus.OPEN, callback_e164="+4930999",
                 contact_id=contacts[3], team_id=team_b.id, assignee_id=u["b1"]),
            Task(title="done", kind=TaskKind.CALLBACK, status=TaskStatus.DONE, callback_e164="+4930555",
                 contact_id=contacts[5], team_id=team_a.id, assignee_id=u["a1"]),
        ])

    def p(key: str, role: Role, team: int | None) -> Principal:
        return Principal(user_id=u[key], role=role, team_id=team)

    return World(
        c=contacts, admin=p("admin", Role.ADMIN, None), sup_a=p("sup_a", Role.SUPERVISOR, team_a.id),
        a1=p("a1", Role.AGENT, team_a.id), a2=p("a2", Role.AGENT, team_a.id), b1=p("b1", Role.AGENT, team_b.id),
    )
