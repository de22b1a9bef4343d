"""Sign-in without tokens in URLs: WebSocket tickets, login links and their exchange (see callcenter.api.auth)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from callcenter.api.auth import check_throttle, record_failure
from callcenter.api.framework import Api, Call
from crm_core.errors import Unauthorized
from crm_core.schemas import In
from crm_core.users import WS_TICKET, exchange_login_code, issue_ticket, login_link_code

api = Api()
V1 = "/api/v1"


class TicketOut(BaseModel):
    ticket: str
    expires_at: datetime


class LoginLinkOut(BaseModel):
    code: str
    expires_at: datetime
    # Relative to the service's address; each opens the page signed in once, then the code is spent.
    wallboard_url: str
    agent_url: str
    reports_url: str
    campaigns_url: str


class LoginIn(In):
    code: str = Field(min_length=1, max_length=200)


class SessionOut(BaseModel):
    token: str  # this browser's own session token: send it as Authorization: Bearer; it dies with the link's token
    token_id: int
    expires_at: datetime | None
    user_id: int
    role: str
    scope: str | None


def login_urls(code: str) -> dict[str, str]:
    return {page + "_url": f"/{page}?login={code}" for page in ("wallboard", "agent", "reports", "campaigns")}


@api.route("POST", V1 + "/auth/ws-ticket", summary="A one-time ticket (30 s) to open a WebSocket with ?ticket=", response=TicketOut, status=201, tag="auth")
async def ws_ticket(call: Call) -> Any:
    if call.principal.token_id is None:
        raise Unauthorized("sign in with an API token first")
    ticket, expires_at = await issue_ticket(call.session, call.principal.token_id, WS_TICKET)
    return TicketOut(ticket=ticket, expires_at=expires_at)


@api.route("POST", V1 + "/tokens/{id}/login-link", summary="A one-time login link (5 min) that opens a page signed in with this token", response=LoginLinkOut, status=201, tag="auth")
async def login_link(call: Call) -> Any:
    code, expires_at = await login_link_code(call.session, call.principal, call.path_int("id"))
    return LoginLinkOut(code=code, expires_at=expires_at, **login_urls(code))


@api.route("POST", V1 + "/auth/login-link", summary="A one-time login link (5 min) that opens a page signed in as me (with this token)", response=LoginLinkOut, status=201, tag="auth")
async def my_login_link(call: Call) -> Any:
    if call.principal.token_id is None:
        raise Unauthorized("sign in with an API token first")
    code, expires_at = await login_link_code(call.session, call.principal, call.principal.token_id)
    return LoginLinkOut(code=code, expires_at=expires_at, **login_urls(code))


@api.route("POST", V1 + "/auth/login", summary="Exchange a login link's code (once) for this browser's session token", body=LoginIn, response=SessionOut, status=201, tag="auth", public=True)
async def exchange(call: Call) -> Any:
    check_throttle(call.request)  # codes are secrets too: guessing them counts as failed sign-ins
    try:
        token, secret, principal = await exchange_login_code(call.session, call.body.code)
    except Unauthorized:
        record_failure(call.request)
        raise
    return SessionOut(token=secret, token_id=token.id, expires_at=token.expires_at, user_id=token.user_id,
                      role=principal.role.value, scope=token.scope)
