"""Open WebSockets by who opened them, so that a revoked token, a deactivated user or a changed role or team closes
them within moments instead of letting them stream on with the access they had when they connected.

Closing uses ``ACCESS_CHANGED`` (4001): a page reconnects with a fresh ticket, which only a still-valid token gets,
so a moved user comes back with their new scope and a revoked one does not come back."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from crm_core.access import Principal

log = logging.getLogger("callcenter.api")
ACCESS_CHANGED = 4001


class OpenSockets:
    def __init__(self) -> None:
        self._open: dict[web.WebSocketResponse, Principal] = {}
        self._closing: set[asyncio.Task[None]] = set()

    def add(self, ws: web.WebSocketResponse, principal: Principal) -> None:
        self._open[ws] = principal

    def discard(self, ws: web.WebSocketResponse) -> None:
        self._open.pop(ws, None)

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
            task = asyncio.get_running_loop().create_task(ws.close(code=ACCESS_CHANGED, message=why.encode()))
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)
        if doomed:
            log.info("closed %d WebSocket(s): %s", len(doomed), why)
        return len(doomed)


OPEN_SOCKETS = web.AppKey("open_sockets", OpenSockets)
