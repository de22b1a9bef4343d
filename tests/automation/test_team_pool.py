"""Automation and the team pool (both databases): an overdue callback nobody holds notifies the team it is filed
under, and a rule's task goes to its assignee's team."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from callcenter.automation.engine import Automation
from callcenter.automation.facts import CallLogged
from callcenter.automation.rules import TaskRule
from crm_core import users
from crm_core.access import Principal
from crm_core.db import Database
from crm_core.models import Notification, Role, Task, TaskKind, TaskStatus
from crm_core.schemas import TeamIn, UserIn
from crm_core.types import utcnow


async def test_an_overdue_pool_callback_notifies_its_team(db: Database) -> None:
    async with db.session() as s:
        team = await users.create_team(s, Principal.system(), TeamIn(name="T"))
        s.add(Task(title="Call back", kind=TaskKind.CALLBACK, status=TaskStatus.OPEN, assignee_id=None, team_id=team.id,
                   due_at=utcnow() - timedelta(minutes=1), callback_e164="+12125550101", missed_count=1))
    assert await Automation(db=db, rules=[]).scan_overdue() == 1
    async with db.session() as s:
        [note] = list(await s.scalars(select(Notification)))
    assert (note.kind, note.team_id, note.user_id) == ("callback.overdue", team.id, None)


async def test_a_rules_task_goes_to_its_assignees_team(db: Database) -> None:
    async with db.session() as s:
        team = await users.create_team(s, Principal.system(), TeamIn(name="T"))
        agent = await users.create_user(s, Principal.system(), UserIn(name="A", team_id=team.id, role=Role.AGENT))
    rule = TaskRule(name="missed", when="call.missed", then="task", title="Call the client", due_in_s=600)
    missed = CallLogged(call_id="c9", activity_id=1, direction="inbound", outcome="missed", did="8001", number="+12125550101",
                        entity=None, record_id=None, responsible_id=agent.id, agent_user_id=None)
    await Automation(db=db, rules=[rule]).handle(missed)
    async with db.session() as s:
        [task] = list(await s.scalars(select(Task)))
    assert (task.assignee_id, task.team_id) == (agent.id, team.id)
