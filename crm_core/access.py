"""Who may see and change what: agents their own records, supervisors and campaign managers their team's, admins
everything.

A campaign manager's CRM scope is its team's supervisor's (``team_scoped``): the records its campaigns call are its
team's, and it corrects them (a wrong number, a do-not-call flag, handing a lead to an agent). What it does NOT get
that a supervisor has is decided where those things are: controlling agents and listening in (agent_routes,
supervisor_routes), routing decisions, wrapping up calls (crm_core.dispositions), recordings and transcripts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, false, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.errors import Forbidden, Invalid, NotFound
from crm_core.models import Activity, ActivityKind, Role, Task, Team, User

# The scope of a read-only wallboard token (a TV's link): it reads the wallboard of its teams and nothing else.
WALLBOARD_READ = "wallboard:read"
# The scope of a monitoring token (Prometheus): GET /metrics and nothing else.
METRICS_READ = "metrics:read"


# Roles whose CRM scope is their team (its members' records and its pool).
TEAM_SCOPED = frozenset({Role.SUPERVISOR, Role.CAMPAIGN_MANAGER})


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: int | None
    role: Role
    team_id: int | None = None
    # From a restricted token (ApiToken.scope / team_ids); None: everything the user may do.
    scope: str | None = None
    team_ids: tuple[int, ...] = ()
    # The token this request came with, and the token a browser session was made from (a login link's): what a
    # revocation names, so open WebSockets of either close.
    token_id: int | None = None
    parent_token_id: int | None = None

    @classmethod
    def system(cls) -> Principal:
        """The service itself (call events, imports): sees everything, audited with no actor."""
        return cls(user_id=None, role=Role.ADMIN)

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN

    @property
    def team_scoped(self) -> bool:
        """Reads and writes its team's records (a supervisor, a campaign manager)."""
        return self.role in TEAM_SCOPED


def owner_filter(principal: Principal, column: Any) -> ColumnElement[bool]:
    """SQL condition on an owner column (responsible_id, assignee_id, user_id) for what `principal` may see."""
    if principal.role is Role.ADMIN:
        return true()
    if principal.team_scoped:
        team = select(User.id).where(User.team_id == principal.team_id).scalar_subquery()
        # Unassigned records are the team pool a supervisor hands out.
        return or_(column.in_(team), column.is_(None))
    return column == principal.user_id


def activity_filter(principal: Principal) -> ColumnElement[bool]:
    """SQL condition on activities (calls and their recordings and transcripts included) for what ``principal`` may
    see: as ``owner_filter`` on the agent who did it, except that a call nobody of theirs took (unanswered, missed)
    is seen only by the supervisors of the call's own team (``Activity.team_id``), never by every supervisor."""
    if not principal.team_scoped:
        return owner_filter(principal, Activity.user_id)
    team = select(User.id).where(User.team_id == principal.team_id).scalar_subquery()
    # `column == None` would render IS NULL: a supervisor without a team must not see every team-less call.
    own_call = Activity.team_id == principal.team_id if principal.team_id is not None else false()
    return or_(
        Activity.user_id.in_(team),
        and_(Activity.user_id.is_(None), or_(Activity.kind != ActivityKind.CALL, own_call)),
    )


async def can_own(session: AsyncSession, principal: Principal, owner_id: int | None) -> bool:
    if principal.role is Role.ADMIN:
        return True
    if principal.team_scoped:
        if owner_id is None:
            return True
        team_id = await session.scalar(select(User.team_id).where(User.id == owner_id))
        return team_id is not None and team_id == principal.team_id
    return owner_id == principal.user_id


async def check_assignable(session: AsyncSession, principal: Principal, owner_id: int | None, *, field: str) -> None:
    """An owner must be a real active user, within what the principal may hand records to."""
    if owner_id is not None:
        active = await session.scalar(select(User.active).where(User.id == owner_id))
        if active is None:
            raise Invalid(f"user {owner_id} does not exist", field=field)
        if not active:
            raise Invalid(f"user {owner_id} is deactivated", field=field)
    if not await can_own(session, principal, owner_id):
        raise Forbidden(f"you may not assign records to user {owner_id}", field=field)


# -- tasks: owned by an assignee and by a team (its pool) -------------------------------------------------------------


def task_filter(principal: Principal) -> ColumnElement[bool]:
    """SQL condition on tasks for what ``principal`` may see.

    Supervisors: their team's tasks (its pool included) and whatever their team's members hold, wherever it is filed.
    Agents: their own tasks and their team's pool (to take one). Admins: everything. A task with no team and no
    assignee belongs to nobody's pool, so only admins see it.
    """
    if principal.role is Role.ADMIN:
        return true()
    mine = Task.assignee_id == principal.user_id if principal.user_id is not None else false()
    # `column == None` would render IS NULL: a user without a team must not match every team-less task.
    if principal.team_id is None:
        return mine
    if principal.team_scoped:
        members = select(User.id).where(User.team_id == principal.team_id).scalar_subquery()
        return or_(Task.team_id == principal.team_id, Task.assignee_id.in_(members), mine)
    return or_(mine, and_(Task.assignee_id.is_(None), Task.team_id == principal.team_id))


async def check_task_team(session: AsyncSession, principal: Principal, team_id: int) -> None:
    """A task may be filed under an existing team; anyone but an admin only under their own."""
    if await session.get(Team, team_id) is None:
        raise NotFound(f"team {team_id} not found", field="team_id")
    if not principal.is_admin and team_id != principal.team_id:
        raise Forbidden("you may file tasks only under your own team", field="team_id")


async def check_task_assignee(
    session: AsyncSession, principal: Principal, assignee_id: int | None, *, team_id: int | None
) -> None:
    """Who a task may go to: as for any record (check_assignable), and for everyone but an admin only a member of the
    task's team, so a supervisor cannot hand another team's callback to their own people."""
    await check_assignable(session, principal, assignee_id, field="assignee_id")
    if principal.is_admin or assignee_id is None or team_id is None:
        return
    if await session.scalar(select(User.team_id).where(User.id == assignee_id)) != team_id:
        raise Forbidden(f"user {assignee_id} is not in the task's team", field="assignee_id")
