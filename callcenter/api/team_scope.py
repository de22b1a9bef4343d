"""Which teams' wallboard and figures a caller may see: supervisors and campaign managers their own team, admins every
team, a read-only wallboard link the teams it was made for (and never more than its maker may see now), agents none."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.access import WALLBOARD_READ, Principal
from crm_core.errors import Forbidden
from crm_core.models import Role, Team


async def visible_teams(session: AsyncSession, principal: Principal) -> frozenset[str] | None:
    """Team names (routing teams are named after CRM teams); None: every team."""
    if principal.role is Role.AGENT:
        raise Forbidden("the wallboard and team figures are for supervisors, campaign managers and admins")
    if principal.scope == WALLBOARD_READ:
        ids = set(principal.team_ids)
        if not principal.is_admin:  # a maker moved to another team no longer shows the old one
            ids &= {principal.team_id}
    elif principal.role is Role.ADMIN:
        return None
    else:
        ids = {principal.team_id} if principal.team_id is not None else set()
    if not ids:
        return frozenset()
    return frozenset(await session.scalars(select(Team.name).where(Team.id.in_(ids))))
