"""Open WebSockets by who opened them, so that a revoked token, a deactivated user or a changed role or team closes
them within moments instead of letting them stream on with the access they had when they connected.

Closing uses ``ACCESS_CHANGED`` (4001): a page reconnects with a fresh ticket, which only a still-valid token gets,
so a moved user comes back with their new scope and a revoked one does not come back.

The API pushes its own changes at once (``close_token`` / ``close_user``); ``watch`` re-checks every open socket's
token every ``interval_s`` against the database, for changes made elsewhere (another instance, the CLI, SQL)."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging

from aiohttp import web
from sqlalchemy import select

from crm_core.access import Principal
from crm_core.db import Database
from crm_core.errors import Unauthorized
from crm_core.models import ApiToken, User
from crm_core.users import principal_of

log = logging.getLogger("callcenter.api")
ACCESS_CHANGED = 4001


class OpenSockets:
    def __init__(self, *, interval_s: float = 5.0) -> None:
        self._open: dict[web.WebSocketResponse, Principal] = {}
        self._endpoint: dict[web.WebSocketResponse, str] = {}  # which stream each socket is (metrics)
        self._closing: set[asyncio.Task[None]] = set()
        self.interval_s = interval_s  # read at every round, so a test may shorten it
        self.changed = asyncio.Event()  # set after every round that closed something (for tests to wait on)

    async def watch(self, db: Database) -> None:
        """Forever: every ``interval_s``, one read per distinct token of the open sockets; a token now refused, or
        whose user's role or team differs from when the socket connected, closes its sockets."""
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                if await self.recheck(db):
                    self.changed.set()
            except Exception:
                log.exception("re-checking open WebSockets failed; trying again in %s s", self.interval_s)

    async def recheck(self, db: Database) -> int:
        seen = {p.token_id: p for p in self._open.values() if p.token_id is not None}
        closed = 0
        if not seen:
            return 0
        async with db.read_session() as session:
            tokens = {t.id: t for t in await session.scalars(select(ApiToken).where(ApiToken.id.in_(list(seen))))}
            # Their users and parent tokens in two reads, not one per token: principal_of's session.get then finds
            # them in the session (a thousand screens re-checked every few seconds must stay a handful of queries).
            parents = {t.parent_id for t in tokens.values() if t.parent_id is not None} - set(tokens)
            if parents:
                tokens.update({t.id: t for t in await session.scalars(select(ApiToken).where(ApiToken.id.in_(parents)))})
            (await session.scalars(select(User).where(User.id.in_({t.user_id for t in tokens.values()})))).all()
            for token_id, then in seen.items():
                token = tokens.get(token_id)
                try:
                    if token is None:
                        raise Unauthorized("token deleted")
                    now, _ = await principal_of(session, token)
                except Unauthorized:
                    closed += self._close(lambda p, t=token_id: p.token_id == t, "access revoked")
                    continue
                if (now.role, now.team_id, now.scope, now.team_ids) != (then.role, then.team_id, then.scope, then.team_ids):
                    closed += self._close(lambda p, t=token_id: p.token_id == t, "access changed")
        return closed

    def add(self, ws: web.WebSocketResponse, principal: Principal, *, endpoint: str) -> None:
        """``endpoint``: "agent", "wallboard": what the metrics count open sockets by."""
        self._open[ws] = principal
        self._endpoint[ws] = endpoint

    def discard(self, ws: web.WebSocketResponse) -> None:
        self._open.pop(ws, None)
        self._endpoint.pop(ws, None)

    def by_endpoint(self) -> dict[str, int]:
        return dict(collections.Counter(self._endpoint.values()))

    def __len__(self) -> int:
        return len(self._open)

    def close_token(self, token_id: int) -> int:
        """A token was revoked: its sockets and those of browser sessions made from it."""
        return self._close(lambda p: token_id in (p.token_id, p.parent_token_id), "access revoked")

    def close_user(self, user_id: int) -> int:
        """A user's role, team or active flag changed: every socket of theirs."""
        return self._close(lambda p: p.user_id == user_id, "access changed")

    def close_all(self) -> int:
        return self._close(lambda _p: True, "access changed")

    def _close(self, match: object, why: str) -> int:
        doomed = [ws for ws, principal in self._open.items() if match(principal)]  # type: ignore[operator]
        for ws in doomed:
            self._open.pop(ws, None)
            self._endpoint.pop(ws, None)
            task = asyncio.get_running_loop().create_task(ws.close(code=ACCESS_CHANGED, message=why.encode()))
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)
        if doomed:
            log.info("closed %d WebSocket(s): %s", len(doomed), why)
        return len(doomed)


OPEN_SOCKETS = web.AppKey("open_sockets", OpenSockets)


def watch_on_startup(app: web.Application, db_key: web.AppKey[Database]) -> None:
    """Run ``OpenSockets.watch`` for the app's life."""

    async def ctx(app: web.Application):  # type: ignore[no-untyped-def]
        task = asyncio.create_task(app[OPEN_SOCKETS].watch(app[db_key]), name="websocket-access-watch")
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    app.cleanup_ctx.append(ctx)
