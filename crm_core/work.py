"""Activities (the timeline's entries) and tasks (work with a due time), plus a user's due/overdue counters."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core import records
from crm_core.access import (
    Principal,
    check_assignable,
    check_task_assignee,
    check_task_team,
    activity_filter,
    task_filter,
)
from crm_core.errors import Forbidden, Invalid, NotFound
from crm_core.models import Activity, ActivityKind, Entity, Role, Task, TaskKind, TaskStatus, Team, User
from crm_core.paging import Page, paginate
from crm_core.schemas import ActivityIn, Counts, CountersOut, TaskIn
from crm_core.types import utcnow

LINKS = (("contact_id", Entity.CONTACT), ("company_id", Entity.COMPANY), ("lead_id", Entity.LEAD))


async def _check_links(session: AsyncSession, principal: Principal, values: dict[str, Any]) -> None:
    from crm_core import deals

    for column, entity in LINKS:
        if values.get(column) is not None:
            await records.get(session, principal, entity, values[column], field=column)
    if values.get("deal_id") is not None:
        await deals.get_deal(session, principal, values["deal_id"])


async def create_activity(session: AsyncSession, principal: Principal, data: ActivityIn) -> Activity:
    values = data.model_dump(exclude_unset=True)
    if data.kind is ActivityKind.CALL:
        raise Invalid("call activities are written from the telephony events, not by hand", field="kind")
    values.setdefault("user_id", principal.user_id)
    if values["user_id"] != principal.user_id:
        await check_assignable(session, principal, values["user_id"], field="user_id")
    await _check_links(session, principal, values)
    if values.get("started_at") is None:
        values["started_at"] = utcnow()
    if values.get("ended_at") and values["ended_at"] < values["started_at"]:
        raise Invalid("ends before it starts", field="ended_at")
    activity = Activity(**values, created_by_id=principal.user_id, call_meta={})
    session.add(activity)
    await session.flush()
    return activity


def _visible_activities(principal: Principal) -> Any:
    return select(Activity).where(
        or_(activity_filter(principal), Activity.created_by_id == principal.user_id)
        if principal.role is Role.AGENT
        else activity_filter(principal)
    )


async def get_activity(session: AsyncSession, principal: Principal, activity_id: int) -> Activity:
    activity = await session.scalar(_visible_activities(principal).where(Activity.id == activity_id))
    if activity is None:
        raise NotFound(f"activity {activity_id} not found")
    return activity


async def list_activities(
    session: AsyncSession,
    principal: Principal,
    *,
    filters: dict[str, Any],
    limit: int,
    offset: int,
) -> Page[Activity]:
    query = _visible_activities(principal).order_by(Activity.started_at.desc(), Activity.id.desc())
    for key, value in filters.items():
        if value is not None:
            query = query.where(getattr(Activity, key) == value)
    return await paginate(session, query, limit=limit, offset=offset)


async def create_task(session: AsyncSession, principal: Principal, data: TaskIn) -> Task:
    values = data.model_dump()
    if values["assignee_id"] is None:
        values["assignee_id"] = principal.user_id
    if values["team_id"] is not None:
        await check_task_team(session, principal, values["team_id"])
    else:
        # The assignee's team: for anyone but an admin that is their own (they may only assign within it); an admin
        # handing work to an agent files it where that agent's supervisor sees it.
        assignee_team = None
        if values["assignee_id"] is not None:
            assignee_team = await session.scalar(select(User.team_id).where(User.id == values["assignee_id"]))
        values["team_id"] = assignee_team if assignee_team is not None else principal.team_id
    await check_task_assignee(session, principal, values["assignee_id"], team_id=values["team_id"])
    await _check_links(session, principal, values)
    task = Task(**values, created_by_id=principal.user_id)
    session.add(task)
    await session.flush()
    return task


async def get_task(session: AsyncSession, principal: Principal, task_id: int, *, for_update: bool = False) -> Task:
    query = select(Task).where(Task.id == task_id, task_filter(principal))
    task = await session.scalar(query.with_for_update() if for_update else query)
    if task is None:
        raise NotFound(f"task {task_id} not found")
    return task


async def update_task(session: AsyncSession, principal: Principal, task_id: int, changes: dict[str, Any]) -> Task:
    # Locked: two agents taking the same pool task at once must not both believe they have it (PostgreSQL re-checks
    # the second one's visibility after the first commits, and it no longer sees a task someone else holds).
    task = await get_task(session, principal, task_id, for_update=True)
    if "team_id" in changes and changes["team_id"] != task.team_id:
        if not principal.is_admin:
            raise Forbidden("only an admin may move a task to another team", field="team_id")
        if changes["team_id"] is not None:
            await check_task_team(session, principal, changes["team_id"])
    team_id = changes.get("team_id", task.team_id)
    if "assignee_id" in changes and changes["assignee_id"] != task.assignee_id:
        await check_task_assignee(session, principal, changes["assignee_id"], team_id=team_id)
    elif principal.role is Role.AGENT and task.assignee_id != principal.user_id:
        # A pool task is everyone's in the team until someone takes it; working on it is taking it.
        raise Forbidden(f"take the task first (assignee_id: {principal.user_id})", field="assignee_id")
    status = changes.get("status")
    if status is not None and status != task.status:
        task.completed_at = utcnow() if status is TaskStatus.DONE else None
    for key, value in changes.items():
        setattr(task, key, value)
    await session.flush()
    return task


async def list_tasks(
    session: AsyncSession,
    principal: Principal,
    *,
    filters: dict[str, Any],
    overdue: bool | None,
    pool: bool | None = None,
    limit: int,
    offset: int,
) -> Page[Task]:
    """``pool``: only unassigned tasks (True) or only assigned ones (False); with ``team_id``: that team's pool."""
    query = select(Task).where(task_filter(principal)).order_by(Task.due_at.is_(None), Task.due_at, Task.id)
    for key, value in filters.items():
        if value is not None:
            query = query.where(getattr(Task, key) == value)
    if pool is not None:
        query = query.where(Task.assignee_id.is_(None) if pool else Task.assignee_id.is_not(None))
    if overdue is not None:
        late = (Task.status == TaskStatus.OPEN) & (Task.due_at < utcnow())
        query = query.where(late if overdue else ~late | Task.due_at.is_(None))
    return await paginate(session, query, limit=limit, offset=offset)


