"""The wallboard's own routes: its WebSocket (limited to the teams the caller may see), who is looking, and
read-only wallboard links for a TV (an API token with the scope "wallboard:read" and team ids)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web
from pydantic import BaseModel, Field

from callcenter.api.auth import PRINCIPAL
from callcenter.api.auth_routes import login_urls
from callcenter.api.framework import Api, Call
from callcenter.api.sockets import OPEN_SOCKETS
from callcenter.api.team_scope import visible_teams
from callcenter.wallboard.hub import Hub, Scope, websocket_handler
from crm_core.db import Database
from crm_core.schemas import In, TokenCreated, TokenOut
from crm_core.users import LOGIN_CODE, create_wallboard_token, issue_ticket

api = Api()
V1 = "/api/v1"


class WallboardTokenIn(In):
    name: str = Field(min_length=1, max_length=120)
    team_ids: list[int] | None = Field(default=None, max_length=100)  # none: a supervisor's own team
    expires_at: datetime | None = None


class WallboardTokenOut(TokenCreated):
    scope: str
    team_ids: list[int]
    # The wallboard with a one-time login code (valid 5 minutes, once), to open on the TV (relative to the service's
    # address); the token itself never goes in a URL. A new link: POST /api/v1/tokens/{id}/login-link.
    url: str


class ViewerOut(BaseModel):
    user_id: int | None
    role: str
    team_id: int | None
    teams: list[str] | None  # null: every team
    scope: str | None
    read_only: bool


async def wallboard_websocket(request: web.Request, *, hub: Hub, db: Database) -> web.StreamResponse:
    principal = request[PRINCIPAL]
    async with db.session() as session:
        teams = await visible_teams(session, principal)
    # Its scope is fixed now: a revoked token or a changed role / team closes it (callcenter.api.sockets).
    return await websocket_handler(hub, request, Scope(teams), register=lambda ws: request.app[OPEN_SOCKETS].add(ws, principal, endpoint="wallboard"),
                                   unregister=request.app[OPEN_SOCKETS].discard)


@api.route("GET", V1 + "/wallboard/me", summary="Who is looking at the wallboard, and which teams they see", response=ViewerOut, tag="wallboard")
async def viewer(call: Call) -> Any:
    principal = call.principal
    teams = await visible_teams(call.session, principal)
    return ViewerOut(
        user_id=principal.user_id, role=principal.role.value, team_id=principal.team_id,
        teams=sorted(teams) if teams is not None else None, scope=principal.scope, read_only=principal.scope is not None,
    )


@api.route("POST", V1 + "/wallboard/tokens", summary="Make a read-only wallboard link for a TV (shown once; revoke with DELETE /tokens/{id})", body=WallboardTokenIn, response=WallboardTokenOut, status=201, tag="wallboard")
async def make_tv_token(call: Call) -> Any:
    body = call.body
    team_ids = body.team_ids if body.team_ids is not None else [t for t in (call.principal.team_id,) if t is not None]
    token, secret = await create_wallboard_token(
        call.session, call.principal, name=body.name, team_ids=team_ids, expires_at=body.expires_at
    )
    out = TokenOut.model_validate(token).model_dump()
    code, _ = await issue_ticket(call.session, token.id, LOGIN_CODE)
    return {**out, "token": secret, "scope": token.scope, "team_ids": token.team_ids, "url": login_urls(code)["wallboard_url"]}
