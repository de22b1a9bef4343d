"""The team a call belongs to, as the CRM team's id: the same rule as the reports and the CRM writer
(reports.report.call_team: its routing decision's team, else the team serving its DID), applied to a call still
going on from its first routing decision, so an unanswered live call is its team's and no other's."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from callcenter.api.framework import Call
from callcenter.reports.report import call_team, did_team_of
from callcenter.app_keys import ROUTING, ROUTING_RULES
from crm_core.models import Team


async def team_id_named(session: Any, name: str | None) -> int | None:
    return await session.scalar(select(Team.id).where(Team.name == name)) if name else None


async def live_call_team_id(call: Call, call_id: str, did: str | None) -> int | None:
    app = call.request.app
    routing = app.get(ROUTING)
    decisions = [d.to_dict() for d in routing.service.decisions.for_call(call_id)] if routing is not None else []
    name = call_team(decisions, did, did_team_of(app[ROUTING_RULES]))
    return await team_id_named(call.session, name)


async def team_of_call(call: Call, activity: Any, live: Any, call_id: str) -> int | None:
    """A logged call's team as written, else (live) from its routing so far."""
    if activity is not None and activity.team_id is not None:
        return activity.team_id
    if live is not None:
        return await live_call_team_id(call, call_id, live.did)
    return None