def is_overdue(task: Task, now: datetime) -> bool:
    return task.status is TaskStatus.OPEN and task.due_at is not None and task.due_at < now


def day_bounds(now: datetime, zone: str) -> tuple[datetime, datetime]:
    """Start and end of `now`'s calendar day in the team's time zone, as UTC instants."""
    local = now.astimezone(ZoneInfo(zone))
    start = datetime.combine(local.date(), time.min, tzinfo=local.tzinfo)
    return start, start + timedelta(days=1)


async def counters(session: AsyncSession, user_id: int, *, now: datetime | None = None) -> CountersOut:
    now = now or utcnow()
    zone = await session.scalar(select(Team.timezone).join(User, User.team_id == Team.id).where(User.id == user_id))
    _, day_end = day_bounds(now, zone or "UTC")
    rows = await session.execute(
        select(
            Task.kind,
            func.count().filter(Task.due_at < now),
            func.count().filter(Task.due_at >= now, Task.due_at < day_end),
        )
        .where(Task.assignee_id == user_id, Task.status == TaskStatus.OPEN)
        .group_by(Task.kind)
    )
    found = {kind: Counts(overdue=late, due_today=today) for kind, late, today in rows}
    empty = Counts(overdue=0, due_today=0)
    return CountersOut(user_id=user_id, tasks=found.get(TaskKind.TASK, empty), calls=found.get(TaskKind.CALLBACK, empty))
