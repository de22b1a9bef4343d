"""Teams, users and API tokens (only a SHA-256 of each token is stored)."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.access import METRICS_READ, WALLBOARD_READ, Principal
from crm_core.errors import Conflict, Forbidden, Invalid, NotFound, Unauthorized
from crm_core.models import ApiToken, AuthTicket, Role, Team, User
from crm_core.schemas import TeamIn, TokenIn, UserIn
from crm_core.types import utcnow

TOKEN_PREFIX = "cc_"
LAST_USED_RESOLUTION = timedelta(minutes=1)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _require_admin(principal: Principal) -> None:
    if principal.role is not Role.ADMIN:
        raise Forbidden("only an admin may do this")


async def _insert(session: AsyncSession, row: Any, what: str) -> Any:
    try:
        async with session.begin_nested():
            session.add(row)
            await session.flush()
    except IntegrityError as exc:
        raise Conflict(f"{what} already exists ({exc.orig.__class__.__name__})") from None
    return row


async def create_team(session: AsyncSession, principal: Principal, data: TeamIn) -> Team:
    _require_admin(principal)
    return await _insert(session, Team(**data.model_dump()), f"team {data.name!r}")


async def update_team(session: AsyncSession, principal: Principal, team_id: int, changes: dict[str, Any]) -> Team:
    _require_admin(principal)
    team = await session.get(Team, team_id)
    if team is None:
        raise NotFound(f"team {team_id} not found")
    if "timezone" in changes and changes["timezone"] is None:
        raise Invalid("a team's timezone cannot be null", field="timezone")
    for key, value in changes.items():
        setattr(team, key, value)
    await session.flush()
    return team


async def list_teams(session: AsyncSession) -> list[Team]:
    return list(await session.scalars(select(Team).order_by(Team.id)))


async def _check_team(session: AsyncSession, team_id: int | None) -> None:
    if team_id is not None and await session.get(Team, team_id) is None:
        raise NotFound(f"team {team_id} not found", field="team_id")


async def create_user(session: AsyncSession, principal: Principal, data: UserIn) -> User:
    _require_admin(principal)
    await _check_team(session, data.team_id)
    values = data.model_dump()
    if values["email"]:
        values["email"] = values["email"].lower()
    return await _insert(session, User(**values), "a user with this email or extension")


async def get_user(session: AsyncSession, principal: Principal, user_id: int) -> User:
    user = await session.get(User, user_id)
    visible = user is not None and (
        principal.is_admin
        or user.id == principal.user_id
        or (principal.team_scoped and user.team_id == principal.team_id)
    )
    if not visible:
        raise NotFound(f"user {user_id} not found")
    return user  # type: ignore[return-value]


async def list_users(session: AsyncSession, principal: Principal) -> list[User]:
    query = select(User).order_by(User.id)
    if principal.team_scoped:  # a campaign manager too: its campaigns' agents are its team's
        query = query.where(User.team_id == principal.team_id)
    elif principal.role is not Role.ADMIN:
        query = query.where(User.id == principal.user_id)
    return list(await session.scalars(query))


async def update_user(session: AsyncSession, principal: Principal, user_id: int, changes: dict[str, Any]) -> User:
    _require_admin(principal)
    user = await get_user(session, principal, user_id)
    if "team_id" in changes:
        await _check_team(session, changes["team_id"])
    for key, value in changes.items():
        setattr(user, key, value.lower() if key == "email" and value else value)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:
        raise Conflict("a user with this email or extension already exists") from None
    return user


async def create_token(session: AsyncSession, principal: Principal, data: TokenIn) -> tuple[ApiToken, str]:
    if not principal.is_admin and data.user_id != principal.user_id:
        raise Forbidden("you may create tokens only for yourself")
    user = await session.get(User, data.user_id)
    if user is None:
        raise NotFound(f"user {data.user_id} not found", field="user_id")
    return await _issue(session, ApiToken(user_id=user.id, name=data.name, expires_at=data.expires_at))


async def _issue(session: AsyncSession, token: ApiToken) -> tuple[ApiToken, str]:
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token.token_hash = hash_token(secret)
    token.prefix = secret[:10]
    session.add(token)
    await session.flush()
    return token, secret


async def create_wallboard_token(
    session: AsyncSession, principal: Principal, *, name: str, team_ids: list[int], expires_at: datetime | None
) -> tuple[ApiToken, str]:
    """A read-only wallboard link for a TV: the wallboard of ``team_ids``, nothing else. It belongs to the supervisor
    or admin who made it, so it stops working when they lose access (deactivated, or moved to another team)."""
    if principal.user_id is None or principal.scope is not None or principal.role is Role.AGENT:
        raise Forbidden("only supervisors, campaign managers and admins (with a full token) may make wallboard links")
    wanted = sorted(set(team_ids))
    if not wanted:
        raise Invalid("name at least one team", field="team_ids")
    if not principal.is_admin and wanted != [principal.team_id]:
        raise Forbidden("only an admin may share another team's wallboard", field="team_ids")
    found = set(await session.scalars(select(Team.id).where(Team.id.in_(wanted))))
    if missing := [t for t in wanted if t not in found]:
        raise NotFound(f"team(s) {', '.join(map(str, missing))} not found", field="team_ids")
    token = ApiToken(user_id=principal.user_id, name=name, expires_at=expires_at, scope=WALLBOARD_READ, team_ids=wanted)
    return await _issue(session, token)


async def create_metrics_token(session: AsyncSession, principal: Principal, *, user_id: int, name: str,
                               expires_at: datetime | None = None) -> tuple[ApiToken, str]:
    """A monitoring token (scope metrics:read): it reads GET /metrics and nothing else, so a Prometheus server holds
    no key to the CRM. Admins only; it belongs to ``user_id`` and stops working with that user."""
    if not principal.is_admin or principal.scope is not None:
        raise Forbidden("only an admin (with a full token) may make metrics tokens")
    if await session.get(User, user_id) is None:
        raise NotFound(f"user {user_id} not found", field="user_id")
    return await _issue(session, ApiToken(user_id=user_id, name=name, expires_at=expires_at, scope=METRICS_READ))


async def revoke_token(session: AsyncSession, principal: Principal, token_id: int) -> ApiToken:
    token = await session.get(ApiToken, token_id)
    if token is None or (not principal.is_admin and token.user_id != principal.user_id):
        raise NotFound(f"token {token_id} not found")
    token.revoked_at = token.revoked_at or utcnow()
    return token


async def authenticate(session: AsyncSession, secret: str) -> tuple[Principal, int | None]:
    """Who holds ``secret``, and the token's id when its last use is due to be recorded (``touch_token``): at most
    once a minute, so that checking a token stays a read (every request and screen connection does it)."""
    token = await session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(secret)))
    if token is None:
        raise Unauthorized("unknown API token")
    return await principal_of(session, token)


async def principal_of(session: AsyncSession, token: ApiToken) -> tuple[Principal, int | None]:
    """As ``authenticate``, for a token found another way (a ticket names it). A browser session made from a login
    link works only while the token it was made from does."""
    now = utcnow()
    for checked in (token, await session.get(ApiToken, token.parent_id) if token.parent_id is not None else None):
        if checked is None:
            continue
        if checked.revoked_at is not None:
            raise Unauthorized("this API token was revoked")
        if checked.expires_at is not None and checked.expires_at <= now:
            raise Unauthorized("this API token has expired")
    user = await session.get(User, token.user_id)
    if user is None or not user.active:
        raise Unauthorized("this user is deactivated")
    stale = token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION
    principal = Principal(
        user_id=user.id, role=user.role, team_id=user.team_id, scope=token.scope, team_ids=tuple(token.team_ids or ()),
        token_id=token.id, parent_token_id=token.parent_id,
    )
    return principal, token.id if stale else None


# -- one-time tickets: a WebSocket's (the token stays out of the URL) and a login link's -----------------------------

WS_TICKET = "ws"
LOGIN_CODE = "login"
TICKET_TTL = {WS_TICKET: timedelta(seconds=30), LOGIN_CODE: timedelta(minutes=5)}
TICKET_PREFIX = {WS_TICKET: "wst_", LOGIN_CODE: "login_"}


async def issue_ticket(session: AsyncSession, token_id: int, kind: str) -> tuple[str, datetime]:
    """A one-time secret standing for ``token_id``: it works once, within ``TICKET_TTL[kind]``."""
    secret = TICKET_PREFIX[kind] + secrets.token_urlsafe(24)
    expires_at = utcnow() + TICKET_TTL[kind]
    session.add(AuthTicket(secret_hash=hash_token(secret), kind=kind, token_id=token_id, expires_at=expires_at))
    await session.flush()
    return secret, expires_at


async def redeem_ticket(session: AsyncSession, secret: str, kind: str) -> ApiToken:
    """The token a ticket stands for, using the ticket up: a single conditional UPDATE, so two concurrent uses of the
    same ticket cannot both win (the loser sees no row changed)."""
    now = utcnow()
    digest = hash_token(secret)
    used = await session.execute(
        update(AuthTicket)
        .where(AuthTicket.secret_hash == digest, AuthTicket.kind == kind, AuthTicket.used_at.is_(None),
               AuthTicket.expires_at > now)
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if used.rowcount != 1:
        raise Unauthorized("this link or ticket is unknown, used or expired")
    token_id = await session.scalar(select(AuthTicket.token_id).where(AuthTicket.secret_hash == digest))
    token = await session.get(ApiToken, token_id)
    assert token is not None  # the ticket's foreign key cascades
    # Tickets are single-use and short-lived: clear out the dead ones as new ones are used.
    await session.execute(delete(AuthTicket).where(AuthTicket.expires_at < now - timedelta(hours=1)))
    return token


async def login_link_code(session: AsyncSession, principal: Principal, token_id: int) -> tuple[str, datetime]:
    """A login link's code for a token the caller holds or made (an admin: any), e.g. to open a TV's wallboard."""
    token = await session.get(ApiToken, token_id)
    if token is None or (not principal.is_admin and token.user_id != principal.user_id) or token.revoked_at is not None:
        raise NotFound(f"token {token_id} not found")
    if principal.scope is not None:
        raise Forbidden("a restricted token cannot make login links")
    return await issue_ticket(session, token.parent_id or token.id, LOGIN_CODE)


async def exchange_login_code(session: AsyncSession, code: str) -> tuple[ApiToken, str, Principal]:
    """A browser's own session token for a login link's code (used up): the parent token's user, scope and teams, and
    it dies with the parent (revoked, expired, user deactivated)."""
    parent = await redeem_ticket(session, code, LOGIN_CODE)
    principal, _ = await principal_of(session, parent)
    child = ApiToken(user_id=parent.user_id, name=f"browser ({parent.name})"[:120], expires_at=parent.expires_at,
                     scope=parent.scope, team_ids=parent.team_ids, parent_id=parent.id)
    child, secret = await _issue(session, child)
    return child, secret, principal


async def touch_token(session: AsyncSession, token_id: int) -> None:
    await session.execute(update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=utcnow()))
